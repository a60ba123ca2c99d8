//! `nmr notify log [--failed] [--limit N]` and `nmr notify retry ID`: the webhook outbox, read
//! and changed in the database directly, also while the server runs (its deliverer looks at
//! the outbox every few seconds, so a retried event goes out soon after).

use super::error::{Error, Result};
use crate::store::meta;
use std::io::Write;

/// Usage lines, shown with a usage error (`nmr --help` has its own).
pub const USAGE: &str = "\
  nmr notify log [--failed] [--limit N]
                                      list the latest webhook events (default 50): state,
                                      attempts, next try, last answer; --failed: failed only
  nmr notify retry ID                 queue a failed (or any) event again, due at once
";

/// Runs the words after `nmr notify`, writing to `out`.
pub fn run(db: &crate::store::db::Connection, rest: &[String], out: &mut impl Write) -> Result<()> {
    let words: Vec<&str> = rest.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["log", opts @ ..] => {
            let mut failed = false;
            let mut limit = 50;
            let mut it = opts.iter();
            while let Some(o) = it.next() {
                match *o {
                    "--failed" => failed = true,
                    "--limit" => {
                        limit = it
                            .next()
                            .and_then(|n| n.parse::<i64>().ok())
                            .filter(|n| *n > 0)
                            .ok_or_else(|| Error::Usage("--limit needs a number above 0".into()))?
                    }
                    other => {
                        return Err(Error::Usage(format!(
                            "nmr notify log: unknown option {other:?}"
                        )))
                    }
                }
            }
            log(db, failed, limit, out)
        }
        ["retry", id] => {
            let id: i64 = id.parse().map_err(|_| {
                Error::Usage(format!(
                    "{id:?} is not an event id (the ID column of nmr notify log)"
                ))
            })?;
            if !meta::outbox_requeue(db, id, crate::time::now_millis())? {
                return Err(Error::Failed(format!("there is no webhook event {id}")));
            }
            writeln!(out, "queued event {id} again")?;
            Ok(())
        }
        _ => Err(Error::Usage(format!(
            "nmr notify: expected `log [--failed] [--limit N]` or `retry ID`\n{USAGE}"
        ))),
    }
}

fn log(
    db: &crate::store::db::Connection,
    failed: bool,
    limit: i64,
    out: &mut impl Write,
) -> Result<()> {
    let rows = meta::outbox_log(db, failed, limit)?;
    writeln!(
        out,
        "{:>6}  {:<9}  {:>8}  {:<24}  {:<9}  {:<24}  URL  LAST ANSWER",
        "ID", "STATE", "ATTEMPTS", "NEXT TRY", "EVENT", "PACKAGE"
    )?;
    for r in rows {
        let next = if r.state == "pending" {
            crate::time::format_millis(r.next_try)
        } else {
            "-".to_string()
        };
        let last = match (r.last_status, r.last_error.as_deref()) {
            (Some(s), Some(e)) if !e.contains(&s.to_string()) => format!("{s}: {e}"),
            (_, Some(e)) => e.to_string(),
            (Some(s), None) => s.to_string(),
            (None, None) => "-".to_string(),
        };
        writeln!(
            out,
            "{:>6}  {:<9}  {:>8}  {:<24}  {:<9}  {:<24}  {}  {last}",
            r.id, r.state, r.attempts, next, r.event, r.package, r.target
        )?;
    }
    Ok(())
}

//! Queuing: which `[[notify]]` entries a change goes to (its event and the package patterns),
//! and the outbox rows written in the change's own transaction, one per entry, each with its
//! body and a delivery id of its own.

use super::payload::{self, Change, Source};
use crate::config::Notify;
use crate::store::{meta, Result};

/// Whether `name` matches a pattern where `*` stands for any run of characters (`/` included,
/// so `@acme/*` is the whole scope).
pub fn glob(pattern: &str, name: &str) -> bool {
    let (p, n) = (pattern.as_bytes(), name.as_bytes());
    let (mut pi, mut ni) = (0, 0);
    // Where the last `*` was, and how much of the name it had taken when we backtrack.
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ni));
            pi += 1;
        } else if pi < p.len() && p[pi] == n[ni] {
            pi += 1;
            ni += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// Whether an entry wants this change of this package.
pub fn wants(n: &Notify, c: &Change, package: &str) -> bool {
    n.events.contains(&c.event)
        && (n.packages.is_empty() || n.packages.iter().any(|p| glob(p, package)))
}

/// Queues the changes for every entry that wants them, inside the transaction that makes them;
/// returns how many events were queued. `now` is the change's time.
pub fn record(
    tx: &crate::store::db::Transaction,
    entries: &[Notify],
    src: &Source,
    now: &str,
    changes: &[Change],
) -> Result<usize> {
    let mut queued = 0;
    let now_ms = crate::time::now_millis();
    for c in changes {
        for n in entries.iter().filter(|n| wants(n, c, &src.package)) {
            let delivery = crate::random::hex_token(16)?;
            let body = payload::body(n.format, &delivery, now, src, c);
            meta::outbox_add(
                tx,
                &meta::NewEvent {
                    delivery: &delivery,
                    target: &n.url,
                    event: c.event.name(),
                    package: &src.package,
                    body: &body,
                    created: now,
                },
                now_ms,
            )?;
            queued += 1;
        }
    }
    Ok(queued)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stars_match_any_run_including_the_scope_slash() {
        for (p, n, want) in [
            ("@acme/*", "@acme/ui", true),
            ("@acme/*", "@acme/", true),
            ("@acme/*", "@acmex/ui", false),
            ("left-pad", "left-pad", true),
            ("left-pad", "left-pads", false),
            ("*", "@x/y", true),
            ("*-pad", "left-pad", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("@*/cli", "@acme/cli", true),
        ] {
            assert_eq!(glob(p, n), want, "{p} {n}");
        }
    }
}

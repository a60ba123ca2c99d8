//! `--htpasswd FILE`: Verdaccio's accounts (`name:hash[:comment]` lines) become nmr accounts
//! whose users log in with the same password. Each accepted hash is stored tagged (see
//! `auth::legacy`) and replaced by nmr's own at the user's first login; accounts here already
//! are left as they are, so a second run, or a run after users have logged in, changes nothing.

use super::Report;
use crate::app::App;
use crate::auth::legacy;
use crate::cmd::error::{Error, Result};
use crate::config::AuthType;
use crate::store::db::Connection;
use crate::store::meta;
use std::io::Write;
use std::path::Path;

/// One account line: name and hash, or why it is not one.
fn parse_line(line: &str) -> Option<std::result::Result<(&str, &str), String>> {
    let line = line.trim_end_matches('\r');
    if line.trim().is_empty() || line.starts_with('#') {
        return None;
    }
    // The hash never holds a colon; what follows the second one is a comment
    // (Verdaccio's `autocreated <time>`).
    let mut parts = line.splitn(3, ':');
    let name = parts.next().unwrap_or("");
    Some(match parts.next() {
        Some(hash) if !name.is_empty() && !hash.is_empty() => Ok((name, hash)),
        _ => Err("not a name:hash line".into()),
    })
}

/// Creates an account for each user of the file.
pub fn import(
    app: &App,
    db: &mut Connection,
    file: &Path,
    report: &mut Report,
    out: &mut dyn Write,
) -> Result<()> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| Error::Usage(format!("cannot read {}: {e}", file.display())))?;
    let now = crate::time::now_rfc3339();
    let mut created = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let what = |name: &str| format!("user {name} ({}:{})", file.display(), n + 1);
        let (name, hash) = match parse_line(line) {
            None => continue,
            Some(Ok(x)) => x,
            Some(Err(why)) => {
                report.problems.push((what("?"), why));
                continue;
            }
        };
        if let Err(e) = crate::api::user::check_user_name(name) {
            report.problems.push((what(name), e.message().to_string()));
            continue;
        }
        if let Err(why) = legacy::format(hash) {
            report.problems.push((what(name), why));
            continue;
        }
        let user = meta::User {
            name: name.to_string(),
            // htpasswd keeps no address; `nmr user` shows it empty until one is set.
            email: String::new(),
            password: legacy::tag(hash),
        };
        if meta::insert_user(db, &user, &now)? {
            report.users += 1;
            created.push(name.to_string());
        } else {
            report.users_present += 1;
        }
    }
    if !created.is_empty() {
        let _ = writeln!(out, "users: created {}", created.join(", "));
        if app.config.auth.kind != AuthType::Local {
            let _ = writeln!(
                out,
                "note: auth.type is not \"local\", so these accounts are used once it is"
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_give_name_and_hash_with_comments_and_blanks_left_out() {
        assert_eq!(
            parse_line("alice:$2y$10$abc:autocreated 2026-01-01T00:00:00.000Z"),
            Some(Ok(("alice", "$2y$10$abc")))
        );
        assert_eq!(
            parse_line("bob:{SHA}xyz=\r"),
            Some(Ok(("bob", "{SHA}xyz=")))
        );
        assert_eq!(parse_line(""), None);
        assert_eq!(parse_line("# comment"), None);
        assert!(matches!(parse_line("carol"), Some(Err(_))));
    }
}

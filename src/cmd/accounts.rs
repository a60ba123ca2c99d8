//! The operator's account commands, working on the database directly (also while the server
//! runs): `nmr user add|passwd|del|list` and `nmr token create|list|revoke`.

use super::error::{Error, Result};
use crate::api::user::{check_user_name, MIN_PASSWORD};
use crate::auth::local;
use crate::config::Config;
use crate::store::meta;
use std::io::{BufRead, IsTerminal, Write};

/// Usage lines, for `nmr --help`.
pub const USAGE: &str = "\
  nmr user add NAME [--email EMAIL]   create a local account (password read from stdin)
  nmr user passwd NAME                set a new password (read from stdin)
  nmr user del NAME                   delete an account and its tokens
  nmr user list                       list accounts
  nmr token create USER [--read-only] [--name NAME] [--expires-days N]
                                      create a token and print it (shown only this once)
  nmr token list USER                 list a user's tokens (never the secrets)
  nmr token revoke KEY                revoke a token by the id `token list` shows
";

/// Options after `nmr user` / `nmr token` that take a value.
pub const VALUE_OPTIONS: &[&str] = &["--email", "--name", "--expires-days"];
/// Options that take none.
pub const SWITCH_OPTIONS: &[&str] = &["--read-only"];

fn option<'a>(rest: &'a [String], name: &str) -> Option<&'a str> {
    rest.iter()
        .position(|a| a == name)
        .and_then(|i| rest.get(i + 1))
        .map(String::as_str)
}

fn positional(rest: &[String]) -> Vec<&str> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < rest.len() {
        if VALUE_OPTIONS.contains(&rest[i].as_str()) {
            i += 2;
        } else if SWITCH_OPTIONS.contains(&rest[i].as_str()) {
            i += 1;
        } else {
            out.push(rest[i].as_str());
            i += 1;
        }
    }
    out
}

fn read_password() -> Result<String> {
    if std::io::stdin().is_terminal() {
        eprint!("password (input is shown; pipe it in to hide it): ");
        let _ = std::io::stderr().flush();
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Error::io("cannot read the password", e))?;
    let pw = line.trim_end_matches(['\n', '\r']).to_string();
    if pw.chars().count() < MIN_PASSWORD {
        return Err(Error::Failed(format!(
            "passwords need at least {MIN_PASSWORD} characters"
        )));
    }
    Ok(pw)
}

/// Runs `nmr user ...` (`token` false) or `nmr token ...` and returns the exit code.
pub fn run(config: &Config, token: bool, rest: &[String]) -> i32 {
    match run_inner(config, token, rest) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("nmr: {e}");
            e.exit_code()
        }
    }
}

fn run_inner(config: &Config, token: bool, rest: &[String]) -> Result<()> {
    if let Some(dir) = config
        .db_path
        .parent()
        .filter(|d| config.db_url.is_none() && !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
    }
    let mut db = meta::connect(config)?;
    meta::migrate(&mut db)?;
    // Name checks and token creation are the request path's own, so they answer with its
    // error; the operator gets the message a client would, and exit 1.
    let err = |e: crate::error::Error| Error::Failed(e.message().to_string());
    let args = positional(rest);
    let now = crate::time::now_rfc3339();
    match (token, args.as_slice()) {
        (false, ["add", name]) => {
            check_user_name(name).map_err(err)?;
            let password = read_password()?;
            let u = meta::User {
                name: name.to_string(),
                email: option(rest, "--email").unwrap_or("").to_string(),
                password: local::hash_password(&password).map_err(err)?,
            };
            if !meta::insert_user(&db, &u, &now)? {
                return Err(Error::Failed(format!(
                    "user {name} exists; use nmr user passwd to change the password"
                )));
            }
            println!("created user {name}");
        }
        (false, ["passwd", name]) => {
            let password = read_password()?;
            if !meta::set_password(&db, name, &local::hash_password(&password).map_err(err)?)? {
                return Err(Error::Failed(format!("no user {name}")));
            }
            println!("changed the password of {name}");
        }
        (false, ["del", name]) => {
            // Deleting the account takes it off its organisations; none may lose its last owner.
            let owned = meta::sole_owner_of(&db, name)?;
            if let Some(org) = owned.first() {
                return Err(Error::Failed(format!(
                    "{name} is the last owner of @{org}, and an organisation always keeps one: make another member owner first (nmr org set @{org} USER owner) or delete it (nmr org del @{org})"
                )));
            }
            if !meta::delete_user(&db, name)? {
                return Err(Error::Failed(format!("no user {name}")));
            }
            println!("deleted user {name} and their tokens");
        }
        (false, ["list"]) => {
            for (name, email) in meta::users(&db)? {
                println!("{name}\t{email}");
            }
        }
        (true, ["create", user]) => {
            if meta::user(&db, user)?.is_none() {
                return Err(Error::Failed(format!(
                    "no user {user}; create it first with nmr user add {user}"
                )));
            }
            let expires_days = match option(rest, "--expires-days") {
                Some(d) => Some(d.parse::<u64>().map_err(|_| {
                    Error::Failed(format!("--expires-days {d:?}: expected a number of days"))
                })?),
                None => None,
            };
            let spec = local::TokenSpec {
                name: option(rest, "--name").map(str::to_string),
                readonly: rest.iter().any(|a| a == "--read-only"),
                cidr: Vec::new(),
                expires_days,
            };
            let (secret, t) = local::create_token(&db, user, spec).map_err(err)?;
            eprintln!(
                "token {} for {user}{}; it is shown only this once:",
                t.key,
                if t.readonly { " (read-only)" } else { "" }
            );
            println!("{secret}");
        }
        (true, ["list", user]) => {
            for t in meta::tokens_of(&db, user)? {
                let expires = t.expires.map_or("never".to_string(), |e| {
                    crate::time::format_millis(e * 1000)
                });
                println!(
                    "{}\t{}…\t{}\t{}\tcreated {}\texpires {expires}",
                    t.key,
                    t.prefix,
                    t.name.as_deref().unwrap_or("-"),
                    if t.readonly {
                        "read-only"
                    } else {
                        "read-write"
                    },
                    t.created
                );
            }
        }
        (true, ["revoke", key]) => {
            if !meta::delete_token_by_key(&db, key, None)? {
                return Err(Error::Failed(format!("no token with id {key}")));
            }
            println!("revoked token {key}");
        }
        _ => {
            // Failed, not Usage: the account commands have always exited 1 here, and scripts
            // may test for it.
            return Err(Error::Failed(format!(
                "unknown or incomplete command: nmr {} {}; see nmr --help",
                if token { "token" } else { "user" },
                rest.join(" ")
            )));
        }
    }
    Ok(())
}

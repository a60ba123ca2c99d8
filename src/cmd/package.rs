//! `nmr package`: the operator's say over packages that no request may settle. A package that
//! came in by import, or was published in another auth mode, may have no GitHub repository
//! (github mode) or no maintainers (local mode): it is nobody's until it is given one here.

use super::error::{Error, Result};
use super::require_db;
use crate::auth::github;
use crate::config::Config;
use crate::store::meta;
use serde_json::Value;

/// Usage lines, for `nmr --help`.
pub const USAGE: &str = "\
  nmr package unassigned              list the packages that have no GitHub repository
                                      (in github mode nobody may read or write them)
  nmr package set-repo NAME OWNER/REPO
                                      record the GitHub repository whose permissions decide
                                      who may read and write NAME (auth.type = github)
  nmr package unowned                 list the packages that have no maintainers
                                      (with auth.type = local nobody may change them)
  nmr package add-owner NAME USER     make the local account USER a maintainer of NAME
";

/// Runs `nmr package ...` with the words after it and returns the exit code.
pub fn run(config: &Config, words: &[String]) -> i32 {
    match run_inner(config, words) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("nmr: {e}");
            e.exit_code()
        }
    }
}

fn run_inner(config: &Config, words: &[String]) -> Result<()> {
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["unassigned"] => {
            require_db(config, "list")?;
            let db = meta::connect(config)?;
            for name in meta::unassigned(&db)? {
                println!("{name}");
            }
            Ok(())
        }
        ["set-repo", name, repo] => {
            require_db(config, "change")?;
            let mut db = meta::connect(config)?;
            meta::migrate(&mut db)?;
            let repo = assignable(config, name, repo)?;
            let id = meta::package(&db, name)?
                .ok_or_else(|| Error::Failed(format!("no package {name} in this registry")))?
                .id;
            let before = meta::repository(&db, name)?.flatten();
            let tx = meta::write_tx(&mut db)?;
            meta::set_repository(&tx, id, &repo.full())?;
            tx.commit().map_err(crate::store::Error::from)?;
            match before {
                Some(old) if old != repo.full() => {
                    println!("{name}: repository {} (was {old})", repo.full())
                }
                _ => println!("{name}: repository {}", repo.full()),
            }
            Ok(())
        }
        ["unowned"] => {
            require_db(config, "list")?;
            let db = meta::connect(config)?;
            for name in meta::unowned(&db)? {
                println!("{name}");
            }
            Ok(())
        }
        ["add-owner", name, user] => {
            require_db(config, "change")?;
            let mut db = meta::connect(config)?;
            meta::migrate(&mut db)?;
            add_owner(&mut db, name, user)
        }
        _ => Err(Error::Usage(format!(
            "nmr package: expected one of\n{USAGE}"
        ))),
    }
}

/// The repository `spec` names (`owner/repo`, or any URL form package.json may use), if it
/// may own `name` under the scope rule publishing follows.
pub fn assignable(config: &Config, name: &str, spec: &str) -> Result<github::Repo> {
    let repo = github::parse_repository(&Value::String(spec.to_string()), &config.auth.github_host)
        .map_err(Error::Usage)?;
    github::scope_rule(name, &repo, config.auth.github_allow_unscoped).map_err(Error::Usage)?;
    Ok(repo)
}

/// Adds the account `user` to `name`'s maintainers, as `npm owner add` would for a maintainer.
fn add_owner(db: &mut crate::store::db::Connection, name: &str, user: &str) -> Result<()> {
    let account = meta::user(db, user)?.ok_or_else(|| {
        Error::Failed(format!(
            "no account {user}; create it first with nmr user add {user}"
        ))
    })?;
    let marker = meta::marker(db)?;
    let tx = meta::write_tx(db)?;
    let pkg = meta::package(&tx, name)?
        .ok_or_else(|| Error::Failed(format!("no package {name} in this registry")))?;
    let mut maintainers: Vec<Value> = serde_json::from_str(&pkg.maintainers).unwrap_or_default();
    if maintainers.iter().any(|m| m["name"].as_str() == Some(user)) {
        println!("{user} already maintains {name}");
        return Ok(());
    }
    maintainers.push(serde_json::json!({"name": account.name, "email": account.email}));
    meta::set_maintainers(&tx, pkg.id, &Value::Array(maintainers).to_string())?;
    // The maintainers are part of the package document clients read.
    crate::packument::changed(&tx, pkg.id, name, &marker, &crate::time::now_rfc3339())
        .map_err(Error::Request)?;
    tx.commit().map_err(crate::store::Error::from)?;
    println!("{name}: {user} is a maintainer");
    Ok(())
}

//! `nmr org` and `nmr team`: the operator's view of organisations and teams (local auth),
//! working on the database directly, also while the server runs, under the same rules as
//! npm's commands (`auth::orgs`), except that the operator needs no role.

use super::error::{Error, Result};
use super::require_db;
use crate::auth::orgs::{self, Actor};
use crate::config::Config;
use crate::store::db::Connection;
use crate::store::meta;

/// Usage lines, for `nmr --help`.
pub const USAGE: &str = "\
  nmr org list                        list organisations, with their members and teams
  nmr org add @ORG --owner USER       create an organisation (the scope @ORG) with its owner
  nmr org del @ORG                    delete an organisation with its members, teams and
                                      grants (its packages stay)
  nmr org show @ORG                   members, teams and packages of an organisation
  nmr org set @ORG USER [ROLE]        add a member or change their role: developer (the
                                      default), admin or owner
  nmr org rm @ORG USER                remove a member
  nmr team list @ORG[:TEAM]           an organisation's teams, or a team's members and packages
  nmr team create|destroy @ORG:TEAM   create or delete a team
  nmr team add|rm @ORG:TEAM USER      put a member on a team, or take them off
  nmr team grant @ORG:TEAM PACKAGE read-only|read-write
  nmr team revoke @ORG:TEAM PACKAGE   give a team a package of its scope, or take it away
";

/// The refusals of the shared rules are the operator's to fix (exit 2); faults are not.
fn rule(e: crate::error::Error) -> Error {
    if (400..500).contains(&e.status()) {
        Error::Usage(e.message().to_string())
    } else {
        Error::Request(e)
    }
}

/// Runs `nmr org ...` (`team` false) or `nmr team ...` and returns the exit code.
pub fn run(config: &Config, team: bool, words: &[String]) -> i32 {
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let ran = if team {
        team_cmd(config, &words)
    } else {
        org_cmd(config, &words)
    };
    match ran {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("nmr: {e}");
            e.exit_code()
        }
    }
}

fn open(config: &Config, what: &str) -> Result<Connection> {
    require_db(config, what)?;
    let mut db = meta::connect(config)?;
    // Organisations arrive with schema 6; an older database is upgraded as the server would.
    meta::migrate(&mut db)?;
    Ok(db)
}

fn org_cmd(config: &Config, words: &[&str]) -> Result<()> {
    match words {
        ["list"] => {
            let db = open(config, "list")?;
            let all = meta::orgs(&db)?;
            if all.is_empty() {
                println!("no organisations");
            }
            for (name, members, teams) in all {
                println!("@{name}  {members} members, {teams} teams");
            }
            Ok(())
        }
        ["add", org, "--owner", owner] | ["add", "--owner", owner, org] => {
            let mut db = open(config, "change")?;
            orgs::create(&mut db, org, owner).map_err(rule)?;
            println!(
                "created @{} with owner {owner}",
                org.trim_start_matches('@')
            );
            Ok(())
        }
        ["del", org] => {
            let mut db = open(config, "change")?;
            let name = orgs::delete(&mut db, org).map_err(rule)?;
            println!("deleted @{name}; its packages stay, and only nmr org add gives the scope an organisation again");
            Ok(())
        }
        ["show", org] => {
            let db = open(config, "show")?;
            show(&db, org).map_err(rule)
        }
        ["set", org, user] | ["set", org, user, _] => {
            let role = words.get(3).copied().unwrap_or("developer");
            let mut db = open(config, "change")?;
            let (name, size) =
                orgs::set_member(&mut db, Actor::Operator, org, user, role).map_err(rule)?;
            println!("{user} is {role} of @{name} ({size} members)");
            Ok(())
        }
        ["rm", org, user] => {
            let mut db = open(config, "change")?;
            let name = orgs::remove_member(&mut db, Actor::Operator, org, user).map_err(rule)?;
            println!("removed {user} from @{name}");
            Ok(())
        }
        _ => Err(Error::Usage(format!("nmr org: expected one of\n{USAGE}"))),
    }
}

/// `nmr org show`: everything about one organisation, aligned for a terminal.
fn show(db: &Connection, org: &str) -> crate::error::Result<()> {
    let name = orgs::existing(db, orgs::check_org_name(org)?)?;
    println!("@{name}");
    println!("members:");
    for (user, role) in meta::members(db, &name)? {
        println!("  {user:<24} {role}");
    }
    let teams = meta::teams(db, &name)?;
    println!("teams:{}", if teams.is_empty() { " none" } else { "" });
    for (team, description) in teams {
        let users = meta::team_members(db, &name, &team)?;
        println!("  {name}:{team}  {description}");
        println!("    members:  {}", join(&users));
        let pkgs: Vec<String> = meta::team_packages(db, &name, &team)?
            .into_iter()
            .map(|(p, w)| format!("{p} ({})", orgs::permissions_name(w)))
            .collect();
        println!("    packages: {}", join(&pkgs));
    }
    let pkgs = meta::scope_packages(db, &name)?;
    println!("packages: {}", join(&pkgs));
    Ok(())
}

fn join(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

fn entity(e: &str) -> Result<(&str, &str)> {
    orgs::split_entity(e).map_err(rule)
}

fn team_cmd(config: &Config, words: &[&str]) -> Result<()> {
    match words {
        ["list", what] if !what.contains(':') => {
            let db = open(config, "list")?;
            let org =
                orgs::existing(&db, orgs::check_org_name(what).map_err(rule)?).map_err(rule)?;
            for (team, _) in meta::teams(&db, &org)? {
                println!("{org}:{team}");
            }
            Ok(())
        }
        ["list", what] => {
            let (org, team) = entity(what)?;
            let db = open(config, "list")?;
            let org = orgs::existing(&db, org).map_err(rule)?;
            if !meta::team_exists(&db, &org, team)? {
                return Err(Error::Usage(format!("there is no team @{org}:{team}")));
            }
            println!("members:  {}", join(&meta::team_members(&db, &org, team)?));
            for (p, w) in meta::team_packages(&db, &org, team)? {
                println!("{p}: {}", orgs::permissions_name(w));
            }
            Ok(())
        }
        ["create", what] => {
            let (org, team) = entity(what)?;
            let mut db = open(config, "change")?;
            let org = orgs::create_team(&mut db, Actor::Operator, org, team, "").map_err(rule)?;
            println!("created @{org}:{team}");
            Ok(())
        }
        ["destroy", what] => {
            let (org, team) = entity(what)?;
            let mut db = open(config, "change")?;
            let org = orgs::destroy_team(&mut db, Actor::Operator, org, team).map_err(rule)?;
            println!("deleted @{org}:{team}");
            Ok(())
        }
        ["add", what, user] => {
            let (org, team) = entity(what)?;
            let mut db = open(config, "change")?;
            let org = orgs::team_add(&mut db, Actor::Operator, org, team, user).map_err(rule)?;
            println!("{user} is on @{org}:{team}");
            Ok(())
        }
        ["rm", what, user] => {
            let (org, team) = entity(what)?;
            let mut db = open(config, "change")?;
            let org = orgs::team_rm(&mut db, Actor::Operator, org, team, user).map_err(rule)?;
            println!("{user} is off @{org}:{team}");
            Ok(())
        }
        ["grant", what, pkg, perms] => {
            let (org, team) = entity(what)?;
            let write = orgs::parse_permissions(perms).map_err(rule)?;
            let mut db = open(config, "change")?;
            let org =
                orgs::grant(&mut db, Actor::Operator, org, team, pkg, write, true).map_err(rule)?;
            println!(
                "@{org}:{team} may {} {pkg}",
                if write { "publish" } else { "read" }
            );
            Ok(())
        }
        ["revoke", what, pkg] => {
            let (org, team) = entity(what)?;
            let mut db = open(config, "change")?;
            let org = orgs::revoke(&mut db, Actor::Operator, org, team, pkg, true).map_err(rule)?;
            println!("@{org}:{team} no longer has {pkg}");
            Ok(())
        }
        _ => Err(Error::Usage(format!("nmr team: expected one of\n{USAGE}"))),
    }
}

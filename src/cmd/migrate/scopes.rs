//! The Verdaccio rules that map exactly onto nmr's organisations (local auth): a rule for a
//! whole scope (`'@acme/*'` or `'@acme/**'`) whose `publish` names users becomes the
//! organisation `@acme`, those users as its members, and the team `@acme:publishers` with
//! read-write on every package of the scope held here. It runs after packages and users are
//! imported, so that the accounts and packages it refers to exist.
//!
//! Everything is added, nothing taken away: an existing organisation, role, team membership or
//! grant is left as it is (the operator may have changed it since), so a second run changes
//! nothing. Each change goes through `auth::orgs` as the operator, under the same rules as
//! `nmr org` and `nmr team`.

use super::access::{plan, Plan, Rule, TEAM};
use super::Report;
use crate::app::App;
use crate::auth::orgs::{self, Actor};
use crate::cmd::error::{Error, Result};
use crate::config::AuthType;
use crate::store::db::Connection;
use crate::store::meta;
use std::io::Write;

/// A refusal of the shared rules is this rule's problem, reported; a fault stops the import.
fn refused(e: crate::error::Error, org: &str, report: &mut Report) -> Result<()> {
    if (400..500).contains(&e.status()) {
        report
            .problems
            .push((format!("access rule for @{org}"), e.message().to_string()));
        Ok(())
    } else {
        Err(Error::Request(e))
    }
}

/// Applies every rule that maps exactly, printing one line per change and counting them in
/// `report.access_applied`. In other auth modes nothing is applied and the output says why.
pub fn apply(
    app: &App,
    db: &mut Connection,
    rules: &[Rule],
    report: &mut Report,
    out: &mut dyn Write,
) -> Result<()> {
    let plans: Vec<Plan> = rules.iter().filter_map(plan).collect();
    report.access_applied = Some(0);
    if plans.is_empty() {
        let _ = writeln!(out, "access: no rule maps exactly onto an organisation (a whole @scope published by named users): nothing to apply");
        return Ok(());
    }
    if app.config.auth.kind != AuthType::Local {
        let _ = writeln!(
            out,
            "access: not applied: organisations and teams exist with auth.type = \"local\" only, and this registry has auth.type = \"{}\"",
            match app.config.auth.kind {
                AuthType::None => "none",
                AuthType::GitHub => "github",
                AuthType::Local => "local",
            }
        );
        return Ok(());
    }
    let _ = writeln!(out, "access: applying the rules that map exactly:");
    for p in &plans {
        if let Err(e) = apply_one(db, p, report, out) {
            refused(e, &p.org, report)?;
        }
    }
    Ok(())
}

fn applied(report: &mut Report, out: &mut dyn Write, line: String) {
    let _ = writeln!(out, "  applied: {line}");
    *report.access_applied.get_or_insert(0) += 1;
}

fn apply_one(
    db: &mut Connection,
    p: &Plan,
    report: &mut Report,
    out: &mut dyn Write,
) -> crate::error::Result<()> {
    let mut users = Vec::new();
    for u in &p.users {
        if meta::user(db, u)?.is_some() {
            users.push(u.as_str());
        } else {
            report.skipped.push((
                format!("@{} publisher {u}", p.org),
                "no account here (not in --htpasswd, nor made with nmr user add): add it, then run the import again".into(),
            ));
        }
    }
    let Some(first) = users.first() else {
        let _ = writeln!(
            out,
            "  @{}: none of its publishers has an account here: nothing applied",
            p.org
        );
        return Ok(());
    };
    let org = match meta::org(db, &p.org)? {
        Some(o) => o,
        None => {
            orgs::create(db, &p.org, first)?;
            applied(
                report,
                out,
                format!("created the organisation @{} with owner {first}", p.org),
            );
            p.org.clone()
        }
    };
    if !meta::team_exists(db, &org, TEAM)? {
        let what = format!("the publishers of Verdaccio's '@{org}/*' rule (nmr import)");
        orgs::create_team(db, Actor::Operator, &org, TEAM, &what)?;
        applied(report, out, format!("created the team @{org}:{TEAM}"));
    }
    let on_team = meta::team_members(db, &org, TEAM)?;
    for u in &users {
        // An existing member keeps their role: owners and admins are never made developers.
        if orgs::role(db, &org, u)?.is_none() {
            orgs::set_member(db, Actor::Operator, &org, u, "developer")?;
            applied(report, out, format!("{u} is developer of @{org}"));
        }
        if !on_team.iter().any(|m| m == u) {
            orgs::team_add(db, Actor::Operator, &org, TEAM, u)?;
            applied(report, out, format!("{u} is on @{org}:{TEAM}"));
        }
    }
    let granted: Vec<String> = meta::team_packages(db, &org, TEAM)?
        .into_iter()
        .map(|(pkg, _)| pkg)
        .collect();
    for pkg in meta::scope_packages(db, &org)? {
        // A grant that exists stays as it is, read-only too: the operator may have set it.
        if !granted.contains(&pkg) {
            orgs::grant(db, Actor::Operator, &org, TEAM, &pkg, true, true)?;
            applied(
                report,
                out,
                format!("@{org}:{TEAM} may publish {pkg} (read-write)"),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(pattern: &str, publish: &[&str]) -> Rule {
        Rule {
            pattern: pattern.into(),
            publish: publish.iter().map(|s| s.to_string()).collect(),
            ..Rule::default()
        }
    }

    #[test]
    fn whole_scopes_published_by_named_users_map_exactly() {
        let want = |org: &str, users: &[&str]| {
            Some(Plan {
                org: org.into(),
                users: users.iter().map(|s| s.to_string()).collect(),
            })
        };
        assert_eq!(
            plan(&rule("@acme/*", &["alice", "bob", "alice"])),
            want("acme", &["alice", "bob"])
        );
        assert_eq!(plan(&rule("@acme/**", &["bob"])), want("acme", &["bob"]));
    }

    #[test]
    fn everything_else_is_printed_only() {
        for (pattern, publish) in [
            ("@acme/*", &["$authenticated"][..]),
            ("@acme/*", &["alice", "$authenticated"]),
            ("@acme/*", &["alice", "@admins"]),
            ("@acme/*", &["$all"]),
            ("@acme/*", &[]),
            ("@acme/x-*", &["alice"]),
            ("@acme-*/*", &["alice"]),
            ("@ac?e/*", &["alice"]),
            ("@{a,b}/*", &["alice"]),
            ("@acme", &["alice"]),
            ("acme/*", &["alice"]),
            ("**", &["alice"]),
            ("*", &["alice"]),
            ("@_x/*", &["alice"]),
        ] {
            assert_eq!(plan(&rule(pattern, publish)), None, "{pattern} {publish:?}");
        }
    }
}

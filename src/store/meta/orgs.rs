//! Organisations (one per scope, named without `@`), their members and roles, their teams, the
//! packages teams are granted, and each package's `public` flag. Names compare without case,
//! as package names do (see `name::folded`): `@Acme` and `@acme` are one organisation.
//! (SQLite declares those columns `COLLATE NOCASE`, PostgreSQL `citext`: the queries compare
//! with `=` in both.) The column `user` is always quoted, as PostgreSQL reserves the word.

use crate::store::db::{params, Connection, OptionalExtension, Transaction};
use crate::store::Result;

/// The stored spelling of the organisation `name`, if there is one.
pub fn org(conn: &Connection, name: &str) -> Result<Option<String>> {
    let mut st = conn.prepare_cached("SELECT name FROM orgs WHERE name = ?1")?;
    Ok(st.query_row([name], |r| r.get(0)).optional()?)
}

/// Every organisation with its number of members and teams, by name.
pub fn orgs(conn: &Connection) -> Result<Vec<(String, i64, i64)>> {
    let mut st = conn.prepare_cached(
        "SELECT o.name,
           (SELECT COUNT(*) FROM org_members m WHERE m.org = o.name),
           (SELECT COUNT(*) FROM teams t WHERE t.org = o.name)
         FROM orgs o ORDER BY lower(o.name)",
    )?;
    let rows = st.query_map((), |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}

/// Creates an organisation; false if it exists.
pub fn insert_org(tx: &Transaction, name: &str, now: &str) -> Result<bool> {
    Ok(tx.execute(
        "INSERT INTO orgs (name, created) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
        params![name, now],
    )? > 0)
}

/// Deletes an organisation with its members, teams and grants.
pub fn delete_org(tx: &Transaction, name: &str) -> Result<bool> {
    Ok(tx.execute("DELETE FROM orgs WHERE name = ?1", [name])? > 0)
}

/// Members and their roles, by name.
pub fn members(conn: &Connection, org: &str) -> Result<Vec<(String, String)>> {
    let mut st = conn.prepare_cached(
        "SELECT \"user\", role FROM org_members WHERE org = ?1 ORDER BY \"user\"",
    )?;
    let rows = st.query_map([org], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}

/// A user's role in an organisation, if they are a member.
pub fn role(conn: &Connection, org: &str, user: &str) -> Result<Option<String>> {
    let mut st =
        conn.prepare_cached("SELECT role FROM org_members WHERE org = ?1 AND \"user\" = ?2")?;
    Ok(st.query_row([org, user], |r| r.get(0)).optional()?)
}

/// The organisations a user belongs to, with their role.
pub fn orgs_of(conn: &Connection, user: &str) -> Result<Vec<(String, String)>> {
    let mut st =
        conn.prepare_cached("SELECT org, role FROM org_members WHERE \"user\" = ?1 ORDER BY org")?;
    let rows = st.query_map([user], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}

/// Adds a member or changes their role.
pub fn set_role(tx: &Transaction, org: &str, user: &str, role: &str) -> Result<()> {
    tx.execute(
        "INSERT INTO org_members (org, \"user\", role) VALUES (?1, ?2, ?3)
         ON CONFLICT (org, \"user\") DO UPDATE SET role = excluded.role",
        params![org, user, role],
    )?;
    Ok(())
}

/// Removes a member (and so their team memberships); false if they were none.
pub fn remove_member(tx: &Transaction, org: &str, user: &str) -> Result<bool> {
    Ok(tx.execute(
        "DELETE FROM org_members WHERE org = ?1 AND \"user\" = ?2",
        [org, user],
    )? > 0)
}

/// How many owners an organisation has.
pub fn owner_count(conn: &Connection, org: &str) -> Result<i64> {
    let mut st =
        conn.prepare_cached("SELECT COUNT(*) FROM org_members WHERE org = ?1 AND role = 'owner'")?;
    Ok(st.query_row([org], |r| r.get(0))?)
}

/// The organisations whose only owner is `user`.
pub fn sole_owner_of(conn: &Connection, user: &str) -> Result<Vec<String>> {
    let mut st = conn.prepare_cached(
        "SELECT m.org FROM org_members m WHERE m.\"user\" = ?1 AND m.role = 'owner'
           AND (SELECT COUNT(*) FROM org_members o WHERE o.org = m.org AND o.role = 'owner') = 1
         ORDER BY m.org",
    )?;
    let rows = st.query_map([user], |r| r.get(0))?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}

/// Teams and their descriptions, by name.
pub fn teams(conn: &Connection, org: &str) -> Result<Vec<(String, String)>> {
    let mut st =
        conn.prepare_cached("SELECT name, description FROM teams WHERE org = ?1 ORDER BY name")?;
    let rows = st.query_map([org], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}

/// Whether a team exists.
pub fn team_exists(conn: &Connection, org: &str, team: &str) -> Result<bool> {
    let mut st =
        conn.prepare_cached("SELECT EXISTS(SELECT 1 FROM teams WHERE org = ?1 AND name = ?2)")?;
    Ok(st.query_row([org, team], |r| r.get(0))?)
}

/// Creates a team; false if it exists.
pub fn insert_team(
    tx: &Transaction,
    org: &str,
    team: &str,
    description: &str,
    now: &str,
) -> Result<bool> {
    Ok(tx.execute(
        "INSERT INTO teams (org, name, description, created) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT DO NOTHING",
        params![org, team, description, now],
    )? > 0)
}

/// Deletes a team with its memberships and grants; false if there was none.
pub fn delete_team(tx: &Transaction, org: &str, team: &str) -> Result<bool> {
    Ok(tx.execute(
        "DELETE FROM teams WHERE org = ?1 AND name = ?2",
        [org, team],
    )? > 0)
}

/// A team's members, by name.
pub fn team_members(conn: &Connection, org: &str, team: &str) -> Result<Vec<String>> {
    let mut st = conn.prepare_cached(
        "SELECT \"user\" FROM team_members WHERE org = ?1 AND team = ?2 ORDER BY \"user\"",
    )?;
    let rows = st.query_map([org, team], |r| r.get(0))?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}

/// Adds a member of the organisation to a team; false if they were in it.
pub fn add_team_member(tx: &Transaction, org: &str, team: &str, user: &str) -> Result<bool> {
    Ok(tx.execute(
        "INSERT INTO team_members (org, team, \"user\") VALUES (?1, ?2, ?3)
         ON CONFLICT DO NOTHING",
        [org, team, user],
    )? > 0)
}

/// Takes a user off a team; false if they were not on it.
pub fn remove_team_member(tx: &Transaction, org: &str, team: &str, user: &str) -> Result<bool> {
    Ok(tx.execute(
        "DELETE FROM team_members WHERE org = ?1 AND team = ?2 AND \"user\" = ?3",
        [org, team, user],
    )? > 0)
}

/// The packages granted to a team, with whether it may write them, by name.
pub fn team_packages(conn: &Connection, org: &str, team: &str) -> Result<Vec<(String, bool)>> {
    let mut st = conn.prepare_cached(
        "SELECT package, write FROM team_packages WHERE org = ?1 AND team = ?2 ORDER BY package",
    )?;
    let rows = st.query_map([org, team], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}

/// Grants a package to a team, or changes whether it may write it.
pub fn grant(tx: &Transaction, org: &str, team: &str, package: &str, write: bool) -> Result<()> {
    tx.execute(
        "INSERT INTO team_packages (org, team, package, write) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (org, team, package) DO UPDATE SET write = excluded.write",
        params![org, team, package, write],
    )?;
    Ok(())
}

/// Takes a package from a team; false if it was not granted.
pub fn revoke(tx: &Transaction, org: &str, team: &str, package: &str) -> Result<bool> {
    Ok(tx.execute(
        "DELETE FROM team_packages WHERE org = ?1 AND team = ?2 AND package = ?3",
        [org, team, package],
    )? > 0)
}

/// The teams a package is granted to: `(org, team, write)`, by team.
pub fn package_teams(conn: &Connection, package: &str) -> Result<Vec<(String, String, bool)>> {
    let mut st = conn.prepare_cached(
        "SELECT org, team, write FROM team_packages WHERE package = ?1 ORDER BY team",
    )?;
    let rows = st.query_map([package], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}

/// What the teams `user` is on grant on `package`: `None` nothing, else whether any may write.
pub fn team_grant(conn: &Connection, user: &str, package: &str) -> Result<Option<bool>> {
    let mut st = conn.prepare_cached(
        "SELECT MAX(g.write) FROM team_packages g JOIN team_members m
           ON m.org = g.org AND m.team = g.team
         WHERE g.package = ?1 AND m.\"user\" = ?2",
    )?;
    Ok(st.query_row([package, user], |r| r.get(0))?)
}

/// Whether any local package lives in `@scope/`, whatever the case of the scope.
pub fn scope_holds_packages(conn: &Connection, scope: &str) -> Result<bool> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT EXISTS(SELECT 1 FROM packages WHERE {IN_SCOPE})"
    ))?;
    Ok(st.query_row([scope_prefix(scope)], |r| r.get(0))?)
}

/// Names of the packages in `@scope/`, whatever the case of either, sorted: what an
/// organisation holds, read without loading every other package's name.
pub fn scope_packages(conn: &Connection, scope: &str) -> Result<Vec<String>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT name FROM packages WHERE {IN_SCOPE} ORDER BY name"
    ))?;
    let rows = st.query_map([scope_prefix(scope)], |r| r.get(0))?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}

/// A package name in the scope whose folded prefix is `?1` (see [`scope_prefix`]).
const IN_SCOPE: &str = "substr(lower(name), 1, length(CAST(?1 AS TEXT))) = ?1";

fn scope_prefix(scope: &str) -> String {
    format!("@{}/", scope.to_ascii_lowercase())
}

/// Whether a package was opened to readers without an account (`npm access set status=public`).
pub fn is_public(conn: &Connection, package: &str) -> Result<bool> {
    let mut st = conn.prepare_cached("SELECT public FROM packages WHERE name = ?1")?;
    Ok(st
        .query_row([package], |r| r.get::<bool>(0))
        .optional()?
        .unwrap_or(false))
}

/// Opens a package to readers without an account, or closes it again.
pub fn set_public(tx: &Transaction, package: &str, public: bool) -> Result<bool> {
    Ok(tx.execute(
        "UPDATE packages SET public = ?2 WHERE name = ?1",
        params![package, public],
    )? > 0)
}

/// Forgets the grants of a package that was deleted, so that a package published later under
/// the name does not inherit them.
pub fn forget_grants(tx: &Transaction, package: &str) -> Result<()> {
    tx.execute("DELETE FROM team_packages WHERE package = ?1", [package])?;
    Ok(())
}

//! Organisations in local mode: every scope is one, with owners, admins and developers, and
//! teams that are granted its packages read-only or read-write. The rules for who may change
//! them live here, shared by the registry's endpoints (`api::org`) and the operator's
//! commands (`cmd::org`), so that both refuse the same things; and so do the rules for who may
//! publish into a scope and, with `auth.read = "members"`, who may read it.
//!
//! Memberships are read from the database on every check, never kept between requests, so a
//! member who is removed loses access with the next request.

use crate::error::{Error, Result};
use crate::store::db::Connection;
use crate::store::meta;

/// A member's role, least first. Owners manage members and teams, admins manage teams,
/// developers publish where a team grants it (and the packages they created).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Developer,
    Admin,
    Owner,
}

impl Role {
    pub fn parse(s: &str) -> Result<Role> {
        match s {
            "developer" => Ok(Role::Developer),
            "admin" => Ok(Role::Admin),
            "owner" => Ok(Role::Owner),
            _ => Err(Error::BadRequest(format!(
                "unknown role {:?}: use developer, admin or owner",
                clip(s)
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Role::Developer => "developer",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }

    /// A stored role; anything else stored counts as the least.
    fn stored(s: &str) -> Role {
        Role::parse(s).unwrap_or(Role::Developer)
    }
}

/// Who asks for a change: the operator (`nmr org`, `nmr team`) may do anything the invariants
/// allow; a user needs the role.
#[derive(Clone, Copy, Debug)]
pub enum Actor<'a> {
    Operator,
    User(&'a str),
}

/// Longest team name, as on the public registry.
const MAX_TEAM: usize = 50;

/// A client's text in an error message, cut short: it may be anything.
fn clip(s: &str) -> String {
    s.chars().take(60).collect()
}

/// The organisation a client names, without its `@`, if it could be a scope (the rules of
/// package names' scopes: nothing `encodeURIComponent` would change, no leading `.` or `_`),
/// so that it can be no path, header or markup.
pub fn check_org_name(org: &str) -> Result<&str> {
    let bare = org.strip_prefix('@').unwrap_or(org);
    if bare.is_empty() || bare.len() > 214 || crate::name::validate(&format!("@{bare}/x")).is_err()
    {
        return Err(Error::BadRequest(format!(
            "{:?} is not an organisation name: use the scope without @ (letters, digits, - and _; not starting with . or _)",
            clip(org)
        )));
    }
    Ok(bare)
}

/// Team names: lower-case letters, digits, `-`, `_` and `.`, starting with a letter or digit,
/// at most 50 characters.
pub fn check_team_name(team: &str) -> Result<()> {
    let ok = !team.is_empty()
        && team.len() <= MAX_TEAM
        && team.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && team
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::BadRequest(format!(
            "{:?} is not a team name: use lower-case letters, digits, -, _ and ., starting with a letter or digit, at most {MAX_TEAM} characters",
            clip(team)
        )))
    }
}

/// `org:team` (npm's spelling, with or without `@`) split and checked.
pub fn split_entity(entity: &str) -> Result<(&str, &str)> {
    let (org, team) = entity.split_once(':').ok_or_else(|| {
        Error::BadRequest(format!("{:?} names no team: write ORG:TEAM", clip(entity)))
    })?;
    let org = check_org_name(org)?;
    check_team_name(team)?;
    Ok((org, team))
}

/// The stored name of the organisation `org`, or 404.
pub fn existing(db: &Connection, org: &str) -> Result<String> {
    meta::org(db, org)?.ok_or_else(|| absent(org))
}

/// The answer for an organisation that is not here, or that the caller may not see.
pub fn absent(org: &str) -> Error {
    Error::NotFound(format!(
        "there is no organisation @{org}: publishing into the scope creates it, or the operator runs nmr org add @{org} --owner USER"
    ))
}

/// The organisation a package's scope belongs to, if any.
pub fn org_of(db: &Connection, pkg: &str) -> Result<Option<String>> {
    match crate::name::scope(pkg) {
        Some(scope) => Ok(meta::org(db, scope)?),
        None => Ok(None),
    }
}

/// A user's role in `org`, if they are a member.
pub fn role(db: &Connection, org: &str, user: &str) -> Result<Option<Role>> {
    Ok(meta::role(db, org, user)?.map(|r| Role::stored(&r)))
}

/// Refuses an actor below `min` in `org`.
fn require(db: &Connection, actor: Actor, org: &str, min: Role, doing: &str) -> Result<()> {
    let Actor::User(user) = actor else {
        return Ok(());
    };
    match role(db, org, user)? {
        Some(r) if r >= min => Ok(()),
        Some(r) => Err(Error::Forbidden(format!(
            "{doing} in @{org} needs the {} role; {user} is {}. An owner can change that: npm org set {org} {user} {}",
            min.name(),
            r.name(),
            min.name()
        ))),
        None => Err(Error::Forbidden(format!(
            "{user} is not a member of @{org}; an owner can add you: npm org set {org} {user}"
        ))),
    }
}

fn account(db: &Connection, user: &str) -> Result<()> {
    if meta::user(db, user)?.is_none() {
        return Err(Error::NotFound(format!(
            "there is no user {:?} here; the operator creates accounts with nmr user add",
            clip(user)
        )));
    }
    Ok(())
}

fn commit(tx: crate::store::db::Transaction) -> Result<()> {
    tx.commit().map_err(crate::store::Error::from)?;
    Ok(())
}

/// The refusal for leaving an organisation without an owner.
fn last_owner(org: &str, user: &str) -> Error {
    Error::Conflict(format!(
        "{user} is the last owner of @{org}, and an organisation always keeps one: make another member owner first (npm org set {org} USER owner)"
    ))
}

/// Creates an organisation with its first owner (the operator's `nmr org add`).
pub fn create(db: &mut Connection, org: &str, owner: &str) -> Result<()> {
    let org = check_org_name(org)?;
    let tx = meta::write_tx(db)?;
    account(&tx, owner)?;
    if let Some(o) = meta::org(&tx, org)? {
        return Err(Error::Conflict(format!("the organisation @{o} exists")));
    }
    let now = crate::time::now_rfc3339();
    meta::insert_org(&tx, org, &now)?;
    meta::set_role(&tx, org, owner, Role::Owner.name())?;
    commit(tx)
}

/// Deletes an organisation with its members, teams and grants (the operator's `nmr org del`).
/// Its packages stay; their scope can then be given an organisation again only by the operator,
/// since it holds packages.
pub fn delete(db: &mut Connection, org: &str) -> Result<String> {
    let org = check_org_name(org)?;
    let tx = meta::write_tx(db)?;
    let name = existing(&tx, org)?;
    meta::delete_org(&tx, &name)?;
    commit(tx)?;
    Ok(name)
}

/// Adds a member or changes their role (`npm org set`). Returns the organisation's name and
/// its number of members after.
pub fn set_member(
    db: &mut Connection,
    actor: Actor,
    org: &str,
    user: &str,
    role_name: &str,
) -> Result<(String, usize)> {
    let org = check_org_name(org)?;
    let new = Role::parse(role_name)?;
    let tx = meta::write_tx(db)?;
    let org = existing(&tx, org)?;
    require(
        &tx,
        actor,
        &org,
        Role::Owner,
        "adding members and changing roles",
    )?;
    account(&tx, user)?;
    if role(&tx, &org, user)? == Some(Role::Owner)
        && new != Role::Owner
        && meta::owner_count(&tx, &org)? == 1
    {
        return Err(last_owner(&org, user));
    }
    meta::set_role(&tx, &org, user, new.name())?;
    let size = meta::members(&tx, &org)?.len();
    commit(tx)?;
    Ok((org, size))
}

/// Removes a member, and so their team memberships (`npm org rm`).
pub fn remove_member(db: &mut Connection, actor: Actor, org: &str, user: &str) -> Result<String> {
    let org = check_org_name(org)?;
    let tx = meta::write_tx(db)?;
    let org = existing(&tx, org)?;
    require(&tx, actor, &org, Role::Owner, "removing members")?;
    match role(&tx, &org, user)? {
        None => {
            return Err(Error::NotFound(format!(
                "{:?} is not a member of @{org}",
                clip(user)
            )))
        }
        Some(Role::Owner) if meta::owner_count(&tx, &org)? == 1 => {
            return Err(last_owner(&org, user))
        }
        Some(_) => {}
    }
    meta::remove_member(&tx, &org, user)?;
    commit(tx)?;
    Ok(org)
}

/// Creates a team (`npm team create`).
pub fn create_team(
    db: &mut Connection,
    actor: Actor,
    org: &str,
    team: &str,
    description: &str,
) -> Result<String> {
    let org = check_org_name(org)?;
    check_team_name(team)?;
    if description.chars().count() > 255 || description.chars().any(char::is_control) {
        return Err(Error::BadRequest(
            "a team description is one line of at most 255 characters".into(),
        ));
    }
    let tx = meta::write_tx(db)?;
    let org = existing(&tx, org)?;
    require(&tx, actor, &org, Role::Admin, "creating teams")?;
    let now = crate::time::now_rfc3339();
    if !meta::insert_team(&tx, &org, team, description, &now)? {
        return Err(Error::Conflict(format!("the team @{org}:{team} exists")));
    }
    commit(tx)?;
    Ok(org)
}

/// The stored organisation name after checking the team exists.
fn existing_team(db: &Connection, org: &str, team: &str) -> Result<String> {
    let org = existing(db, check_org_name(org)?)?;
    check_team_name(team)?;
    if !meta::team_exists(db, &org, team)? {
        return Err(Error::NotFound(format!(
            "there is no team @{org}:{team}; create it with npm team create {org}:{team}"
        )));
    }
    Ok(org)
}

/// Deletes a team with its memberships and grants (`npm team destroy`).
pub fn destroy_team(db: &mut Connection, actor: Actor, org: &str, team: &str) -> Result<String> {
    let tx = meta::write_tx(db)?;
    let org = existing_team(&tx, org, team)?;
    require(&tx, actor, &org, Role::Admin, "deleting teams")?;
    meta::delete_team(&tx, &org, team)?;
    commit(tx)?;
    Ok(org)
}

/// Puts a member of the organisation on a team (`npm team add`).
pub fn team_add(
    db: &mut Connection,
    actor: Actor,
    org: &str,
    team: &str,
    user: &str,
) -> Result<String> {
    let tx = meta::write_tx(db)?;
    let org = existing_team(&tx, org, team)?;
    require(&tx, actor, &org, Role::Admin, "changing teams")?;
    account(&tx, user)?;
    if role(&tx, &org, user)?.is_none() {
        return Err(Error::BadRequest(format!(
            "{user} is not a member of @{org}; an owner adds them first: npm org set {org} {user}"
        )));
    }
    meta::add_team_member(&tx, &org, team, user)?;
    commit(tx)?;
    Ok(org)
}

/// Takes a user off a team (`npm team rm`).
pub fn team_rm(
    db: &mut Connection,
    actor: Actor,
    org: &str,
    team: &str,
    user: &str,
) -> Result<String> {
    let tx = meta::write_tx(db)?;
    let org = existing_team(&tx, org, team)?;
    require(&tx, actor, &org, Role::Admin, "changing teams")?;
    if !meta::remove_team_member(&tx, &org, team, user)? {
        return Err(Error::NotFound(format!(
            "{:?} is not on the team @{org}:{team}",
            clip(user)
        )));
    }
    commit(tx)?;
    Ok(org)
}

/// `read-only` / `read-write`, as `npm access grant` sends them: whether the grant writes.
pub fn parse_permissions(p: &str) -> Result<bool> {
    match p {
        "read-only" => Ok(false),
        "read-write" => Ok(true),
        _ => Err(Error::BadRequest(format!(
            "unknown permissions {:?}: use read-only or read-write",
            clip(p)
        ))),
    }
}

/// How a grant is spelt to people, the way [`parse_permissions`] reads it.
pub fn permissions_name(write: bool) -> &'static str {
    if write {
        "read-write"
    } else {
        "read-only"
    }
}

/// A package of `org` that exists, for a grant. `visible` says whether the caller may read
/// it: a package they may not read is answered as one that is not here.
fn grantable(db: &Connection, org: &str, pkg: &str, visible: bool) -> Result<()> {
    crate::name::validate(pkg)?;
    let in_scope = crate::name::scope(pkg).is_some_and(|s| s.eq_ignore_ascii_case(org));
    if !in_scope {
        return Err(Error::BadRequest(format!(
            "{pkg} is not in the scope @{org}; a team is granted packages of its own organisation only"
        )));
    }
    if !visible || meta::package(db, pkg)?.is_none() {
        return Err(crate::auth::hidden(pkg));
    }
    Ok(())
}

/// Grants a package to a team (`npm access grant`). `visible`: see [`grantable`].
#[allow(clippy::too_many_arguments)]
pub fn grant(
    db: &mut Connection,
    actor: Actor,
    org: &str,
    team: &str,
    pkg: &str,
    write: bool,
    visible: bool,
) -> Result<String> {
    let tx = meta::write_tx(db)?;
    let org = existing_team(&tx, org, team)?;
    require(&tx, actor, &org, Role::Admin, "granting packages to teams")?;
    grantable(&tx, &org, pkg, visible)?;
    meta::grant(&tx, &org, team, pkg, write)?;
    commit(tx)?;
    Ok(org)
}

/// Takes a package from a team (`npm access revoke`).
pub fn revoke(
    db: &mut Connection,
    actor: Actor,
    org: &str,
    team: &str,
    pkg: &str,
    visible: bool,
) -> Result<String> {
    let tx = meta::write_tx(db)?;
    let org = existing_team(&tx, org, team)?;
    require(
        &tx,
        actor,
        &org,
        Role::Admin,
        "revoking packages from teams",
    )?;
    grantable(&tx, &org, pkg, visible)?;
    if !meta::revoke(&tx, &org, team, pkg)? {
        return Err(Error::NotFound(format!(
            "{pkg} is not granted to @{org}:{team}"
        )));
    }
    commit(tx)?;
    Ok(org)
}

/// Whether `user` may write `pkg` of `org`: owners and admins write every package of the
/// scope; developers the ones a team of theirs grants read-write and the ones they maintain
/// (publishing a new package makes its publisher its maintainer, as for unscoped ones).
/// `maintainers` are the package's, empty for a new package, which any member may create.
pub fn may_write(
    db: &Connection,
    user: &str,
    org: &str,
    pkg: &str,
    maintainers: Option<&[String]>,
) -> Result<std::result::Result<(), Error>> {
    let refuse = |m: String| Ok(Err(Error::Forbidden(m)));
    match role(db, org, user)? {
        None => refuse(format!(
            "{user} is not a member of @{org}, so may not publish {pkg}; an owner can add you: npm org set {org} {user}"
        )),
        Some(Role::Owner | Role::Admin) => Ok(Ok(())),
        Some(Role::Developer) => {
            let Some(maintainers) = maintainers else {
                return Ok(Ok(()));
            };
            if maintainers.iter().any(|m| m == user)
                || meta::team_grant(db, user, pkg)? == Some(true)
            {
                return Ok(Ok(()));
            }
            refuse(format!(
                "{user} may not publish {pkg}: no team of theirs in @{org} has read-write on it; an owner or admin can grant it: npm access grant read-write {org}:TEAM {pkg}"
            ))
        }
    }
}

/// For a new package in a scope without an organisation: `Ok(true)` when the publish claims
/// the scope (its publisher becomes the owner), or the refusal. Asked again inside the
/// publish's write transaction, which claims it, so two publishers cannot both claim a scope.
pub fn claimable(db: &Connection, claim_scopes: bool, scope: &str) -> Result<()> {
    if !claim_scopes {
        return Err(Error::Forbidden(format!(
            "the scope @{scope} has no organisation, and only the operator creates them here (auth.local.claim_scopes = false): ask them to run nmr org add @{scope} --owner USER"
        )));
    }
    if meta::scope_holds_packages(db, scope)? {
        return Err(Error::Forbidden(format!(
            "the scope @{scope} holds packages but has no organisation, so it cannot be claimed by a publish: ask the operator to run nmr org add @{scope} --owner USER"
        )));
    }
    Ok(())
}

/// Inside a new package's publish transaction, with the caller `user`: checks the scope again
/// and claims it if it has no organisation yet.
pub fn claim_for_publish(
    tx: &crate::store::db::Transaction,
    claim_scopes: bool,
    user: &str,
    pkg: &str,
) -> Result<()> {
    let Some(scope) = crate::name::scope(pkg) else {
        return Ok(());
    };
    match meta::org(tx, scope)? {
        Some(org) => may_write(tx, user, &org, pkg, None)?,
        None => {
            claimable(tx, claim_scopes, scope)?;
            meta::insert_org(tx, scope, &crate::time::now_rfc3339())?;
            meta::set_role(tx, scope, user, Role::Owner.name())?;
            crate::info!("{user} claimed the scope @{scope} by publishing {pkg}");
            Ok(())
        }
    }
}

/// With `auth.read = "members"`: whether `user` may read `pkg`. Scoped packages of an
/// organisation are for its members, unless opened with `npm access set status=public`;
/// everything else is for any account.
pub fn member_reads(db: &Connection, user: &str, pkg: &str) -> Result<bool> {
    match org_of(db, pkg)? {
        None => Ok(true),
        Some(org) => Ok(role(db, &org, user)?.is_some() || meta::is_public(db, pkg)?),
    }
}

/// What `user` may do with `pkg` of `org`, for the access listings: `Some(true)` write,
/// `Some(false)` read through a team, `None` no grant.
pub fn permission(
    db: &Connection,
    user: &str,
    org: &str,
    pkg: &str,
    maintainers: &[String],
) -> Result<Option<bool>> {
    if may_write(db, user, org, pkg, Some(maintainers))?.is_ok() {
        return Ok(Some(true));
    }
    if role(db, org, user)?.is_none() {
        return Ok(None);
    }
    Ok(meta::team_grant(db, user, pkg)?.map(|_| false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_be_paths_or_markup_are_refused() {
        for bad in ["", "..", ".x", "_x", "a/b", "a b", "<b>", "a%2f", "@"] {
            assert!(check_org_name(bad).is_err(), "{bad:?}");
        }
        assert_eq!(check_org_name("@acme").unwrap(), "acme");
        for bad in [
            "",
            "Devs",
            "-x",
            ".x",
            "a/b",
            "../x",
            "a:b",
            &"x".repeat(51),
        ] {
            assert!(check_team_name(bad).is_err(), "{bad:?}");
        }
        check_team_name("pay-ments_2.x").unwrap();
        assert_eq!(split_entity("@acme:devs").unwrap(), ("acme", "devs"));
        assert!(split_entity("acme").is_err());
    }

    #[test]
    fn roles_order_and_parse() {
        assert!(Role::Owner > Role::Admin && Role::Admin > Role::Developer);
        assert!(Role::parse("maintainer").is_err());
        for write in [false, true] {
            assert_eq!(parse_permissions(permissions_name(write)).unwrap(), write);
        }
        assert_eq!(Role::parse("admin").unwrap().name(), "admin");
    }
}

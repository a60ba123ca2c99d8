//! The team half of `npm team` and `npm access grant|revoke|list packages <org:team>`:
//! `/-/team/<org>/<team>`, its `user` and `package` lists. Local mode only (see `api::org`).

use crate::api::org::{caller, field, visible};
use crate::app::Ctx;
use crate::auth::orgs::{self, Actor};
use crate::error::{Error, Result};
use crate::http::{Request, Response};
use crate::store::meta;
use serde_json::{json, Map, Value};

/// The stored organisation of a team the caller may see, or 404.
fn visible_team(ctx: &mut Ctx, org: &str, team: &str, user: &str) -> Result<String> {
    let org = visible(ctx, org, user)?;
    orgs::check_team_name(team)?;
    if !meta::team_exists(ctx.db, &org, team)? {
        return Err(Error::NotFound(format!("there is no team @{org}:{team}")));
    }
    Ok(org)
}

/// `DELETE /-/team/<org>/<team>`: deletes a team (owners and admins).
pub fn destroy(ctx: &mut Ctx, _req: &mut Request, org: &str, team: &str) -> Result<Response> {
    let me = caller(ctx, true)?;
    visible(ctx, org, &me)?;
    let org = orgs::destroy_team(ctx.db, Actor::User(&me), org, team)?;
    crate::info!("{me} deleted the team @{org}:{team}");
    Ok(Response::json(200, &json!({})))
}

/// `GET /-/team/<org>/<team>/user`: `["user", ...]`.
pub fn users(ctx: &mut Ctx, _req: &mut Request, org: &str, team: &str) -> Result<Response> {
    let me = caller(ctx, false)?;
    let org = visible_team(ctx, org, team, &me)?;
    let users = meta::team_members(ctx.db, &org, team)?;
    Ok(Response::json(200, &json!(users)))
}

/// `PUT /-/team/<org>/<team>/user` `{user}`: puts a member on the team.
pub fn add_user(ctx: &mut Ctx, req: &mut Request, org: &str, team: &str) -> Result<Response> {
    let me = caller(ctx, true)?;
    visible(ctx, org, &me)?;
    let body = req.read_json(crate::http::SMALL_BODY)?;
    let user = field(&body, "user")?.trim_start_matches('@');
    let org = orgs::team_add(ctx.db, Actor::User(&me), org, team, user)?;
    crate::info!("{me} put {user} on @{org}:{team}");
    Ok(Response::json(201, &json!({})))
}

/// `DELETE /-/team/<org>/<team>/user` `{user}`: takes a user off the team.
pub fn remove_user(ctx: &mut Ctx, req: &mut Request, org: &str, team: &str) -> Result<Response> {
    let me = caller(ctx, true)?;
    visible(ctx, org, &me)?;
    let body = req.read_json(crate::http::SMALL_BODY)?;
    let user = field(&body, "user")?.trim_start_matches('@');
    let org = orgs::team_rm(ctx.db, Actor::User(&me), org, team, user)?;
    crate::info!("{me} took {user} off @{org}:{team}");
    Ok(Response::json(200, &json!({})))
}

/// `GET /-/team/<org>/<team>/package`: `{package: "read" | "write"}`, of the packages the
/// caller may read.
pub fn packages(ctx: &mut Ctx, _req: &mut Request, org: &str, team: &str) -> Result<Response> {
    let me = caller(ctx, false)?;
    let org = visible_team(ctx, org, team, &me)?;
    let granted = meta::team_packages(ctx.db, &org, team)?;
    let out: Map<String, Value> = crate::auth::readable(ctx, granted, |(p, _)| p)?
        .into_iter()
        .map(|(p, w)| (p, json!(if w { "write" } else { "read" })))
        .collect();
    Ok(Response::json(200, &Value::Object(out)))
}

/// `PUT /-/team/<org>/<team>/package` `{package, permissions}` (`npm access grant`).
pub fn grant(ctx: &mut Ctx, req: &mut Request, org: &str, team: &str) -> Result<Response> {
    let me = caller(ctx, true)?;
    visible(ctx, org, &me)?;
    let body = req.read_json(crate::http::SMALL_BODY)?;
    let pkg = field(&body, "package")?;
    let write = orgs::parse_permissions(field(&body, "permissions")?)?;
    crate::name::validate(pkg)?;
    let visible = crate::auth::can_read(ctx, pkg)?;
    let org = orgs::grant(ctx.db, Actor::User(&me), org, team, pkg, write, visible)?;
    let how = orgs::permissions_name(write);
    crate::info!("{me} granted {pkg} {how} to @{org}:{team}");
    Ok(Response::json(201, &json!({})))
}

/// `DELETE /-/team/<org>/<team>/package` `{package}` (`npm access revoke`).
pub fn revoke(ctx: &mut Ctx, req: &mut Request, org: &str, team: &str) -> Result<Response> {
    let me = caller(ctx, true)?;
    visible(ctx, org, &me)?;
    let body = req.read_json(crate::http::SMALL_BODY)?;
    let pkg = field(&body, "package")?;
    crate::name::validate(pkg)?;
    let visible = crate::auth::can_read(ctx, pkg)?;
    let org = orgs::revoke(ctx.db, Actor::User(&me), org, team, pkg, visible)?;
    crate::info!("{me} revoked {pkg} from @{org}:{team}");
    Ok(Response::json(200, &json!({})))
}

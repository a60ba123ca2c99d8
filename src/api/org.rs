//! `npm org` and the organisation half of `npm team`: `/-/org/<org>/user` (members and roles)
//! and `/-/org/<org>/team` (teams). Local mode only: in github mode the repository decides,
//! and `none` has no accounts; there these answer 404 saying so. The rules are `auth::orgs`.

use crate::app::Ctx;
use crate::auth::orgs::{self, Actor};
use crate::auth::{self, Identity};
use crate::config::AuthType;
use crate::error::{Error, Result};
use crate::http::{Request, Response};
use crate::store::meta;
use serde_json::{json, Map, Value};

/// The caller's account name, in the one mode that has organisations. `change`: the request
/// changes something, which a read-only token may not.
pub fn caller(ctx: &Ctx, change: bool) -> Result<String> {
    match (ctx.app.config.auth.kind, &ctx.who) {
        (AuthType::GitHub, _) => Err(Error::NotFound(
            "this registry uses GitHub authentication: who may read and publish a package is decided by the permissions of its GitHub repository, so nmr keeps no organisations or teams".into(),
        )),
        (AuthType::None, _) => Err(Error::NotFound(
            "this registry has no accounts (auth.type = none), so no organisations or teams: anyone may do anything".into(),
        )),
        (_, Identity::User { readonly: true, .. }) if change => Err(Error::Forbidden(
            "this token is read-only; use a token that may publish".into(),
        )),
        (_, Identity::User { name, .. }) => Ok(name.clone()),
        _ => Err(Error::Unauthorized(
            "this registry needs you to log in: run npm login".into(),
        )),
    }
}

/// The stored name of `org` if the caller may see it: any account may, except with
/// `auth.read = members`, where only its members may; to others it answers as no organisation,
/// whatever they asked (a change too), so that it does not confirm the organisation exists.
pub fn visible(ctx: &Ctx, org: &str, user: &str) -> Result<String> {
    visible_to(ctx, org, Some(user))
}

/// [`visible`] for a caller who may not be logged in (a web page): without an account, an
/// organisation is seen only where any account would see it.
pub fn visible_to(ctx: &Ctx, org: &str, user: Option<&str>) -> Result<String> {
    let bare = orgs::check_org_name(org)?;
    let member = |name: &str| -> Result<bool> {
        match user {
            Some(user) => Ok(orgs::role(ctx.db, name, user)?.is_some()),
            None => Ok(false),
        }
    };
    match meta::org(ctx.db, bare)? {
        Some(name) if !auth::reads_vary(ctx) || member(&name)? => Ok(name),
        _ => Err(orgs::absent(bare)),
    }
}

/// A string field of a small JSON body.
pub fn field<'b>(body: &'b Value, key: &str) -> Result<&'b str> {
    body.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| Error::BadRequest(format!("the request body needs a string {key:?}")))
}

/// `GET /-/org/<org>/user`: `{user: role}`.
pub fn members(ctx: &mut Ctx, _req: &mut Request, org: &str) -> Result<Response> {
    let user = caller(ctx, false)?;
    let org = visible(ctx, org, &user)?;
    let out: Map<String, Value> = meta::members(ctx.db, &org)?
        .into_iter()
        .map(|(u, r)| (u, json!(r)))
        .collect();
    Ok(Response::json(200, &Value::Object(out)))
}

/// `PUT /-/org/<org>/user` `{user, role}`: adds a member or changes a role (owners only).
/// The answer is what npm prints from: `{org: {name, size}, user, role}`.
pub fn set_member(ctx: &mut Ctx, req: &mut Request, org: &str) -> Result<Response> {
    let me = caller(ctx, true)?;
    visible(ctx, org, &me)?;
    let body = req.read_json(crate::http::SMALL_BODY)?;
    let user = field(&body, "user")?.trim_start_matches('@');
    let role = match body.get("role") {
        None | Some(Value::Null) => "developer",
        Some(_) => field(&body, "role")?,
    };
    let (org, size) = orgs::set_member(ctx.db, Actor::User(&me), org, user, role)?;
    crate::info!("{me} made {user} {role} of @{org}");
    Ok(Response::json(
        200,
        &json!({"org": {"name": org, "size": size}, "user": user, "role": role}),
    ))
}

/// `DELETE /-/org/<org>/user` `{user}`: removes a member (owners only).
pub fn remove_member(ctx: &mut Ctx, req: &mut Request, org: &str) -> Result<Response> {
    let me = caller(ctx, true)?;
    visible(ctx, org, &me)?;
    let body = req.read_json(crate::http::SMALL_BODY)?;
    let user = field(&body, "user")?.trim_start_matches('@');
    let org = orgs::remove_member(ctx.db, Actor::User(&me), org, user)?;
    crate::info!("{me} removed {user} from @{org}");
    Ok(Response::json(200, &json!({})))
}

/// `GET /-/org/<org>/team`: `["org:team", ...]`.
pub fn teams(ctx: &mut Ctx, _req: &mut Request, org: &str) -> Result<Response> {
    let user = caller(ctx, false)?;
    let org = visible(ctx, org, &user)?;
    let out: Vec<Value> = meta::teams(ctx.db, &org)?
        .into_iter()
        .map(|(t, _)| json!(format!("{org}:{t}")))
        .collect();
    Ok(Response::json(200, &Value::Array(out)))
}

/// `PUT /-/org/<org>/team` `{name, description}`: creates a team (owners and admins).
pub fn create_team(ctx: &mut Ctx, req: &mut Request, org: &str) -> Result<Response> {
    let me = caller(ctx, true)?;
    visible(ctx, org, &me)?;
    let body = req.read_json(crate::http::SMALL_BODY)?;
    let team = field(&body, "name")?;
    let description = body
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or("");
    let org = orgs::create_team(ctx.db, Actor::User(&me), org, team, description)?;
    crate::info!("{me} created the team @{org}:{team}");
    Ok(Response::json(
        201,
        &json!({"name": format!("{org}:{team}"), "description": description}),
    ))
}

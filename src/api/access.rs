//! The `npm access` endpoints that are about packages: who may write one (collaborators), the
//! packages of a scope or a user, and a package's status. In local mode they answer from the
//! organisations (see `auth::orgs`) and each package's maintainers; elsewhere from the
//! maintainers. Team grants are `api::team`.

use crate::app::Ctx;
use crate::auth::{self, maintainer_names, orgs};
use crate::config::AuthType;
use crate::error::{Error, Result};
use crate::http::{Request, Response};
use crate::packument;
use crate::store::meta;
use serde_json::{json, Map, Value};

fn local(ctx: &Ctx) -> bool {
    ctx.app.config.auth.kind == AuthType::Local
}

fn word(write: bool) -> Value {
    json!(if write { "write" } else { "read" })
}

/// `GET /-/package/<name>/collaborators`: `{user: "read" | "write"}`. Maintainers write; for
/// a package of an organisation (local mode), its owners and admins and the members of the
/// teams it is granted to, and maintainers only while they are members.
pub fn collaborators(ctx: &mut Ctx, _req: &mut Request, name: &str) -> Result<Response> {
    let pkg = meta::package(ctx.db, name)?.ok_or_else(|| packument::not_found(name))?;
    let maintainers = maintainer_names(&pkg.maintainers);
    let org = match local(ctx) {
        true => orgs::org_of(ctx.db, name)?,
        false => None,
    };
    let Some(org) = org else {
        let out: Map<String, Value> = maintainers.into_iter().map(|n| (n, word(true))).collect();
        return Ok(Response::json(200, &Value::Object(out)));
    };
    let mut out = Map::new();
    for (user, _) in meta::members(ctx.db, &org)? {
        if let Some(w) = orgs::permission(ctx.db, &user, &org, name, &maintainers)? {
            out.insert(user, word(w));
        }
    }
    Ok(Response::json(200, &Value::Object(out)))
}

/// What `user` may do with a package (local mode): `Some(true)` write, `Some(false)` read
/// through a team grant, `None` neither.
fn permission_of(ctx: &Ctx, user: &str, name: &str, maintainers: &str) -> Result<Option<bool>> {
    let maintainers = maintainer_names(maintainers);
    match orgs::org_of(ctx.db, name)? {
        Some(org) => orgs::permission(ctx.db, user, &org, name, &maintainers),
        None => Ok(maintainers.iter().any(|m| m == user).then_some(true)),
    }
}

/// `GET /-/org/<scope>/package`: the packages under `@scope/` that the caller may read, each
/// with what the caller may do with it. A scope that is neither an organisation nor holds a
/// package the caller may read is a 404, so npm falls back to listing the user's packages.
pub fn scope_packages(ctx: &mut Ctx, _req: &mut Request, scope: &str) -> Result<Response> {
    let scope = scope.trim_start_matches('@');
    let prefix = format!("@{}/", scope.to_ascii_lowercase());
    let all = meta::all_maintainers(ctx.db)?
        .into_iter()
        .filter(|(n, _)| n.to_ascii_lowercase().starts_with(&prefix))
        .collect();
    let readable = auth::readable(ctx, all, |(n, _)| n)?;
    let mut out = Map::new();
    for (name, maintainers) in readable {
        let w = match (local(ctx), ctx.who.name()) {
            (true, Some(me)) => permission_of(ctx, me, &name, &maintainers)? == Some(true),
            _ => true,
        };
        out.insert(name, word(w));
    }
    let org_seen = local(ctx)
        && orgs::check_org_name(scope).is_ok()
        && match ctx.who.name().map(str::to_string) {
            Some(me) => crate::api::org::visible(ctx, scope, &me).is_ok(),
            None => false,
        };
    if out.is_empty() && !org_seen {
        return Err(Error::NotFound(format!("no packages in scope @{scope}")));
    }
    Ok(Response::json(200, &Value::Object(out)))
}

/// `GET /-/user/<user>/package`: the packages the user may write (or, through a team, read)
/// that the caller may read.
pub fn user_packages(ctx: &mut Ctx, _req: &mut Request, user: &str) -> Result<Response> {
    let all = meta::all_maintainers(ctx.db)?;
    let mut theirs = Vec::new();
    for (name, maintainers) in all {
        let p = if local(ctx) {
            permission_of(ctx, user, &name, &maintainers)?
        } else {
            maintainer_names(&maintainers)
                .iter()
                .any(|n| n == user)
                .then_some(true)
        };
        if let Some(w) = p {
            theirs.push((name, w));
        }
    }
    let out: Map<String, Value> = auth::readable(ctx, theirs, |(n, _)| n)?
        .into_iter()
        .map(|(n, w)| (n, word(w)))
        .collect();
    Ok(Response::json(200, &Value::Object(out)))
}

/// `GET /-/package/<name>/visibility`: `public` when anyone may read it without logging in
/// (`auth.read = public`, or in local mode `npm access set status=public`).
pub fn visibility(ctx: &mut Ctx, _req: &mut Request, name: &str) -> Result<Response> {
    meta::package(ctx.db, name)?.ok_or_else(|| packument::not_found(name))?;
    let public = local(ctx) && (ctx.app.config.auth.read_public || meta::is_public(ctx.db, name)?);
    Ok(Response::json(200, &json!({ "public": public })))
}

/// `POST /-/package/<name>/access`: in local mode `public` opens the package to readers
/// without an account and `restricted` closes it again (in an organisation's scope, its owners
/// and admins decide); elsewhere every package is already
/// `restricted` and cannot be opened. 2FA policies do not exist here.
pub fn set_access(ctx: &mut Ctx, req: &mut Request, name: &str) -> Result<Response> {
    let body = req.read_json(64 * 1024)?;
    meta::package(ctx.db, name)?.ok_or_else(|| packument::not_found(name))?;
    let public = match body.get("access").and_then(Value::as_str) {
        Some("restricted") => false,
        Some("public") if local(ctx) => true,
        _ if body.get("access").is_some() && !local(ctx) => {
            return Err(Error::BadRequest(format!(
                "nmr is a private registry: {name} is visible to everyone who may read this registry (auth.read) and to nobody else, so it cannot be made public"
            )))
        }
        Some(other) => {
            return Err(Error::BadRequest(format!(
                "unknown access {:?}: use public or restricted",
                other.chars().take(40).collect::<String>()
            )))
        }
        None if body.get("access").is_some() => {
            return Err(Error::BadRequest("access must be public or restricted".into()))
        }
        None => return Err(Error::BadRequest("two-factor publishing policies are not supported by nmr; restrict publishing with maintainers (npm owner)".into())),
    };
    if local(ctx) {
        // Opening a package to everyone is the organisation's decision, not any publisher's.
        if let (Some(org), Some(me)) = (orgs::org_of(ctx.db, name)?, ctx.who.name()) {
            if orgs::role(ctx.db, &org, me)? < Some(orgs::Role::Admin) {
                return Err(Error::Forbidden(format!(
                    "changing who may read {name} needs the admin or owner role in @{org}"
                )));
            }
        }
        let tx = meta::write_tx(ctx.db)?;
        meta::set_public(&tx, name, public)?;
        tx.commit().map_err(crate::store::Error::from)?;
        let who = ctx.who.name().unwrap_or("-").to_string();
        let status = if public { "public" } else { "private" };
        crate::info!("{who} set the status of {name} to {status}");
    }
    Ok(Response::json(200, &json!({})))
}

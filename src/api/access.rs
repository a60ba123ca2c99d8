//! The `npm access` endpoints. Read-only listings answer from each package's maintainers;
//! visibility and team settings belong to the public registry's account model, which nmr does not
//! have, so those writes answer with an error that says so.

use crate::app::Ctx;
use crate::error::{Error, Result};
use crate::http::{Request, Response};
use crate::packument;
use crate::store::meta;
use serde_json::{json, Map, Value};

fn maintainer_names(json_list: &str) -> Vec<String> {
    serde_json::from_str::<Vec<Value>>(json_list)
        .unwrap_or_default()
        .iter()
        .filter_map(|m| m.get("name").and_then(Value::as_str).map(str::to_string))
        .collect()
}

/// `GET /-/package/<name>/collaborators`: every maintainer may write.
pub fn collaborators(ctx: &mut Ctx, _req: &mut Request, name: &str) -> Result<Response> {
    let pkg = meta::package(ctx.db, name)?.ok_or_else(|| packument::not_found(name))?;
    let out: Map<String, Value> = maintainer_names(&pkg.maintainers)
        .into_iter()
        .map(|n| (n, json!("write")))
        .collect();
    Ok(Response::json(200, &Value::Object(out)))
}

/// `GET /-/org/<scope>/package`: the packages under `@scope/` that the caller may read. An empty scope is a 404 so
/// npm falls back to listing the user's packages.
pub fn scope_packages(ctx: &mut Ctx, _req: &mut Request, scope: &str) -> Result<Response> {
    let prefix = format!("@{}/", scope.trim_start_matches('@'));
    let all = meta::all_maintainers(ctx.db)?
        .into_iter()
        .filter(|(n, _)| n.starts_with(&prefix))
        .collect();
    let out: Map<String, Value> = crate::auth::readable(ctx, all, |(n, _)| n)?
        .into_iter()
        .map(|(n, _)| (n, json!("write")))
        .collect();
    if out.is_empty() {
        return Err(Error::NotFound(format!("no packages in scope @{scope}")));
    }
    Ok(Response::json(200, &Value::Object(out)))
}

/// `GET /-/user/<user>/package`: the packages the user maintains that the caller may read.
pub fn user_packages(ctx: &mut Ctx, _req: &mut Request, user: &str) -> Result<Response> {
    let all = meta::all_maintainers(ctx.db)?
        .into_iter()
        .filter(|(_, m)| maintainer_names(m).iter().any(|n| n == user))
        .collect();
    let out: Map<String, Value> = crate::auth::readable(ctx, all, |(n, _)| n)?
        .into_iter()
        .map(|(n, _)| (n, json!("write")))
        .collect();
    Ok(Response::json(200, &Value::Object(out)))
}

/// `GET /-/package/<name>/visibility`: packages never leave this registry, so none is public.
pub fn visibility(ctx: &mut Ctx, _req: &mut Request, name: &str) -> Result<Response> {
    meta::package(ctx.db, name)?.ok_or_else(|| packument::not_found(name))?;
    Ok(Response::json(200, &json!({"public": false})))
}

/// `POST /-/package/<name>/access`: `restricted` is what every package already is; `public`
/// and 2FA policies do not exist here.
pub fn set_access(ctx: &mut Ctx, req: &mut Request, name: &str) -> Result<Response> {
    let body = req.read_json(64 * 1024)?;
    meta::package(ctx.db, name)?.ok_or_else(|| packument::not_found(name))?;
    if body.get("access").and_then(Value::as_str) == Some("restricted") {
        return Ok(Response::json(200, &json!({})));
    }
    if body.get("access").is_some() {
        return Err(Error::BadRequest(format!(
            "nmr is a private registry: {name} is visible to everyone who may read this registry (auth.read) and to nobody else, so it cannot be made public"
        )));
    }
    Err(Error::BadRequest("two-factor publishing policies are not supported by nmr; restrict publishing with maintainers (npm owner)".into()))
}

/// `PUT`/`DELETE /-/team/<org>/<team>/package`: nmr has no teams.
pub fn teams(_ctx: &mut Ctx, _req: &mut Request, _org: &str) -> Result<Response> {
    Err(Error::BadRequest("teams are not supported by nmr; who may publish a package is its maintainers (npm owner add/rm)".into()))
}

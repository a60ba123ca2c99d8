//! Stars: `PUT /<name>` with `{_id, _rev, users}` (the complete new set of users who starred
//! the package), and `GET /-/_view/starredByUser?key="<user>"` for `npm stars`.

use crate::app::Ctx;
use crate::error::{Error, Result};
use crate::http::{Request, Response};
use crate::packument;
use crate::store::meta;
use serde_json::{json, Map, Value};

/// Replaces the set of users who starred `name`.
pub fn put(ctx: &mut Ctx, name: &str, doc: &Map<String, Value>) -> Result<Response> {
    let users = doc["users"]
        .as_object()
        .ok_or_else(|| Error::BadRequest("users must be an object of user name to true".into()))?;
    let set: Map<String, Value> = users
        .iter()
        .filter(|(_, v)| v.as_bool() == Some(true))
        .map(|(k, _)| (k.clone(), json!(true)))
        .collect();
    // Starring says the package exists, so it needs read access (the route asks only for an
    // account: the head cannot tell a star from a publish).
    if !crate::auth::can_read(ctx, name)? {
        return Err(crate::auth::hidden(name));
    }
    let app = ctx.app;
    let _guard = app.lock_package(ctx.db, name)?;
    let pkg = meta::package(ctx.db, name)?.ok_or_else(|| packument::not_found(name))?;
    // With accounts, a caller may add or remove only their own star.
    if let Some(me) = ctx.who.name() {
        let old: Map<String, Value> = serde_json::from_str(&pkg.users).unwrap_or_default();
        let changed = old
            .keys()
            .filter(|k| !set.contains_key(*k))
            .chain(set.keys().filter(|k| !old.contains_key(*k)));
        if let Some(other) = changed.into_iter().find(|k| k.as_str() != me) {
            return Err(Error::Forbidden(format!(
                "you ({me}) cannot star or unstar for {other}"
            )));
        }
    }
    let tx = meta::write_tx(ctx.db)?;
    meta::set_users(&tx, pkg.id, &Value::Object(set).to_string())?;
    packument::changed(&tx, pkg.id, name, &app.marker, &crate::time::now_rfc3339())?;
    tx.commit()?;
    Ok(Response::json(200, &json!({"success": true})))
}

/// `GET /-/_view/starredByUser?key="alice"` (the key is a JSON string): the packages the user
/// starred that the caller may read.
pub fn starred_by(ctx: &mut Ctx, req: &mut Request) -> Result<Response> {
    let raw = req
        .query
        .split('&')
        .find_map(|kv| kv.strip_prefix("key="))
        .ok_or_else(|| Error::BadRequest("missing key=\"<user name>\"".into()))?;
    let decoded = crate::name::percent_decode(raw)?;
    let user: String = serde_json::from_str(&decoded).map_err(|_| {
        Error::BadRequest(format!(
            "key must be a JSON string such as \"alice\", not {decoded}"
        ))
    })?;
    let names = meta::starred_by(ctx.db, &user)?;
    let rows: Vec<Value> = crate::auth::readable(ctx, names, |n| n)?
        .into_iter()
        .map(|n| json!({"value": n}))
        .collect();
    Ok(Response::json(200, &json!({"rows": rows})))
}

//! The dist-tag endpoints: `GET /-/package/<name>/dist-tags`, and `PUT`/`DELETE` of
//! `/-/package/<name>/dist-tags/<tag>` (the body of a PUT is a JSON string naming the version).

use crate::api::document::validate_tag;
use crate::app::Ctx;
use crate::config::NotifyEvent;
use crate::error::{Error, Result};
use crate::http::{Request, Response};
use crate::notify::Change;
use crate::packument;
use crate::store::meta;
use serde_json::{json, Map, Value};

/// Largest body a tag PUT needs: a quoted version string.
const TAG_BODY_LIMIT: u64 = 1024;

/// `GET /-/package/<name>/dist-tags`.
pub fn list(ctx: &mut Ctx, _req: &mut Request, name: &str) -> Result<Response> {
    let pkg = meta::package(ctx.db, name)?.ok_or_else(|| packument::not_found(name))?;
    let tags: Map<String, Value> = meta::tags(ctx.db, pkg.id)?
        .into_iter()
        .map(|(t, v)| (t, json!(v)))
        .collect();
    Ok(Response::json(200, &Value::Object(tags)))
}

/// `PUT /-/package/<name>/dist-tags/<tag>` with body `"1.0.0"`.
pub fn set(ctx: &mut Ctx, req: &mut Request, name: &str, tag: &str) -> Result<Response> {
    validate_tag(tag)?;
    let version = match req.read_json(TAG_BODY_LIMIT)? {
        Value::String(v) => v,
        other => {
            return Err(Error::BadRequest(format!(
                "body must be the version as a JSON string, e.g. \"1.0.0\", not {other}"
            )))
        }
    };
    let app = ctx.app;
    let _guard = app.lock_package(ctx.db, name)?;
    let pkg = meta::package(ctx.db, name)?.ok_or_else(|| packument::not_found(name))?;
    if meta::version(ctx.db, pkg.id, &version)?.is_none() {
        return Err(Error::NotFound(format!(
            "{name}@{version} does not exist, so {tag} cannot point at it"
        )));
    }
    let src = ctx.change_source(req, name);
    let now = crate::time::now_rfc3339();
    let tx = meta::write_tx(ctx.db)?;
    meta::set_tag(&tx, pkg.id, tag, &version)?;
    packument::changed(&tx, pkg.id, name, &app.marker, &now)?;
    let change = Change::new(NotifyEvent::DistTag, "add")
        .version(&version)
        .tag(tag);
    app.queue_notices(&tx, &src, &now, &[change])?;
    tx.commit()?;
    app.committed();
    Ok(Response::json(201, &json!({"ok": "package tagged"})))
}

/// `DELETE /-/package/<name>/dist-tags/<tag>`. `latest` cannot be removed: without it a plain
/// `npm install <name>` breaks.
pub fn remove(ctx: &mut Ctx, req: &mut Request, name: &str, tag: &str) -> Result<Response> {
    if tag == "latest" {
        return Err(Error::BadRequest(format!(
            "refusing to remove the latest tag: `npm install {name}` needs it; move it instead with `npm dist-tag add {name}@<version> latest`"
        )));
    }
    let app = ctx.app;
    let _guard = app.lock_package(ctx.db, name)?;
    let pkg = meta::package(ctx.db, name)?.ok_or_else(|| packument::not_found(name))?;
    let src = ctx.change_source(req, name);
    let now = crate::time::now_rfc3339();
    let tx = meta::write_tx(ctx.db)?;
    let Some((_, version)) = meta::tags(&tx, pkg.id)?.into_iter().find(|(t, _)| t == tag) else {
        return Err(Error::NotFound(format!("{name} has no dist-tag {tag:?}")));
    };
    meta::delete_tag(&tx, pkg.id, tag)?;
    packument::changed(&tx, pkg.id, name, &app.marker, &now)?;
    let change = Change::new(NotifyEvent::DistTag, "rm")
        .version(&version)
        .tag(tag);
    app.queue_notices(&tx, &src, &now, &[change])?;
    tx.commit()?;
    app.committed();
    Ok(Response::json(201, &json!({"ok": "tag removed"})))
}

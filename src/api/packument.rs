//! `GET /<name>` and `GET /<name>/<version>`: packuments served from the rendered cache, full
//! or abbreviated, with strong ETags, 304s and gzip; also for documents cached from the
//! upstream (see `uplink`).

use crate::app::Ctx;
use crate::error::{Error, Result};
use crate::http::{Body, Request, Response, CORGI};
use crate::name;
use crate::packument::{not_found, version_doc, Origin, Rendered};
use crate::store::meta;
use std::sync::Arc;

/// `GET /<name>`: the full packument, or the abbreviated one for the install Accept header.
pub fn get(ctx: &mut Ctx, req: &mut Request, name: &str) -> Result<Response> {
    let rev = meta::package_rev(ctx.db, name)?.ok_or_else(|| not_found(name))?;
    serve(ctx, req, Origin::Local, name, rev)
}

/// Whether a packument request is answered with the abbreviated document. `?write=true` asks
/// for the document to edit and write back, which is the full one.
fn abbreviated(req: &Request) -> bool {
    req.wants_abbreviated() && !req.query.split('&').any(|p| p == "write=true")
}

/// The stored document at revision `rev`, rendered for the base URL this request uses.
pub fn rendered(
    ctx: &mut Ctx,
    req: &Request,
    origin: Origin,
    name: &str,
    rev: i64,
    abbreviated: bool,
) -> Result<Arc<Rendered>> {
    let base = ctx.base_url(req)?;
    ctx.app
        .cache
        .get(ctx.db, origin, name, rev, abbreviated, &base)?
        .ok_or_else(|| not_found(name))
}

/// Answers a packument GET from a stored template: full or abbreviated by the Accept header, with
/// a strong ETag, 304 on `If-None-Match`, and gzip when the client accepts it.
pub fn serve(
    ctx: &mut Ctx,
    req: &Request,
    origin: Origin,
    name: &str,
    rev: i64,
) -> Result<Response> {
    let abbreviated = abbreviated(req);
    let r = rendered(ctx, req, origin, name, rev, abbreviated)?;
    let content_type = if abbreviated {
        CORGI
    } else {
        "application/json"
    };
    let (etag, body) = if req.accepts_gzip() {
        (
            format!("{}-gzip\"", r.etag.trim_end_matches('"')),
            Some(r.gzipped()),
        )
    } else {
        (r.etag.clone(), None)
    };
    if req.not_modified(&etag) {
        return Ok(Response::not_modified(&etag).with_header("Vary", "Accept, Accept-Encoding"));
    }
    let mut resp = Response {
        status: 200,
        headers: vec![
            ("Content-Type", content_type.into()),
            ("ETag", etag),
            ("Vary", "Accept, Accept-Encoding".into()),
        ],
        body: Body::Shared(body.clone().unwrap_or_else(|| r.body.clone())),
    };
    if body.is_some() {
        resp.headers.push(("Content-Encoding", "gzip".into()));
    }
    Ok(resp)
}

/// `GET /<name>/<version-or-tag>`: one version's document.
pub fn get_version(ctx: &mut Ctx, req: &mut Request, name: &str, spec: &str) -> Result<Response> {
    let pkg = meta::package(ctx.db, name)?.ok_or_else(|| not_found(name))?;
    let tags = meta::tags(ctx.db, pkg.id)?;
    let version = tags
        .iter()
        .find(|(t, _)| t == spec)
        .map_or(spec, |(_, v)| v.as_str())
        .to_string();
    let Some(v) = meta::version(ctx.db, pkg.id, &version)? else {
        if meta::is_deleted(ctx.db, name, &version)? {
            return Err(Error::Gone(format!("{name}@{version} was unpublished")));
        }
        return Err(Error::NotFound(format!(
            "{name} has no version or tag {spec:?}; `npm view {name} versions` lists them"
        )));
    };
    let file = meta::file(ctx.db, name, &name::tarball_file(name, &version))?;
    let base = ctx.base_url(req)?;
    Ok(Response::json(
        200,
        &version_doc(name, &v, file.as_ref(), &base)?,
    ))
}

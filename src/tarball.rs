//! `GET`/`HEAD /<name>/-/<file>`: streams a stored tarball, published here or cached from the
//! upstream. The file is looked up in the metadata, so the path segment is only ever a lookup
//! key, never a filesystem path.

use crate::app::Ctx;
use crate::error::{Error, Result};
use crate::http::{Body, Request, Response};
use crate::store::meta;

/// `GET /<name>/-/<file>` for a package published here.
pub fn get(ctx: &mut Ctx, req: &mut Request, name: &str, file: &str) -> Result<Response> {
    let f = meta::file(ctx.db, name, file)?.ok_or_else(|| {
        Error::NotFound(format!(
            "{name} has no file {file:?}; the packument's dist.tarball has the right URL"
        ))
    })?;
    serve(ctx, req, name, &f)
}

/// Streams one stored file with its length and digests.
pub fn serve(ctx: &mut Ctx, req: &mut Request, name: &str, f: &meta::File) -> Result<Response> {
    let file = &f.filename;
    let etag = format!("\"{}\"", f.sha1);
    // Published bytes never change, so caches may keep them for good, unless the operator
    // allows publishing over a version.
    let cache = if ctx.app.config.settings.allow_previous_version {
        "no-cache"
    } else {
        "public, max-age=31536000, immutable"
    };
    if req.not_modified(&etag) {
        return Ok(Response::not_modified(&etag).with_header("Cache-Control", cache));
    }
    let (reader, len) = ctx.app.blobs.get(&f.blob_key)?.ok_or_else(|| {
        Error::Internal(format!(
            "metadata points at missing blob {} for {name}/{file}",
            f.blob_key
        ))
    })?;
    let content_type = if file.ends_with(".tgz") {
        "application/octet-stream"
    } else {
        "application/json"
    };
    Ok(Response {
        status: 200,
        headers: vec![
            ("Content-Type", content_type.into()),
            ("ETag", etag),
            ("Cache-Control", cache.into()),
        ],
        body: Body::Stream(reader, len),
    })
}

//! `GET`/`HEAD /<name>/-/<file>`: streams a stored tarball (published here or cached from the
//! upstream), or redirects to a presigned S3 URL when `storage.s3.redirect` is on. The file is
//! looked up in the metadata, so the path segment is only ever a lookup key, never a path.

use crate::app::Ctx;
use crate::error::{Error, Result};
use crate::http::{Body, Request, Response};
use crate::store::meta;

/// `GET /<name>/-/<file>` for a package published here.
pub fn get(ctx: &mut Ctx, req: &mut Request, name: &str, file: &str) -> Result<Response> {
    let Some(f) = meta::file(ctx.db, name, file)? else {
        if let Some(v) = crate::name::version_of_file(name, file) {
            if meta::is_deleted(ctx.db, name, v)? {
                return Err(Error::Gone(format!(
                    "{name}@{v} was unpublished; pick another version"
                )));
            }
        }
        // Said the way every other route says it, so that a refused read (`auth::hidden`)
        // and a name that is not here answer alike.
        if meta::package_rev(ctx.db, name)?.is_none() {
            return Err(crate::packument::not_found(name));
        }
        return Err(Error::NotFound(format!(
            "{name} has no file {file:?}; the packument's dist.tarball has the right URL"
        )));
    };
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
    if let Some(url) = ctx.app.blobs.redirect(&f.blob_key)? {
        // The URL expires, so neither the client nor a proxy may keep the redirect.
        return Ok(Response {
            status: 302,
            headers: vec![("Location", url), ("Cache-Control", "no-store".into())],
            body: Body::Empty,
        });
    }
    let body = ctx.app.blobs.body(&f.blob_key)?.ok_or_else(|| {
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
        body,
    })
}

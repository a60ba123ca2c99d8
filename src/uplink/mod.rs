//! The upstream registry ("uplink"): which names go there, and what nmr does for them: redirect
//! the client (`uplink.mode = redirect`), or fetch, cache and serve them itself (`proxy`), and
//! keep serving the cache when the upstream is gone.
//!
//! Only names nmr does not hold go upstream. A local package is never merged with or shadowed
//! by the upstream; a scope listed in `uplink.private_scopes`, or holding any local package,
//! never goes upstream at all, so a private name is never answered by a public package.

pub mod cache;
mod client;
mod doc;
mod flight;
pub mod state;
mod usage;

use crate::app::{App, Ctx};
use crate::config::UplinkMode;
use crate::digest::Digests;
use crate::error::{Error, Result};
use crate::http::{Request, Response};
use crate::name;
use crate::packument::{self, Origin};
use crate::store::db::Connection;
use crate::store::{blob, meta};
pub use client::{describe, loggable, origin};
use client::{Client, Failure};
use serde_json::{json, Map, Value};

/// Largest upstream packument accepted; the biggest public ones are tens of megabytes.
const MAX_PACKUMENT: u64 = 256 << 20;

/// Largest upstream audit answer accepted.
const MAX_AUDIT: u64 = 32 << 20;

/// Blob-store directory for upstream tarballs. No package name starts with `_`, so these keys
/// never meet the keys of published tarballs.
const BLOB_DIR: &str = "_uplink";

/// The `Warning` header of a cached answer the upstream could not confirm (RFC 7234 §5.5.1).
const STALE: &str = "110 - \"Response is Stale\"";

/// Who answers for a name.
#[derive(Debug, PartialEq)]
enum Target {
    /// nmr itself: the name is local, private, or there is no (reachable) uplink.
    Local,
    Redirect,
    Proxy,
}

fn target(ctx: &Ctx, name: &str) -> Result<Target> {
    let cfg = &ctx.app.config.uplink;
    let mode = match cfg.mode {
        UplinkMode::Off => return Ok(Target::Local),
        // Offline, a redirect would send the client to the upstream all the same.
        UplinkMode::Redirect if cfg.offline => return Ok(Target::Local),
        UplinkMode::Redirect => Target::Redirect,
        UplinkMode::Proxy => Target::Proxy,
    };
    if name::validate(name).is_err() || meta::package_rev(ctx.db, name)?.is_some() {
        return Ok(Target::Local);
    }
    if let Some(scope) = name::scope(name) {
        if cfg.private_scopes.iter().any(|s| s == scope) || meta::scope_has_local(ctx.db, scope)? {
            return Ok(Target::Local);
        }
    }
    Ok(mode)
}

/// 302 to the same path (and query) on the upstream.
fn redirect(ctx: &Ctx, req: &Request) -> Result<Response> {
    let mut location = format!("{}{}", ctx.app.uplink.client.base(), req.path);
    if !req.query.is_empty() {
        location = format!("{location}?{}", req.query);
    }
    // The listener admits only visible ASCII in a request target; checked again where the
    // path becomes a header.
    if !crate::http::header_safe(&location) {
        return Err(Error::BadRequest(
            "the request path has a control character".into(),
        ));
    }
    Ok(
        Response::json(302, &json!({"ok": format!("see {location}")}))
            .with_header("Location", location),
    )
}

/// A cached upstream packument ready to serve.
struct Cached {
    rev: i64,
    /// The upstream could not confirm it (down, or nmr is offline).
    stale: bool,
}

fn mark_stale(resp: Response, c: &Cached) -> Response {
    if c.stale {
        resp.with_header("Warning", STALE)
    } else {
        resp
    }
}

fn is_fresh(s: &meta::UplinkState, maxage: std::time::Duration) -> bool {
    let age = crate::time::now_millis() - s.fetched_at;
    (0..maxage.as_millis() as i64).contains(&age)
}

/// The error for something the upstream could not provide.
fn unavailable(client: &Client, what: &str, f: &Failure) -> Error {
    let msg = format!(
        "cannot fetch {what} from the upstream registry {}: {}",
        client.base(),
        f.reason()
    );
    match f {
        Failure::Timeout(_) => Error::GatewayTimeout(msg),
        _ => Error::BadGateway(msg),
    }
}

/// The path segment of a name on a registry: `@scope%2fname` or `name`.
pub fn encode(name: &str) -> String {
    name.replacen('/', "%2f", 1)
}

/// The cached packument of `name`: fresh for `uplink.maxage`, then revalidated with the
/// upstream; stale when the upstream cannot answer.
fn cached(ctx: &mut Ctx, name: &str) -> Result<Cached> {
    let app = ctx.app;
    let cfg = &app.config.uplink;
    let state = meta::uplink_state(ctx.db, name)?;
    match &state {
        Some(s) if is_fresh(s, cfg.maxage) => {
            return Ok(Cached {
                rev: s.rev,
                stale: false,
            })
        }
        Some(s) if cfg.offline => {
            return Ok(Cached {
                rev: s.rev,
                stale: true,
            })
        }
        None if cfg.offline => {
            return Err(Error::NotFound(format!(
                "package {name} is not in this registry and not cached from the upstream; nmr is offline (uplink.offline), so it does not ask the upstream"
            )))
        }
        _ => {}
    }
    let db = &mut *ctx.db;
    let fetched = app.uplink.flights.run(&format!("packument {name}"), || {
        refresh(app, db, name, false)
    });
    match (fetched, meta::uplink_state(ctx.db, name)?) {
        (Ok(()), Some(s)) => Ok(Cached {
            rev: s.rev,
            stale: false,
        }),
        (Err(e @ (Error::BadGateway(_) | Error::GatewayTimeout(_))), Some(s)) => {
            crate::warn!(
                "uplink: serving the cached packument of {name} stale: {}",
                e.client_message()
            );
            Ok(Cached {
                rev: s.rev,
                stale: true,
            })
        }
        (Err(e), _) => Err(e),
        (Ok(()), None) => Err(Error::Internal(format!(
            "the upstream packument of {name} is missing right after it was stored"
        ))),
    }
}

/// Fetches or revalidates the packument of `name` and stores the outcome. Unless `force`d, a
/// copy still within `uplink.maxage` is kept without asking.
fn refresh(app: &App, db: &mut Connection, name: &str, force: bool) -> Result<()> {
    let state = meta::uplink_state(db, name)?;
    if !force
        && state
            .as_ref()
            .is_some_and(|s| is_fresh(s, app.config.uplink.maxage))
    {
        // Someone else refreshed it between our look and our turn.
        return Ok(());
    }
    let client = &app.uplink.client;
    let url = format!("{}/{}", client.base(), encode(name));
    let mut headers = vec![("Accept", "application/json")];
    if let Some(etag) = state.as_ref().and_then(|s| s.etag.as_deref()) {
        headers.push(("If-None-Match", etag));
    }
    let what = format!("package {name}");
    let a = client
        .get(&url, &headers, MAX_PACKUMENT)
        .map_err(|f| unavailable(client, &what, &f))?;
    let now = crate::time::now_millis();
    match a.status {
        304 if state.is_some() => Ok(meta::uplink_confirmed(db, name, now)?),
        200 => {
            let doc = doc::build(name, &a.body, a.etag, &app.marker).map_err(|e| {
                Error::BadGateway(format!(
                    "the upstream registry {} sent an unusable packument for {name}: {e}",
                    client.base()
                ))
            })?;
            meta::uplink_store(db, name, now, &doc)?;
            crate::info!("uplink: cached the packument of {name}");
            Ok(())
        }
        404 => Err(Error::NotFound(format!(
            "package {name} is neither in this registry nor in the upstream registry {}",
            client.base()
        ))),
        // The upstream's own words are not passed on: they are its to show, not ours.
        s => Err(Error::BadGateway(format!(
            "the upstream registry {} answered {s} for {what}{}",
            client.base(),
            if matches!(s, 401 | 403) {
                " (check uplink.token)"
            } else {
                ""
            }
        ))),
    }
}

/// The cached document as JSON, for the endpoints that answer with a part of it.
fn cached_doc(
    ctx: &mut Ctx,
    req: &Request,
    name: &str,
    abbreviated: bool,
) -> Result<(Value, Cached)> {
    let c = cached(ctx, name)?;
    let r = crate::api::packument::rendered(ctx, req, Origin::Uplink, name, c.rev, abbreviated)?;
    let doc = serde_json::from_slice(r.body())
        .map_err(|e| Error::Internal(format!("cached packument of {name}: {e}")))?;
    Ok((doc, c))
}

/// `GET /<name>` for a name the upstream answers; `None` when nmr answers itself.
pub fn packument(ctx: &mut Ctx, req: &mut Request, name: &str) -> Result<Option<Response>> {
    Ok(match target(ctx, name)? {
        Target::Local => None,
        Target::Redirect => Some(redirect(ctx, req)?),
        Target::Proxy => {
            let c = cached(ctx, name)?;
            let resp = crate::api::packument::serve(ctx, req, Origin::Uplink, name, c.rev)?;
            Some(mark_stale(resp, &c))
        }
    })
}

/// The upstream registry's base URL, as pages name it.
pub fn base(app: &App) -> &str {
    app.uplink.client.base()
}

/// The upstream's full packument of `name` for the web UI, from the cache, fetched first as an
/// install would when it is not cached or no longer fresh; with whether it is stale. `None` when
/// nmr does not proxy this name (a local or private name, or not in proxy mode).
pub fn packument_doc(ctx: &mut Ctx, name: &str) -> Result<Option<(Value, bool)>> {
    if target(ctx, name)? != Target::Proxy {
        return Ok(None);
    }
    let c = cached(ctx, name)?;
    let (_, template) = meta::template(ctx.db, Origin::Uplink, name, false)?
        .ok_or_else(|| packument::not_found(name))?;
    let doc = serde_json::from_slice(&template)
        .map_err(|e| Error::Internal(format!("cached packument of {name}: {e}")))?;
    Ok(Some((doc, c.stale)))
}

/// `GET /-/package/<name>/dist-tags` for a name the upstream answers.
pub fn dist_tags(ctx: &mut Ctx, req: &mut Request, name: &str) -> Result<Option<Response>> {
    Ok(match target(ctx, name)? {
        Target::Local => None,
        Target::Redirect => Some(redirect(ctx, req)?),
        Target::Proxy => {
            let (doc, c) = cached_doc(ctx, req, name, true)?;
            Some(mark_stale(Response::json(200, &doc["dist-tags"]), &c))
        }
    })
}

/// `GET /<name>/<version-or-tag>` for a name the upstream answers.
pub fn version(
    ctx: &mut Ctx,
    req: &mut Request,
    name: &str,
    spec: &str,
) -> Result<Option<Response>> {
    Ok(match target(ctx, name)? {
        Target::Local => None,
        Target::Redirect => Some(redirect(ctx, req)?),
        Target::Proxy => {
            let (doc, c) = cached_doc(ctx, req, name, false)?;
            let version = doc["dist-tags"][spec].as_str().unwrap_or(spec);
            let v = doc["versions"].get(version).ok_or_else(|| {
                Error::NotFound(format!(
                    "{name} has no version or tag {spec:?}; `npm view {name} versions` lists them"
                ))
            })?;
            Some(mark_stale(Response::json(200, v), &c))
        }
    })
}

/// `GET /<name>/-/<file>` for a name the upstream answers: from the cache, else downloaded,
/// verified and cached first.
pub fn tarball(
    ctx: &mut Ctx,
    req: &mut Request,
    name: &str,
    file: &str,
) -> Result<Option<Response>> {
    match target(ctx, name)? {
        Target::Local => return Ok(None),
        Target::Redirect => return Ok(Some(redirect(ctx, req)?)),
        Target::Proxy => {}
    }
    let f = match meta::uplink_file(ctx.db, name, file)? {
        Some(f) => f,
        None => {
            // The packument says which files exist and what their bytes must be.
            cached(ctx, name)?;
            meta::uplink_file(ctx.db, name, file)?.ok_or_else(|| {
                Error::NotFound(format!(
                    "{name} has no file {file:?} in the upstream registry; the packument's dist.tarball has the right URL"
                ))
            })?
        }
    };
    let stored = match f.stored {
        Some(s) => {
            cache::hit(ctx.app, ctx.db, name, file);
            s
        }
        None => fetch_tarball(ctx, name, &f.dist)?,
    };
    crate::api::tarball::serve(ctx, req, name, &stored).map(Some)
}

fn fetch_tarball(ctx: &mut Ctx, name: &str, dist: &meta::UplinkDist) -> Result<meta::File> {
    let app = ctx.app;
    if app.config.uplink.offline {
        return Err(Error::NotFound(format!(
            "{name}/-/{} is not cached, and nmr is offline (uplink.offline), so it does not ask the upstream",
            dist.filename
        )));
    }
    let db = &mut *ctx.db;
    app.uplink
        .flights
        .run(&format!("tarball {name}/{}", dist.filename), || {
            download(app, db, name, dist)
        })?;
    meta::uplink_file(ctx.db, name, &dist.filename)?
        .and_then(|f| f.stored)
        .ok_or_else(|| {
            Error::BadGateway(format!(
                "the upstream packument of {name} changed while {} was downloaded; try again",
                dist.filename
            ))
        })
}

/// Checks downloaded bytes (with their digests) against every digest the packument gives; at
/// least one is needed.
fn verify(
    dist: &meta::UplinkDist,
    digests: &Digests,
    bytes: &[u8],
) -> std::result::Result<(), String> {
    if dist.integrity.is_none() && dist.shasum.is_none() {
        return Err("the packument gives neither integrity nor shasum for it".into());
    }
    if let Some(i) = &dist.integrity {
        digests.check_integrity(i, bytes)?;
    }
    if let Some(s) = &dist.shasum {
        let got = &digests.sha1_hex;
        if !s.eq_ignore_ascii_case(got) {
            return Err(format!(
                "shasum {s} does not match the tarball (sha1 {got})"
            ));
        }
    }
    Ok(())
}

/// Downloads one tarball, verifies it and stores it: bytes durable first, then the row.
fn download(app: &App, db: &mut Connection, name: &str, dist: &meta::UplinkDist) -> Result<()> {
    if meta::uplink_file(db, name, &dist.filename)?.is_some_and(|f| f.stored.is_some()) {
        return Ok(());
    }
    let client = &app.uplink.client;
    let what = format!("{name}/-/{}", dist.filename);
    let a = client
        .get(&dist.url, &[], app.config.settings.max_body_size)
        .map_err(|f| unavailable(client, &what, &f))?;
    if a.status != 200 {
        // Neither the upstream's body nor the tarball URL (whose query may be a signature) is
        // passed on; the log has the URL without its query.
        crate::warn!(
            "uplink: {} answered {} for {what}",
            client::loggable(&dist.url),
            a.status
        );
        return Err(Error::BadGateway(format!(
            "the upstream registry {} answered {} for {what}",
            client.base(),
            a.status,
        )));
    }
    let digests = Digests::of(&a.body);
    if let Err(e) = verify(dist, &digests, &a.body) {
        crate::warn!(
            "uplink: refused {what} from {}: {e}",
            client::loggable(&dist.url)
        );
        return Err(Error::BadGateway(format!(
            "the upstream registry {} sent a corrupt {what}: {e}; it was refused and not cached",
            client.base()
        )));
    }
    if store(app, db, name, dist, &a.body, &digests)? {
        crate::info!("uplink: cached {what} ({} bytes)", a.body.len());
    }
    Ok(())
}

/// Stores verified bytes of an upstream tarball: the blob durable first, then the row, then the
/// cache's size limit. Returns false, with the blob removed again if this call made it, when the
/// packument changed the file's digests meanwhile.
fn store(
    app: &App,
    db: &mut Connection,
    name: &str,
    dist: &meta::UplinkDist,
    bytes: &[u8],
    digests: &Digests,
) -> Result<bool> {
    let key = blob::content_key(&format!("{BLOB_DIR}/{name}"), &dist.filename, digests);
    let created = app.blobs.put(&key, bytes)?;
    let len = bytes.len() as i64;
    if meta::uplink_file_stored(db, name, dist, &key, len, &digests.sha1_hex)? {
        cache::stored(app, db, name, &dist.filename);
        Ok(true)
    } else {
        if created {
            app.blobs.delete(&key)?;
        }
        Ok(false)
    }
}

/// Takes in a packument and tarballs that another registry cached from its own upstream (`nmr
/// import --from-verdaccio --include-cached`), as if this registry had fetched them: the
/// packument only when none is cached here, and stale (fetched at time 0), so the first request
/// revalidates it with `uplink.url`; each tarball that `file` gives is verified against the
/// packument's digests and stored as a download would be. Returns how many tarballs were
/// stored and `(file, why)` for each refused one.
pub fn adopt(
    app: &App,
    db: &mut Connection,
    name: &str,
    packument: &[u8],
    file: &dyn Fn(&meta::UplinkDist) -> Option<Vec<u8>>,
) -> Result<(usize, Vec<(String, String)>)> {
    let doc = doc::build(name, packument, None, &app.marker)
        .map_err(|e| Error::BadRequest(format!("the cached packument of {name}: {e}")))?;
    if meta::uplink_state(db, name)?.is_none() {
        meta::uplink_store(db, name, 0, &doc)?;
    }
    let (mut stored, mut refused) = (0, Vec::new());
    for d in &doc.dists {
        // The row as it stands here, whose digests the bytes must match.
        let Some(f) = meta::uplink_file(db, name, &d.filename)? else {
            continue;
        };
        if f.stored.is_some() {
            continue;
        }
        let Some(bytes) = file(d) else { continue };
        let digests = Digests::of(&bytes);
        if let Err(e) = verify(&f.dist, &digests, &bytes) {
            refused.push((format!("{name}/-/{}", d.filename), e));
            continue;
        }
        if store(app, db, name, &f.dist, &bytes, &digests)? {
            stored += 1;
        }
    }
    Ok((stored, refused))
}

/// Where `nmr mirror` found a version.
#[derive(Debug)]
pub enum Mirrored {
    /// Published here: a local package is never fetched from the upstream.
    Local(meta::File),
    /// Already in the upstream cache.
    Cached(meta::File),
    /// Downloaded, verified and cached now.
    Fetched(meta::File),
}

/// Why a name never comes from the upstream, or `None` if it may. Mirroring needs proxy mode:
/// only then does nmr serve what it cached.
fn mirror_refusal(ctx: &Ctx, name: &str) -> Result<Option<String>> {
    let cfg = &ctx.app.config.uplink;
    if cfg.mode != UplinkMode::Proxy {
        return Ok(Some(format!(
            "mirroring fills the upstream cache, which nmr serves only with uplink.mode = \"proxy\" (it is {:?})",
            cfg.mode
        )));
    }
    if cfg.offline {
        return Ok(Some(
            "nmr is offline (uplink.offline), so it does not ask the upstream".into(),
        ));
    }
    Ok(match target(ctx, name)? {
        Target::Proxy => None,
        _ => Some(format!(
            "{name} never comes from the upstream: it is in a private scope (uplink.private_scopes) or a scope with local packages"
        )),
    })
}

/// Makes sure `name@version` is stored here for `nmr mirror`: a local version as it is, an
/// upstream one in the proxy cache (packument and verified tarball), exactly as a client's
/// install through the proxy would have cached it. Nothing is asked upstream for a tarball
/// that is already cached, so a second run costs no traffic.
pub fn mirror(ctx: &mut Ctx, name: &str, version: &str) -> Result<Mirrored> {
    let file = name::tarball_file(name, version);
    if meta::package_rev(ctx.db, name)?.is_some() {
        return meta::file(ctx.db, name, &file)?
            .map(Mirrored::Local)
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "{name} is published here, and has no version {version}"
                ))
            });
    }
    if let Some(f) = meta::uplink_file(ctx.db, name, &file)?.and_then(|f| f.stored) {
        return Ok(Mirrored::Cached(f));
    }
    if let Some(why) = mirror_refusal(ctx, name)? {
        return Err(Error::BadRequest(why));
    }
    let mut row = meta::uplink_file(ctx.db, name, &file)?;
    if row.is_none() {
        // The cached packument may predate the version: ask the upstream now.
        force_refresh(ctx, name)?;
        row = meta::uplink_file(ctx.db, name, &file)?;
    }
    let f = row.ok_or_else(|| {
        Error::NotFound(format!(
            "{name} has no version {version} in the upstream registry {}",
            ctx.app.uplink.client.base()
        ))
    })?;
    match f.stored {
        Some(s) => Ok(Mirrored::Cached(s)),
        None => fetch_tarball(ctx, name, &f.dist).map(Mirrored::Fetched),
    }
}

fn force_refresh(ctx: &mut Ctx, name: &str) -> Result<()> {
    let (app, db) = (ctx.app, &mut *ctx.db);
    app.uplink.flights.run(&format!("packument {name}"), || {
        refresh(app, db, name, true)
    })
}

/// The dist-tags and versions the upstream lists for `name` now (asked, not from the cache),
/// for resolving `nmr mirror --package name@tag`.
pub fn upstream_versions(ctx: &mut Ctx, name: &str) -> Result<(Map<String, Value>, Vec<String>)> {
    if let Some(why) = mirror_refusal(ctx, name)? {
        return Err(Error::BadRequest(why));
    }
    force_refresh(ctx, name)?;
    let (_, template) = meta::template(ctx.db, Origin::Uplink, name, true)?
        .ok_or_else(|| packument::not_found(name))?;
    let doc: Value = serde_json::from_slice(&template)
        .map_err(|e| Error::Internal(format!("cached packument of {name}: {e}")))?;
    let tags = doc["dist-tags"].as_object().cloned().unwrap_or_default();
    let versions = doc["versions"]
        .as_object()
        .map(|v| v.keys().cloned().collect())
        .unwrap_or_default();
    Ok((tags, versions))
}

/// Forwards the audit of upstream packages to the upstream (proxy mode, when online), leaving
/// out local and private names. `None` when there is nothing to forward.
pub fn audit(ctx: &mut Ctx, body: &[u8]) -> Result<Option<Response>> {
    let cfg = &ctx.app.config.uplink;
    if cfg.mode != UplinkMode::Proxy || cfg.offline {
        return Ok(None);
    }
    let Ok(Value::Object(asked)) = serde_json::from_slice::<Value>(body) else {
        return Ok(None);
    };
    let mut forwarded = Map::new();
    for (name, versions) in asked {
        if target(ctx, &name)? == Target::Proxy {
            forwarded.insert(name, versions);
        }
    }
    if forwarded.is_empty() {
        return Ok(None);
    }
    let client = &ctx.app.uplink.client;
    let url = format!("{}/-/npm/v1/security/advisories/bulk", client.base());
    let body = serde_json::to_vec(&Value::Object(forwarded)).expect("JSON values serialise");
    let a = client
        .post_json(&url, &body, MAX_AUDIT)
        .map_err(|f| unavailable(client, "the audit", &f))?;
    match a.status {
        200..=299 => {}
        // An upstream without audits: as if there were nothing to ask.
        404 => return Ok(None),
        s => {
            return Err(Error::BadGateway(format!(
                "the upstream registry {} answered {s} for the audit",
                client.base()
            )))
        }
    }
    Ok(Some(Response {
        status: a.status,
        headers: vec![("Content-Type", "application/json".into())],
        body: crate::http::Body::Bytes(a.body),
    }))
}

/// Refuses to publish a new local package where the upstream already serves: a name cached
/// from it, in any case (clients would get a mix of two packages under one name), or the first local package
/// of a scope it serves (which would take the whole scope off the upstream).
pub fn check_publish(ctx: &Ctx, name: &str) -> Result<()> {
    let cfg = &ctx.app.config.uplink;
    if cfg.mode == UplinkMode::Off {
        return Ok(());
    }
    let upstream = ctx.app.uplink.client.base();
    if let Some(cached) = meta::uplink_cached(ctx.db, name)? {
        let what = if cached == name {
            format!("{name} is an upstream package")
        } else {
            format!("{name} differs only in case from the upstream package {cached}")
        };
        return Err(Error::Conflict(format!(
            "{what}: nmr serves it from the upstream registry {upstream}, so it cannot be published here as well; publish it under another name, or under a scope listed in uplink.private_scopes"
        )));
    }
    let Some(scope) = name::scope(name) else {
        return Ok(());
    };
    if cfg.private_scopes.iter().any(|s| s == scope) || meta::scope_has_local(ctx.db, scope)? {
        return Ok(());
    }
    match meta::uplink_cached_in_scope(ctx.db, scope)? {
        0 => Ok(()),
        n => Err(Error::Conflict(format!(
            "scope @{scope} is served by the upstream registry {upstream} ({n} package(s) cached); a local package would take the whole scope off the upstream and hide them; to own the scope here, add @{scope} to uplink.private_scopes"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dist(integrity: Option<&str>, shasum: Option<&str>) -> meta::UplinkDist {
        meta::UplinkDist {
            filename: "p-1.0.0.tgz".into(),
            version: "1.0.0".into(),
            url: "http://127.0.0.1:9/p/-/p-1.0.0.tgz".into(),
            integrity: integrity.map(str::to_string),
            shasum: shasum.map(str::to_string),
        }
    }

    #[test]
    fn downloads_are_checked_against_every_digest_given() {
        let d = Digests::of(b"tarball");
        let verify =
            |dist: &meta::UplinkDist, bytes: &[u8]| verify(dist, &Digests::of(bytes), bytes);
        assert!(verify(&dist(Some(&d.integrity), Some(&d.sha1_hex)), b"tarball").is_ok());
        assert!(verify(&dist(None, Some(&d.sha1_hex.to_uppercase())), b"tarball").is_ok());
        assert!(verify(&dist(Some(&d.integrity), None), b"tarbalL").is_err());
        assert!(verify(&dist(None, Some(&d.sha1_hex)), b"tarbalL").is_err());
        assert!(verify(&dist(Some(&d.integrity), Some("00")), b"tarball").is_err());
        assert!(verify(&dist(None, None), b"tarball")
            .unwrap_err()
            .contains("neither"));
    }

    #[test]
    fn names_are_encoded_as_clients_send_them() {
        assert_eq!(encode("@acme/widget"), "@acme%2fwidget");
        assert_eq!(encode("plainpkg"), "plainpkg");
    }
}

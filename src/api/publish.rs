//! `PUT /<name>`: one URL, three operations told apart by the body (see the protocol notes):
//! publishing new versions (with `_attachments`), updating deprecations (the whole document sent
//! back without attachments), and starring (`users` without `versions`).
//!
//! A publish is checked completely before anything is written: names, versions, attachments and
//! their declared length, shasum and integrity. Then, under the package's lock, the tarballs are
//! made durable and the metadata commits in one transaction; on any failure the new blobs are
//! removed (after a crash, at the next start: see `store::gc`), so a rejected request leaves no
//! trace.

use crate::app::Ctx;
use crate::config::NotifyEvent;
use crate::digest::Digests;
use crate::error::{Error, Result};
use crate::http::{Request, Response};
use crate::store::{blob, gc, meta};
use crate::{api::document, name};
use crate::{api::revision, api::star};
use crate::{notify, packument};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// What npm 11 sends as `readme` when a package has none.
const NO_README: &str = "ERROR: No README data found!";

/// Longest version string accepted; semver sets no limit, npm uses 256.
const MAX_VERSION_LEN: usize = 256;

fn bad(msg: impl Into<String>) -> Error {
    Error::BadRequest(msg.into())
}

/// Entry point for `PUT /<name>`.
pub fn put(ctx: &mut Ctx, req: &mut Request, name: &str) -> Result<Response> {
    let doc = document::read(req, name, ctx.app.config.settings.max_body_size)?;
    if document::has_attachments(&doc) {
        let was_new = meta::package(ctx.db, name)?.is_none();
        let repo = crate::auth::check_write(ctx, name, body_repository(&doc))?;
        let src = ctx.change_source(req, name);
        publish(ctx, name, &doc, was_new.then_some(repo), &src)
    } else if ["versions", "dist-tags", "maintainers"]
        .iter()
        .any(|k| doc.contains_key(*k))
    {
        // The whole document sent back (deprecate): versions missing from it are kept.
        let src = ctx.change_source(req, name);
        revision::apply(ctx, name, &doc, None, false, &src)
    } else if doc.contains_key("users") {
        star::put(ctx, name, &doc)
    } else {
        Err(bad("unsupported package update: expected versions with _attachments (publish), versions (deprecate) or users (star)"))
    }
}

/// A checked attachment, ready to store.
struct Attachment {
    version: String,
    /// `widget-1.0.0.tgz` or `widget-1.0.0.sigstore`: the name in our URLs.
    filename: String,
    bytes: Vec<u8>,
    digests: Digests,
}

/// Maps an attachment key (`@acme/widget-1.0.0.tgz`, `widget-1.0.0.tgz`, `...sigstore`) to its
/// version and extension.
fn attachment_target<'k>(pkg: &str, key: &'k str) -> Option<(&'k str, &'static str)> {
    let (stem, ext) = if let Some(s) = key.strip_suffix(".tgz") {
        (s, "tgz")
    } else {
        (key.strip_suffix(".sigstore")?, "sigstore")
    };
    [pkg, name::basename(pkg)]
        .iter()
        .find_map(|p| stem.strip_prefix(p)?.strip_prefix('-'))
        .map(|v| (v, ext))
}

fn check_version_string(v: &str) -> Result<()> {
    if v.len() > MAX_VERSION_LEN || semver::Version::parse(v).is_err() {
        return Err(bad(format!(
            "version {v:?} is not valid semver (MAJOR.MINOR.PATCH[-prerelease][+build])"
        )));
    }
    Ok(())
}

/// Checks one attachment against the version it belongs to.
fn check_attachment(
    pkg: &str,
    key: &str,
    att: &Value,
    versions: &Map<String, Value>,
) -> Result<Attachment> {
    let (version, ext) = attachment_target(pkg, key).filter(|(v, _)| versions.contains_key(*v)).ok_or_else(|| {
        bad(format!("attachment {key:?} does not belong to any version in this body (expected {pkg}-<version>.tgz)"))
    })?;
    let data = att
        .get("data")
        .and_then(Value::as_str)
        .ok_or_else(|| bad(format!("attachment {key:?} has no base64 data")))?;
    let bytes = STANDARD
        .decode(data)
        .map_err(|e| bad(format!("attachment {key:?} is not valid base64: {e}")))?;
    let declared = att
        .get("length")
        .and_then(Value::as_u64)
        .ok_or_else(|| bad(format!("attachment {key:?} has no numeric length")))?;
    if declared != bytes.len() as u64 {
        return Err(bad(format!(
            "attachment {key:?} declares length {declared} but holds {} bytes",
            bytes.len()
        )));
    }
    if bytes.is_empty() {
        return Err(bad(format!("attachment {key:?} is empty")));
    }
    let digests = Digests::of(&bytes);
    if ext == "tgz" {
        let dist = versions[version]
            .get("dist")
            .and_then(Value::as_object)
            .ok_or_else(|| bad(format!("version {version} has no dist object")))?;
        let shasum = dist.get("shasum").and_then(Value::as_str);
        let integrity = dist.get("integrity").and_then(Value::as_str);
        if shasum.is_none() && integrity.is_none() {
            return Err(bad(format!(
                "version {version}: dist has neither shasum nor integrity"
            )));
        }
        if let Some(s) = shasum {
            if !s.eq_ignore_ascii_case(&digests.sha1_hex) {
                return Err(bad(format!(
                    "version {version}: dist.shasum {s} does not match the tarball (sha1 {})",
                    digests.sha1_hex
                )));
            }
        }
        if let Some(i) = integrity {
            digests
                .check_integrity(i, &bytes)
                .map_err(|e| bad(format!("version {version}: {e}")))?;
        }
    }
    let filename = format!("{}-{version}.{ext}", name::basename(pkg));
    Ok(Attachment {
        version: version.to_string(),
        filename,
        bytes,
        digests,
    })
}

/// The stored form of a version's manifest: the client's document without what we derive
/// ourselves (tarball URL, digests) or keep apart (readme, deprecation). Imports store
/// bundled manifests through the same door.
pub fn stored_manifest(
    mut m: Map<String, Value>,
    digests: &Digests,
) -> (String, Option<String>, Option<String>) {
    let readme = match m.remove("readme") {
        Some(Value::String(r)) if r != NO_README && !r.is_empty() => Some(r),
        _ => None,
    };
    let deprecated = match m.remove("deprecated") {
        Some(Value::String(d)) if !d.is_empty() => Some(d),
        _ => None,
    };
    let mut dist = match m.remove("dist") {
        Some(Value::Object(d)) => d,
        _ => Map::new(),
    };
    dist.remove("tarball");
    dist.insert("shasum".into(), json!(digests.sha1_hex));
    dist.insert("integrity".into(), json!(digests.integrity));
    m.insert("dist".into(), Value::Object(dist));
    (Value::Object(m).to_string(), readme, deprecated)
}

/// Refuses a new package whose name differs only in case from one published here, so that
/// `jsonstream` cannot pass for `JSONStream` (or the other way round).
pub fn check_case(db: &crate::store::db::Connection, name: &str) -> Result<()> {
    match meta::case_twin(db, name)? {
        None => Ok(()),
        Some(other) => Err(Error::Conflict(format!(
            "{name} differs only in case from the package {other} published here; names that differ only in case would confuse installs, so publish to {other} or choose another name"
        ))),
    }
}

/// The `repository` a publish body names: at the top, or in a version being published.
fn body_repository(doc: &Map<String, Value>) -> Option<&Value> {
    doc.get("repository").or_else(|| {
        doc.get("versions")?
            .as_object()?
            .values()
            .find_map(|v| v.get("repository"))
    })
}

/// Publishes the versions whose tarballs the body carries. `checked_new` is set when the
/// caller was checked as the creator of a new package, with the GitHub repository to record for
/// it (github mode); `src` says who publishes, for webhooks.
fn publish(
    ctx: &mut Ctx,
    name: &str,
    doc: &Map<String, Value>,
    checked_new: Option<Option<String>>,
    src: &notify::Source,
) -> Result<Response> {
    if doc.get("name").and_then(Value::as_str) != Some(name) {
        return Err(bad(format!("body has no name field; it must be {name:?}")));
    }
    let versions = doc
        .get("versions")
        .and_then(Value::as_object)
        .ok_or_else(|| bad("body has no versions object"))?;
    let attachments = doc["_attachments"].as_object().expect("checked by put");

    let mut checked: Vec<Attachment> = Vec::new();
    for (key, att) in attachments {
        let a = check_attachment(name, key, att, versions)?;
        if checked.iter().any(|c| c.filename == a.filename) {
            return Err(bad(format!(
                "attachment {key:?} is sent twice under different names"
            )));
        }
        checked.push(a);
    }
    let targets: BTreeSet<String> = checked
        .iter()
        .filter(|a| a.filename.ends_with(".tgz"))
        .map(|a| a.version.clone())
        .collect();
    if let Some(a) = checked.iter().find(|a| !targets.contains(&a.version)) {
        return Err(bad(format!(
            "attachment {} has no tarball for version {} beside it",
            a.filename, a.version
        )));
    }
    for v in &targets {
        check_version_string(v)?;
        let m = versions[v]
            .as_object()
            .ok_or_else(|| bad(format!("version {v} is not an object")))?;
        if m.get("version").and_then(Value::as_str) != Some(v.as_str()) {
            return Err(bad(format!("versions[{v:?}].version must be {v:?}")));
        }
        if m.get("name").and_then(Value::as_str) != Some(name) {
            return Err(bad(format!("versions[{v:?}].name must be {name:?}")));
        }
    }
    let mut tags = BTreeMap::new();
    if let Some(t) = doc.get("dist-tags") {
        let t = t
            .as_object()
            .ok_or_else(|| bad("dist-tags must be an object of tag to version"))?;
        for (tag, v) in t {
            crate::api::document::validate_tag(tag)?;
            let v = v
                .as_str()
                .ok_or_else(|| bad(format!("dist-tag {tag} must name a version string")))?;
            tags.insert(tag.clone(), v.to_string());
        }
    }
    let readme_top = doc
        .get("readme")
        .and_then(Value::as_str)
        .filter(|r| *r != NO_README && !r.is_empty());

    let app = ctx.app;
    let _guard = app.lock_package(ctx.db, name)?;
    let pkg = meta::package(ctx.db, name)?;
    let repo = match checked_new {
        // Checked as a first publish, but another one created the package meanwhile: check
        // again against what that one recorded (maintainers, repository), instead of
        // publishing into it unchecked or recording this body's repository over it.
        Some(_) if pkg.is_some() => crate::auth::check_write(ctx, name, None)?,
        Some(repo) => repo,
        None => None,
    };
    if pkg.is_none() {
        check_case(ctx.db, name)?;
        crate::uplink::check_publish(ctx, name)?;
    }
    let existing: BTreeSet<String> = match &pkg {
        Some(p) => meta::versions(ctx.db, p.id)?
            .into_iter()
            .map(|v| v.version)
            .collect(),
        None => BTreeSet::new(),
    };
    for v in &targets {
        if meta::is_deleted(ctx.db, name, v)? {
            return Err(Error::Conflict(format!(
                "{name}@{v} was published before and then unpublished; a version can never be reused, so bump the version"
            )));
        }
    }
    if let Some(v) = targets.iter().find(|v| existing.contains(*v)) {
        if !app.config.settings.allow_previous_version {
            return Err(Error::Conflict(format!(
                "{name}@{v} is already published and versions are immutable; bump the version and publish again"
            )));
        }
    }
    if let Some(v) = versions
        .keys()
        .find(|v| !targets.contains(*v) && !existing.contains(*v))
    {
        return Err(bad(format!(
            "version {v} is new but the body has no tarball attachment for it"
        )));
    }
    if let Some((tag, v)) = tags
        .iter()
        .find(|(_, v)| !targets.contains(*v) && !existing.contains(*v))
    {
        return Err(bad(format!(
            "dist-tag {tag} points at {v}, which is neither published nor in this body"
        )));
    }

    // Tarballs first, durably, each recorded as pending before it is written; the metadata that
    // points at them commits after and clears the records (see store::gc).
    let keys: Vec<String> = checked
        .iter()
        .map(|a| blob::content_key(name, &a.filename, &a.digests))
        .collect();
    gc::reserve(ctx.db, &keys)?;
    let stored: Result<()> = checked
        .iter()
        .zip(&keys)
        .try_for_each(|(a, key)| Ok(app.blobs.put(key, &a.bytes).map(drop)?));
    // The publisher, recorded with each version (`_npmUser`) and, on a package without
    // maintainers (a new one), as its first maintainer.
    let person = ctx.who.person();
    let commit = stored.and_then(|()| {
        let now = crate::time::now_rfc3339();
        let tx = meta::write_tx(ctx.db)?;
        let id = match &pkg {
            Some(p) => p.id,
            None => {
                // Again under the write lock: the package lock is per name, so `Foo` and `foo`
                // may have passed the first check together.
                check_case(&tx, name)?;
                // The scope is checked, and claimed, under the write lock too: two first
                // publishes into one unclaimed scope must not both make their publisher owner.
                if let crate::auth::Identity::User { name: user, .. } = &ctx.who {
                    let claim = app.config.auth.claim_scopes;
                    crate::auth::orgs::claim_for_publish(&tx, claim, user, name)?;
                }
                meta::insert_package(&tx, name, &now)?
            }
        };
        let unowned = pkg.as_ref().is_none_or(|p| p.maintainers == "[]");
        if let (Some(p), true) = (&person, unowned) {
            meta::set_maintainers(&tx, id, &Value::Array(vec![p.clone()]).to_string())?;
        }
        if let Some(r) = &repo {
            meta::set_repository(&tx, id, r)?;
        }
        let mut replaced = Vec::new();
        for (a, key) in checked.iter().zip(&keys) {
            if a.filename.ends_with(".tgz") {
                let mut m = versions[&a.version]
                    .as_object()
                    .expect("checked above")
                    .clone();
                if let Some(p) = &person {
                    m.insert("_npmUser".into(), p.clone());
                }
                let (manifest, readme, deprecated) = stored_manifest(m, &a.digests);
                let readme = readme.or_else(|| readme_top.map(str::to_string));
                meta::put_version(
                    &tx,
                    id,
                    &meta::Version {
                        version: a.version.clone(),
                        manifest,
                        readme,
                        deprecated,
                        published: now.clone(),
                    },
                )?;
            }
            let file = meta::File {
                filename: a.filename.clone(),
                version: a.version.clone(),
                blob_key: key.clone(),
                size: a.bytes.len() as i64,
                sha1: a.digests.sha1_hex.clone(),
                integrity: a.digests.integrity.clone(),
            };
            replaced.extend(meta::put_file(&tx, id, &file)?);
        }
        for (tag, v) in &tags {
            meta::set_tag(&tx, id, tag, v)?;
        }
        packument::ensure_latest(&tx, id)?;
        packument::changed(&tx, id, name, &app.marker, &now)?;
        let changes: Vec<notify::Change> = targets
            .iter()
            .map(|v| {
                let c = notify::Change::new(NotifyEvent::Publish, "publish").version(v);
                // The tag this publish points at the version, `latest` first.
                let tag = tags
                    .iter()
                    .filter(|(_, tv)| *tv == v)
                    .map(|(t, _)| t)
                    .min_by_key(|t| *t != "latest");
                match tag {
                    Some(t) => c.tag(t),
                    None => c,
                }
            })
            .collect();
        app.queue_notices(&tx, src, &now, &changes)?;
        meta::unpend(&tx, &keys)?;
        meta::pend(&tx, &replaced)?;
        tx.commit()?;
        Ok(replaced)
    });
    match commit {
        Ok(replaced) => {
            app.committed();
            // The publish has committed: blobs it no longer points at go now, or at the next
            // start if that fails, never as an error answer.
            gc::settle(ctx.db, &app.blobs, &replaced);
            app.metrics.published(targets.len());
            crate::info!(
                "published {name}@{}",
                targets.iter().cloned().collect::<Vec<_>>().join(", ")
            );
            Ok(Response::json(
                201,
                &json!({"ok": "created new package", "success": true}),
            ))
        }
        Err(e) => {
            // Blobs this publish wrote go again; ones metadata already pointed at stay.
            gc::settle(ctx.db, &app.blobs, &keys);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachment_keys_map_to_versions() {
        assert_eq!(
            attachment_target("@acme/widget", "@acme/widget-1.0.0.tgz"),
            Some(("1.0.0", "tgz"))
        );
        assert_eq!(
            attachment_target("@acme/widget", "widget-1.0.0.tgz"),
            Some(("1.0.0", "tgz"))
        );
        assert_eq!(
            attachment_target("foo-bar", "foo-bar-2.0.0-rc.1.tgz"),
            Some(("2.0.0-rc.1", "tgz"))
        );
        assert_eq!(
            attachment_target("foo", "foo-1.0.0.sigstore"),
            Some(("1.0.0", "sigstore"))
        );
        assert_eq!(attachment_target("foo", "other-1.0.0.tgz"), None);
        assert_eq!(attachment_target("foo", "foo-1.0.0.zip"), None);
    }
}

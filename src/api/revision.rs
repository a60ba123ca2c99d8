//! Writes addressed by a document revision (`_rev`): the revision PUT that npm uses to remove a
//! version (unpublish) and to change owners, the whole-document PUT of `npm deprecate`, and the
//! DELETEs of a tarball or of a whole package.
//!
//! A revision PUT may remove versions and change tags, deprecations and maintainers. It can
//! never add a version or alter a version's contents: those are refused before anything is
//! written. A stale `_rev` is a 409, so two writers cannot silently undo each other.

use crate::api::document::{self, has_attachments, validate_tag};
use crate::app::Ctx;
use crate::config::{AuthType, NotifyEvent};
use crate::error::{Error, Result};
use crate::http::{Request, Response};
use crate::notify::{self, Change};
use crate::store::{gc, meta};
use crate::{name, packument};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

fn bad(msg: impl Into<String>) -> Error {
    Error::BadRequest(msg.into())
}

/// Refuses a revision that is not the package's current one.
fn check_rev(pkg: &meta::Package, rev: &str) -> Result<()> {
    let current = packument::rev_string(&pkg.name, pkg.rev, &pkg.modified);
    if rev != current {
        return Err(Error::Conflict(format!(
            "{} has changed since it was read (revision {rev:?}, now {current:?}); fetch it again and retry",
            pkg.name
        )));
    }
    Ok(())
}

/// A version document without what may legitimately differ between our copy and the client's:
/// the deprecation (which may change) and the tarball URL (which depends on the host).
fn comparable(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("deprecated");
        if let Some(d) = o.get_mut("dist").and_then(Value::as_object_mut) {
            d.remove("tarball");
        }
    }
    v
}

fn deprecation(v: &str, m: &Value) -> Result<Option<String>> {
    match m.get("deprecated") {
        Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
        None | Some(Value::String(_)) | Some(Value::Null) | Some(Value::Bool(false)) => Ok(None),
        Some(other) => Err(bad(format!(
            "versions[{v:?}].deprecated must be a string, not {other}"
        ))),
    }
}

fn maintainers(v: &Value) -> Result<String> {
    let list = v
        .as_array()
        .ok_or_else(|| bad("maintainers must be a list of {name, email}"))?;
    let mut out = Vec::new();
    for m in list {
        let name = m
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty());
        let name = name.ok_or_else(|| bad(format!("maintainer {m} has no name")))?;
        let email = m.get("email").and_then(Value::as_str).unwrap_or("");
        out.push(json!({"name": name, "email": email}));
    }
    Ok(Value::Array(out).to_string())
}

/// Who may be a maintainer depends on the auth mode: local accounts only, and never an empty
/// list (nobody could publish again); github mode decides by repository instead.
fn check_maintainers(ctx: &Ctx, list_json: &str) -> Result<()> {
    let list: Vec<Value> = serde_json::from_str(list_json).unwrap_or_default();
    match ctx.app.config.auth.kind {
        AuthType::None => Ok(()),
        AuthType::GitHub => Err(bad(
            "with GitHub authentication, who may publish is decided by the repository's permissions, not by maintainers",
        )),
        AuthType::Local => {
            if list.is_empty() {
                return Err(bad("a package needs at least one maintainer"));
            }
            for m in &list {
                let n = m["name"].as_str().unwrap_or("");
                if meta::user(ctx.db, n)?.is_none() {
                    return Err(bad(format!("there is no user {n:?} on this registry")));
                }
            }
            Ok(())
        }
    }
}

/// `PUT /<name>/-rev/<rev>`: unpublish of versions, and owner changes.
pub fn put(ctx: &mut Ctx, req: &mut Request, name: &str, rev: &str) -> Result<Response> {
    let doc = document::read(req, name, ctx.app.config.settings.max_body_size)?;
    if has_attachments(&doc) {
        return Err(bad(
            "a revision PUT cannot carry tarballs; publish new versions with npm publish",
        ));
    }
    let src = ctx.change_source(req, name);
    apply(ctx, name, &doc, Some(rev), true, &src)
}

/// Applies a whole or partial package document to the stored package. With `allow_removal`,
/// stored versions missing from the document's `versions` are unpublished. `src` says who
/// changes it, for webhooks.
pub fn apply(
    ctx: &mut Ctx,
    name: &str,
    doc: &Map<String, Value>,
    rev: Option<&str>,
    allow_removal: bool,
    src: &notify::Source,
) -> Result<Response> {
    let app = ctx.app;
    let _guard = app.lock_package(ctx.db, name)?;
    let pkg = meta::package(ctx.db, name)?.ok_or_else(|| packument::not_found(name))?;
    crate::auth::check_write(ctx, name, None)?;
    if let Some(rev) = rev {
        check_rev(&pkg, rev)?;
    }
    let stored = meta::versions(ctx.db, pkg.id)?;
    let files = meta::files(ctx.db, pkg.id)?;
    let mut removed = Vec::new();
    let mut deprecations = Vec::new();
    if let Some(versions) = doc.get("versions") {
        let versions = versions
            .as_object()
            .ok_or_else(|| bad("versions must be an object"))?;
        if let Some(v) = versions
            .keys()
            .find(|v| !stored.iter().any(|s| s.version == **v))
        {
            return Err(bad(format!(
                "version {v} is not published; new versions need npm publish with their tarball"
            )));
        }
        for s in &stored {
            let Some(m) = versions.get(&s.version) else {
                if allow_removal {
                    removed.push(s.version.clone());
                }
                continue;
            };
            let tgz = files
                .iter()
                .find(|f| f.version == s.version && f.filename.ends_with(".tgz"));
            let ours = packument::version_doc(name, s, tgz, "")?;
            if comparable(m) != comparable(&ours) {
                return Err(bad(format!(
                    "{name}@{} is published and its contents cannot change; only deprecation, tags and maintainers can",
                    s.version
                )));
            }
            let wanted = deprecation(&s.version, m)?;
            if wanted != s.deprecated {
                deprecations.push((s.version.clone(), wanted));
            }
        }
        if !removed.is_empty() && removed.len() == stored.len() {
            return Err(bad(format!("this would remove every version of {name}; unpublish the whole package instead (npm unpublish {name} --force)")));
        }
    }
    let remaining: Vec<String> = stored
        .iter()
        .map(|s| s.version.clone())
        .filter(|v| !removed.contains(v))
        .collect();

    let old_tags: BTreeMap<String, String> = meta::tags(ctx.db, pkg.id)?.into_iter().collect();
    let mut tags = old_tags.clone();
    if let Some(t) = doc.get("dist-tags") {
        let t = t
            .as_object()
            .ok_or_else(|| bad("dist-tags must be an object of tag to version"))?;
        tags.clear();
        for (tag, v) in t {
            validate_tag(tag)?;
            let v = v
                .as_str()
                .ok_or_else(|| bad(format!("dist-tag {tag} must name a version string")))?;
            // A tag on a version this same document removes goes with it.
            if removed.iter().any(|r| r == v) {
                continue;
            }
            if !remaining.iter().any(|r| r == v) {
                return Err(bad(format!(
                    "dist-tag {tag} points at {v}, which is not a published version"
                )));
            }
            tags.insert(tag.clone(), v.to_string());
        }
    }
    tags.retain(|_, v| remaining.contains(v));
    // The server, not the client, picks the new latest when the old one was removed: the
    // highest remaining release (clients pick prereleases too).
    let latest_removed = old_tags.get("latest").is_some_and(|l| removed.contains(l));
    if latest_removed || !tags.contains_key("latest") {
        if let Some(l) = packument::default_latest(&remaining) {
            tags.insert("latest".into(), l);
        }
    }
    let new_maintainers = doc.get("maintainers").map(maintainers).transpose()?;
    if let Some(m) = new_maintainers.as_ref().filter(|m| **m != pkg.maintainers) {
        check_maintainers(ctx, m)?;
    }

    let changed = !removed.is_empty()
        || !deprecations.is_empty()
        || tags != old_tags
        || new_maintainers
            .as_ref()
            .is_some_and(|m| *m != pkg.maintainers);
    if changed {
        let now = crate::time::now_rfc3339();
        let tx = meta::write_tx(ctx.db)?;
        let mut keys = Vec::new();
        for v in &removed {
            keys.extend(meta::delete_version(&tx, &pkg, v, &now)?);
        }
        for (v, msg) in &deprecations {
            meta::set_deprecated(&tx, pkg.id, v, msg.as_deref())?;
        }
        for tag in old_tags.keys().filter(|t| !tags.contains_key(*t)) {
            meta::delete_tag(&tx, pkg.id, tag)?;
        }
        for (tag, v) in &tags {
            meta::set_tag(&tx, pkg.id, tag, v)?;
        }
        if let Some(m) = &new_maintainers {
            meta::set_maintainers(&tx, pkg.id, m)?;
        }
        packument::changed(&tx, pkg.id, name, &app.marker, &now)?;
        let changes = notices(
            &removed,
            &deprecations,
            &old_tags,
            &tags,
            &pkg.maintainers,
            new_maintainers.as_deref(),
        );
        app.queue_notices(&tx, src, &now, &changes)?;
        meta::pend(&tx, &keys)?;
        tx.commit()?;
        app.committed();
        gc::settle(ctx.db, &app.blobs, &keys);
        if !removed.is_empty() {
            crate::info!("unpublished {name}@{}", removed.join(", "));
        }
    }
    Ok(Response::json(
        201,
        &json!({"ok": "package changed", "success": true}),
    ))
}

/// `DELETE /<name>/-rev/<rev>`: unpublishes the whole package. npm sends no tarball DELETEs
/// for this, so the tarballs go here too. The versions stay recorded as deleted.
pub fn delete_package(ctx: &mut Ctx, req: &mut Request, name: &str, rev: &str) -> Result<Response> {
    let app = ctx.app;
    let _guard = app.lock_package(ctx.db, name)?;
    let pkg = meta::package(ctx.db, name)?.ok_or_else(|| packument::not_found(name))?;
    check_rev(&pkg, rev)?;
    let src = ctx.change_source(req, name);
    let now = crate::time::now_rfc3339();
    let tx = meta::write_tx(ctx.db)?;
    let keys = meta::delete_package(&tx, &pkg, &now)?;
    let change = Change::new(NotifyEvent::Unpublish, "package");
    app.queue_notices(&tx, &src, &now, &[change])?;
    meta::pend(&tx, &keys)?;
    tx.commit()?;
    app.committed();
    gc::settle(ctx.db, &app.blobs, &keys);
    crate::info!("unpublished the whole package {name}");
    Ok(Response::json(201, &json!({"ok": "package removed"})))
}

/// The webhook events of a revision write. Tags that move because their version went are part
/// of the unpublish, so a write that removes versions reports no dist-tag events.
fn notices(
    removed: &[String],
    deprecations: &[(String, Option<String>)],
    old_tags: &BTreeMap<String, String>,
    tags: &BTreeMap<String, String>,
    old_owners: &str,
    new_owners: Option<&str>,
) -> Vec<Change> {
    let mut out: Vec<Change> = removed
        .iter()
        .map(|v| Change::new(NotifyEvent::Unpublish, "version").version(v))
        .collect();
    for (v, msg) in deprecations {
        let c = match msg {
            Some(m) => Change {
                message: Some(m.clone()),
                ..Change::new(NotifyEvent::Deprecate, "deprecate")
            },
            None => Change::new(NotifyEvent::Deprecate, "undeprecate"),
        };
        out.push(c.version(v));
    }
    if removed.is_empty() {
        for (t, v) in tags.iter().filter(|(t, v)| old_tags.get(*t) != Some(*v)) {
            out.push(Change::new(NotifyEvent::DistTag, "add").version(v).tag(t));
        }
        for (t, v) in old_tags.iter().filter(|(t, _)| !tags.contains_key(*t)) {
            out.push(Change::new(NotifyEvent::DistTag, "rm").version(v).tag(t));
        }
    }
    if let Some(new) = new_owners {
        let (old, new) = (
            crate::auth::maintainer_names(old_owners),
            crate::auth::maintainer_names(new),
        );
        for (action, who) in new
            .iter()
            .filter(|n| !old.contains(n))
            .map(|n| ("add", n))
            .chain(old.iter().filter(|o| !new.contains(o)).map(|o| ("rm", o)))
        {
            out.push(Change {
                owner: Some(who.clone()),
                ..Change::new(NotifyEvent::Owner, action)
            });
        }
    }
    out
}

/// `DELETE /<name>/-/<file>/-rev/<rev>`: the last step of npm's version unpublish. The revision
/// PUT before it already removed the version and its tarball, so this confirms; a tarball of a
/// version that is still published is not removed on its own.
pub fn delete_tarball(
    ctx: &mut Ctx,
    _req: &mut Request,
    name: &str,
    file: &str,
    rev: &str,
) -> Result<Response> {
    let pkg = meta::package(ctx.db, name)?.ok_or_else(|| packument::not_found(name))?;
    check_rev(&pkg, rev)?;
    if let Some(f) = meta::file(ctx.db, name, file)? {
        return Err(bad(format!(
            "{file} belongs to {name}@{}, which is still published; unpublish the version (npm unpublish {name}@{})",
            f.version, f.version
        )));
    }
    let version = name::version_of_file(name, file);
    if !version.is_some_and(|v| meta::is_deleted(ctx.db, name, v).unwrap_or(false)) {
        return Err(Error::NotFound(format!("{name} has no file {file:?}")));
    }
    Ok(Response::json(201, &json!({"ok": "tarball removed"})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparison_ignores_deprecation_and_tarball_host() {
        let a = json!({"version": "1.0.0", "deprecated": "x", "dist": {"tarball": "http://a/x.tgz", "shasum": "1"}});
        let b = json!({"version": "1.0.0", "dist": {"tarball": "http://b/x.tgz", "shasum": "1"}});
        assert_eq!(comparable(&a), comparable(&b));
        let c = json!({"version": "1.0.0", "dist": {"tarball": "http://b/x.tgz", "shasum": "2"}});
        assert_ne!(comparable(&a), comparable(&c));
    }

    #[test]
    fn notices_name_each_owner_and_tag_change_and_fold_moved_tags_into_an_unpublish() {
        let tags = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(t, v)| (t.to_string(), v.to_string()))
                .collect()
        };
        let old = tags(&[("latest", "2.0.0"), ("beta", "3.0.0-rc.1")]);
        let new = tags(&[("latest", "1.0.0"), ("next", "2.0.0")]);
        let owners = |names: &[&str]| {
            Value::Array(
                names
                    .iter()
                    .map(|n| json!({"name": n, "email": ""}))
                    .collect(),
            )
            .to_string()
        };
        let c = notices(
            &[],
            &[("1.0.0".into(), Some("old".into()))],
            &old,
            &new,
            &owners(&["alice", "bob"]),
            Some(&owners(&["bob", "carol"])),
        );
        let seen: Vec<(&str, &str, Option<&str>, Option<&str>)> = c
            .iter()
            .map(|c| {
                let who = c.owner.as_deref().or(c.message.as_deref());
                (c.event.name(), c.action, c.tag.as_deref(), who)
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("deprecate", "deprecate", None, Some("old")),
                ("dist-tag", "add", Some("latest"), None),
                ("dist-tag", "add", Some("next"), None),
                ("dist-tag", "rm", Some("beta"), None),
                ("owner", "add", None, Some("carol")),
                ("owner", "rm", None, Some("alice")),
            ]
        );
        let unpublished = notices(&["2.0.0".into()], &[], &old, &new, "[]", None);
        assert_eq!(
            unpublished,
            [Change::new(NotifyEvent::Unpublish, "version").version("2.0.0")]
        );
    }
}

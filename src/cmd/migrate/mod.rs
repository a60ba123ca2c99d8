//! Moving another registry here: `nmr import --from-verdaccio` reads a Verdaccio storage
//! directory (see [`verdaccio`], with its users in [`htpasswd`] and its access rules in
//! [`access`]), `nmr import --from-registry` copies packages from any running npm registry
//! (see [`registry`]). This file holds what both share: a package as a source describes it,
//! the checks every tarball passes before it is stored, and the report.
//!
//! Packages become local packages through the same door as a bundle import
//! (`bundle::import::commit`), one transaction per package, so an interrupted run keeps every
//! package it finished and a second run imports only what is new: versions here already with
//! the same bytes are counted, never fetched or read again when the source's digest says so.

pub mod access;
pub mod htpasswd;
pub mod registry;
pub mod scopes;
pub mod verdaccio;

use super::bundle::import::{self, State};
use super::bundle::{tarball_path, FileRecord, PackageRecord, VersionRecord};
use super::error::Result;
use crate::app::App;
use crate::digest::Digests;
use crate::store::db::Connection;
use crate::store::{blob, meta};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};

/// One version as a source describes it, before its tarball is read.
#[derive(Debug)]
pub struct Offered {
    pub version: String,
    /// The version document as the source has it (its `dist` gives the digests to check).
    pub manifest: Map<String, Value>,
    pub readme: Option<String>,
    pub published: String,
    /// Where the source keeps the tarball: a file path or a URL.
    pub tarball: String,
}

/// One package as a source describes it.
#[derive(Debug)]
pub struct Package {
    pub name: String,
    pub created: String,
    pub maintainers: Value,
    /// Stars: `{"user": true}`.
    pub users: Value,
    pub tags: BTreeMap<String, String>,
    pub versions: Vec<Offered>,
}

/// What a run did, and what it left out.
#[derive(Debug, Default)]
pub struct Report {
    /// Packages that changed here.
    pub packages: usize,
    pub versions: usize,
    /// Tarballs stored for those versions, and their bytes.
    pub tarballs: usize,
    pub bytes: u64,
    /// Versions here already with the same bytes.
    pub present: usize,
    /// Packages only cached by the source, taken into the upstream cache (`--include-cached`),
    /// and their tarballs stored.
    pub cached: usize,
    pub cached_tarballs: usize,
    /// Accounts created, and those that were here already (left as they are).
    pub users: usize,
    pub users_present: usize,
    /// Changes made to organisations and teams from `--verdaccio-config` (`None` without it).
    pub access_applied: Option<usize>,
    /// `(what, why)`: left out by design (a package only cached from an uplink).
    pub skipped: Vec<(String, String)>,
    /// `(what, why)`: left out because something is wrong (a tarball that does not match its
    /// digests, a version here with other bytes, a password hash nmr does not take).
    pub problems: Vec<(String, String)>,
}

impl Report {
    /// The closing lines: the counts, then everything left out and why.
    pub fn print(&self, out: &mut dyn Write) {
        let _ = writeln!(
            out,
            "done: {} packages changed, {} versions imported ({} tarballs, {}), {} versions here already, {} users created ({} here already)",
            self.packages,
            self.versions,
            self.tarballs,
            super::mirror::human(self.bytes),
            self.present,
            self.users,
            self.users_present
        );
        if let Some(n) = self.access_applied {
            let _ = writeln!(
                out,
                "access: {n} changes to organisations and teams applied from --verdaccio-config"
            );
        }
        if self.cached > 0 {
            let _ = writeln!(
                out,
                "upstream cache: {} packages cached by the source, {} tarballs stored",
                self.cached, self.cached_tarballs
            );
        }
        for (title, list) in [("skipped", &self.skipped), ("not imported", &self.problems)] {
            if list.is_empty() {
                continue;
            }
            let _ = writeln!(out, "{title} ({}):", list.len());
            for (what, why) in list {
                let _ = writeln!(out, "  {}: {}", printable(what), printable(why));
            }
        }
    }
}

/// Text from the source (package names from its search or folders, its error texts) as it may
/// be printed: without control characters, which a terminal would obey.
fn printable(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).collect()
}

/// A count on one line of a terminal (stderr), redrawn per package; nothing elsewhere, where
/// the per-package lines on stdout are the log.
pub struct Progress {
    on: bool,
}

impl Progress {
    pub fn new() -> Progress {
        Progress {
            on: std::io::stderr().is_terminal(),
        }
    }

    pub fn show(&self, done: usize, total: usize, name: &str) {
        if self.on {
            eprint!("\r\x1b[K[{done}/{total}] {}", printable(name));
        }
    }

    pub fn clear(&self) {
        if self.on {
            eprint!("\r\x1b[K");
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

/// Reads a package document as Verdaccio stores it and registries serve it (a full
/// packument): versions with their publish times, dist-tags, stars, maintainers, and the
/// readme, which Verdaccio keeps at the top only (it goes to the version `latest` names).
/// `tarball` says where each version's tarball is. Versions that cannot be taken as they are
/// go to `problems`.
pub fn describe(
    name: &str,
    doc: &Value,
    tarball: &dyn Fn(&str, &Map<String, Value>) -> String,
    problems: &mut Vec<(String, String)>,
) -> std::result::Result<Package, String> {
    if doc.get("name").and_then(Value::as_str) != Some(name) {
        return Err(format!("its document names {:?}", doc.get("name")));
    }
    let time = doc.get("time").and_then(Value::as_object);
    let time_of = |k: &str| time.and_then(|t| t.get(k)).and_then(Value::as_str);
    let tags: BTreeMap<String, String> = doc
        .get("dist-tags")
        .and_then(Value::as_object)
        .map(|t| {
            t.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default();
    let latest = tags.get("latest").cloned();
    let empty = Map::new();
    let versions = doc
        .get("versions")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let mut offered = Vec::new();
    for (ver, m) in versions {
        let id = format!("{name}@{ver}");
        let Some(m) = m.as_object() else {
            problems.push((id, "its version document is not an object".into()));
            continue;
        };
        if semver::Version::parse(ver).is_err() {
            problems.push((id, "not a valid semver version".into()));
            continue;
        }
        let mut manifest = m.clone();
        for (field, want) in [("name", name), ("version", ver.as_str())] {
            match manifest.get(field) {
                None => {
                    manifest.insert(field.into(), Value::String(want.into()));
                }
                Some(v) if v.as_str() == Some(want) => {}
                Some(v) => {
                    problems.push((id.clone(), format!("its manifest says {field} {v}")));
                }
            }
        }
        if problems.last().is_some_and(|(w, _)| *w == id) {
            continue;
        }
        let readme = match manifest.get("readme") {
            Some(Value::String(r)) if !r.is_empty() => Some(r.clone()),
            _ if latest.as_deref() == Some(ver.as_str()) => doc
                .get("readme")
                .and_then(Value::as_str)
                .filter(|r| !r.is_empty())
                .map(str::to_string),
            _ => None,
        };
        let published = time_of(ver)
            .or_else(|| time_of("modified"))
            .map(str::to_string)
            .unwrap_or_else(crate::time::now_rfc3339);
        offered.push(Offered {
            version: ver.clone(),
            tarball: tarball(ver, &manifest),
            manifest,
            readme,
            published,
        });
    }
    let created = time_of("created")
        .map(str::to_string)
        .or_else(|| offered.iter().map(|o| o.published.clone()).min())
        .unwrap_or_else(crate::time::now_rfc3339);
    fn listed(v: Option<&Value>) -> Option<&Value> {
        v.filter(|m| m.as_array().is_some_and(|a| !a.is_empty()))
    }
    let maintainers = listed(doc.get("maintainers"))
        .or_else(|| listed(versions.get(latest.as_ref()?)?.get("maintainers")))
        .cloned()
        .unwrap_or(Value::Array(vec![]));
    let users = doc
        .get("users")
        .filter(|u| u.as_object().is_some_and(|o| !o.is_empty()))
        .cloned()
        .unwrap_or(Value::Null);
    Ok(Package {
        name: name.to_string(),
        created,
        maintainers,
        users,
        tags,
        versions: offered,
    })
}

/// Checks bytes against the digests a version document gives: `dist.shasum` (SHA-1) and
/// `dist.integrity` (SRI), each one present must match, and one must be.
pub fn verify(manifest: &Map<String, Value>, bytes: &[u8]) -> std::result::Result<Digests, String> {
    let d = Digests::of(bytes);
    let dist = manifest.get("dist").and_then(Value::as_object);
    let field = |k: &str| dist.and_then(|d| d.get(k)).and_then(Value::as_str);
    let (shasum, integrity) = (field("shasum"), field("integrity"));
    if shasum.is_none() && integrity.is_none() {
        return Err(
            "its manifest has neither dist.shasum nor dist.integrity to check the tarball against"
                .into(),
        );
    }
    if let Some(s) = shasum {
        if !s.eq_ignore_ascii_case(&d.sha1_hex) {
            return Err(format!(
                "the tarball does not match dist.shasum (it has {}, the manifest {s})",
                d.sha1_hex
            ));
        }
    }
    if let Some(i) = integrity {
        d.check_integrity(i, bytes)
            .map_err(|e| format!("the tarball does not match dist.integrity: {e}"))?;
    }
    Ok(d)
}

/// Whether the version with this sha512 `integrity` is new here; one that is here already, or
/// here with other bytes, is counted in the report (`id` names it) instead.
fn is_new(
    db: &Connection,
    name: &str,
    version: &str,
    integrity: &str,
    id: &str,
    report: &mut Report,
) -> Result<bool> {
    match import::classify(db, name, version, integrity).map_err(super::Error::Request)? {
        State::New => Ok(true),
        State::Present => {
            report.present += 1;
            Ok(false)
        }
        State::Conflict(why) => {
            report.problems.push((id.to_string(), why));
            Ok(false)
        }
    }
}

/// Imports one package: every version that is new here is fetched with `fetch`, verified and
/// stored, then all of them are committed in one transaction. Problems with single versions
/// go to the report; `Err` is a failure of this registry's own storage, which stops the run.
pub fn import_package(
    app: &App,
    db: &mut Connection,
    pkg: Package,
    fetch: &mut dyn FnMut(&Offered) -> std::result::Result<Vec<u8>, String>,
    report: &mut Report,
    out: &mut dyn Write,
) -> Result<()> {
    let name = pkg.name.clone();
    if let Err(e) = crate::name::validate(&name) {
        report.problems.push((name, e.message().to_string()));
        return Ok(());
    }
    if let Some(e) = import::publish_refusal(app, db, &name) {
        report.problems.push((name, e.message().to_string()));
        return Ok(());
    }
    let filename_of = |v: &str| crate::name::tarball_file(&name, v);
    let mut keys = BTreeMap::new();
    let mut created = Vec::new();
    let mut records = Vec::new();
    let mut bytes_new = 0;
    for o in pkg.versions {
        let id = format!("{name}@{}", o.version);
        // The source's own sha512 tells whether the version is here without reading its bytes.
        let claimed = o
            .manifest
            .get("dist")
            .and_then(|d| d.get("integrity"))
            .and_then(Value::as_str)
            .filter(|i| crate::digest::sri_sha512_hex(i).is_some());
        if let Some(i) = claimed {
            if !is_new(db, &name, &o.version, i, &id, report)? {
                continue;
            }
        }
        let bytes = match fetch(&o) {
            Ok(b) => b,
            Err(why) => {
                report.problems.push((id, why));
                continue;
            }
        };
        let max = app.config.settings.max_body_size;
        if bytes.len() as u64 > max {
            report.problems.push((
                id,
                format!(
                    "its tarball is {} bytes, over settings.max_body_size ({max})",
                    bytes.len()
                ),
            ));
            continue;
        }
        let d = match verify(&o.manifest, &bytes) {
            Ok(d) => d,
            Err(why) => {
                report.problems.push((id, format!("{why}; {}", o.tarball)));
                continue;
            }
        };
        // Checked above already when the manifest claimed this sha512, which verify confirmed.
        if claimed.is_none() && !is_new(db, &name, &o.version, &d.integrity, &id, report)? {
            continue;
        }
        let filename = filename_of(&o.version);
        let key = blob::content_key(&name, &filename, &d);
        let stored = app.blobs.put(&key, &bytes);
        match stored {
            Ok(true) => created.push(key.clone()),
            Ok(false) => {}
            Err(e) => {
                remove(app, &created);
                return Err(e.into());
            }
        }
        bytes_new += bytes.len() as u64;
        keys.insert(tarball_path(&name, &filename), key);
        records.push(VersionRecord {
            version: o.version,
            manifest: o.manifest,
            readme: o.readme,
            deprecated: None,
            published: o.published,
            files: vec![FileRecord {
                filename,
                size: bytes.len() as u64,
                sha1: d.sha1_hex,
                integrity: d.integrity,
            }],
        });
    }
    let record = PackageRecord {
        name: name.clone(),
        created: pkg.created,
        maintainers: pkg.maintainers,
        tags: pkg.tags,
        versions: records,
        users: pkg.users,
    };
    let mut s = import::Summary::default();
    if let Err(e) = import::commit(app, db, &[record], &keys, false, &mut s, out) {
        remove(app, &created);
        return Err(super::Error::Request(e));
    }
    // Blobs of versions that someone published here between the checks and the commit.
    for key in &created {
        if !meta::blob_referenced(db, key).unwrap_or(true) {
            let _ = app.blobs.delete(key);
        }
    }
    report.packages += s.packages;
    report.versions += s.imported;
    report.tarballs += s.imported;
    if s.imported > 0 {
        report.bytes += bytes_new;
    }
    report.present += s.present;
    report.problems.extend(s.conflicts);
    Ok(())
}

/// Removes blobs this run stored for a package whose commit failed.
fn remove(app: &App, keys: &[String]) {
    for key in keys {
        if let Err(e) = app.blobs.delete(key) {
            crate::error!("could not remove {key} after a failed import: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tarballs_are_checked_against_both_digests() {
        let bytes = b"tarball bytes";
        let d = Digests::of(bytes);
        let m = |dist: Value| json!({ "dist": dist }).as_object().unwrap().clone();
        assert!(verify(
            &m(json!({"shasum": d.sha1_hex, "integrity": d.integrity})),
            bytes
        )
        .is_ok());
        assert!(verify(&m(json!({"shasum": d.sha1_hex})), bytes).is_ok());
        let e = verify(
            &m(json!({"shasum": d.sha1_hex, "integrity": Digests::of(b"x").integrity})),
            bytes,
        )
        .unwrap_err();
        assert!(e.contains("dist.integrity"), "{e}");
        let e = verify(&m(json!({"shasum": "00", "integrity": d.integrity})), bytes).unwrap_err();
        assert!(e.contains("dist.shasum"), "{e}");
        assert!(verify(&m(json!({})), bytes).is_err());
    }

    #[test]
    fn a_verdaccio_document_keeps_times_tags_stars_and_the_top_readme() {
        let doc = json!({
            "name": "@acme/w",
            "versions": {
                "1.0.0": {"name": "@acme/w", "version": "1.0.0", "deprecated": "old",
                          "dist": {"shasum": "aa"}},
                "1.1.0": {"name": "@acme/w", "version": "1.1.0", "dist": {"shasum": "bb"}},
                "2.0.0": {"name": "@acme/other", "version": "2.0.0", "dist": {"shasum": "cc"}},
                "nope": {"dist": {}}
            },
            "time": {"created": "2026-01-01T00:00:00.000Z", "1.0.0": "2026-01-01T00:00:00.000Z",
                     "1.1.0": "2026-01-02T00:00:00.000Z", "modified": "2026-01-03T00:00:00.000Z"},
            "dist-tags": {"latest": "1.1.0", "old": "1.0.0"},
            "users": {"bob": true},
            "readme": "# w"
        });
        let mut problems = Vec::new();
        let p = describe(
            "@acme/w",
            &doc,
            &|v, _| format!("/s/w-{v}.tgz"),
            &mut problems,
        )
        .unwrap();
        let versions: Vec<_> = p.versions.iter().map(|o| o.version.as_str()).collect();
        assert_eq!(versions, ["1.0.0", "1.1.0"]);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert_eq!(p.created, "2026-01-01T00:00:00.000Z");
        assert_eq!(p.versions[1].published, "2026-01-02T00:00:00.000Z");
        assert_eq!(p.versions[1].readme.as_deref(), Some("# w"));
        assert_eq!(p.versions[0].readme, None);
        assert_eq!(p.versions[0].tarball, "/s/w-1.0.0.tgz");
        assert_eq!(p.users, json!({"bob": true}));
        assert_eq!(p.tags["old"], "1.0.0");
        assert!(describe("@acme/x", &doc, &|_, _| String::new(), &mut problems).is_err());
    }
}

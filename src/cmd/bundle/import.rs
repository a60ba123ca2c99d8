//! `nmr import`: reads a bundle (see [`super`]) into this registry as local packages, which is
//! what a registry without an upstream can serve.
//!
//! The whole bundle is verified before anything is written: header and format version, every
//! entry's size and sha512 against the manifest, every package record against the entries.
//! Then it is read a second time: the tarballs of versions new here go to the blob store
//! (checked again, since the file could have changed in between), and one SQLite transaction
//! adds every version, sets the bundle's dist-tags and rebuilds the packuments, bumping each
//! package's revision so a running server serves the new documents at once. A version that is
//! here already with the same bytes is skipped, so importing twice changes nothing; one here
//! with other bytes, or unpublished here, is a conflict: reported and left as it is.
//!
//! Memory holds the package records (metadata) and one tarball at a time, never the bundle.

use super::{
    package_path, tarball_path, Hashing, Header, Listed, Manifest, PackageRecord, FORMAT,
    FORMAT_VERSION, HEADER_PATH, MANIFEST_PATH,
};
use crate::app::{App, Ctx};
use crate::cmd::error::{Error, Result};
use crate::config::UplinkMode;
use crate::digest::{sri_sha512_hex, Digests};
use crate::packument;
use crate::store::db::Connection;
use crate::store::{blob, meta};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, BufReader, Read, Write};
use std::path::Path;

/// Largest metadata entry (header, manifest, package record) read into memory.
const MAX_JSON: u64 = 256 << 20;

/// What an import did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Packages that changed.
    pub packages: usize,
    /// Versions added.
    pub imported: usize,
    /// Versions that were here already with the same bytes.
    pub present: usize,
    /// `(name@version, why)`: left as they are.
    pub conflicts: Vec<(String, String)>,
    /// With `--repository-from-manifest`: packages given their manifest's GitHub repository.
    pub assigned: usize,
    /// `(name, why)`: packages that `--repository-from-manifest` left without a repository.
    pub unassigned: Vec<(String, String)>,
}

/// A bundle that passed every check, with what pass two needs.
struct Verified {
    records: Vec<PackageRecord>,
    listed: BTreeMap<String, Listed>,
}

fn open(path: &Path) -> Result<tar::Archive<BufReader<std::fs::File>>> {
    let f = std::fs::File::open(path)
        .map_err(|e| Error::io(format!("cannot read bundle {}", path.display()), e))?;
    Ok(tar::Archive::new(BufReader::new(f)))
}

/// Reads an entry whole (metadata only), checking it is complete and not too large.
fn read_json_entry(entry: &mut impl Read, size: u64, path: &str) -> Result<(Vec<u8>, Listed)> {
    if size > MAX_JSON {
        return Err(Error::Failed(format!(
            "{path} is {size} bytes, too large for metadata"
        )));
    }
    let mut h = Hashing::new(entry);
    let mut bytes = Vec::with_capacity(size as usize);
    h.read_to_end(&mut bytes)
        .map_err(|e| Error::io(format!("cannot read {path}"), e))?;
    let listed = finish(h, size, path)?;
    Ok((bytes, listed))
}

fn finish<R: Read>(h: Hashing<R>, size: u64, path: &str) -> Result<Listed> {
    let (len, d) = h.finish();
    if len != size {
        return Err(Error::Failed(format!(
            "{path} is cut short ({len} of {size} bytes): the bundle is truncated"
        )));
    }
    Ok(Listed {
        path: path.to_string(),
        size,
        sha512: d.sha512_hex(),
    })
}

fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8], path: &str) -> Result<T> {
    serde_json::from_slice(bytes)
        .map_err(|e| Error::Failed(format!("{path} is not what nmr writes there: {e}")))
}

/// Pass one: reads the whole bundle and checks everything that can be checked without the
/// database. `max_file` caps a tarball (one is held in memory in pass two).
fn verify(file: &Path, max_file: u64) -> Result<Verified> {
    let shown = file.display();
    let mut archive = open(file)?;
    let entries = archive
        .entries()
        .map_err(|e| Error::io(format!("{shown} is not a readable tar file"), e))?;
    let mut seen: BTreeMap<String, Listed> = BTreeMap::new();
    let mut records = Vec::new();
    let mut header: Option<Header> = None;
    let mut manifest: Option<Manifest> = None;
    let mut last = "its start".to_string();
    for entry in entries {
        let damaged = |e: io::Error| {
            Error::Failed(format!(
                "{shown} is damaged or truncated after {last}: {e}; nothing was imported"
            ))
        };
        let mut entry = entry.map_err(damaged)?;
        let path = entry
            .path()
            .map_err(damaged)?
            .to_str()
            .ok_or_else(|| {
                Error::Failed(format!("{shown} holds an entry whose name is not UTF-8"))
            })?
            .to_string();
        if manifest.is_some() {
            return Err(Error::Failed(format!(
                "{shown} holds {path} after its manifest, where nothing may follow"
            )));
        }
        if entry.header().entry_type() != tar::EntryType::Regular {
            return Err(Error::Failed(format!(
                "{shown}: {path} is not a plain file"
            )));
        }
        let size = entry.size();
        if header.is_none() {
            if path != HEADER_PATH {
                return Err(Error::Failed(format!(
                    "{shown} is not an nmr bundle: it does not start with {HEADER_PATH}"
                )));
            }
            let (bytes, listed) = read_json_entry(&mut entry, size, &path)?;
            let h: Header = parse(&bytes, &path)?;
            if h.format != FORMAT {
                return Err(Error::Failed(format!(
                    "{shown} is not an nmr bundle (format {:?})",
                    h.format
                )));
            }
            if h.version > FORMAT_VERSION {
                return Err(Error::Failed(format!(
                    "{shown} is bundle format version {}, newer than this nmr understands ({FORMAT_VERSION}); upgrade nmr here to the version that wrote it, then import again; nothing was imported",
                    h.version
                )));
            }
            header = Some(h);
            seen.insert(path.clone(), listed);
        } else if path == MANIFEST_PATH {
            let (bytes, _) = read_json_entry(&mut entry, size, &path)?;
            manifest = Some(parse(&bytes, &path)?);
        } else if path.starts_with("packages/") && path.ends_with(".json") {
            let (bytes, listed) = read_json_entry(&mut entry, size, &path)?;
            // Parsed later, once the manifest has vouched for the bytes.
            records.push((path.clone(), bytes));
            if seen.insert(path.clone(), listed).is_some() {
                return Err(Error::Failed(format!("{shown} holds {path} twice")));
            }
        } else if path.starts_with("tarballs/") {
            if size > max_file {
                return Err(Error::Failed(format!(
                    "{path} in {shown} is {size} bytes, over settings.max_body_size ({max_file})"
                )));
            }
            let mut h = Hashing::new(&mut entry);
            io::copy(&mut h, &mut io::sink()).map_err(damaged)?;
            if seen.insert(path.clone(), finish(h, size, &path)?).is_some() {
                return Err(Error::Failed(format!("{shown} holds {path} twice")));
            }
        } else {
            return Err(Error::Failed(format!(
                "{shown} holds {path}, which no nmr bundle has"
            )));
        }
        last = path;
    }
    let manifest = manifest.ok_or_else(|| {
        Error::Failed(format!("{shown} is truncated: it ends after {last} without {MANIFEST_PATH}, which closes every bundle; nothing was imported"))
    })?;
    let mut listed = BTreeMap::new();
    for l in manifest.files {
        let p = l.path.clone();
        if listed.insert(p.clone(), l).is_some() {
            return Err(Error::Failed(format!(
                "{shown}: the manifest lists {p} twice"
            )));
        }
    }
    for (p, l) in &listed {
        match seen.get(p) {
            None => {
                return Err(Error::Failed(format!(
                    "{shown} lacks {p}, which its manifest lists; nothing was imported"
                )))
            }
            Some(s) if s != l => {
                return Err(Error::Failed(format!(
                    "{p} in {shown} is corrupt: its size or sha512 does not match the bundle's manifest; nothing was imported"
                )))
            }
            _ => {}
        }
    }
    if let Some(p) = seen.keys().find(|p| !listed.contains_key(*p)) {
        return Err(Error::Failed(format!(
            "{shown} holds {p}, which its manifest does not list"
        )));
    }
    let mut names = BTreeSet::new();
    let records = records
        .into_iter()
        .map(|(path, bytes)| {
            let r: PackageRecord = parse(&bytes, &path)?;
            check_record(&r, &path, &listed)?;
            if !names.insert(r.name.clone()) {
                return Err(Error::Failed(format!(
                    "{shown} holds package {} twice",
                    r.name
                )));
            }
            Ok(r)
        })
        .collect::<Result<Vec<_>>>()
        .map_err(|e| match e {
            // The refusals say what is wrong; the operator also needs to know nothing changed.
            Error::Failed(m) => Error::Failed(format!("{m}; nothing was imported")),
            other => other,
        })?;
    Ok(Verified { records, listed })
}

/// Checks one package record: names and versions as nmr accepts them, canonical file names,
/// and every file present in the bundle with the digests the record gives.
fn check_record(r: &PackageRecord, path: &str, listed: &BTreeMap<String, Listed>) -> Result<()> {
    let name = &r.name;
    if path != package_path(name) {
        return Err(Error::Failed(format!("{path} describes {name}")));
    }
    crate::name::validate(name).map_err(|e| Error::Failed(format!("{path}: {}", e.message())))?;
    let mut versions = BTreeSet::new();
    for v in &r.versions {
        let ver = &v.version;
        if semver::Version::parse(ver).is_err() || !versions.insert(ver) {
            return Err(Error::Failed(format!(
                "{path}: version {ver:?} is not valid semver or is listed twice"
            )));
        }
        for (field, want) in [("name", name), ("version", ver)] {
            if v.manifest
                .get(field)
                .is_some_and(|x| x.as_str() != Some(want))
            {
                return Err(Error::Failed(format!(
                    "{path}: the manifest of {ver} has another {field}"
                )));
            }
        }
        let tgz = crate::name::tarball_file(name, ver);
        let sig = format!("{}-{ver}.sigstore", crate::name::basename(name));
        if !v.files.iter().any(|f| f.filename == tgz) {
            return Err(Error::Failed(format!(
                "{path}: version {ver} has no tarball {tgz}"
            )));
        }
        for f in &v.files {
            if f.filename != tgz && f.filename != sig {
                return Err(Error::Failed(format!(
                    "{path}: version {ver} has a file {:?}",
                    f.filename
                )));
            }
            let entry = tarball_path(name, &f.filename);
            let l = listed.get(&entry).ok_or_else(|| {
                Error::Failed(format!("{path} names {entry}, which the bundle lacks"))
            })?;
            if sri_sha512_hex(&f.integrity).as_deref() != Some(l.sha512.as_str())
                || l.size != f.size
            {
                return Err(Error::Failed(format!(
                    "{path}: the digests it gives for {entry} do not match the bytes"
                )));
            }
        }
    }
    Ok(())
}

/// Where a bundled version stands against this registry.
#[derive(Debug, PartialEq)]
pub(in crate::cmd) enum State {
    New,
    Present,
    Conflict(String),
}

/// Where `name@version`, whose tarball has `tgz_integrity`, stands against this registry.
pub(in crate::cmd) fn classify(
    db: &Connection,
    name: &str,
    version: &str,
    tgz_integrity: &str,
) -> crate::error::Result<State> {
    let id = format!("{name}@{version}");
    let file = crate::name::tarball_file(name, version);
    if let Some(p) = meta::package(db, name)? {
        if meta::version(db, p.id, version)?.is_some() {
            return Ok(match meta::file(db, name, &file)? {
                Some(f) if f.integrity == tgz_integrity => State::Present,
                Some(f) => State::Conflict(format!(
                    "{id} is here already with other contents ({}; the bundle has {tgz_integrity}); it was left as it is",
                    f.integrity
                )),
                None => State::Conflict(format!("{id} is here already without a tarball")),
            });
        }
    }
    if let Some(other) = meta::case_twin(db, name)? {
        return Ok(State::Conflict(format!(
            "{id}: {other} is here already, and names that differ only in case would confuse installs; it was left out"
        )));
    }
    if meta::is_deleted(db, name, version)? {
        return Ok(State::Conflict(format!(
            "{id} was unpublished here, and a version is never reused"
        )));
    }
    Ok(State::New)
}

fn tgz_of<'a>(r: &PackageRecord, v: &'a super::VersionRecord) -> &'a super::FileRecord {
    let tgz = crate::name::tarball_file(&r.name, &v.version);
    v.files
        .iter()
        .find(|f| f.filename == tgz)
        .expect("checked by check_record")
}

/// Pass two, part one: stores the tarballs of new versions, checking each again. Returns the
/// blob key per bundle path, and the keys this call created (to remove on failure).
fn store_blobs(
    app: &App,
    file: &Path,
    needed: &BTreeMap<String, (String, String)>,
    listed: &BTreeMap<String, Listed>,
    created: &mut Vec<String>,
) -> Result<BTreeMap<String, String>> {
    let mut keys = BTreeMap::new();
    if needed.is_empty() {
        return Ok(keys);
    }
    let mut archive = open(file)?;
    let changed = |p: &str| {
        Error::Failed(format!(
            "{p} in {} changed after it was verified; nothing was imported",
            file.display()
        ))
    };
    let whose = || file.display().to_string();
    for entry in archive.entries().map_err(|e| Error::io(whose(), e))? {
        let mut entry = entry.map_err(|e| Error::io(whose(), e))?;
        let path = entry
            .path()
            .map_err(|e| Error::io(whose(), e))?
            .to_string_lossy()
            .into_owned();
        let Some((name, filename)) = needed.get(&path) else {
            continue;
        };
        let size = listed[&path].size;
        let mut bytes = Vec::with_capacity(size as usize);
        entry
            .by_ref()
            .take(size + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io(format!("cannot read {path}"), e))?;
        let d = Digests::of(&bytes);
        if d.sha512_hex() != listed[&path].sha512 {
            return Err(changed(&path));
        }
        let key = blob::content_key(name, filename, &d);
        if app.blobs.put(&key, &bytes)? {
            created.push(key.clone());
        }
        keys.insert(path, key);
    }
    match needed.keys().find(|p| !keys.contains_key(*p)) {
        Some(p) => Err(changed(p)),
        None => Ok(keys),
    }
}

/// Pass two, part two: one transaction for every package. Each version is classified again
/// inside it, since the running server may have published meanwhile. `keys` holds the blob key
/// of each stored file by its [`tarball_path`]; versions without one are left out. The other
/// imports (`nmr import --from-verdaccio`, `--from-registry`) store through here too.
pub(in crate::cmd) fn commit(
    app: &App,
    db: &mut Connection,
    records: &[PackageRecord],
    keys: &BTreeMap<String, String>,
    repository_from_manifest: bool,
    s: &mut Summary,
    out: &mut dyn Write,
) -> crate::error::Result<()> {
    let now = crate::time::now_rfc3339();
    let tx = meta::write_tx(db)?;
    for r in records {
        let name = &r.name;
        let mut added = Vec::new();
        let mut pkg = meta::package(&tx, name)?.map(|p| p.id);
        for v in &r.versions {
            let tgz = tgz_of(r, v);
            match classify(&tx, name, &v.version, &tgz.integrity)? {
                State::Present => {
                    s.present += 1;
                    continue;
                }
                State::Conflict(why) => {
                    s.conflicts.push((format!("{name}@{}", v.version), why));
                    continue;
                }
                State::New if !keys.contains_key(&tarball_path(name, &tgz.filename)) => {
                    // Classified as present or in conflict before the blobs were stored.
                    continue;
                }
                State::New => {}
            }
            let id = match pkg {
                Some(id) => id,
                None => {
                    let id = meta::insert_package(&tx, name, &r.created)?;
                    if r.maintainers.is_array() {
                        meta::set_maintainers(&tx, id, &r.maintainers.to_string())?;
                    }
                    if r.users.is_object() {
                        meta::set_users(&tx, id, &r.users.to_string())?;
                    }
                    pkg = Some(id);
                    id
                }
            };
            let digests = Digests {
                sha1_hex: tgz.sha1.clone(),
                integrity: tgz.integrity.clone(),
            };
            let (manifest, readme, deprecated) =
                crate::api::publish::stored_manifest(v.manifest.clone(), &digests);
            meta::put_version(
                &tx,
                id,
                &meta::Version {
                    version: v.version.clone(),
                    manifest,
                    readme: v.readme.clone().or(readme),
                    deprecated: v.deprecated.clone().or(deprecated),
                    published: v.published.clone(),
                },
            )?;
            for f in &v.files {
                let file = meta::File {
                    filename: f.filename.clone(),
                    version: v.version.clone(),
                    blob_key: keys[&tarball_path(name, &f.filename)].clone(),
                    size: f.size as i64,
                    sha1: f.sha1.clone(),
                    integrity: f.integrity.clone(),
                };
                meta::put_file(&tx, id, &file)?;
            }
            added.push(v.version.as_str());
        }
        let Some(id) = pkg else { continue };
        if repository_from_manifest && meta::repository(&tx, name)?.flatten().is_none() {
            match manifest_repository(app, r) {
                Ok(repo) => {
                    meta::set_repository(&tx, id, &repo)?;
                    s.assigned += 1;
                    let _ = writeln!(out, "{name}: repository {repo}");
                }
                Err(why) => s.unassigned.push((name.clone(), why)),
            }
        }
        // The bundle's tags follow its source, for the versions that are here.
        let current: BTreeMap<String, String> = meta::tags(&tx, id)?.into_iter().collect();
        let mut retagged = false;
        for (tag, version) in &r.tags {
            if current.get(tag) != Some(version)
                && crate::api::document::validate_tag(tag).is_ok()
                && meta::version(&tx, id, version)?.is_some()
            {
                meta::set_tag(&tx, id, tag, version)?;
                retagged = true;
            }
        }
        if added.is_empty() && !retagged {
            continue;
        }
        packument::ensure_latest(&tx, id)?;
        packument::changed(&tx, id, name, &app.marker, &now)?;
        s.packages += 1;
        s.imported += added.len();
        let _ = if added.is_empty() {
            writeln!(out, "{name}: dist-tags updated")
        } else {
            writeln!(out, "{name}: imported {}", added.join(", "))
        };
    }
    tx.commit()?;
    Ok(())
}

/// The GitHub repository (`owner/repo`) that a package's own manifest names, from the version
/// its `latest` tag points at (else its last version), if it passes the scope rule that
/// publishing in github mode applies.
fn manifest_repository(app: &App, r: &PackageRecord) -> std::result::Result<String, String> {
    let latest = r.tags.get("latest");
    let v = r
        .versions
        .iter()
        .find(|v| Some(&v.version) == latest)
        .or(r.versions.last())
        .ok_or("the bundle has no version of it")?;
    let field = v
        .manifest
        .get("repository")
        .ok_or_else(|| format!("{}@{} names no repository", r.name, v.version))?;
    let auth = &app.config.auth;
    let repo = crate::auth::github::parse_repository(field, &auth.github_host)?;
    crate::auth::github::scope_rule(&r.name, &repo, auth.github_allow_unscoped)?;
    Ok(repo.full())
}

/// Why a new package may not be created here as a local one (the upstream owns its name or
/// scope), as publishing would refuse it; `None` when it may, or is here already.
pub(in crate::cmd) fn publish_refusal(
    app: &App,
    db: &mut Connection,
    name: &str,
) -> Option<crate::error::Error> {
    match (meta::package(db, name), app.config.uplink.mode) {
        (Ok(None), mode) if mode != UplinkMode::Off => {
            let ctx = Ctx {
                app,
                db: &mut *db,
                who: crate::auth::Identity::Anyone,
                slot: None,
            };
            crate::uplink::check_publish(&ctx, name).err()
        }
        _ => None,
    }
}

/// Imports a bundle. `Err` means nothing was imported; conflicts are in the summary. With
/// `repository_from_manifest`, each package without a GitHub repository takes the one its
/// manifest names (see [`manifest_repository`]).
pub fn run(
    app: &App,
    db: &mut Connection,
    file: &Path,
    repository_from_manifest: bool,
    out: &mut dyn Write,
) -> Result<Summary> {
    let v = verify(file, app.config.settings.max_body_size)?;
    let _ = writeln!(
        out,
        "verified {}: {} packages, {} entries",
        file.display(),
        v.records.len(),
        v.listed.len()
    );
    // Which tarballs to store: those of versions new here, as things stand now.
    let mut needed = BTreeMap::new();
    let mut s = Summary::default();
    for r in &v.records {
        let refusal = publish_refusal(app, db, &r.name);
        for ver in &r.versions {
            let tgz = tgz_of(r, ver);
            let state = match &refusal {
                Some(e) => State::Conflict(e.message().to_string()),
                None => {
                    classify(db, &r.name, &ver.version, &tgz.integrity).map_err(Error::Request)?
                }
            };
            match state {
                State::New => {
                    for f in &ver.files {
                        needed.insert(
                            tarball_path(&r.name, &f.filename),
                            (r.name.clone(), f.filename.clone()),
                        );
                    }
                }
                State::Conflict(why) if refusal.is_some() => {
                    s.conflicts
                        .push((format!("{}@{}", r.name, ver.version), why));
                }
                _ => {}
            }
        }
    }
    let mut created = Vec::new();
    let done = store_blobs(app, file, &needed, &v.listed, &mut created).and_then(|keys| {
        commit(
            app,
            db,
            &v.records,
            &keys,
            repository_from_manifest,
            &mut s,
            out,
        )
        .map_err(Error::Request)
    });
    if let Err(e) = done {
        for key in created {
            if let Err(de) = app.blobs.delete(&key) {
                crate::error!("could not remove {key} after a failed import: {de}");
            }
        }
        return Err(Error::Context {
            what: format!("import of {} failed, nothing was imported", file.display()),
            source: Box::new(e),
        });
    }
    // Blobs stored for versions that turned out to be taken by the time of the commit.
    for key in created {
        if !meta::blob_referenced(db, &key).unwrap_or(true) {
            let _ = app.blobs.delete(&key);
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integrity_to_manifest_hex() {
        let d = Digests::of(b"abc");
        assert_eq!(sri_sha512_hex(&d.integrity), Some(d.sha512_hex()));
        assert_eq!(sri_sha512_hex("sha1-qZk+NkcGgWq6PiVxeFDCbJzQ2J0="), None);
        assert_eq!(sri_sha512_hex("sha512-AAAA"), None);
    }
}

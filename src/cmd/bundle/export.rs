//! `nmr export`: writes the packages this registry holds, published here or cached from the
//! upstream, into one bundle (see [`super`]). Tarballs are streamed from the blob store into
//! the tar and checked against their recorded digests on the way, so a damaged blob stops the
//! export instead of travelling. The bundle is written beside its destination and renamed into
//! place only when complete: a failed export leaves no half bundle behind.

use super::{
    package_path, sha512_matches, tarball_path, FileRecord, Hashing, Header, Listed, Manifest,
    PackageRecord, VersionRecord, FORMAT, FORMAT_VERSION, HEADER_PATH, MANIFEST_PATH,
};
use crate::cmd::error::{Error, Result};
use crate::digest::Digests;
use crate::packument::{sort_versions, Origin};
use crate::store::db::Connection;
use crate::store::{blob::BlobStore, meta};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fs;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// What to export.
#[derive(Debug, Default)]
pub struct Options {
    pub out: PathBuf,
    /// Only versions published or cached at or after this time (canonical RFC 3339).
    pub since: Option<String>,
    /// Only these packages; empty = all.
    pub packages: Vec<String>,
}

/// What an export wrote.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub packages: usize,
    pub versions: usize,
    pub files: usize,
    pub bytes: u64,
    /// The header's `created`: the `--since` for the next export.
    pub created: String,
}

/// A version to export and the file rows behind it, before the bytes are read.
struct Pending {
    version: String,
    manifest: Map<String, Value>,
    readme: Option<String>,
    deprecated: Option<String>,
    published: String,
    files: Vec<meta::File>,
}

fn object(text: &str, what: &str) -> Result<Map<String, Value>> {
    match serde_json::from_str(text) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(Error::Failed(format!(
            "the stored {what} is not a JSON object"
        ))),
    }
}

/// A package published here: its rows as they are.
fn local(
    db: &Connection,
    pkg: &meta::Package,
    since: Option<&str>,
) -> Result<(PackageRecord, Vec<Pending>)> {
    let files = meta::files(db, pkg.id)?;
    let mut pending = Vec::new();
    for v in meta::versions(db, pkg.id)? {
        if since.is_some_and(|s| v.published.as_str() < s) {
            continue;
        }
        pending.push(Pending {
            manifest: object(
                &v.manifest,
                &format!("manifest of {}@{}", pkg.name, v.version),
            )?,
            files: files
                .iter()
                .filter(|f| f.version == v.version)
                .cloned()
                .collect(),
            version: v.version,
            readme: v.readme,
            deprecated: v.deprecated,
            published: v.published,
        });
    }
    let record = PackageRecord {
        name: pkg.name.clone(),
        created: pkg.created.clone(),
        maintainers: serde_json::from_str(&pkg.maintainers).unwrap_or(Value::Array(vec![])),
        tags: meta::tags(db, pkg.id)?.into_iter().collect(),
        versions: Vec::new(),
        // Stars travel only when there are some, so unstarred packages' records stay as before.
        users: serde_json::from_str::<Value>(&pkg.users)
            .ok()
            .filter(|u| u.as_object().is_some_and(|o| !o.is_empty()))
            .unwrap_or(Value::Null),
    };
    Ok((record, pending))
}

/// A package cached from the upstream: the versions whose tarballs are stored, taken from the
/// cached packument.
fn upstream(
    db: &Connection,
    name: &str,
    since: Option<&str>,
) -> Result<(PackageRecord, Vec<Pending>)> {
    let (_, template) = meta::template(db, Origin::Uplink, name, false)?
        .ok_or_else(|| Error::Failed(format!("the cached packument of {name} is missing")))?;
    let doc: Value = serde_json::from_slice(&template)
        .map_err(|e| Error::Failed(format!("the cached packument of {name} is not JSON: {e}")))?;
    let time = |k: &str| doc["time"][k].as_str().map(str::to_string);
    let tags: BTreeMap<String, String> = doc["dist-tags"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(t, v)| Some((t.clone(), v.as_str()?.to_string())))
        .collect();
    let mut pending = Vec::new();
    for (f, stored_at) in meta::uplink_stored_files(db, name)? {
        // Tarballs cached before stored_at was recorded are always included.
        if since.is_some_and(|s| stored_at.as_deref().is_some_and(|t| t < s)) {
            continue;
        }
        let Some(Value::Object(mut m)) = doc["versions"].get(&f.version).cloned() else {
            continue; // no longer in the packument: nmr does not serve it either
        };
        // The tarball URL holds this database's template marker; the importer makes its own.
        if let Some(Value::Object(dist)) = m.get_mut("dist") {
            dist.remove("tarball");
        }
        // The upstream keeps one readme for the package; it belongs with `latest`.
        let readme = (tags.get("latest") == Some(&f.version))
            .then(|| doc["readme"].as_str().map(str::to_string))
            .flatten();
        pending.push(Pending {
            version: f.version.clone(),
            manifest: m,
            readme,
            deprecated: None,
            published: time(&f.version)
                .or(stored_at)
                .unwrap_or_else(crate::time::now_rfc3339),
            files: vec![f],
        });
    }
    let record = PackageRecord {
        name: name.to_string(),
        created: time("created").unwrap_or_else(crate::time::now_rfc3339),
        maintainers: doc
            .get("maintainers")
            .cloned()
            .unwrap_or(Value::Array(vec![])),
        tags,
        versions: Vec::new(),
        users: Value::Null,
    };
    Ok((record, pending))
}

/// Writes entries and remembers each one's size and sha512 for the manifest.
struct Writer<W: Write> {
    tar: tar::Builder<W>,
    listed: Vec<Listed>,
}

impl<W: Write> Writer<W> {
    fn header(size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_size(size);
        h.set_mode(0o644);
        h.set_mtime(crate::time::now_millis().max(0) as u64 / 1000);
        h.set_entry_type(tar::EntryType::Regular);
        h
    }

    /// Appends `size` bytes from `data`; returns their length and digests as written.
    fn append(&mut self, path: &str, size: u64, data: impl Read) -> Result<(u64, Digests)> {
        let mut hashing = Hashing::new(data.take(size));
        self.tar
            .append_data(&mut Self::header(size), path, &mut hashing)
            .map_err(|e| Error::io(format!("cannot write {path} into the bundle"), e))?;
        let (len, d) = hashing.finish();
        if len != size {
            return Err(Error::Failed(format!(
                "{path}: the stored object has {len} bytes, {size} were expected"
            )));
        }
        self.listed.push(Listed {
            path: path.to_string(),
            size,
            sha512: d.sha512_hex(),
        });
        Ok((len, d))
    }

    fn append_json(&mut self, path: &str, value: &impl serde::Serialize) -> Result<()> {
        let bytes = serde_json::to_vec(value).map_err(|e| Error::Failed(e.to_string()))?;
        self.append(path, bytes.len() as u64, &bytes[..])
            .map(|_| ())
    }
}

/// Streams one stored file into the bundle, checking it against what the metadata recorded.
fn copy_file<W: Write>(
    w: &mut Writer<W>,
    blobs: &BlobStore,
    name: &str,
    f: &meta::File,
) -> Result<FileRecord> {
    let path = tarball_path(name, &f.filename);
    let (reader, len) = blobs.get(&f.blob_key)?.ok_or_else(|| {
        Error::Failed(format!(
            "{name}/{} ({}) is missing from {}",
            f.filename,
            f.blob_key,
            blobs.name()
        ))
    })?;
    let (size, d) = w.append(&path, len, reader)?;
    // Local rows record the sha512 of the bytes; upstream rows the packument's claim, which
    // may be sha1 only, and the sha1 of the bytes as downloaded.
    let claim_ok = !f.integrity.contains("sha512-") || sha512_matches(&f.integrity, &d);
    if !f.sha1.eq_ignore_ascii_case(&d.sha1_hex) || !claim_ok {
        return Err(Error::Failed(format!(
            "{name}/{} ({} in {}) does not match its recorded digests: the stored copy is damaged; nothing was exported",
            f.filename,
            f.blob_key,
            blobs.name()
        )));
    }
    Ok(FileRecord {
        filename: f.filename.clone(),
        size,
        sha1: d.sha1_hex,
        integrity: d.integrity,
    })
}

/// Which packages to export: local ones, then upstream ones not shadowed by a local name. A
/// `--package` this registry does not hold is a usage error.
fn choose(db: &Connection, only: &[String]) -> Result<Vec<(String, bool)>> {
    let local = meta::package_names(db)?;
    let mut all: BTreeMap<String, bool> = local.into_iter().map(|n| (n, true)).collect();
    for n in meta::uplink_names_with_files(db)? {
        all.entry(n).or_insert(false);
    }
    if only.is_empty() {
        return Ok(all.into_iter().collect());
    }
    only.iter()
        .map(|n| {
            all.get(n).map(|l| (n.clone(), *l)).ok_or_else(|| {
                Error::Usage(format!("--package {n}: this registry holds no package {n} (published here, or cached with a tarball)"))
            })
        })
        .collect()
}

/// Checks that every `--package` name is held here.
pub fn check_packages(db: &Connection, only: &[String]) -> Result<()> {
    choose(db, only).map(|_| ())
}

fn write_bundle(
    db: &Connection,
    blobs: &BlobStore,
    opts: &Options,
    file: fs::File,
    out: &mut dyn Write,
) -> Result<Summary> {
    let mut s = Summary {
        created: crate::time::now_rfc3339(),
        ..Summary::default()
    };
    let mut w = Writer {
        tar: tar::Builder::new(BufWriter::new(file)),
        listed: Vec::new(),
    };
    w.append_json(
        HEADER_PATH,
        &Header {
            format: FORMAT.into(),
            version: FORMAT_VERSION,
            created: s.created.clone(),
            since: opts.since.clone(),
        },
    )?;
    let since = opts.since.as_deref();
    for (name, is_local) in choose(db, &opts.packages)? {
        let (mut record, mut pending) = if is_local {
            let pkg = meta::package(db, &name)?
                .ok_or_else(|| Error::Failed(format!("{name} was removed during the export")))?;
            local(db, &pkg, since)?
        } else {
            upstream(db, &name, since)?
        };
        if pending.is_empty() {
            continue;
        }
        let mut order: Vec<String> = pending.iter().map(|p| p.version.clone()).collect();
        sort_versions(&mut order);
        pending.sort_by_key(|p| order.iter().position(|v| *v == p.version));
        for p in pending {
            let mut files = Vec::new();
            for f in &p.files {
                let r = copy_file(&mut w, blobs, &name, f)?;
                s.files += 1;
                s.bytes += r.size;
                files.push(r);
            }
            record.versions.push(VersionRecord {
                version: p.version,
                manifest: p.manifest,
                readme: p.readme,
                deprecated: p.deprecated,
                published: p.published,
                files,
            });
        }
        s.versions += record.versions.len();
        s.packages += 1;
        let listed: Vec<&str> = record.versions.iter().map(|v| v.version.as_str()).collect();
        let _ = writeln!(out, "{name}: {}", listed.join(", "));
        w.append_json(&package_path(&name), &record)?;
    }
    let manifest = Manifest {
        files: std::mem::take(&mut w.listed),
    };
    w.append_json(MANIFEST_PATH, &manifest)?;
    let file = w
        .tar
        .into_inner()
        .and_then(|b| b.into_inner().map_err(|e| e.into_error()))
        .map_err(|e| Error::io("cannot finish the bundle", e))?;
    file.sync_all()
        .map_err(|e| Error::io("cannot write the bundle to disk", e))?;
    Ok(s)
}

/// Writes the bundle to `opts.out` (through a `.partial` file beside it).
pub fn run(
    db: &Connection,
    blobs: &BlobStore,
    opts: &Options,
    out: &mut dyn Write,
) -> Result<Summary> {
    let partial = PathBuf::from(format!("{}.partial", opts.out.display()));
    let file = fs::File::create(&partial)
        .map_err(|e| Error::io(format!("cannot create {}", partial.display()), e))?;
    let written = write_bundle(db, blobs, opts, file, out).and_then(|s| {
        fs::rename(&partial, &opts.out).map_err(|e| {
            Error::io(
                format!("cannot move the bundle to {}", opts.out.display()),
                e,
            )
        })?;
        Ok(s)
    });
    if written.is_err() {
        let _ = fs::remove_file(&partial);
    }
    written
}

/// The canonical form of a `--since` time, comparable as text with stored timestamps.
pub fn since(text: &str) -> Result<String> {
    crate::time::parse(text)
        .map(crate::time::format_millis)
        .ok_or_else(|| {
            Error::Usage(format!("--since {text:?}: expected a date or time such as 2026-11-01 or 2026-11-01T12:00:00Z"))
        })
}

/// Whether `path` can take a bundle: its folder exists.
pub fn check_out(path: &Path) -> Result<()> {
    match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(dir) if !dir.is_dir() => Err(Error::Usage(format!(
            "--out {}: the folder {} does not exist",
            path.display(),
            dir.display()
        ))),
        _ => Ok(()),
    }
}

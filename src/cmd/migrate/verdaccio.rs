//! `nmr import --from-verdaccio STORAGE_DIR`: a Verdaccio (5.x, 6.x) storage directory as it
//! lies on disk, with Verdaccio stopped. Its layout: `STORAGE/<name>/package.json` with the
//! tarballs beside it (`STORAGE/@scope/<name>/` for scoped names), and a database file,
//! `.verdaccio-db.json` (`.sinopia-db.json` from older versions), whose `list` names the
//! packages published there. Everything else under the directory was only cached from an
//! uplink, and is left to nmr's own upstream proxy, or with `--include-cached` taken into its
//! upstream cache.

use super::{describe, htpasswd, import_package, Progress, Report};
use crate::app::App;
use crate::cmd::error::{Error, Result};
use crate::store::db::Connection;
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The database files Verdaccio has written, newest name first.
const DB_FILES: [&str; 2] = [".verdaccio-db.json", ".sinopia-db.json"];

/// Largest `package.json` read (metadata only; tarballs are separate files).
const MAX_DOC: u64 = 256 << 20;

/// What `nmr import --from-verdaccio` was asked to do.
pub struct Options {
    pub storage: PathBuf,
    pub htpasswd: Option<PathBuf>,
    /// Packages only cached from an uplink go to the upstream cache instead of being skipped.
    pub include_cached: bool,
}

/// Checks that `storage` is a Verdaccio storage directory, before anything is opened here.
pub fn check(storage: &Path) -> Result<()> {
    db_file(storage).map(|_| ())
}

fn db_file(storage: &Path) -> Result<PathBuf> {
    DB_FILES
        .iter()
        .map(|f| storage.join(f))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            Error::Usage(format!(
            "{} is not a Verdaccio storage directory: it has no {} (or {}); give the directory `storage:` names in Verdaccio's config.yaml",
            storage.display(),
            DB_FILES[0],
            DB_FILES[1]
            ))
        })
}

/// The names the database file lists as published in Verdaccio.
fn local_names(storage: &Path) -> Result<BTreeSet<String>> {
    let path = db_file(storage)?;
    let text = std::fs::read(&path)
        .map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
    let doc: Value = serde_json::from_slice(&text).map_err(|e| {
        Error::Failed(format!(
            "{} is not the JSON Verdaccio writes: {e}",
            path.display()
        ))
    })?;
    let list = doc
        .get("list")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::Failed(format!("{} has no \"list\" of packages", path.display())))?;
    Ok(list
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect())
}

/// Every package folder under the storage directory (one with a `package.json`), by name.
fn package_dirs(storage: &Path) -> Result<Vec<(String, PathBuf)>> {
    let read = |d: &Path| {
        std::fs::read_dir(d).map_err(|e| Error::io(format!("cannot read {}", d.display()), e))
    };
    let mut found = Vec::new();
    for entry in read(storage)? {
        let entry = entry.map_err(|e| Error::io(storage.display().to_string(), e))?;
        let top = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if top.starts_with('.') || !path.is_dir() {
            continue;
        }
        if top.starts_with('@') {
            for sub in read(&path)? {
                let sub = sub.map_err(|e| Error::io(path.display().to_string(), e))?;
                let p = sub.path();
                if p.join("package.json").is_file() {
                    let n = sub.file_name().to_string_lossy().into_owned();
                    found.push((format!("{top}/{n}"), p));
                }
            }
        } else if path.join("package.json").is_file() {
            found.push((top, path));
        }
    }
    found.sort();
    Ok(found)
}

fn read_doc(path: &Path) -> std::result::Result<Value, String> {
    let bytes = read_bounded(path)?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{} is not JSON: {e}", path.display()))
}

/// A package document's bytes, refused above [`MAX_DOC`] before anything is read.
fn read_bounded(path: &Path) -> std::result::Result<Vec<u8>, String> {
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if meta.len() > MAX_DOC {
        return Err(format!(
            "{} is {} bytes, too large",
            path.display(),
            meta.len()
        ));
    }
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// The file a version's tarball is in: the canonical name Verdaccio writes
/// (`widget-1.0.0.tgz`), else the last part of its `dist.tarball` URL.
fn tarball_file(dir: &Path, name: &str, version: &str, dist_url: Option<&str>) -> PathBuf {
    let canonical = dir.join(crate::name::tarball_file(name, version));
    if canonical.is_file() {
        return canonical;
    }
    match dist_url
        .and_then(|u| u.rsplit('/').next())
        .filter(|f| !f.is_empty() && !f.starts_with('.') && !f.contains('\\'))
    {
        Some(f) => dir.join(f),
        None => canonical,
    }
}

/// Takes a package Verdaccio only cached into nmr's upstream cache, with the tarballs it
/// downloaded.
fn adopt(
    app: &App,
    db: &mut Connection,
    name: &str,
    dir: &Path,
    report: &mut Report,
) -> Result<()> {
    if crate::store::meta::package(db, name)?.is_some() {
        report.skipped.push((
            name.to_string(),
            "cached by Verdaccio, but published here: the local package is served".into(),
        ));
        return Ok(());
    }
    let path = dir.join("package.json");
    let bytes = match read_bounded(&path) {
        Ok(b) => b,
        Err(why) => {
            report.problems.push((name.to_string(), why));
            return Ok(());
        }
    };
    let file = |d: &crate::store::meta::UplinkDist| std::fs::read(dir.join(&d.filename)).ok();
    match crate::uplink::adopt(app, db, name, &bytes, &file) {
        Ok((stored, refused)) => {
            report.cached += 1;
            report.cached_tarballs += stored;
            report.problems.extend(refused);
        }
        Err(crate::error::Error::BadRequest(why)) => report.problems.push((name.to_string(), why)),
        Err(e) => return Err(Error::Request(e)),
    }
    Ok(())
}

/// Runs the import: users first (quick, and independent of the packages), then packages.
pub fn run(
    app: &App,
    db: &mut Connection,
    opts: &Options,
    progress: &Progress,
    out: &mut dyn Write,
) -> Result<Report> {
    let storage = &opts.storage;
    let local = local_names(storage)?;
    let mut report = Report::default();
    if let Some(h) = &opts.htpasswd {
        htpasswd::import(app, db, h, &mut report, out)?;
    }
    let dirs = package_dirs(storage)?;
    let on_disk: BTreeSet<&str> = dirs.iter().map(|(n, _)| n.as_str()).collect();
    for name in &local {
        if !on_disk.contains(name.as_str()) {
            report.problems.push((
                name.clone(),
                format!(
                    "listed as published in Verdaccio's database, but {} has no package.json for it",
                    storage.display()
                ),
            ));
        }
    }
    let total = dirs.len();
    let _ = writeln!(
        out,
        "reading {}: {} packages published there, {} folders",
        storage.display(),
        local.len(),
        total
    );
    for (i, (name, dir)) in dirs.iter().enumerate() {
        progress.show(i + 1, total, name);
        if !local.contains(name) {
            if opts.include_cached {
                adopt(app, db, name, dir, &mut report)?;
            } else {
                report.skipped.push((
                    name.clone(),
                    "only cached from an uplink, not published in Verdaccio: nmr's upstream registry (uplink.url) serves it; --include-cached takes it into the upstream cache".into(),
                ));
            }
            continue;
        }
        let doc = match read_doc(&dir.join("package.json")) {
            Ok(d) => d,
            Err(why) => {
                report.problems.push((name.clone(), why));
                continue;
            }
        };
        let where_ = |ver: &str, m: &serde_json::Map<String, Value>| {
            let url = m
                .get("dist")
                .and_then(|d| d.get("tarball"))
                .and_then(Value::as_str);
            tarball_file(dir, name, ver, url).display().to_string()
        };
        let pkg = match describe(name, &doc, &where_, &mut report.problems) {
            Ok(p) => p,
            Err(why) => {
                report.problems.push((name.clone(), why));
                continue;
            }
        };
        let mut fetch = |o: &super::Offered| {
            std::fs::read(&o.tarball).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => {
                    format!("its tarball {} is missing", o.tarball)
                }
                _ => format!("cannot read its tarball {}: {e}", o.tarball),
            })
        };
        import_package(app, db, pkg, &mut fetch, &mut report, out)?;
    }
    progress.clear();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tarballs_are_found_by_canonical_name_then_by_url() {
        let dir = std::env::temp_dir().join(format!("nmr-vd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("widget-1.0.0.tgz"), b"x").unwrap();
        let url = Some("http://v.example.test/@acme/widget/-/@acme/widget-1.0.0.tgz");
        assert_eq!(
            tarball_file(&dir, "@acme/widget", "1.0.0", url),
            dir.join("widget-1.0.0.tgz")
        );
        assert_eq!(
            tarball_file(
                &dir,
                "@acme/widget",
                "2.0.0",
                Some("http://v.example.test/w/-/odd.tgz")
            ),
            dir.join("odd.tgz")
        );
        assert_eq!(
            tarball_file(
                &dir,
                "@acme/widget",
                "2.0.0",
                Some("http://v.example.test/..")
            ),
            dir.join("widget-2.0.0.tgz")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

//! `nmr backup DIR` and `nmr restore DIR`. A backup is taken while nmr serves: first a
//! consistent snapshot of the database through SQLite's online backup API (one step, so one
//! read transaction), then every object that snapshot points at, copied from the blob store and
//! verified. Tarballs are written before the metadata that points at them commits and never
//! change, so the snapshot's objects all exist when they are copied. The directory holds
//! `nmr.sqlite`, `storage/` (the local-disk layout) and, written last, `nmr-backup.json`: a
//! directory without it is an unfinished backup and is never restored.
//!
//! A restore goes the same way round: objects into the configured blob store (local or S3),
//! then the database file into `db.path` (written aside, synced, renamed), which must not
//! exist yet. Both can be run again after an interruption.

use super::error::{Error, Result};
use crate::config::Config;
use crate::store::{blob::BlobStore, copy, meta};
use rusqlite::backup::{Backup, StepResult};
use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

/// The database file in a backup.
const DB_FILE: &str = "nmr.sqlite";
/// The blob directory in a backup.
const STORAGE_DIR: &str = "storage";
/// Written last: its presence marks a complete backup.
const MARKER: &str = "nmr-backup.json";

/// How many times a snapshot step that found the database busy is retried.
const BUSY_RETRIES: u32 = 100;

fn fail(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Failed(format!("{what}: {e}"))
}

/// Writes a file durably: into a temp name, synced, renamed into place, directory synced.
fn write_durably(
    dest: &Path,
    fill: impl FnOnce(&mut fs::File) -> std::io::Result<()>,
) -> Result<()> {
    let tmp = dest.with_extension("partial");
    let done = (|| {
        let mut f = private_file(&tmp)?;
        fill(&mut f)?;
        f.sync_all()?;
        fs::rename(&tmp, dest)?;
        fs::File::open(dest.parent().unwrap_or(Path::new(".")))?.sync_all()
    })();
    done.map_err(|e| Error::io(format!("cannot write {}", dest.display()), e))
}

/// Creates (or empties) a file only nmr's user may read (0600, whatever the umask): backups
/// and restored databases hold password hashes and token digests.
fn private_file(path: &Path) -> std::io::Result<fs::File> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.set_permissions(fs::Permissions::from_mode(0o600))?;
    Ok(f)
}

/// Copies a consistent snapshot of the database at `from` into a new file `to`.
fn snapshot(from: &Path, to: &Path) -> Result<()> {
    let src = meta::open_read_only(from)?;
    let src = src.sqlite().expect("open_read_only opens SQLite");
    meta::create_private(to).map_err(|e| fail(&format!("cannot create {}", to.display()), e))?;
    let mut dst = rusqlite::Connection::open(to)
        .map_err(|e| fail(&format!("cannot create {}", to.display()), e))?;
    {
        let backup = Backup::new(src, &mut dst)?;
        let mut retries = 0;
        // -1: every page in one step, inside one read transaction of the source, so writes
        // committing meanwhile cannot make the copy start over.
        while backup.step(-1)? != StepResult::Done {
            retries += 1;
            if retries > BUSY_RETRIES {
                return Err(fail("database snapshot", "the database stayed busy"));
            }
            // Backing off from a lock, not waiting for an event.
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    // A backup is one self-contained file: no WAL beside it.
    dst.execute_batch("PRAGMA journal_mode = DELETE;")?;
    Ok(())
}

/// `nmr backup DIR`. Returns whether every object was copied and verified; progress and
/// failures go to `out` and `err`.
pub fn backup(
    config: &Config,
    dir: &Path,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<bool> {
    if dir.exists()
        && fs::read_dir(dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(Error::Usage(format!(
            "{} is not empty; back up into a new directory",
            dir.display()
        )));
    }
    // The whole backup is private to nmr's user (0700), whatever the umask: the tarball copies
    // in it are written with the process's umask like the live storage.
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .and_then(|()| fs::set_permissions(dir, fs::Permissions::from_mode(0o700)))
            .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
    }
    let db = dir.join(DB_FILE);
    snapshot(&config.db_path, &db)?;
    writeln!(out, "database snapshot: {}", db.display())?;
    let snap = meta::open_read_only(&db)?;
    let live = BlobStore::open(config, config.storage_type)?;
    let copy = BlobStore::open_local(&dir.join(STORAGE_DIR))?;
    let s = copy::run(&snap, &live, &copy, 1, out, err)?;
    if s.failed > 0 {
        return Ok(false);
    }
    let marker = serde_json::json!({
        "format": 1,
        "nmr": env!("CARGO_PKG_VERSION"),
        "created": crate::time::now_rfc3339(),
        "objects": s.total,
    });
    write_durably(&dir.join(MARKER), |f| {
        f.write_all(marker.to_string().as_bytes())
    })?;
    writeln!(out, "backup complete: {}", dir.display())?;
    Ok(true)
}

/// `nmr restore DIR`. Returns whether everything was restored; progress and failures go to
/// `out` and `err`.
pub fn restore(
    config: &Config,
    dir: &Path,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<bool> {
    if !dir.join(MARKER).is_file() {
        return Err(Error::Usage(format!(
            "{} is not a complete nmr backup (it has no {MARKER})",
            dir.display()
        )));
    }
    if config.db_path.exists() {
        return Err(Error::Usage(format!(
            "{} (db.path) exists; restore into a fresh data directory, or move it away first",
            config.db_path.display()
        )));
    }
    let snap = meta::open_read_only(&dir.join(DB_FILE))?;
    let copy = BlobStore::open_local(&dir.join(STORAGE_DIR))?;
    let target = BlobStore::open(config, config.storage_type)?;
    let s = copy::run(&snap, &copy, &target, 1, out, err)?;
    if s.failed > 0 {
        return Ok(false);
    }
    drop(snap);
    if let Some(parent) = config
        .db_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
    {
        fs::create_dir_all(parent)
            .map_err(|e| Error::io(format!("cannot create {}", parent.display()), e))?;
    }
    let mut from = fs::File::open(dir.join(DB_FILE))?;
    write_durably(&config.db_path, |f| std::io::copy(&mut from, f).map(drop))?;
    writeln!(
        out,
        "restored into {} and {}",
        config.db_path.display(),
        target.name()
    )?;
    Ok(true)
}

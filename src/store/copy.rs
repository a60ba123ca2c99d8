//! Copying every object the metadata knows (published tarballs and cached upstream ones) from
//! one blob store to another, each checked against its recorded size, sha1 and sha512: `nmr
//! storage copy`, and the tarball half of `nmr backup` and `nmr restore`. It can be run again
//! after a failure or an interruption: objects already at the destination are read back,
//! verified and skipped, and nothing at the destination is ever overwritten.

use super::blob::BlobStore;
use super::meta;
use crate::digest::Digests;
use crate::store::Result;
use std::io::{Read, Write};

/// What a copy did, object by object.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub total: usize,
    pub copied: usize,
    /// Already at the destination with the right bytes.
    pub present: usize,
    pub failed: usize,
}

enum Outcome {
    Copied(usize),
    Present,
}

/// Why an object could not be read back as the metadata records it.
#[derive(Debug, PartialEq, Eq)]
pub enum Fault {
    /// The store does not have it.
    Missing,
    /// The store failed to hand it over.
    Unreadable(String),
    /// Its bytes differ from what the metadata recorded.
    Mismatch(String),
}

impl Fault {
    /// The fault in words, naming the store.
    pub fn describe(&self, store: &BlobStore) -> String {
        match self {
            Fault::Missing => format!("not found in {}", store.name()),
            Fault::Unreadable(why) => why.clone(),
            Fault::Mismatch(why) => {
                format!(
                    "the bytes in {} do not match the metadata: {why}",
                    store.name()
                )
            }
        }
    }
}

/// Checks bytes against the recorded size, sha1 and (when recorded) integrity.
pub fn verify(obj: &meta::Stored, bytes: &[u8]) -> std::result::Result<(), String> {
    if bytes.len() as i64 != obj.size {
        return Err(format!(
            "{} bytes where it records {}",
            bytes.len(),
            obj.size
        ));
    }
    let digests = Digests::of(bytes);
    let sha1 = &digests.sha1_hex;
    if !sha1.eq_ignore_ascii_case(&obj.sha1) {
        return Err(format!("sha1 {sha1} where it records {}", obj.sha1));
    }
    match &obj.integrity {
        Some(sri) => digests.check_integrity(sri, bytes),
        None => Ok(()),
    }
}

/// Reads a whole object and checks it against the metadata. Tarballs are held in memory once,
/// as a publish already does (bounded by `settings.max_body_size`), because rust-s3's blocking
/// PUT takes a byte slice.
pub fn read_verified(store: &BlobStore, obj: &meta::Stored) -> std::result::Result<Vec<u8>, Fault> {
    let (mut reader, _) = store
        .get(&obj.key)
        .map_err(|e| Fault::Unreadable(e.to_string()))?
        .ok_or(Fault::Missing)?;
    let mut bytes = Vec::new();
    reader
        .read_to_end(&mut bytes)
        .map_err(|e| Fault::Unreadable(format!("reading from {} failed: {e}", store.name())))?;
    verify(obj, &bytes).map_err(Fault::Mismatch)?;
    Ok(bytes)
}

fn copy_one(
    from: &BlobStore,
    to: &BlobStore,
    obj: &meta::Stored,
    at_destination: bool,
) -> std::result::Result<Outcome, String> {
    let kept = |f: Fault| format!("{}; the destination copy was left as it is", f.describe(to));
    if at_destination {
        read_verified(to, obj).map_err(kept)?;
        return Ok(Outcome::Present);
    }
    let bytes = read_verified(from, obj).map_err(|f| f.describe(from))?;
    if to.put(&obj.key, &bytes).map_err(|e| e.to_string())? {
        Ok(Outcome::Copied(bytes.len()))
    } else {
        // Someone stored it since the listing (a second copy, or a publish).
        read_verified(to, obj).map_err(kept)?;
        Ok(Outcome::Present)
    }
}

/// Copies every object in the metadata (published files and cached upstream tarballs) from
/// `from` to `to`. Progress goes to `out`: a line per
/// object when `every` is 1, else a count every `every` objects; each failure goes to `err` as
/// it happens. Errors that stop the whole run (the database, listing the destination) are
/// returned; per-object failures are counted and the copy goes on.
pub fn run(
    db: &crate::store::db::Connection,
    from: &BlobStore,
    to: &BlobStore,
    every: usize,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Summary> {
    let objects = meta::stored_objects(db)?;
    // One listing instead of a lookup per object.
    let present: std::collections::BTreeSet<String> = to.list()?.into_iter().collect();
    let mut s = Summary {
        total: objects.len(),
        ..Summary::default()
    };
    writeln!(
        out,
        "copying {} tarballs from {} to {}",
        s.total,
        from.name(),
        to.name()
    )?;
    for (i, obj) in objects.iter().enumerate() {
        let (n, key) = (i + 1, &obj.key);
        let line = match copy_one(from, to, obj, present.contains(key)) {
            Ok(Outcome::Copied(len)) => {
                s.copied += 1;
                Some(format!("copied {key} ({len} bytes)"))
            }
            Ok(Outcome::Present) => {
                s.present += 1;
                Some(format!("already there, verified: {key}"))
            }
            Err(why) => {
                s.failed += 1;
                writeln!(err, "[{n}/{}] FAILED {key}: {why}", s.total)?;
                None
            }
        };
        if every <= 1 {
            if let Some(line) = line {
                writeln!(out, "[{n}/{}] {line}", s.total)?;
            }
        } else if n % every == 0 {
            writeln!(
                out,
                "[{n}/{}] {} copied, {} already there, {} failed",
                s.total, s.copied, s.present, s.failed
            )?;
        }
    }
    writeln!(
        out,
        "done: {} tarballs, {} copied, {} already there, {} failed",
        s.total, s.copied, s.present, s.failed
    )?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_count_every_n_objects_and_each_failure_named() {
        let d = std::env::temp_dir().join(format!("nmr-copy-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let mut db = meta::open(&d.join("db.sqlite")).unwrap();
        meta::migrate(&mut db).unwrap();
        let (from, to) = (
            BlobStore::open_local(&d.join("from")).unwrap(),
            BlobStore::open_local(&d.join("to")).unwrap(),
        );
        let tx = meta::write_tx(&mut db).unwrap();
        let id = meta::insert_package(&tx, "p", "now").unwrap();
        for v in ["1.0.0", "1.1.0", "1.2.0"] {
            let bytes = format!("tarball {v}");
            let key = format!("p/p-{v}.tgz");
            // 1.1.0's stored bytes do not match what the metadata recorded.
            let stored = if v == "1.1.0" {
                "bit rot".into()
            } else {
                bytes.clone()
            };
            from.put(&key, stored.as_bytes()).unwrap();
            let d = Digests::of(bytes.as_bytes());
            let file = meta::File {
                filename: format!("p-{v}.tgz"),
                version: v.into(),
                blob_key: key,
                size: bytes.len() as i64,
                sha1: d.sha1_hex,
                integrity: d.integrity,
            };
            meta::put_file(&tx, id, &file).unwrap();
        }
        tx.commit().unwrap();

        let (mut out, mut err) = (Vec::new(), Vec::new());
        let s = run(&db, &from, &to, 2, &mut out, &mut err).unwrap();
        let (out, err) = (
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        );
        assert_eq!(
            s,
            Summary {
                total: 3,
                copied: 2,
                present: 0,
                failed: 1
            }
        );
        assert!(
            out.contains("[2/3] 1 copied, 0 already there, 1 failed"),
            "{out}"
        );
        assert!(!out.contains("[1/3]") && !out.contains("[3/3]"), "{out}");
        assert!(err.contains("[2/3] FAILED p/p-1.1.0.tgz"), "{err}");
        assert_eq!(to.list().unwrap(), ["p/p-1.0.0.tgz", "p/p-1.2.0.tgz"]);
    }
}

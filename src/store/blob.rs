//! The blob store: where tarball bytes live, and the local-disk backend. Every backend keeps
//! one contract: objects are written once (put-if-absent), durably before `put` returns, read
//! back as a stream, and addressed by keys that the registry builds itself, never from client
//! input. The local backend writes a temp file, fsyncs it, links it into place and fsyncs the
//! directory; the S3 backend lives in [`super::s3`].

use super::s3::S3;
use super::{Error, Result};
use crate::config::{Config, StorageType};
use crate::http::Body;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The configured backend.
pub enum BlobStore {
    /// Files under a directory on local disk.
    Local(Local),
    /// Objects in an S3-compatible bucket.
    S3(S3),
}

/// Local-disk backend rooted at `storage.local.path`.
pub struct Local {
    root: PathBuf,
}

/// Directory under the root for uploads in progress; emptied when the server starts.
const TMP_DIR: &str = ".tmp";

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A key is a relative path made of the package name and a file name. Refusing anything else
/// here means no bug elsewhere can make the store write outside its root.
fn check_key(key: &str) -> Result<()> {
    let ok = !key.is_empty()
        && !key.starts_with('/')
        && key
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != ".." && !part.starts_with('.'))
        && !key.contains('\\')
        && !key.contains('\0');
    if ok {
        Ok(())
    } else {
        Err(Error::BadKey(key.to_string()))
    }
}

/// The key for a file's bytes: `<dir>/<stem>-<16 hex of sha512>.<ext>`. Keys carry a content
/// digest, so the bytes under a key never change.
pub fn content_key(dir: &str, filename: &str, digests: &crate::digest::Digests) -> String {
    let (stem, ext) = filename.rsplit_once('.').unwrap_or((filename, "bin"));
    format!("{dir}/{stem}-{}.{ext}", &digests.sha512_hex()[..16])
}

impl BlobStore {
    /// Opens the backend of the given type from its section of the configuration.
    pub fn open(config: &Config, which: StorageType) -> Result<BlobStore> {
        match which {
            StorageType::Local => BlobStore::open_local(&config.storage_path),
            StorageType::S3 => Ok(BlobStore::S3(S3::open(&config.s3)?)),
        }
    }

    /// How messages name this store: its directory, or its bucket and endpoint.
    pub fn name(&self) -> String {
        match self {
            BlobStore::Local(l) => format!("local directory {}", l.root.display()),
            BlobStore::S3(s) => s.name().to_string(),
        }
    }

    /// Opens the local backend, creating its directory.
    pub fn open_local(root: &Path) -> Result<BlobStore> {
        let tmp = root.join(TMP_DIR);
        // Not `Error::io`: a store that cannot even be set up is a fault to fix at start-up,
        // whatever the reason, never a "try again once there is room".
        fs::create_dir_all(&tmp).map_err(|source| Error::Io {
            what: format!("cannot create storage directory {}", tmp.display()),
            source,
        })?;
        Ok(BlobStore::Local(Local {
            root: root.to_path_buf(),
        }))
    }

    /// Removes the temp files of uploads a crash interrupted; returns how many. Only the server
    /// calls this, at start: the commands that open the store while it runs (fsck, backup,
    /// storage copy) would delete its uploads in progress. S3 has no temp objects.
    pub fn remove_unfinished_uploads(&self) -> Result<usize> {
        let BlobStore::Local(l) = self else {
            return Ok(0);
        };
        let mut removed = 0;
        for entry in fs::read_dir(l.root.join(TMP_DIR))? {
            if fs::remove_file(entry?.path()).is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Stores `bytes` under `key` unless the key exists. Returns whether this call created it.
    /// Keys are content-addressed, so an existing key already holds these bytes.
    pub fn put(&self, key: &str, bytes: &[u8]) -> Result<bool> {
        check_key(key)?;
        match self {
            BlobStore::Local(l) => l.put(key, bytes),
            BlobStore::S3(s) => s.put(key, bytes),
        }
    }

    /// Opens an object for streaming, with its length; `None` if it does not exist.
    pub fn get(&self, key: &str) -> Result<Option<(Box<dyn Read + Send>, u64)>> {
        check_key(key)?;
        match self {
            BlobStore::Local(l) => match fs::File::open(l.root.join(key)) {
                Ok(f) => {
                    let len = f.metadata()?.len();
                    Ok(Some((Box::new(f), len)))
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e.into()),
            },
            BlobStore::S3(s) => s.get(key),
        }
    }

    /// An object as a response body, `None` if it does not exist: a local file as a file, so
    /// the front can send it with `sendfile`; an S3 object as a stream.
    pub fn body(&self, key: &str) -> Result<Option<Body>> {
        check_key(key)?;
        match self {
            BlobStore::Local(l) => match fs::File::open(l.root.join(key)) {
                Ok(f) => {
                    let len = f.metadata()?.len();
                    Ok(Some(Body::File(f, len)))
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e.into()),
            },
            BlobStore::S3(s) => Ok(s.get(key)?.map(|(r, n)| Body::Stream(r, n))),
        }
    }

    /// Whether an object exists.
    pub fn exists(&self, key: &str) -> Result<bool> {
        check_key(key)?;
        match self {
            BlobStore::Local(l) => Ok(l.root.join(key).is_file()),
            BlobStore::S3(s) => s.exists(key),
        }
    }

    /// Removes an object; removing a missing one is not an error.
    pub fn delete(&self, key: &str) -> Result<()> {
        check_key(key)?;
        match self {
            BlobStore::Local(l) => match fs::remove_file(l.root.join(key)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e.into()),
                _ => Ok(()),
            },
            BlobStore::S3(s) => s.delete(key),
        }
    }

    /// Every stored key, sorted: what a consistency check or a copy compares the metadata with.
    pub fn list(&self) -> Result<Vec<String>> {
        let mut keys = match self {
            BlobStore::Local(l) => l.list()?,
            BlobStore::S3(s) => s.list()?,
        };
        keys.sort();
        Ok(keys)
    }

    /// Where to send a client for this object instead of streaming it: a presigned URL when
    /// the backend is S3 with `storage.s3.redirect` on, otherwise `None`.
    pub fn redirect(&self, key: &str) -> Result<Option<String>> {
        check_key(key)?;
        match self {
            BlobStore::Local(_) => Ok(None),
            BlobStore::S3(s) => s.redirect(key),
        }
    }
}

impl Local {
    fn list(&self) -> Result<Vec<String>> {
        let mut keys = Vec::new();
        let mut dirs = vec![self.root.clone()];
        while let Some(dir) = dirs.pop() {
            for entry in fs::read_dir(&dir)? {
                let path = entry?.path();
                let rel = path.strip_prefix(&self.root).expect("walked from the root");
                if rel == Path::new(TMP_DIR) {
                    continue;
                }
                if path.is_dir() {
                    dirs.push(path);
                } else if let Some(key) = rel.to_str() {
                    keys.push(key.to_string());
                }
            }
        }
        Ok(keys)
    }

    fn put(&self, key: &str, bytes: &[u8]) -> Result<bool> {
        let dest = self.root.join(key);
        if dest.is_file() {
            return Ok(false);
        }
        let dir = dest.parent().expect("a checked key has a parent");
        fs::create_dir_all(dir)?;
        let tmp = self.root.join(TMP_DIR).join(format!(
            "{}-{}-{}",
            std::process::id(),
            TMP_COUNTER.fetch_add(1, Ordering::Relaxed),
            crate::random::hex_token(4)?
        ));
        let result = (|| {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            drop(f);
            // hard_link fails if the destination exists: put-if-absent without a check-then-act race.
            match fs::hard_link(&tmp, &dest) {
                Ok(()) => {
                    fs::File::open(dir)?.sync_all()?;
                    Ok(true)
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
                Err(e) => Err(e),
            }
        })();
        let _ = fs::remove_file(&tmp);
        result.map_err(|e| Error::io(format!("cannot store {key}"), e))
    }
}

/// The behaviour every backend shares is tested once for all in `tests/blob_contract.rs`.
#[cfg(test)]
mod tests {
    use super::*;

    fn store(tag: &str) -> (BlobStore, PathBuf) {
        let d = std::env::temp_dir().join(format!("nmr-blob-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        (BlobStore::open_local(&d).unwrap(), d)
    }

    #[test]
    fn leftover_uploads_are_removed_on_request_only() {
        let (_s, d) = store("tmp");
        fs::write(d.join(TMP_DIR).join("stale"), b"half").unwrap();
        let s = BlobStore::open_local(&d).unwrap();
        assert_eq!(fs::read_dir(d.join(TMP_DIR)).unwrap().count(), 1);
        assert_eq!(s.remove_unfinished_uploads().unwrap(), 1);
        assert_eq!(fs::read_dir(d.join(TMP_DIR)).unwrap().count(), 0);
    }
}

//! The air-gap bundle: one tar file that carries packages from a connected registry to an
//! air-gapped one (`nmr export` writes it in [`export`], `nmr import` reads it in [`import`]).
//!
//! Layout, in this order:
//!
//! - `nmr-bundle.json`: the header, `{"format": "nmr-bundle", "version": 1, ...}`, first so a
//!   reader refuses a bundle from a newer nmr before reading anything else;
//! - per package, its files `tarballs/<name>/<file>` and then `packages/<name>.json`, the
//!   metadata that rebuilds its packuments (each version's manifest, readme, deprecation and
//!   publish time, its files' digests; the dist-tags and maintainers);
//! - `manifest.json`, last: the size and sha512 of every entry before it, computed while the
//!   entries were written, so the writer streams and never holds more than one package's
//!   metadata.
//!
//! The bundle is not compressed: tarballs already are. `tar -tf` lists it, and
//! `tar -xOf BUNDLE PATH | sha512sum` checks an entry by hand against the manifest.

pub mod export;
pub mod import;

use crate::digest::{hex, Digests};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha1::Sha1;
use sha2::{Digest, Sha512};
use std::collections::BTreeMap;
use std::io::{self, Read};

/// What the header's `format` says.
pub const FORMAT: &str = "nmr-bundle";

/// The newest bundle format this nmr reads and the one it writes.
pub const FORMAT_VERSION: u64 = 1;

pub const HEADER_PATH: &str = "nmr-bundle.json";
pub const MANIFEST_PATH: &str = "manifest.json";

/// The first entry.
#[derive(Debug, Serialize, Deserialize)]
pub struct Header {
    pub format: String,
    pub version: u64,
    /// When the export started: `--since` this time picks up everything that arrived after.
    #[serde(default)]
    pub created: String,
    /// The `--since` the bundle was made with, if any.
    #[serde(default)]
    pub since: Option<String>,
}

/// One entry as the manifest lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listed {
    pub path: String,
    pub size: u64,
    /// Lower-case hex, as `sha512sum` prints it.
    pub sha512: String,
}

/// The last entry.
#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub files: Vec<Listed>,
}

/// A package's metadata, `packages/<name>.json`.
#[derive(Debug, Serialize, Deserialize)]
pub struct PackageRecord {
    pub name: String,
    pub created: String,
    #[serde(default)]
    pub maintainers: Value,
    #[serde(rename = "dist-tags", default)]
    pub tags: BTreeMap<String, String>,
    pub versions: Vec<VersionRecord>,
    /// Who starred it (`{"name": true}`), set when the package is created here; absent from
    /// bundles of nmr versions that did not carry stars.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub users: Value,
}

/// One version: what `versions` stores, and its files.
#[derive(Debug, Serialize, Deserialize)]
pub struct VersionRecord {
    pub version: String,
    /// The manifest as stored: without readme, deprecation and `dist.tarball`.
    pub manifest: Map<String, Value>,
    #[serde(default)]
    pub readme: Option<String>,
    #[serde(default)]
    pub deprecated: Option<String>,
    pub published: String,
    pub files: Vec<FileRecord>,
}

/// One file of a version: its entry in the bundle and the digests of its bytes.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FileRecord {
    /// The name in registry URLs: `widget-1.0.0.tgz`.
    pub filename: String,
    pub size: u64,
    pub sha1: String,
    /// `sha512-<base64>`.
    pub integrity: String,
}

/// Where a package's metadata entry lives.
pub fn package_path(name: &str) -> String {
    format!("packages/{name}.json")
}

/// Where a file's bytes live.
pub fn tarball_path(name: &str, filename: &str) -> String {
    format!("tarballs/{name}/{filename}")
}

/// A reader that computes the digests registries use of what passes through it.
pub struct Hashing<R> {
    inner: R,
    sha1: Sha1,
    sha512: Sha512,
    len: u64,
}

impl<R: Read> Hashing<R> {
    pub fn new(inner: R) -> Hashing<R> {
        Hashing {
            inner,
            sha1: Sha1::new(),
            sha512: Sha512::new(),
            len: 0,
        }
    }

    /// How many bytes were read, and their digests.
    pub fn finish(self) -> (u64, Digests) {
        let d = Digests {
            sha1_hex: hex(&self.sha1.finalize()),
            integrity: format!("sha512-{}", STANDARD.encode(self.sha512.finalize())),
        };
        (self.len, d)
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sha1.update(&buf[..n]);
        self.sha512.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
}

/// Whether an SRI string's sha512 tokens (there must be one) all match `d`'s.
pub fn sha512_matches(sri: &str, d: &Digests) -> bool {
    let tokens: Vec<&str> = sri
        .split_whitespace()
        .map(|t| t.split('?').next().unwrap_or(""))
        .filter(|t| t.starts_with("sha512-"))
        .collect();
    !tokens.is_empty() && tokens.iter().all(|t| *t == d.integrity)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashing_reader_gives_the_registry_digests() {
        let mut r = Hashing::new(&b"abc"[..]);
        let mut sink = Vec::new();
        r.read_to_end(&mut sink).unwrap();
        let (len, d) = r.finish();
        assert_eq!((len, d), (3, Digests::of(b"abc")));
        let d = Digests::of(b"abc");
        assert!(sha512_matches(&format!("{} sha1-x", d.integrity), &d));
        assert!(!sha512_matches("sha1-qZk+NkcGgWq6PiVxeFDCbJzQ2J0=", &d));
        assert!(!sha512_matches("sha512-AAAA", &d));
    }
}

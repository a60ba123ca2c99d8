//! The README a package page shows: the one sent with the publish (stored per version), else the
//! `README.md` at the top of the version's tarball, found with gunzip and a small tar reader
//! that stops at bounds. Tarball bytes never change, so what was found is cached by blob key.

use crate::error::Result;
use crate::store::blob::BlobStore;
use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, Mutex};

/// Most bytes read out of a tarball looking for the README (inflated): a gzip bomb stops here.
const MAX_SCAN: u64 = 64 << 20;
/// Largest README taken from a tarball.
const MAX_README: u64 = 1 << 20;
/// Beyond this many cached bytes the cache starts over.
const CACHE_MAX_BYTES: usize = 32 << 20;

/// READMEs found in tarballs, by blob key.
#[derive(Default)]
pub struct Cache {
    inner: Mutex<Found>,
}

#[derive(Default)]
struct Found {
    /// `None`: the tarball has no README.
    by_key: HashMap<String, Option<Arc<str>>>,
    bytes: usize,
}

/// The README text for a version: `stored` (from the publish body) if there is one, else the
/// one in its tarball (`blob_key`).
pub fn for_version(
    blobs: &BlobStore,
    cache: &Cache,
    stored: Option<&str>,
    blob_key: Option<&str>,
) -> Result<Option<Arc<str>>> {
    if let Some(s) = stored.filter(|s| !s.trim().is_empty()) {
        return Ok(Some(Arc::from(s)));
    }
    let Some(key) = blob_key else {
        return Ok(None);
    };
    if let Some(hit) = cache.lock().by_key.get(key) {
        return Ok(hit.clone());
    }
    let found: Option<Arc<str>> = match blobs.get(key)? {
        None => None,
        Some((reader, _)) => from_tarball(reader).map(Arc::from),
    };
    let mut inner = cache.lock();
    if inner.bytes > CACHE_MAX_BYTES {
        *inner = Found::default();
    }
    inner.bytes += key.len() + found.as_ref().map_or(0, |s| s.len());
    inner.by_key.insert(key.to_string(), found.clone());
    Ok(found)
}

impl Cache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Found> {
        // A panic while holding the lock leaves at worst a half-updated cache of immutable data.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Whether a tar entry path is a README at the package's top: `package/README.md` (any root
/// folder, any case, `.md`/`.markdown` or none).
fn is_readme(path: &str) -> bool {
    let path = path.trim_start_matches("./");
    let Some((root, file)) = path.split_once('/') else {
        return false;
    };
    !root.is_empty()
        && matches!(
            file.to_ascii_lowercase().as_str(),
            "readme.md" | "readme.markdown" | "readme"
        )
}

/// A NUL-terminated field of a tar header.
fn field(b: &[u8]) -> &str {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    std::str::from_utf8(&b[..end]).unwrap_or("")
}

/// The entry size in a header: octal, or base-256 for huge files.
fn size(b: &[u8]) -> Option<u64> {
    if b[0] & 0x80 != 0 {
        return b[1..]
            .iter()
            .try_fold(0u64, |n, &c| n.checked_mul(256)?.checked_add(u64::from(c)));
    }
    let t = field(b).trim();
    if t.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(t, 8).ok()
}

/// The `path` record of a pax extended header, which overrides the next entry's name.
fn pax_path(data: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(data).ok()?;
    text.lines().find_map(|rec| {
        let (_, kv) = rec.split_once(' ')?;
        kv.strip_prefix("path=").map(str::to_string)
    })
}

/// Reads `n` bytes of entry data, or `None` if the stream ends first.
fn take(r: &mut impl Read, n: u64) -> Option<Vec<u8>> {
    let mut buf = Vec::with_capacity(n as usize);
    r.take(n).read_to_end(&mut buf).ok()?;
    (buf.len() as u64 == n).then_some(buf)
}

/// The README in a gzip-compressed tarball, if there is one within the bounds.
pub fn from_tarball(gz: impl Read) -> Option<String> {
    let mut r = flate2::read::GzDecoder::new(gz).take(MAX_SCAN);
    let mut header = [0u8; 512];
    let mut long_name: Option<String> = None;
    loop {
        r.read_exact(&mut header).ok()?;
        if header.iter().all(|&b| b == 0) {
            return None;
        }
        let len = size(&header[124..136])?;
        let padded = len.div_ceil(512) * 512;
        let kind = header[156];
        let name = long_name.take().unwrap_or_else(|| {
            let (name, prefix) = (field(&header[0..100]), field(&header[345..500]));
            // ustar splits long paths into a prefix and a name.
            if &header[257..262] == b"ustar" && !prefix.is_empty() {
                format!("{prefix}/{name}")
            } else {
                name.to_string()
            }
        });
        match kind {
            // GNU long name, pax header: they name the entry that follows.
            b'L' | b'x' if len <= 64 * 1024 => {
                let data = take(&mut r, padded)?;
                let data = &data[..len as usize];
                long_name = if kind == b'L' {
                    Some(field(data).to_string())
                } else {
                    pax_path(data)
                };
            }
            b'0' | 0 | b'7' if is_readme(&name) && len <= MAX_README => {
                let data = take(&mut r, padded)?;
                return Some(String::from_utf8_lossy(&data[..len as usize]).into_owned());
            }
            _ => {
                std::io::copy(&mut (&mut r).take(padded), &mut std::io::sink()).ok()?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A ustar header for a regular file (or another `kind`) of `len` bytes.
    fn header(name: &str, len: usize, kind: u8) -> [u8; 512] {
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        h[100..107].copy_from_slice(b"0000644");
        h[124..135].copy_from_slice(format!("{len:011o}").as_bytes());
        h[156] = kind;
        h[257..263].copy_from_slice(b"ustar\0");
        h
    }

    fn tgz(entries: &[(&str, &[u8], u8)]) -> Vec<u8> {
        let mut tar = Vec::new();
        for (name, data, kind) in entries {
            tar.extend_from_slice(&header(name, data.len(), *kind));
            tar.extend_from_slice(data);
            tar.resize(tar.len().div_ceil(512) * 512, 0);
        }
        tar.extend_from_slice(&[0u8; 1024]);
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&tar).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn finds_the_top_level_readme_only() {
        let t = tgz(&[
            ("package/package.json", b"{}", b'0'),
            ("package/docs/README.md", b"# nested", b'0'),
            ("package/Readme.md", b"# top", b'0'),
        ]);
        assert_eq!(from_tarball(&t[..]).as_deref(), Some("# top"));
        let t = tgz(&[("package/index.js", b"x", b'0')]);
        assert_eq!(from_tarball(&t[..]), None);
    }

    #[test]
    fn long_names_from_gnu_and_pax_headers_are_followed() {
        let gnu = tgz(&[
            ("././@LongLink", b"package/README.md\0", b'L'),
            ("package/README.m", b"# gnu", b'0'),
        ]);
        assert_eq!(from_tarball(&gnu[..]).as_deref(), Some("# gnu"));
        let pax = tgz(&[
            ("PaxHeader", b"26 path=package/README.md\n", b'x'),
            ("package/x", b"# pax", b'0'),
        ]);
        assert_eq!(from_tarball(&pax[..]).as_deref(), Some("# pax"));
    }

    #[test]
    fn junk_and_truncated_archives_give_nothing() {
        assert_eq!(from_tarball(&b"not gzip"[..]), None);
        let t = tgz(&[("package/README.md", b"# cut", b'0')]);
        assert_eq!(from_tarball(&t[..12]), None, "only the gzip header");
    }
}

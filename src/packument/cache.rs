//! Rendered packuments kept in memory: a stored template with the base URL spliced in, by
//! (origin, name, form, base URL), checked against the package's revision on every read, with
//! a gzip copy made on first demand. Part of the shared state, below every handler.

use crate::digest::hex;
use crate::error::Result;
use crate::store::db::Connection;
use crate::store::meta::{self, Origin};
use sha1::{Digest, Sha1};
use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

/// Replaces every marker in a template with the base URL. serde_json writes the marker's NUL
/// as `\u0000`, a sequence no other part of the document can produce with the same random suffix.
pub(crate) fn splice(template: &[u8], marker: &str, base: &str) -> Vec<u8> {
    let needle = format!("\\u0000{marker}");
    let needle = needle.as_bytes();
    let mut out = Vec::with_capacity(template.len() + 64);
    let mut i = 0;
    while i < template.len() {
        if template[i] == b'\\' {
            if template[i..].starts_with(needle) {
                out.extend_from_slice(base.as_bytes());
                i += needle.len();
            } else {
                // Copy the whole escape pair so an escaped backslash is never read as the
                // start of a marker.
                out.extend_from_slice(&template[i..(i + 2).min(template.len())]);
                i += 2;
            }
        } else {
            out.push(template[i]);
            i += 1;
        }
    }
    out
}

/// One rendered document for one base URL, with a lazily made gzip copy.
pub struct Rendered {
    pub rev: i64,
    pub etag: String,
    pub body: Arc<Vec<u8>>,
    gzip: OnceLock<Arc<Vec<u8>>>,
}

impl Rendered {
    /// The document as sent without compression.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    pub fn gzipped(&self) -> Arc<Vec<u8>> {
        self.gzip
            .get_or_init(|| {
                let mut enc =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                enc.write_all(&self.body)
                    .expect("writing to a Vec cannot fail");
                Arc::new(enc.finish().expect("finishing a Vec cannot fail"))
            })
            .clone()
    }
}

/// Revisions of local and upstream packuments are counted apart, so the origin is in the key.
type CacheKey = (Origin, String, bool, String);

/// Rendered packuments by (origin, name, abbreviated, base URL), checked against the revision on
/// every read, so a change by any process is seen at once.
pub struct Cache {
    /// The database's template marker.
    marker: String,
    inner: Mutex<CacheInner>,
}

#[derive(Default)]
struct CacheInner {
    map: HashMap<CacheKey, Arc<Rendered>>,
    bytes: usize,
}

/// Beyond this the cache starts over; a Host header per request cannot grow it without bound.
const CACHE_MAX_BYTES: usize = 64 << 20;

impl Cache {
    /// An empty cache for templates that use `marker`.
    pub fn new(marker: &str) -> Cache {
        Cache {
            marker: marker.to_string(),
            inner: Mutex::default(),
        }
    }

    pub fn get(
        &self,
        conn: &Connection,
        origin: Origin,
        name: &str,
        rev: i64,
        abbreviated: bool,
        base: &str,
    ) -> Result<Option<Arc<Rendered>>> {
        let key = (origin, name.to_string(), abbreviated, base.to_string());
        if let Some(r) = self
            .inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .map
            .get(&key)
        {
            if r.rev == rev {
                return Ok(Some(r.clone()));
            }
        }
        let Some((rev, template)) = meta::template(conn, origin, name, abbreviated)? else {
            return Ok(None);
        };
        let body = splice(&template, &self.marker, base);
        let etag = format!("\"{}\"", hex(&Sha1::digest(&body)));
        let rendered = Arc::new(Rendered {
            rev,
            etag,
            body: Arc::new(body),
            gzip: OnceLock::new(),
        });
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.bytes > CACHE_MAX_BYTES {
            inner.map.clear();
            inner.bytes = 0;
        }
        inner.bytes += rendered.body.len();
        inner.map.insert(key, rendered.clone());
        Ok(Some(rendered))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn splice_replaces_only_the_marker() {
        let marker = "abc123";
        let doc = json!({"t": format!("\u{0}{marker}/p/-/p-1.0.0.tgz"), "user": "\u{0}abc12 and \\u0000abc123 typed"});
        let bytes = serde_json::to_vec(&doc).unwrap();
        let out: Value = serde_json::from_slice(&splice(&bytes, marker, "http://h:1")).unwrap();
        assert_eq!(out["t"], "http://h:1/p/-/p-1.0.0.tgz");
        assert_eq!(out["user"], doc["user"]);
    }
}

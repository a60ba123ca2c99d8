//! In-process fixtures for handler tests: the registry's state on a temporary database and
//! blob directory, and requests run through the routing table with no socket and no process.
//! For the many protocol cases that need no real client; what npm, pnpm and yarn actually do
//! stays with the integration tests, which start the binary.

use crate::app::{App, Ctx};
use crate::auth::Identity;
use crate::config::{self, Inputs};
use crate::http::routes;
use crate::http::{Body, Method, Request, Response};
use crate::store::db::Connection;
use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

static NEXT: AtomicU64 = AtomicU64::new(0);

/// A registry without a listener.
pub struct Fixture {
    dir: PathBuf,
    pub app: App,
    db: Connection,
}

/// An answer with its body read.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

impl Fixture {
    /// A fresh registry on the embedded defaults, with `settings` (`key`, `value`) on top as
    /// if given with `--set`.
    pub fn new(settings: &[(&str, &str)]) -> Fixture {
        let dir = std::env::temp_dir().join(format!(
            "nmr-fixture-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut flags: Vec<(String, String, String)> = vec![
            (
                "db.path".into(),
                dir.join("nmr.sqlite").display().to_string(),
                "--set".into(),
            ),
            (
                "storage.local.path".into(),
                dir.join("storage").display().to_string(),
                "--set".into(),
            ),
        ];
        flags.extend(
            settings
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string(), "--set".into())),
        );
        let inputs = Inputs {
            cwd: dir.clone(),
            env: vec![(
                "XDG_CONFIG_HOME".into(),
                dir.join("xdg").display().to_string(),
            )],
            flags,
            ..Default::default()
        };
        let config = config::load(&inputs).expect("fixture settings load").config;
        let app = App::open(config).expect("fixture state opens");
        let db = app.connect().expect("fixture database opens");
        Fixture { dir, app, db }
    }

    /// Runs one request through the routing table, as the listener would after reading it.
    pub fn call(
        &mut self,
        method: Method,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Answer {
        let mut fields: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
            fields.push(("Host".into(), "registry.test".into()));
        }
        if !body.is_empty() {
            fields.push(("Content-Length".into(), body.len().to_string()));
        }
        let mut reader = body;
        let mut req = Request::new(method, target, fields, &mut reader);
        let mut ctx = Ctx {
            app: &self.app,
            db: &mut self.db,
            who: Identity::Nobody,
            slot: None,
        };
        let resp = routes::dispatch(&mut ctx, &mut req)
            .1
            .unwrap_or_else(|e| Response::error(&e));
        let bytes = match resp.body {
            Body::Empty => Vec::new(),
            Body::Bytes(b) => b,
            Body::Shared(b) => b.to_vec(),
            Body::File(mut f, _) => {
                let mut v = Vec::new();
                f.read_to_end(&mut v).unwrap();
                v
            }
            Body::Stream(mut r, _) => {
                let mut v = Vec::new();
                r.read_to_end(&mut v).unwrap();
                v
            }
        };
        Answer {
            status: resp.status,
            headers: resp.headers,
            body: bytes,
        }
    }

    pub fn get(&mut self, target: &str) -> Answer {
        self.call(Method::Get, target, &[], b"")
    }

    /// Publishes `name@version` with a small tarball, asserting success; returns the tarball.
    pub fn publish(&mut self, name: &str, version: &str) -> Vec<u8> {
        let tgz = format!("tarball of {name}@{version}").into_bytes();
        let body = publish_body(name, version, &tgz);
        let target = format!("/{}", name.replace('/', "%2f"));
        let a = self.call(Method::Put, &target, &[], body.to_string().as_bytes());
        assert_eq!(a.status, 201, "{}", String::from_utf8_lossy(&a.body));
        tgz
    }
}

/// The body `npm publish` sends for one version with `tgz` as its tarball.
pub fn publish_body(name: &str, version: &str, tgz: &[u8]) -> serde_json::Value {
    use base64::Engine;
    let digests = crate::digest::Digests::of(tgz);
    let base = crate::name::basename(name);
    let file = format!("{name}-{version}.tgz");
    serde_json::json!({
        "_id": name,
        "name": name,
        "dist-tags": {"latest": version},
        "versions": {version: {
            "name": name,
            "version": version,
            "dist": {
                "shasum": digests.sha1_hex,
                "integrity": digests.integrity,
                "tarball": format!("http://registry.test/{name}/-/{base}-{version}.tgz"),
            },
        }},
        "_attachments": {file: {
            "content_type": "application/octet-stream",
            "data": base64::engine::general_purpose::STANDARD.encode(tgz),
            "length": tgz.len(),
        }},
    })
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::CORGI;

    #[test]
    fn a_publish_is_served_in_both_packument_forms_and_as_a_tarball() {
        let mut f = Fixture::new(&[]);
        let tgz = f.publish("@acme/widget", "1.0.0");
        let full = f.get("/@acme%2fwidget");
        assert_eq!(full.status, 200);
        let doc = full.json();
        assert_eq!(doc["dist-tags"]["latest"], "1.0.0");
        let url = doc["versions"]["1.0.0"]["dist"]["tarball"]
            .as_str()
            .unwrap();
        assert_eq!(url, "http://registry.test/@acme/widget/-/widget-1.0.0.tgz");
        let corgi = f.call(Method::Get, "/@acme%2fwidget", &[("Accept", CORGI)], b"");
        assert_eq!(corgi.header("content-type"), Some(CORGI));
        assert!(corgi.json()["versions"]["1.0.0"]["dist"].is_object());
        let t = f.get("/@acme/widget/-/widget-1.0.0.tgz");
        assert_eq!((t.status, t.body), (200, tgz));
    }

    #[test]
    fn a_version_published_twice_is_409_and_changes_nothing() {
        let mut f = Fixture::new(&[]);
        f.publish("plain", "1.0.0");
        let before = f.get("/plain").body;
        let again = publish_body("plain", "1.0.0", b"other bytes");
        let a = f.call(Method::Put, "/plain", &[], again.to_string().as_bytes());
        assert_eq!(a.status, 409);
        assert!(a.json()["error"].as_str().unwrap().contains("1.0.0"));
        assert_eq!(f.get("/plain").body, before);
    }

    #[test]
    fn a_tarball_whose_integrity_does_not_match_is_400_and_nothing_is_stored() {
        let mut f = Fixture::new(&[]);
        let mut body = publish_body("plain", "1.0.0", b"the bytes");
        body["versions"]["1.0.0"]["dist"]["integrity"] = "sha512-AAAA".into();
        let a = f.call(Method::Put, "/plain", &[], body.to_string().as_bytes());
        assert_eq!(a.status, 400, "{}", String::from_utf8_lossy(&a.body));
        assert!(
            a.json()["error"].as_str().unwrap().contains("integrity"),
            "{}",
            String::from_utf8_lossy(&a.body)
        );
        assert_eq!(f.get("/plain").status, 404);
        assert_eq!(f.get("/plain/-/plain-1.0.0.tgz").status, 404);
        let mut files = 0;
        let mut dirs = vec![f.dir.join("storage")];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                if e.path().is_dir() {
                    dirs.push(e.path());
                } else {
                    files += 1;
                }
            }
        }
        assert_eq!(files, 0, "no tarball bytes were kept");
    }

    #[test]
    fn writes_need_a_login_in_local_mode() {
        let mut f = Fixture::new(&[("auth.type", "local")]);
        let body = publish_body("plain", "1.0.0", b"x");
        let a = f.call(Method::Put, "/plain", &[], body.to_string().as_bytes());
        assert_eq!(a.status, 401);
        let a = f.call(
            Method::Put,
            "/-/package/plain/dist-tags/beta",
            &[],
            b"\"1.0.0\"",
        );
        assert_eq!(a.status, 401);
    }
}

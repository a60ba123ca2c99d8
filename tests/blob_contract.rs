//! One contract for every blob-store backend, run unchanged against the local directory and
//! against a real S3-compatible server (s3s-fs):
//! - put-if-absent: the first put creates, a second put of the same key changes nothing;
//! - get streams the bytes back with their length; missing keys are `None`/`false`;
//! - delete removes, and removing a missing key is fine; a deleted key can be created again;
//! - list returns every key, sorted, and nothing else (no temp files, nothing outside the prefix);
//! - eight threads racing to create one key: the object holds one racer's whole bytes, and
//!   exactly one racer wins where the backend makes creation exclusive (`Fixture::exclusive`);
//! - an 8 MB object streams back intact; keys that could escape the store are refused.

use crate::support::s3::{S3Server, ACCESS_KEY, BUCKET, SECRET_KEY};
use crate::support::TempDir;
use nmr::config::{S3Credentials, Secret};
use nmr::store::blob::BlobStore;
use std::io::Read;

/// A store and what has to live as long as it does.
pub struct Fixture {
    pub store: BlobStore,
    /// Whether concurrent creations of one key have exactly one winner. The local backend
    /// guarantees it (hard_link). S3 does with real conditional writes, but s3s-fs 0.14.1
    /// checks `If-None-Match` before writing, not atomically, so racing puts can all succeed
    /// there; nmr itself never races on a key (a package's writes hold its lock, and keys are
    /// per package).
    pub exclusive: bool,
    _dir: TempDir,
    _server: Option<S3Server>,
}

/// The S3 section of a configuration pointing at `server`'s bucket.
pub fn s3_config(server: &S3Server, prefix: &str) -> nmr::config::S3 {
    nmr::config::S3 {
        bucket: BUCKET.into(),
        region: "us-east-1".into(),
        endpoint: Some(server.endpoint()),
        path_style: true,
        prefix: prefix.into(),
        credentials: Ok(S3Credentials {
            access_key_id: ACCESS_KEY.into(),
            secret_access_key: Secret(SECRET_KEY.into()),
            source: "config",
        }),
        redirect: false,
        expires: 60,
    }
}

pub fn local() -> Fixture {
    let dir = TempDir::new("blobs");
    Fixture {
        store: BlobStore::open_local(&dir.path().join("storage")).unwrap(),
        exclusive: true,
        _dir: dir,
        _server: None,
    }
}

pub fn s3() -> Fixture {
    let server = S3Server::start();
    let store = BlobStore::S3(nmr::store::s3::S3::open(&s3_config(&server, "npm/")).unwrap());
    Fixture {
        store,
        exclusive: false,
        _dir: TempDir::new("unused"),
        _server: Some(server),
    }
}

pub fn read_all(store: &BlobStore, key: &str) -> Option<Vec<u8>> {
    let (mut r, len) = store.get(key).unwrap()?;
    let mut out = Vec::new();
    r.read_to_end(&mut out).unwrap();
    assert_eq!(len, out.len() as u64, "declared length of {key}");
    Some(out)
}

const KEY: &str = "@acme/widget/widget-1.0.0-0123456789abcdef.tgz";

fn put_is_write_once_and_get_streams_it_back(f: &Fixture) {
    let s = &f.store;
    assert!(s.put(KEY, b"first").unwrap(), "the first put creates");
    assert!(
        !s.put(KEY, b"second").unwrap(),
        "a second put reports 'exists'"
    );
    assert_eq!(read_all(s, KEY).unwrap(), b"first", "and changes nothing");
    assert!(s.exists(KEY).unwrap());
}

fn missing_keys_are_absent_not_errors(f: &Fixture) {
    let s = &f.store;
    assert!(read_all(s, KEY).is_none());
    assert!(!s.exists(KEY).unwrap());
    s.delete(KEY).unwrap();
    assert!(s.list().unwrap().is_empty());
}

fn delete_removes_and_the_key_can_be_created_again(f: &Fixture) {
    let s = &f.store;
    s.put(KEY, b"one").unwrap();
    s.delete(KEY).unwrap();
    assert!(!s.exists(KEY).unwrap());
    assert!(read_all(s, KEY).is_none());
    s.delete(KEY).unwrap();
    assert!(s.put(KEY, b"two").unwrap());
    assert_eq!(read_all(s, KEY).unwrap(), b"two");
}

fn list_returns_every_key_sorted(f: &Fixture) {
    let s = &f.store;
    let keys = [
        "plainpkg/plainpkg-1.0.0-aa.tgz",
        "@acme/widget/widget-1.1.0-bb.tgz",
        KEY,
        "@acme/widget/widget-1.0.0-cc.sigstore",
    ];
    for k in keys {
        s.put(k, k.as_bytes()).unwrap();
    }
    let mut want: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    want.sort();
    assert_eq!(s.list().unwrap(), want);
    s.delete(keys[0]).unwrap();
    assert_eq!(s.list().unwrap().len(), keys.len() - 1);
}

fn a_race_to_create_one_key_has_one_winner(f: &Fixture) {
    let s = &f.store;
    let barrier = std::sync::Barrier::new(8);
    let wins: Vec<(bool, Vec<u8>)> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..8u8)
            .map(|i| {
                let barrier = &barrier;
                scope.spawn(move || {
                    let bytes = vec![i; 4096];
                    barrier.wait();
                    (s.put(KEY, &bytes).unwrap(), bytes)
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let winners: Vec<&Vec<u8>> = wins.iter().filter(|(w, _)| *w).map(|(_, b)| b).collect();
    if f.exclusive {
        assert_eq!(winners.len(), 1, "exactly one put created the object");
    }
    let stored = read_all(s, KEY).unwrap();
    assert!(
        winners.contains(&&stored),
        "the object holds the whole bytes of a put that reported creating it"
    );
}

fn large_objects_stream_back_intact(f: &Fixture) {
    let s = &f.store;
    let big: Vec<u8> = (0..8u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    assert!(s.put(KEY, &big).unwrap());
    let (mut r, len) = s.get(KEY).unwrap().unwrap();
    assert_eq!(len, big.len() as u64);
    // Small reads, as a server copying a body to a socket makes them: the stream must not need
    // buffering to be whole.
    let mut got = Vec::with_capacity(big.len());
    let mut buf = [0u8; 8192];
    loop {
        let n = r.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    assert!(got == big, "8 MB came back changed");
}

fn keys_that_could_escape_are_refused(f: &Fixture) {
    let s = &f.store;
    for k in [
        "../x",
        "/etc/passwd",
        "a/../../x",
        "a//b",
        ".tmp/x",
        "",
        "a/.hidden",
    ] {
        assert!(s.put(k, b"x").is_err(), "{k:?}");
        assert!(s.get(k).is_err(), "{k:?}");
    }
    assert!(s.list().unwrap().is_empty());
}

/// The contract as tests for both backends: `mod local` and `mod s3` each get one test per
/// property, calling it with a fresh, empty store.
macro_rules! contract {
    ($($property:ident),+ $(,)?) => {
        mod local {
            $(#[test] fn $property() { super::$property(&super::local()) })+
        }
        mod s3 {
            $(#[test] fn $property() { super::$property(&super::s3()) })+
        }
    };
}

contract!(
    put_is_write_once_and_get_streams_it_back,
    missing_keys_are_absent_not_errors,
    delete_removes_and_the_key_can_be_created_again,
    list_returns_every_key_sorted,
    a_race_to_create_one_key_has_one_winner,
    large_objects_stream_back_intact,
    keys_that_could_escape_are_refused,
);

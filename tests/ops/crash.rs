//! Crash safety:
//! - `kill -9` at random moments during a stream of concurrent publishes, six times, then a
//!   restart: every publish answered 2xx is there with its bytes, every version listed has
//!   intact bytes, no upload temp file is left, and `nmr fsck` finds nothing wrong;
//! - a disk that fills up during an upload: 507, nothing committed, no temp file left, and
//!   publishing works again once the upload that did not fit is gone.

use crate::support::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A publish over a raw connection that may die under it: the status, or `None`.
fn try_publish(port: u16, name: &str, version: &str, tgz: &[u8]) -> Option<u16> {
    let body = publish_body(name, version, tgz, "latest").to_string();
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(60))).ok()?;
    write!(
        s,
        "PUT /{name} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .ok()?;
    s.write_all(body.as_bytes()).ok()?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).ok()?;
    let head = String::from_utf8_lossy(&out);
    head.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

/// A small pseudo-random generator (xorshift), seeded from the clock and printed, so a failing
/// run can be repeated with `NMR_TEST_SEED`.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let seed = std::env::var("NMR_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    | 1
            });
        eprintln!("crash test seed: NMR_TEST_SEED={seed}");
        Rng(seed)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn tmp_files(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("data/storage/.tmp"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// `nmr fsck` in a data dir: exit code and output.
pub fn fsck(dir: &Path, args: &[&str]) -> (i32, String) {
    let out = nmr_command(dir).arg("fsck").args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

type Acked = Arc<Mutex<Vec<(String, String, Vec<u8>)>>>;

#[test]
fn kill_9_during_concurrent_publishes_loses_no_acknowledged_publish() {
    let mut rng = Rng::new();
    let acked: Acked = Arc::default();
    let mut dir = TempDir::new("crash");
    for round in 0..6 {
        let reg = Registry::start_in(dir, &[], &[]);
        assert_eq!(
            tmp_files(reg.dir.path()),
            0,
            "upload temp files are removed at start"
        );
        let successes = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let publishers: Vec<_> = (0..4)
            .map(|t| {
                let (acked, successes, stop) = (acked.clone(), successes.clone(), stop.clone());
                let (port, mut rng) = (reg.port, Rng(rng.next() | 1));
                std::thread::spawn(move || {
                    for i in 0.. {
                        if stop.load(SeqCst) {
                            break;
                        }
                        let (name, version) = (format!("crash-{t}"), format!("{round}.{i}.0"));
                        // Up to 600 KB, so that kills land in the middle of writes too.
                        let len = 1 + rng.below(600_000) as usize;
                        let tgz: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                        match try_publish(port, &name, &version, &tgz) {
                            Some(201) => {
                                acked.lock().unwrap().push((name, version, tgz));
                                successes.fetch_add(1, SeqCst);
                            }
                            Some(s) => panic!("{name}@{version}: status {s}"),
                            None => break,
                        }
                    }
                })
            })
            .collect();
        let target = 3 + rng.below(10) as usize;
        wait_for("publishes to land", || {
            (successes.load(SeqCst) >= target).then_some(())
        });
        dir = reg.stop();
        stop.store(true, SeqCst);
        for p in publishers {
            p.join().unwrap();
        }
    }

    let reg = Registry::start_in(dir, &[], &[]);
    assert_eq!(tmp_files(reg.dir.path()), 0);
    let acked = acked.lock().unwrap();
    assert!(acked.len() >= 18, "{} publishes acknowledged", acked.len());
    for (name, version, tgz) in acked.iter() {
        let doc = reg.get(&format!("/{name}")).json();
        assert_eq!(
            doc["versions"][version]["dist"]["integrity"],
            integrity(tgz),
            "{name}@{version} was acknowledged"
        );
        let r = reg.get(&format!("/{name}/-/{name}-{version}.tgz"));
        assert!(
            r.status == 200 && &r.body == tgz,
            "{name}@{version}: {}",
            r.status
        );
    }
    // Versions committed whose answer the kill swallowed are fine, but never half there.
    for t in 0..4 {
        let name = format!("crash-{t}");
        let doc = reg.get(&format!("/{name}")).json();
        for (version, v) in doc["versions"].as_object().unwrap() {
            let r = reg.get(&format!("/{name}/-/{name}-{version}.tgz"));
            assert_eq!(r.status, 200, "{name}@{version}");
            assert_eq!(
                integrity(&r.body),
                v["dist"]["integrity"],
                "{name}@{version}"
            );
        }
    }
    let (code, out) = fsck(reg.dir.path(), &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("0 missing, 0 corrupt; 0 orphans"), "{out}");
}

/// A tmpfs mounted on a directory for the length of a test; unmounted (and the directory
/// tree removed) when dropped, after the registry using it.
struct Mounted(PathBuf, PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

#[test]
fn a_full_disk_during_an_upload_is_507_and_commits_nothing() {
    let dir = TempDir::new("full");
    let root = dir.path().to_path_buf();
    let storage = root.join("data/storage");
    std::fs::create_dir_all(&storage).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&storage)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let _guard = mounted.then(|| Mounted(storage.clone(), root.clone()));
    let reg = if mounted {
        eprintln!("tarball storage on a 1 MiB tmpfs");
        Registry::start_in(dir, &[], &[])
    } else {
        // Without the right to mount: a file-size limit fails the same write with EFBIG.
        eprintln!("cannot mount a tmpfs here; limiting nmr's file size to 1 MiB instead");
        Registry::start_under(dir, Some("trap '' XFSZ; ulimit -f 2048"), &[], &[])
    };
    raw_publish(&reg, "fits", "1.0.0");
    let before = reg.snapshot();

    // 2 MiB of tarball, sent gzipped: the request body is small (and lands in the front's
    // spool elsewhere); the tarball file is what does not fit.
    let tgz = vec![0u8; 2 << 20];
    let body = publish_body("toobig", "1.0.0", &tgz, "latest").to_string();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(body.as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    let r = reg.request(
        "PUT",
        "/toobig",
        &[
            ("Content-Type", "application/json"),
            ("Content-Encoding", "gzip"),
        ],
        &gz,
    );
    assert_eq!(r.status, 507, "{}", r.text());
    assert!(r.error().contains("storage is full"), "{}", r.text());
    assert_eq!(
        reg.snapshot(),
        before,
        "nothing committed, no temp file left"
    );
    assert_eq!(reg.get("/toobig").status, 404);
    let log = reg.settled_log();
    assert!(
        log.contains("No space left on device") || log.contains("File too large"),
        "{log}"
    );
    raw_publish(&reg, "fits", "1.1.0");
}

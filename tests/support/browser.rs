//! Real headless Chromium for the web UI tests: the DOM a page has once loaded (after any script
//! that could run did), and screenshots. Each run gets a fresh profile directory and reaches
//! no host but 127.0.0.1.

use super::TempDir;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The Chromium binary: `$NMR_TEST_CHROMIUM`, else `chromium` or `chromium-browser` on PATH.
/// Panics with the install command when there is none, so a machine without it fails loudly.
pub fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("NMR_TEST_CHROMIUM") {
        return PathBuf::from(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser"] {
            let p = dir.join(name);
            if p.is_file() {
                return p;
            }
        }
    }
    panic!("Chromium is needed for the web UI tests: apt-get install -y chromium (.ci/run does)");
}

/// Runs headless Chromium with `args` then `url`, and returns what it printed on stdout.
fn run(args: &[&str], url: &str) -> String {
    let profile = TempDir::new("chromium");
    let profile_arg = format!("--user-data-dir={}", profile.path().display());
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            // Every host but the registry's fails at once, without a DNS query: README images
            // and links name other hosts, and the tests talk only to 127.0.0.1.
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            &profile_arg,
        ])
        .args(args)
        .arg(url)
        .env("HOME", profile.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    // Chromium on a busy two-core machine can take a while; a hung one must not hang the suite.
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish with {url} within 120 s");
        }
        // Only to spare the CPU between polls.
        std::thread::sleep(Duration::from_millis(50));
    };
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    assert!(
        status.success(),
        "chromium failed on {url}: {status}\n{err}"
    );
    out
}

/// The page's DOM once it has loaded, as Chromium serialises it.
pub fn dump_dom(url: &str) -> String {
    let dom = run(&["--dump-dom"], url);
    assert!(dom.contains("<html"), "no document from {url}: {dom}");
    dom
}

/// A 1200×1600 screenshot of the page, written to `path`.
pub fn screenshot(url: &str, path: &Path) {
    let _ = std::fs::remove_file(path);
    let arg = format!("--screenshot={}", path.display());
    run(&[&arg, "--window-size=1200,1600"], url);
    let png = std::fs::read(path).unwrap_or_else(|e| panic!("no screenshot at {path:?}: {e}"));
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    assert_eq!(width, 1200, "screenshot width");
}

//! A real S3-compatible server for the tests: `s3s-fs` on a free loopback port, with its own
//! data directory and one bucket. It checks SigV4 signatures (headers and presigned URLs) and
//! honours `If-None-Match`, so what passes here is what a real S3 would accept.

use super::{nmr_command, Registry, TempDir};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

pub const ACCESS_KEY: &str = "nmr-test-access";
pub const SECRET_KEY: &str = "nmr-test-secret-0123456789";
pub const BUCKET: &str = "tarballs";

const INSTALL: &str = "cargo install s3s-fs --version 0.14.1 --features binary --locked";

/// The `s3s-fs` binary: `$NMR_TEST_S3S_FS`, else the first on `PATH`, else cargo's bin dir.
/// A missing binary fails the test with the install command: the S3 tests never skip.
pub fn binary() -> PathBuf {
    if let Some(p) = std::env::var_os("NMR_TEST_S3S_FS") {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "NMR_TEST_S3S_FS={} is not a file; install s3s-fs with: {INSTALL}",
            p.display()
        );
        return p;
    }
    let cargo_bin = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))
        .map(|c| c.join("bin"));
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .chain(cargo_bin)
        .map(|d| d.join("s3s-fs"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("s3s-fs is not installed (the S3 tests need it); install it with: {INSTALL}")
        })
}

/// A running s3s-fs holding [`BUCKET`].
pub struct S3Server {
    child: Option<Child>,
    pub port: u16,
    /// The server's root: one directory per bucket, one file per object.
    pub dir: TempDir,
    pub log: Arc<Mutex<String>>,
}

impl S3Server {
    pub fn start() -> S3Server {
        let dir = TempDir::new("s3");
        std::fs::create_dir_all(dir.path().join(BUCKET)).unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (child, port) = spawn(dir.path(), 0, SECRET_KEY, &log);
        S3Server {
            child: Some(child),
            port,
            dir,
            log,
        }
    }

    /// Stops the server; its data stays for [`S3Server::restart`].
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port and data.
    pub fn restart(&mut self) {
        self.restart_with_secret(SECRET_KEY);
    }

    /// Starts it again on the same port and data, accepting another secret key (as when the
    /// key nmr uses has been rotated or revoked).
    pub fn restart_with_secret(&mut self, secret: &str) {
        self.stop();
        let (child, port) = spawn(self.dir.path(), self.port, secret, &self.log);
        assert_eq!(port, self.port);
        self.child = Some(child);
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The `--set` flags that put nmr's tarballs in this server's bucket.
    pub fn flags(&self) -> Vec<String> {
        [
            "storage.type=s3".to_string(),
            format!("storage.s3.bucket={BUCKET}"),
            format!("storage.s3.endpoint={}", self.endpoint()),
            "storage.s3.path_style=true".into(),
            format!("storage.s3.access_key_id={ACCESS_KEY}"),
            format!("storage.s3.secret_access_key={SECRET_KEY}"),
        ]
        .into_iter()
        .flat_map(|kv| ["--set".to_string(), kv])
        .collect()
    }

    /// Starts nmr on this bucket, with more flags after the storage ones.
    pub fn registry(&self, extra: &[&str]) -> Registry {
        self.registry_in(TempDir::new("registry"), extra)
    }

    /// Starts nmr on this bucket in an existing data dir (for restarts and copies).
    pub fn registry_in(&self, dir: TempDir, extra: &[&str]) -> Registry {
        let flags = self.flags();
        let mut args: Vec<&str> = flags.iter().map(String::as_str).collect();
        args.extend_from_slice(extra);
        Registry::start_in(dir, &args, &[])
    }

    /// `nmr ARGS` in `dir` with this bucket's flags after the arguments.
    pub fn nmr(&self, dir: &Path, args: &[&str]) -> Command {
        let mut cmd = nmr_command(dir);
        cmd.args(args).args(self.flags());
        cmd
    }

    /// Every object in the bucket: key → sha1 of its bytes, read from the server's files.
    pub fn objects(&self) -> BTreeMap<String, String> {
        let root = self.dir.path().join(BUCKET);
        let mut out = BTreeMap::new();
        let mut stack = vec![root.clone()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                let rel = p.strip_prefix(&root).unwrap().display().to_string();
                if p.is_dir() {
                    stack.push(p);
                } else if !rel.starts_with(".") {
                    out.insert(rel, super::sha1_hex(&std::fs::read(&p).unwrap()));
                }
            }
        }
        out
    }

    /// The path of an object's file, to damage it on purpose.
    pub fn object_path(&self, key: &str) -> PathBuf {
        self.dir.path().join(BUCKET).join(key)
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs s3s-fs and waits (bounded) for the line that names its port.
fn spawn(dir: &Path, port: u16, secret: &str, log: &Arc<Mutex<String>>) -> (Child, u16) {
    let mut child = Command::new(binary())
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--access-key", ACCESS_KEY, "--secret-key", secret])
        .arg(dir)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run s3s-fs: {e}; install it with: {INSTALL}"));
    let (tx, rx) = mpsc::channel();
    for pipe in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let (tx, log) = (tx.clone(), log.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split("server is running at http://127.0.0.1:").nth(1) {
                    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                    let _ = tx.send(digits.parse::<u16>().unwrap());
                }
                let mut l = log.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
    }
    match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(p) => (child, p),
        Err(_) => {
            let _ = child.kill();
            panic!("s3s-fs did not start; log:\n{}", log.lock().unwrap());
        }
    }
}

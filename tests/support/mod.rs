//! Test harness: starts the real `nmr` binary on a free port with a temp data dir, speaks raw
//! HTTP to it, runs the real npm/pnpm/yarn clients against it, and snapshots every stored byte.

#![allow(dead_code)]

pub mod auth;
pub mod browser;
pub mod github;
pub mod http_server;
pub mod postgres;
pub mod s3;
pub mod verdaccio;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use sha1::Digest;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "nmr-test-{}-{}-{tag}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running registry.
pub struct Registry {
    child: Child,
    pub port: u16,
    /// Whether it announced `https://` (`server.tls.*` set): then only TLS clients reach it.
    pub tls: bool,
    pub dir: TempDir,
    pub log: Arc<Mutex<String>>,
}

impl Registry {
    /// Starts nmr on the embedded defaults (paths moved into a temp dir).
    pub fn start() -> Registry {
        Self::start_with(&[], &[])
    }

    /// Starts nmr with extra flags and environment variables.
    pub fn start_with(args: &[&str], env: &[(&str, &str)]) -> Registry {
        let dir = TempDir::new("registry");
        Self::start_in(dir, args, env)
    }

    /// Starts nmr on an existing data dir (for restarts).
    pub fn start_in(dir: TempDir, args: &[&str], env: &[(&str, &str)]) -> Registry {
        Self::start_under(dir, None, args, env)
    }

    /// Starts nmr through `sh -c '<setup>; exec nmr ...'`, e.g. to lower a resource limit
    /// with `ulimit` for nmr alone.
    pub fn start_under(
        dir: TempDir,
        setup: Option<&str>,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Registry {
        let mut cmd = nmr_command(dir.path());
        cmd.args(["serve", "--port", "0", "--workers", "4"])
            .args(args)
            .envs(env.iter().copied());
        if let Some(setup) = setup {
            cmd = wrapped(&cmd, setup);
        }
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn nmr");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let log2 = log.clone();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let announced = ["http", "https"].into_iter().find_map(|scheme| {
                    let at = format!("listening on {scheme}://127.0.0.1:");
                    let port = line.split(&at).nth(1)?.split_whitespace().next()?;
                    Some((scheme == "https", port.parse::<u16>().unwrap()))
                });
                if let Some(announced) = announced {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(announced);
                    }
                }
                let mut l = log2.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let (tls, port) = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(p) => p,
            Err(_) => {
                let _ = child.kill();
                panic!("nmr did not start; log:\n{}", log.lock().unwrap());
            }
        };
        Registry {
            child,
            port,
            tls,
            dir,
            log,
        }
    }

    /// Stops the process with SIGKILL and hands back its data dir.
    pub fn stop(self) -> TempDir {
        self.into_dir()
    }

    /// The base URL, with the scheme nmr announced.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The nmr process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal (`TERM`, `INT`, ...) to nmr.
    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{name} failed");
    }

    /// How nmr exited, if it has.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().unwrap()
    }

    /// Waits (bounded) for nmr to exit and says how it did.
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        wait_for("nmr to exit", || self.exited())
    }

    /// Hands back the data dir of a process that has exited.
    pub fn into_dir(mut self) -> TempDir {
        let dir = std::mem::replace(&mut self.dir, TempDir(PathBuf::new()));
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::mem::forget(self);
        dir
    }

    /// Sends one request and reads the whole response.
    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
        // Plain HTTP to a TLS port would fail in ways that hide the mistake.
        assert!(!self.tls, "raw HTTP helpers cannot talk to {}", self.url());
        let started = std::time::Instant::now();
        try_http(self.port, method, path, headers, body).unwrap_or_else(|| {
            // What nmr logged, and whether it still runs, say why: the rare failure here must
            // be diagnosable from one run.
            let state = std::fs::read_to_string(format!("/proc/{}/stat", self.pid()))
                .ok()
                .and_then(|s| s.rsplit_once(") ")?.1.chars().next())
                .map_or("gone".to_string(), |c| format!("state {c}"));
            panic!(
                "{method} {path}: no answer after {:?} (nmr: {state}); nmr's log:\n{}",
                started.elapsed(),
                self.log()
            )
        })
    }

    pub fn get(&self, path: &str) -> Resp {
        self.request("GET", path, &[], b"")
    }

    /// A GET with `Authorization: Bearer <token>`.
    pub fn get_as(&self, path: &str, token: &str) -> Resp {
        self.request(
            "GET",
            path,
            &[("Authorization", &format!("Bearer {token}"))],
            b"",
        )
    }

    pub fn put_json(&self, path: &str, body: &serde_json::Value) -> Resp {
        self.request(
            "PUT",
            path,
            &[("Content-Type", "application/json")],
            body.to_string().as_bytes(),
        )
    }

    /// Every stored byte: the files under the storage dir and every row of every table.
    pub fn snapshot(&self) -> BTreeMap<String, String> {
        snapshot(self.dir.path())
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// The log once every request answered so far has been logged: a marker request is sent and
    /// its access line awaited (workers log after answering, so lines may lag the answers).
    pub fn settled_log(&self) -> String {
        let marker = format!(
            "/-/ping?settled={}",
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        assert_eq!(self.get(&marker).status, 200);
        let line = format!("GET {marker} 200");
        wait_for("the marker request in the log", || {
            let log = self.log();
            log.contains(&line).then_some(log)
        })
    }
}

/// Polls `check` until it returns something, for at most 30 s: waiting on a condition, never
/// on the clock.
pub fn wait_for<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(t) = check() {
            return t;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "gave up waiting for {what}"
        );
        // Only to spare the CPU between polls.
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `nmr` run in `dir` with a clean environment: no NMR_* or AWS_* variables or config files
/// from the machine running the tests leak in.
pub fn nmr_command(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nmr"));
    cmd.current_dir(dir);
    for (k, _) in std::env::vars() {
        if k.starts_with("NMR_") || k.starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("XDG_CONFIG_HOME", dir.join("xdg"));
    cmd
}

/// The same command, run as `sh -c '<setup>; exec "$@"' sh <program> <args>...`.
pub fn wrapped(cmd: &Command, setup: &str) -> Command {
    let mut sh = Command::new("sh");
    sh.arg("-c")
        .arg(format!("{setup}; exec \"$@\""))
        .arg("sh")
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => sh.env(k, v),
            None => sh.env_remove(k),
        };
    }
    if let Some(d) = cmd.get_current_dir() {
        sh.current_dir(d);
    }
    sh
}

pub fn snapshot(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let storage = dir.join("data/storage");
    let mut stack = vec![storage.clone()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(&storage).unwrap().display().to_string();
                out.insert(
                    format!("file {rel}"),
                    hex(&sha1::Sha1::digest(std::fs::read(&p).unwrap())),
                );
            }
        }
    }
    let db = dir.join("data/nmr.sqlite");
    if db.exists() {
        let conn =
            rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .unwrap();
        for table in [
            "packages",
            "versions",
            "files",
            "dist_tags",
            "uplink_packages",
            "uplink_files",
            "orgs",
            "org_members",
            "teams",
            "team_members",
            "team_packages",
        ] {
            let mut st = conn.prepare(&format!("SELECT * FROM {table}")).unwrap();
            let n = st.column_count();
            let rows = st
                .query_map([], |r| {
                    let cols: Vec<String> = (0..n)
                        .map(|i| format!("{:?}", r.get_ref(i).unwrap()))
                        .collect();
                    Ok(cols.join("|"))
                })
                .unwrap();
            for (i, row) in rows.enumerate() {
                out.insert(format!("{table} {i:06}"), row.unwrap());
            }
        }
    }
    out
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Asserts an error answer: its status, and an `error` text holding every one of `parts`.
pub fn expect_error(r: &Resp, status: u16, parts: &[&str]) {
    assert_eq!(r.status, status, "{}", r.text());
    let e = r.error();
    assert!(
        parts.iter().all(|p| e.contains(p)),
        "{e} lacks one of {parts:?}"
    );
}

impl Resp {
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
    /// The `error` text of an error response; panics when the body is not `{"error": "..."}`.
    pub fn error(&self) -> String {
        self.json()["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error field: {}", String::from_utf8_lossy(&self.body)))
            .to_string()
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A raw connection to nmr, reads bounded by a minute.
pub fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    s
}

/// A minimal HTTP/1.1 client over a raw socket: exact control over what is sent.
pub fn http(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
    try_http(port, method, path, headers, body).expect("the connection closed without an answer")
}

/// [`http`], with `None` when the connection closes (or a read times out) before an answer.
pub fn try_http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<Resp> {
    let mut s = connect(port);
    let mut req = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: 127.0.0.1:{port}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !headers.iter().any(|(k, _)| {
        k.eq_ignore_ascii_case("content-length") || k.eq_ignore_ascii_case("transfer-encoding")
    }) && (!body.is_empty() || method == "PUT" || method == "POST")
    {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    // The server may answer (e.g. 413) before reading a large body and close; that is fine.
    let _ = s.write_all(body);
    read_response(&mut s, method == "HEAD")
}

/// One `read`, tried again when it fails with EINTR: Linux never restarts a read of a socket
/// with a receive timeout after this process was stopped and continued, or after a signal
/// handler ran (signal(7)), and a busy test machine does stop and continue processes.
pub fn read_some(s: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match s.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Reads one response from a raw connection (by its Content-Length when it has one);
/// `None` when the connection closes first.
pub fn read_response(s: &mut impl Read, head: bool) -> Option<Resp> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head_only = head;
            let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok());
            let bodyless = head_only || head.starts_with("http/1.1 304");
            match len {
                _ if bodyless => break,
                Some(n) if raw.len() >= end + 4 + n => break,
                _ => {}
            }
        }
        match read_some(s, &mut buf) {
            Ok(0) => break,
            Err(e) => {
                eprintln!(
                    "read_response: {e} ({:?}) after {} bytes",
                    e.kind(),
                    raw.len()
                );
                break;
            }
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
    }
    raw.windows(4)
        .any(|w| w == b"\r\n\r\n")
        .then(|| parse_response(&raw, head))
}

pub fn parse_response(raw: &[u8], head: bool) -> Resp {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(raw)));
    let head_text = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head_text.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let rest = &raw[end + 4..];
    let declared = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok());
    let rest = &rest[..declared.unwrap_or(rest.len()).min(rest.len())];
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if head {
        Vec::new()
    } else if chunked {
        let mut out = Vec::new();
        let mut r = rest;
        loop {
            let nl = r.windows(2).position(|w| w == b"\r\n").unwrap();
            let n =
                usize::from_str_radix(std::str::from_utf8(&r[..nl]).unwrap().trim(), 16).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&r[nl + 2..nl + 2 + n]);
            r = &r[nl + 4 + n..];
        }
        out
    } else {
        rest.to_vec()
    };
    Resp {
        status,
        headers,
        body,
    }
}

/// `body` in chunked transfer coding: chunks of `size` bytes, each size line followed by
/// `ext` (e.g. `;name=value`, or empty), then the last chunk and `trailer` (header lines).
pub fn chunked(body: &[u8], size: usize, ext: &str, trailer: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for part in body.chunks(size) {
        out.extend_from_slice(format!("{:x}{ext}\r\n", part.len()).as_bytes());
        out.extend_from_slice(part);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("0\r\n{trailer}\r\n").as_bytes());
    out
}

/// Installs `name@version` with npm into a new app under `work` and checks that it loads.
pub fn npm_installs(reg: &Registry, work: &Path, name: &str, version: &str) {
    let app = make_app(work, "app", serde_json::json!({ name: version }));
    Client::new(reg).ok("npm", &["install"], &app);
    assert_eq!(node_require(&app, name), format!("{name}@{version}"));
}

/// Gzip of some deterministic bytes: a stand-in tarball for raw-HTTP publishes.
pub fn fake_tgz(seed: &str) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(format!("package contents for {seed}").as_bytes())
        .unwrap();
    enc.finish().unwrap()
}

pub fn sha1_hex(b: &[u8]) -> String {
    hex(&sha1::Sha1::digest(b))
}

pub fn integrity(b: &[u8]) -> String {
    format!(
        "sha512-{}",
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha512::digest(b))
    )
}

/// A publish body as npm 11 builds it, for `name@version` with tarball bytes `tgz`.
pub fn publish_body(name: &str, version: &str, tgz: &[u8], tag: &str) -> serde_json::Value {
    let base = name.rsplit('/').next().unwrap();
    serde_json::json!({
        "_id": name,
        "name": name,
        "description": "test package",
        "dist-tags": {tag: version},
        "versions": {version: {
            "name": name, "version": version, "description": "test package", "main": "index.js",
            "license": "MIT", "dependencies": {}, "readme": "# readme", "readmeFilename": "README.md",
            "_id": format!("{name}@{version}"),
            "dist": {
                "integrity": integrity(tgz),
                "shasum": sha1_hex(tgz),
                "tarball": format!("http://elsewhere.invalid/{name}/-/{base}-{version}.tgz")
            }
        }},
        "access": null,
        "_attachments": {format!("{name}-{version}.tgz"): {
            "content_type": "application/octet-stream",
            "data": base64::engine::general_purpose::STANDARD.encode(tgz),
            "length": tgz.len()
        }}
    })
}

/// Publishes through raw HTTP, asserting success.
pub fn raw_publish(reg: &Registry, name: &str, version: &str) -> Vec<u8> {
    let tgz = fake_tgz(&format!("{name}@{version}"));
    let r = reg.put_json(
        &format!("/{}", name.replace('/', "%2f")),
        &publish_body(name, version, &tgz, "latest"),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    tgz
}

/// A client run: npm, pnpm or yarn with config isolated in a temp dir.
pub struct Client {
    pub home: TempDir,
    pub registry: String,
    /// The CA file the npmrc names as `cafile`, for a registry on HTTPS.
    pub cafile: Option<PathBuf>,
}

impl Client {
    pub fn new(reg: &Registry) -> Client {
        Self::with_cafile(reg, None)
    }

    /// A client of a registry on HTTPS that trusts the CA in `cafile` (through the npmrc's
    /// `cafile`, as an operator would set it up; certificate checks stay on).
    pub fn trusting(reg: &Registry, cafile: &Path) -> Client {
        Self::with_cafile(reg, Some(cafile.to_path_buf()))
    }

    fn with_cafile(reg: &Registry, cafile: Option<PathBuf>) -> Client {
        let home = TempDir::new("client");
        let registry = format!("{}/", reg.url());
        let c = Client {
            home,
            registry,
            cafile,
        };
        c.set_token(Some("test-token"));
        c
    }

    /// Replaces the token this client sends (`None`: send none).
    pub fn set_token(&self, token: Option<&str>) {
        // The npmrc keys credentials by `//host:port/path/`, whatever the scheme.
        let hostpath = self.registry.split_once(':').unwrap().1;
        let line = token.map_or(String::new(), |t| format!("{hostpath}:_authToken={t}\n"));
        std::fs::write(
            self.home.path().join("npmrc"),
            format!("{}{line}", self.npmrc_base()),
        )
        .unwrap();
    }

    /// The npmrc lines every client of this registry needs: where it is and whom to trust.
    fn npmrc_base(&self) -> String {
        let mut text = format!("registry={}\n", self.registry);
        if let Some(ca) = &self.cafile {
            text.push_str(&format!("cafile={}\n", ca.display()));
        }
        text
    }

    /// Runs a client command in `cwd` and returns its output.
    pub fn run(&self, program: &str, args: &[&str], cwd: &Path) -> Output {
        self.command(program, args, cwd)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run {program}: {e} (is it installed? .ci/run installs it)")
            })
    }

    /// The command for a client, with this client's isolated configuration.
    pub fn command(&self, program: &str, args: &[&str], cwd: &Path) -> Command {
        let h = self.home.path();
        let mut cmd = Command::new(program);
        cmd.args(args)
            .current_dir(cwd)
            .env("HOME", h)
            .env("npm_config_userconfig", h.join("npmrc"))
            .env("npm_config_cache", h.join("npm-cache"))
            .env("npm_config_update_notifier", "false")
            .env("npm_config_fund", "false")
            .env("npm_config_registry", &self.registry)
            .env("XDG_CONFIG_HOME", h.join("xdg"))
            .env("XDG_DATA_HOME", h.join("xdg-data"))
            .env("XDG_CACHE_HOME", h.join("xdg-cache"))
            .env("XDG_STATE_HOME", h.join("xdg-state"))
            .env("YARN_CACHE_FOLDER", h.join("yarn-cache"))
            .env_remove("CI");
        cmd
    }

    /// Runs a client command and panics with its output unless it succeeds.
    pub fn ok(&self, program: &str, args: &[&str], cwd: &Path) -> String {
        let out = self.run(program, args, cwd);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{program} {args:?} failed:\n{text}");
        text
    }

    /// `pnpm install` in `app` against this client's registry, with its own store.
    pub fn pnpm_install(&self, app: &Path, store: &Path) -> String {
        // pnpm reads the project's .npmrc for the registry (and the CA, on HTTPS).
        std::fs::write(app.join(".npmrc"), self.npmrc_base()).unwrap();
        self.ok(
            "pnpm",
            &["install", "--store-dir", store.to_str().unwrap()],
            app,
        )
    }

    /// `yarn install` in `app`, with the registry in the project's `.yarnrc` (yarn 1 reads the
    /// CA from the npmrc) and its cache in `cache`.
    pub fn yarn_install(&self, app: &Path, cache: &Path) -> String {
        std::fs::write(
            app.join(".yarnrc"),
            format!("registry \"{}\"\n", self.registry),
        )
        .unwrap();
        let cache = cache.to_str().unwrap();
        self.ok(
            "yarn",
            &["install", "--non-interactive", "--cache-folder", cache],
            app,
        )
    }
}

/// Writes a package directory with package.json, index.js and README.md.
pub fn make_package(dir: &Path, manifest: serde_json::Value) -> PathBuf {
    let name = manifest["name"].as_str().unwrap().replace(['@', '/'], "_");
    let version = manifest["version"].as_str().unwrap();
    let p = dir.join(format!("{name}-{version}"));
    std::fs::create_dir_all(&p).unwrap();
    std::fs::write(
        p.join("package.json"),
        serde_json::to_string_pretty(&manifest).unwrap(),
    )
    .unwrap();
    std::fs::write(
        p.join("index.js"),
        format!(
            "module.exports = {:?};\n",
            format!("{}@{version}", manifest["name"].as_str().unwrap())
        ),
    )
    .unwrap();
    std::fs::write(
        p.join("README.md"),
        format!("# {}\n", manifest["name"].as_str().unwrap()),
    )
    .unwrap();
    p
}

/// Writes an app directory that depends on `deps`.
pub fn make_app(dir: &Path, tag: &str, deps: serde_json::Value) -> PathBuf {
    let p = dir.join(tag);
    std::fs::create_dir_all(&p).unwrap();
    std::fs::write(
        p.join("package.json"),
        serde_json::json!({"name": tag, "version": "1.0.0", "private": true, "dependencies": deps})
            .to_string(),
    )
    .unwrap();
    p
}

/// What `require(module)` gives in an installed app, as node prints it.
pub fn node_require(app: &Path, module: &str) -> String {
    let out = Command::new("node")
        .arg("-e")
        .arg(format!("console.log(require({module:?}))"))
        .current_dir(app)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

//! nmr on HTTPS (`server.tls.cert` and `server.tls.key`), with a CA and certificates the
//! openssl CLI makes at test time:
//! - npm publishes and installs a scoped package trusting the CA through `cafile` (checks on),
//!   and packuments and lockfiles point at `https://`; pnpm and yarn 1 install the same way;
//!   a cert file holding the chain (leaf, then intermediate) is served whole;
//! - npm refuses an expired certificate and one for another name, the CA trusted; without the
//!   CA it refuses the good one;
//! - `SIGHUP` reloads certificate and key from the same paths: new connections get the new
//!   certificate, a connection opened before keeps working, and a bad file (garbage, or a
//!   certificate that does not match the key) keeps the old one and says why in the log;
//! - plain HTTP to the TLS port gets no HTTP answer, and a silent or stalled handshake is cut
//!   off after `server.read_timeout`.

use crate::support::*;
use serde_json::{json, Value};
use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// `openssl ca` settings: a throwaway CA whose database lives in the Pki's directory, and one
/// extension section per kind of certificate the tests need.
const CA_CONFIG: &str = "\
[ca]
default_ca = test
[test]
dir = .
database = index.txt
new_certs_dir = issued
serial = serial
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[any]
commonName = supplied
[localhost]
subjectAltName = IP:127.0.0.1,DNS:localhost
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
[elsewhere]
subjectAltName = DNS:other.test
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
[intermediate]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
";

/// Validity periods as `openssl ca` takes them. Fixed dates: no test depends on today's, except
/// that 2020 is past.
const VALID: (&str, &str) = ("20000101000000Z", "20991231235959Z");
const EXPIRED: (&str, &str) = ("20200101000000Z", "20200201000000Z");

/// A certificate (with its chain, when it has one) and its key, as PEM files.
struct Leaf {
    cert: PathBuf,
    key: PathBuf,
    /// As `openssl x509 -serial` prints it.
    serial: String,
}

/// A root CA and the certificates it issues, made with the openssl CLI in a temp dir.
struct Pki {
    dir: TempDir,
}

impl Pki {
    fn new() -> Pki {
        let pki = Pki {
            dir: TempDir::new("pki"),
        };
        let d = pki.dir.path();
        std::fs::write(d.join("ca.cnf"), CA_CONFIG).unwrap();
        std::fs::write(d.join("index.txt"), "").unwrap();
        std::fs::create_dir(d.join("issued")).unwrap();
        pki.openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "3650",
            "-subj",
            "/CN=nmr test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        pki
    }

    /// The root certificate, the one file clients are told to trust.
    fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }

    /// `openssl ARGS` in the Pki's directory, which must succeed.
    fn openssl(&self, args: &[&str]) -> Output {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .output()
            .expect("run openssl");
        assert!(
            out.status.success(),
            "openssl {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// A new P-256 key `<name>.key` and certificate `<name>.crt` for `/CN=<cn>`, issued by
    /// `issuer` (`ca`, or an intermediate's name) with extension section `section`.
    fn issue(
        &self,
        name: &str,
        cn: &str,
        section: &str,
        serial: &str,
        (start, end): (&str, &str),
        issuer: &str,
    ) -> Leaf {
        let (key, csr, cert) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.crt"),
        );
        self.openssl(&[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            &format!("/CN={cn}"),
        ]);
        std::fs::write(self.dir.path().join("serial"), format!("{serial}\n")).unwrap();
        self.openssl(&[
            "ca",
            "-batch",
            "-config",
            "ca.cnf",
            "-cert",
            &format!("{issuer}.crt"),
            "-keyfile",
            &format!("{issuer}.key"),
            "-startdate",
            start,
            "-enddate",
            end,
            "-extensions",
            section,
            "-notext",
            "-in",
            &csr,
            "-out",
            &cert,
        ]);
        Leaf {
            cert: self.dir.path().join(cert),
            key: self.dir.path().join(key),
            serial: serial.to_string(),
        }
    }

    /// A valid certificate for 127.0.0.1 and localhost.
    fn server(&self, name: &str, serial: &str) -> Leaf {
        self.issue(name, "localhost", "localhost", serial, VALID, "ca")
    }
}

/// nmr serving `leaf` on HTTPS, with extra flags.
fn serve(leaf: &Leaf, extra: &[&str]) -> Registry {
    let cert = format!("server.tls.cert={}", leaf.cert.display());
    let key = format!("server.tls.key={}", leaf.key.display());
    let mut args = vec!["--set", &cert, "--set", &key];
    args.extend_from_slice(extra);
    let reg = Registry::start_with(&args, &[]);
    assert!(reg.tls, "nmr announced plain HTTP:\n{}", reg.log());
    reg
}

/// `GET path` over HTTPS trusting only `ca` (a fresh connection each time, so it sees the
/// certificate served now), with extra headers; status and body.
fn https_get(reg: &Registry, ca: &Path, path: &str, headers: &[(&str, &str)]) -> (u16, Vec<u8>) {
    let pem = std::fs::read(ca).unwrap();
    let root = ureq::tls::Certificate::from_pem(&pem).unwrap();
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::new_with_certs(&[root]))
        .build();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(tls)
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let mut rq = agent.get(format!("{}{path}", reg.url()));
    for (k, v) in headers {
        rq = rq.header(*k, *v);
    }
    let mut resp = rq
        .call()
        .unwrap_or_else(|e| panic!("GET {path} over HTTPS: {e}"));
    let body = resp.body_mut().read_to_vec().unwrap();
    (resp.status().as_u16(), body)
}

/// Waits for `what` in the access log (workers log after answering, and over TLS the
/// harness's raw-HTTP marker request cannot be sent).
fn wait_for_log_line(reg: &Registry, what: &str) {
    wait_for(&format!("{what:?} in the log"), || {
        reg.log().contains(what).then_some(())
    });
}

/// Output and exit status of a client command, as one text.
fn combined(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Publishes `@acme/secure@1.0.0` with npm over HTTPS.
fn publish_secure(reg: &Registry, ca: &Path, work: &Path) {
    let c = Client::trusting(reg, ca);
    let pkg =
        json!({"name": "@acme/secure", "version": "1.0.0", "main": "index.js", "license": "MIT"});
    c.ok("npm", &["publish"], &make_package(work, pkg));
}

#[test]
fn tls_npm_publishes_and_installs_a_scoped_package_trusting_the_ca_by_cafile() {
    let s = secured();
    let tarball = format!("{}/@acme/secure/-/secure-1.0.0.tgz", s.reg.url());
    assert!(tarball.starts_with(&format!("https://127.0.0.1:{}/", s.reg.port)));

    // Links follow the scheme the client used, in both packument shapes.
    for accept in ["application/json", "application/vnd.npm.install-v1+json"] {
        let (status, body) = https_get(
            &s.reg,
            &s.pki.ca(),
            "/@acme%2fsecure",
            &[("Accept", accept)],
        );
        assert_eq!(status, 200, "{accept}");
        let doc: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            doc["versions"]["1.0.0"]["dist"]["tarball"], tarball,
            "{accept}"
        );
    }

    // A second client, empty cache: the tarball really comes from the registry.
    let npmrc = std::fs::read_to_string(s.client.home.path().join("npmrc")).unwrap();
    assert!(
        npmrc.contains("cafile=") && !npmrc.contains("strict-ssl"),
        "{npmrc}"
    );
    s.client.ok("npm", &["install"], &s.app);
    assert_eq!(node_require(&s.app, "@acme/secure"), "@acme/secure@1.0.0");
    let lock: Value =
        serde_json::from_str(&std::fs::read_to_string(s.app.join("package-lock.json")).unwrap())
            .unwrap();
    assert_eq!(
        lock["packages"]["node_modules/@acme/secure"]["resolved"],
        tarball
    );
    wait_for_log_line(&s.reg, "GET /@acme/secure/-/secure-1.0.0.tgz 200");
}

/// A TLS registry holding `@acme/secure@1.0.0` (published with npm over HTTPS), a project that
/// depends on it, and a client (with an empty cache) that trusts the test CA by `cafile`.
struct Secured {
    pki: Pki,
    reg: Registry,
    work: TempDir,
    client: Client,
    app: PathBuf,
}

fn secured() -> Secured {
    let pki = Pki::new();
    let reg = serve(&pki.server("server", "A1"), &[]);
    let work = TempDir::new("work");
    publish_secure(&reg, &pki.ca(), work.path());
    let client = Client::trusting(&reg, &pki.ca());
    let app = make_app(work.path(), "app", json!({"@acme/secure": "^1.0.0"}));
    Secured {
        pki,
        reg,
        work,
        client,
        app,
    }
}

#[test]
fn tls_pnpm_installs_trusting_the_ca_by_cafile() {
    let s = secured();
    s.client
        .pnpm_install(&s.app, &s.work.path().join("pnpm-store"));
    assert_eq!(node_require(&s.app, "@acme/secure"), "@acme/secure@1.0.0");
    // The listener speaks only TLS, so a tarball fetched at all came over HTTPS.
    wait_for_log_line(&s.reg, "GET /@acme/secure/-/secure-1.0.0.tgz 200");
}

#[test]
fn tls_yarn_installs_trusting_the_ca_by_cafile() {
    let s = secured();
    s.client
        .yarn_install(&s.app, &s.work.path().join("yarn-cache"));
    assert_eq!(node_require(&s.app, "@acme/secure"), "@acme/secure@1.0.0");
    let lock = std::fs::read_to_string(s.app.join("yarn.lock")).unwrap();
    let tarball = format!("{}/@acme/secure/-/secure-1.0.0.tgz", s.reg.url());
    assert!(tarball.starts_with("https://127.0.0.1:"));
    assert!(lock.contains(&format!("resolved \"{tarball}#")), "{lock}");
    wait_for_log_line(&s.reg, "GET /@acme/secure/-/secure-1.0.0.tgz 200");
}

#[test]
fn tls_a_cert_file_with_the_chain_is_served_whole() {
    // Clients trust the root only; the intermediate must come from the server.
    let pki = Pki::new();
    pki.issue(
        "inter",
        "nmr test intermediate",
        "intermediate",
        "1A",
        VALID,
        "ca",
    );
    let leaf = pki.issue("leaf", "localhost", "localhost", "2B", VALID, "inter");
    let chain = [
        std::fs::read(&leaf.cert).unwrap(),
        std::fs::read(pki.dir.path().join("inter.crt")).unwrap(),
    ]
    .concat();
    std::fs::write(&leaf.cert, chain).unwrap();
    let reg = serve(&leaf, &[]);
    assert_eq!(https_get(&reg, &pki.ca(), "/-/ping", &[]).0, 200);
}

#[test]
fn tls_npm_refuses_expired_and_misnamed_certificates_with_the_ca_trusted() {
    let pki = Pki::new();
    let work = TempDir::new("work");
    // No retries: a refusal is final, and retrying would only slow the test down.
    let ping = ["ping", "--fetch-retries=0"];
    let cases = [
        (
            pki.issue("expired", "localhost", "localhost", "E1", EXPIRED, "ca"),
            ["CERT_HAS_EXPIRED", "certificate has expired"],
        ),
        (
            pki.issue("other", "other.test", "elsewhere", "E2", VALID, "ca"),
            [
                "ERR_TLS_CERT_ALTNAME_INVALID",
                "does not match certificate's altnames",
            ],
        ),
    ];
    for (leaf, why) in &cases {
        let reg = serve(leaf, &[]);
        let out = Client::trusting(&reg, &pki.ca()).run("npm", &ping, work.path());
        let text = combined(&out);
        assert!(!out.status.success(), "{}: {text}", leaf.cert.display());
        assert!(
            why.iter().any(|w| text.contains(w)),
            "{}: expected one of {why:?} in:\n{text}",
            leaf.cert.display()
        );
    }

    // The control: the good certificate passes with the CA and fails without it, so the
    // refusals above are about the certificates and the CA is what npm trusts.
    let reg = serve(&pki.server("server", "A1"), &[]);
    let text = Client::trusting(&reg, &pki.ca()).ok("npm", &ping, work.path());
    assert!(text.contains("PONG"), "{text}");
    let out = Client::new(&reg).run("npm", &ping, work.path());
    let text = combined(&out);
    assert!(!out.status.success(), "{text}");
    assert!(
        [
            "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
            "SELF_SIGNED_CERT_IN_CHAIN",
            "unable to get local issuer certificate"
        ]
        .iter()
        .any(|w| text.contains(w)),
        "{text}"
    );
}

/// `openssl s_client` against nmr, checking the chain and the name against `ca`.
fn s_client(port: u16, ca: &Path, extra: &[&str]) -> Command {
    // `timeout` bounds a handshake that never ends; nmr's own timeouts should come first.
    let mut cmd = Command::new("timeout");
    cmd.args(["60", "openssl", "s_client", "-connect"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["-servername", "localhost", "-verify_hostname", "localhost"])
        .args(["-verify_return_error", "-CAfile"])
        .arg(ca)
        .args(extra);
    cmd
}

/// The serial number of the certificate nmr serves to a new connection.
fn served_serial(port: u16, ca: &Path) -> String {
    let out = s_client(port, ca, &[])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "s_client: {}", combined(&out));
    let mut x509 = Command::new("openssl")
        .args(["x509", "-noout", "-serial"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // s_client prints the served certificate as PEM among its report; x509 finds it.
    x509.stdin.take().unwrap().write_all(&out.stdout).unwrap();
    let parsed = x509.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&parsed.stdout);
    text.trim()
        .strip_prefix("serial=")
        .unwrap_or_else(|| panic!("no serial in {text:?}; s_client said:\n{}", combined(&out)))
        .to_string()
}

/// A TLS connection held open by `openssl s_client`: requests in, responses out.
struct Session {
    child: Child,
    input: ChildStdin,
    output: ChildStdout,
}

impl Session {
    fn open(port: u16, ca: &Path) -> Session {
        // `-quiet`: only the server's bytes on stdout, and stdin is copied as it is.
        let mut child = s_client(port, ca, &["-quiet"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let (input, output) = (child.stdin.take().unwrap(), child.stdout.take().unwrap());
        Session {
            child,
            input,
            output,
        }
    }

    fn get(&mut self, port: u16, path: &str, close: bool) -> Resp {
        let connection = if close { "close" } else { "keep-alive" };
        write!(
            self.input,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: {connection}\r\n\r\n"
        )
        .unwrap();
        self.input.flush().unwrap();
        read_response(&mut self.output, false)
            .unwrap_or_else(|| panic!("the TLS session ended without answering GET {path}"))
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Log lines that mention a reload.
fn reload_lines(reg: &Registry) -> Vec<String> {
    reg.log()
        .lines()
        .filter(|l| l.to_ascii_lowercase().contains("reload"))
        .map(str::to_string)
        .collect()
}

/// Sends SIGHUP and returns the log line nmr writes about the reload it caused.
fn reload(reg: &Registry) -> String {
    let before = reload_lines(reg).len();
    reg.signal("HUP");
    wait_for("the reload in the log", || {
        reload_lines(reg).get(before).cloned()
    })
}

/// Writes `leaf`'s certificate and key over the files nmr was started with.
fn put_in_place(leaf: &Leaf, at: &Leaf) {
    std::fs::copy(&leaf.cert, &at.cert).unwrap();
    std::fs::copy(&leaf.key, &at.key).unwrap();
}

#[test]
fn tls_sighup_reloads_the_certificate_keeps_connections_and_survives_bad_files() {
    let pki = Pki::new();
    let (a, b, c) = (
        pki.server("a", "A1"),
        pki.server("b", "B2"),
        pki.server("c", "C3"),
    );
    // nmr reads these paths; the tests write each certificate over them in turn.
    let live = Leaf {
        cert: pki.dir.path().join("live.crt"),
        key: pki.dir.path().join("live.key"),
        serial: String::new(),
    };
    put_in_place(&a, &live);
    let reg = serve(&live, &[]);
    let ca = pki.ca();
    assert_eq!(served_serial(reg.port, &ca), a.serial);

    // Opened on certificate A, kept alive across the reload.
    let mut session = Session::open(reg.port, &ca);
    assert_eq!(session.get(reg.port, "/-/ping", false).status, 200);

    put_in_place(&b, &live);
    let line = reload(&reg);
    assert_eq!(served_serial(reg.port, &ca), b.serial, "after: {line}");
    assert_eq!(https_get(&reg, &ca, "/-/ping", &[]).0, 200);
    let r = session.get(reg.port, "/-/ping?again", true);
    assert_eq!(r.status, 200, "the connection opened before the reload");
    drop(session);

    // Garbage where the certificate was: B stays, and the log says which file and that the
    // old certificate is kept.
    std::fs::write(&live.cert, "not a certificate\n").unwrap();
    let line = reload(&reg);
    assert!(
        line.contains(live.cert.to_str().unwrap()),
        "the reload line names the bad file: {line}"
    );
    assert_eq!(served_serial(reg.port, &ca), b.serial, "after: {line}");

    // A certificate renewed without its key: serving it would fail every handshake.
    std::fs::copy(&c.cert, &live.cert).unwrap();
    std::fs::copy(&b.key, &live.key).unwrap();
    let line = reload(&reg);
    assert_eq!(served_serial(reg.port, &ca), b.serial, "after: {line}");
    assert!(
        line.to_ascii_lowercase().contains("key"),
        "the reload line says the key does not fit: {line}"
    );
    assert_eq!(https_get(&reg, &ca, "/-/ping", &[]).0, 200);

    // Both files right again: C is taken.
    std::fs::copy(&c.key, &live.key).unwrap();
    let line = reload(&reg);
    assert_eq!(served_serial(reg.port, &ca), c.serial, "after: {line}");
}

/// Reads until the server closes the connection; what came and how long it took. A read that
/// times out (the server kept the connection) fails the test.
fn until_closed(s: &mut TcpStream) -> (Vec<u8>, Duration) {
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match read_some(s, &mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            // Closed with our bytes unread: the kernel resets the connection.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("still open after {:?}: {e}", start.elapsed()),
        }
    }
    (got, start.elapsed())
}

#[test]
fn tls_plain_http_gets_no_answer_and_handshakes_count_against_the_read_timeout() {
    let pki = Pki::new();
    let reg = serve(
        &pki.server("server", "A1"),
        &["--set", "server.read_timeout=1"],
    );
    let (second, bound) = (Duration::from_millis(900), Duration::from_secs(15));

    let mut plain = connect(reg.port);
    plain
        .write_all(b"GET /-/ping HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let (got, took) = until_closed(&mut plain);
    assert!(
        !got.windows(5).any(|w| w == b"HTTP/"),
        "plain HTTP was answered: {:?}",
        String::from_utf8_lossy(&got)
    );
    assert!(took <= bound, "plain HTTP was closed after {took:?}");

    // Connected, never a byte. A TLS alert on the way out is fine; an HTTP answer is not.
    let (got, took) = until_closed(&mut connect(reg.port));
    assert!(!got.windows(5).any(|w| w == b"HTTP/"), "{got:?}");
    assert!(
        took >= second && took <= bound,
        "a silent client was closed after {took:?}"
    );

    // A ClientHello record announced (512 bytes) and never finished: the handshake stalls.
    let mut stalled = connect(reg.port);
    stalled
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .unwrap();
    let (_, took) = until_closed(&mut stalled);
    assert!(
        took >= second && took <= bound,
        "a stalled handshake was closed after {took:?}"
    );

    assert_eq!(https_get(&reg, &pki.ca(), "/-/ping", &[]).0, 200);
}

//! A real PostgreSQL for the tests: the distribution's server binaries, a cluster made by
//! `initdb` in a temp dir with SCRAM password login, listening on a free loopback port and on
//! a Unix socket in that dir. What passes here is what a real server accepts.
//!
//! The binaries come from `$NMR_TEST_PG_BIN` (a directory holding `initdb` and `pg_ctl`), else
//! the newest `/usr/lib/postgresql/*/bin` (Debian's layout), else `PATH`. Without them the
//! tests fail and name `scripts/test`, which installs the `postgresql` package: they never
//! skip. PostgreSQL refuses to run as root, so as root every server command runs as `nobody`
//! (through `runuser`), in a temp dir owned by `nobody`.

use super::TempDir;
use nmr::store::db::pg::{parse_url, Client};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

const MISSING: &str = "PostgreSQL's server binaries (initdb, pg_ctl) are not installed; run \
                       scripts/test, which installs the postgresql package, or set \
                       NMR_TEST_PG_BIN to the directory holding them";

/// The directory holding `initdb` and `pg_ctl`.
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("NMR_TEST_PG_BIN") {
        let dir = PathBuf::from(dir);
        assert!(
            dir.join("initdb").is_file() && dir.join("pg_ctl").is_file(),
            "NMR_TEST_PG_BIN={} holds no initdb and pg_ctl; {MISSING}",
            dir.display()
        );
        return dir;
    }
    // Debian installs each major version side by side: the newest one, by number.
    let newest = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let e = e.ok()?;
            let version: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .max();
    if let Some((_, bin)) = newest {
        return bin;
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file())
        .unwrap_or_else(|| panic!("{MISSING}"))
}

/// `nobody`'s uid and gid when this process runs as root (PostgreSQL's servers must not),
/// else `None`: then everything runs as ourselves.
fn server_user() -> Option<(u32, u32)> {
    // /proc/self belongs to the process's effective user.
    let euid = std::fs::metadata("/proc/self").unwrap().uid();
    if euid != 0 {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    let line = passwd
        .lines()
        .find(|l| l.starts_with("nobody:"))
        .expect("running as root, the PostgreSQL tests need a user nobody to run the server");
    let fields: Vec<&str> = line.split(':').collect();
    Some((fields[2].parse().unwrap(), fields[3].parse().unwrap()))
}

/// Hands a file or directory to the server's user, so the server can read or write it.
pub fn give(path: &Path) {
    if let Some((uid, gid)) = server_user() {
        std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap();
    }
}

/// A free loopback port: bound by the OS, then released for the server to take.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A random lower-case hex string, for passwords.
fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::getrandom(&mut buf).unwrap();
    super::hex(&buf)
}

/// A running PostgreSQL cluster with a superuser `nmr` (random password) and a database `nmr`.
pub struct Postgres {
    bin: PathBuf,
    /// The cluster's temp dir: `data/` (the cluster), the server log, the Unix socket, and
    /// TLS files for a TLS server.
    pub dir: TempDir,
    pub port: u16,
    pub password: String,
    /// Extra `postgres` options (`-c name=value ...`), kept for restarts.
    options: String,
    /// The CA that signed the server's certificate, for a server started with TLS.
    pub ca_file: Option<PathBuf>,
    databases: AtomicU64,
}

impl Postgres {
    /// A plain server (no TLS).
    pub fn start() -> Postgres {
        Self::start_with(|_| (String::new(), None))
    }

    /// One server shared by the tests that run at the same time; it stops when the last of
    /// them lets go. Each test takes its own database with [`Postgres::fresh_database`].
    pub fn shared() -> Arc<Postgres> {
        static SHARED: Mutex<Weak<Postgres>> = Mutex::new(Weak::new());
        let mut shared = SHARED.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(pg) = shared.upgrade() {
            return pg;
        }
        let pg = Arc::new(Postgres::start());
        *shared = Arc::downgrade(&pg);
        pg
    }

    /// A server with TLS on (`ssl=on`), its certificate for the name `localhost` only, issued
    /// by a test CA whose certificate is in [`Postgres::ca_file`]. Plain connections are still
    /// accepted.
    pub fn start_tls() -> Postgres {
        Self::start_with(make_certificates)
    }

    /// Makes the cluster. `prepare` gets the temp dir before the server starts (to write TLS
    /// files there) and returns the server's extra options and the CA file.
    fn start_with(prepare: fn(&Path) -> (String, Option<PathBuf>)) -> Postgres {
        let bin = bin_dir();
        let dir = TempDir::new("postgres");
        give(dir.path());
        let password = random_hex(16);
        let pwfile = dir.path().join("pwfile");
        std::fs::write(&pwfile, &password).unwrap();
        give(&pwfile);
        let (options, ca_file) = prepare(dir.path());
        let mut pg = Postgres {
            bin,
            port: 0,
            password,
            options,
            ca_file,
            dir,
            databases: AtomicU64::new(0),
        };
        pg.run_ok(
            "initdb",
            &[
                "-D",
                pg.data().to_str().unwrap(),
                "-U",
                "nmr",
                "--auth=scram-sha-256",
                "--pwfile",
                pwfile.to_str().unwrap(),
                "-E",
                "UTF8",
                "--locale=C",
                // No fsync: a test cluster need not survive a power cut, and syncing is slow.
                "--no-sync",
            ],
        );
        // The port is free when chosen but another process may take it first: try again with
        // another one then.
        let mut tries = 0;
        loop {
            pg.port = free_port();
            let out = pg.pg_ctl(&["start", "-w", "-t", "60"]);
            if out.status.success() {
                break;
            }
            tries += 1;
            assert!(tries < 5, "pg_ctl start failed:\n{}", pg.explain(&out));
        }
        let mut admin = pg.client_for("postgres");
        admin.batch("CREATE DATABASE nmr").unwrap();
        pg
    }

    /// The cluster's data directory.
    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `program` from the PostgreSQL binaries, as the server's user, in the cluster's dir (the
    /// repository may not be readable by `nobody`).
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        let mut cmd = match server_user() {
            Some(_) => {
                let mut c = Command::new("runuser");
                c.args(["-u", "nobody", "--"]).arg(path);
                c
            }
            None => Command::new(path),
        };
        cmd.current_dir(self.dir.path());
        // The server must not pick up a developer's PGPORT, PGDATA and so on.
        for (k, _) in std::env::vars() {
            if k.starts_with("PG") {
                cmd.env_remove(k);
            }
        }
        cmd
    }

    fn run_ok(&self, program: &str, args: &[&str]) -> Output {
        let out = self
            .command(program)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}; {MISSING}"));
        assert!(
            out.status.success(),
            "{program} {args:?} failed:\n{}",
            self.explain(&out)
        );
        out
    }

    /// `pg_ctl ACTION ...` on this cluster, with its listen options.
    fn pg_ctl(&self, args: &[&str]) -> Output {
        let listen = format!(
            "-k {} -h 127.0.0.1 -p {} {}",
            self.dir.path().display(),
            self.port,
            self.options
        );
        self.command("pg_ctl")
            .args(args)
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.dir.path().join("server.log"))
            .args(["-o", &listen])
            .output()
            .expect("run pg_ctl")
    }

    /// A failed command's output and the server log.
    fn explain(&self, out: &Output) -> String {
        format!(
            "{}{}\nserver log:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        )
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// The URL of database `nmr`, without TLS.
    pub fn url(&self) -> String {
        self.url_for("nmr")
    }

    /// The URL of a database on this server, without TLS.
    pub fn url_for(&self, db: &str) -> String {
        format!(
            "postgres://nmr:{}@127.0.0.1:{}/{db}?sslmode=disable",
            self.password, self.port
        )
    }

    /// The directory of the server's Unix socket.
    pub fn socket_dir(&self) -> &Path {
        self.dir.path()
    }

    /// A connection to database `db` as `nmr`, without TLS.
    pub fn client_for(&self, db: &str) -> Client {
        let config = parse_url(&self.url_for(db)).unwrap();
        Client::connect(&config)
            .unwrap_or_else(|e| panic!("cannot connect to {db}: {e}\nserver log:\n{}", self.log()))
    }

    /// Creates a new empty database `t_N` and returns its URL, so tests can share a server.
    pub fn fresh_database(&self) -> String {
        let n = self.databases.fetch_add(1, Ordering::Relaxed);
        let name = format!("t_{n}");
        self.client_for("postgres")
            .batch(&format!("CREATE DATABASE {name}"))
            .unwrap();
        self.url_for(&name)
    }

    /// Stops the server (fast: open sessions are told and closed); data stays for
    /// [`Postgres::restart`].
    pub fn stop(&self) {
        let out = self.pg_ctl(&["stop", "-w", "-t", "60", "-m", "fast"]);
        assert!(
            out.status.success(),
            "pg_ctl stop failed:\n{}",
            self.explain(&out)
        );
    }

    /// Restarts the server on the same port and data: open sessions end with 57P01.
    pub fn restart(&self) {
        let out = self.pg_ctl(&["restart", "-w", "-t", "60", "-m", "fast"]);
        assert!(
            out.status.success(),
            "pg_ctl restart failed:\n{}",
            self.explain(&out)
        );
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // Immediate: nothing in a test cluster needs a clean shutdown; the dir goes next.
        let _ = self.pg_ctl(&["stop", "-w", "-m", "immediate"]);
    }
}

/// A test CA and a certificate it issues for `localhost` (DNS name only, no IP address), in
/// `dir`, the key readable by the server's user alone as PostgreSQL insists. Returns the
/// server options that turn TLS on with them, and the CA's certificate.
fn make_certificates(dir: &Path) -> (String, Option<PathBuf>) {
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("run openssl (scripts/test installs it)");
        assert!(
            out.status.success(),
            "openssl {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"];
    openssl(&[&["genpkey"][..], &ec, &["-out", "ca.key"]].concat());
    openssl(&[
        "req",
        "-x509",
        "-new",
        "-key",
        "ca.key",
        "-subj",
        "/CN=nmr test CA",
        "-days",
        "3650",
        "-out",
        "ca.crt",
    ]);
    openssl(&[&["genpkey"][..], &ec, &["-out", "server.key"]].concat());
    openssl(&[
        "req",
        "-new",
        "-key",
        "server.key",
        "-subj",
        "/CN=localhost",
        "-out",
        "server.csr",
    ]);
    std::fs::write(
        dir.join("server.ext"),
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n\
         subjectAltName=DNS:localhost\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "3650",
        "-extfile",
        "server.ext",
        "-out",
        "server.crt",
    ]);
    for f in ["server.crt", "server.key"] {
        give(&dir.join(f));
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        dir.join("server.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let options = format!(
        "-c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
        dir.join("server.crt").display(),
        dir.join("server.key").display()
    );
    (options, Some(dir.join("ca.crt")))
}

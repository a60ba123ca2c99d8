//! A real Verdaccio 6.8 for the migration tests, on a free loopback port with a generated
//! config: its own storage directory, htpasswd accounts, and an uplink (an nmr) for the names
//! that it only caches. `scripts/test` installs it into its own directory.

use super::{http, Client, Resp, TempDir};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The names Verdaccio fetches from its uplink (and so only caches): `upstream-*`.
pub const CACHED_PREFIX: &str = "upstream-";

const INSTALL: &str = "mkdir -p ~/.cache/nmr-test/verdaccio-6.8 && cp tests/verdaccio/package.json ~/.cache/nmr-test/verdaccio-6.8/ && npm install --prefix ~/.cache/nmr-test/verdaccio-6.8 --no-audit --no-fund";

/// Where Verdaccio is installed: `$NMR_TEST_VERDACCIO`, else where `scripts/test` puts it. A
/// missing install fails the test with the command that makes it: these tests never skip.
pub fn install_dir() -> PathBuf {
    let dir = match std::env::var_os("NMR_TEST_VERDACCIO") {
        Some(d) => PathBuf::from(d),
        None => Path::new(&std::env::var_os("HOME").expect("HOME is set"))
            .join(".cache/nmr-test/verdaccio-6.8"),
    };
    let bin = dir.join("node_modules/verdaccio/bin/verdaccio");
    assert!(
        bin.is_file(),
        "Verdaccio 6.8 is not installed in {} (the migration tests need it); from the repository, run scripts/test, or: {INSTALL}",
        dir.display()
    );
    dir
}

/// A running Verdaccio.
pub struct Verdaccio {
    child: Option<Child>,
    pub port: u16,
    pub dir: TempDir,
}

impl Verdaccio {
    /// Starts Verdaccio with `uplink` as the registry it caches `upstream-*` names from, and
    /// waits until it answers.
    pub fn start(uplink: &str) -> Verdaccio {
        let install = install_dir();
        let dir = TempDir::new("verdaccio");
        // Verdaccio takes a fixed port; the one the system hands out is free just after.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let d = dir.path().display();
        let config = format!(
            "\
storage: {d}/storage
auth:
  htpasswd:
    file: {d}/htpasswd
    max_users: 100
uplinks:
  nmr:
    url: {uplink}/
packages:
  '{CACHED_PREFIX}*':
    access: $all
    proxy: nmr
  '@acme/*':
    access: $authenticated
    publish: $authenticated
    unpublish: $authenticated
  '**':
    access: $all
    publish: $authenticated
    unpublish: $authenticated
max_body_size: 50mb
web:
  enable: false
listen: 127.0.0.1:{port}
log: {{ type: stdout, format: pretty, level: warn }}
"
        );
        std::fs::write(dir.path().join("config.yaml"), config).unwrap();
        let log = std::fs::File::create(dir.path().join("log")).unwrap();
        let child = Command::new("node")
            .arg(install.join("node_modules/verdaccio/bin/verdaccio"))
            .arg("--config")
            .arg(dir.path().join("config.yaml"))
            .current_dir(dir.path())
            .env_remove("NODE_OPTIONS")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("run node");
        let mut v = Verdaccio {
            child: Some(child),
            port,
            dir,
        };
        super::wait_for("Verdaccio to answer /-/ping", || {
            if let Some(status) = v.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("Verdaccio exited ({status}); its log:\n{}", v.log());
            }
            TcpStream::connect(("127.0.0.1", port)).ok()?;
            (v.get("/-/ping", None).status == 200).then_some(())
        });
        v
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    pub fn htpasswd(&self) -> PathBuf {
        self.dir.path().join("htpasswd")
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("config.yaml")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    /// A GET, with a token when given.
    pub fn get(&self, path: &str, token: Option<&str>) -> Resp {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("Accept", "application/json")];
        if let Some(a) = &auth {
            headers.push(("Authorization", a.as_str()));
        }
        http(self.port, "GET", path, &headers, b"")
    }

    /// Creates an account as `npm adduser` does (`PUT /-/user/org.couchdb.user:NAME`) and
    /// returns its token.
    pub fn add_user(&self, name: &str, password: &str) -> String {
        let body = serde_json::json!({
            "_id": format!("org.couchdb.user:{name}"), "name": name, "password": password,
            "email": format!("{name}@example.test"), "type": "user", "roles": [],
        });
        let r = http(
            self.port,
            "PUT",
            &format!("/-/user/org.couchdb.user:{name}"),
            &[("Content-Type", "application/json")],
            body.to_string().as_bytes(),
        );
        assert_eq!(r.status, 201, "adduser {name}: {}", r.text());
        r.json()["token"].as_str().unwrap().to_string()
    }

    /// An npm client of this Verdaccio with `token`.
    pub fn client(&self, token: &str) -> Client {
        let c = Client {
            home: TempDir::new("client"),
            registry: format!("{}/", self.url()),
            cafile: None,
        };
        c.set_token(Some(token));
        c
    }

    /// Stops Verdaccio and waits for it to exit; its files stay.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Verdaccio {
    fn drop(&mut self) {
        self.stop();
    }
}

//! Moving from Verdaccio (#19), against the real Verdaccio 6.8 with nmr as its uplink U:
//! - users made with `npm adduser`'s request, scoped and unscoped packages published with the
//!   real npm (several versions, a dist-tag, a deprecation, a star, a tarball over 1 MB), one
//!   package only cached from U, and a lockfile made against Verdaccio;
//! - `nmr import --from-registry` from the running Verdaccio into a fresh nmr;
//! - Verdaccio stopped, `nmr import --from-verdaccio` of its storage and htpasswd into a fresh
//!   nmr A: `npm view` shows the same versions, tags, times and deprecations; `npm login` with
//!   the old password works (and the hash becomes nmr's own), a wrong one fails; `npm ci` and
//!   `npm install` with Verdaccio's lockfile succeed with the integrity unchanged; a second
//!   import changes nothing; the registry copy is the same as the storage import;
//! - a corrupted tarball in the storage is reported and its version skipped, htpasswd
//!   `{SHA}` and `$apr1$` users log in while a crypt(3) DES one is refused, and with
//!   `--include-cached` the package Verdaccio cached is served from nmr's upstream cache.

use crate::support::auth::{npm_login, token};
use crate::support::verdaccio::{self, Verdaccio};
use crate::support::*;
use base64::Engine;
use serde_json::{json, Value};
use sha1::Digest;
use std::path::Path;

/// `nmr ARGS` in `dir` (so on the database and storage there).
fn nmr(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = nmr_command(dir).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The packages published to Verdaccio.
const LOCAL: [&str; 3] = ["@acme/widget", "plainpkg", "bigpkg"];

/// Deterministic bytes that gzip cannot shrink: a tarball over 1 MB.
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Publishes the packages with the real npm as alice; bob stars one.
fn publish_all(v: &Verdaccio, alice: &str, bob: &str, work: &Path) {
    let c = v.client(alice);
    let pkg = |m: Value| make_package(work, m);
    for (version, extra) in [
        ("1.0.0", &[][..]),
        ("1.1.0", &[]),
        ("2.0.0-beta.1", &["--tag", "next"]),
    ] {
        let dir = pkg(
            json!({"name": "@acme/widget", "version": version, "main": "index.js",
                              "license": "MIT", "description": "a widget"}),
        );
        let mut args = vec!["publish"];
        args.extend_from_slice(extra);
        c.ok("npm", &args, &dir);
    }
    c.ok(
        "npm",
        &["dist-tag", "add", "@acme/widget@1.0.0", "stable"],
        work,
    );
    c.ok(
        "npm",
        &["deprecate", "@acme/widget@1.0.0", "use 1.1 or later"],
        work,
    );
    for version in ["1.0.0", "1.0.1"] {
        let dir = pkg(
            json!({"name": "plainpkg", "version": version, "main": "index.js",
                              "license": "MIT", "dependencies": {"@acme/widget": "^1.1.0"}}),
        );
        c.ok("npm", &["publish"], &dir);
    }
    let big =
        pkg(json!({"name": "bigpkg", "version": "1.0.0", "main": "index.js", "license": "MIT"}));
    std::fs::write(big.join("noise.bin"), noise(1_500_000)).unwrap();
    c.ok("npm", &["publish"], &big);
    v.client(bob).ok("npm", &["star", "@acme/widget"], work);
}

/// What npm shows of a package, for comparing registries: `npm view`'s versions, dist-tags
/// and times (but `modified`, which is when the registry last changed it), and each version's
/// deprecation and digests from the packument.
fn seen(c: &Client, cwd: &Path, name: &str, port: u16, token: &str) -> Value {
    let out = c.run(
        "npm",
        &["view", name, "--json", "versions", "dist-tags", "time"],
        cwd,
    );
    assert!(
        out.status.success(),
        "npm view {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut view: Value = serde_json::from_slice(&out.stdout).unwrap();
    view["time"].as_object_mut().unwrap().remove("modified");
    let r = http(
        port,
        "GET",
        &format!("/{}", name.replace('/', "%2f")),
        &[
            ("Accept", "application/json"),
            ("Authorization", &format!("Bearer {token}")),
        ],
        b"",
    );
    assert_eq!(r.status, 200, "{name}: {}", r.text());
    let doc = r.json();
    let per_version: serde_json::Map<String, Value> = doc["versions"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, m)| {
            (
                k.clone(),
                json!({"deprecated": m.get("deprecated"), "shasum": m["dist"]["shasum"],
                       "integrity": m["dist"]["integrity"]}),
            )
        })
        .collect();
    view["per_version"] = Value::Object(per_version);
    // No stars: `{}` on one registry, absent on another.
    view["users"] = doc
        .get("users")
        .filter(|u| u.as_object().is_some_and(|o| !o.is_empty()))
        .cloned()
        .unwrap_or(json!({}));
    view
}

/// `name -> integrity` of every package in a lockfile.
fn lock_integrity(lock: &Path) -> Vec<(String, String)> {
    let doc: Value = serde_json::from_slice(&std::fs::read(lock).unwrap()).unwrap();
    doc["packages"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, p)| (k.clone(), p["integrity"].as_str().unwrap_or("").to_string()))
        .collect()
}

fn password_of(reg_dir: &Path, user: &str) -> String {
    let conn = rusqlite::Connection::open_with_flags(
        reg_dir.join("data/nmr.sqlite"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    conn.query_row("SELECT password FROM users WHERE name = ?1", [user], |r| {
        r.get(0)
    })
    .unwrap()
}

/// `PUT /-/user/org.couchdb.user:NAME` as `npm login` sends it: the status.
fn login_status(reg: &Registry, user: &str, password: &str) -> u16 {
    reg.put_json(
        &format!("/-/user/org.couchdb.user:{user}"),
        &json!({"name": user, "password": password}),
    )
    .status
}

#[test]
fn migrate_from_verdaccio_keeps_versions_tags_times_tarballs_and_passwords() {
    let work = TempDir::new("work");
    let w = work.path();
    let up = Registry::start();
    let dep = make_package(
        w,
        json!({"name": "upstream-dep", "version": "1.0.0", "main": "index.js", "license": "MIT"}),
    );
    Client::new(&up).ok("npm", &["publish"], &dep);

    let mut v = Verdaccio::start(&up.url());
    let alice = v.add_user("alice", "alice-old-pass");
    let bob = v.add_user("bob", "bob-old-pass");
    publish_all(&v, &alice, &bob, w);
    let vc = v.client(&alice);
    // An app installed through Verdaccio: its lockfile, and upstream-dep cached there.
    let deps = json!({"@acme/widget": "^1.1.0", "plainpkg": "1.0.1", "bigpkg": "1.0.0",
                      "upstream-dep": "1.0.0"});
    let app = make_app(w, "app", deps.clone());
    vc.ok("npm", &["install"], &app);
    let lock = std::fs::read(app.join("package-lock.json")).unwrap();
    assert!(
        String::from_utf8_lossy(&lock).contains(&v.url()),
        "the lockfile points at Verdaccio"
    );
    let before: Vec<Value> = LOCAL
        .iter()
        .map(|n| seen(&vc, w, n, v.port, &alice))
        .collect();
    assert_eq!(
        before[0]["dist-tags"],
        json!({"latest": "1.1.0", "next": "2.0.0-beta.1", "stable": "1.0.0"})
    );
    assert_eq!(
        before[0]["per_version"]["1.0.0"]["deprecated"],
        "use 1.1 or later"
    );
    assert_eq!(before[0]["users"], json!({"bob": true}));

    // --from-registry, from the running Verdaccio: the scope by search, the rest by name.
    let copy = Registry::start();
    let (code, out, err) = nmr(
        copy.dir.path(),
        &[
            "import",
            "--from-registry",
            &v.url(),
            "--token",
            &alice,
            "--scope",
            "@acme",
            "--package",
            "plainpkg",
            "--package",
            "bigpkg",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("search found 1 packages in @acme"), "{out}");
    assert!(
        out.contains("done: 3 packages changed, 6 versions imported (6 tarballs"),
        "{out}"
    );
    assert!(!out.contains(&alice), "the token is never printed");

    v.stop();
    let storage = v.storage();
    assert!(
        storage
            .join(format!("{}dep/package.json", verdaccio::CACHED_PREFIX))
            .is_file(),
        "cached by Verdaccio"
    );

    // The storage import, into a fresh A in local mode that proxies U (for upstream-dep).
    let flags = [
        "--set",
        "auth.type=local",
        "--set",
        "uplink.mode=proxy",
        "--set",
        &format!("uplink.url={}", up.url()),
    ];
    let a = Registry::start_with(&flags, &[]);
    let (htpasswd, config) = (v.htpasswd(), v.config());
    let mut args = vec![
        "import",
        "--from-verdaccio",
        s(&storage),
        "--htpasswd",
        s(&htpasswd),
        "--verdaccio-config",
        s(&config),
    ];
    args.extend_from_slice(&flags);
    let (code, out, err) = nmr(a.dir.path(), &args);
    assert_eq!(code, 0, "{out}{err}");
    for want in [
        "users: created alice, bob",
        "done: 3 packages changed, 6 versions imported (6 tarballs",
        "2 users created",
        "upstream-dep: only cached from an uplink",
        "'@acme/*'",
        "uplink.private_scopes = [\"@acme\"]",
        "access: accounts only: auth.read = \"authenticated\"",
    ] {
        assert!(out.contains(want), "{want:?} missing from:\n{out}");
    }
    assert!(
        password_of(a.dir.path(), "alice").starts_with("htpasswd:$2"),
        "bcrypt, as Verdaccio wrote it"
    );

    // The old password logs in with the real npm; a wrong one does not.
    let ac = Client::new(&a);
    ac.set_token(None);
    let (ok, text) = npm_login(&ac, w, "alice", "wrong-password");
    assert!(!ok, "a wrong password must fail:\n{text}");
    let (ok, text) = npm_login(&ac, w, "alice", "alice-old-pass");
    assert!(ok, "{text}");
    let upgraded = password_of(a.dir.path(), "alice");
    assert!(upgraded.starts_with("pbkdf2-sha256$"), "{upgraded}");
    assert_eq!(
        login_status(&a, "alice", "alice-old-pass"),
        201,
        "and again, on nmr's hash"
    );
    assert_eq!(login_status(&a, "bob", "bob-wrong"), 401);
    assert!(
        password_of(a.dir.path(), "bob").starts_with("htpasswd:"),
        "a failed login changes nothing"
    );

    // npm sees the same packages as on Verdaccio, and the same on the registry copy.
    let t = token(&a, "alice", &[]);
    let after: Vec<Value> = LOCAL.iter().map(|n| seen(&ac, w, n, a.port, &t)).collect();
    assert_eq!(after, before);
    let cc = Client::new(&copy);
    let copied: Vec<Value> = LOCAL
        .iter()
        .map(|n| seen(&cc, w, n, copy.port, "x"))
        .collect();
    assert_eq!(copied, before);
    // Tarball URLs are nmr's own.
    let doc = a.get_as("/@acme%2fwidget", &t).json();
    assert_eq!(
        doc["versions"]["1.1.0"]["dist"]["tarball"],
        format!("{}/@acme/widget/-/widget-1.1.0.tgz", a.url())
    );

    // npm ci with Verdaccio's lockfile: npm swaps the registry host of its resolved URLs for
    // the configured registry's (replace-registry-host=always).
    let ci = make_app(w, "ci-app", deps.clone());
    std::fs::write(ci.join("package-lock.json"), &lock).unwrap();
    ac.ok("npm", &["ci", "--replace-registry-host=always"], &ci);
    assert_eq!(node_require(&ci, "plainpkg"), "plainpkg@1.0.1");
    assert_eq!(node_require(&ci, "@acme/widget"), "@acme/widget@1.1.0");
    assert_eq!(std::fs::read(ci.join("package-lock.json")).unwrap(), lock);
    let inst = make_app(w, "install-app", deps);
    std::fs::write(inst.join("package-lock.json"), &lock).unwrap();
    ac.ok("npm", &["install", "--replace-registry-host=always"], &inst);
    let old_lock = w.join("verdaccio-lock.json");
    std::fs::write(&old_lock, &lock).unwrap();
    assert_eq!(
        lock_integrity(&inst.join("package-lock.json")),
        lock_integrity(&old_lock)
    );
    assert_eq!(node_require(&inst, "bigpkg"), "bigpkg@1.0.0");

    // A second import finds everything here and changes nothing, logins included.
    // The upstream cache's rows (last use of upstream-dep) may be written at any time.
    let packages_only = |snap: std::collections::BTreeMap<String, String>| {
        snap.into_iter()
            .filter(|(k, _)| !k.starts_with("uplink_"))
            .collect::<Vec<_>>()
    };
    let snap = packages_only(a.snapshot());
    let (code, out, err) = nmr(a.dir.path(), &args);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("done: 0 packages changed, 0 versions imported (0 tarballs, 0 B), 6 versions here already, 0 users created (2 here already)"),
        "{out}"
    );
    assert_eq!(packages_only(a.snapshot()), snap);
    assert_eq!(password_of(a.dir.path(), "alice"), upgraded);

    // A corrupted tarball, and htpasswd formats beyond bcrypt, in a copy of the storage.
    let b_dir = TempDir::new("registry");
    let damaged = w.join("damaged");
    let ok = std::process::Command::new("cp")
        .args(["-a", s(&storage), s(&damaged)])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let tgz = damaged.join("plainpkg/plainpkg-1.0.1.tgz");
    let mut bytes = std::fs::read(&tgz).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&tgz, bytes).unwrap();
    let sha = base64::engine::general_purpose::STANDARD.encode(sha1::Sha1::digest(b"carol-pass"));
    let apr1 = std::process::Command::new("openssl")
        .args(["passwd", "-apr1", "-salt", "d4v3salt", "dave-pass"])
        .output()
        .unwrap();
    let apr1 = String::from_utf8(apr1.stdout).unwrap();
    let htpasswd = w.join("htpasswd-formats");
    std::fs::write(
        &htpasswd,
        format!(
            "carol:{{SHA}}{sha}\ndave:{}\neve:abJnggxhB/yJU:old\n",
            apr1.trim()
        ),
    )
    .unwrap();
    // What Verdaccio cached goes to B's upstream cache, whose upstream is gone.
    let b_flags = [
        "--set",
        "auth.type=local",
        "--set",
        "uplink.mode=proxy",
        "--set",
        "uplink.url=http://127.0.0.1:9",
    ];
    let mut b_args = vec![
        "import",
        "--from-verdaccio",
        s(&damaged),
        "--htpasswd",
        s(&htpasswd),
        "--include-cached",
    ];
    b_args.extend_from_slice(&b_flags);
    let (code, out, err) = nmr(b_dir.path(), &b_args);
    assert_eq!(code, 1, "{out}{err}");
    for want in [
        "done: 3 packages changed, 5 versions imported",
        "2 users created",
        "not imported (2):",
        "upstream cache: 1 packages cached by the source, 1 tarballs stored",
        "plainpkg@1.0.1: the tarball does not match dist.shasum",
        "its password is a crypt(3) DES hash; nmr accepts bcrypt ($2a$, $2b$, $2y$), {SHA} and Apache MD5 ($apr1$)",
    ] {
        assert!(out.contains(want), "{want:?} missing from:\n{out}");
    }
    assert!(err.contains("2 left out"), "{err}");
    let mut b_serve = b_flags.to_vec();
    b_serve.extend_from_slice(&["--set", "uplink.offline=true"]);
    let b = Registry::start_in(b_dir, &b_serve, &[]);
    let t = token(&b, "carol", &[]);
    let doc = b.get_as("/plainpkg", &t).json();
    let versions: Vec<&String> = doc["versions"].as_object().unwrap().keys().collect();
    assert_eq!(versions, ["1.0.0"]);
    assert_eq!(
        doc["dist-tags"]["latest"], "1.0.0",
        "latest follows what is here"
    );
    assert_eq!(login_status(&b, "carol", "carol-pass"), 201);
    assert_eq!(login_status(&b, "dave", "dave-pass"), 201);
    assert_eq!(login_status(&b, "dave", "carol-pass"), 401);
    assert_eq!(login_status(&b, "eve", "anything"), 401);
    let cached = b.get_as("/upstream-dep/-/upstream-dep-1.0.0.tgz", &t);
    assert_eq!(cached.status, 200, "{}", cached.text());
    let verdaccio_copy = storage.join("upstream-dep/upstream-dep-1.0.0.tgz");
    assert_eq!(cached.body, std::fs::read(verdaccio_copy).unwrap());
}

#[test]
fn migrate_refuses_what_is_not_a_verdaccio_storage_or_a_registry_url() {
    let dir = TempDir::new("registry");
    let empty = TempDir::new("empty");
    let (code, _, err) = nmr(dir.path(), &["import", "--from-verdaccio", s(empty.path())]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("is not a Verdaccio storage directory: it has no .verdaccio-db.json"),
        "{err}"
    );
    let (code, _, err) = nmr(
        dir.path(),
        &[
            "import",
            "--from-registry",
            "ftp://x.example.test",
            "--scope",
            "@acme",
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("expected an http:// or https:// URL"), "{err}");
    let (code, _, err) = nmr(
        dir.path(),
        &["import", "--from-registry", "http://127.0.0.1:9"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("needs --scope @name or --package NAME"),
        "{err}"
    );
    let (code, _, err) = nmr(dir.path(), &["import", "b.tar", "--token", "t"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--token, --scope and --package go with --from-registry"),
        "{err}"
    );
    std::fs::write(empty.path().join(".verdaccio-db.json"), r#"{"list": []}"#).unwrap();
    let (code, _, err) = nmr(
        dir.path(),
        &[
            "import",
            "--from-verdaccio",
            s(empty.path()),
            "--include-cached",
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("only uplink.mode = \"proxy\" serves"), "{err}");
    assert!(
        !dir.path().join("data/nmr.sqlite").exists(),
        "nothing was created"
    );
}

/// A Verdaccio storage as Verdaccio lays it out, written by hand: the import reads files, so
/// the organisation mapping needs no running Verdaccio. Each package has one version, 1.0.0,
/// published by alice.
fn hand_made_storage(root: &Path, names: &[&str]) -> std::path::PathBuf {
    let storage = root.join("storage");
    std::fs::create_dir_all(&storage).unwrap();
    std::fs::write(
        storage.join(".verdaccio-db.json"),
        json!({"list": names, "secret": "s"}).to_string(),
    )
    .unwrap();
    for name in names {
        let base = name.rsplit('/').next().unwrap();
        let dir = storage.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let tgz = fake_tgz(&format!("{name}@1.0.0"));
        let file = format!("{base}-1.0.0.tgz");
        std::fs::write(dir.join(&file), &tgz).unwrap();
        let doc = json!({
            "name": name,
            "versions": {"1.0.0": {"name": name, "version": "1.0.0", "dist": {
                "shasum": sha1_hex(&tgz), "integrity": integrity(&tgz),
                "tarball": format!("http://v.example.test/{name}/-/{file}")}}},
            "time": {"created": "2026-01-01T00:00:00.000Z", "1.0.0": "2026-01-01T00:00:00.000Z"},
            "dist-tags": {"latest": "1.0.0"},
            "maintainers": [{"name": "alice"}],
        });
        std::fs::write(dir.join("package.json"), doc.to_string()).unwrap();
    }
    storage
}

/// An htpasswd line with a `{SHA}` hash.
fn sha_user(name: &str, password: &str) -> String {
    let hash = base64::engine::general_purpose::STANDARD.encode(sha1::Sha1::digest(password));
    format!("{name}:{{SHA}}{hash}:autocreated 2026-01-01\n")
}

#[test]
fn migrate_applies_whole_scope_publish_lists_as_an_organisation_and_its_team() {
    let work = TempDir::new("vd-orgs");
    let w = work.path();
    let storage = hand_made_storage(w, &["@acme/widget", "@acme/gadget", "plainpkg"]);
    let htpasswd = w.join("htpasswd");
    let users: String = ["alice", "bob", "mallory"]
        .iter()
        .map(|u| sha_user(u, "pw"))
        .collect();
    std::fs::write(&htpasswd, users).unwrap();
    let config = w.join("config.yaml");
    std::fs::write(
        &config,
        "storage: ./storage\npackages:\n  '@acme/*':\n    access: alice bob\n    publish: alice bob carol\n  '**':\n    access: $all\n    publish: $authenticated\n",
    )
    .unwrap();
    let flags = ["--set", "auth.type=local"];
    let a = Registry::start_with(&flags, &[]);
    let mut args = vec![
        "import",
        "--from-verdaccio",
        s(&storage),
        "--htpasswd",
        s(&htpasswd),
        "--verdaccio-config",
        s(&config),
    ];
    args.extend_from_slice(&flags);
    let (code, out, err) = nmr(a.dir.path(), &args);
    assert_eq!(code, 0, "{out}{err}");
    for want in [
        "done: 3 packages changed, 3 versions imported",
        "the organisation @acme with them as members",
        "access: only alice bob: nmr has no per-package read lists; closest is auth.read = \"members\"",
        "applied: created the organisation @acme with owner alice",
        "applied: created the team @acme:publishers",
        "applied: bob is developer of @acme",
        "applied: alice is on @acme:publishers",
        "applied: bob is on @acme:publishers",
        "applied: @acme:publishers may publish @acme/gadget (read-write)",
        "applied: @acme:publishers may publish @acme/widget (read-write)",
        "access: 7 changes to organisations and teams applied",
        "@acme publisher carol: no account here",
    ] {
        assert!(out.contains(want), "{want:?} missing from:\n{out}");
    }
    assert!(!out.contains("no teams"), "{out}");

    let (code, show, err) = nmr(a.dir.path(), &["org", "show", "@acme"]);
    assert_eq!(code, 0, "{show}{err}");
    let roles: Vec<String> = show
        .lines()
        .skip_while(|l| *l != "members:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(roles, ["alice owner", "bob developer"], "{show}");
    for want in [
        "acme:publishers  the publishers of Verdaccio's '@acme/*' rule",
        "members:  alice, bob",
        "packages: @acme/gadget (read-write), @acme/widget (read-write)",
    ] {
        assert!(show.contains(want), "{want:?} missing from:\n{show}");
    }

    // Again (before anything is published here, which a re-import's tags would meet): nothing
    // new, nothing changed, nothing applied.
    let before = a.snapshot();
    let (code, out, err) = nmr(a.dir.path(), &args);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!out.contains("  applied: "), "{out}");
    assert!(
        out.contains("access: 0 changes to organisations and teams applied"),
        "{out}"
    );
    assert_eq!(a.snapshot(), before);

    // bob maintains nothing: the team's grant lets him publish; mallory is no member.
    let publish = |user: &str, version: &str| {
        let t = crate::support::auth::token(&a, user, &[]);
        let tgz = fake_tgz(&format!("@acme/widget@{version}"));
        let body = publish_body("@acme/widget", version, &tgz, "latest").to_string();
        crate::support::auth::as_user(&a, &t, "PUT", "/@acme%2fwidget", body.as_bytes())
    };
    let r = publish("bob", "1.1.0");
    assert_eq!(r.status, 201, "{}", r.text());
    let r = publish("mallory", "1.2.0");
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("not a member of @acme"), "{}", r.text());

    // Without local accounts nothing is applied, and the output says why.
    let none = TempDir::new("vd-none");
    let (code, out, err) = nmr(
        none.path(),
        &[
            "import",
            "--from-verdaccio",
            s(&storage),
            "--verdaccio-config",
            s(&config),
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("access: not applied: organisations and teams exist with auth.type = \"local\" only, and this registry has auth.type = \"none\""),
        "{out}"
    );
    assert!(!out.contains("  applied: "), "{out}");
}

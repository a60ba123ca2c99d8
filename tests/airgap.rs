//! Air-gapped transfer (#7), with nmr instances as upstream U, connected registry A (proxying U)
//! and air-gapped registry C (no upstream):
//! - `nmr mirror` of real npm, pnpm and yarn lockfiles into A, while A runs; a second run
//!   fetches nothing; `--package` specs, and failures that are listed and exit 1;
//! - `nmr export` from A, `nmr import` into the running C, twice (the second changes nothing);
//!   then `npm ci` against C alone installs the tree, and C's packuments point at C;
//! - a bundle with one flipped byte, a truncated bundle, a bundle from a newer format, and
//!   unreadable or unsupported lockfiles are refused with a clear message, changing nothing;
//! - a version already here with other bytes is a conflict: reported, never overwritten;
//! - `--since` and `--package` select what is exported;
//! - export and import with tarballs on S3.

use crate::support::s3::S3Server;
use crate::support::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// `nmr ARGS` in a registry's directory (so on its database and storage), with more flags.
fn nmr(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = nmr_command(dir).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn proxy_flags(upstream: &str) -> Vec<String> {
    vec![
        "--set".into(),
        "uplink.mode=proxy".into(),
        "--set".into(),
        format!("uplink.url={upstream}"),
    ]
}

fn proxy(upstream: &str) -> Registry {
    let flags = proxy_flags(upstream);
    let args: Vec<&str> = flags.iter().map(String::as_str).collect();
    Registry::start_with(&args, &[])
}

/// `nmr mirror ARGS` against registry `a`, which proxies `upstream`.
fn mirror(a: &Registry, upstream: &str, args: &[&str]) -> (i32, String, String) {
    let flags = proxy_flags(upstream);
    let mut all = vec!["mirror"];
    all.extend_from_slice(args);
    all.extend(flags.iter().map(String::as_str));
    nmr(a.dir.path(), &all)
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Access-log lines for `GET path` answered 200.
fn gets(log: &str, path: &str) -> usize {
    let needle = format!(" GET {path} 200 ");
    log.lines().filter(|l| l.contains(&needle)).count()
}

/// Publishes the tree the tests install: `@up/lib` (scoped) depends on `airdep` (unscoped,
/// transitive); `airplain` (unscoped) stands alone. `@up/lib@1.1.0` is never locked.
fn publish_tree(up: &Registry, work: &Path) {
    let c = Client::new(up);
    for m in [
        json!({"name": "airdep", "version": "1.0.0", "main": "index.js", "license": "MIT"}),
        json!({"name": "@up/lib", "version": "1.0.0", "main": "index.js", "license": "MIT",
               "dependencies": {"airdep": "^1.0.0"}}),
        json!({"name": "airplain", "version": "2.0.0", "main": "index.js", "license": "MIT"}),
    ] {
        c.ok("npm", &["publish"], &make_package(work, m));
    }
    raw_publish(up, "@up/lib", "1.1.0");
}

const DEPS: fn() -> Value = || json!({"@up/lib": "1.0.0", "airplain": "^2.0.0"});

/// The tree installed against `up` by npm, pnpm and yarn: their lockfiles.
fn lockfiles(up: &Registry, work: &Path) -> Vec<PathBuf> {
    let c = Client::new(up);
    let npm_app = make_app(work, "npm-app", DEPS());
    c.ok("npm", &["install"], &npm_app);
    let pnpm_app = make_app(work, "pnpm-app", DEPS());
    c.pnpm_install(&pnpm_app, &work.join("pnpm-store"));
    let yarn_app = make_app(work, "yarn-app", DEPS());
    c.yarn_install(&yarn_app, &work.join("yarn-cache"));
    vec![
        npm_app.join("package-lock.json"),
        pnpm_app.join("pnpm-lock.yaml"),
        yarn_app.join("yarn.lock"),
    ]
}

/// Flips one byte in the middle of `needle` inside the file at `path`.
fn flip_inside(path: &Path, needle: &[u8]) {
    let mut bytes = std::fs::read(path).unwrap();
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("the bytes are in the bundle")
        + needle.len() / 2;
    bytes[at] ^= 0x01;
    std::fs::write(path, bytes).unwrap();
}

const TARBALLS: [&str; 4] = [
    "/@up/lib/-/lib-1.0.0.tgz",
    "/airdep/-/airdep-1.0.0.tgz",
    "/airplain/-/airplain-2.0.0.tgz",
    "/@acme/private/-/private-1.0.0.tgz",
];

#[test]
fn airgap_mirror_export_import_then_npm_ci_against_the_airgapped_registry_alone() {
    let up = Registry::start();
    let work = TempDir::new("work");
    publish_tree(&up, work.path());
    let locks = lockfiles(&up, work.path());

    // What the clients fetched from U while making the lockfiles.
    let installed = up.settled_log();
    let fetched = |log: &str, t: &str| gets(log, t) - gets(&installed, t);
    let a = proxy(&up.url());
    // A package published on A itself travels too.
    raw_publish(&a, "@acme/private", "1.0.0");
    let mut args: Vec<&str> = locks.iter().map(|p| path_str(p)).collect();
    args.extend(["--package", "@acme/private"]);
    let (code, out, err) = mirror(&a, &up.url(), &args);
    assert_eq!(code, 0, "{out}\n{err}");
    eprintln!("OUT>>{out}\nERR>>{err}");
    for kind in ["package-lock.json v3", "pnpm-lock.yaml 9.0", "yarn.lock v1"] {
        assert!(
            out.contains(&format!("({kind}): 3 registry packages")),
            "{out}"
        );
    }
    assert!(
        out.contains("done: 4 package versions: 3 fetched") && out.contains("1 published here"),
        "{out}"
    );
    let log = up.settled_log();
    for t in &TARBALLS[..3] {
        assert_eq!(fetched(&log, t), 1, "{t} fetched once from U:\n{log}");
    }
    assert_eq!(
        gets(&log, "/@up/lib/-/lib-1.1.0.tgz"),
        0,
        "not locked, not mirrored"
    );
    // A serves what it mirrored, as it serves what it proxied.
    assert_eq!(a.get("/airdep/-/airdep-1.0.0.tgz").status, 200);

    // A second run verifies and fetches nothing.
    let (code, out, err) = mirror(&a, &up.url(), &args);
    assert_eq!(code, 0, "{out}\n{err}");
    eprintln!("OUT>>{out}\nERR>>{err}");
    assert!(out.contains("0 fetched (0 B), 3 already cached"), "{out}");
    let again = up.settled_log();
    for t in &TARBALLS[..3] {
        assert_eq!(fetched(&again, t), 1, "{t} not fetched again");
    }

    let bundle = work.path().join("transfer.tar");
    let (code, out, err) = nmr(a.dir.path(), &["export", "--out", path_str(&bundle)]);
    assert_eq!(code, 0, "{out}\n{err}");
    eprintln!("OUT>>{out}\nERR>>{err}");
    assert!(
        out.contains("exported 4 packages (4 versions, 4 files"),
        "{out}"
    );
    assert!(out.contains("nmr export --since 20"), "{out}");

    // C has no upstream and is running while it imports.
    let c = Registry::start();
    assert_eq!(c.get("/airdep").status, 404);
    let (code, out, err) = nmr(c.dir.path(), &["import", path_str(&bundle)]);
    assert_eq!(code, 0, "{out}\n{err}");
    eprintln!("OUT>>{out}\nERR>>{err}");
    assert!(
        out.contains("done: 4 versions imported into 4 packages"),
        "{out}"
    );
    let doc = c.get("/@up%2flib").json();
    assert_eq!(
        doc["versions"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["1.0.0"],
        "only what was mirrored"
    );
    assert_eq!(
        doc["versions"]["1.0.0"]["dist"]["tarball"],
        format!("{}/@up/lib/-/lib-1.0.0.tgz", c.url()),
        "the running server serves the imported packument at once"
    );
    assert_eq!(
        doc["dist-tags"]["latest"], "1.0.0",
        "U's latest (1.1.0) did not travel, so latest is the highest version that did"
    );
    assert_eq!(c.get("/airdep").json()["readme"], "# airdep\n");

    // Importing again changes nothing.
    let before = c.snapshot();
    let (code, out, err) = nmr(c.dir.path(), &["import", path_str(&bundle)]);
    assert_eq!(code, 0, "{out}\n{err}");
    eprintln!("OUT>>{out}\nERR>>{err}");
    assert!(
        out.contains("0 versions imported into 0 packages, 4 already here"),
        "{out}"
    );
    assert_eq!(c.snapshot(), before);

    // One flipped byte inside a tarball: refused, naming the file, nothing changed.
    let bad = work.path().join("flipped.tar");
    std::fs::copy(&bundle, &bad).unwrap();
    flip_inside(&bad, &up.get("/airplain/-/airplain-2.0.0.tgz").body);
    let fresh = Registry::start();
    let (code, out, err) = nmr(fresh.dir.path(), &["import", path_str(&bad)]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        err.contains("tarballs/airplain/airplain-2.0.0.tgz") && err.contains("corrupt"),
        "{err}"
    );
    assert!(fresh
        .snapshot()
        .keys()
        .all(|k| !k.starts_with("file ") && !k.starts_with("packages")));

    let _ = up.stop();
    let _ = a.stop();

    // npm ci from the lockfile made against U, with only C left. npm rewrites only the public
    // registry's host in `resolved`; `always` points the other hosts at C too.
    let cc = Client::new(&c);
    let app = make_app(work.path(), "offline-app", DEPS());
    std::fs::copy(&locks[0], app.join("package-lock.json")).unwrap();
    cc.ok("npm", &["ci", "--replace-registry-host=always"], &app);
    assert_eq!(node_require(&app, "@up/lib"), "@up/lib@1.0.0");
    assert_eq!(node_require(&app, "airdep"), "airdep@1.0.0");
    let log = c.settled_log();
    for t in &TARBALLS[..3] {
        assert_eq!(gets(&log, t), 1, "{t} came from C:\n{log}");
    }

    // Resolved afresh from C's packuments, every URL points at C.
    let fresh_app = make_app(work.path(), "fresh-app", DEPS());
    Client::new(&c).ok("npm", &["install"], &fresh_app);
    let lock: Value =
        serde_json::from_slice(&std::fs::read(fresh_app.join("package-lock.json")).unwrap())
            .unwrap();
    let resolved: Vec<&str> = lock["packages"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(|p| p["resolved"].as_str())
        .collect();
    assert_eq!(resolved.len(), 3, "{lock}");
    assert!(
        resolved
            .iter()
            .all(|r| r.starts_with(&format!("{}/", c.url()))),
        "{resolved:?}"
    );
}

/// A registry with the given packages published, and a bundle of all of them.
fn source_bundle(work: &Path, packages: &[(&str, &str)]) -> (Registry, PathBuf) {
    let r = Registry::start();
    for (name, version) in packages {
        raw_publish(&r, name, version);
    }
    let bundle = work.join(format!("bundle-{}.tar", r.port));
    let (code, out, err) = nmr(r.dir.path(), &["export", "--out", path_str(&bundle)]);
    assert_eq!(code, 0, "{out}\n{err}");
    (r, bundle)
}

/// The entry paths of a bundle, in order.
fn entries(bundle: &Path) -> Vec<String> {
    let mut ar = tar::Archive::new(std::fs::File::open(bundle).unwrap());
    ar.entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect()
}

/// Rewrites a bundle entry by entry, letting `edit` change each one's bytes.
fn rewrite(bundle: &Path, to: &Path, edit: impl Fn(&str, Vec<u8>) -> Vec<u8>) {
    let mut ar = tar::Archive::new(std::fs::File::open(bundle).unwrap());
    let mut b = tar::Builder::new(std::fs::File::create(to).unwrap());
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e.path().unwrap().display().to_string();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut bytes).unwrap();
        let bytes = edit(&path, bytes);
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, &path, &bytes[..]).unwrap();
    }
    b.finish().unwrap();
}

#[test]
fn airgap_mirror_specs_resolve_tags_and_failures_are_listed() {
    let up = Registry::start();
    raw_publish(&up, "spec", "1.0.0");
    raw_publish(&up, "spec", "1.1.0");
    let beta = fake_tgz("beta");
    let r = up.put_json(
        "/spec",
        &publish_body("spec", "2.0.0-beta.1", &beta, "beta"),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    raw_publish(&up, "@internal/x", "1.0.0");
    let work = TempDir::new("work");
    // A lockfile whose integrity for spec@1.0.0 is not what the upstream serves.
    let lock = work.path().join("package-lock.json");
    let wrong = integrity(b"something else");
    std::fs::write(
        &lock,
        json!({"lockfileVersion": 3, "packages": {"": {},
            "node_modules/spec": {"version": "1.0.0", "integrity": wrong,
                "resolved": format!("{}/spec/-/spec-1.0.0.tgz", up.url())}}})
        .to_string(),
    )
    .unwrap();

    let a = proxy(&up.url());
    let before = a.snapshot();
    // Bad input is refused before anything is fetched.
    let (code, _, err) = mirror(&a, &up.url(), &["--package", "spec@^1.0.0"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("ranges are not supported") && err.contains("exact version"),
        "{err}"
    );
    let (code, _, err) = nmr(a.dir.path(), &["mirror", "--package", "spec"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("uplink.mode"), "{err}");
    assert_eq!(a.snapshot(), before);

    let (code, out, err) = mirror(
        &a,
        &up.url(),
        &[
            path_str(&lock),
            "--package",
            "spec",
            "--package",
            "spec@beta",
            "--package",
            "spec@9.9.9",
            "--package",
            "nosuch@1.0.0",
            "--package",
            "@internal/x@1.0.0",
            "--set",
            "uplink.private_scopes=@internal",
        ],
    );
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        out.contains("fetched spec@1.1.0") && out.contains("fetched spec@2.0.0-beta.1"),
        "{out}"
    );
    // spec@1.0.0 is cached (the upstream's own bytes) but fails against the lockfile's pin.
    assert!(
        out.contains("done: 6 package versions: 2 fetched") && out.contains("4 failed"),
        "{out}"
    );
    let failures = err.split("failed:").nth(1).unwrap_or_default();
    for (what, why) in [
        ("spec@1.0.0", "the lockfile pins"),
        ("spec@9.9.9", "no version 9.9.9"),
        (
            "nosuch@1.0.0",
            "neither in this registry nor in the upstream",
        ),
        ("@internal/x@1.0.0", "never comes from the upstream"),
    ] {
        assert!(
            failures
                .lines()
                .any(|l| l.contains(what) && l.contains(why)),
            "{what}: {why} not in\n{err}"
        );
    }
    assert_eq!(
        failures.lines().filter(|l| l.starts_with("  ")).count(),
        4,
        "{err}"
    );
}

#[test]
fn airgap_bad_input_is_refused_clearly_and_changes_nothing() {
    let work = TempDir::new("work");
    let up = Registry::start();
    raw_publish(&up, "some", "1.0.0");
    let a = proxy(&up.url());
    let before = a.snapshot();
    let garbage = work.path().join("notes.txt");
    std::fs::write(&garbage, "these are not the packages you are looking for\n").unwrap();
    let berry = work.path().join("yarn.lock");
    std::fs::write(
        &berry,
        "__metadata:\n  version: 6\n\n\"some@npm:^1.0.0\":\n  version: 1.0.0\n",
    )
    .unwrap();
    let missing = work.path().join("nowhere/package-lock.json");
    for (file, says) in [
        (&missing, "cannot read lockfile"),
        (&garbage, "not a lockfile nmr can read"),
        (&berry, "yarn 2+"),
    ] {
        // The readable lockfile beside it is not fetched either: input is checked first.
        let (code, out, err) = mirror(&a, &up.url(), &[path_str(file), "--package", "some@1.0.0"]);
        assert_eq!(code, 2, "{out}\n{err}");
        assert!(err.contains(path_str(file)) && err.contains(says), "{err}");
        assert!(err.contains("nothing was fetched"), "{err}");
    }
    assert_eq!(a.snapshot(), before);

    let (_r, bundle) = source_bundle(work.path(), &[("good", "1.0.0"), ("@s/also", "1.0.0")]);
    let c = Registry::start();
    raw_publish(&c, "mine", "1.0.0");
    let before = c.snapshot();
    let import = |file: &Path| nmr(c.dir.path(), &["import", path_str(file)]);

    // Cut in the middle of an entry, and cut cleanly before the manifest.
    let bytes = std::fs::read(&bundle).unwrap();
    let half = work.path().join("half.tar");
    std::fs::write(&half, &bytes[..bytes.len() / 2]).unwrap();
    let manifest_at = bytes
        .windows(13)
        .rposition(|w| w == b"manifest.json")
        .unwrap();
    let no_manifest = work.path().join("no-manifest.tar");
    std::fs::write(&no_manifest, &bytes[..manifest_at]).unwrap();
    // A bundle written by a newer nmr.
    let newer = work.path().join("newer.tar");
    rewrite(&bundle, &newer, |path, bytes| {
        if path != "nmr-bundle.json" {
            return bytes;
        }
        let mut h: Value = serde_json::from_slice(&bytes).unwrap();
        h["version"] = json!(2);
        serde_json::to_vec(&h).unwrap()
    });
    let not_bundle = work.path().join("other.tar");
    let mut other = tar::Builder::new(std::fs::File::create(&not_bundle).unwrap());
    let mut h = tar::Header::new_gnu();
    h.set_size(2);
    other.append_data(&mut h, "hello.txt", &b"hi"[..]).unwrap();
    other.finish().unwrap();
    drop(other);

    for (file, says) in [
        (&half, "truncated"),
        (
            &no_manifest,
            "truncated: it ends after packages/good.json without manifest.json",
        ),
        (
            &newer,
            "bundle format version 2, newer than this nmr understands (1)",
        ),
        (&not_bundle, "not an nmr bundle"),
        (&missing, "cannot read bundle"),
    ] {
        let (code, out, err) = import(file);
        assert_eq!(code, 1, "{}: {out}\n{err}", file.display());
        assert!(err.contains(says), "{}: {err}", file.display());
        assert_eq!(c.snapshot(), before, "{}", file.display());
    }
    // One tarball at a time is held in memory on import, so each is capped like a publish.
    let (code, _, err) = nmr(
        c.dir.path(),
        &[
            "import",
            path_str(&bundle),
            "--set",
            "settings.max_body_size=16",
        ],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("over settings.max_body_size"), "{err}");
    assert_eq!(c.snapshot(), before);
    // The intact bundle imports.
    let (code, out, err) = import(&bundle);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(c.get("/@s%2falso").json()["dist-tags"]["latest"], "1.0.0");
}

#[test]
fn airgap_import_conflicts_are_reported_and_never_overwritten() {
    let work = TempDir::new("work");
    let (_r, bundle) = source_bundle(
        work.path(),
        &[("clash", "1.0.0"), ("clash", "1.1.0"), ("fine", "1.0.0")],
    );
    let c = Registry::start();
    let mine = fake_tgz("C's own clash");
    let r = c.put_json("/clash", &publish_body("clash", "1.0.0", &mine, "latest"));
    assert_eq!(r.status, 201, "{}", r.text());

    let (code, out, err) = nmr(c.dir.path(), &["import", path_str(&bundle)]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        err.contains("1 versions conflict")
            && err.contains("clash@1.0.0")
            && err.contains("other contents"),
        "{err}"
    );
    assert!(out.contains("2 versions imported into 2 packages"), "{out}");
    assert_eq!(
        c.get("/clash/-/clash-1.0.0.tgz").body,
        mine,
        "never overwritten"
    );
    let doc = c.get("/clash").json();
    assert_eq!(
        doc["versions"]["1.0.0"]["dist"]["integrity"],
        integrity(&mine)
    );
    assert_eq!(
        doc["versions"]["1.1.0"]["dist"]["integrity"],
        integrity(&fake_tgz("clash@1.1.0"))
    );
    assert_eq!(
        doc["dist-tags"]["latest"], "1.1.0",
        "the bundle's tags follow its source"
    );
    assert_eq!(c.get("/fine/-/fine-1.0.0.tgz").body, fake_tgz("fine@1.0.0"));

    // Again: the conflict is still reported, and nothing else changes.
    let before = c.snapshot();
    let (code, _, err) = nmr(c.dir.path(), &["import", path_str(&bundle)]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("clash@1.0.0"), "{err}");
    assert_eq!(c.snapshot(), before);
}

#[test]
fn airgap_export_since_and_package_choose_what_travels() {
    let work = TempDir::new("work");
    let (r, full) = source_bundle(work.path(), &[("early", "1.0.0"), ("@s/other", "1.0.0")]);
    let (code, out, err) = nmr(r.dir.path(), &["export", "--out", path_str(&full)]);
    assert_eq!(code, 0, "{err}");
    let since = out
        .split("nmr export --since ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap()
        .to_string();
    raw_publish(&r, "early", "1.1.0");
    raw_publish(&r, "late", "1.0.0");

    let inc = work.path().join("inc.tar");
    let (code, out, err) = nmr(
        r.dir.path(),
        &["export", "--out", path_str(&inc), "--since", &since],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(
        entries(&inc),
        [
            "nmr-bundle.json",
            "tarballs/early/early-1.1.0.tgz",
            "packages/early.json",
            "tarballs/late/late-1.0.0.tgz",
            "packages/late.json",
            "manifest.json"
        ]
    );
    let one = work.path().join("one.tar");
    let (code, _, err) = nmr(
        r.dir.path(),
        &["export", "--out", path_str(&one), "--package", "@s/other"],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        entries(&one),
        [
            "nmr-bundle.json",
            "tarballs/@s/other/other-1.0.0.tgz",
            "packages/@s/other.json",
            "manifest.json"
        ]
    );

    // The full bundle, then the increment: the air-gapped side catches up.
    let c = Registry::start();
    for b in [&full, &inc] {
        let (code, out, err) = nmr(c.dir.path(), &["import", path_str(b)]);
        assert_eq!(code, 0, "{out}\n{err}");
    }
    let doc = c.get("/early").json();
    assert_eq!(doc["dist-tags"]["latest"], "1.1.0");
    assert_eq!(doc["versions"].as_object().unwrap().len(), 2);
    assert_eq!(c.get("/late/-/late-1.0.0.tgz").body, fake_tgz("late@1.0.0"));

    let nothing = work.path().join("nothing.tar");
    let out = path_str(&nothing);
    for (all, says) in [
        (
            vec!["export", "--out", out, "--package", "nosuch"],
            "no package nosuch",
        ),
        (
            vec!["export", "--out", out, "--since", "last tuesday"],
            "--since",
        ),
        (vec!["export"], "--out"),
    ] {
        let (code, _, err) = nmr(r.dir.path(), &all);
        assert_eq!(code, 2, "{all:?}: {err}");
        assert!(err.contains(says), "{all:?}: {err}");
        assert!(!nothing.exists() && !work.path().join("nothing.tar.partial").exists());
    }
}

#[test]
fn airgap_export_and_import_with_tarballs_on_s3() {
    let s3 = S3Server::start();
    let work = TempDir::new("work");
    let r = s3.registry(&["--set", "storage.s3.prefix=from/"]);
    let tgz = raw_publish(&r, "@s3/pkg", "1.0.0");
    raw_publish(&r, "s3plain", "1.0.0");
    let bundle = work.path().join("s3.tar");
    // Each registry keeps its objects under its own prefix of the one bucket.
    let run = |dir: &Path, command: &[&str], prefix: &str| {
        let set = format!("storage.s3.prefix={prefix}");
        let out = s3.nmr(dir, command).args(["--set", &set]).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(
        r.dir.path(),
        &["export", "--out", path_str(&bundle)],
        "from/",
    );
    let c = s3.registry(&["--set", "storage.s3.prefix=to/"]);
    run(c.dir.path(), &["import", path_str(&bundle)], "to/");
    let got = c.get("/@s3/pkg/-/pkg-1.0.0.tgz");
    assert_eq!((got.status, &got.body), (200, &tgz));
    let to: Vec<String> = s3
        .objects()
        .into_keys()
        .filter(|k| k.starts_with("to/"))
        .collect();
    assert_eq!(to.len(), 2, "{to:?}");
    assert!(
        !c.dir.path().join("data/storage/s3plain").exists(),
        "nothing on local disk"
    );
}

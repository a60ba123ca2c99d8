//! nmr on S3, against a real S3-compatible server (s3s-fs) on 127.0.0.1:
//! - npm publishes and installs with the bytes streamed through nmr; npm, pnpm and yarn install
//!   through redirects to presigned URLs (which the server checks: a tampered URL is refused);
//! - a wrong secret key or an unreachable endpoint stops start-up, naming bucket and endpoint;
//! - credentials come from the config or the AWS_* variables and are never printed;
//! - S3 down mid-run: publishes and tarball GETs answer 503 naming the storage, nothing is
//!   written, and all is well once S3 is back; an S3 error answer (missing bucket) is a 502;
//! - a prefix keeps nmr's objects in a folder of the bucket;
//! - `nmr storage copy` both ways: verified, resumable, never overwrites, exits non-zero on
//!   any failure.

use crate::blob_contract::{read_all, s3_config};
use crate::support::s3::*;
use crate::support::*;
use nmr::error::Error;
use nmr::store::blob::BlobStore;
use serde_json::json;
use std::process::Output;

fn text(out: &Output) -> (i32, String, String) {
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn publish_widget(c: &Client, work: &std::path::Path) {
    let widget =
        json!({"name": "@acme/widget", "version": "1.0.0", "main": "index.js", "license": "MIT"});
    c.ok("npm", &["publish"], &make_package(work, widget));
}

fn install_widget(reg: &Registry, work: &std::path::Path) {
    let fresh = Client::new(reg);
    let app = make_app(work, "app", json!({"@acme/widget": "^1.0.0"}));
    fresh.ok("npm", &["install"], &app);
    assert_eq!(node_require(&app, "@acme/widget"), "@acme/widget@1.0.0");
}

#[test]
fn npm_publishes_and_installs_with_tarballs_streamed_from_s3() {
    let s3 = S3Server::start();
    let reg = s3.registry(&[]);
    let work = TempDir::new("work");
    publish_widget(&Client::new(&reg), work.path());

    let objects = s3.objects();
    assert_eq!(objects.len(), 1, "{objects:?}");
    let (key, sha1) = objects.iter().next().unwrap();
    assert!(key.starts_with("@acme/widget/widget-1.0.0-"), "{key}");
    assert!(
        !reg.dir.path().join("data/storage/@acme").exists(),
        "nothing on local disk"
    );
    let r = reg.get("/@acme/widget/-/widget-1.0.0.tgz");
    assert_eq!(r.status, 200);
    assert_eq!(&sha1_hex(&r.body), sha1);
    assert_eq!(r.header("content-length"), Some(&*r.body.len().to_string()));

    install_widget(&reg, work.path());
    assert!(
        reg.settled_log()
            .contains("GET /@acme/widget/-/widget-1.0.0.tgz 200"),
        "npm fetched the tarball through nmr"
    );
}

#[test]
fn npm_pnpm_and_yarn_follow_redirects_to_presigned_s3_urls() {
    let s3 = S3Server::start();
    let reg = s3.registry(&[
        "--set",
        "storage.s3.redirect=true",
        "--set",
        "storage.s3.expires=120",
    ]);
    let work = TempDir::new("work");
    publish_widget(&Client::new(&reg), work.path());

    let r = reg.get("/@acme/widget/-/widget-1.0.0.tgz");
    assert_eq!(r.status, 302, "{}", r.text());
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let location = r.header("location").unwrap().to_string();
    let path = location
        .strip_prefix(&format!("{}/{BUCKET}/", s3.endpoint()))
        .unwrap_or_else(|| panic!("{location} is not in the bucket"));
    assert!(path.starts_with("%40acme/widget/widget-1.0.0-"), "{path}");
    assert!(location.contains("X-Amz-Expires=120"), "{location}");

    let url_path = &location[s3.endpoint().len()..];
    let fetched = http(s3.port, "GET", url_path, &[], b"");
    assert_eq!(fetched.status, 200, "{}", fetched.text());
    assert_eq!(
        &sha1_hex(&fetched.body),
        s3.objects().values().next().unwrap()
    );
    let tampered = url_path.replace("X-Amz-Expires=120", "X-Amz-Expires=9999");
    assert_eq!(
        http(s3.port, "GET", &tampered, &[], b"").status,
        403,
        "the server checks the signature"
    );

    install_widget(&reg, work.path());
    let c = Client::new(&reg);
    let app = make_app(work.path(), "pnpm-app", json!({"@acme/widget": "^1.0.0"}));
    let store = work.path().join("pnpm-store");
    c.ok(
        "pnpm",
        &["install", "--store-dir", store.to_str().unwrap()],
        &app,
    );
    assert!(app.join("node_modules/@acme/widget/index.js").exists());
    let app = make_app(work.path(), "yarn-app", json!({"@acme/widget": "^1.0.0"}));
    c.yarn_install(&app, &work.path().join("yarn-cache"));
    assert!(app.join("node_modules/@acme/widget/index.js").exists());
    assert_eq!(
        reg.settled_log()
            .matches("GET /@acme/widget/-/widget-1.0.0.tgz 302")
            .count(),
        4,
        "npm, pnpm and yarn were each redirected (plus the raw GET above)"
    );
    assert!(
        !reg.settled_log()
            .contains("GET /@acme/widget/-/widget-1.0.0.tgz 200"),
        "the bytes never went through nmr"
    );
}

#[test]
fn a_wrong_secret_or_an_unreachable_endpoint_stops_start_up() {
    let mut s3 = S3Server::start();
    let dir = TempDir::new("badkey");
    let start_fails = |s3: &S3Server, set: &[&str]| {
        let mut cmd = s3.nmr(dir.path(), &["serve", "--port", "0"]);
        for kv in set {
            cmd.args(["--set", kv]);
        }
        let (code, _, err) = text(&cmd.output().unwrap());
        assert_eq!(code, 1, "{err}");
        assert!(
            err.contains(&format!("at {}", s3.endpoint())),
            "names the endpoint: {err}"
        );
        err
    };
    let err = start_fails(&s3, &["storage.s3.secret_access_key=not-the-secret"]);
    assert!(
        err.contains(&format!("S3 bucket \"{BUCKET}\"")) && err.contains("SignatureDoesNotMatch"),
        "{err}"
    );
    assert!(
        !err.contains("not-the-secret"),
        "the secret is never printed"
    );
    let err = start_fails(&s3, &["storage.s3.bucket=no-such-bucket"]);
    assert!(
        err.contains("\"no-such-bucket\"") && err.contains("NoSuchBucket"),
        "{err}"
    );
    s3.stop();
    let err = start_fails(&s3, &[]);
    assert!(err.contains("unreachable"), "{err}");
}

#[test]
fn credentials_come_from_config_or_aws_variables_and_are_never_printed() {
    let s3 = S3Server::start();
    let dir = TempDir::new("creds");
    let (code, out, err) = text(&s3.nmr(dir.path(), &["config"]).output().unwrap());
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("secret_access_key = \"********\"")
            && out.contains(&format!("access_key_id = \"{ACCESS_KEY}\""))
            && !out.contains(SECRET_KEY),
        "{out}"
    );

    let no_keys = [
        "--set",
        "storage.type=s3",
        "--set",
        &format!("storage.s3.bucket={BUCKET}"),
        "--set",
        &format!("storage.s3.endpoint={}", s3.endpoint()),
        "--set",
        "storage.s3.path_style=true",
    ]
    .map(String::from);
    let aws = [
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
    ];
    let (code, out, err) = text(
        &nmr_command(dir.path())
            .arg("config")
            .args(&no_keys)
            .envs(aws)
            .output()
            .unwrap(),
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        !out.contains(SECRET_KEY)
            && out.contains("from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (not shown)"),
        "{out}"
    );

    let args: Vec<&str> = no_keys.iter().map(String::as_str).collect();
    let reg = Registry::start_with(&args, &aws);
    raw_publish(&reg, "plainpkg", "1.0.0");
    assert_eq!(s3.objects().len(), 1);
    drop(reg);

    let (code, _, err) = text(
        &nmr_command(dir.path())
            .args(["serve", "--port", "0"])
            .args(&no_keys)
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .output()
            .unwrap(),
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("AWS_SECRET_ACCESS_KEY"), "{err}");
}

#[test]
fn an_s3_outage_gives_503s_writes_nothing_and_heals() {
    let mut s3 = S3Server::start();
    let reg = s3.registry(&[]);
    let tgz = raw_publish(&reg, "plainpkg", "1.0.0");
    s3.stop();

    let before = (reg.snapshot(), s3.objects());
    let next = fake_tgz("plainpkg@1.1.0");
    let r = reg.put_json(
        "/plainpkg",
        &publish_body("plainpkg", "1.1.0", &next, "latest"),
    );
    assert_eq!(r.status, 503, "{}", r.text());
    let err = r.error();
    assert!(
        err.contains(&format!("S3 bucket \"{BUCKET}\"")) && err.contains("unreachable"),
        "{err}"
    );
    let r = reg.put_json(
        "/newpkg",
        &publish_body("newpkg", "1.0.0", &fake_tgz("n"), "latest"),
    );
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(
        (reg.snapshot(), s3.objects()),
        before,
        "a failed publish wrote nothing"
    );

    let g = reg.get("/plainpkg/-/plainpkg-1.0.0.tgz");
    assert_eq!(g.status, 503);
    assert!(g.error().contains(&format!("S3 bucket \"{BUCKET}\"")));
    let doc = reg.get("/plainpkg").json();
    assert_eq!(doc["dist-tags"]["latest"], "1.0.0", "metadata still served");

    s3.restart();
    let r = reg.put_json(
        "/plainpkg",
        &publish_body("plainpkg", "1.1.0", &next, "latest"),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(reg.get("/plainpkg/-/plainpkg-1.0.0.tgz").body, tgz);
    assert_eq!(reg.get("/plainpkg/-/plainpkg-1.1.0.tgz").body, next);
}

#[test]
fn s3_error_answers_fail_publishes_and_gets_and_write_nothing() {
    let mut s3 = S3Server::start();
    let reg = s3.registry(&[]);
    let tgz = raw_publish(&reg, "plainpkg", "1.0.0");
    let publish = |name: &str| {
        let path = format!("/{}", name.replace('/', "%2f"));
        reg.put_json(
            &path,
            &publish_body(name, "1.0.0", &fake_tgz(name), "latest"),
        )
    };

    // A file where the package's folder would go: the server answers 500 to the upload.
    std::fs::write(s3.dir.path().join(BUCKET).join("blocked"), b"in the way").unwrap();
    let before = (reg.snapshot(), s3.objects());
    let r = publish("blocked");
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(r.error().contains("answered 500"), "{}", r.error());
    assert_eq!((reg.snapshot(), s3.objects()), before, "nothing written");

    // The server no longer accepts nmr's secret (rotated or revoked): 502, naming the cause.
    s3.restart_with_secret("rotated-secret-key");
    let r = publish("@acme/late");
    assert_eq!(r.status, 502, "{}", r.text());
    assert!(
        r.error().contains(&format!("S3 bucket \"{BUCKET}\""))
            && r.error().contains("SignatureDoesNotMatch"),
        "{}",
        r.error()
    );
    assert_eq!((reg.snapshot(), s3.objects()), before, "nothing written");
    let g = reg.get("/plainpkg/-/plainpkg-1.0.0.tgz");
    assert_eq!(g.status, 502, "{}", g.text());
    assert!(
        reg.settled_log().contains("SignatureDoesNotMatch"),
        "logged too"
    );

    s3.restart();
    assert_eq!(reg.get("/plainpkg/-/plainpkg-1.0.0.tgz").body, tgz);
}

#[test]
fn a_store_that_loses_s3_fails_each_call_with_503() {
    let mut server = S3Server::start();
    let store = BlobStore::S3(nmr::store::s3::S3::open(&s3_config(&server, "")).unwrap());
    store.put("a/b.tgz", b"x").unwrap();
    server.stop();
    // Through the mapping the request path uses, so the test checks what a client gets.
    let unavailable = |r: Result<(), nmr::store::Error>| match r.map_err(Error::from) {
        Err(e @ Error::Unavailable(_)) => assert!(e.message().contains(BUCKET), "{e}"),
        other => panic!("expected 503, got {other:?}"),
    };
    unavailable(store.put("a/c.tgz", b"y").map(drop));
    unavailable(store.get("a/b.tgz").map(drop));
    unavailable(store.exists("a/b.tgz").map(drop));
    unavailable(store.list().map(drop));
    unavailable(store.delete("a/b.tgz"));
}

#[test]
fn a_prefix_keeps_nmr_in_one_folder_of_the_bucket() {
    let server = S3Server::start();
    std::fs::create_dir_all(server.dir.path().join(BUCKET).join("other")).unwrap();
    std::fs::write(
        server.dir.path().join(BUCKET).join("other/file"),
        b"not nmr's",
    )
    .unwrap();
    let store = BlobStore::S3(nmr::store::s3::S3::open(&s3_config(&server, "npm/v1/")).unwrap());
    store.put("plainpkg/p-1.0.0-aa.tgz", b"bytes").unwrap();
    assert!(server
        .object_path("npm/v1/plainpkg/p-1.0.0-aa.tgz")
        .is_file());
    assert_eq!(store.list().unwrap(), ["plainpkg/p-1.0.0-aa.tgz"]);
    assert_eq!(
        read_all(&store, "plainpkg/p-1.0.0-aa.tgz").unwrap(),
        b"bytes"
    );
}

/// Every file in a registry dir's local storage: key → sha1.
fn local_objects(dir: &std::path::Path) -> std::collections::BTreeMap<String, String> {
    snapshot(dir)
        .into_iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("file ")?.to_string(), v)))
        .collect()
}

#[test]
fn storage_copy_to_s3_is_verified_resumable_and_never_overwrites() {
    let s3 = S3Server::start();
    let reg = Registry::start();
    raw_publish(&reg, "plainpkg", "1.0.0");
    raw_publish(&reg, "plainpkg", "1.1.0");
    raw_publish(&reg, "@acme/widget", "1.0.0");
    let dir = reg.stop();
    let local = local_objects(dir.path());
    assert_eq!(local.len(), 3);
    let copy = || {
        text(
            &s3.nmr(dir.path(), &["storage", "copy", "--to", "s3"])
                .output()
                .unwrap(),
        )
    };

    let (code, out, err) = copy();
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(s3.objects(), local, "every tarball, byte for byte");
    assert!(
        out.contains("[1/3] copied ") && out.contains("[3/3] copied "),
        "{out}"
    );
    assert!(
        out.contains("done: 3 tarballs, 3 copied, 0 already there, 0 failed"),
        "{out}"
    );

    let (code, out, _) = copy();
    assert_eq!(code, 0);
    assert!(
        out.contains("done: 3 tarballs, 0 copied, 3 already there, 0 failed"),
        "{out}"
    );

    // An interrupted copy is finished by running it again.
    let (first, _) = local.iter().next().unwrap();
    std::fs::remove_file(s3.object_path(first)).unwrap();
    let (code, out, _) = copy();
    assert_eq!(code, 0);
    assert!(out.contains("1 copied, 2 already there"), "{out}");

    // A damaged object at the destination is named, left alone, and fails the run.
    std::fs::write(s3.object_path(first), b"damaged").unwrap();
    let (code, out, err) = copy();
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains(&format!("FAILED {first}")) && err.contains("do not match the metadata"),
        "{err}"
    );
    assert!(out.contains("0 copied, 2 already there, 1 failed"), "{out}");
    assert_eq!(std::fs::read(s3.object_path(first)).unwrap(), b"damaged");
    std::fs::remove_file(s3.object_path(first)).unwrap();
    assert_eq!(copy().0, 0);

    // The same metadata now serves from S3.
    let reg = s3.registry_in(dir, &[]);
    let r = reg.get("/@acme/widget/-/widget-1.0.0.tgz");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, fake_tgz("@acme/widget@1.0.0"));
}

#[test]
fn storage_copy_to_local_refuses_a_source_that_does_not_match_the_metadata() {
    let s3 = S3Server::start();
    let reg = s3.registry(&[]);
    raw_publish(&reg, "plainpkg", "1.0.0");
    raw_publish(&reg, "otherpkg", "1.0.0");
    let dir = reg.stop();
    let bad = s3
        .objects()
        .into_keys()
        .find(|k| k.starts_with("plainpkg/"))
        .unwrap();
    std::fs::write(s3.object_path(&bad), b"bit rot").unwrap();

    let (code, out, err) = text(
        &s3.nmr(dir.path(), &["storage", "copy", "--to", "local"])
            .output()
            .unwrap(),
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains(&format!("FAILED {bad}")), "{err}");
    assert!(out.contains("1 copied, 0 already there, 1 failed"), "{out}");
    let local = local_objects(dir.path());
    assert_eq!(local.len(), 1, "{local:?}");
    assert!(local.keys().all(|k| k.starts_with("otherpkg/")));
}

#[test]
fn storage_copy_usage_errors_exit_2_and_touch_nothing() {
    let dir = TempDir::new("copy-usage");
    for (args, part) in [
        (&["storage", "copy"][..], "--to"),
        (
            &["storage", "copy", "--to", "s3", "--from", "s3"],
            "both s3",
        ),
        (&["storage", "copy", "--to", "gcs"], "gcs"),
        (&["storage", "move"], "copy"),
        (&["storage", "copy", "--to", "s3"], "storage.s3.bucket"),
    ] {
        let (code, _, err) = text(&nmr_command(dir.path()).args(args).output().unwrap());
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(part), "{args:?}: {err}");
    }
    assert!(!dir.path().join("data").exists());
}

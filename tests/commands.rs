//! The rest of the everyday npm command set, through the real npm 11 client (and pnpm where it
//! differs), with assertions on what the client prints and on the stored state afterwards:
//! - `npm unpublish pkg@v` and `npm unpublish pkg --force`: 410 afterwards, never republished,
//!   `latest` moved by the server to the highest remaining release;
//! - `npm owner add/ls/rm`, `npm access list/get/set`;
//! - `npm search` (and pnpm's), `npm view` of ranges and fields, `npm star/stars`, `npm whoami`;
//! - audit: `npm install` stays quiet, `npm audit` says the registry has no advisory data;
//! - raw HTTP: stale `_rev` is 409, a revision PUT cannot add or alter versions.

use crate::support::*;
use serde_json::{json, Value};
use std::path::Path;

fn publish(c: &Client, work: &Path, manifest: Value, extra: &[&str]) -> String {
    let mut args = vec!["publish"];
    args.extend_from_slice(extra);
    c.ok("npm", &args, &make_package(work, manifest))
}

fn widget(version: &str) -> Value {
    json!({"name": "@acme/widget", "version": version, "description": "A form widget", "keywords": ["ui", "forms"], "license": "MIT"})
}

/// A registry, a client for it and a work dir, with `plainpkg@1.0.0` published by npm.
fn with_plainpkg() -> (Registry, Client, TempDir) {
    let reg = Registry::start();
    let c = Client::new(&reg);
    let work = TempDir::new("work");
    publish(
        &c,
        work.path(),
        json!({"name": "plainpkg", "version": "1.0.0"}),
        &[],
    );
    (reg, c, work)
}

fn files_of(reg: &Registry, prefix: &str) -> usize {
    reg.snapshot()
        .keys()
        .filter(|k| k.starts_with(&format!("file {prefix}")))
        .count()
}

#[test]
fn npm_unpublishes_versions_and_packages_for_good() {
    let reg = Registry::start();
    let c = Client::new(&reg);
    let work = TempDir::new("work");
    for v in ["1.0.0", "1.1.0", "1.2.0"] {
        publish(&c, work.path(), widget(v), &[]);
    }
    publish(&c, work.path(), widget("2.0.0-beta.1"), &["--tag", "beta"]);
    assert_eq!(files_of(&reg, "@acme/widget/"), 4);

    let published_at = reg.get("/@acme%2fwidget").json()["time"]["1.0.0"].clone();
    let out = c.ok("npm", &["unpublish", "@acme/widget@1.2.0"], work.path());
    assert!(out.contains("- @acme/widget@1.2.0"), "{out}");
    let doc = reg.get("/@acme%2fwidget").json();
    let versions: Vec<&String> = doc["versions"].as_object().unwrap().keys().collect();
    assert_eq!(versions, ["1.0.0", "1.1.0", "2.0.0-beta.1"]);
    assert_eq!(
        doc["dist-tags"],
        json!({"latest": "1.1.0", "beta": "2.0.0-beta.1"}),
        "latest moves to the highest release, not the beta npm picked"
    );
    assert!(doc["time"].get("1.2.0").is_none());
    assert_eq!(
        doc["time"]["1.0.0"], published_at,
        "other versions keep their publish time"
    );
    assert_eq!(
        files_of(&reg, "@acme/widget/"),
        3,
        "the unpublished tarball is gone from storage"
    );
    let gone = reg.get("/@acme/widget/-/widget-1.2.0.tgz");
    assert_eq!(gone.status, 410);
    assert!(gone.error().contains("unpublished"));
    assert_eq!(reg.get("/@acme%2fwidget/1.2.0").status, 410);

    let again = c.run(
        "npm",
        &["publish"],
        &make_package(&work.path().join("again"), widget("1.2.0")),
    );
    let text = String::from_utf8_lossy(&again.stderr);
    assert!(
        !again.status.success() && text.contains("409") && text.contains("never be reused"),
        "{text}"
    );

    let out = c.ok(
        "npm",
        &["unpublish", "@acme/widget", "--force"],
        work.path(),
    );
    assert!(out.contains("- @acme/widget"), "{out}");
    assert_eq!(reg.get("/@acme%2fwidget").status, 404);
    assert_eq!(reg.get("/@acme/widget/-/widget-1.0.0.tgz").status, 410);
    assert_eq!(files_of(&reg, "@acme/widget/"), 0);

    // The name is free again, but none of its old versions.
    publish(&c, &work.path().join("new"), widget("3.0.0"), &[]);
    assert_eq!(
        reg.get("/@acme%2fwidget").json()["dist-tags"]["latest"],
        "3.0.0"
    );
    let old = c.run(
        "npm",
        &["publish", "--tag", "old"],
        &make_package(&work.path().join("old"), widget("1.0.0")),
    );
    assert!(
        !old.status.success(),
        "1.0.0 was unpublished and cannot come back"
    );
}

#[test]
fn npm_owner_and_access_commands() {
    let (reg, c, work) = with_plainpkg();

    assert!(c
        .ok("npm", &["owner", "add", "bob", "plainpkg"], work.path())
        .contains("+ bob (plainpkg)"));
    assert!(c
        .ok("npm", &["owner", "add", "carol", "plainpkg"], work.path())
        .contains("+ carol (plainpkg)"));
    let ls = c.ok("npm", &["owner", "ls", "plainpkg"], work.path());
    assert!(ls.contains("bob") && ls.contains("carol"), "{ls}");
    assert!(c
        .ok("npm", &["owner", "rm", "bob", "plainpkg"], work.path())
        .contains("- bob (plainpkg)"));
    let doc = reg.get("/plainpkg").json();
    assert_eq!(doc["maintainers"], json!([{"name": "carol", "email": ""}]));

    let collab = c.ok(
        "npm",
        &["access", "list", "collaborators", "plainpkg"],
        work.path(),
    );
    assert!(
        collab.contains("carol: read-write") && !collab.contains("bob"),
        "{collab}"
    );
    let pkgs = c.ok("npm", &["access", "list", "packages", "carol"], work.path());
    assert!(pkgs.contains("plainpkg: read-write"), "{pkgs}");
    // npm changes status for scoped packages only.
    publish(&c, work.path(), widget("1.0.0"), &[]);
    let status = c.ok(
        "npm",
        &["access", "get", "status", "@acme/widget"],
        work.path(),
    );
    assert!(status.contains("private"), "{status}");
    c.ok(
        "npm",
        &["access", "set", "status=private", "@acme/widget"],
        work.path(),
    );
    let public = c.run(
        "npm",
        &["access", "set", "status=public", "@acme/widget"],
        work.path(),
    );
    let text = String::from_utf8_lossy(&public.stderr);
    assert!(
        !public.status.success() && text.contains("cannot be made public"),
        "{text}"
    );
    let mfa = c.run(
        "npm",
        &["access", "set", "mfa=publish", "@acme/widget"],
        work.path(),
    );
    let text = String::from_utf8_lossy(&mfa.stderr);
    assert!(
        !mfa.status.success() && text.contains("not supported by nmr"),
        "{text}"
    );
}

#[test]
fn npm_search_view_star_whoami() {
    let reg = Registry::start();
    let c = Client::new(&reg);
    let work = TempDir::new("work");
    publish(&c, work.path(), widget("1.0.0"), &[]);
    publish(&c, work.path(), widget("1.1.0"), &[]);
    publish(
        &c,
        work.path(),
        json!({"name": "plainpkg", "version": "1.0.0", "description": "plain helpers", "keywords": ["util"], "author": "Ann Author <ann@example.test>"}),
        &[],
    );
    publish(
        &c,
        work.path(),
        json!({"name": "@other/gadget", "version": "0.1.0", "description": "uses a widget inside"}),
        &[],
    );

    let hits = |args: &[&str]| -> Vec<Value> {
        let mut a = vec!["search", "--json"];
        a.extend_from_slice(args);
        serde_json::from_str::<Vec<Value>>(&c.ok("npm", &a, work.path())).unwrap()
    };
    let found = hits(&["widget"]);
    let names: Vec<&str> = found.iter().map(|h| h["name"].as_str().unwrap()).collect();
    assert_eq!(names.first(), Some(&"@acme/widget"), "{found:?}");
    assert!(
        names.contains(&"@other/gadget"),
        "description matches too: {names:?}"
    );
    assert_eq!(found[0]["version"], "1.1.0");
    assert_eq!(found[0]["description"], "A form widget");
    assert!(found[0]["date"].as_str().unwrap().starts_with("20"));
    assert_eq!(found[0]["keywords"], json!(["ui", "forms"]));
    let names = |h: Vec<Value>| {
        h.iter()
            .map(|x| x["name"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(hits(&["keywords:util"])), ["plainpkg"]);
    assert_eq!(names(hits(&["scope:other"])), ["@other/gadget"]);
    assert_eq!(names(hits(&["author:ann"])), ["plainpkg"]);
    assert!(hits(&["nothingmatchesthis"]).is_empty());
    let text = c.ok("npm", &["search", "widget"], work.path());
    assert!(
        text.contains("@acme/widget")
            && text.contains("by anonymous")
            && !text.contains("prehistoric"),
        "{text}"
    );
    let p = c.ok("pnpm", &["search", "widget"], work.path());
    assert!(p.contains("@acme/widget"), "{p}");

    assert_eq!(
        c.ok(
            "npm",
            &["view", "@acme/widget@~1.0", "version"],
            work.path()
        )
        .trim(),
        "1.0.0"
    );
    let time: Value = serde_json::from_str(&c.ok(
        "npm",
        &["view", "@acme/widget", "time", "--json"],
        work.path(),
    ))
    .unwrap();
    for k in ["created", "modified", "1.0.0", "1.1.0"] {
        assert!(time[k].is_string(), "{k}: {time}");
    }

    assert_eq!(c.ok("npm", &["whoami"], work.path()).trim(), "anonymous");
    c.ok("npm", &["star", "plainpkg"], work.path());
    assert!(c.ok("npm", &["stars"], work.path()).contains("plainpkg"));
    c.ok("npm", &["unstar", "plainpkg"], work.path());
    assert!(!c.ok("npm", &["stars"], work.path()).contains("plainpkg"));
}

#[test]
fn install_stays_quiet_while_npm_audit_says_there_is_no_advisory_data() {
    let (reg, c, work) = with_plainpkg();
    let app = make_app(work.path(), "app", json!({"plainpkg": "^1.0.0"}));
    let out = c.ok("npm", &["install"], &app);
    assert!(
        !out.contains("vulnerabilities") && !out.contains("audit endpoint"),
        "{out}"
    );
    assert!(
        reg.settled_log()
            .contains("POST /-/npm/v1/security/advisories/bulk 404"),
        "npm did ask"
    );
    let audit = c.run("npm", &["audit"], &app);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&audit.stdout),
        String::from_utf8_lossy(&audit.stderr)
    );
    assert!(!audit.status.success(), "{text}");
    assert!(
        text.contains("no security advisory data") && !text.contains("found 0 vulnerabilities"),
        "{text}"
    );
}

#[test]
fn revision_writes_check_rev_and_never_alter_versions() {
    let reg = Registry::start();
    raw_publish(&reg, "plainpkg", "1.0.0");
    raw_publish(&reg, "plainpkg", "1.1.0");
    let doc = reg.get("/plainpkg?write=true").json();
    let rev = doc["_rev"].as_str().unwrap().to_string();
    let before = reg.snapshot();
    let put = |path: &str, body: &Value| {
        reg.request(
            "PUT",
            path,
            &[("Content-Type", "application/json")],
            body.to_string().as_bytes(),
        )
    };

    // A reduced document with a stale revision.
    let mut reduced = doc.clone();
    reduced["versions"].as_object_mut().unwrap().remove("1.1.0");
    let r = put("/plainpkg/-rev/1-0000000000000000", &reduced);
    assert_eq!(r.status, 409, "{}", r.text());
    assert!(r.error().contains("changed since it was read"));
    let r = reg.request("DELETE", "/plainpkg/-rev/1-0000000000000000", &[], b"");
    assert_eq!(r.status, 409);

    // Altering a published version's dist, or adding a version, is refused.
    let mut altered = doc.clone();
    altered["versions"]["1.0.0"]["dist"]["integrity"] = json!(integrity(b"other bytes"));
    let r = put(&format!("/plainpkg/-rev/{rev}"), &altered);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.error().contains("cannot change"));
    let mut added = doc.clone();
    added["versions"]["9.0.0"] = doc["versions"]["1.0.0"].clone();
    added["versions"]["9.0.0"]["version"] = json!("9.0.0");
    let r = put(&format!("/plainpkg/-rev/{rev}"), &added);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.error().contains("9.0.0"));
    // A tarball of a live version cannot be deleted on its own.
    let r = reg.request(
        "DELETE",
        &format!("/plainpkg/-/plainpkg-1.0.0.tgz/-rev/{rev}"),
        &[],
        b"",
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(
        reg.snapshot(),
        before,
        "refused revision writes changed nothing"
    );

    // With the current revision the same reduced document unpublishes 1.1.0.
    let r = put(&format!("/plainpkg/-rev/{rev}"), &reduced);
    assert_eq!(r.status, 201, "{}", r.text());
    let doc = reg.get("/plainpkg").json();
    assert_eq!(doc["dist-tags"]["latest"], "1.0.0");
    assert!(doc["versions"].get("1.1.0").is_none());
    let new_rev = doc["_rev"].as_str().unwrap();
    assert_ne!(new_rev, rev);
    let r = reg.request(
        "DELETE",
        &format!("/plainpkg/-/plainpkg-1.1.0.tgz/-rev/{new_rev}"),
        &[],
        b"",
    );
    assert_eq!(r.status, 201, "{}", r.text());
}

#[test]
fn token_and_logout_commands_answer_clearly_without_accounts() {
    let reg = Registry::start();
    let c = Client::new(&reg);
    let work = TempDir::new("work");
    c.ok("npm", &["token", "list"], work.path());
    let create = c.run("npm", &["token", "create", "--password", "x"], work.path());
    let text = String::from_utf8_lossy(&create.stderr);
    assert!(
        !create.status.success() && text.contains("auth.type = none"),
        "{text}"
    );
    c.ok("npm", &["logout"], work.path());
    let log = reg.settled_log();
    assert!(
        log.contains("DELETE /-/user/token/<redacted> 200") && !log.contains("test-token"),
        "{log}"
    );
    let npmrc = std::fs::read_to_string(c.home.path().join("npmrc")).unwrap();
    assert!(
        !npmrc.contains("test-token"),
        "npm removed the token after logout: {npmrc}"
    );
}

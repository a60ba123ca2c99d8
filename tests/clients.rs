//! The real clients against a real registry:
//! - npm 11 publishes scoped and unscoped packages, a second version and a `--tag beta` one;
//! - `npm view`, `npm dist-tag add/ls/rm`, `npm deprecate` (and undo), `npm ping`;
//! - `npm install` into a fresh project (fresh cache), then `npm ci` from the lockfile;
//! - pnpm 10 publishes and installs; yarn 1 installs; lockfiles point at this registry.

use crate::support::*;
use serde_json::{json, Value};
use std::path::Path;

fn publish_widget_family(c: &Client, work: &Path) {
    let widget = json!({"name": "@acme/widget", "version": "1.0.0", "description": "test widget", "main": "index.js", "license": "MIT"});
    c.ok("npm", &["publish"], &make_package(work, widget.clone()));
    let mut v110 = widget.clone();
    v110["version"] = json!("1.1.0");
    c.ok("npm", &["publish"], &make_package(work, v110));
    let mut beta = widget;
    beta["version"] = json!("2.0.0-beta.1");
    let out = c.ok(
        "npm",
        &["publish", "--tag", "beta"],
        &make_package(work, beta),
    );
    assert!(out.contains("@acme/widget@2.0.0-beta.1"), "{out}");
    let plain = json!({"name": "plainpkg", "version": "1.0.0", "main": "index.js", "license": "ISC", "dependencies": {"@acme/widget": "^1.0.0"}});
    c.ok("npm", &["publish"], &make_package(work, plain));
}

fn view_json(c: &Client, args: &[&str], cwd: &Path) -> Value {
    let out = c.run("npm", args, cwd);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn npm_publishes_views_tags_and_deprecates() {
    let reg = Registry::start();
    let c = Client::new(&reg);
    let work = TempDir::new("work");
    publish_widget_family(&c, work.path());

    let view = view_json(&c, &["view", "@acme/widget", "--json"], work.path());
    assert_eq!(view["versions"], json!(["1.0.0", "1.1.0", "2.0.0-beta.1"]));
    assert_eq!(
        view["dist-tags"],
        json!({"latest": "1.1.0", "beta": "2.0.0-beta.1"})
    );
    assert_eq!(view["description"], "test widget");
    assert_eq!(
        view["dist"]["tarball"],
        format!("{}/@acme/widget/-/widget-1.1.0.tgz", reg.url())
    );
    let deps = view_json(
        &c,
        &["view", "plainpkg", "dependencies", "--json"],
        work.path(),
    );
    assert_eq!(deps, json!({"@acme/widget": "^1.0.0"}));

    c.ok(
        "npm",
        &["dist-tag", "add", "@acme/widget@1.0.0", "stable"],
        work.path(),
    );
    let ls = c.ok("npm", &["dist-tag", "ls", "@acme/widget"], work.path());
    assert!(
        ls.contains("stable: 1.0.0")
            && ls.contains("beta: 2.0.0-beta.1")
            && ls.contains("latest: 1.1.0"),
        "{ls}"
    );
    c.ok(
        "npm",
        &["dist-tag", "rm", "@acme/widget", "stable"],
        work.path(),
    );
    let ls = c.ok("npm", &["dist-tag", "ls", "@acme/widget"], work.path());
    assert!(!ls.contains("stable"), "{ls}");

    c.ok(
        "npm",
        &["deprecate", "@acme/widget@1.0.0", "use 1.1 please"],
        work.path(),
    );
    let dep = view_json(
        &c,
        &["view", "@acme/widget@1.0.0", "deprecated", "--json"],
        work.path(),
    );
    assert_eq!(dep, json!("use 1.1 please"));
    let other = c.run(
        "npm",
        &["view", "@acme/widget@1.1.0", "deprecated"],
        work.path(),
    );
    assert_eq!(String::from_utf8_lossy(&other.stdout).trim(), "");
    c.ok("npm", &["deprecate", "@acme/widget@1.0.0", ""], work.path());
    let doc = reg.get("/@acme%2fwidget").json();
    assert!(
        doc["versions"]["1.0.0"].get("deprecated").is_none(),
        "{doc}"
    );

    let ping = c.ok("npm", &["ping"], work.path());
    assert!(ping.contains("PONG"), "{ping}");
}

#[test]
fn npm_installs_into_a_fresh_project_and_ci_reproduces_it() {
    let reg = Registry::start();
    let publisher = Client::new(&reg);
    let work = TempDir::new("work");
    publish_widget_family(&publisher, work.path());

    // A separate client: empty cache, so every tarball really comes from the registry.
    let c = Client::new(&reg);
    let app = make_app(work.path(), "app", json!({}));
    c.ok("npm", &["install", "plainpkg"], &app);
    let widget: Value = serde_json::from_str(
        &std::fs::read_to_string(app.join("node_modules/@acme/widget/package.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        widget["version"], "1.1.0",
        "^1.0.0 resolves to latest release, not the beta"
    );
    assert_eq!(node_require(&app, "@acme/widget"), "@acme/widget@1.1.0");
    let lock: Value =
        serde_json::from_str(&std::fs::read_to_string(app.join("package-lock.json")).unwrap())
            .unwrap();
    let entry = &lock["packages"]["node_modules/@acme/widget"];
    assert_eq!(
        entry["resolved"],
        format!("{}/@acme/widget/-/widget-1.1.0.tgz", reg.url())
    );
    assert!(entry["integrity"].as_str().unwrap().starts_with("sha512-"));

    std::fs::remove_dir_all(app.join("node_modules")).unwrap();
    let fresh = Client::new(&reg);
    let before = reg
        .settled_log()
        .matches("GET /@acme/widget/-/widget-1.1.0.tgz 200")
        .count();
    fresh.ok("npm", &["ci"], &app);
    assert!(app.join("node_modules/plainpkg/index.js").exists());
    assert!(app.join("node_modules/@acme/widget/index.js").exists());
    let after = reg
        .settled_log()
        .matches("GET /@acme/widget/-/widget-1.1.0.tgz 200")
        .count();
    assert_eq!(
        after,
        before + 1,
        "npm ci downloaded the tarball from the registry"
    );
}

#[test]
fn pnpm_publishes_and_installs() {
    let reg = Registry::start();
    let c = Client::new(&reg);
    let work = TempDir::new("work");
    let widget =
        json!({"name": "@acme/gadget", "version": "1.0.0", "main": "index.js", "license": "MIT"});
    c.ok(
        "pnpm",
        &["publish", "--no-git-checks"],
        &make_package(work.path(), widget),
    );
    let plain = json!({"name": "pnpm-plain", "version": "0.1.0", "main": "index.js", "license": "MIT", "dependencies": {"@acme/gadget": "^1.0.0"}});
    c.ok(
        "pnpm",
        &["publish", "--no-git-checks"],
        &make_package(work.path(), plain),
    );

    let app = make_app(work.path(), "app", json!({"pnpm-plain": "^0.1.0"}));
    c.pnpm_install(&app, &work.path().join("pnpm-store"));
    let gadget: Value =
        serde_json::from_str(
            &std::fs::read_to_string(app.join(
                "node_modules/.pnpm/@acme+gadget@1.0.0/node_modules/@acme/gadget/package.json",
            ))
            .unwrap(),
        )
        .unwrap();
    assert_eq!(gadget["version"], "1.0.0");
    let lock = std::fs::read_to_string(app.join("pnpm-lock.yaml")).unwrap();
    assert!(
        lock.contains("'@acme/gadget@1.0.0'") && lock.contains("integrity: sha512-"),
        "{lock}"
    );
    assert!(
        reg.settled_log()
            .contains("GET /@acme/gadget/-/gadget-1.0.0.tgz 200"),
        "pnpm fetched the canonical tarball path"
    );
}

#[test]
fn yarn_installs_scoped_and_unscoped() {
    let reg = Registry::start();
    let npm = Client::new(&reg);
    let work = TempDir::new("work");
    publish_widget_family(&npm, work.path());

    let c = Client::new(&reg);
    let app = make_app(work.path(), "app", json!({"plainpkg": "^1.0.0"}));
    c.yarn_install(&app, &work.path().join("yc"));
    assert!(app.join("node_modules/@acme/widget/index.js").exists());
    let lock = std::fs::read_to_string(app.join("yarn.lock")).unwrap();
    let tgz = reg.get("/@acme/widget/-/widget-1.1.0.tgz").body;
    assert!(
        lock.contains(&format!(
            "resolved \"{}/@acme/widget/-/widget-1.1.0.tgz#{}\"",
            reg.url(),
            sha1_hex(&tgz)
        )),
        "{lock}"
    );
}

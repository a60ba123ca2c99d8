//! Who may learn that a package exists (github mode, against the fake GitHub API):
//! - a package the caller may not read answers every route exactly as a name that is not here
//!   (404, same body), writes included, and is left out of every listing, search total and
//!   star list;
//! - a package with no recorded repository (imported, or published in another auth mode) is
//!   nobody's: unreadable and unwritable, whatever a publish body claims, until the operator
//!   assigns it with `nmr package set-repo` or `nmr import --repository-from-manifest`; in
//!   local mode, a package without maintainers is likewise nobody's until
//!   `nmr package add-owner`;
//! - two first publishes racing for one name cannot both own it.

use crate::auth_github::{fake, publish_as, publish_widget, registry, restart, HOST};
use crate::support::auth::{as_user, nmr};
use crate::support::*;
use serde_json::json;
use std::collections::BTreeSet;
use std::path::Path;

/// The keys of a JSON object answer.
fn keys(r: &Resp) -> BTreeSet<String> {
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {}", r.text()))
        .keys()
        .cloned()
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

/// Search hits' names and the total, as `token` sees them.
fn search(reg: &Registry, token: &str, query: &str) -> (Vec<String>, i64) {
    let r = reg.get_as(&format!("/-/v1/search?{query}"), token);
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    let names = v["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["package"]["name"].as_str().unwrap().to_string())
        .collect();
    (names, v["total"].as_i64().unwrap())
}

/// `token`'s answer for `path` on the package `@acme/<real>` is the answer for a name that is
/// not here (`@acme/<absent>`), names aside.
fn same_as_absent(reg: &Registry, token: &str, method: &str, path: &str, body: &[u8]) {
    let real = as_user(reg, token, method, path, body);
    let absent_path = path.replace("widget", "absent");
    let absent_body = String::from_utf8_lossy(body).replace("widget", "absent");
    let absent = as_user(reg, token, method, &absent_path, absent_body.as_bytes());
    assert_eq!(
        (real.status, real.text().replace("widget", "absent")),
        (absent.status, absent.text()),
        "{method} {path} must not tell that the package exists"
    );
    assert_eq!(real.status, 404, "{method} {path}");
}

#[test]
fn visibility_unreadable_packages_are_absent_from_every_route_and_listing() {
    let gh = fake();
    let reg = registry(&gh, &[]);
    publish_widget(&reg);
    let r = publish_as(&reg, "tok-dave", "@acme/other", "1.0.0", Some("acme/other"));
    assert_eq!(r.status, 201, "{}", r.text());
    let star = |token: &str, user: &str, name: &str| {
        let body = json!({"_id": name, "users": {user: true}});
        as_user(
            &reg,
            token,
            "PUT",
            &format!("/{}", name.replace('/', "%2f")),
            body.to_string().as_bytes(),
        )
    };
    assert_eq!(star("tok-dave", "dave", "@acme/other").status, 200);
    let before = reg.snapshot();

    // carol may not read @acme/widget: every read and write says what it says of no package.
    for path in [
        "/@acme%2fwidget",
        "/@acme%2fwidget/1.0.0",
        "/@acme%2fwidget/latest",
        "/@acme/widget/-/widget-1.0.0.tgz",
        "/-/package/@acme%2fwidget/dist-tags",
        "/-/package/@acme%2fwidget/collaborators",
        "/-/package/@acme%2fwidget/visibility",
    ] {
        same_as_absent(&reg, "tok-carol", "GET", path, b"");
    }
    same_as_absent(
        &reg,
        "tok-carol",
        "PUT",
        "/-/package/@acme%2fwidget/dist-tags/next",
        b"\"1.0.0\"",
    );
    same_as_absent(
        &reg,
        "tok-carol",
        "DELETE",
        "/-/package/@acme%2fwidget/dist-tags/latest",
        b"",
    );
    let body = json!({"_id": "@acme/widget", "users": {"carol": true}});
    same_as_absent(
        &reg,
        "tok-carol",
        "PUT",
        "/@acme%2fwidget",
        body.to_string().as_bytes(),
    );
    let r = publish_as(
        &reg,
        "tok-carol",
        "@acme/widget",
        "1.1.0",
        Some("acme/widget"),
    );
    expect_error(&r, 404, &["@acme/widget"]);
    assert_eq!(
        reg.snapshot(),
        before,
        "nothing carol tried changed anything"
    );

    // Listings: each caller sees what they may read, and nothing else.
    let org = |token: &str| as_user(&reg, token, "GET", "/-/org/acme/package", b"");
    assert_eq!(keys(&org("tok-bob")), set(&["@acme/widget"]));
    assert_eq!(keys(&org("tok-dave")), set(&["@acme/other"]));
    assert_eq!(keys(&org("tok-alice")), set(&["@acme/widget"]));
    assert_eq!(org("tok-carol").status, 404, "an org of nothing readable");
    let user_pkgs = |token: &str, user: &str| {
        as_user(&reg, token, "GET", &format!("/-/user/{user}/package"), b"")
    };
    assert_eq!(keys(&user_pkgs("tok-carol", "alice")), set(&[]));
    assert_eq!(keys(&user_pkgs("tok-bob", "alice")), set(&["@acme/widget"]));
    assert_eq!(keys(&user_pkgs("tok-bob", "dave")), set(&[]));
    let starred = |token: &str| {
        reg.get_as("/-/_view/starredByUser?key=%22dave%22", token)
            .json()["rows"]
            .clone()
    };
    assert_eq!(starred("tok-bob"), json!([]));
    assert_eq!(starred("tok-dave"), json!([{"value": "@acme/other"}]));

    // Search: hits and total count only what the caller may read, on every page.
    assert_eq!(
        search(&reg, "tok-bob", "text=scope:acme"),
        (vec!["@acme/widget".to_string()], 1)
    );
    assert_eq!(search(&reg, "tok-carol", "text=scope:acme"), (vec![], 0));
    assert_eq!(
        search(&reg, "tok-dave", "text=scope:acme&size=1&from=0"),
        (vec!["@acme/other".to_string()], 1)
    );
    assert_eq!(
        search(&reg, "tok-dave", "text=scope:acme&size=1&from=1"),
        (vec![], 1)
    );
}

/// Publishes `name` through a registry in `auth.type = none`, which records no repository.
fn publish_open(reg: &Registry, name: &str, version: &str, repo: Option<&str>) {
    let mut body = publish_body(
        name,
        version,
        &fake_tgz(&format!("{name}@{version}")),
        "latest",
    );
    if let Some(r) = repo {
        body["versions"][version]["repository"] =
            json!({"type": "git", "url": format!("git+https://{HOST}/{r}.git")});
    }
    let r = reg.put_json(&format!("/{}", name.replace('/', "%2f")), &body);
    assert_eq!(r.status, 201, "{}", r.text());
}

#[test]
fn visibility_unassigned_packages_are_nobodys_until_the_operator_assigns_them() {
    let gh = fake();
    // Published while the registry ran without authentication: no repository is recorded.
    let open = Registry::start();
    publish_open(&open, "@acme/widget", "1.0.0", Some("acme/widget"));
    let reg = restart(open.stop(), &gh, &[]);
    assert!(
        reg.log().contains(
            "1 packages have no GitHub repository, so nobody may read or write them (e.g. @acme/widget)"
        ),
        "{}",
        reg.log()
    );
    let before = reg.snapshot();

    // alice may push to acme/widget, but nothing says that repository owns the package: she
    // may neither read it nor take it by publishing with that repository in the body.
    same_as_absent(&reg, "tok-alice", "GET", "/@acme%2fwidget", b"");
    let r = publish_as(
        &reg,
        "tok-alice",
        "@acme/widget",
        "1.1.0",
        Some("acme/widget"),
    );
    expect_error(&r, 404, &["@acme/widget"]);
    same_as_absent(
        &reg,
        "tok-alice",
        "PUT",
        "/-/package/@acme%2fwidget/dist-tags/next",
        b"\"1.0.0\"",
    );
    assert_eq!(reg.snapshot(), before, "no takeover, no change");

    // The operator lists and assigns; the scope rule holds for assignments too.
    let (code, out, err) = nmr(&reg, &["package", "unassigned"], "");
    assert_eq!((code, out.as_str()), (0, "@acme/widget\n"), "{err}");
    let (code, _, err) = nmr(
        &reg,
        &["package", "set-repo", "@acme/widget", "evil/widget"],
        "",
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("scope of @acme/widget must be the repository owner"),
        "{err}"
    );
    let (code, _, err) = nmr(
        &reg,
        &["package", "set-repo", "@acme/nothing", "acme/x"],
        "",
    );
    assert!(
        code != 0 && err.contains("no package @acme/nothing"),
        "{err}"
    );
    assert_eq!(reg.snapshot(), before, "refused assignments change nothing");
    let (code, out, err) = nmr(
        &reg,
        &["package", "set-repo", "@acme/widget", "acme/widget"],
        "",
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("@acme/widget: repository acme/widget"),
        "{out}"
    );
    assert_eq!(nmr(&reg, &["package", "unassigned"], "").1, "");

    // From now on acme/widget's permissions decide, at once (no restart).
    assert_eq!(reg.get_as("/@acme%2fwidget", "tok-bob").status, 200);
    assert_eq!(reg.get_as("/@acme%2fwidget", "tok-carol").status, 404);
    let r = publish_as(
        &reg,
        "tok-alice",
        "@acme/widget",
        "1.1.0",
        Some("acme/widget"),
    );
    assert_eq!(r.status, 201, "{}", r.text());
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn visibility_import_can_take_each_packages_repository_from_its_manifest() {
    let gh = fake();
    let work = TempDir::new("bundle");
    let source = Registry::start();
    publish_open(&source, "@acme/widget", "1.0.0", Some("acme/widget"));
    publish_open(&source, "@acme/stolen", "1.0.0", Some("evil/stolen"));
    publish_open(&source, "@acme/bare", "1.0.0", None);
    let bundle = work.path().join("b.tar");
    let (code, out, err) = nmr(&source, &["export", "--out", path_str(&bundle)], "");
    assert_eq!(code, 0, "{out}{err}");

    let reg = registry(&gh, &[]);
    let (code, out, err) = nmr(
        &reg,
        &[
            "import",
            path_str(&bundle),
            "--repository-from-manifest",
            "--set",
            &format!("auth.github.host={HOST}"),
        ],
        "",
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("@acme/widget: repository acme/widget"),
        "{out}"
    );
    assert!(
        out.contains("1 packages assigned from their manifests, 2 left unassigned"),
        "{out}"
    );
    assert!(
        out.contains("@acme/stolen: the scope of @acme/stolen must be the repository owner"),
        "{out}"
    );
    assert!(
        out.contains("@acme/bare: @acme/bare@1.0.0 names no repository"),
        "{out}"
    );
    assert_eq!(reg.get_as("/@acme%2fwidget", "tok-bob").status, 200);
    assert_eq!(reg.get_as("/@acme%2fstolen", "tok-alice").status, 404);
    let (_, out, _) = nmr(&reg, &["package", "unassigned"], "");
    assert_eq!(out, "@acme/bare\n@acme/stolen\n");
}

#[test]
fn visibility_racing_first_publishes_cannot_both_own_a_package() {
    // Local accounts: the first publisher becomes the maintainer; a second one racing it must
    // be checked against that, not let in as if the package were still new.
    let reg = Registry::start_with(&[], &[("NMR_AUTH__TYPE", "local")]);
    crate::support::auth::add_user(&reg, "ann", "ann-password-1");
    crate::support::auth::add_user(&reg, "ben", "ben-password-1");
    let ann = crate::support::auth::token(&reg, "ann", &[]);
    let ben = crate::support::auth::token(&reg, "ben", &[]);
    for i in 0..12 {
        let name = format!("race-{i}");
        let barrier = std::sync::Barrier::new(2);
        let go = |token: &str, version: &str| {
            let body = publish_body(&name, version, &fake_tgz(&format!("{token}{i}")), "latest");
            barrier.wait();
            let path = format!("/{name}");
            as_user(&reg, token, "PUT", &path, body.to_string().as_bytes()).status
        };
        let (a, b) = std::thread::scope(|s| {
            let a = s.spawn(|| go(&ann, "1.0.0"));
            let b = s.spawn(|| go(&ben, "2.0.0"));
            (a.join().unwrap(), b.join().unwrap())
        });
        let doc = reg.get_as(&format!("/{name}"), &ann).json();
        let versions: Vec<&String> = doc["versions"].as_object().unwrap().keys().collect();
        let owner = doc["maintainers"][0]["name"].as_str().unwrap().to_string();
        let expected: (u16, u16) = if owner == "ann" {
            (201, 403)
        } else {
            (403, 201)
        };
        assert_eq!((a, b), expected, "{name}: {versions:?} owned by {owner}");
        assert_eq!(versions.len(), 1, "{name}: only the owner's version");
    }
}

#[test]
fn visibility_local_packages_without_maintainers_are_nobodys_until_the_operator_names_one() {
    // Published while the registry ran without authentication: no maintainers are recorded.
    let open = Registry::start();
    publish_open(&open, "legacy-lib", "1.0.0", None);
    let reg = Registry::start_in(open.stop(), &[], &[("NMR_AUTH__TYPE", "local")]);
    assert!(
        reg.log().contains(
            "1 packages have no maintainers, so nobody may change them (e.g. legacy-lib)"
        ),
        "{}",
        reg.log()
    );
    crate::support::auth::add_user(&reg, "ann", "ann-password-1");
    crate::support::auth::add_user(&reg, "ben", "ben-password-1");
    let ann = crate::support::auth::token(&reg, "ann", &[]);
    let ben = crate::support::auth::token(&reg, "ben", &[]);
    let publish = |token: &str, version: &str| {
        let body = publish_body("legacy-lib", version, &fake_tgz(version), "latest");
        as_user(
            &reg,
            token,
            "PUT",
            "/legacy-lib",
            body.to_string().as_bytes(),
        )
    };
    let before = reg.snapshot();
    // The first account to write used to become its maintainer: a takeover of every migrated
    // package by whoever came first.
    expect_error(
        &publish(&ann, "1.1.0"),
        403,
        &["no maintainers", "nmr package add-owner"],
    );
    let r = as_user(
        &reg,
        &ann,
        "PUT",
        "/-/package/legacy-lib/dist-tags/next",
        b"\"1.0.0\"",
    );
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(reg.snapshot(), before, "refused writes change nothing");

    let (code, out, err) = nmr(&reg, &["package", "unowned"], "");
    assert_eq!((code, out.as_str()), (0, "legacy-lib\n"), "{err}");
    let (code, _, err) = nmr(&reg, &["package", "add-owner", "legacy-lib", "nobody"], "");
    assert!(code != 0 && err.contains("no account nobody"), "{err}");
    let (code, out, err) = nmr(&reg, &["package", "add-owner", "legacy-lib", "ann"], "");
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(nmr(&reg, &["package", "unowned"], "").1, "");

    assert_eq!(publish(&ann, "1.1.0").status, 201);
    expect_error(&publish(&ben, "1.2.0"), 403, &["not a maintainer"]);
    let doc = reg.get_as("/legacy-lib", &ben).json();
    assert_eq!(doc["maintainers"][0]["name"], "ann", "{doc}");
}

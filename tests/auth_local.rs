//! `auth.type = "local"`, through the real npm client and raw HTTP:
//! - `npm login` (interactive, through a terminal) / `whoami` / `token create|list|revoke` /
//!   `logout`; wrong passwords; registration closed unless allowed;
//! - the first publisher becomes the maintainer; only maintainers publish, tag, deprecate and
//!   unpublish an unscoped package (scoped ones follow their organisation: see `orgs`);
//!   `npm owner add` hands that on; read-only, expired and address-limited tokens;
//! - `auth.read = authenticated` keeps anonymous installs out, `public` lets them in.
//!
//! Every refusal leaves the stored state as it was.

use crate::support::auth::*;
use crate::support::*;
use serde_json::{json, Value};

#[test]
fn npm_login_whoami_tokens_and_logout() {
    let reg = local(&[]);
    add_user(&reg, "alice", "correct horse");
    let c = Client::new(&reg);
    c.set_token(None);
    let work = TempDir::new("work");

    let (ok, out) = npm_login(&c, work.path(), "alice", "wrong password");
    assert!(!ok, "a wrong password fails: {out}");
    let (ok, out) = npm_login(&c, work.path(), "alice", "correct horse");
    assert!(ok && out.contains("Logged in"), "{out}");
    let npmrc = std::fs::read_to_string(c.home.path().join("npmrc")).unwrap();
    assert!(
        npmrc.contains("_authToken=nmr_"),
        "npm saved the token: {npmrc}"
    );
    assert_eq!(c.ok("npm", &["whoami"], work.path()).trim(), "alice");
    let log = reg.settled_log();
    assert!(
        log.lines()
            .any(|l| l.contains("GET /-/whoami 200") && l.ends_with(" alice")),
        "the access line names the user: {log}"
    );

    let pkg = make_package(
        work.path(),
        json!({"name": "@acme/widget", "version": "1.0.0"}),
    );
    c.ok("npm", &["publish"], &pkg);
    let doc = reg.get_as("/@acme%2fwidget", &npmrc_token(&c)).json();
    assert_eq!(
        doc["maintainers"],
        json!([{"name": "alice", "email": "alice@example.test"}])
    );
    assert_eq!(doc["versions"]["1.0.0"]["_npmUser"]["name"], "alice");

    let created = c.ok(
        "npm",
        &["token", "create", "--password", "correct horse"],
        work.path(),
    );
    assert!(created.contains("nmr_"), "{created}");
    let listed = c.ok("npm", &["token", "list", "--json"], work.path());
    let list: Vec<Value> = serde_json::from_str(&listed).unwrap();
    assert_eq!(list.len(), 2, "the login token and the new one: {listed}");
    assert!(
        list.iter().all(|t| !t["token"]
            .as_str()
            .unwrap()
            .contains(&npmrc_token(&c)[12..])),
        "secrets are never listed"
    );
    let key = list.iter().find(|t| t["name"] != "npm login").unwrap()["key"]
        .as_str()
        .unwrap()
        .to_string();
    c.ok("npm", &["token", "revoke", &key[..8]], work.path());
    assert_eq!(
        serde_json::from_str::<Vec<Value>>(&c.ok("npm", &["token", "list", "--json"], work.path()))
            .unwrap()
            .len(),
        1
    );
    let bad = c.run(
        "npm",
        &["token", "create", "--password", "nope"],
        work.path(),
    );
    assert!(!bad.status.success());

    let old = npmrc_token(&c);
    c.ok("npm", &["logout"], work.path());
    let r = as_user(&reg, &old, "GET", "/-/whoami", b"");
    assert_eq!(r.status, 401, "the logged-out token is revoked");
    assert!(
        !reg.settled_log().contains(&old),
        "tokens never reach the log"
    );
}

/// The token a client has in its npmrc.
fn npmrc_token(c: &Client) -> String {
    let npmrc = std::fs::read_to_string(c.home.path().join("npmrc")).unwrap();
    npmrc
        .lines()
        .find_map(|l| l.split("_authToken=").nth(1))
        .unwrap()
        .trim()
        .to_string()
}

/// `PUT /-/user/org.couchdb.user:<name>` as npm login sends it.
fn couch_login(reg: &Registry, name: &str, body: &str) -> Resp {
    let path = format!("/-/user/org.couchdb.user:{name}");
    reg.request(
        "PUT",
        &path,
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
}

#[test]
fn registration_is_closed_unless_allowed() {
    let reg = local(&[]);
    let before = reg.snapshot();
    let body =
        json!({"name": "carol", "password": "long enough", "email": "c@example.test"}).to_string();
    let r = couch_login(&reg, "carol", &body);
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(reg.snapshot(), before);

    let reg = local(&[("NMR_AUTH__LOCAL__ALLOW_REGISTRATION", "true")]);
    let r = couch_login(&reg, "carol", &body);
    assert_eq!(r.status, 201, "{}", r.text());
    let token = r.json()["token"].as_str().unwrap().to_string();
    assert_eq!(
        as_user(&reg, &token, "GET", "/-/whoami", b"").json()["username"],
        "carol"
    );
    let short = json!({"name": "dave", "password": "short"}).to_string();
    let r = couch_login(&reg, "dave", &short);
    assert_eq!(r.status, 400, "{}", r.text());
    // The same name with the wrong password is not a new registration.
    let wrong = json!({"name": "carol", "password": "another one"}).to_string();
    let r = couch_login(&reg, "carol", &wrong);
    assert_eq!(r.status, 401);
}

#[test]
fn only_maintainers_write_and_owner_add_hands_it_on() {
    let reg = local(&[]);
    add_user(&reg, "alice", "alice password");
    add_user(&reg, "bob", "bob password!");
    let alice = token(&reg, "alice", &[]);
    let bob = token(&reg, "bob", &[]);
    assert_eq!(publish_as(&reg, &alice, "widget", "1.0.0").status, 201);

    let before = reg.snapshot();
    let r = publish_as(&reg, &bob, "widget", "1.1.0");
    expect_error(&r, 403, &["not a maintainer"]);
    assert_eq!(
        as_user(
            &reg,
            &bob,
            "PUT",
            "/-/package/widget/dist-tags/next",
            b"\"1.0.0\""
        )
        .status,
        403
    );
    let doc = as_user(&reg, &bob, "GET", "/widget?write=true", b"").json();
    let rev = doc["_rev"].as_str().unwrap().to_string();
    let mut deprecated = doc.clone();
    deprecated["versions"]["1.0.0"]["deprecated"] = json!("bob says no");
    assert_eq!(
        as_user(
            &reg,
            &bob,
            "PUT",
            "/widget",
            deprecated.to_string().as_bytes()
        )
        .status,
        403
    );
    assert_eq!(
        as_user(&reg, &bob, "DELETE", &format!("/widget/-rev/{rev}"), b"").status,
        403
    );
    let star_for_alice = json!({"_id": "widget", "users": {"alice": true}}).to_string();
    assert_eq!(
        as_user(&reg, &bob, "PUT", "/widget", star_for_alice.as_bytes()).status,
        403,
        "bob cannot star for alice"
    );
    assert_eq!(reg.snapshot(), before, "refused writes changed nothing");
    let own_star = json!({"_id": "widget", "users": {"bob": true}}).to_string();
    assert_eq!(
        as_user(&reg, &bob, "PUT", "/widget", own_star.as_bytes()).status,
        200,
        "but may star for himself"
    );

    // Owners: an unknown user cannot become one; bob can.
    let owners = |list: Value| json!({"_id": "widget", "maintainers": list}).to_string();
    let rev = as_user(&reg, &alice, "GET", "/widget?write=true", b"").json()["_rev"]
        .as_str()
        .unwrap()
        .to_string();
    let r = as_user(
        &reg,
        &alice,
        "PUT",
        &format!("/widget/-rev/{rev}"),
        owners(json!([{"name": "alice"}, {"name": "mallory"}])).as_bytes(),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let r = as_user(
        &reg,
        &alice,
        "PUT",
        &format!("/widget/-rev/{rev}"),
        owners(json!([{"name": "alice"}, {"name": "bob", "email": "bob@example.test"}])).as_bytes(),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        publish_as(&reg, &bob, "widget", "1.1.0").status,
        201,
        "bob is a maintainer now"
    );
}

#[test]
fn read_only_expired_and_address_limited_tokens() {
    let reg = local(&[]);
    add_user(&reg, "alice", "alice password");
    let rw = token(&reg, "alice", &[]);
    let ro = token(&reg, "alice", &["--read-only"]);
    let expired = token(&reg, "alice", &["--expires-days", "0"]);
    assert_eq!(publish_as(&reg, &rw, "plainpkg", "1.0.0").status, 201);
    let before = reg.snapshot();
    assert_eq!(
        as_user(&reg, &ro, "GET", "/plainpkg", b"").status,
        200,
        "read-only tokens install"
    );
    let r = publish_as(&reg, &ro, "plainpkg", "1.1.0");
    expect_error(&r, 403, &["read-only"]);
    let r = as_user(&reg, &expired, "GET", "/plainpkg", b"");
    expect_error(&r, 401, &["expired"]);
    let r = as_user(
        &reg,
        "nmr_0000000000000000000000000000000000000000000000000000000000000000",
        "GET",
        "/plainpkg",
        b"",
    );
    assert_eq!(r.status, 401);
    // A token limited to another network does not work from here.
    let body = json!({"password": "alice password", "cidr_whitelist": ["10.0.0.0/8"]}).to_string();
    let limited = as_user(&reg, &rw, "POST", "/-/npm/v1/tokens", body.as_bytes()).json()["token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(as_user(&reg, &limited, "GET", "/plainpkg", b"").status, 403);
    // Claiming another address in a header changes nothing: only the front names the peer.
    let auth = format!("Bearer {limited}");
    let spoofed = reg.request(
        "GET",
        "/plainpkg",
        &[("Authorization", &auth), ("X-Nmr-Peer", "10.1.2.3")],
        b"",
    );
    assert_eq!(spoofed.status, 403);
    let body = json!({"password": "alice password", "cidr_whitelist": ["127.0.0.0/8"]}).to_string();
    let local_only = as_user(&reg, &rw, "POST", "/-/npm/v1/tokens", body.as_bytes()).json()
        ["token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        as_user(&reg, &local_only, "GET", "/plainpkg", b"").status,
        200,
        "loopback is in 127.0.0.0/8"
    );
    assert_eq!(reg.snapshot(), before);
}

#[test]
fn anonymous_reads_follow_auth_read() {
    let reg = local(&[]);
    add_user(&reg, "alice", "alice password");
    let t = token(&reg, "alice", &[]);
    assert_eq!(publish_as(&reg, &t, "plainpkg", "1.0.0").status, 201);
    for path in [
        "/plainpkg",
        "/plainpkg/-/plainpkg-1.0.0.tgz",
        "/-/v1/search?text=plain",
        "/-/package/plainpkg/dist-tags",
    ] {
        let r = reg.get(path);
        assert_eq!(r.status, 401, "{path}");
        assert!(r.error().contains("npm login"), "{}", r.error());
    }
    assert_eq!(reg.get("/-/ping").status, 200, "ping needs nothing");
    let dir = reg.stop();
    let reg = Registry::start_in(
        dir,
        &[],
        &[("NMR_AUTH__TYPE", "local"), ("NMR_AUTH__READ", "public")],
    );
    assert_eq!(reg.get("/plainpkg").status, 200);
    let r = publish_as(&reg, "", "plainpkg", "1.1.0");
    assert_eq!(r.status, 401, "writes still need a login: {}", r.text());
}

#[test]
fn npm_and_pnpm_install_with_a_token_and_not_without() {
    let reg = local(&[]);
    add_user(&reg, "alice", "alice password");
    let t = token(&reg, "alice", &[]);
    let work = TempDir::new("work");
    let c = Client::new(&reg);
    c.set_token(Some(&t));
    c.ok(
        "npm",
        &["publish"],
        &make_package(
            work.path(),
            json!({"name": "@acme/widget", "version": "1.0.0"}),
        ),
    );
    c.set_token(None);
    let app = make_app(work.path(), "app", json!({"@acme/widget": "^1.0.0"}));
    let denied = c.run("npm", &["install"], &app);
    assert!(!denied.status.success());
    assert!(String::from_utf8_lossy(&denied.stderr).contains("401"));
    c.set_token(Some(&t));
    c.ok("npm", &["install"], &app);
    assert!(app.join("node_modules/@acme/widget/index.js").exists());
    let papp = make_app(work.path(), "papp", json!({"@acme/widget": "^1.0.0"}));
    std::fs::write(
        papp.join(".npmrc"),
        format!(
            "registry={}\n{}:_authToken={t}\n",
            c.registry,
            c.registry.trim_start_matches("http:")
        ),
    )
    .unwrap();
    c.ok(
        "pnpm",
        &[
            "install",
            "--store-dir",
            work.path().join("store").to_str().unwrap(),
        ],
        &papp,
    );
    assert!(papp.join("node_modules/@acme/widget").exists());
}

#[test]
fn operator_commands_manage_accounts_and_tokens() {
    let reg = local(&[]);
    add_user(&reg, "alice", "alice password");
    add_user(&reg, "bob", "bob password!");
    let login = |name: &str, password: &str| {
        couch_login(
            &reg,
            name,
            &json!({"name": name, "password": password}).to_string(),
        )
        .status
    };

    let (code, out, err) = nmr(&reg, &["user", "add", "alice"], "another password\n");
    assert_eq!(code, 1, "{out}");
    assert!(err.contains("alice exists"), "{err}");
    let (code, _, err) = nmr(&reg, &["user", "add", "carol"], "short\n");
    assert_eq!(code, 1);
    assert!(err.contains("at least 8"), "{err}");
    let (code, out, _) = nmr(&reg, &["user", "list"], "");
    assert_eq!(
        (code, out.as_str()),
        (0, "alice\talice@example.test\nbob\tbob@example.test\n")
    );

    let (code, _, err) = nmr(&reg, &["user", "passwd", "alice"], "a new password\n");
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        login("alice", "alice password"),
        401,
        "the old password no longer works"
    );
    assert_eq!(login("alice", "a new password"), 201);

    let t = token(&reg, "alice", &["--name", "ci"]);
    let (_, listed, _) = nmr(&reg, &["token", "list", "alice"], "");
    let line = listed
        .lines()
        .find(|l| l.contains("\tci\t"))
        .unwrap_or_else(|| panic!("{listed}"));
    assert!(
        !listed.contains(&t[12..]),
        "token list never shows the secret: {listed}"
    );
    let key = line.split('\t').next().unwrap();
    assert_eq!(as_user(&reg, &t, "GET", "/-/whoami", b"").status, 200);
    let (code, _, err) = nmr(&reg, &["token", "revoke", key], "");
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        as_user(&reg, &t, "GET", "/-/whoami", b"").status,
        401,
        "revoked"
    );
    let (code, _, err) = nmr(&reg, &["token", "revoke", key], "");
    assert_eq!(code, 1);
    assert!(err.contains("no token"), "{err}");
    let (code, _, err) = nmr(&reg, &["token", "create", "nobody"], "");
    assert_eq!(code, 1);
    assert!(err.contains("no user nobody"), "{err}");

    let bob = token(&reg, "bob", &[]);
    let r = as_user(&reg, &bob, "GET", "/-/user/org.couchdb.user:nobody", b"");
    assert_eq!(r.status, 404, "owner add of an unknown user: {}", r.text());
    assert_eq!(
        as_user(&reg, &bob, "GET", "/-/user/org.couchdb.user:alice", b"").json()["email"],
        "alice@example.test"
    );
    let (code, _, err) = nmr(&reg, &["user", "del", "bob"], "");
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        as_user(&reg, &bob, "GET", "/-/whoami", b"").status,
        401,
        "deleting a user revokes their tokens"
    );
    assert_eq!(login("bob", "bob password!"), 401);
    let (code, _, _) = nmr(&reg, &["user", "frobnicate"], "");
    assert_eq!(code, 1);
}

//! Organisations and teams in local mode (issue 17), through the real npm 11 `org`, `team` and
//! `access` commands, raw HTTP and the operator's `nmr org` / `nmr team`:
//! - the first publish into a scope claims it; nobody else publishes there, not even by racing;
//! - developers publish what their teams may write, read-only teams install only;
//! - `auth.read = members` hides an organisation's packages from outsiders exactly like absent
//!   ones, and a removed member loses access with their next request;
//! - the last owner stays; bad input is refused with 4xx and changes nothing.

use crate::support::auth::*;
use crate::support::*;
use serde_json::{json, Value};
use std::path::Path;

/// Creates the accounts and returns a token for each, in order.
fn accounts(reg: &Registry, names: &[&str]) -> Vec<String> {
    names
        .iter()
        .map(|n| {
            add_user(reg, n, "correct horse");
            token(reg, n, &[])
        })
        .collect()
}

/// An npm client that sends `token`.
fn npm_as(reg: &Registry, token: &str) -> Client {
    let c = Client::new(reg);
    c.set_token(Some(token));
    c
}

/// `npm publish` of `name@version` from a new directory under `work`.
fn npm_publish(c: &Client, work: &Path, name: &str, version: &str) -> std::process::Output {
    let dir = work.join(format!(
        "{}-{version}-{}",
        name.replace('/', "_"),
        random_tag()
    ));
    c.run(
        "npm",
        &["publish"],
        &make_package(&dir, json!({"name": name, "version": version})),
    )
}

fn random_tag() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    N.fetch_add(1, Ordering::Relaxed).to_string()
}

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Asserts a client command failed and its output holds every part.
fn fails(o: &std::process::Output, parts: &[&str]) {
    let t = text(o);
    assert!(!o.status.success(), "expected a failure: {t}");
    for p in parts {
        assert!(t.contains(p), "expected {p:?} in: {t}");
    }
}

fn send(reg: &Registry, token: &str, method: &str, path: &str, body: Value) -> Resp {
    as_user(reg, token, method, path, body.to_string().as_bytes())
}

#[test]
fn orgs_npm_org_team_and_access_commands_run_an_organisation() {
    let reg = local(&[]);
    let t = accounts(&reg, &["alice", "bob", "carol"]);
    let (a, b) = (npm_as(&reg, &t[0]), npm_as(&reg, &t[1]));
    let work = TempDir::new("work");
    let w = work.path();

    // alice's first publish claims @acme; bob is no member, so may not publish there.
    assert!(npm_publish(&a, w, "@acme/x", "1.0.0").status.success());
    assert!(npm_publish(&a, w, "@acme/y", "1.0.0").status.success());
    fails(
        &npm_publish(&b, w, "@acme/z", "1.0.0"),
        &["403", "bob is not a member of @acme"],
    );

    let out = a.ok("npm", &["org", "set", "acme", "bob", "developer"], w);
    assert!(
        out.contains("Added bob as developer to acme. You now have 2 members in this org."),
        "{out}"
    );
    a.ok("npm", &["org", "set", "acme", "carol"], w);
    let ls = a.ok("npm", &["org", "ls", "acme"], w);
    assert!(
        ls.contains("alice - owner")
            && ls.contains("bob - developer")
            && ls.contains("carol - developer"),
        "{ls}"
    );
    let one = a.ok("npm", &["org", "ls", "acme", "bob"], w);
    assert!(
        one.contains("bob - developer") && !one.contains("alice"),
        "{one}"
    );

    assert!(a
        .ok("npm", &["team", "create", "acme:pay"], w)
        .contains("+@acme:pay"));
    assert!(a
        .ok("npm", &["team", "add", "acme:pay", "bob"], w)
        .contains("bob added to @acme:pay"));
    assert!(a
        .ok("npm", &["team", "ls", "acme"], w)
        .contains("@acme:pay"));
    let members = a.ok("npm", &["team", "ls", "acme:pay"], w);
    assert!(
        members.contains("has 1 user") && members.contains("bob"),
        "{members}"
    );
    a.ok(
        "npm",
        &["access", "grant", "read-write", "acme:pay", "@acme/x"],
        w,
    );
    let granted = a.ok("npm", &["access", "list", "packages", "acme:pay"], w);
    assert!(
        granted.contains("@acme/x: read-write") && !granted.contains("@acme/y"),
        "{granted}"
    );
    let bobs = b.ok("npm", &["access", "list", "packages", "acme"], w);
    assert!(
        bobs.contains("@acme/x: read-write") && bobs.contains("@acme/y: read-only"),
        "{bobs}"
    );
    let collab = a.ok("npm", &["access", "list", "collaborators", "@acme/x"], w);
    assert!(
        collab.contains("alice: read-write")
            && collab.contains("bob: read-write")
            && !collab.contains("carol"),
        "{collab}"
    );

    let bobs = b.ok("npm", &["access", "list", "packages", "bob"], w);
    assert!(
        bobs.contains("@acme/x: read-write") && !bobs.contains("@acme/y"),
        "{bobs}"
    );
    let mine = b.ok("npm", &["access", "list", "packages"], w);
    assert_eq!(mine, bobs, "without a user: the caller's own");

    // The developer of the team publishes what it grants, and nothing else of the scope; any
    // member may create a new package there.
    assert!(npm_publish(&b, w, "@acme/x", "1.1.0").status.success());
    fails(
        &npm_publish(&b, w, "@acme/y", "1.1.0"),
        &["403", "npm access grant read-write acme:TEAM @acme/y"],
    );
    assert!(npm_publish(&b, w, "@acme/bobs", "1.0.0").status.success());

    a.ok("npm", &["access", "revoke", "acme:pay", "@acme/x"], w);
    fails(&npm_publish(&b, w, "@acme/x", "1.2.0"), &["403"]);
    assert!(a
        .ok("npm", &["team", "rm", "acme:pay", "bob"], w)
        .contains("bob removed from @acme:pay"));
    assert!(a
        .ok("npm", &["team", "destroy", "acme:pay"], w)
        .contains("-@acme:pay"));
    assert!(a
        .ok("npm", &["team", "ls", "acme"], w)
        .contains("has 0 teams"));
    let rm = a.ok("npm", &["org", "rm", "acme", "carol"], w);
    assert!(
        rm.contains("Successfully removed carol from acme. You now have 2 members in this org."),
        "{rm}"
    );
    // Only owners change members.
    fails(
        &b.run("npm", &["org", "set", "acme", "bob", "owner"], w),
        &["403", "needs the owner role"],
    );

    // status=public opens one package to readers without an account; owners and admins
    // decide that, not every publisher.
    fails(
        &b.run("npm", &["access", "set", "status=public", "@acme/bobs"], w),
        &["403", "needs the admin or owner role"],
    );
    assert!(a
        .ok("npm", &["access", "get", "status", "@acme/x"], w)
        .contains("@acme/x: private"));
    assert_eq!(reg.get("/@acme%2fx").status, 401);
    assert!(a
        .ok("npm", &["access", "set", "status=public", "@acme/x"], w)
        .contains("@acme/x: public"));
    assert_eq!(reg.get("/@acme%2fx").status, 200);
    assert_eq!(reg.get("/@acme/x/-/x-1.0.0.tgz").status, 200);
    assert_eq!(reg.get("/@acme%2fy").status, 401, "only that one");
    a.ok("npm", &["access", "set", "status=private", "@acme/x"], w);
    assert_eq!(reg.get("/@acme%2fx").status, 401);
}

#[test]
fn orgs_members_mode_hides_packages_from_outsiders_and_removed_members_at_once() {
    let reg = local(&[("NMR_AUTH__READ", "members")]);
    let t = accounts(&reg, &["alice", "bob", "carol", "dave"]);
    let (a, b, c, d) = (
        npm_as(&reg, &t[0]),
        npm_as(&reg, &t[1]),
        npm_as(&reg, &t[2]),
        npm_as(&reg, &t[3]),
    );
    let work = TempDir::new("work");
    let w = work.path();
    assert!(npm_publish(&a, w, "@acme/x", "1.0.0").status.success());
    assert!(npm_publish(&a, w, "plainpkg", "1.0.0").status.success());
    a.ok("npm", &["org", "set", "acme", "bob"], w);
    a.ok("npm", &["org", "set", "acme", "carol"], w);
    a.ok("npm", &["team", "create", "acme:contractors"], w);
    a.ok("npm", &["team", "add", "acme:contractors", "carol"], w);
    a.ok(
        "npm",
        &[
            "access",
            "grant",
            "read-only",
            "acme:contractors",
            "@acme/x",
        ],
        w,
    );

    // A read-only team installs and does not publish.
    let app = make_app(w, "carols", json!({"@acme/x": "1.0.0"}));
    c.ok("npm", &["install"], &app);
    assert!(app.join("node_modules/@acme/x/package.json").is_file());
    fails(&npm_publish(&c, w, "@acme/x", "1.1.0"), &["403"]);

    // An outsider is refused, and told what a name that is not here would tell.
    let app = make_app(w, "daves", json!({"@acme/x": "1.0.0"}));
    fails(&d.run("npm", &["install"], &app), &["404"]);
    fails(
        &d.run("npm", &["view", "@acme/x"], w),
        &["404", "package @acme/x is not in this registry"],
    );
    assert!(d
        .ok("npm", &["view", "plainpkg", "version"], w)
        .contains("1.0.0"));
    let real = reg.get_as("/@acme%2fx", &t[3]);
    let absent = reg.get_as("/@acme%2fnope", &t[3]);
    assert_eq!(
        (real.status, real.text().replace("@acme/x", "@acme/nope")),
        (absent.status, absent.text())
    );
    let hits = reg.get_as("/-/v1/search?text=x", &t[3]).json();
    assert_eq!(hits["total"], 0, "{hits}");
    assert_eq!(reg.get_as("/-/v1/search?text=x", &t[1]).json()["total"], 1);
    for path in [
        "/-/org/acme/package",
        "/-/org/acme/user",
        "/-/org/acme/team",
    ] {
        let hidden = reg.get_as(path, &t[3]);
        let none = reg.get_as(&path.replace("acme", "nosuch"), &t[3]);
        assert_eq!(hidden.status, 404, "{path}");
        assert_eq!(
            hidden.text().replace("acme", "nosuch"),
            none.text(),
            "{path}"
        );
    }

    let hidden = send(
        &reg,
        &t[3],
        "PUT",
        "/-/org/acme/team",
        json!({"name": "mine"}),
    );
    let none = send(
        &reg,
        &t[3],
        "PUT",
        "/-/org/nosuch/team",
        json!({"name": "mine"}),
    );
    assert_eq!(hidden.status, 404, "{}", hidden.text());
    assert_eq!(hidden.text().replace("acme", "nosuch"), none.text());

    // A member reads; removed, they are refused with their next request.
    assert!(b
        .ok("npm", &["view", "@acme/x", "version"], w)
        .contains("1.0.0"));
    a.ok("npm", &["org", "rm", "acme", "bob"], w);
    fails(&b.run("npm", &["view", "@acme/x", "version"], w), &["404"]);
    assert_eq!(reg.get_as("/@acme/x/-/x-1.0.0.tgz", &t[1]).status, 404);

    // status=public opens the one package to everyone, accounts or not.
    a.ok("npm", &["access", "set", "status=public", "@acme/x"], w);
    assert!(d
        .ok("npm", &["view", "@acme/x", "version"], w)
        .contains("1.0.0"));
    assert_eq!(reg.get("/@acme%2fx").status, 200);
}

#[test]
fn orgs_the_last_owner_stays_and_bad_input_changes_nothing() {
    let reg = local(&[]);
    let t = accounts(&reg, &["alice", "bob", "carol"]);
    assert_eq!(publish_as(&reg, &t[0], "@acme/x", "1.0.0").status, 201);
    assert_eq!(publish_as(&reg, &t[2], "@other/y", "1.0.0").status, 201);
    let r = send(
        &reg,
        &t[0],
        "PUT",
        "/-/org/acme/user",
        json!({"user": "bob"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({"org": {"name": "acme", "size": 2}, "user": "bob", "role": "developer"})
    );
    let r = send(
        &reg,
        &t[0],
        "PUT",
        "/-/org/acme/team",
        json!({"name": "devs"}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let before = reg.snapshot();

    let alice = &t[0];
    let bob = &t[1];
    for (token, method, path, body, status, part) in [
        (
            alice,
            "DELETE",
            "/-/org/acme/user",
            json!({"user": "alice"}),
            409,
            "last owner",
        ),
        (
            alice,
            "PUT",
            "/-/org/acme/user",
            json!({"user": "alice", "role": "developer"}),
            409,
            "last owner",
        ),
        (
            alice,
            "PUT",
            "/-/org/acme/user",
            json!({"user": "bob", "role": "maintainer"}),
            400,
            "unknown role",
        ),
        (
            alice,
            "PUT",
            "/-/org/acme/user",
            json!({"user": "nobody"}),
            404,
            "no user",
        ),
        (
            alice,
            "PUT",
            "/-/org/acme/user",
            json!({"role": "owner"}),
            400,
            "\"user\"",
        ),
        (
            alice,
            "DELETE",
            "/-/org/acme/user",
            json!({"user": "carol"}),
            404,
            "not a member",
        ),
        (
            alice,
            "PUT",
            "/-/org/acme/team",
            json!({"name": "Bad Name"}),
            400,
            "not a team name",
        ),
        (
            alice,
            "PUT",
            "/-/org/acme/team",
            json!({"name": "../x"}),
            400,
            "not a team name",
        ),
        (
            alice,
            "PUT",
            "/-/org/acme/team",
            json!({"name": "devs"}),
            409,
            "exists",
        ),
        (
            alice,
            "PUT",
            "/-/org/.hidden/team",
            json!({"name": "x"}),
            400,
            "not an organisation name",
        ),
        (
            alice,
            "PUT",
            "/-/org/%3Cb%3E/user",
            json!({"user": "bob"}),
            400,
            "not an organisation name",
        ),
        (
            alice,
            "PUT",
            "/-/org/nosuch/team",
            json!({"name": "x"}),
            404,
            "no organisation @nosuch",
        ),
        (
            alice,
            "PUT",
            "/-/team/acme/nope/user",
            json!({"user": "bob"}),
            404,
            "no team @acme:nope",
        ),
        (
            alice,
            "DELETE",
            "/-/team/acme/..",
            json!({}),
            400,
            "not a team name",
        ),
        (
            alice,
            "PUT",
            "/-/team/acme/devs/user",
            json!({"user": "carol"}),
            400,
            "not a member of @acme",
        ),
        (
            alice,
            "PUT",
            "/-/team/acme/devs/package",
            json!({"package": "@other/y", "permissions": "read-write"}),
            400,
            "not in the scope @acme",
        ),
        (
            alice,
            "PUT",
            "/-/team/acme/devs/package",
            json!({"package": "@acme/x", "permissions": "admin"}),
            400,
            "unknown permissions",
        ),
        (
            alice,
            "PUT",
            "/-/team/acme/devs/package",
            json!({"package": "@acme/nope", "permissions": "read-only"}),
            404,
            "@acme/nope is not in this registry",
        ),
        (
            alice,
            "DELETE",
            "/-/team/acme/devs/package",
            json!({"package": "@acme/x"}),
            404,
            "not granted",
        ),
        (
            bob,
            "PUT",
            "/-/org/acme/team",
            json!({"name": "mine"}),
            403,
            "needs the admin role",
        ),
        (
            bob,
            "PUT",
            "/-/org/acme/user",
            json!({"user": "bob", "role": "owner"}),
            403,
            "needs the owner role",
        ),
        (
            bob,
            "DELETE",
            "/-/team/acme/devs",
            json!({}),
            403,
            "needs the admin role",
        ),
    ] {
        let r = send(&reg, token, method, path, body.clone());
        assert_eq!(r.status, status, "{method} {path} {body}: {}", r.text());
        assert!(
            r.error().contains(part),
            "{method} {path} {body}: {}",
            r.text()
        );
    }
    let r = reg.request(
        "PUT",
        "/-/org/acme/user",
        &[],
        b"{\"user\":\"bob\",\"role\":\"owner\"}",
    );
    assert_eq!(r.status, 401, "no token: {}", r.text());
    let ro = token(&reg, "alice", &["--read-only"]);
    let r = send(&reg, &ro, "PUT", "/-/org/acme/team", json!({"name": "ro"}));
    expect_error(&r, 403, &["read-only"]);
    // An outsider's attempts answer as if there were no organisation.
    for (method, path, body) in [
        (
            "PUT",
            "/-/org/acme/user",
            json!({"user": "carol", "role": "owner"}),
        ),
        ("PUT", "/-/org/acme/team", json!({"name": "mine"})),
        ("PUT", "/-/team/acme/devs/user", json!({"user": "carol"})),
    ] {
        let r = send(&reg, &t[2], method, path, body.clone());
        assert_eq!(r.status, 403, "{method} {path}: {}", r.text());
        assert!(
            r.error().contains("carol is not a member of @acme"),
            "{}",
            r.text()
        );
    }
    assert_eq!(reg.snapshot(), before, "no refusal changed anything");

    // Another owner first; then the first may go.
    let r = send(
        &reg,
        &t[0],
        "PUT",
        "/-/org/acme/user",
        json!({"user": "bob", "role": "owner"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = send(
        &reg,
        &t[1],
        "DELETE",
        "/-/org/acme/user",
        json!({"user": "alice"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        reg.get_as("/-/org/acme/user", &t[1]).json(),
        json!({"bob": "owner"})
    );
}

#[test]
fn orgs_scopes_are_claimed_once_even_by_racing_publishes() {
    let reg = local(&[]);
    let t = accounts(&reg, &["alice", "bob"]);
    assert_eq!(publish_as(&reg, &t[0], "@acme/x", "1.0.0").status, 201);
    let before = reg.snapshot();
    let r = publish_as(&reg, &t[1], "@acme/y", "1.0.0");
    expect_error(
        &r,
        403,
        &["bob is not a member of @acme", "npm org set acme bob"],
    );
    // A scope differing only in case is the same organisation.
    let r = publish_as(&reg, &t[1], "@ACME/y", "1.0.0");
    expect_error(&r, 403, &["not a member of @acme"]);
    assert_eq!(reg.snapshot(), before);

    for round in 0..4 {
        let scope = format!("@race{round}");
        let results: Vec<(usize, u16)> = std::thread::scope(|s| {
            let handles: Vec<_> = t
                .iter()
                .enumerate()
                .map(|(i, tok)| {
                    let name = format!("{scope}/p{i}");
                    let reg = &reg;
                    s.spawn(move || (i, publish_as(reg, tok, &name, "1.0.0").status))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let won: Vec<usize> = results.iter().filter(|r| r.1 == 201).map(|r| r.0).collect();
        assert_eq!(won.len(), 1, "one claim wins: {results:?}");
        assert!(
            results.iter().all(|r| r.1 == 201 || r.1 == 403),
            "{results:?}"
        );
        let owners = reg
            .get_as(&format!("/-/org/race{round}/user"), &t[0])
            .json();
        let winner = ["alice", "bob"][won[0]];
        assert_eq!(owners, json!({ winner: "owner" }));
    }
}

#[test]
fn orgs_operator_commands_share_the_rules() {
    let reg = local(&[("NMR_AUTH__LOCAL__CLAIM_SCOPES", "false")]);
    let t = accounts(&reg, &["alice", "bob"]);
    let r = publish_as(&reg, &t[0], "@acme/x", "1.0.0");
    expect_error(&r, 403, &["nmr org add @acme --owner USER"]);

    let run = |args: &[&str]| nmr(&reg, args, "");
    let (code, out, err) = run(&["org", "add", "@acme", "--owner", "alice"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(publish_as(&reg, &t[0], "@acme/x", "1.0.0").status, 201);
    let (code, _, err) = run(&["org", "add", "@ACME", "--owner", "bob"]);
    assert!(code == 2 && err.contains("exists"), "{err}");
    let (code, _, err) = run(&["org", "add", "@new", "--owner", "nobody"]);
    assert!(code == 2 && err.contains("no user"), "{err}");

    assert_eq!(run(&["org", "set", "@acme", "bob", "admin"]).0, 0);
    let (code, _, err) = run(&["org", "set", "@acme", "bob", "boss"]);
    assert!(code == 2 && err.contains("unknown role"), "{err}");
    assert_eq!(run(&["team", "create", "@acme:pay"]).0, 0);
    let (code, _, err) = run(&["team", "create", "@acme:../x"]);
    assert!(code == 2 && err.contains("not a team name"), "{err}");
    assert_eq!(run(&["team", "add", "@acme:pay", "bob"]).0, 0);
    assert_eq!(
        run(&["team", "grant", "@acme:pay", "@acme/x", "read-write"]).0,
        0
    );
    let (code, out, err) = run(&["team", "list", "@acme:pay"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("bob") && out.contains("@acme/x: read-write"),
        "{out}"
    );

    let (code, out, _) = run(&["org", "list"]);
    assert_eq!(code, 0);
    assert!(out.contains("@acme  2 members, 1 teams"), "{out}");
    let (code, out, _) = run(&["org", "show", "acme"]);
    assert_eq!(code, 0);
    for part in [
        "alice",
        "owner",
        "bob",
        "admin",
        "acme:pay",
        "@acme/x (read-write)",
        "packages: @acme/x",
    ] {
        assert!(out.contains(part), "{part:?} in {out}");
    }
    // The same state as npm sees it, and the same last-owner rule.
    assert_eq!(
        reg.get_as("/-/team/acme/pay/package", &t[1]).json(),
        json!({"@acme/x": "write"})
    );
    let (code, _, err) = run(&["org", "rm", "@acme", "alice"]);
    assert!(code == 2 && err.contains("last owner"), "{err}");
    let (code, _, err) = run(&["user", "del", "alice"]);
    assert!(code == 1 && err.contains("last owner of @acme"), "{err}");
    assert_eq!(run(&["team", "revoke", "@acme:pay", "@acme/x"]).0, 0);
    assert_eq!(
        reg.get_as("/-/team/acme/pay/package", &t[0]).json(),
        json!({}),
        "revoked"
    );
    assert_eq!(run(&["team", "rm", "@acme:pay", "bob"]).0, 0);
    let members = reg.get_as("/-/team/acme/pay/user", &t[0]);
    assert_eq!(members.status, 200, "{}", members.text());
    assert!(!members.text().contains("bob"), "{}", members.text());
    assert_eq!(run(&["team", "destroy", "@acme:pay"]).0, 0);
    assert_eq!(
        reg.get_as("/-/team/acme/pay/user", &t[0]).status,
        404,
        "destroyed"
    );
    assert_eq!(run(&["org", "rm", "@acme", "bob"]).0, 0);
    assert_eq!(run(&["org", "del", "@acme"]).0, 0);
    let (_, out, _) = run(&["org", "list"]);
    assert!(out.contains("no organisations"), "{out}");
    // The scope holds a package, so no publish claims it again.
    let r = publish_as(&reg, &t[1], "@acme/y", "1.0.0");
    expect_error(&r, 403, &["nmr org add"]);
}

#[test]
fn orgs_endpoints_answer_404_in_github_mode() {
    let gh = crate::auth_github::fake();
    let reg = crate::auth_github::registry(&gh, &[]);
    let r = send(
        &reg,
        "tok-alice",
        "PUT",
        "/-/org/acme/user",
        json!({"user": "bob"}),
    );
    expect_error(&r, 404, &["GitHub repository"]);
    let r = send(
        &reg,
        "tok-alice",
        "PUT",
        "/-/team/acme/devs/package",
        json!({"package": "@acme/widget", "permissions": "read-write"}),
    );
    expect_error(&r, 404, &["GitHub repository"]);
}

#[test]
fn orgs_endpoints_answer_404_without_local_accounts() {
    let reg = Registry::start();
    let r = reg.request("PUT", "/-/org/acme/user", &[], br#"{"user":"bob"}"#);
    expect_error(&r, 404, &["auth.type = none"]);
    let r = reg.get("/-/team/acme/devs/user");
    expect_error(&r, 404, &["no accounts"]);
}

/// A page as a browser logged in with `token` gets it.
fn browse(reg: &Registry, path: &str, token: &str) -> Resp {
    let cookie = format!("nmr_session={token}");
    reg.request(
        "GET",
        path,
        &[("Accept", "text/html"), ("Cookie", &cookie)],
        b"",
    )
}

#[test]
fn orgs_web_pages_show_members_teams_and_who_may_publish() {
    let reg = local(&[("NMR_AUTH__READ", "members")]);
    let t = accounts(&reg, &["alice", "bob", "dave"]);
    assert_eq!(publish_as(&reg, &t[0], "@acme/x", "1.0.0").status, 201);
    assert_eq!(publish_as(&reg, &t[0], "@acme/y", "1.0.0").status, 201);
    let r = send(
        &reg,
        &t[0],
        "PUT",
        "/-/org/acme/user",
        json!({"user": "bob"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let desc = "<script>alert(1)</script> payments";
    let r = send(
        &reg,
        &t[0],
        "PUT",
        "/-/org/acme/team",
        json!({"name": "pay", "description": desc}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let r = send(
        &reg,
        &t[0],
        "PUT",
        "/-/team/acme/pay/user",
        json!({"user": "bob"}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let grant = json!({"package": "@acme/x", "permissions": "read-write"});
    let r = send(&reg, &t[0], "PUT", "/-/team/acme/pay/package", grant);
    assert_eq!(r.status, 201, "{}", r.text());

    let org = browse(&reg, "/-/web/org/acme", &t[1]);
    assert_eq!(org.status, 200, "{}", org.text());
    let html = org.text();
    for part in [
        "@acme/x",
        "@acme/y",
        "alice",
        "owner",
        "bob",
        "developer",
        "acme:pay",
        "&lt;script&gt;alert(1)&lt;/script&gt; payments",
        "read-write",
    ] {
        assert!(html.contains(part), "{part:?} in the org page");
    }
    assert!(!html.contains("<script>alert"), "escaped");

    let pkg = browse(&reg, "/-/web/package/@acme/x", &t[1]).text();
    assert!(pkg.contains("/-/web/org/acme"), "links its organisation");
    assert!(
        pkg.contains("acme:pay") && pkg.contains("may publish"),
        "{pkg}"
    );
    let other = browse(&reg, "/-/web/package/@acme/y", &t[1]).text();
    assert!(!other.contains("acme:pay"), "y is granted to no team");

    // An outsider sees what a missing organisation shows.
    let hidden = browse(&reg, "/-/web/org/acme", &t[2]);
    let none = browse(&reg, "/-/web/org/nosuch", &t[2]);
    assert_eq!(hidden.status, 404);
    assert_eq!(hidden.text().replace("acme", "nosuch"), none.text());
    assert_eq!(browse(&reg, "/-/web/package/@acme/x", &t[2]).status, 404);
}

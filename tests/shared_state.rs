//! Two instances on one database, as behind a load balancer: what one learns about logins, the
//! other knows, on SQLite (one file) and on PostgreSQL.
//! - failed password checks counted through one instance are refused through the other;
//! - an npm web login started through one is completed in the browser through the other and
//!   collected through either, once, even when both are asked at the same moment.

use crate::support::auth::*;
use crate::support::postgres::Postgres;
use crate::support::*;
use std::sync::Arc;

/// Two local-auth instances on one PostgreSQL database and one blob directory, each with the
/// settings in its config file, so that `nmr user add` run beside either finds them too.
fn pair_on_postgres() -> (Arc<Postgres>, Registry, Registry) {
    let pg = Postgres::shared();
    let url = pg.fresh_database();
    let storage = TempDir::new("shared-storage");
    let start = || {
        let dir = TempDir::new("registry");
        std::fs::create_dir_all(dir.path().join("xdg/nmr")).unwrap();
        let config = format!(
            "[auth]\ntype = \"local\"\n[db]\nurl = {url:?}\nallow_local_storage = true\n[storage.local]\npath = {:?}\n",
            storage.path().display().to_string()
        );
        std::fs::write(dir.path().join("xdg/nmr/config.toml"), config).unwrap();
        Registry::start_in(dir, &[], &[])
    };
    let pair = (start(), start());
    // The server lives while the test holds it: it stops with its last user.
    // The storage dir outlives the test's instances: it is removed with the process's temp
    // files, like the database's server.
    std::mem::forget(storage);
    (pg, pair.0, pair.1)
}

/// A second instance on `first`'s database and blob directory, in a directory of its own.
fn beside(first: &Registry) -> Registry {
    let data = first.dir.path().join("data");
    let db = data.join("nmr.sqlite").display().to_string();
    let storage = data.join("storage").display().to_string();
    Registry::start_with(
        &[],
        &[
            ("NMR_AUTH__TYPE", "local"),
            ("NMR_DB__PATH", &db),
            ("NMR_STORAGE__LOCAL__PATH", &storage),
        ],
    )
}

/// Starts an npm web login; returns the login page's path and the done path.
fn npm_start(reg: &Registry) -> (String, String) {
    let r = reg.request(
        "POST",
        "/-/v1/login",
        &[("Content-Type", "application/json")],
        b"{}",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let path = |k: &str| {
        let url = r.json()[k].as_str().unwrap().to_string();
        url.strip_prefix(&reg.url()).unwrap().to_string()
    };
    (path("loginUrl"), path("doneUrl"))
}

/// Logs `user` in with the login form opened for the npm login at `login_path`.
fn npm_form(reg: &Registry, login_path: &str, user: &str, password: &str) -> Resp {
    let session = login_path.split("session=").nth(1).unwrap();
    let form = format!("user={user}&password={password}&session={session}");
    reg.request(
        "POST",
        "/-/web/login",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Accept", "text/html"),
            ("Origin", &reg.url()),
        ],
        form.as_bytes(),
    )
}

#[test]
fn failures_counted_by_one_instance_are_refused_by_the_other() {
    let a = Registry::start_with(&[], &[("NMR_AUTH__TYPE", "local")]);
    let b = beside(&a);
    failures_are_shared(&a, &b);
}

#[test]
fn failures_counted_by_one_instance_are_refused_by_the_other_on_postgresql() {
    let (_pg, a, b) = pair_on_postgres();
    failures_are_shared(&a, &b);
}

fn failures_are_shared(a: &Registry, b: &Registry) {
    add_user(a, "alice", "alice password");
    for _ in 0..5 {
        assert_eq!(couch_login(a, "alice", "guess").status, 401);
    }
    let r = couch_login(b, "alice", "alice password");
    expect_error(&r, 429, &["too many failed logins", "try again"]);
    assert!(r.header("retry-after").is_some(), "{r:?}");
    // Counted by both: the address's allowance is shared too.
    for i in 0..15 {
        let reg = if i % 2 == 0 { &a } else { &b };
        assert_eq!(couch_login(reg, &format!("nobody{i}"), "guess").status, 401);
    }
    expect_error(
        &couch_login(b, "bob", "guess"),
        429,
        &["too many failed logins"],
    );
}

#[test]
fn an_npm_web_login_started_on_one_instance_finishes_on_the_other_once() {
    let a = Registry::start_with(&[], &[("NMR_AUTH__TYPE", "local")]);
    let b = beside(&a);
    web_logins_are_shared(&a, &b);
}

#[test]
fn an_npm_web_login_started_on_one_instance_finishes_on_the_other_once_on_postgresql() {
    let (_pg, a, b) = pair_on_postgres();
    web_logins_are_shared(&a, &b);
}

fn web_logins_are_shared(a: &Registry, b: &Registry) {
    add_user(a, "alice", "correct horse");

    let (login, done) = npm_start(a);
    assert_eq!(b.get(&done).status, 202, "b knows the login waits");
    assert!(
        page(b, &login).contains("Log in to npm"),
        "b shows its form"
    );
    let r = npm_form(b, &login, "alice", "correct+horse");
    assert_eq!(r.status, 200, "{}", r.text());
    let r = a.get(&done);
    assert_eq!(r.status, 200, "{}", r.text());
    let token = r.json()["token"].as_str().unwrap().to_string();
    assert_eq!(b.get(&done).status, 404, "collected once, whichever asks");
    assert_eq!(a.get(&done).status, 404);
    assert_eq!(b.get_as("/-/whoami", &token).json()["username"], "alice");

    // Both instances asked at the same moment: one hands the token out.
    for _ in 0..5 {
        let (login, done) = npm_start(b);
        assert_eq!(npm_form(a, &login, "alice", "correct+horse").status, 200);
        let barrier = std::sync::Barrier::new(2);
        let statuses: Vec<u16> = std::thread::scope(|s| {
            let polls: Vec<_> = [&a, &b]
                .into_iter()
                .map(|reg| {
                    let (barrier, done) = (&barrier, &done);
                    s.spawn(move || {
                        barrier.wait();
                        reg.get(done).status
                    })
                })
                .collect();
            polls.into_iter().map(|p| p.join().unwrap()).collect()
        });
        let mut sorted = statuses.clone();
        sorted.sort();
        assert_eq!(sorted, [200, 404], "{statuses:?}");
    }
    let (code, out, err) = nmr(a, &["token", "list", "alice"], "");
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        out.matches("npm login").count(),
        6,
        "one token per collected login, none for the poll that lost: {out}"
    );
}

/// A page as a browser gets it.
fn page(reg: &Registry, path: &str) -> String {
    let r = reg.request("GET", path, &[("Accept", "text/html")], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    r.text()
}

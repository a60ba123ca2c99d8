//! `nmr db copy` end to end: a registry populated through the real binary (packages scoped and
//! not, a second version, a dist-tag, a deprecation, a star, an account with a token, an
//! organisation with a team) is copied to another database, and nmr started on the copy serves
//! the same documents, tarballs, search hits and logins, and takes new publishes:
//! - SQLite to SQLite, the machinery alone;
//! - SQLite to PostgreSQL and back, each side served by nmr in turn;
//! - a second run finds everything there and verifies it; a destination changed by hand fails
//!   verification naming the table; an unrelated database that holds something is refused, and
//!   so is a copy that nmr has written to since.

use crate::support::auth::*;
use crate::support::postgres::Postgres;
use crate::support::*;
use nmr::store::db::Connection;
use nmr::store::dbcopy;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;

const LOCAL: (&str, &str) = ("NMR_AUTH__TYPE", "local");

fn publish_as(reg: &Registry, token: &str, name: &str, version: &str) {
    let tgz = fake_tgz(&format!("{name}@{version}"));
    let body = publish_body(name, version, &tgz, "latest").to_string();
    let path = format!("/{}", name.replace('/', "%2f"));
    let r = as_user(reg, token, "PUT", &path, body.as_bytes());
    assert_eq!(r.status, 201, "{}", r.text());
}

/// Fills a registry with one of everything the copy must carry; returns alice's token.
fn populate(reg: &Registry) -> String {
    add_user(reg, "alice", "correct horse");
    let t = token(reg, "alice", &[]);
    publish_as(reg, &t, "plain", "1.0.0");
    publish_as(reg, &t, "plain", "1.1.0");
    publish_as(reg, &t, "@acme/scoped", "1.0.0");
    let r = as_user(
        reg,
        &t,
        "PUT",
        "/-/package/plain/dist-tags/beta",
        b"\"1.0.0\"",
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let mut doc = as_user(reg, &t, "GET", "/plain?write=true", b"").json();
    doc["versions"]["1.0.0"]["deprecated"] = json!("use 1.1.0");
    let r = as_user(reg, &t, "PUT", "/plain", doc.to_string().as_bytes());
    assert!(r.status < 300, "{}", r.text());
    let star = json!({"_id": "plain", "users": {"alice": true}}).to_string();
    let r = as_user(reg, &t, "PUT", "/plain", star.as_bytes());
    assert!(r.status < 300, "{}", r.text());
    for args in [
        &["team", "create", "@acme:devs"][..],
        &["team", "add", "@acme:devs", "alice"],
        &["team", "grant", "@acme:devs", "@acme/scoped", "read-write"],
    ] {
        let (code, out, err) = nmr(reg, args, "");
        assert_eq!(code, 0, "{args:?}: {out}{err}");
    }
    t
}

/// What a client sees, with the registry's own address taken out (the copy runs elsewhere).
fn served(reg: &Registry, token: &str) -> BTreeMap<String, String> {
    let base = reg.url();
    [
        "/plain",
        "/@acme%2fscoped",
        "/plain/1.0.0",
        "/-/package/plain/dist-tags",
        "/-/v1/search?text=plain",
        "/-/v1/search?text=scoped",
        "/-/whoami",
    ]
    .iter()
    .map(|p| {
        let r = reg.get_as(p, token);
        assert_eq!(r.status, 200, "{p}: {}\nlog:\n{}", r.text(), reg.log());
        let mut doc = r.json();
        // A search's time and each hit's score are the engine's own.
        if let Some(hits) = doc.get_mut("objects").and_then(|o| o.as_array_mut()) {
            for h in hits {
                h["score"] = json!(null);
                h["searchScore"] = json!(null);
            }
            doc["time"] = json!(null);
        }
        (p.to_string(), doc.to_string().replace(&base, "BASE"))
    })
    .collect()
}

/// Tarballs come from the storage the copy shares, and a new package and version go in (new
/// ids do not collide with copied ones).
fn still_works(reg: &Registry, token: &str, version: &str, fresh: &str) {
    let tgz = reg.get_as("/plain/-/plain-1.1.0.tgz", token);
    assert_eq!(tgz.status, 200);
    assert_eq!(tgz.body, fake_tgz("plain@1.1.0"));
    assert_eq!(reg.get("/-/whoami").status, 401, "no token, no login");
    publish_as(reg, token, "plain", version);
    publish_as(reg, token, fresh, "1.0.0");
    let doc = reg.get_as("/plain", token).json();
    assert_eq!(doc["dist-tags"]["latest"], version);
    assert_eq!(doc["versions"]["1.0.0"]["deprecated"], "use 1.1.0");
    let hits = reg
        .get_as(&format!("/-/v1/search?text={fresh}"), token)
        .json();
    assert_eq!(hits["objects"][0]["package"]["name"], fresh, "{hits}");
}

/// `nmr db copy ARGS` in `dir` with `env`: exit code, stdout, stderr.
pub fn db_copy(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = nmr_command(dir)
        .args(["db", "copy"])
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn db_copy_sqlite_to_sqlite_serves_the_same_and_refuses_what_it_must() {
    let reg = Registry::start_with(&[], &[LOCAL]);
    let t = populate(&reg);
    let before = served(&reg, &t);
    let dir = reg.stop();
    let d = dir.path();

    let to_copy = ["--to", "sqlite", "--path", "data/copy.sqlite"];
    let (code, out, err) = db_copy(d, &to_copy, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("packages: 2 rows copied"), "{out}");
    assert!(out.contains("versions: 3 rows copied"), "{out}");
    assert!(
        out.contains("search: index rebuilt for 2 packages"),
        "{out}"
    );
    assert!(out.contains("tables match"), "{out}");
    assert!(!out.contains("DIFFERS"), "{out}");

    // Again: nothing to do, and all verified.
    let (code, out, err) = db_copy(d, &to_copy, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("resuming the copy"), "{out}");
    assert!(out.contains("packages: 2 rows, all there already"), "{out}");
    assert!(out.contains("tables match"), "{out}");

    // A source that changed since: rows copied before would keep their old contents.
    let bump = |by: i64| {
        let conn = nmr::store::meta::open(&d.join("data/nmr.sqlite")).unwrap();
        conn.execute(
            "UPDATE meta SET value = CAST(CAST(value AS INTEGER) + ?1 AS TEXT) WHERE key = 'rev_seq'",
            [by],
        )
        .unwrap();
    };
    bump(1);
    let (code, _, err) = db_copy(d, &to_copy, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("changed since this copy into"), "{err}");
    bump(-1);

    // Into itself, or into a database of something else: refused, and nothing written.
    let (code, _, err) = db_copy(d, &["--to", "sqlite", "--path", "data/nmr.sqlite"], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("the source and the destination are both"),
        "{err}"
    );
    let other = Registry::start();
    add_user(&other, "bob", "battery staple");
    let other = other.stop();
    let elsewhere = other.path().join("data/nmr.sqlite");
    let (code, _, err) = db_copy(
        d,
        &["--to", "sqlite", "--path", elsewhere.to_str().unwrap()],
        &[],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("already holds rows (users: 1) and is no copy of"),
        "{err}"
    );

    // A row changed at the destination is found, and its table named.
    let (code, out, err) = db_copy(
        d,
        &["--to", "sqlite", "--path", "data/tampered.sqlite"],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    let conn = nmr::store::meta::open(&d.join("data/tampered.sqlite")).unwrap();
    conn.execute("UPDATE tokens SET readonly = 1", ()).unwrap();
    drop(conn);
    let verify = [
        "--to",
        "sqlite",
        "--path",
        "data/tampered.sqlite",
        "--verify-only",
    ];
    let (code, out, err) = db_copy(d, &verify, &[]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("verification failed: tokens differ"), "{err}");
    assert!(
        out.lines()
            .any(|l| l.contains("tokens") && l.ends_with("DIFFERS")),
        "{out}"
    );

    // A source on an older schema is refused, and left as it is: nmr upgrades it as it starts.
    let conn = nmr::store::meta::open(&d.join("data/tampered.sqlite")).unwrap();
    conn.execute_batch("PRAGMA user_version = 5").unwrap();
    drop(conn);
    let old = [
        "--db-path",
        "data/tampered.sqlite",
        "--to",
        "sqlite",
        "--path",
        "data/x.sqlite",
    ];
    let (code, _, err) = db_copy(d, &old, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("has schema 5") && err.contains("start this nmr on it once"),
        "{err}"
    );
    assert!(!d.join("data/x.sqlite").exists(), "nothing was written");

    // nmr on the copy serves what the original did.
    let reg = Registry::start_in(dir, &["--db-path", "data/copy.sqlite"], &[LOCAL]);
    assert_eq!(served(&reg, &t), before);
    still_works(&reg, &t, "1.2.0", "fresh");
    let dir = reg.stop();

    // The copy has moved on: copying into it again would set its revisions back.
    let (code, _, err) = db_copy(dir.path(), &to_copy, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("was changed after it was copied"), "{err}");
}

/// nmr on PostgreSQL, sharing the local storage of the SQLite registry it was copied from.
fn on_postgres(dir: TempDir, url: &str) -> Registry {
    Registry::start_in(dir, &[], &[LOCAL, ("NMR_DB__URL", url), ALLOW_LOCAL])
}

const ALLOW_LOCAL: (&str, &str) = ("NMR_DB__ALLOW_LOCAL_STORAGE", "true");

#[test]
fn db_copy_sqlite_to_postgres_and_back_serves_the_same() {
    let pg = Postgres::shared();
    let reg = Registry::start_with(&[], &[LOCAL]);
    let t = populate(&reg);
    let before = served(&reg, &t);
    let dir = reg.stop();
    let d = dir.path();

    let url = pg.fresh_database();
    let to_pg = ["--to", "postgres", "--url", url.as_str()];
    let (code, out, err) = db_copy(d, &to_pg, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("packages: 2 rows copied"), "{out}");
    assert!(out.contains("tables match"), "{out}");
    assert!(
        !out.contains(&pg.password),
        "the password is never shown: {out}"
    );
    let (code, out, err) = db_copy(d, &to_pg, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("versions: 3 rows, all there already"), "{out}");
    assert!(out.contains("tables match"), "{out}");

    // A database holding something else is refused.
    let other = pg.fresh_database();
    let mut c = Connection::postgres(&other, None).unwrap();
    nmr::store::meta::migrate(&mut c).unwrap();
    c.execute(
        "INSERT INTO users (name, password, created) VALUES ('bob', 'x', 't')",
        (),
    )
    .unwrap();
    let (code, _, err) = db_copy(d, &["--to", "postgres", "--url", &other], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("already holds rows (users: 1)"), "{err}");

    // A row changed by hand in a copy is found.
    let tampered = pg.fresh_database();
    let (code, out, err) = db_copy(d, &["--to", "postgres", "--url", &tampered], &[]);
    assert_eq!(code, 0, "{out}{err}");
    let c = Connection::postgres(&tampered, None).unwrap();
    c.execute(
        "UPDATE versions SET readme = 'changed' WHERE version = '1.0.0'",
        (),
    )
    .unwrap();
    let verify = [
        "--to",
        "postgres",
        "--url",
        tampered.as_str(),
        "--verify-only",
    ];
    let (code, out, err) = db_copy(d, &verify, &[]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("verification failed: versions differ"),
        "{err}"
    );

    // nmr on PostgreSQL serves what it served on SQLite, and takes new publishes.
    let reg = on_postgres(dir, &url);
    assert_eq!(served(&reg, &t), before);
    still_works(&reg, &t, "1.2.0", "fresh");
    let after = served(&reg, &t);
    let dir = reg.stop();

    // And back to a new SQLite file.
    let env = [("NMR_DB__URL", url.as_str()), ALLOW_LOCAL];
    let to_sqlite = ["--to", "sqlite", "--path", "data/back.sqlite"];
    let (code, out, err) = db_copy(dir.path(), &to_sqlite, &env);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("packages: 3 rows copied"), "{out}");
    assert!(out.contains("tables match"), "{out}");
    let reg = Registry::start_in(dir, &["--db-path", "data/back.sqlite"], &[LOCAL]);
    assert_eq!(served(&reg, &t), after);
    still_works(&reg, &t, "1.3.0", "fresher");
}

/// Every table PostgreSQL's schema has is in the copy's list, with the same columns and key,
/// except those each engine keeps for itself.
#[test]
fn db_copy_tables_match_the_postgresql_schema() {
    let pg = Postgres::shared();
    let mut c = Connection::postgres(&pg.fresh_database(), None).unwrap();
    nmr::store::meta::migrate(&mut c).unwrap();
    let mut tables: Vec<String> = c
        .query_all(
            "SELECT table_name FROM information_schema.tables
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
            (),
            |r| r.get(0),
        )
        .unwrap();
    tables.retain(|t| t != "schema_migrations" && !dbcopy::REBUILT.contains(&t.as_str()));
    tables.sort();
    let mut listed: Vec<&str> = dbcopy::TABLES.iter().map(|t| t.name).collect();
    listed.sort_unstable();
    assert_eq!(listed, tables);
    for t in dbcopy::TABLES {
        let mut columns: Vec<String> = c
            .query_all(
                "SELECT column_name FROM information_schema.columns
                 WHERE table_schema = current_schema() AND table_name = ?1",
                [t.name],
                |r| r.get(0),
            )
            .unwrap();
        columns.sort();
        let mut ours: Vec<&str> = t.columns.iter().map(|(n, _)| *n).collect();
        ours.sort_unstable();
        assert_eq!(ours, columns, "columns of {}", t.name);
        let key: Vec<String> = c
            .query_all(
                "SELECT a.attname FROM pg_index i
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
                 WHERE i.indrelid = CAST(?1 AS regclass) AND i.indisprimary
                 ORDER BY array_position(i.indkey, a.attnum)",
                [t.name],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(t.key, key.as_slice(), "primary key of {}", t.name);
    }
}

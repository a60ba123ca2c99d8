//! The contract every metadata engine keeps: one suite of cases over every public function of
//! `store::meta`, run on SQLite by the library's tests and on PostgreSQL by an integration test
//! (`run_all` with a function that hands out a freshly migrated, empty database each time).
//! A case asserts what the rest of nmr relies on, so an engine that passes it can stand in for
//! the other.

use super::*;
use crate::store::db::Connection;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// A case: a name for the report, and the checks, given an empty migrated database.
type Case = (&'static str, fn(&mut Connection));

const CASES: &[Case] = &[
    ("packages_and_versions", packages_and_versions),
    ("files_and_tags", files_and_tags),
    (
        "deleting_versions_and_packages",
        deleting_versions_and_packages,
    ),
    ("stars_maintainers_repository", stars_maintainers_repository),
    ("names_case_and_scopes", names_case_and_scopes),
    ("marker_and_revisions", marker_and_revisions),
    ("accounts", accounts),
    ("tokens", tokens),
    ("github_cache", github_cache),
    ("uplink_cache", uplink_cache),
    ("uplink_use_and_eviction", uplink_use_and_eviction),
    ("blobs", blobs),
    ("notify_outbox", notify_outbox),
    ("orgs_and_members", orgs_and_members),
    ("teams_and_grants", teams_and_grants),
    ("search_ranking", search_ranking),
    ("search_exact_name_first", search_exact_name_first),
    ("search_qualifiers", search_qualifiers),
    ("search_scopes_and_pages", search_scopes_and_pages),
    (
        "search_listing_reindex_and_recent",
        search_listing_reindex_and_recent,
    ),
];

/// Runs every case, each on a database from `open`, and panics naming the cases that failed
/// (each case's own message is printed as it fails).
pub fn run_all(open: &dyn Fn() -> Connection) {
    let mut failed = Vec::new();
    for (name, case) in CASES {
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let mut conn = open();
            case(&mut conn);
        }));
        if outcome.is_err() {
            eprintln!("metadata contract case {name} failed");
            failed.push(*name);
        }
    }
    assert!(
        failed.is_empty(),
        "metadata contract cases failed: {}",
        failed.join(", ")
    );
}

// Fixtures.

fn new_package(conn: &mut Connection, name: &str, now: &str) -> Package {
    let tx = write_tx(conn).unwrap();
    let id = insert_package(&tx, name, now).unwrap();
    touch(&tx, id, now).unwrap();
    tx.commit().unwrap();
    package(conn, name).unwrap().unwrap()
}

fn version_of(v: &str, published: &str) -> Version {
    Version {
        version: v.into(),
        manifest: format!("{{\"version\":\"{v}\"}}"),
        readme: Some(format!("readme {v}")),
        deprecated: None,
        published: published.into(),
    }
}

fn file_of(pkg: &str, v: &str, key: &str, size: i64) -> File {
    File {
        filename: format!("{pkg}-{v}.tgz"),
        version: v.into(),
        blob_key: key.into(),
        size,
        sha1: format!("sha1-{key}"),
        integrity: format!("sha512-{key}"),
    }
}

fn add_user(conn: &Connection, name: &str) {
    let u = User {
        name: name.into(),
        email: format!("{name}@example.com"),
        password: "hash".into(),
    };
    assert!(insert_user(conn, &u, "2026-01-01T00:00:00.000Z").unwrap());
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

// Packages.

fn packages_and_versions(c: &mut Connection) {
    assert!(package(c, "widget").unwrap().is_none());
    assert_eq!(package_rev(c, "widget").unwrap(), None);
    let p = new_package(c, "widget", "2026-01-01T00:00:00.000Z");
    assert_eq!(p.name, "widget");
    assert_eq!(p.created, "2026-01-01T00:00:00.000Z");
    assert_eq!((p.users.as_str(), p.maintainers.as_str()), ("{}", "[]"));
    assert!(p.rev > 0);
    assert_eq!(package_rev(c, "widget").unwrap(), Some(p.rev));

    let tx = write_tx(c).unwrap();
    put_version(&tx, p.id, &version_of("1.0.0", "t1")).unwrap();
    put_version(&tx, p.id, &version_of("1.1.0", "t2")).unwrap();
    store_docs(&tx, p.id, b"full\x00doc", b"abbrev").unwrap();
    touch(&tx, p.id, "2026-01-02T00:00:00.000Z").unwrap();
    tx.commit().unwrap();

    let after = package(c, "widget").unwrap().unwrap();
    assert!(after.rev > p.rev, "a change moves the revision on");
    assert_eq!(after.modified, "2026-01-02T00:00:00.000Z");
    assert_eq!(
        template(c, Origin::Local, "widget", false).unwrap(),
        Some((after.rev, b"full\x00doc".to_vec())),
        "bytes come back as stored, NUL included"
    );
    assert_eq!(
        template(c, Origin::Local, "widget", true).unwrap(),
        Some((after.rev, b"abbrev".to_vec()))
    );
    assert_eq!(template(c, Origin::Uplink, "widget", true).unwrap(), None);
    assert_eq!(template(c, Origin::Local, "nope", true).unwrap(), None);

    let v = version(c, p.id, "1.0.0").unwrap().unwrap();
    assert_eq!(v.manifest, "{\"version\":\"1.0.0\"}");
    assert_eq!(v.readme.as_deref(), Some("readme 1.0.0"));
    assert_eq!((v.deprecated, v.published.as_str()), (None, "t1"));
    assert!(version(c, p.id, "9.9.9").unwrap().is_none());
    let mut all: Vec<String> = versions(c, p.id)
        .unwrap()
        .into_iter()
        .map(|v| v.version)
        .collect();
    all.sort();
    assert_eq!(all, ["1.0.0", "1.1.0"]);

    let tx = write_tx(c).unwrap();
    set_deprecated(&tx, p.id, "1.0.0", Some("use 1.1")).unwrap();
    // A republish (allow_previous_version) replaces the row whole.
    let mut again = version_of("1.1.0", "t3");
    again.readme = None;
    put_version(&tx, p.id, &again).unwrap();
    tx.commit().unwrap();
    let mut sums = version_summaries(c, p.id).unwrap();
    sums.sort_by(|a, b| a.version.cmp(&b.version));
    let sums: Vec<(String, String, Option<String>)> = sums
        .into_iter()
        .map(|s| (s.version, s.published, s.deprecated))
        .collect();
    assert_eq!(
        sums,
        [
            ("1.0.0".into(), "t1".into(), Some("use 1.1".into())),
            ("1.1.0".into(), "t3".into(), None)
        ]
    );
    assert_eq!(version(c, p.id, "1.1.0").unwrap().unwrap().readme, None);
    let tx = write_tx(c).unwrap();
    set_deprecated(&tx, p.id, "1.0.0", None).unwrap();
    tx.commit().unwrap();
    assert_eq!(version(c, p.id, "1.0.0").unwrap().unwrap().deprecated, None);
    new_package(c, "other", "t");
    assert_eq!(counts(c).unwrap(), (2, 2));
}

fn files_and_tags(c: &mut Connection) {
    let p = new_package(c, "widget", "t");
    let tx = write_tx(c).unwrap();
    assert_eq!(
        put_file(&tx, p.id, &file_of("widget", "1.0.0", "k1", 100)).unwrap(),
        None
    );
    assert_eq!(
        put_file(&tx, p.id, &file_of("widget", "1.1.0", "k2", 50)).unwrap(),
        None
    );
    // The same key again replaces nothing; a new key gives the old one back for deletion.
    assert_eq!(
        put_file(&tx, p.id, &file_of("widget", "1.1.0", "k2", 50)).unwrap(),
        None
    );
    assert_eq!(
        put_file(&tx, p.id, &file_of("widget", "1.1.0", "k3", 60)).unwrap(),
        Some("k2".into())
    );
    set_tag(&tx, p.id, "latest", "1.0.0").unwrap();
    set_tag(&tx, p.id, "latest", "1.1.0").unwrap();
    set_tag(&tx, p.id, "beta", "1.0.0").unwrap();
    tx.commit().unwrap();

    let f = file(c, "widget", "widget-1.1.0.tgz").unwrap().unwrap();
    assert_eq!(
        (f.version.as_str(), f.blob_key.as_str(), f.size),
        ("1.1.0", "k3", 60)
    );
    assert_eq!(
        (f.sha1.as_str(), f.integrity.as_str()),
        ("sha1-k3", "sha512-k3")
    );
    assert!(file(c, "widget", "widget-9.tgz").unwrap().is_none());
    assert!(file(c, "nope", "widget-1.1.0.tgz").unwrap().is_none());
    let mut keys: Vec<String> = files(c, p.id)
        .unwrap()
        .into_iter()
        .map(|f| f.blob_key)
        .collect();
    keys.sort();
    assert_eq!(keys, ["k1", "k3"]);
    assert_eq!(
        tags(c, p.id).unwrap(),
        pairs(&[("beta", "1.0.0"), ("latest", "1.1.0")])
    );
    let tx = write_tx(c).unwrap();
    assert!(delete_tag(&tx, p.id, "beta").unwrap());
    assert!(!delete_tag(&tx, p.id, "beta").unwrap());
    tx.commit().unwrap();
    assert_eq!(tags(c, p.id).unwrap(), pairs(&[("latest", "1.1.0")]));
    new_package(c, "empty", "t");
    assert_eq!(totals(c).unwrap(), (2, 2, 160));
}

fn deleting_versions_and_packages(c: &mut Connection) {
    let p = new_package(c, "widget", "t");
    add_user(c, "ann");
    let tx = write_tx(c).unwrap();
    for (v, k) in [("1.0.0", "k1"), ("2.0.0", "k2")] {
        put_version(&tx, p.id, &version_of(v, "t")).unwrap();
        put_file(&tx, p.id, &file_of("widget", v, k, 1)).unwrap();
    }
    set_tag(&tx, p.id, "latest", "2.0.0").unwrap();
    set_tag(&tx, p.id, "old", "1.0.0").unwrap();
    index_package(&tx, &p, &doc("widget")).unwrap();
    assert!(insert_org(&tx, "acme", "t").unwrap());
    set_role(&tx, "acme", "ann", "owner").unwrap();
    assert!(insert_team(&tx, "acme", "devs", "", "t").unwrap());
    grant(&tx, "acme", "devs", "widget", true).unwrap();
    tx.commit().unwrap();

    let tx = write_tx(c).unwrap();
    assert_eq!(delete_version(&tx, &p, "1.0.0", "d1").unwrap(), ["k1"]);
    tx.commit().unwrap();
    assert!(is_deleted(c, "widget", "1.0.0").unwrap());
    assert!(!is_deleted(c, "widget", "2.0.0").unwrap());
    assert!(version(c, p.id, "1.0.0").unwrap().is_none());
    assert_eq!(tags(c, p.id).unwrap(), pairs(&[("latest", "2.0.0")]));
    assert_eq!(files(c, p.id).unwrap().len(), 1);

    let tx = write_tx(c).unwrap();
    assert_eq!(delete_package(&tx, &p, "d2").unwrap(), ["k2"]);
    tx.commit().unwrap();
    assert!(package(c, "widget").unwrap().is_none());
    assert!(is_deleted(c, "widget", "2.0.0").unwrap());
    assert!(is_deleted(c, "widget", "1.0.0").unwrap());
    assert!(files(c, p.id).unwrap().is_empty());
    assert!(package_teams(c, "widget").unwrap().is_empty(), "grants go");
    assert!(package_names(c).unwrap().is_empty());
    let q = text(&[(None, "widget", true)]);
    assert_eq!(
        search(c, Some(&q), None, "widget", 10, 0).unwrap(),
        (vec![], 0),
        "the index forgets it"
    );
    // Published again, the name starts afresh: no versions, grants or index row.
    let again = new_package(c, "widget", "t2");
    assert!(again.rev > p.rev);
    assert!(versions(c, again.id).unwrap().is_empty());
}

fn stars_maintainers_repository(c: &mut Connection) {
    let a = new_package(c, "a", "t");
    let b = new_package(c, "b", "t");
    new_package(c, "c", "t");
    let tx = write_tx(c).unwrap();
    set_users(&tx, a.id, r#"{"ann":true,"bob":true}"#).unwrap();
    set_users(&tx, b.id, r#"{"ann":true}"#).unwrap();
    set_maintainers(&tx, a.id, r#"[{"name":"ann","email":"a@x"}]"#).unwrap();
    set_maintainers(&tx, b.id, "not json").unwrap();
    set_repository(&tx, a.id, "org/a").unwrap();
    tx.commit().unwrap();
    assert_eq!(starred_by(c, "ann").unwrap(), ["a", "b"]);
    assert_eq!(starred_by(c, "bob").unwrap(), ["a"]);
    assert!(starred_by(c, "carl").unwrap().is_empty());
    assert_eq!(
        package(c, "a").unwrap().unwrap().users,
        r#"{"ann":true,"bob":true}"#
    );
    assert_eq!(
        all_maintainers(c).unwrap(),
        pairs(&[
            ("a", r#"[{"name":"ann","email":"a@x"}]"#),
            ("b", "not json"),
            ("c", "[]")
        ])
    );
    assert_eq!(unowned(c).unwrap(), ["b", "c"]);
    assert_eq!(repository(c, "a").unwrap(), Some(Some("org/a".into())));
    assert_eq!(repository(c, "b").unwrap(), Some(None));
    assert_eq!(repository(c, "zzz").unwrap(), None);
    assert_eq!(unassigned(c).unwrap(), ["b", "c"]);
    assert_eq!(package_names(c).unwrap(), ["a", "b", "c"]);
}

fn names_case_and_scopes(c: &mut Connection) {
    for name in ["JSONStream", "@ab/x", "@a-b/x", "@a.b/y", "a", "@Up/x"] {
        new_package(c, name, "t");
    }
    assert_eq!(
        case_twin(c, "jsonstream").unwrap().as_deref(),
        Some("JSONStream")
    );
    assert_eq!(
        case_twin(c, "JSONStream").unwrap(),
        None,
        "itself is no twin"
    );
    assert_eq!(case_twin(c, "other").unwrap(), None);
    assert!(scope_has_local(c, "ab").unwrap());
    assert!(scope_has_local(c, "a-b").unwrap());
    assert!(scope_has_local(c, "a.b").unwrap());
    assert!(!scope_has_local(c, "a").unwrap());
    assert!(!scope_has_local(c, "a_b").unwrap());
    assert!(
        !scope_has_local(c, "up").unwrap(),
        "scope ranges are byte-wise"
    );
    assert!(
        scope_holds_packages(c, "up").unwrap(),
        "but a claim folds case"
    );
    assert!(scope_holds_packages(c, "AB").unwrap());
    assert!(!scope_holds_packages(c, "a").unwrap());
    assert_eq!(scope_packages(c, "up").unwrap(), ["@Up/x"]);
    assert_eq!(scope_packages(c, "AB").unwrap(), ["@ab/x"]);
    assert!(scope_packages(c, "a").unwrap().is_empty());
    assert_eq!(
        package_names(c).unwrap(),
        ["@Up/x", "@a-b/x", "@a.b/y", "@ab/x", "JSONStream", "a"],
        "sorted byte-wise"
    );
}

fn marker_and_revisions(c: &mut Connection) {
    let m = marker(c).unwrap();
    assert_eq!(m.len(), 32);
    migrate(c).unwrap();
    assert_eq!(marker(c).unwrap(), m, "a restart keeps the marker");
    let mut last = 0;
    let mut next = |rev: i64| {
        assert!(rev > last, "revision {rev} after {last}");
        last = rev;
    };
    let a = new_package(c, "a", "t");
    next(a.rev);
    let b = new_package(c, "b", "t");
    next(b.rev);
    uplink_store(c, "up", 1, &uplink_doc("{}", "i")).unwrap();
    next(uplink_state(c, "up").unwrap().unwrap().rev);
    let tx = write_tx(c).unwrap();
    touch(&tx, a.id, "t2").unwrap();
    tx.commit().unwrap();
    next(package_rev(c, "a").unwrap().unwrap());
    migrate(c).unwrap();
    let tx = write_tx(c).unwrap();
    delete_package(&tx, &b, "t").unwrap();
    tx.commit().unwrap();
    next(new_package(c, "b", "t").rev);
}

// Accounts and tokens.

fn accounts(c: &mut Connection) {
    add_user(c, "bob");
    add_user(c, "ann");
    let dup = User {
        name: "ann".into(),
        email: "other@x".into(),
        password: "p".into(),
    };
    assert!(!insert_user(c, &dup, "t").unwrap(), "the name is taken");
    let ann = user(c, "ann").unwrap().unwrap();
    assert_eq!(
        (ann.email.as_str(), ann.password.as_str()),
        ("ann@example.com", "hash")
    );
    assert!(user(c, "carl").unwrap().is_none());
    assert_eq!(
        users(c).unwrap(),
        pairs(&[("ann", "ann@example.com"), ("bob", "bob@example.com")])
    );
    assert!(set_password(c, "ann", "h2").unwrap());
    assert!(!set_password(c, "carl", "h2").unwrap());
    assert!(
        !upgrade_password(c, "ann", "hash", "h3").unwrap(),
        "no longer hash"
    );
    assert!(upgrade_password(c, "ann", "h2", "h3").unwrap());
    assert_eq!(user(c, "ann").unwrap().unwrap().password, "h3");
    insert_token(c, &token("k1", "ann", 1), "hash1").unwrap();
    assert!(delete_user(c, "ann").unwrap());
    assert!(!delete_user(c, "ann").unwrap());
    assert!(
        token_by_hash(c, "hash1").unwrap().is_none(),
        "tokens go too"
    );
    assert_eq!(users(c).unwrap().len(), 1);
}

fn token(key: &str, user: &str, n: i64) -> Token {
    Token {
        key: key.into(),
        user: user.into(),
        prefix: format!("npm_{n}"),
        name: (n % 2 == 0).then(|| format!("token {n}")),
        readonly: n % 2 == 0,
        cidr: "[\"10.0.0.0/8\"]".into(),
        created: format!("2026-01-0{n}"),
        expires: (n % 2 == 1).then_some(1_900_000_000 + n),
    }
}

fn tokens(c: &mut Connection) {
    add_user(c, "ann");
    add_user(c, "bob");
    insert_token(c, &token("k2", "ann", 2), "h2").unwrap();
    insert_token(c, &token("k1", "ann", 1), "h1").unwrap();
    insert_token(c, &token("k3", "bob", 3), "h3").unwrap();
    let t = token_by_hash(c, "h2").unwrap().unwrap();
    assert_eq!(
        (t.key.as_str(), t.user.as_str(), t.prefix.as_str()),
        ("k2", "ann", "npm_2")
    );
    assert_eq!(t.name.as_deref(), Some("token 2"));
    assert!(t.readonly);
    assert_eq!(
        (t.cidr.as_str(), t.created.as_str()),
        ("[\"10.0.0.0/8\"]", "2026-01-02")
    );
    assert_eq!(t.expires, None);
    let t1 = token_by_hash(c, "h1").unwrap().unwrap();
    assert_eq!(
        (t1.readonly, t1.expires, t1.name),
        (false, Some(1_900_000_001), None)
    );
    let keys = |u| -> Vec<String> {
        tokens_of(c, u)
            .unwrap()
            .into_iter()
            .map(|t| t.key)
            .collect()
    };
    assert_eq!(keys("ann"), ["k1", "k2"], "oldest first");
    assert_eq!(keys("bob"), ["k3"]);
    assert!(
        !delete_token_by_key(c, "k1", Some("bob")).unwrap(),
        "not bob's"
    );
    assert!(delete_token_by_key(c, "k1", Some("ann")).unwrap());
    assert!(
        delete_token_by_key(c, "k3", None).unwrap(),
        "the operator's"
    );
    assert!(!delete_token_by_key(c, "k3", None).unwrap());
    assert!(delete_token_by_hash(c, "h2").unwrap());
    assert!(!delete_token_by_hash(c, "h2").unwrap());
    assert!(tokens_of(c, "ann").unwrap().is_empty());
}

fn github_cache(c: &mut Connection) {
    assert!(github_cached(c, "repos/a/b").unwrap().is_none());
    let mut e = Cached {
        status: 200,
        etag: Some("\"e1\"".into()),
        body: "{}".into(),
        fetched: 10,
    };
    github_store(c, "repos/a/b", &e).unwrap();
    e.status = 404;
    e.etag = None;
    e.fetched = 20;
    github_store(c, "repos/a/b", &e).unwrap();
    let got = github_cached(c, "repos/a/b").unwrap().unwrap();
    assert_eq!(
        (got.status, got.etag, got.body.as_str(), got.fetched),
        (404, None, "{}", 20)
    );
}

// The upstream cache. Its fixtures serve `uplink_cache`'s own tests too.

pub(super) fn uplink_dist(integrity: &str) -> UplinkDist {
    UplinkDist {
        filename: "p-1.0.0.tgz".into(),
        version: "1.0.0".into(),
        url: "http://127.0.0.1:9/p/-/p-1.0.0.tgz".into(),
        integrity: Some(integrity.into()),
        shasum: None,
    }
}

pub(super) fn uplink_doc(full: &str, integrity: &str) -> UplinkDoc {
    UplinkDoc {
        etag: Some("\"e\"".into()),
        full: full.as_bytes().to_vec(),
        abbrev: b"{}".to_vec(),
        dists: vec![uplink_dist(integrity)],
    }
}

fn uplink_cache(c: &mut Connection) {
    assert!(uplink_state(c, "p").unwrap().is_none());
    uplink_store(c, "p", 1, &uplink_doc("{\"a\":1}", "sha512-A")).unwrap();
    let first = uplink_state(c, "p").unwrap().unwrap();
    assert_eq!(
        (first.fetched_at, first.etag.as_deref()),
        (1, Some("\"e\""))
    );
    assert_eq!(
        template(c, Origin::Uplink, "p", false).unwrap(),
        Some((first.rev, b"{\"a\":1}".to_vec()))
    );
    let f = uplink_file(c, "p", "p-1.0.0.tgz").unwrap().unwrap();
    assert_eq!(f.dist, uplink_dist("sha512-A"));
    assert!(f.stored.is_none());
    assert!(uplink_file(c, "p", "nope.tgz").unwrap().is_none());

    assert!(uplink_file_stored(c, "p", &uplink_dist("sha512-A"), "_uplink/p/k", 3, "s1").unwrap());
    uplink_store(c, "p", 2, &uplink_doc("{\"a\":1}", "sha512-A")).unwrap();
    let s = uplink_state(c, "p").unwrap().unwrap();
    assert_eq!(
        (s.rev, s.fetched_at),
        (first.rev, 2),
        "same bytes, same revision"
    );
    let stored = uplink_file(c, "p", "p-1.0.0.tgz")
        .unwrap()
        .unwrap()
        .stored
        .unwrap();
    assert_eq!(
        (
            stored.blob_key.as_str(),
            stored.size,
            stored.sha1.as_str(),
            stored.integrity.as_str()
        ),
        ("_uplink/p/k", 3, "s1", "sha512-A"),
        "same digests keep the stored bytes"
    );
    let files = uplink_stored_files(c, "p").unwrap();
    assert_eq!(files.len(), 1);
    let at = files[0].1.clone().expect("stored_at is set");
    assert!(crate::time::parse(&at).is_some(), "{at}");
    assert_eq!(uplink_names_with_files(c).unwrap(), ["p"]);

    uplink_store(c, "p", 3, &uplink_doc("{\"a\":2}", "sha512-B")).unwrap();
    assert!(
        uplink_state(c, "p").unwrap().unwrap().rev > first.rev,
        "new bytes, new revision"
    );
    assert!(uplink_file(c, "p", "p-1.0.0.tgz")
        .unwrap()
        .unwrap()
        .stored
        .is_none());
    assert!(uplink_stored_files(c, "p").unwrap().is_empty());
    assert!(uplink_names_with_files(c).unwrap().is_empty());
    assert!(
        !uplink_file_stored(c, "p", &uplink_dist("sha512-A"), "_uplink/p/k", 3, "s1").unwrap(),
        "bytes checked against old digests are not attached"
    );
    // A packument without digests: NULL matches NULL.
    let mut bare = uplink_dist("x");
    bare.integrity = None;
    let doc = UplinkDoc {
        dists: vec![bare.clone()],
        ..uplink_doc("{}", "x")
    };
    uplink_store(c, "q", 1, &doc).unwrap();
    assert!(uplink_file_stored(c, "q", &bare, "_uplink/q/k", 5, "s").unwrap());
    uplink_store(c, "q", 2, &doc).unwrap();
    assert!(uplink_file(c, "q", "p-1.0.0.tgz")
        .unwrap()
        .unwrap()
        .stored
        .is_some());
    assert_eq!(
        uplink_stored_files(c, "q").unwrap()[0].0.integrity,
        "",
        "no integrity reads as empty"
    );
    uplink_confirmed(c, "p", 9).unwrap();
    assert_eq!(uplink_state(c, "p").unwrap().unwrap().fetched_at, 9);

    uplink_store(c, "@Up/Two", 1, &uplink_doc("{}", "x")).unwrap();
    uplink_store(c, "@up/one", 1, &uplink_doc("{}", "x")).unwrap();
    uplink_store(c, "@upx/three", 1, &uplink_doc("{}", "x")).unwrap();
    assert_eq!(uplink_cached_in_scope(c, "up").unwrap(), 1);
    assert_eq!(
        uplink_cached(c, "@up/two").unwrap().as_deref(),
        Some("@Up/Two")
    );
    assert_eq!(
        uplink_cached(c, "@up/one").unwrap().as_deref(),
        Some("@up/one")
    );
    assert_eq!(uplink_cached(c, "@up/six").unwrap(), None);
    uplink_store(c, "@UP/ONE", 1, &uplink_doc("{}", "x")).unwrap();
    assert_eq!(
        uplink_cached(c, "@UP/ONE").unwrap().as_deref(),
        Some("@UP/ONE"),
        "the exact spelling wins"
    );
}

fn uplink_use_and_eviction(c: &mut Connection) {
    let two = UplinkDoc {
        dists: vec![
            uplink_dist("i"),
            UplinkDist {
                filename: "p-2.0.0.tgz".into(),
                version: "2.0.0".into(),
                ..uplink_dist("i")
            },
        ],
        ..uplink_doc("{}", "i")
    };
    uplink_store(c, "p", 1, &two).unwrap();
    uplink_store(c, "r", 1, &uplink_doc("{}", "i")).unwrap();
    uplink_store(
        c,
        "empty",
        1,
        &UplinkDoc {
            dists: vec![],
            ..uplink_doc("{}", "i")
        },
    )
    .unwrap();
    let d2 = &two.dists[1];
    assert!(uplink_file_stored(c, "p", &two.dists[0], "kp1", 10, "s").unwrap());
    assert!(uplink_file_stored(c, "p", d2, "kp2", 20, "s").unwrap());
    assert!(uplink_file_stored(c, "r", &uplink_dist("i"), "kr1", 5, "s").unwrap());
    assert_eq!(uplink_totals(c).unwrap(), (3, 35));
    let used = |n: &str, f: &str, at: &str| (n.to_string(), f.to_string(), at.to_string());
    uplink_used(
        c,
        &[
            used("p", "p-1.0.0.tgz", "2030-01-02T00:00:00.000Z"),
            used("r", "p-1.0.0.tgz", "2030-01-01T00:00:00.000Z"),
            used("p", "p-2.0.0.tgz", "2030-01-03T00:00:00.000Z"),
        ],
    )
    .unwrap();
    // A time never goes back.
    uplink_used(c, &[used("p", "p-2.0.0.tgz", "2029-01-01T00:00:00.000Z")]).unwrap();
    let listing = uplink_listing(c).unwrap();
    let l: Vec<(&str, i64, i64, Option<&str>)> = listing
        .iter()
        .map(|l| (l.name.as_str(), l.tarballs, l.bytes, l.last_used.as_deref()))
        .collect();
    assert_eq!(
        l,
        [
            ("empty", 0, 0, None),
            ("p", 2, 30, Some("2030-01-03T00:00:00.000Z")),
            ("r", 1, 5, Some("2030-01-01T00:00:00.000Z"))
        ]
    );
    let order = |before: Option<&str>| -> Vec<(String, String, i64)> {
        uplink_by_use(c, before)
            .unwrap()
            .into_iter()
            .map(|u| (u.name, u.filename, u.size))
            .collect()
    };
    assert_eq!(
        order(None),
        [
            ("r".into(), "p-1.0.0.tgz".into(), 5),
            ("p".into(), "p-1.0.0.tgz".into(), 10),
            ("p".into(), "p-2.0.0.tgz".into(), 20)
        ]
    );
    assert_eq!(order(Some("2030-01-02T00:00:00.000Z")).len(), 1);

    let keys = uplink_detach(c, &[("p".into(), "p-1.0.0.tgz".into())]).unwrap();
    assert_eq!(keys, ["kp1"]);
    assert!(
        is_pending(c, "kp1").unwrap(),
        "detached bytes await deletion"
    );
    assert!(uplink_file(c, "p", "p-1.0.0.tgz")
        .unwrap()
        .unwrap()
        .stored
        .is_none());
    assert_eq!(uplink_totals(c).unwrap(), (2, 25));

    assert_eq!(
        uplink_forget(c, "p").unwrap(),
        Some(vec!["kp2".to_string()])
    );
    assert!(is_pending(c, "kp2").unwrap());
    assert!(uplink_state(c, "p").unwrap().is_none());
    assert!(uplink_file(c, "p", "p-2.0.0.tgz").unwrap().is_none());
    assert_eq!(uplink_forget(c, "p").unwrap(), None);
    assert_eq!(uplink_forget(c, "empty").unwrap(), Some(vec![]));
}

fn blobs(c: &mut Connection) {
    pend(c, &strings(&["b", "a", "b"])).unwrap();
    assert_eq!(pending(c).unwrap(), ["a", "b"]);
    assert!(is_pending(c, "a").unwrap());
    unpend(c, &strings(&["a", "zz"])).unwrap();
    assert!(!is_pending(c, "a").unwrap());
    assert_eq!(pending(c).unwrap(), ["b"]);

    let p = new_package(c, "widget", "t");
    let tx = write_tx(c).unwrap();
    put_file(&tx, p.id, &file_of("widget", "1.0.0", "k/local", 7)).unwrap();
    tx.commit().unwrap();
    uplink_store(c, "up", 1, &uplink_doc("{}", "sha512-U")).unwrap();
    assert!(!blob_referenced(c, "k/up").unwrap());
    assert!(uplink_file_stored(c, "up", &uplink_dist("sha512-U"), "k/up", 9, "s9").unwrap());
    assert!(blob_referenced(c, "k/local").unwrap());
    assert!(blob_referenced(c, "k/up").unwrap());
    assert!(!blob_referenced(c, "k/none").unwrap());
    let all = stored_objects(c).unwrap();
    assert_eq!(
        all,
        [
            Stored {
                key: "k/local".into(),
                size: 7,
                sha1: "sha1-k/local".into(),
                integrity: Some("sha512-k/local".into()),
                what: "widget@1.0.0".into(),
            },
            Stored {
                key: "k/up".into(),
                size: 9,
                sha1: "s9".into(),
                integrity: Some("sha512-U".into()),
                what: "up@1.0.0".into(),
            },
        ]
    );
}

fn notify_outbox(c: &mut Connection) {
    let add = |c: &mut Connection, delivery: &str, target: &str, package: &str| {
        let tx = write_tx(c).unwrap();
        let e = NewEvent {
            delivery,
            target,
            event: "publish",
            package,
            body: b"{\"x\":\"\x01\"}",
            created: "t",
        };
        outbox_add(&tx, &e, 1000).unwrap();
        tx.commit().unwrap();
    };
    assert_eq!(outbox_next_due(c).unwrap(), None);
    add(c, "a1", "http://r", "a");
    add(c, "a2", "http://r", "a");
    add(c, "b1", "http://r", "b");
    add(c, "a1-other", "http://other", "a");
    assert_eq!(outbox_queued(c).unwrap(), 4);
    assert_eq!(outbox_next_due(c).unwrap(), Some(1000));

    let first = outbox_claim(c, 2000, 500).unwrap().unwrap();
    assert_eq!(first.delivery, "a1");
    assert_eq!(first.body, b"{\"x\":\"\x01\"}");
    assert_eq!(
        (
            first.target.as_str(),
            first.event.as_str(),
            first.package.as_str()
        ),
        ("http://r", "publish", "a")
    );
    let second = outbox_claim(c, 2000, 500).unwrap().unwrap();
    assert_eq!(second.delivery, "b1", "a2 waits for a1");
    let third = outbox_claim(c, 2000, 500).unwrap().unwrap();
    assert_eq!(third.delivery, "a1-other");
    assert!(outbox_claim(c, 2000, 500).unwrap().is_none());
    assert_eq!(
        outbox_next_due(c).unwrap(),
        Some(2500),
        "the leases run out"
    );

    outbox_settle(c, second.id, "delivered", 0, Some(200), None, "2026-01-01").unwrap();
    outbox_settle(
        c,
        third.id,
        "failed",
        0,
        Some(500),
        Some("boom"),
        "2026-01-02",
    )
    .unwrap();
    outbox_settle(c, first.id, "pending", 5000, Some(503), None, "t").unwrap();
    assert!(outbox_claim(c, 2600, 500).unwrap().is_none());
    assert_eq!(outbox_next_due(c).unwrap(), Some(5000));
    let claimed = |c: &Connection, at| outbox_claim(c, at, 500).unwrap().map(|r| r.delivery);
    assert_eq!(claimed(c, 5000), Some("a1".into()));
    assert_eq!(claimed(c, 5100), None);
    assert_eq!(
        claimed(c, 5600),
        Some("a1".into()),
        "an expired lease is taken over"
    );
    outbox_settle(c, first.id, "delivered", 0, Some(200), None, "2026-01-03").unwrap();
    let a2 = outbox_claim(c, 5600, 500).unwrap().unwrap();
    assert_eq!(a2.delivery, "a2");
    outbox_abandon(c, a2.id, "no such receiver", "2026-01-04").unwrap();
    assert_eq!(outbox_queued(c).unwrap(), 0);

    let log = outbox_log(c, false, 10).unwrap();
    let states: Vec<(&str, &str, i64)> = log
        .iter()
        .map(|r| (r.delivery.as_str(), r.state.as_str(), r.attempts))
        .collect();
    assert_eq!(
        states,
        [
            ("a1-other", "failed", 1),
            ("b1", "delivered", 1),
            ("a2", "failed", 0),
            ("a1", "delivered", 2)
        ]
    );
    assert_eq!(
        (log[0].last_status, log[0].last_error.as_deref()),
        (Some(500), Some("boom"))
    );
    assert_eq!(log[0].done.as_deref(), Some("2026-01-02"));
    assert_eq!(log[2].last_error.as_deref(), Some("no such receiver"));
    assert_eq!(outbox_log(c, false, 1).unwrap().len(), 1);
    let failed: Vec<String> = outbox_log(c, true, 10)
        .unwrap()
        .into_iter()
        .map(|r| r.delivery)
        .collect();
    assert_eq!(failed, ["a1-other", "a2"]);

    assert!(outbox_requeue(c, third.id, 7000).unwrap());
    assert!(!outbox_requeue(c, 999_999, 7000).unwrap());
    let again = outbox_claim(c, 7000, 500).unwrap().unwrap();
    assert_eq!(
        (again.delivery.as_str(), again.attempts, again.done),
        ("a1-other", 0, None)
    );
    assert_eq!(
        outbox_prune(c, "2026-01-03").unwrap(),
        1,
        "only b1 finished before"
    );
    assert_eq!(outbox_prune(c, "2026-01-03").unwrap(), 0);
    assert_eq!(outbox_log(c, false, 10).unwrap().len(), 3);
}

// Organisations.

fn orgs_and_members(c: &mut Connection) {
    for u in ["ann", "bob", "cy"] {
        add_user(c, u);
    }
    let tx = write_tx(c).unwrap();
    assert!(insert_org(&tx, "Acme", "t").unwrap());
    assert!(
        !insert_org(&tx, "acme", "t").unwrap(),
        "names compare without case"
    );
    assert!(insert_org(&tx, "b-org", "t").unwrap());
    assert!(insert_org(&tx, "a_org", "t").unwrap());
    set_role(&tx, "Acme", "ann", "owner").unwrap();
    set_role(&tx, "acme", "bob", "developer").unwrap();
    set_role(&tx, "ACME", "bob", "admin").unwrap();
    set_role(&tx, "b-org", "ann", "owner").unwrap();
    set_role(&tx, "b-org", "cy", "owner").unwrap();
    assert!(insert_team(&tx, "acme", "devs", "", "t").unwrap());
    tx.commit().unwrap();

    assert_eq!(org(c, "ACME").unwrap().as_deref(), Some("Acme"));
    assert_eq!(org(c, "nope").unwrap(), None);
    let all: Vec<(String, i64, i64)> = orgs(c).unwrap();
    assert_eq!(
        all,
        [
            ("a_org".to_string(), 0, 0),
            ("Acme".to_string(), 2, 1),
            ("b-org".to_string(), 2, 0)
        ],
        "by folded name"
    );
    assert_eq!(
        members(c, "acme").unwrap(),
        pairs(&[("ann", "owner"), ("bob", "admin")])
    );
    assert_eq!(role(c, "ACME", "bob").unwrap().as_deref(), Some("admin"));
    assert_eq!(role(c, "acme", "cy").unwrap(), None);
    assert_eq!(
        orgs_of(c, "ann").unwrap(),
        pairs(&[("Acme", "owner"), ("b-org", "owner")])
    );
    assert_eq!(owner_count(c, "acme").unwrap(), 1);
    assert_eq!(owner_count(c, "b-org").unwrap(), 2);
    assert_eq!(sole_owner_of(c, "ann").unwrap(), ["Acme"]);
    assert!(sole_owner_of(c, "bob").unwrap().is_empty());

    let tx = write_tx(c).unwrap();
    assert!(remove_member(&tx, "acme", "bob").unwrap());
    assert!(!remove_member(&tx, "acme", "bob").unwrap());
    tx.commit().unwrap();
    assert_eq!(members(c, "Acme").unwrap().len(), 1);
    // Deleting an account takes it off its organisations.
    assert!(delete_user(c, "cy").unwrap());
    assert_eq!(owner_count(c, "b-org").unwrap(), 1);
    let tx = write_tx(c).unwrap();
    assert!(delete_org(&tx, "ACME").unwrap());
    assert!(!delete_org(&tx, "acme").unwrap());
    tx.commit().unwrap();
    assert_eq!(org(c, "acme").unwrap(), None);
    assert!(
        team_exists(c, "acme", "devs").is_ok_and(|e| !e),
        "teams go with it"
    );
    assert_eq!(orgs_of(c, "ann").unwrap(), pairs(&[("b-org", "owner")]));
}

fn teams_and_grants(c: &mut Connection) {
    for u in ["ann", "bob"] {
        add_user(c, u);
    }
    new_package(c, "@acme/lib", "t");
    new_package(c, "@acme/app", "t");
    let tx = write_tx(c).unwrap();
    insert_org(&tx, "acme", "t").unwrap();
    set_role(&tx, "acme", "ann", "owner").unwrap();
    set_role(&tx, "acme", "bob", "developer").unwrap();
    assert!(insert_team(&tx, "acme", "devs", "developers", "t").unwrap());
    assert!(!insert_team(&tx, "ACME", "devs", "again", "t").unwrap());
    assert!(insert_team(&tx, "acme", "ci", "", "t").unwrap());
    assert!(add_team_member(&tx, "acme", "devs", "bob").unwrap());
    assert!(!add_team_member(&tx, "acme", "devs", "bob").unwrap());
    assert!(add_team_member(&tx, "acme", "devs", "ann").unwrap());
    assert!(add_team_member(&tx, "acme", "ci", "bob").unwrap());
    grant(&tx, "acme", "devs", "@acme/lib", false).unwrap();
    grant(&tx, "acme", "devs", "@acme/lib", true).unwrap();
    grant(&tx, "acme", "devs", "@acme/app", false).unwrap();
    grant(&tx, "acme", "ci", "@acme/app", false).unwrap();
    tx.commit().unwrap();

    assert_eq!(
        teams(c, "ACME").unwrap(),
        pairs(&[("ci", ""), ("devs", "developers")])
    );
    assert!(team_exists(c, "Acme", "devs").unwrap());
    assert!(!team_exists(c, "acme", "ops").unwrap());
    assert_eq!(team_members(c, "acme", "devs").unwrap(), ["ann", "bob"]);
    assert_eq!(
        team_packages(c, "acme", "devs").unwrap(),
        [
            ("@acme/app".to_string(), false),
            ("@acme/lib".to_string(), true)
        ]
    );
    assert_eq!(
        package_teams(c, "@acme/app").unwrap(),
        [
            ("acme".to_string(), "ci".to_string(), false),
            ("acme".to_string(), "devs".to_string(), false)
        ]
    );
    assert_eq!(team_grant(c, "bob", "@acme/lib").unwrap(), Some(true));
    assert_eq!(team_grant(c, "bob", "@acme/app").unwrap(), Some(false));
    assert_eq!(team_grant(c, "bob", "@acme/none").unwrap(), None);

    let tx = write_tx(c).unwrap();
    assert!(remove_team_member(&tx, "acme", "devs", "bob").unwrap());
    assert!(!remove_team_member(&tx, "acme", "devs", "bob").unwrap());
    tx.commit().unwrap();
    assert_eq!(team_grant(c, "bob", "@acme/lib").unwrap(), None);
    let tx = write_tx(c).unwrap();
    assert!(revoke(&tx, "acme", "devs", "@acme/app").unwrap());
    assert!(!revoke(&tx, "acme", "devs", "@acme/app").unwrap());
    // Leaving the organisation takes bob off its teams.
    remove_member(&tx, "acme", "bob").unwrap();
    tx.commit().unwrap();
    assert!(team_members(c, "acme", "ci").unwrap().is_empty());
    let tx = write_tx(c).unwrap();
    assert!(delete_team(&tx, "acme", "devs").unwrap());
    assert!(!delete_team(&tx, "acme", "devs").unwrap());
    tx.commit().unwrap();
    assert!(team_packages(c, "acme", "devs").unwrap().is_empty());
    assert!(team_members(c, "acme", "devs").unwrap().is_empty());

    assert!(!is_public(c, "@acme/lib").unwrap());
    assert!(!is_public(c, "@acme/none").unwrap());
    let tx = write_tx(c).unwrap();
    assert!(set_public(&tx, "@acme/lib", true).unwrap());
    assert!(!set_public(&tx, "@acme/none", true).unwrap());
    tx.commit().unwrap();
    assert!(is_public(c, "@acme/lib").unwrap());
    assert!(!is_public(c, "@acme/app").unwrap());
}

// Search.

fn doc(summary: &str) -> SearchDoc<'_> {
    SearchDoc {
        description: "",
        keywords: "",
        author: "",
        maintainers: "",
        summary,
    }
}

/// Indexes packages: `(name, description, keywords, author, maintainers)`; each summary is the
/// name, so hits read as names.
fn index(c: &mut Connection, docs: &[(&str, &str, &str, &str, &str)]) {
    for (name, description, keywords, author, maintainers) in docs {
        let p = new_package(c, name, "2026-01-01T00:00:00.000Z");
        let tx = write_tx(c).unwrap();
        let d = SearchDoc {
            description,
            keywords,
            author,
            maintainers,
            summary: name,
        };
        index_package(&tx, &p, &d).unwrap();
        tx.commit().unwrap();
    }
}

/// A query of one-term groups: `(field, text, prefix)`.
fn text(groups: &[(Option<Field>, &str, bool)]) -> TextQuery {
    TextQuery {
        all: groups
            .iter()
            .map(|(field, text, prefix)| Group {
                field: *field,
                any: vec![Term {
                    text: text.to_string(),
                    prefix: *prefix,
                }],
            })
            .collect(),
    }
}

fn hits(
    c: &Connection,
    q: &TextQuery,
    scope: Option<&str>,
    exact: &str,
    size: i64,
    from: i64,
) -> (Vec<String>, i64) {
    search(c, Some(q), scope, exact, size, from).unwrap()
}

/// Every document the same length (ten words), so that SQLite's BM25, which weighs length
/// in, ranks by field alone as PostgreSQL's `ts_rank` does.
fn ranked_fixture(c: &mut Connection) {
    index(
        c,
        &[
            ("widget", "a small thing to use here", "ui", "Ann", "alice"),
            (
                "gadget",
                "a widget maker for all people",
                "tools",
                "Bo",
                "bob",
            ),
            (
                "toolbox",
                "boxes of tools to have",
                "widget forms",
                "Cy",
                "cy",
            ),
            ("@acme/widget-kit", "parts for the kit", "acme", "Di", "di"),
            (
                "zeta",
                "nothing to see here now",
                "misc",
                "Widget Corp",
                "ed",
            ),
            (
                "helper",
                "helps with lots of things",
                "misc",
                "Ann Lee",
                "annie",
            ),
        ],
    );
}

fn search_ranking(c: &mut Connection) {
    ranked_fixture(c);
    let q = text(&[(None, "widget", true)]);
    assert_eq!(
        hits(c, &q, None, "", 10, 0),
        (
            strings(&["@acme/widget-kit", "widget", "toolbox", "gadget", "zeta"]),
            5
        ),
        "name hits (tied, by name), then keywords, description, author"
    );
    assert_eq!(
        hits(c, &q, None, "widgets", 10, 0).0[0],
        "@acme/widget-kit",
        "a search for a name no package has promotes nothing"
    );
    let q = text(&[(None, "widg", true)]);
    assert_eq!(hits(c, &q, None, "", 10, 0).1, 5, "prefixes match");
    let q = text(&[(None, "widg", false)]);
    assert_eq!(
        hits(c, &q, None, "", 10, 0),
        (vec![], 0),
        "whole words only"
    );
    let q = text(&[(None, "widget", true), (None, "forms", true)]);
    assert_eq!(
        hits(c, &q, None, "", 10, 0),
        (strings(&["toolbox"]), 1),
        "every group must match"
    );
}

fn search_exact_name_first(c: &mut Connection) {
    index(
        c,
        &[
            ("kit", "one", "", "", ""),
            ("a-kit-kit", "two", "", "", ""),
            ("kits", "three", "", "", ""),
        ],
    );
    let q = text(&[(None, "kit", true)]);
    assert_eq!(
        hits(c, &q, None, "", 10, 0).0,
        ["a-kit-kit", "kit", "kits"],
        "two name hits outrank one"
    );
    assert_eq!(
        hits(c, &q, None, "kit", 10, 0),
        (strings(&["kit", "a-kit-kit", "kits"]), 3),
        "the exact name comes first"
    );
    assert_eq!(hits(c, &q, None, "kit", 1, 0).0, ["kit"]);
    assert_eq!(hits(c, &q, None, "kit", 1, 1).0, ["a-kit-kit"]);
    assert_eq!(
        hits(c, &q, None, "kit", 2, 1),
        (strings(&["a-kit-kit", "kits"]), 3)
    );
    assert_eq!(hits(c, &q, None, "kit", 0, 0).0, Vec::<String>::new());
    // An exact name that does not match the query is not pulled in.
    let q = text(&[(None, "three", true)]);
    assert_eq!(hits(c, &q, None, "kit", 10, 0), (strings(&["kits"]), 1));
}

fn search_qualifiers(c: &mut Connection) {
    ranked_fixture(c);
    let any_keyword = |words: &[&str]| TextQuery {
        all: vec![Group {
            field: Some(Field::Keywords),
            any: words
                .iter()
                .map(|w| Term {
                    text: w.to_string(),
                    prefix: false,
                })
                .collect(),
        }],
    };
    assert_eq!(
        hits(c, &any_keyword(&["forms"]), None, "", 10, 0),
        (strings(&["toolbox"]), 1)
    );
    assert_eq!(
        hits(c, &any_keyword(&["ui", "forms"]), None, "", 10, 0).0,
        ["toolbox", "widget"]
    );
    assert_eq!(
        hits(c, &any_keyword(&["tools"]), None, "", 10, 0).0,
        ["gadget"],
        "not toolbox, whose description says tools"
    );
    assert_eq!(
        hits(c, &any_keyword(&["widget-forms"]), None, "", 10, 0).0,
        ["toolbox"],
        "a keyword with punctuation is words in a row"
    );
    assert_eq!(
        hits(c, &any_keyword(&["forms-widget"]), None, "", 10, 0).1,
        0
    );
    assert_eq!(
        hits(c, &any_keyword(&["---"]), None, "", 10, 0),
        (vec![], 0)
    );
    let author = |t: &str| text(&[(Some(Field::Author), t, true)]);
    assert_eq!(
        hits(c, &author("ann"), None, "", 10, 0).0,
        ["helper", "widget"]
    );
    assert_eq!(
        hits(c, &author("An"), None, "", 10, 0).1,
        2,
        "a prefix, any case"
    );
    assert_eq!(hits(c, &author("ann-l"), None, "", 10, 0).0, ["helper"]);
    assert_eq!(
        hits(c, &author("alice"), None, "", 10, 0).1,
        0,
        "a maintainer is not an author"
    );
    let maintainer = |t: &str| text(&[(Some(Field::Maintainers), t, false)]);
    assert_eq!(hits(c, &maintainer("alice"), None, "", 10, 0).0, ["widget"]);
    assert_eq!(
        hits(c, &maintainer("ali"), None, "", 10, 0).1,
        0,
        "whole names"
    );
    assert_eq!(
        hits(c, &maintainer("ann"), None, "", 10, 0).1,
        0,
        "an author is not a maintainer"
    );
    let both = text(&[(None, "widget", true), (Some(Field::Author), "ann", true)]);
    assert_eq!(hits(c, &both, None, "", 10, 0), (strings(&["widget"]), 1));
    let name = text(&[(Some(Field::Name), "widget", false)]);
    assert_eq!(
        hits(c, &name, None, "", 10, 0).0,
        ["@acme/widget-kit", "widget"]
    );
    let description = text(&[(Some(Field::Description), "widget", false)]);
    assert_eq!(hits(c, &description, None, "", 10, 0).0, ["gadget"]);
}

fn search_scopes_and_pages(c: &mut Connection) {
    ranked_fixture(c);
    index(
        c,
        &[
            ("@acme/widget", "", "", "", ""),
            ("@ac/widget", "", "", "", ""),
        ],
    );
    let q = text(&[(None, "widget", true)]);
    assert_eq!(
        hits(c, &q, Some("acme"), "", 10, 0),
        (strings(&["@acme/widget", "@acme/widget-kit"]), 2)
    );
    assert_eq!(
        hits(c, &q, Some("acme"), "@acme/widget-kit", 10, 0).0,
        ["@acme/widget-kit", "@acme/widget"]
    );
    assert_eq!(
        hits(c, &q, Some("ac"), "", 10, 0),
        (strings(&["@ac/widget"]), 1)
    );
    assert_eq!(hits(c, &q, Some("none"), "", 10, 0), (vec![], 0));
    let all = strings(&[
        "@ac/widget",
        "@acme/widget",
        "@acme/widget-kit",
        "widget",
        "toolbox",
        "gadget",
        "zeta",
    ]);
    assert_eq!(hits(c, &q, None, "", 10, 0), (all.clone(), 7));
    assert_eq!(hits(c, &q, None, "", 3, 2), (all[2..5].to_vec(), 7));
    assert_eq!(hits(c, &q, None, "", 3, 6), (all[6..].to_vec(), 7));
    assert_eq!(hits(c, &q, None, "", 3, 7), (vec![], 7));
    // A scoped name searched for as typed: its words, and the name itself first.
    let q = text(&[(None, "acme", true), (None, "widget", true)]);
    assert_eq!(
        hits(c, &q, None, "@acme/widget-kit", 10, 0),
        (strings(&["@acme/widget-kit", "@acme/widget"]), 2)
    );
}

fn search_listing_reindex_and_recent(c: &mut Connection) {
    index(
        c,
        &[
            ("b", "first", "", "", ""),
            ("@s/x", "second", "", "", ""),
            ("a", "third", "", "", ""),
            ("@s/y", "fourth", "", "", ""),
        ],
    );
    assert_eq!(
        search(c, None, None, "", 10, 0).unwrap(),
        (strings(&["@s/x", "@s/y", "a", "b"]), 4)
    );
    assert_eq!(
        search(c, None, None, "", 2, 1).unwrap(),
        (strings(&["@s/y", "a"]), 4)
    );
    assert_eq!(
        search(c, None, Some("s"), "", 1, 1).unwrap(),
        (strings(&["@s/y"]), 2)
    );
    // Reindexing replaces the row: the old words no longer find it.
    let p = package(c, "a").unwrap().unwrap();
    let tx = write_tx(c).unwrap();
    let d = SearchDoc {
        description: "renamed",
        ..doc("a v2")
    };
    index_package(&tx, &p, &d).unwrap();
    touch(&tx, p.id, "2026-02-01T00:00:00.000Z").unwrap();
    tx.commit().unwrap();
    let q = |w: &str| text(&[(None, w, true)]);
    assert_eq!(hits(c, &q("third"), None, "", 10, 0).1, 0);
    assert_eq!(hits(c, &q("renamed"), None, "", 10, 0).0, ["a v2"]);
    // Recent: by modification time, then the newest row.
    assert_eq!(recent(c, 3, 0).unwrap(), ["a v2", "@s/y", "@s/x"]);
    assert_eq!(recent(c, 10, 2).unwrap(), ["@s/x", "b"]);
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn sqlite_keeps_the_contract() {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!("nmr-contract-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let open = || {
            let n = N.fetch_add(1, Ordering::Relaxed);
            let mut c = super::open(&dir.join(format!("{n}.sqlite"))).unwrap();
            super::migrate(&mut c).unwrap();
            c
        };
        super::run_all(&open);
        // Kept when a case fails, for a look at what it left.
        let _ = std::fs::remove_dir_all(&dir);
    }
}

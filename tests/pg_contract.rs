//! The metadata contract suite (`nmr::store::meta::contract`) on a real PostgreSQL: the same
//! cases SQLite passes in the library's own tests, each on a fresh, migrated database.

use crate::support::postgres::Postgres;
use nmr::store::db::Connection;
use nmr::store::meta;

#[test]
fn the_metadata_contract_holds_on_postgresql() {
    let pg = Postgres::shared();
    meta::contract::run_all(&|| {
        let mut conn = Connection::postgres(&pg.fresh_database(), None).unwrap();
        meta::migrate(&mut conn).unwrap();
        conn
    });
}

#[test]
fn two_instances_migrating_at_once_apply_each_migration_once() {
    let pg = Postgres::shared();
    let url = pg.fresh_database();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                let mut conn = Connection::postgres(&url, None).unwrap();
                meta::migrate(&mut conn).unwrap();
                meta::marker(&conn).unwrap()
            })
        })
        .collect();
    let markers: Vec<String> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(markers.iter().all(|m| *m == markers[0]), "{markers:?}");
    let conn = Connection::postgres(&url, None).unwrap();
    let versions: Vec<i64> = conn
        .query_all(
            "SELECT version FROM schema_migrations ORDER BY version",
            (),
            |r| r.get(0),
        )
        .unwrap();
    let expected: Vec<i64> = (1..=versions.len() as i64).collect();
    assert!(versions.len() >= 2, "{versions:?}");
    assert_eq!(versions, expected);
}

/// The password kept out of `db.url`: from `db.password_file` or `PGPASSWORD`, never shown by
/// `nmr config`; and PostgreSQL with local tarballs refused unless allowed.
#[test]
fn the_database_password_stays_out_of_the_url_and_out_of_sight() {
    let pg = Postgres::shared();
    let url = pg.fresh_database();
    let bare = url.replace(&format!(":{}@", pg.password), "@");
    assert_ne!(bare, url);
    let dir = crate::support::TempDir::new("pg-password");
    let file = dir.path().join("db-password");
    std::fs::write(&file, format!("{}\n", pg.password)).unwrap();

    let shown = crate::support::nmr_command(dir.path())
        .args(["config", "--set", "db.allow_local_storage=true"])
        .args(["--set", &format!("db.url={url}")])
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(!shown.contains(&pg.password), "{shown}");
    assert!(
        shown.contains("postgres://nmr:********@127.0.0.1"),
        "{shown}"
    );

    let refused = crate::support::nmr_command(dir.path())
        .args(["serve", "--port", "0", "--set", &format!("db.url={bare}")])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("storage.type") && err.contains("db.allow_local_storage"),
        "{err}"
    );

    let local = ["--set", "db.allow_local_storage=true"];
    let db_url = format!("db.url={bare}");
    let password_file = format!("db.password_file={}", file.display());
    let reg = crate::support::Registry::start_with(
        &[
            local[0],
            local[1],
            "--set",
            &db_url,
            "--set",
            &password_file,
        ],
        &[],
    );
    crate::support::raw_publish(&reg, "@acme/secretive", "1.0.0");
    drop(reg);
    let reg = crate::support::Registry::start_with(
        &[local[0], local[1], "--set", &db_url],
        &[("PGPASSWORD", pg.password.as_str())],
    );
    assert_eq!(reg.get("/@acme%2fsecretive").status, 200);
    assert!(!reg.log().contains(&pg.password));
}

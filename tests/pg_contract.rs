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

//! The schema: every table and index, the upgrades from older schemas, and the per-database
//! marker that stands for the base URL inside stored templates. This file holds SQLite's
//! (versioned by `PRAGMA user_version`); `schema_pg` holds PostgreSQL's.

use crate::store::db::{Connection, Engine};
use crate::store::{Error, Result};

/// Schema version recorded in `PRAGMA user_version`.
const SCHEMA_VERSION: i64 = 6;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS packages (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    rev         INTEGER NOT NULL,
    created     TEXT NOT NULL,
    modified    TEXT NOT NULL,
    users       TEXT NOT NULL DEFAULT '{}',
    maintainers TEXT NOT NULL DEFAULT '[]',
    repository  TEXT,
    doc_full    BLOB NOT NULL DEFAULT x'',
    doc_abbrev  BLOB NOT NULL DEFAULT x''
);
-- The web UI's home page lists the packages changed last.
CREATE INDEX IF NOT EXISTS packages_modified ON packages (modified);
CREATE TABLE IF NOT EXISTS versions (
    package_id INTEGER NOT NULL REFERENCES packages(id) ON DELETE CASCADE,
    version    TEXT NOT NULL,
    manifest   TEXT NOT NULL,
    readme     TEXT,
    deprecated TEXT,
    published  TEXT NOT NULL,
    PRIMARY KEY (package_id, version)
);
-- Covers what the web UI lists for every version, so listing reads no manifest or readme
-- (each row's overflow pages would otherwise be walked to reach the columns after them).
CREATE INDEX IF NOT EXISTS versions_summary ON versions (package_id, version, published, deprecated);
CREATE TABLE IF NOT EXISTS files (
    package_id INTEGER NOT NULL REFERENCES packages(id) ON DELETE CASCADE,
    filename   TEXT NOT NULL,
    version    TEXT NOT NULL,
    blob_key   TEXT NOT NULL,
    size       INTEGER NOT NULL,
    sha1       TEXT NOT NULL,
    integrity  TEXT NOT NULL,
    PRIMARY KEY (package_id, filename)
);
CREATE TABLE IF NOT EXISTS deleted_versions (
    name    TEXT NOT NULL,
    version TEXT NOT NULL,
    deleted TEXT NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE VIRTUAL TABLE IF NOT EXISTS search USING fts5 (
    name, description, keywords, author, maintainers, summary UNINDEXED
);
CREATE TABLE IF NOT EXISTS users (
    name     TEXT PRIMARY KEY,
    email    TEXT NOT NULL DEFAULT '',
    password TEXT NOT NULL,
    created  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    key      TEXT PRIMARY KEY,
    hash     TEXT NOT NULL UNIQUE,
    user     TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    prefix   TEXT NOT NULL,
    name     TEXT,
    readonly INTEGER NOT NULL DEFAULT 0,
    cidr     TEXT NOT NULL DEFAULT '[]',
    created  TEXT NOT NULL,
    expires  INTEGER
);
CREATE TABLE IF NOT EXISTS github_cache (
    key     TEXT PRIMARY KEY,
    status  INTEGER NOT NULL,
    etag    TEXT,
    body    TEXT NOT NULL,
    fetched INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS dist_tags (
    package_id INTEGER NOT NULL REFERENCES packages(id) ON DELETE CASCADE,
    tag        TEXT NOT NULL,
    version    TEXT NOT NULL,
    PRIMARY KEY (package_id, tag)
);
-- Schema 2: packuments fetched from the upstream, as templates like doc_full/doc_abbrev, with
-- what revalidation needs. rev changes whenever the stored bytes do.
CREATE TABLE IF NOT EXISTS uplink_packages (
    name       TEXT PRIMARY KEY,
    rev        INTEGER NOT NULL,
    fetched_at INTEGER NOT NULL,
    etag       TEXT,
    doc_full   BLOB NOT NULL,
    doc_abbrev BLOB NOT NULL
);
-- Every tarball an upstream packument lists, with the digests it claims; blob_key, size and sha1
-- are set once the bytes were downloaded and matched those digests. Schema 3 adds stored_at,
-- when that happened, so `nmr export --since` can pick what arrived since the last transfer.
CREATE TABLE IF NOT EXISTS uplink_files (
    name      TEXT NOT NULL,
    filename  TEXT NOT NULL,
    version   TEXT NOT NULL,
    url       TEXT NOT NULL,
    integrity TEXT,
    shasum    TEXT,
    blob_key  TEXT,
    size      INTEGER,
    sha1      TEXT,
    stored_at TEXT,
    PRIMARY KEY (name, filename)
);
-- Schema 3: blob keys that may have no metadata pointing at them (see store::gc): recorded
-- before a publish writes its blobs and cleared by the commit that points at them, or recorded
-- by the commit that stops pointing at a blob until it is deleted.
CREATE TABLE IF NOT EXISTS pending_blobs (
    key TEXT PRIMARY KEY
);
-- Schema 4: names that differ only in case name one package (see name::folded), so a publish
-- looks its name up folded. Not UNIQUE: a database from before may hold such a pair, and must
-- still open; the publish checks inside its write transaction instead.
CREATE INDEX IF NOT EXISTS packages_folded ON packages (lower(name));
CREATE INDEX IF NOT EXISTS uplink_packages_folded ON uplink_packages (lower(name));
-- Schema 5: the webhook outbox (see notify). A row is written by the transaction of the change
-- it reports, one per matching [[notify]] entry, named by that entry's URL (`target`); its body
-- is built then. State: pending, delivered or failed. Times in unix ms; a deliverer owns a row
-- while claimed_until is in the future, so several processes deliver it once.
CREATE TABLE IF NOT EXISTS notify_outbox (
    id            INTEGER PRIMARY KEY,
    delivery      TEXT NOT NULL UNIQUE,
    target        TEXT NOT NULL,
    event         TEXT NOT NULL,
    package       TEXT NOT NULL,
    body          BLOB NOT NULL,
    created       TEXT NOT NULL,
    state         TEXT NOT NULL DEFAULT 'pending',
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_try      INTEGER NOT NULL,
    claimed_until INTEGER NOT NULL DEFAULT 0,
    last_status   INTEGER,
    last_error    TEXT,
    done          TEXT
);
CREATE INDEX IF NOT EXISTS notify_outbox_due ON notify_outbox (state, next_try);
-- Per receiver and package, events go out in id order.
CREATE INDEX IF NOT EXISTS notify_outbox_order ON notify_outbox (target, package, id);
-- Schema 6: organisations (see auth::orgs), one per scope, named without `@`. Names compare
-- without case, like package names, so `@Acme` cannot be claimed beside `@acme`. Role: owner,
-- admin or developer. Removing a member takes them off its teams; deleting an account, off
-- its organisations.
CREATE TABLE IF NOT EXISTS orgs (
    name    TEXT PRIMARY KEY COLLATE NOCASE,
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS org_members (
    org  TEXT NOT NULL COLLATE NOCASE REFERENCES orgs(name) ON DELETE CASCADE,
    user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    role TEXT NOT NULL,
    PRIMARY KEY (org, user)
);
CREATE INDEX IF NOT EXISTS org_members_user ON org_members (user);
CREATE TABLE IF NOT EXISTS teams (
    org         TEXT NOT NULL COLLATE NOCASE REFERENCES orgs(name) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created     TEXT NOT NULL,
    PRIMARY KEY (org, name)
);
CREATE TABLE IF NOT EXISTS team_members (
    org  TEXT NOT NULL COLLATE NOCASE,
    team TEXT NOT NULL,
    user TEXT NOT NULL,
    PRIMARY KEY (org, team, user),
    FOREIGN KEY (org, team) REFERENCES teams(org, name) ON DELETE CASCADE,
    FOREIGN KEY (org, user) REFERENCES org_members(org, user) ON DELETE CASCADE
);
-- Packages by name: a grant names a package of the team's scope that exists when it is made,
-- and goes when the package is deleted (see meta::orgs::forget_grants).
CREATE TABLE IF NOT EXISTS team_packages (
    org     TEXT NOT NULL COLLATE NOCASE,
    team    TEXT NOT NULL,
    package TEXT NOT NULL,
    write   INTEGER NOT NULL,
    PRIMARY KEY (org, team, package),
    FOREIGN KEY (org, team) REFERENCES teams(org, name) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS team_packages_package ON team_packages (package);
";

/// Creates or upgrades the schema, and makes sure the template marker exists.
pub fn migrate(conn: &mut Connection) -> Result<()> {
    match conn.engine() {
        Engine::Sqlite => migrate_sqlite(conn),
        Engine::Postgres => super::schema_pg::migrate(conn),
    }
}

fn migrate_sqlite(conn: &mut Connection) -> Result<()> {
    let tx = conn.write_tx()?;
    let version: i64 = tx.query_row("PRAGMA user_version", (), |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(Error::SchemaTooNew {
            found: version,
            known: SCHEMA_VERSION,
        });
    }
    tx.execute_batch(SCHEMA)?;
    // Columns added after a table was first created; CREATE TABLE IF NOT EXISTS leaves an
    // existing table as it was. Tarballs cached before `stored_at` existed have none, so an
    // `export --since` includes them.
    for (table, column, decl) in [
        ("packages", "repository", "TEXT"),
        ("uplink_files", "stored_at", "TEXT"),
        // Schema 4: when the cached tarball was last served, for `nmr cache prune` and
        // `uplink.cache_max_size`; stored_at stands in for tarballs cached before.
        ("uplink_files", "used_at", "TEXT"),
        // Schema 6: `npm access set status=public` opens one package to readers without an
        // account (local auth).
        ("packages", "public", "INTEGER NOT NULL DEFAULT 0"),
    ] {
        let present: bool = tx.query_row(
            "SELECT EXISTS(SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2)",
            [table, column],
            |r| r.get(0),
        )?;
        if !present {
            tx.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {decl}"))?;
        }
    }
    // Schema 4: abbreviated documents carry only the fields npm's format defines. Stored ones
    // lose `_rev` and `time` now rather than at their package's next change. (A BLOB would be
    // read as SQLite's binary JSON, hence the casts.)
    if (1..4).contains(&version) {
        tx.execute_batch(
            "UPDATE packages SET doc_abbrev =
               CAST(json_remove(CAST(doc_abbrev AS TEXT), '$._rev', '$.time') AS BLOB)
             WHERE json_valid(CAST(doc_abbrev AS TEXT));
             UPDATE uplink_packages SET rev = rev + 1, doc_abbrev =
               CAST(json_remove(CAST(doc_abbrev AS TEXT), '$._rev', '$.time') AS BLOB)
             WHERE json_valid(CAST(doc_abbrev AS TEXT));",
        )?;
    }
    if (1..6).contains(&version) {
        claim_existing_scopes(&tx)?;
    }
    // Rank hits by BM25 with a name hit worth most, then keywords, then description.
    tx.execute(
        "INSERT INTO search (search, rank) VALUES ('rank', 'bm25(10.0, 2.0, 4.0, 1.0, 1.0, 0.0)')",
        (),
    )?;
    tx.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))?;
    let has_marker: bool = tx.query_row(
        "SELECT EXISTS(SELECT 1 FROM meta WHERE key = 'marker')",
        (),
        |r| r.get(0),
    )?;
    if !has_marker {
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('marker', ?1)",
            [crate::random::hex_token(16)?],
        )?;
    }
    // Revisions come from one counter for the whole database, so a package that is deleted and
    // published again never reuses a revision (caches key on it).
    tx.execute(
        "INSERT OR IGNORE INTO meta (key, value) VALUES ('rev_seq', (SELECT COALESCE(MAX(rev), 0) FROM packages))",
        (),
    )?;
    // Since schema 4 upstream packuments take their revisions from the same counter; it must
    // start above the ones they had.
    tx.execute(
        "UPDATE meta SET value = MAX(CAST(value AS INTEGER),
           (SELECT COALESCE(MAX(rev), 0) FROM uplink_packages)) WHERE key = 'rev_seq'",
        (),
    )?;
    tx.commit()?;
    Ok(())
}

/// Schema 6 makes scopes organisations, and a scope without one can be claimed by a publish
/// only while it holds no package. A scope that already holds packages when the registry is
/// upgraded becomes an organisation at once, so that nobody can take it over and those who
/// published there keep publishing: the first maintainer with an account of its oldest package
/// becomes the owner, every other maintainer with an account a developer (developers keep
/// writing the packages they maintain; see auth::orgs). Scopes whose packages name no account
/// (published with auth.type = none) are left for the operator: `nmr org add`.
fn claim_existing_scopes(tx: &crate::store::db::Transaction) -> Result<()> {
    let now = crate::time::now_rfc3339();
    let rows: Vec<(String, String)> = {
        let mut st = tx.prepare(
            "SELECT name, maintainers FROM packages WHERE name LIKE '@%/%' ORDER BY created, id",
        )?;
        let rows = st.query_map((), |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<crate::store::db::Result<_>>()?
    };
    for (name, maintainers) in rows {
        let Some(scope) = crate::name::scope(&name) else {
            continue;
        };
        let listed: Vec<serde_json::Value> = serde_json::from_str(&maintainers).unwrap_or_default();
        for user in listed.iter().filter_map(|m| m["name"].as_str()) {
            let account: bool = tx.query_row(
                "SELECT EXISTS(SELECT 1 FROM users WHERE name = ?1)",
                [user],
                |r| r.get(0),
            )?;
            if !account {
                continue;
            }
            tx.execute(
                "INSERT OR IGNORE INTO orgs (name, created) VALUES (?1, ?2)",
                [scope, &now],
            )?;
            let owned: bool = tx.query_row(
                "SELECT EXISTS(SELECT 1 FROM org_members WHERE org = ?1 AND role = 'owner')",
                [scope],
                |r| r.get(0),
            )?;
            tx.execute(
                "INSERT OR IGNORE INTO org_members (org, user, role) VALUES (?1, ?2, ?3)",
                [scope, user, if owned { "developer" } else { "owner" }],
            )?;
        }
    }
    Ok(())
}

/// The per-database random string that stands for the base URL inside stored templates.
pub fn marker(conn: &Connection) -> Result<String> {
    Ok(
        conn.query_row("SELECT value FROM meta WHERE key = 'marker'", (), |r| {
            r.get(0)
        })?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::meta::{
        package_rev, template, test_db_file, uplink_state, uplink_stored_files, Origin,
    };

    #[test]
    fn a_schema_2_database_gains_stored_at_and_keeps_its_rows() {
        let mut c = test_db_file("v2");
        c.execute_batch(
            "CREATE TABLE uplink_files (name TEXT NOT NULL, filename TEXT NOT NULL,
               version TEXT NOT NULL, url TEXT NOT NULL, integrity TEXT, shasum TEXT,
               blob_key TEXT, size INTEGER, sha1 TEXT, PRIMARY KEY (name, filename));
             INSERT INTO uplink_files VALUES ('p', 'p-1.0.0.tgz', '1.0.0', 'u', 'i', NULL, 'k', 1, 's');
             PRAGMA user_version = 2;",
        )
        .unwrap();
        migrate(&mut c).unwrap();
        let stored = uplink_stored_files(&c, "p").unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].1, None, "cached before schema 3: time unknown");
    }

    #[test]
    fn a_schema_3_database_loses_rev_and_time_from_its_abbreviated_documents() {
        let mut c = test_db_file("v3");
        migrate(&mut c).unwrap();
        let old = br#"{"_rev":"1-a","name":"p","modified":"m","dist-tags":{},"versions":{"1.0.0":{"dist":{"tarball":"\u0000M/p/-/p-1.0.0.tgz"}}},"time":{"1.0.0":"t"}}"#;
        c.execute(
            "INSERT INTO packages (name, rev, created, modified, doc_abbrev) VALUES ('p', 1, 't', 't', ?1)",
            [&old[..]],
        )
        .unwrap();
        c.execute_batch("PRAGMA user_version = 3").unwrap();
        migrate(&mut c).unwrap();
        let (_, doc) = template(&c, Origin::Local, "p", true).unwrap().unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&doc).unwrap();
        let keys: Vec<&String> = doc.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["name", "modified", "dist-tags", "versions"]);
        assert_eq!(
            doc["versions"]["1.0.0"]["dist"]["tarball"], "\u{0}M/p/-/p-1.0.0.tgz",
            "the marker survives"
        );
    }

    #[test]
    fn a_schema_5_database_gives_every_used_scope_an_owner() {
        let mut c = test_db_file("v5");
        migrate(&mut c).unwrap();
        c.execute_batch(
            "DROP TABLE team_packages; DROP TABLE team_members; DROP TABLE teams;
             DROP TABLE org_members; DROP TABLE orgs;
             INSERT INTO users (name, password, created) VALUES ('alice', 'x', 't'), ('bob', 'x', 't');
             INSERT INTO packages (name, rev, created, modified, maintainers) VALUES
               ('@acme/new', 1, '2026-02-01', 't', '[{\"name\":\"bob\"}]'),
               ('@acme/old', 2, '2026-01-01', 't', '[{\"name\":\"gone\"},{\"name\":\"alice\"}]'),
               ('@open/p', 3, '2026-01-01', 't', '[]'),
               ('plain', 4, '2026-01-01', 't', '[{\"name\":\"bob\"}]');
             PRAGMA user_version = 5;",
        )
        .unwrap();
        migrate(&mut c).unwrap();
        assert_eq!(
            crate::store::meta::members(&c, "acme").unwrap(),
            [
                ("alice".to_string(), "owner".to_string()),
                ("bob".to_string(), "developer".to_string())
            ],
            "the oldest package's first maintainer with an account owns the scope"
        );
        assert_eq!(
            crate::store::meta::org(&c, "open").unwrap(),
            None,
            "no account to own it"
        );
        assert_eq!(crate::store::meta::orgs(&c).unwrap().len(), 1);
        // A second run (a restart) changes nothing.
        migrate(&mut c).unwrap();
        assert_eq!(crate::store::meta::members(&c, "acme").unwrap().len(), 2);
    }

    #[test]
    fn a_schema_1_database_is_upgraded_in_place() {
        let mut c = test_db_file("v1");
        c.execute_batch(
            "CREATE TABLE packages (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, rev INTEGER NOT NULL,
               created TEXT NOT NULL, modified TEXT NOT NULL, users TEXT NOT NULL DEFAULT '{}',
               maintainers TEXT NOT NULL DEFAULT '[]', doc_full BLOB NOT NULL DEFAULT x'',
               doc_abbrev BLOB NOT NULL DEFAULT x'');
             INSERT INTO packages (name, rev, created, modified) VALUES ('old', 3, 't', 't');
             PRAGMA user_version = 1;",
        )
        .unwrap();
        migrate(&mut c).unwrap();
        assert_eq!(package_rev(&c, "old").unwrap(), Some(3));
        assert!(uplink_state(&c, "old").unwrap().is_none());
        let v: i64 = c
            .query_row("PRAGMA user_version", (), |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
    }
}

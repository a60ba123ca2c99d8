//! The metadata, in SQLite or PostgreSQL (see `store::db`): packages, versions, files, dist-tags and the pre-serialised packument
//! templates served on reads; organisations and teams (local auth); and, apart from them, the packuments and tarballs cached from the
//! upstream registry (`uplink_*`), so local and upstream never mix; the webhook outbox; and what
//! instances sharing the database must agree on about logins (failed password checks, npm's web
//! logins waiting for a browser).
//!
//! Each concern keeps its queries in its own file; everything public is re-exported here, so the
//! rest of the crate names `meta::package` without caring which file holds it. This file holds
//! what they all share: opening a connection, write transactions and the common row types.

mod accounts;
mod blobs;
pub mod contract;
mod github_cache;
mod notify;
mod orgs;
mod packages;
mod schema;
mod schema_pg;
mod search;
mod throttle;
mod tokens;
mod uplink_cache;
mod web_logins;

use crate::store::db::{Connection, Transaction};
use crate::store::{Error, Result};
use std::path::Path;
use std::time::Duration;

pub use accounts::{delete_user, insert_user, set_password, upgrade_password, user, users, User};
pub use blobs::{
    blob_referenced, is_pending, pend, pending, pending_since, stored_objects, unpend, Stored,
};
pub use github_cache::{github_cached, github_store, Cached};
pub use notify::{
    outbox_abandon, outbox_add, outbox_claim, outbox_log, outbox_next_due, outbox_prune,
    outbox_queued, outbox_requeue, outbox_settle, NewEvent, Outboxed,
};
pub use orgs::{
    add_team_member, delete_org, delete_team, grant, insert_org, insert_team, is_public, members,
    org, orgs, orgs_of, owner_count, package_teams, remove_member, remove_team_member, revoke,
    role, scope_holds_packages, scope_packages, set_public, set_role, sole_owner_of, team_exists,
    team_grant, team_members, team_packages, teams,
};
pub use packages::{
    all_maintainers, case_twin, counts, delete_package, delete_tag, delete_version, file, files,
    insert_package, is_deleted, package, package_names, package_rev, put_file, put_version,
    repository, scope_has_local, set_deprecated, set_maintainers, set_repository, set_tag,
    set_users, starred_by, store_docs, tags, template, totals, touch, unassigned, unowned, version,
    version_summaries, versions, Origin, VersionSummary,
};
pub use schema::{marker, migrate, schema_version};
pub use search::{
    index_package, recent, search, words as search_words, Field, Group, SearchDoc, Term, TextQuery,
};
pub use throttle::{
    clear_login_failures, count_login_failure, login_failures, trim_login_failures, LoginFailures,
};
pub use tokens::{
    delete_token_by_hash, delete_token_by_key, insert_token, token_by_hash, tokens_of, Token,
};
pub use uplink_cache::{
    uplink_by_use, uplink_cached, uplink_cached_in_scope, uplink_confirmed, uplink_detach,
    uplink_file, uplink_file_stored, uplink_forget, uplink_listing, uplink_names_with_files,
    uplink_state, uplink_store, uplink_stored_files, uplink_totals, uplink_used, UplinkDist,
    UplinkDoc, UplinkFile, UplinkListed, UplinkState, UplinkStored,
};
pub use web_logins::{
    web_login_add, web_login_collect, web_login_finish, web_login_state, web_login_waiting,
    web_logins_count, web_logins_expire,
};

/// Opens a connection with the settings every connection needs. WAL lets readers run while a
/// publish commits; `synchronous = FULL` makes a 2xx publish survive power loss.
///
/// Every worker thread has its own connection, each with its own page cache, so SQLite's default
/// of 2 MB per connection came to 32 MB with 16 workers once publishes had touched the pages.
/// The operating system caches the file for all of them anyway, and the hot paths (a package's
/// revision, a file's row) touch a few index pages, so each connection keeps 128 KB (256 KB
/// left 2 MB more at the benchmark's peak, all of it pages of rebuilt packuments).
pub fn open(path: &Path) -> Result<Connection> {
    create_private(path).map_err(|e| Error::io(format!("cannot create {}", path.display()), e))?;
    let conn = rusqlite::Connection::open(path).map_err(|source| Error::Open {
        path: path.to_path_buf(),
        source: source.into(),
    })?;
    conn.busy_timeout(Duration::from_secs(30))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;
         PRAGMA cache_size = -128;",
    )?;
    // Every statement nmr runs stays prepared: rusqlite's default of 16 would prepare most of
    // them again on each request.
    conn.set_prepared_statement_cache_capacity(256);
    Ok(Connection::from_sqlite(conn))
}

/// Opens the database the configuration names: PostgreSQL at `db.url`, else SQLite at
/// `db.path`.
pub fn connect(config: &crate::config::Config) -> Result<Connection> {
    match &config.db_url {
        Some(url) => Ok(Connection::postgres(
            &url.0,
            config.db_password.as_ref().map(|p| p.0.as_str()),
        )?),
        None => open(&config.db_path),
    }
}

/// Creates an empty file that only nmr's user may read or write (0600, whatever the umask),
/// unless the file exists. The database holds password hashes and token digests; SQLite gives
/// the `-wal` and `-shm` files beside it the database file's mode, so they are private too.
/// An existing file keeps the mode its operator gave it.
pub fn create_private(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
    match created {
        // The umask can only take bits away; this makes it exactly 0600 even then.
        Ok(f) => f.set_permissions(std::fs::Permissions::from_mode(0o600)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Opens an existing database for reading only: never creates a file or changes a setting.
pub fn open_read_only(path: &Path) -> Result<Connection> {
    let conn = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|source| Error::Open {
        path: path.to_path_buf(),
        source: source.into(),
    })?;
    conn.busy_timeout(Duration::from_secs(30))?;
    Ok(Connection::from_sqlite(conn))
}

/// Starts a write transaction that takes the database write lock at once, so that the checks
/// made inside it still hold when it commits.
pub fn write_tx(conn: &mut Connection) -> Result<Transaction<'_>> {
    Ok(conn.write_tx()?)
}

/// Moves the database's one revision counter on (see `schema`): the change recording it reads
/// the new value in the same transaction. Stored as text in `meta`, hence the casts.
fn next_rev(tx: &Transaction) -> Result<()> {
    tx.execute(
        "UPDATE meta SET value = CAST(CAST(value AS BIGINT) + 1 AS TEXT) WHERE key = 'rev_seq'",
        (),
    )?;
    Ok(())
}

/// A package's row.
#[derive(Clone, Debug)]
pub struct Package {
    pub id: i64,
    pub name: String,
    pub rev: i64,
    pub created: String,
    pub modified: String,
    /// JSON object of users who starred it.
    pub users: String,
    /// JSON array of `{name, email}`.
    pub maintainers: String,
}

/// One published version.
#[derive(Clone, Debug)]
pub struct Version {
    pub version: String,
    /// The manifest as published, without `readme` and `dist.tarball`.
    pub manifest: String,
    pub readme: Option<String>,
    pub deprecated: Option<String>,
    pub published: String,
}

/// One stored file (a tarball or its provenance bundle).
#[derive(Clone, Debug)]
pub struct File {
    /// The name in the URL: `widget-1.1.0.tgz`.
    pub filename: String,
    pub version: String,
    pub blob_key: String,
    pub size: i64,
    pub sha1: String,
    pub integrity: String,
}

fn file_row(r: &crate::store::db::Row) -> crate::store::db::Result<File> {
    Ok(File {
        filename: r.get(0)?,
        version: r.get(1)?,
        blob_key: r.get(2)?,
        size: r.get(3)?,
        sha1: r.get(4)?,
        integrity: r.get(5)?,
    })
}

/// A new database file for one test, not yet migrated; `tag` keeps tests that run at once apart.
#[cfg(test)]
fn test_db_file(tag: &str) -> Connection {
    let p = std::env::temp_dir().join(format!("nmr-meta-{tag}-{}.sqlite", std::process::id()));
    let _ = std::fs::remove_file(&p);
    open(&p).unwrap()
}

/// A migrated database in memory, for unit tests elsewhere that need the tables but not a file.
#[cfg(test)]
pub(crate) fn test_db() -> Connection {
    let mut c = Connection::from_sqlite(rusqlite::Connection::open_in_memory().unwrap());
    c.execute_batch("PRAGMA foreign_keys = ON").unwrap();
    migrate(&mut c).unwrap();
    c
}

//! The metadata database, whichever engine holds it: SQLite in a file beside the data (the
//! default) or PostgreSQL shared by many instances. Query code sees one [`Connection`] with
//! rusqlite's shape (statements, rows, transactions) and engine-neutral values, and writes its
//! SQL once in the dialect both engines accept, asking [`Connection::engine`] only where they
//! differ.

pub mod pg;
mod postgres;
mod sqlite;
pub mod value;

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

pub use value::{FromValue, ToValue, TypeMismatch, Value, ValueRef};

/// Which engine a connection talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// What a query can fail with, from either engine.
#[derive(Debug)]
pub enum Error {
    Sqlite(rusqlite::Error),
    Postgres(pg::Error),
    /// The connection to PostgreSQL broke inside a transaction or while holding a name lock,
    /// which the server dropped with it.
    Lost,
    /// The database cannot be opened as configured (a malformed `db.url`).
    Setup(String),
    /// A query that must return a row returned none.
    NoRows,
    /// A column held something the caller cannot read as the type asked for: a bug, or a
    /// database changed by hand.
    Column {
        index: usize,
        mismatch: TypeMismatch,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Sqlite(e) => e.fmt(f),
            Error::Postgres(e) => e.fmt(f),
            Error::Lost => {
                f.write_str("the connection to the database broke during a transaction or lock")
            }
            Error::Setup(m) => f.write_str(m),
            Error::NoRows => f.write_str("query returned no rows"),
            Error::Column { index, mismatch } => write!(
                f,
                "column {index} holds {}, not {}",
                mismatch.found, mismatch.wanted
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Sqlite(e) => Some(e),
            Error::Postgres(e) => Some(e),
            _ => None,
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        match e {
            rusqlite::Error::QueryReturnedNoRows => Error::NoRows,
            e => Error::Sqlite(e),
        }
    }
}

impl From<pg::Error> for Error {
    fn from(e: pg::Error) -> Self {
        Error::Postgres(e)
    }
}

impl Error {
    /// The disk under the database is full: nothing was written, and making room is the cure.
    pub fn is_full(&self) -> bool {
        match self {
            Error::Sqlite(e) => e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull),
            // disk_full
            Error::Postgres(e) => e.code() == Some("53100"),
            _ => false,
        }
    }

    /// The database could not be reached, or went away: the request may succeed later, and
    /// the connection is made again by the next one.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Error::Postgres(e) => e.is_unavailable(),
            Error::Lost => true,
            _ => false,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// rusqlite's `optional()`: a query's "no rows" as `None`.
pub trait OptionalExtension<T> {
    fn optional(self) -> Result<Option<T>>;
}

impl<T> OptionalExtension<T> for Result<T> {
    fn optional(self) -> Result<Option<T>> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(Error::NoRows) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// What a query is given: `params![a, b]`, `[a]`, or `()` for nothing.
pub trait Params {
    fn values(&self) -> Vec<ValueRef<'_>>;
}

impl Params for () {
    fn values(&self) -> Vec<ValueRef<'_>> {
        Vec::new()
    }
}

impl Params for &[&dyn ToValue] {
    fn values(&self) -> Vec<ValueRef<'_>> {
        self.iter().map(|p| p.to_value()).collect()
    }
}

impl<T: ToValue, const N: usize> Params for [T; N] {
    fn values(&self) -> Vec<ValueRef<'_>> {
        self.iter().map(|p| p.to_value()).collect()
    }
}

/// rusqlite's `params!`: a list of values of mixed types.
macro_rules! params {
    () => { () };
    ($($p:expr),+ $(,)?) => {
        &[$(&$p as &dyn $crate::store::db::ToValue),+] as &[&dyn $crate::store::db::ToValue]
    };
}
pub(crate) use params;

/// One row of a result, read by column index.
pub struct Row<'a>(RowInner<'a>);

enum RowInner<'a> {
    Sqlite(&'a rusqlite::Row<'a>),
    Values(&'a [Value]),
}

impl Row<'_> {
    pub fn get<T: FromValue>(&self, index: usize) -> Result<T> {
        let v = match &self.0 {
            RowInner::Sqlite(r) => sqlite::value(r.get_ref(index)?, index)?,
            RowInner::Values(v) => v
                .get(index)
                .ok_or(Error::Setup(format!("no column {index} in the result")))?
                .as_ref(),
        };
        T::from_value(v).map_err(|mismatch| Error::Column { index, mismatch })
    }
}

/// The PostgreSQL state of a connection. Only its own worker uses it; the mutex is there so a
/// [`NameLock`] can hold it without borrowing the connection. A panic mid-query leaves the
/// client broken or idle, either of which the next use handles.
fn pg(c: &Mutex<postgres::Pg>) -> MutexGuard<'_, postgres::Pg> {
    c.lock().unwrap_or_else(|p| p.into_inner())
}

/// A lock on one name across every instance on the database, held until dropped (see
/// [`Connection::lock_name`]).
pub struct NameLock(Option<(Arc<Mutex<postgres::Pg>>, i32)>);

impl Drop for NameLock {
    fn drop(&mut self) {
        if let Some((c, key)) = &self.0 {
            // If this fails the connection broke, and the server let the lock go with it.
            let _ = pg(c).unlock_name(*key);
        }
    }
}

/// A connection to the metadata database. Not shared between threads: each worker has its own.
pub struct Connection {
    inner: Inner,
}

enum Inner {
    Sqlite(rusqlite::Connection),
    Pg(Arc<Mutex<postgres::Pg>>),
}

impl Connection {
    pub fn from_sqlite(conn: rusqlite::Connection) -> Connection {
        Connection {
            inner: Inner::Sqlite(conn),
        }
    }

    /// Connects to PostgreSQL at `url` (`postgres://user:pass@host:port/db?sslmode=...`);
    /// `password` stands in when the URL has none.
    pub fn postgres(url: &str, password: Option<&str>) -> Result<Connection> {
        let mut config = pg::parse_url(url).map_err(Error::Setup)?;
        if config.password.is_none() {
            config.password = password.map(str::to_owned);
        }
        Ok(Connection {
            inner: Inner::Pg(Arc::new(Mutex::new(postgres::Pg::connect(config)?))),
        })
    }

    pub fn engine(&self) -> Engine {
        match &self.inner {
            Inner::Sqlite(_) => Engine::Sqlite,
            Inner::Pg(_) => Engine::Postgres,
        }
    }

    /// The SQLite connection underneath, for what only SQLite has (online backup, pragmas).
    pub fn sqlite(&self) -> Option<&rusqlite::Connection> {
        match &self.inner {
            Inner::Sqlite(c) => Some(c),
            Inner::Pg(_) => None,
        }
    }

    /// Runs one statement; returns the number of rows it changed.
    pub fn execute(&self, sql: &str, params: impl Params) -> Result<usize> {
        match &self.inner {
            Inner::Sqlite(c) => sqlite::execute(c, sql, &params.values()),
            Inner::Pg(c) => pg(c).execute(sql, &params.values()),
        }
    }

    /// Runs statements separated by `;`, with no parameters.
    pub fn execute_batch(&self, sql: &str) -> Result<()> {
        match &self.inner {
            Inner::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Inner::Pg(c) => pg(c).batch(sql),
        }
    }

    /// The first row of a query, through `f`; [`Error::NoRows`] when there is none.
    pub fn query_row<T>(
        &self,
        sql: &str,
        params: impl Params,
        f: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<T> {
        let values = params.values();
        match &self.inner {
            Inner::Sqlite(c) => {
                sqlite::query_row(c, sql, &values, |r| f(&Row(RowInner::Sqlite(r))))
            }
            Inner::Pg(c) => {
                let rows = pg(c).query(sql, &values)?;
                match rows.first() {
                    Some(r) => f(&Row(RowInner::Values(r))),
                    None => Err(Error::NoRows),
                }
            }
        }
    }

    /// Every row of a query, each through `f`.
    pub fn query_all<T>(
        &self,
        sql: &str,
        params: impl Params,
        mut f: impl FnMut(&Row<'_>) -> Result<T>,
    ) -> Result<Vec<T>> {
        let values = params.values();
        match &self.inner {
            Inner::Sqlite(c) => {
                sqlite::query_all(c, sql, &values, |r| f(&Row(RowInner::Sqlite(r))))
            }
            Inner::Pg(c) => {
                let rows = pg(c).query(sql, &values)?;
                rows.iter().map(|r| f(&Row(RowInner::Values(r)))).collect()
            }
        }
    }

    /// Locks `name` against every other instance on this database until the lock is dropped:
    /// what a package's writers check before their transaction (existing versions, whether
    /// the package exists) then still holds at commit, as the in-process package lock makes
    /// it within one instance. SQLite has one process, and needs nothing.
    pub fn lock_name(&self, name: &str) -> Result<NameLock> {
        match &self.inner {
            Inner::Sqlite(_) => Ok(NameLock(None)),
            Inner::Pg(c) => {
                let key = postgres::name_key(name);
                pg(c).lock_name(key)?;
                Ok(NameLock(Some((c.clone(), key))))
            }
        }
    }

    /// A statement to run, perhaps many times. Both engines keep prepared statements by their
    /// text, so this only records it.
    pub fn prepare_cached(&self, sql: &str) -> Result<Statement<'_>> {
        Ok(Statement {
            conn: self,
            sql: sql.to_owned(),
        })
    }

    /// The same as [`Connection::prepare_cached`]: kept for statements run once.
    pub fn prepare(&self, sql: &str) -> Result<Statement<'_>> {
        self.prepare_cached(sql)
    }

    /// Starts a write transaction that takes the database's write lock at once, so that what
    /// is checked inside it still holds when it commits. Writers take turns, as SQLite's one
    /// writer always has: every invariant nmr keeps in a transaction rests on that.
    pub fn write_tx(&mut self) -> Result<Transaction<'_>> {
        match &self.inner {
            Inner::Sqlite(c) => c.execute_batch("BEGIN IMMEDIATE")?,
            Inner::Pg(c) => pg(c).begin_write()?,
        }
        Ok(Transaction {
            conn: self,
            done: false,
        })
    }
}

/// The rows of [`Statement::query_map`], each already read, in rusqlite's shape.
pub type Rows<T> = std::iter::Map<std::vec::IntoIter<T>, fn(T) -> Result<T>>;

impl Connection {
    /// Ends the write transaction: commits it, or rolls it back.
    fn end(&self, commit: bool) -> Result<()> {
        match &self.inner {
            Inner::Sqlite(c) => Ok(c.execute_batch(if commit { "COMMIT" } else { "ROLLBACK" })?),
            Inner::Pg(c) => pg(c).end(commit),
        }
    }
}

/// A statement bound to its connection (see [`Connection::prepare_cached`]).
pub struct Statement<'c> {
    conn: &'c Connection,
    sql: String,
}

impl Statement<'_> {
    pub fn execute(&mut self, params: impl Params) -> Result<usize> {
        self.conn.execute(&self.sql, params)
    }

    pub fn query_row<T>(
        &mut self,
        params: impl Params,
        f: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<T> {
        self.conn.query_row(&self.sql, params, f)
    }

    /// Every row through `f`, read whole before the first is returned.
    pub fn query_map<T>(
        &mut self,
        params: impl Params,
        f: impl FnMut(&Row<'_>) -> Result<T>,
    ) -> Result<Rows<T>> {
        let rows = self.conn.query_all(&self.sql, params, f)?;
        Ok(rows.into_iter().map(Ok as fn(T) -> Result<T>))
    }

    /// Whether the query returns any row.
    pub fn exists(&mut self, params: impl Params) -> Result<bool> {
        self.conn
            .query_row(&self.sql, params, |_| Ok(()))
            .optional()
            .map(|r| r.is_some())
    }
}

/// A write transaction (see [`Connection::write_tx`]): it rolls back unless committed.
pub struct Transaction<'c> {
    conn: &'c mut Connection,
    done: bool,
}

impl Transaction<'_> {
    pub fn commit(mut self) -> Result<()> {
        self.conn.end(true)?;
        self.done = true;
        Ok(())
    }
}

impl std::ops::Deref for Transaction<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if !self.done {
            // A failed rollback leaves nothing to do: the engine drops the transaction with
            // the connection, or the next BEGIN reports it.
            let _ = self.conn.end(false);
        }
    }
}

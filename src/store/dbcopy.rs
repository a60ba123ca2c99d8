//! The engine half of `nmr db copy`: every table of the metadata database, its columns and its
//! primary key in one list, and moving a table's rows from one [`Connection`] to another in
//! batches, in key order, so a copy streams and resumes after the last key it wrote. A
//! checksum over each table's rows, in a form both engines give alike, tells whether the two
//! sides hold the same.
//!
//! Rows are ordered by the bytes of their keys on both engines (SQLite's `BINARY`, PostgreSQL's
//! `"C"`), whatever collation a column declares: the order a copy resumes in and the order a
//! checksum reads in must be the same on both sides.

use crate::store::db::{Connection, Engine, Value};
use sha2::{Digest, Sha256};
use std::fmt;

/// What a column holds, whatever the engine calls it. A value is read back as this before it
/// is written or summed: SQLite keeps whatever type a value arrived with, PostgreSQL the
/// column's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Int,
    Text,
    Blob,
}

use Kind::{Blob as B, Int as I, Text as T};

/// One table as `nmr db copy` moves it.
pub struct Table {
    pub name: &'static str,
    pub key: &'static [&'static str],
    pub columns: &'static [(&'static str, Kind)],
    /// Copied whole every time, replacing the destination's rows: the destination's schema
    /// setup wrote rows of its own there (`meta`: a marker and a revision counter of its own,
    /// which must give way to the source's, as stored templates hold the source's marker).
    pub replace: bool,
}

const fn table(
    name: &'static str,
    key: &'static [&'static str],
    columns: &'static [(&'static str, Kind)],
) -> Table {
    Table {
        name,
        key,
        columns,
        replace: false,
    }
}

/// Every table, parents before the tables whose foreign keys point at them. A table added to
/// the schema is added here too (a test compares this list with the schema).
pub const TABLES: &[Table] = &[
    Table {
        replace: true,
        ..table("meta", &["key"], &[("key", T), ("value", T)])
    },
    table(
        "users",
        &["name"],
        &[("name", T), ("email", T), ("password", T), ("created", T)],
    ),
    table(
        "packages",
        &["id"],
        &[
            ("id", I),
            ("name", T),
            ("rev", I),
            ("created", T),
            ("modified", T),
            ("users", T),
            ("maintainers", T),
            ("repository", T),
            ("doc_full", B),
            ("doc_abbrev", B),
            ("public", I),
        ],
    ),
    table(
        "versions",
        &["package_id", "version"],
        &[
            ("package_id", I),
            ("version", T),
            ("manifest", T),
            ("readme", T),
            ("deprecated", T),
            ("published", T),
        ],
    ),
    table(
        "files",
        &["package_id", "filename"],
        &[
            ("package_id", I),
            ("filename", T),
            ("version", T),
            ("blob_key", T),
            ("size", I),
            ("sha1", T),
            ("integrity", T),
        ],
    ),
    table(
        "dist_tags",
        &["package_id", "tag"],
        &[("package_id", I), ("tag", T), ("version", T)],
    ),
    table(
        "deleted_versions",
        &["name", "version"],
        &[("name", T), ("version", T), ("deleted", T)],
    ),
    table(
        "tokens",
        &["key"],
        &[
            ("key", T),
            ("hash", T),
            ("user", T),
            ("prefix", T),
            ("name", T),
            ("readonly", I),
            ("cidr", T),
            ("created", T),
            ("expires", I),
        ],
    ),
    table(
        "login_failures",
        &["key"],
        &[("key", T), ("failures", I), ("touched", I)],
    ),
    table(
        "web_logins",
        &["done_hash"],
        &[
            ("done_hash", T),
            ("login_hash", T),
            ("address", T),
            ("started", I),
            ("user", T),
        ],
    ),
    table("orgs", &["name"], &[("name", T), ("created", T)]),
    table(
        "org_members",
        &["org", "user"],
        &[("org", T), ("user", T), ("role", T)],
    ),
    table(
        "teams",
        &["org", "name"],
        &[("org", T), ("name", T), ("description", T), ("created", T)],
    ),
    table(
        "team_members",
        &["org", "team", "user"],
        &[("org", T), ("team", T), ("user", T)],
    ),
    table(
        "team_packages",
        &["org", "team", "package"],
        &[("org", T), ("team", T), ("package", T), ("write", I)],
    ),
    table(
        "github_cache",
        &["key"],
        &[
            ("key", T),
            ("status", I),
            ("etag", T),
            ("body", T),
            ("fetched", I),
        ],
    ),
    table(
        "uplink_packages",
        &["name"],
        &[
            ("name", T),
            ("rev", I),
            ("fetched_at", I),
            ("etag", T),
            ("doc_full", B),
            ("doc_abbrev", B),
        ],
    ),
    table(
        "uplink_files",
        &["name", "filename"],
        &[
            ("name", T),
            ("filename", T),
            ("version", T),
            ("url", T),
            ("integrity", T),
            ("shasum", T),
            ("blob_key", T),
            ("size", I),
            ("sha1", T),
            ("stored_at", T),
            ("used_at", T),
        ],
    ),
    table("pending_blobs", &["key"], &[("key", T), ("pended_at", I)]),
    table(
        "notify_outbox",
        &["id"],
        &[
            ("id", I),
            ("delivery", T),
            ("target", T),
            ("event", T),
            ("package", T),
            ("body", B),
            ("created", T),
            ("state", T),
            ("attempts", I),
            ("next_try", I),
            ("claimed_until", I),
            ("last_status", I),
            ("last_error", T),
            ("done", T),
        ],
    ),
];

/// The table of that name in [`TABLES`].
pub fn named(name: &str) -> &'static Table {
    TABLES
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no table {name} in dbcopy::TABLES"))
}

/// Tables each engine fills itself rather than taking rows: the search index (SQLite's FTS5
/// table, PostgreSQL's tsvector), rebuilt at the destination from the packages.
pub const REBUILT: &[&str] = &["search"];

/// The integer keys that the destination hands out next (PostgreSQL identity columns): moved
/// past the copied ids, or the next insert would take an id a copied row holds.
const IDENTITIES: &[(&str, &str)] = &[("packages", "id"), ("notify_outbox", "id")];

/// At most this many rows go in one batch (one transaction at the destination).
pub const BATCH_ROWS: usize = 500;

/// A batch aims at about this many bytes, so tables of large rows (packuments of hundreds of
/// versions run to megabytes) take fewer rows at a time.
const BATCH_BYTES: usize = 16 << 20;

/// What can stop a copy or a checksum.
#[derive(Debug)]
pub enum Error {
    Database(crate::store::db::Error),
    /// A value the column's kind cannot hold (a database changed by hand).
    Unfit {
        table: &'static str,
        column: &'static str,
        found: &'static str,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Database(e) => write!(f, "database: {e}"),
            Error::Unfit {
                table,
                column,
                found,
            } => write!(
                f,
                "{table}.{column} holds a {found} that does not fit the column's type"
            ),
        }
    }
}

impl std::error::Error for Error {}

impl From<crate::store::db::Error> for Error {
    fn from(e: crate::store::db::Error) -> Self {
        Error::Database(e)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An identifier, quoted: `user` is a reserved word in PostgreSQL. Both engines read `"x"`.
fn quoted(name: &str) -> String {
    format!("\"{name}\"")
}

impl Table {
    fn kind(&self, column: &str) -> Kind {
        self.columns
            .iter()
            .find(|(c, _)| *c == column)
            .map_or(Kind::Text, |(_, k)| *k)
    }

    fn column_list(&self) -> String {
        let names: Vec<String> = self.columns.iter().map(|(c, _)| quoted(c)).collect();
        names.join(", ")
    }

    /// A key column as it sorts: by its bytes, whatever its declared collation (SQLite's
    /// NOCASE, PostgreSQL's citext).
    fn key_expr(&self, engine: Engine, column: &str) -> String {
        match (self.kind(column), engine) {
            (Kind::Int, _) => quoted(column),
            (_, Engine::Sqlite) => format!("{} COLLATE BINARY", quoted(column)),
            (_, Engine::Postgres) => format!("CAST({} AS TEXT) COLLATE \"C\"", quoted(column)),
        }
    }

    fn order_by(&self, engine: Engine, desc: bool) -> String {
        let keys: Vec<String> = self
            .key
            .iter()
            .map(|k| {
                let e = self.key_expr(engine, k);
                if desc {
                    format!("{e} DESC")
                } else {
                    e
                }
            })
            .collect();
        keys.join(", ")
    }

    /// `WHERE` for the rows after (`>`) or up to (`<=`) a key given as `?1..?n`.
    fn key_cmp(&self, engine: Engine, op: &str) -> String {
        let exprs: Vec<String> = self.key.iter().map(|k| self.key_expr(engine, k)).collect();
        let params: Vec<String> = (1..=self.key.len()).map(|i| format!("?{i}")).collect();
        if self.key.len() == 1 {
            format!("{} {op} {}", exprs[0], params[0])
        } else {
            format!("({}) {op} ({})", exprs.join(", "), params.join(", "))
        }
    }

    /// The next rows after `after` (from the start when `None`), at most `limit`, in key order.
    fn batch(&self, conn: &Connection, after: Option<&[Value]>, limit: usize) -> Result<Rows> {
        let engine = conn.engine();
        let filter = match after {
            Some(_) => format!("WHERE {}", self.key_cmp(engine, ">")),
            None => String::new(),
        };
        let sql = format!(
            "SELECT {} FROM {} {filter} ORDER BY {} LIMIT {limit}",
            self.column_list(),
            quoted(self.name),
            self.order_by(engine, false)
        );
        let n = self.columns.len();
        let read = |r: &crate::store::db::Row<'_>| {
            (0..n)
                .map(|i| r.get::<Value>(i))
                .collect::<Result<Vec<_>, _>>()
        };
        let raw = match after {
            Some(key) => conn.query_all(&sql, as_params(key).as_slice(), read)?,
            None => conn.query_all(&sql, (), read)?,
        };
        let mut rows = Vec::with_capacity(raw.len());
        let mut bytes = 0;
        for row in raw {
            let row = self.fit(row)?;
            bytes += row.iter().map(size).sum::<usize>();
            rows.push(row);
        }
        Ok(Rows { rows, bytes })
    }

    /// Each value of a row as its column's kind.
    fn fit(&self, row: Vec<Value>) -> Result<Vec<Value>> {
        row.into_iter()
            .zip(self.columns)
            .map(|(v, (column, kind))| self.fit_column(column, *kind, v))
            .collect()
    }

    /// A value of `column` as `kind`, or why it cannot be.
    fn fit_column(&self, column: &'static str, kind: Kind, v: Value) -> Result<Value> {
        fit(kind, v).map_err(|found| Error::Unfit {
            table: self.name,
            column,
            found,
        })
    }

    /// The key of a row read by [`Table::batch`].
    fn key_of(&self, row: &[Value]) -> Vec<Value> {
        self.key
            .iter()
            .map(|k| {
                let i = self
                    .columns
                    .iter()
                    .position(|(c, _)| c == k)
                    .expect("every key column is a column");
                row[i].clone()
            })
            .collect()
    }

    fn insert_sql(&self, engine: Engine) -> String {
        let params: Vec<String> = (1..=self.columns.len()).map(|i| format!("?{i}")).collect();
        // Explicit ids go into identity columns as they are (PostgreSQL would refuse them in
        // a GENERATED ALWAYS column without this).
        let overriding =
            if engine == Engine::Postgres && IDENTITIES.iter().any(|(t, _)| *t == self.name) {
                " OVERRIDING SYSTEM VALUE"
            } else {
                ""
            };
        let conflict = if self.replace {
            let keys: Vec<String> = self.key.iter().map(|k| quoted(k)).collect();
            let set: Vec<String> = self
                .columns
                .iter()
                .filter(|(c, _)| !self.key.contains(c))
                .map(|(c, _)| format!("{0} = excluded.{0}", quoted(c)))
                .collect();
            format!(
                "ON CONFLICT ({}) DO UPDATE SET {}",
                keys.join(", "),
                set.join(", ")
            )
        } else {
            "ON CONFLICT DO NOTHING".to_string()
        };
        format!(
            "INSERT INTO {} ({}){overriding} VALUES ({}) {conflict}",
            quoted(self.name),
            self.column_list(),
            params.join(", ")
        )
    }
}

/// Rows read in one batch, and about how many bytes they hold.
struct Rows {
    rows: Vec<Vec<Value>>,
    bytes: usize,
}

fn as_params(key: &[Value]) -> Vec<&dyn crate::store::db::ToValue> {
    key.iter()
        .map(|v| v as &dyn crate::store::db::ToValue)
        .collect()
}

fn size(v: &Value) -> usize {
    match v {
        Value::Text(s) => s.len(),
        Value::Blob(b) => b.len(),
        _ => 8,
    }
}

/// The batch size after one of `rows` rows that held `bytes` bytes.
fn next_limit(rows: usize, bytes: usize) -> usize {
    if rows == 0 {
        return BATCH_ROWS;
    }
    (rows.saturating_mul(BATCH_BYTES) / bytes.max(1)).clamp(1, BATCH_ROWS)
}

/// A value as `kind`, or the kind it was. Text and blob turn into each other where the bytes
/// allow (SQLite keeps a text written into a BLOB column as text); a number in a text column
/// is its decimal text, as SQLite's text affinity would have stored it.
fn fit(kind: Kind, v: Value) -> Result<Value, &'static str> {
    Ok(match (kind, v) {
        (_, Value::Null) => Value::Null,
        (Kind::Int, Value::Int(i)) => Value::Int(i),
        (Kind::Int, Value::Text(s)) => Value::Int(s.trim().parse().map_err(|_| "text")?),
        (Kind::Int, Value::Real(_)) => return Err("real number"),
        (Kind::Int, Value::Blob(_)) => return Err("blob"),
        (Kind::Text, Value::Text(s)) => Value::Text(s),
        (Kind::Text, Value::Int(i)) => Value::Text(i.to_string()),
        (Kind::Text, Value::Real(f)) => Value::Text(f.to_string()),
        (Kind::Text, Value::Blob(b)) => Value::Text(String::from_utf8(b).map_err(|_| "blob")?),
        (Kind::Blob, Value::Blob(b)) => Value::Blob(b),
        (Kind::Blob, Value::Text(s)) => Value::Blob(s.into_bytes()),
        (Kind::Blob, Value::Int(_)) => return Err("integer"),
        (Kind::Blob, Value::Real(_)) => return Err("real number"),
    })
}

/// How many rows a table holds.
pub fn count(conn: &Connection, t: &Table) -> Result<u64> {
    let n: i64 = conn.query_row(
        &format!("SELECT count(*) FROM {}", quoted(t.name)),
        (),
        |r| r.get(0),
    )?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// What the destination held of a table before a copy, and what the copy added.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Copied {
    /// The source's rows.
    pub rows: u64,
    /// Rows written by this run; the others were there already.
    pub copied: u64,
}

/// Copies one table's rows from `from` to `to`, in key order and in batches of one transaction
/// each, starting after the last key the destination holds (all of it for a [`Table::replace`]
/// table). `progress` hears the rows done so far and the total after each batch.
pub fn copy_table(
    from: &Connection,
    to: &mut Connection,
    t: &Table,
    mut progress: impl FnMut(u64, u64),
) -> Result<Copied> {
    let rows = count(from, t)?;
    let mut after = if t.replace { None } else { last_key(to, t)? };
    let mut done = match &after {
        Some(key) => count_upto(from, t, key)?,
        None => 0,
    };
    let insert = t.insert_sql(to.engine());
    let mut copied = 0;
    let mut limit = BATCH_ROWS;
    loop {
        let batch = t.batch(from, after.as_deref(), limit)?;
        let Some(last) = batch.rows.last() else {
            break;
        };
        let next = t.key_of(last);
        let tx = to.write_tx()?;
        for row in &batch.rows {
            copied += tx.execute(&insert, as_params(row).as_slice())? as u64;
        }
        tx.commit()?;
        done += batch.rows.len() as u64;
        progress(done, rows);
        limit = next_limit(batch.rows.len(), batch.bytes);
        after = Some(next);
    }
    Ok(Copied { rows, copied })
}

/// The greatest key a table holds, in the order copies go in.
fn last_key(conn: &Connection, t: &Table) -> Result<Option<Vec<Value>>> {
    let keys: Vec<String> = t.key.iter().map(|k| quoted(k)).collect();
    let sql = format!(
        "SELECT {} FROM {} ORDER BY {} LIMIT 1",
        keys.join(", "),
        quoted(t.name),
        t.order_by(conn.engine(), true)
    );
    let n = t.key.len();
    let mut rows = conn.query_all(&sql, (), |r| {
        (0..n)
            .map(|i| r.get::<Value>(i))
            .collect::<Result<Vec<_>, _>>()
    })?;
    let Some(key) = rows.pop() else {
        return Ok(None);
    };
    // The key goes back as a parameter to the other engine: of the kinds the columns have.
    let key = key
        .into_iter()
        .zip(t.key)
        .map(|(v, column)| t.fit_column(column, t.kind(column), v))
        .collect::<Result<_>>()?;
    Ok(Some(key))
}

/// How many rows have keys up to and including `key`.
fn count_upto(conn: &Connection, t: &Table, key: &[Value]) -> Result<u64> {
    let sql = format!(
        "SELECT count(*) FROM {} WHERE {}",
        quoted(t.name),
        t.key_cmp(conn.engine(), "<=")
    );
    let n: i64 = conn.query_row(&sql, as_params(key).as_slice(), |r| r.get(0))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Moves each identity sequence past the largest id its table holds (PostgreSQL; SQLite's
/// integer keys follow the largest id by themselves).
pub fn advance_identities(conn: &Connection) -> Result<()> {
    if conn.engine() != Engine::Postgres {
        return Ok(());
    }
    for (table, column) in IDENTITIES {
        // pg_get_serial_sequence is NULL for a column without a sequence; setval(NULL, ..)
        // then does nothing. `false`: the next id is exactly the value given.
        conn.query_row(
            &format!(
                "SELECT setval(pg_get_serial_sequence('{table}', '{column}'),
                   COALESCE((SELECT MAX({c}) FROM {t}), 0) + 1, false)",
                c = quoted(column),
                t = quoted(table)
            ),
            (),
            |_| Ok(()),
        )?;
    }
    Ok(())
}

/// A table's row count and SHA-256 over its rows in key order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sum {
    pub rows: u64,
    pub sha256: [u8; 32],
}

impl Sum {
    pub fn hex(&self) -> String {
        crate::digest::hex(&self.sha256)
    }
}

/// Counts and sums a table's rows, reading them in batches. Each value goes into the hash as
/// its column's kind, in a form that is the same whichever engine it came from: a tag byte,
/// the length as 8 bytes big-endian, then the bytes (integers in decimal).
pub fn checksum(conn: &Connection, t: &Table) -> Result<Sum> {
    let mut hash = Sha256::new();
    let mut rows = 0u64;
    let mut after: Option<Vec<Value>> = None;
    let mut limit = BATCH_ROWS;
    loop {
        let batch = t.batch(conn, after.as_deref(), limit)?;
        let Some(last) = batch.rows.last() else {
            break;
        };
        after = Some(t.key_of(last));
        for row in &batch.rows {
            for v in row {
                encode(&mut hash, v);
            }
        }
        rows += batch.rows.len() as u64;
        limit = next_limit(batch.rows.len(), batch.bytes);
    }
    Ok(Sum {
        rows,
        sha256: hash.finalize().into(),
    })
}

fn encode(hash: &mut Sha256, v: &Value) {
    let number;
    let (tag, bytes): (u8, &[u8]) = match v {
        Value::Null => (b'n', b""),
        Value::Int(i) => {
            number = i.to_string();
            (b'i', number.as_bytes())
        }
        Value::Real(f) => {
            number = format!("{f:?}");
            (b'r', number.as_bytes())
        }
        Value::Text(s) => (b't', s.as_bytes()),
        Value::Blob(b) => (b'b', b),
    };
    hash.update([tag]);
    hash.update((bytes.len() as u64).to_be_bytes());
    hash.update(bytes);
}

/// The tables that hold rows, with their counts, leaving out those the schema setup fills
/// ([`Table::replace`]): a destination is empty when this is.
pub fn holdings(conn: &Connection) -> Result<Vec<(&'static str, u64)>> {
    let mut held = Vec::new();
    for t in TABLES.iter().filter(|t| !t.replace) {
        let n = count(conn, t)?;
        if n > 0 {
            held.push((t.name, n));
        }
    }
    Ok(held)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::meta;

    fn db(tag: &str) -> Connection {
        let p =
            std::env::temp_dir().join(format!("nmr-dbcopy-{tag}-{}.sqlite", std::process::id()));
        let _ = std::fs::remove_file(&p);
        let mut c = meta::open(&p).unwrap();
        meta::migrate(&mut c).unwrap();
        c
    }

    /// Every table, column and key of the SQLite schema is in [`TABLES`], and nothing else is:
    /// a table added to the schema but not here would be left behind by every copy.
    #[test]
    fn the_table_list_matches_the_sqlite_schema() {
        let c = db("schema");
        let tables: Vec<String> = c
            .query_all(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
                (),
                |r| r.get(0),
            )
            .unwrap();
        let rebuilt = |name: &str| {
            REBUILT
                .iter()
                .any(|r| name == *r || name.starts_with(&format!("{r}_")))
        };
        let mut listed: Vec<&str> = TABLES.iter().map(|t| t.name).collect();
        listed.sort_unstable();
        let schema: Vec<&str> = tables
            .iter()
            .map(String::as_str)
            .filter(|t| !rebuilt(t))
            .collect();
        assert_eq!(listed, schema, "store::dbcopy::TABLES against the schema");
        for t in TABLES {
            let cols: Vec<(String, i64)> = c
                .query_all(
                    "SELECT name, pk FROM pragma_table_info(?1) ORDER BY cid",
                    [t.name],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .unwrap();
            let mut names: Vec<&str> = cols.iter().map(|(n, _)| n.as_str()).collect();
            let mut ours: Vec<&str> = t.columns.iter().map(|(n, _)| *n).collect();
            names.sort_unstable();
            ours.sort_unstable();
            assert_eq!(ours, names, "columns of {}", t.name);
            let mut key: Vec<(i64, &str)> = cols
                .iter()
                .filter(|(_, pk)| *pk > 0)
                .map(|(n, pk)| (*pk, n.as_str()))
                .collect();
            key.sort_unstable();
            let key: Vec<&str> = key.into_iter().map(|(_, n)| n).collect();
            assert_eq!(t.key, key.as_slice(), "primary key of {}", t.name);
        }
    }

    /// Each table comes after the tables its foreign keys point at, so a copy never writes a
    /// row before its parent.
    #[test]
    fn parents_come_first() {
        let c = db("fk");
        for (i, t) in TABLES.iter().enumerate() {
            let parents: Vec<String> = c
                .query_all(
                    "SELECT DISTINCT \"table\" FROM pragma_foreign_key_list(?1)",
                    [t.name],
                    |r| r.get(0),
                )
                .unwrap();
            for p in parents {
                let at = TABLES.iter().position(|x| x.name == p).unwrap();
                assert!(at < i, "{} comes before its parent {p}", t.name);
            }
        }
    }

    #[test]
    fn values_fit_their_column_or_say_what_they_are() {
        assert_eq!(
            fit(B, Value::Text("x".into())),
            Ok(Value::Blob(b"x".to_vec()))
        );
        assert_eq!(
            fit(T, Value::Blob(b"x".to_vec())),
            Ok(Value::Text("x".into()))
        );
        assert_eq!(fit(T, Value::Blob(vec![0xff])), Err("blob"));
        assert_eq!(fit(I, Value::Text("12".into())), Ok(Value::Int(12)));
        assert_eq!(fit(I, Value::Blob(vec![1])), Err("blob"));
        assert_eq!(fit(T, Value::Null), Ok(Value::Null));
    }

    #[test]
    fn batches_shrink_for_large_rows_and_grow_back() {
        assert_eq!(next_limit(500, 1000), BATCH_ROWS);
        assert_eq!(next_limit(10, 10 * (4 << 20)), 4);
        assert_eq!(next_limit(1, 100 << 20), 1);
        assert_eq!(next_limit(0, 0), BATCH_ROWS);
    }

    /// A copy in several batches, interrupted and resumed, ends with the same rows and sum on
    /// both sides; keys sort by their bytes, so `B` < `a` whatever the column's collation.
    #[test]
    fn a_copy_resumes_after_the_last_key_and_sums_match() {
        let from = db("from");
        let mut to = db("to");
        let orgs = named("orgs");
        for i in 0..1200 {
            from.execute(
                "INSERT INTO orgs (name, created) VALUES (?1, 't')",
                [format!("{}{i:04}", if i % 2 == 0 { "a" } else { "B" })],
            )
            .unwrap();
        }
        // As if an earlier run stopped after its first batch.
        let first = orgs.batch(&from, None, BATCH_ROWS).unwrap();
        assert_eq!(first.rows[0][0], Value::Text("B0001".into()));
        for row in &first.rows {
            to.execute(&orgs.insert_sql(Engine::Sqlite), as_params(row).as_slice())
                .unwrap();
        }
        let mut seen = Vec::new();
        let done = copy_table(&from, &mut to, orgs, |d, n| seen.push((d, n))).unwrap();
        assert_eq!(
            done,
            Copied {
                rows: 1200,
                copied: 700
            }
        );
        assert_eq!(seen, [(1000, 1200), (1200, 1200)]);
        assert_eq!(checksum(&from, orgs).unwrap(), checksum(&to, orgs).unwrap());
        let again = copy_table(&from, &mut to, orgs, |_, _| {}).unwrap();
        assert_eq!(
            again,
            Copied {
                rows: 1200,
                copied: 0
            }
        );

        to.execute("UPDATE orgs SET created = 'u' WHERE name = 'a0600'", ())
            .unwrap();
        let (a, b) = (checksum(&from, orgs).unwrap(), checksum(&to, orgs).unwrap());
        assert_eq!(a.rows, b.rows);
        assert_ne!(a.sha256, b.sha256);
    }

    /// `meta` replaces the destination's own marker and counter with the source's.
    #[test]
    fn meta_rows_replace_the_destinations() {
        let from = db("meta-from");
        let mut to = db("meta-to");
        let meta = named("meta");
        assert_ne!(meta::marker(&from).unwrap(), meta::marker(&to).unwrap());
        copy_table(&from, &mut to, meta, |_, _| {}).unwrap();
        assert_eq!(meta::marker(&from).unwrap(), meta::marker(&to).unwrap());
        assert_eq!(checksum(&from, meta).unwrap(), checksum(&to, meta).unwrap());
    }
}

//! The SQLite side of [`super::Connection`]: binding engine-neutral values to rusqlite's
//! statements and reading its columns back as them.

use super::{Error, Result, ValueRef};
use rusqlite::types::{ToSqlOutput, ValueRef as Sql};

/// A parameter as rusqlite binds it, borrowing the caller's bytes.
struct Bind<'a>(ValueRef<'a>);

impl rusqlite::ToSql for Bind<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self.0 {
            ValueRef::Null => Sql::Null,
            ValueRef::Int(i) => Sql::Integer(i),
            ValueRef::Real(f) => Sql::Real(f),
            ValueRef::Text(s) => Sql::Text(s.as_bytes()),
            ValueRef::Blob(b) => Sql::Blob(b),
        }))
    }
}

fn binds<'a>(values: &'a [ValueRef<'a>]) -> impl Iterator<Item = Bind<'a>> + 'a {
    values.iter().map(|v| Bind(*v))
}

/// A column as an engine-neutral value. Text that is not UTF-8 (written by hand, or by a
/// bug) is refused here rather than passed on.
pub(super) fn value(v: Sql<'_>, index: usize) -> Result<ValueRef<'_>> {
    Ok(match v {
        Sql::Null => ValueRef::Null,
        Sql::Integer(i) => ValueRef::Int(i),
        Sql::Real(f) => ValueRef::Real(f),
        Sql::Text(t) => ValueRef::Text(std::str::from_utf8(t).map_err(|_| Error::Column {
            index,
            mismatch: super::TypeMismatch {
                wanted: "text",
                found: "bytes that are not UTF-8",
            },
        })?),
        Sql::Blob(b) => ValueRef::Blob(b),
    })
}

pub(super) fn execute(c: &rusqlite::Connection, sql: &str, values: &[ValueRef]) -> Result<usize> {
    let mut st = c.prepare_cached(sql)?;
    Ok(st.execute(rusqlite::params_from_iter(binds(values)))?)
}

pub(super) fn query_row<T>(
    c: &rusqlite::Connection,
    sql: &str,
    values: &[ValueRef],
    f: impl FnOnce(&rusqlite::Row<'_>) -> Result<T>,
) -> Result<T> {
    let mut st = c.prepare_cached(sql)?;
    let mut rows = st.query(rusqlite::params_from_iter(binds(values)))?;
    match rows.next()? {
        Some(r) => f(r),
        None => Err(Error::NoRows),
    }
}

pub(super) fn query_all<T>(
    c: &rusqlite::Connection,
    sql: &str,
    values: &[ValueRef],
    mut f: impl FnMut(&rusqlite::Row<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    let mut st = c.prepare_cached(sql)?;
    let mut rows = st.query(rusqlite::params_from_iter(binds(values)))?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(f(r)?);
    }
    Ok(out)
}

//! The full-text index over packages and the summaries it stores, which search hits and the
//! home page's list of recent packages return as they are. SQLite keeps it in an FTS5 table,
//! PostgreSQL in a `tsvector` column; a search is asked as a [`TextQuery`], which each engine's
//! renderer turns into its own syntax.
//!
//! Both rank a name hit above a keyword hit above a description hit above an author or
//! maintainer hit, ties by name, with a package named exactly as searched first. Where the
//! results can still differ between the engines:
//! - Scores: FTS5's BM25 weighs in how rare a word is and how long the field is; PostgreSQL's
//!   `ts_rank` does neither (so, say, a name hit in a long name ties with one in a short name,
//!   and the tie goes by name) and scores several words by how close together they are.
//! - Words: both split text at every character that is not a letter or digit and fold case,
//!   but FTS5's unicode61 also strips diacritics (`cafe` finds `café`) and its idea of a
//!   letter follows its own Unicode tables; the PostgreSQL side splits with Rust's
//!   `char::is_alphanumeric` ([`words`]), and its text search parser may split a word again
//!   where it disagrees (a letter the server's locale does not know), on both sides alike.

use super::Package;
use crate::store::db::{params, Connection, Engine, OptionalExtension, ToValue, Transaction};
use crate::store::Result;

/// What the search index holds for one package.
pub struct SearchDoc<'a> {
    pub description: &'a str,
    pub keywords: &'a str,
    pub author: &'a str,
    pub maintainers: &'a str,
    /// The JSON object a search hit returns as `package`.
    pub summary: &'a str,
}

/// A field of the index that a term can be limited to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    Name,
    Description,
    Keywords,
    Author,
    Maintainers,
}

impl Field {
    /// The column, the same in both engines.
    fn column(self) -> &'static str {
        match self {
            Field::Name => "name",
            Field::Description => "description",
            Field::Keywords => "keywords",
            Field::Author => "author",
            Field::Maintainers => "maintainers",
        }
    }

    /// The weight the field's words carry in PostgreSQL's `doc` (see `schema_pg`). Author and
    /// maintainers share the lowest: a term limited to one of them also checks that column.
    fn weight(self) -> char {
        match self {
            Field::Name => 'A',
            Field::Keywords => 'B',
            Field::Description => 'C',
            Field::Author | Field::Maintainers => 'D',
        }
    }
}

/// Text to find: the user's words as they were typed (each engine splits them into words as it
/// splits what it indexed, and several words must appear in a row), the last one perhaps only
/// a prefix.
#[derive(Clone, Debug, PartialEq)]
pub struct Term {
    pub text: String,
    pub prefix: bool,
}

/// Terms of which any must match, in one field or in any.
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    pub field: Option<Field>,
    pub any: Vec<Term>,
}

/// A full-text query whatever the engine: every group must match.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct TextQuery {
    pub all: Vec<Group>,
}

/// The words the PostgreSQL index holds for `text`, and a term's words: split at every
/// character that is neither letter nor digit, lower-cased. FTS5's unicode61 tokenizer does the
/// same to what SQLite indexes (see the module's notes for where they part).
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// What PostgreSQL is asked: `tsquery` texts for `doc`, and for the author and maintainers
/// columns, which share a weight there.
struct PgQuery {
    doc: String,
    author: Option<String>,
    maintainers: Option<String>,
}

impl TextQuery {
    /// The query in FTS5's syntax. Every term is quoted, so no user word is read as syntax; a
    /// `keywords` group is a list, so it keeps its parentheses even with one term.
    pub fn fts5(&self) -> String {
        let groups: Vec<String> = self
            .all
            .iter()
            .map(|g| {
                let any: Vec<String> = g
                    .any
                    .iter()
                    .map(|t| {
                        let q = format!("\"{}\"", t.text.replace('"', "\"\""));
                        if t.prefix {
                            q + "*"
                        } else {
                            q
                        }
                    })
                    .collect();
                let list = any.len() > 1 || g.field == Some(Field::Keywords);
                let any = if list {
                    format!("({})", any.join(" OR "))
                } else {
                    any.join(" OR ")
                };
                match g.field {
                    Some(f) => format!("{} : {any}", f.column()),
                    None => any,
                }
            })
            .collect();
        groups.join(" AND ")
    }

    /// The query for PostgreSQL's `to_tsquery('simple', ...)`, or `None` when it can match
    /// nothing: a group none of whose terms holds a word (FTS5 matches nothing with an empty
    /// phrase either).
    fn tsquery(&self) -> Option<PgQuery> {
        let mut doc = Vec::new();
        let (mut author, mut maintainers) = (Vec::new(), Vec::new());
        for g in &self.all {
            let weight = g.field.map(Field::weight);
            let any: Vec<String> = g.any.iter().filter_map(|t| phrase(t, weight)).collect();
            if any.is_empty() {
                return None;
            }
            doc.push(either(any));
            let column = match g.field {
                Some(Field::Author) => &mut author,
                Some(Field::Maintainers) => &mut maintainers,
                _ => continue,
            };
            column.push(either(
                g.any.iter().filter_map(|t| phrase(t, None)).collect(),
            ));
        }
        let and = |parts: Vec<String>| (!parts.is_empty()).then(|| parts.join(" & "));
        Some(PgQuery {
            doc: and(doc)?,
            author: and(author),
            maintainers: and(maintainers),
        })
    }
}

/// Alternatives in `tsquery` syntax.
fn either(any: Vec<String>) -> String {
    if any.len() > 1 {
        format!("( {} )", any.join(" | "))
    } else {
        any.join(" | ")
    }
}

/// One term in `tsquery` syntax: its words in a row (`<->`), each limited to `weight`, the
/// last a prefix if the term is one. `None` when it holds no word.
fn phrase(t: &Term, weight: Option<char>) -> Option<String> {
    let words = words(&t.text);
    let n = words.len();
    let parts: Vec<String> = words
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let star = if t.prefix && i + 1 == n { "*" } else { "" };
            let weight = weight.map(String::from).unwrap_or_default();
            let label = if star.is_empty() && weight.is_empty() {
                String::new()
            } else {
                format!(":{star}{weight}")
            };
            format!("'{}'{label}", w.replace('\\', "\\\\").replace('\'', "''"))
        })
        .collect();
    match n {
        0 => None,
        1 => parts.into_iter().next(),
        _ => Some(format!("( {} )", parts.join(" <-> "))),
    }
}

/// Replaces a package's row in the full-text index.
pub fn index_package(tx: &Transaction, pkg: &Package, doc: &SearchDoc) -> Result<()> {
    match tx.engine() {
        Engine::Sqlite => {
            tx.execute("DELETE FROM search WHERE rowid = ?1", [pkg.id])?;
            tx.execute(
                "INSERT INTO search (rowid, name, description, keywords, author, maintainers, summary) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![pkg.id, pkg.name, doc.description, doc.keywords, doc.author, doc.maintainers, doc.summary],
            )?;
        }
        Engine::Postgres => {
            // The columns hold the words as indexed (see `words`), from which the database
            // computes `doc`: so the index splits words exactly as queries do.
            let indexed = |text: &str| words(text).join(" ");
            tx.execute(
                "INSERT INTO search (id, name, description, keywords, author, maintainers, summary)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (id) DO UPDATE SET name = excluded.name,
                   description = excluded.description, keywords = excluded.keywords,
                   author = excluded.author, maintainers = excluded.maintainers,
                   summary = excluded.summary",
                params![
                    pkg.id,
                    indexed(&pkg.name),
                    indexed(doc.description),
                    indexed(doc.keywords),
                    indexed(doc.author),
                    indexed(doc.maintainers),
                    doc.summary
                ],
            )?;
        }
    }
    Ok(())
}

/// Removes a package's row from the full-text index.
pub(super) fn unindex(tx: &Transaction, id: i64) -> Result<()> {
    tx.execute(
        match tx.engine() {
            Engine::Sqlite => "DELETE FROM search WHERE rowid = ?1",
            Engine::Postgres => "DELETE FROM search WHERE id = ?1",
        },
        [id],
    )?;
    Ok(())
}

/// One page of search hits (each a stored summary JSON) and the total number of hits.
/// `query` is `None` for every package; `scope` limits to `@scope/` names; a package named
/// exactly `exact` (lowercase; names are compared folded) that matches comes first.
///
/// Sorting handles only ids (never summaries), and listings and scopes use the packages
/// table's name index, so a page costs about the same however deep it is.
pub fn search(
    conn: &Connection,
    query: Option<&TextQuery>,
    scope: Option<&str>,
    exact: &str,
    size: i64,
    from: i64,
) -> Result<(Vec<String>, i64)> {
    // '0' follows '/' in ASCII, so [@s/, @s0) is every name under the scope.
    let (lo, hi) = match scope {
        Some(s) => (Some(format!("@{s}/")), Some(format!("@{s}0"))),
        None => (None, None),
    };
    let (ids, total): (Vec<i64>, i64) = match query {
        None => {
            let mut st = conn.prepare_cached(
                "SELECT id FROM packages WHERE (CAST(?1 AS TEXT) IS NULL OR (name >= ?1 AND name < ?2))
                 ORDER BY name LIMIT ?3 OFFSET ?4",
            )?;
            let ids = st
                .query_map(params![lo, hi, size, from], |r| r.get(0))?
                .collect::<crate::store::db::Result<_>>()?;
            let total = conn.query_row(
                "SELECT count(*) FROM packages WHERE (CAST(?1 AS TEXT) IS NULL OR (name >= ?1 AND name < ?2))",
                params![lo, hi],
                |r| r.get(0),
            )?;
            (ids, total)
        }
        Some(q) => match conn.engine() {
            Engine::Sqlite => {
                let exact = exact_package(conn, exact)?;
                fts5_hits(conn, &q.fts5(), &lo, &hi, exact, size, from)?
            }
            Engine::Postgres => match q.tsquery() {
                Some(q) => {
                    let exact = exact_package(conn, exact)?;
                    pg_hits(conn, &q, &lo, &hi, exact, size, from)?
                }
                None => (Vec::new(), 0),
            },
        },
    };
    Ok((summaries(conn, &ids)?, total))
}

/// How many summaries one query reads: a page is at most a few of these, and a search that
/// asks for every hit (github mode filters them after) costs one round trip per this many.
const SUMMARY_BATCH: usize = 64;

/// The stored summaries of `ids`, in their order; an id without one is left out. Read in
/// batches of one fixed statement (unused places are NULL), so a page costs a few round trips
/// to PostgreSQL, not one per hit.
fn summaries(conn: &Connection, ids: &[i64]) -> Result<Vec<String>> {
    let id_column = match conn.engine() {
        Engine::Sqlite => "rowid",
        Engine::Postgres => "id",
    };
    let places: Vec<String> = (1..=SUMMARY_BATCH).map(|i| format!("?{i}")).collect();
    let sql = format!(
        "SELECT {id_column}, summary FROM search WHERE {id_column} IN ({})",
        places.join(", ")
    );
    let mut found = std::collections::HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(SUMMARY_BATCH) {
        let mut batch: Vec<Option<i64>> = chunk.iter().copied().map(Some).collect();
        batch.resize(SUMMARY_BATCH, None);
        let params: Vec<&dyn ToValue> = batch.iter().map(|v| v as &dyn ToValue).collect();
        let rows = conn.query_all(&sql, params.as_slice(), |r| {
            Ok((r.get::<i64>(0)?, r.get::<String>(1)?))
        })?;
        found.extend(rows);
    }
    Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
}

/// The package named `exact` comes first: on the first page it takes a place, and every later
/// page starts one hit earlier. The limit and offset of the rest.
fn around_exact(exact_id: Option<i64>, size: i64, from: i64) -> (i64, i64) {
    let (limit, offset) = match (exact_id, from) {
        (Some(_), 0) => (size - 1, 0),
        (Some(_), f) => (size, f - 1),
        (None, f) => (size, f),
    };
    (limit.max(0), offset)
}

/// Puts the exact match in front of the first page.
fn with_exact(mut ids: Vec<i64>, exact_id: Option<i64>, size: i64, from: i64) -> Vec<i64> {
    if let (Some(id), 0) = (exact_id, from) {
        if size > 0 {
            ids.insert(0, id);
        }
    }
    ids
}

/// The package named `exact` (folded), which a search puts first if it matches. Names differing
/// only in case can both exist in a database from before they were refused; the older counts.
///
/// Looked up apart rather than as a subquery beside FTS5's MATCH: the SQLite nmr bundles
/// (3.54) hands `rowid = NULL` to FTS5 as a constraint that every row meets, so a name that is
/// no package's made the first hit count as exact.
fn exact_package(conn: &Connection, exact: &str) -> Result<Option<i64>> {
    if exact.is_empty() {
        return Ok(None);
    }
    let mut st =
        conn.prepare_cached("SELECT id FROM packages WHERE lower(name) = ?1 ORDER BY id LIMIT 1")?;
    Ok(st.query_row([exact], |r| r.get(0)).optional()?)
}

/// SQLite: hits ranked by FTS5's `rank` (BM25 with the weights `schema` sets), then by name.
fn fts5_hits(
    conn: &Connection,
    fts: &str,
    lo: &Option<String>,
    hi: &Option<String>,
    exact: Option<i64>,
    size: i64,
    from: i64,
) -> Result<(Vec<i64>, i64)> {
    let in_scope =
        "(?2 IS NULL OR rowid IN (SELECT id FROM packages WHERE name >= ?2 AND name < ?3))";
    let exact_id: Option<i64> = match exact {
        None => None,
        Some(id) => conn
            .query_row(
                &format!(
                    "SELECT rowid FROM search WHERE search MATCH ?1 AND {in_scope} AND rowid = ?4"
                ),
                params![fts, lo, hi, id],
                |r| r.get(0),
            )
            .optional()?,
    };
    let (limit, offset) = around_exact(exact_id, size, from);
    let mut st = conn.prepare_cached(&format!(
        "SELECT rowid FROM search WHERE search MATCH ?1 AND {in_scope} AND rowid IS NOT ?4
         ORDER BY rank, (SELECT name FROM packages WHERE id = search.rowid) LIMIT ?5 OFFSET ?6"
    ))?;
    let ids: Vec<i64> = st
        .query_map(params![fts, lo, hi, exact_id, limit, offset], |r| r.get(0))?
        .collect::<crate::store::db::Result<_>>()?;
    let total = conn.query_row(
        &format!("SELECT count(*) FROM search WHERE search MATCH ?1 AND {in_scope}"),
        params![fts, lo, hi],
        |r| r.get(0),
    )?;
    Ok((with_exact(ids, exact_id, size, from), total))
}

/// PostgreSQL: what `doc` must match (through its GIN index), with the author and maintainers
/// columns checked apart where a term names them, and the scope.
/// Its parameters come first, in every statement: the query, the scope's bounds, the author's
/// and the maintainers' queries.
const PG_MATCH: &str = "s.doc @@ to_tsquery('simple', ?1)
   AND (CAST(?4 AS TEXT) IS NULL OR to_tsvector('simple', s.author) @@ to_tsquery('simple', ?4))
   AND (CAST(?5 AS TEXT) IS NULL
        OR to_tsvector('simple', s.maintainers) @@ to_tsquery('simple', ?5))
   AND (CAST(?2 AS TEXT) IS NULL OR s.id IN (SELECT id FROM packages WHERE name >= ?2 AND name < ?3))";

/// PostgreSQL: hits ranked by `ts_rank` with the weights of D (author, maintainers), C
/// (description), B (keywords) and A (name) in the ratio of SQLite's BM25 weights (1, 2, 4,
/// 10), then by name.
fn pg_hits(
    conn: &Connection,
    q: &PgQuery,
    lo: &Option<String>,
    hi: &Option<String>,
    exact: Option<i64>,
    size: i64,
    from: i64,
) -> Result<(Vec<i64>, i64)> {
    let exact_id: Option<i64> = match exact {
        None => None,
        Some(id) => conn
            .query_row(
                &format!("SELECT s.id FROM search s WHERE {PG_MATCH} AND s.id = ?6"),
                params![q.doc, lo, hi, q.author, q.maintainers, id],
                |r| r.get(0),
            )
            .optional()?,
    };
    let (limit, offset) = around_exact(exact_id, size, from);
    let mut st = conn.prepare_cached(&format!(
        "SELECT s.id FROM search s JOIN packages p ON p.id = s.id
         WHERE {PG_MATCH} AND s.id IS DISTINCT FROM ?6
         ORDER BY ts_rank('{{0.1, 0.2, 0.4, 1.0}}', s.doc, to_tsquery('simple', ?1)) DESC, p.name
         LIMIT ?7 OFFSET ?8"
    ))?;
    let ids: Vec<i64> = st
        .query_map(
            params![
                q.doc,
                lo,
                hi,
                q.author,
                q.maintainers,
                exact_id,
                limit,
                offset
            ],
            |r| r.get(0),
        )?
        .collect::<crate::store::db::Result<_>>()?;
    let total = conn.query_row(
        &format!("SELECT count(*) FROM search s WHERE {PG_MATCH}"),
        params![q.doc, lo, hi, q.author, q.maintainers],
        |r| r.get(0),
    )?;
    Ok((with_exact(ids, exact_id, size, from), total))
}

/// The search summaries of the `limit` packages changed last, newest first, skipping `from`.
pub fn recent(conn: &Connection, limit: i64, from: i64) -> Result<Vec<String>> {
    let mut st = conn.prepare_cached(match conn.engine() {
        Engine::Sqlite => {
            "SELECT s.summary FROM packages p JOIN search s ON s.rowid = p.id
             ORDER BY p.modified DESC, p.id DESC LIMIT ?1 OFFSET ?2"
        }
        Engine::Postgres => {
            "SELECT s.summary FROM packages p JOIN search s ON s.id = p.id
             ORDER BY p.modified DESC, p.id DESC LIMIT ?1 OFFSET ?2"
        }
    })?;
    let rows = st.query_map(params![limit, from], |r| r.get(0))?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_come_back_in_the_order_asked_across_batches() {
        let c = crate::store::meta::test_db();
        for id in 1..=150i64 {
            c.execute(
                "INSERT INTO search (rowid, name, description, keywords, author, maintainers, summary)
                 VALUES (?1, ?2, '', '', '', '', ?3)",
                params![id, format!("p{id}"), format!("s{id}")],
            )
            .unwrap();
        }
        // Descending, more than two batches, with an id that has no summary in the middle.
        let mut ids: Vec<i64> = (1..=150).rev().collect();
        ids.insert(70, 999);
        let want: Vec<String> = (1..=150).rev().map(|id| format!("s{id}")).collect();
        assert_eq!(summaries(&c, &ids).unwrap(), want);
        assert!(summaries(&c, &[]).unwrap().is_empty());
    }

    fn term(text: &str, prefix: bool) -> Term {
        Term {
            text: text.into(),
            prefix,
        }
    }

    #[test]
    fn one_query_renders_for_both_engines() {
        let q = TextQuery {
            all: vec![
                Group {
                    field: None,
                    any: vec![term("widget", true)],
                },
                Group {
                    field: Some(Field::Keywords),
                    any: vec![term("ui-kit", false), term("forms", false)],
                },
                Group {
                    field: Some(Field::Author),
                    any: vec![term("Ann O'Neil", true)],
                },
                Group {
                    field: Some(Field::Maintainers),
                    any: vec![term("bob", false)],
                },
            ],
        };
        assert_eq!(
            q.fts5(),
            "\"widget\"* AND keywords : (\"ui-kit\" OR \"forms\") AND author : \"Ann O'Neil\"* AND maintainers : \"bob\""
        );
        let pg = q.tsquery().unwrap();
        assert_eq!(
            pg.doc,
            "'widget':* & ( ( 'ui':B <-> 'kit':B ) | 'forms':B ) & ( 'ann':D <-> 'o':D <-> 'neil':*D ) & 'bob':D"
        );
        assert_eq!(pg.author.as_deref(), Some("( 'ann' <-> 'o' <-> 'neil':* )"));
        assert_eq!(pg.maintainers.as_deref(), Some("'bob'"));
    }

    #[test]
    fn a_group_without_words_matches_nothing_in_postgres_as_in_fts5() {
        let q = |texts: &[&str]| TextQuery {
            all: vec![Group {
                field: Some(Field::Keywords),
                any: texts.iter().map(|t| term(t, false)).collect(),
            }],
        };
        assert!(q(&["---"]).tsquery().is_none());
        assert_eq!(q(&["---", "ui"]).tsquery().unwrap().doc, "'ui':B");
        assert_eq!(q(&["ui"]).fts5(), "keywords : (\"ui\")");
    }
}

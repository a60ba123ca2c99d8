//! `GET /-/v1/search`: full-text search over names, descriptions, keywords, authors and
//! maintainers (the metadata engine's full-text index), with npm's `keywords:`, `scope:`,
//! `author:` and `maintainer:` qualifiers, answered in the shape npm and pnpm parse.

use crate::app::Ctx;
use crate::error::{Error, Result};
use crate::http::{Request, Response};
use crate::store::meta::{self, Field, Group, Term, TextQuery};
use serde_json::{json, Value};

/// Most hits one page may ask for (npm's own limit).
const MAX_SIZE: i64 = 250;

/// A parsed search text: the full-text query (whichever engine answers it) and the scope filter.
#[derive(Debug, PartialEq)]
pub struct Query {
    pub text: Option<TextQuery>,
    pub scope: Option<String>,
    /// The plain words joined, to rank an exact name match first.
    pub exact: String,
}

/// One group of a single term, in `field` or anywhere.
fn one(field: Option<Field>, text: &str, prefix: bool) -> Group {
    Group {
        field,
        any: vec![Term {
            text: text.to_string(),
            prefix,
        }],
    }
}

/// Turns npm's search text into a full-text query. Plain words must all match (as prefixes);
/// `keywords:a,b` matches any of the keywords; `author:` and `maintainer:` match those fields.
pub fn parse(text: &str) -> Query {
    let mut parts = Vec::new();
    let mut scope = None;
    let mut plain = Vec::new();
    for word in text.split_whitespace() {
        match word.split_once(':') {
            Some(("keywords", v)) if !v.is_empty() => {
                let any = v.split(',').filter(|k| !k.is_empty());
                parts.push(Group {
                    field: Some(Field::Keywords),
                    any: any
                        .map(|k| Term {
                            text: k.to_string(),
                            prefix: false,
                        })
                        .collect(),
                });
            }
            Some(("scope", v)) if !v.is_empty() => {
                scope = Some(v.trim_start_matches('@').to_string())
            }
            Some(("author", v)) if !v.is_empty() => parts.push(one(Some(Field::Author), v, true)),
            Some(("maintainer", v)) if !v.is_empty() => {
                parts.push(one(Some(Field::Maintainers), v, false))
            }
            // npm's is:/not:/boost-exact: qualifiers have no meaning here.
            Some(("is" | "not" | "boost-exact", _)) => {}
            _ => {
                // The index splits on punctuation, so do the same to a word: each part a prefix.
                let tokens = meta::search_words(word);
                if !tokens.is_empty() {
                    plain.push(word.to_lowercase());
                    parts.extend(tokens.iter().map(|t| one(None, t, true)));
                }
            }
        }
    }
    Query {
        text: (!parts.is_empty()).then_some(TextQuery { all: parts }),
        scope,
        exact: plain.join(" "),
    }
}

fn param(req: &Request, key: &str) -> Option<String> {
    crate::http::form_value(&req.query, key)
}

/// A whole number as a query parameter: digits only, and a number too large for any page
/// counts as the largest there is (it is past the end all the same).
pub fn whole_number(v: &str) -> Option<i64> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(v.parse::<i64>().unwrap_or(i64::MAX))
}

/// `size` or `from`: absent gives `default`, more than `max` gives `max`.
fn number(req: &Request, key: &str, default: i64, max: i64) -> Result<i64> {
    match param(req, key) {
        None => Ok(default),
        Some(v) => whole_number(&v).map(|n| n.min(max)).ok_or_else(|| {
            Error::BadRequest(format!(
                "{key}={v:?} must be a whole number (0 or more; {key} above {max} counts as {max})"
            ))
        }),
    }
}

/// One page of hits for npm's search text: the stored package summaries, ranked, and the
/// number of matches. Also what the web UI's search page shows. Where reads vary by package
/// (github mode), every match is checked and both the page and the total count only what the
/// caller may read: a total that counted the rest would tell that they exist.
pub fn hits(ctx: &mut Ctx, text: &str, size: i64, from: i64) -> Result<(Vec<Value>, i64)> {
    let q = parse(text);
    let filtered = crate::auth::reads_vary(ctx);
    let (limit, offset) = if filtered {
        (i64::MAX, 0)
    } else {
        (size, from)
    };
    let (rows, total) = meta::search(
        ctx.db,
        q.text.as_ref(),
        q.scope.as_deref(),
        &q.exact,
        limit,
        offset,
    )?;
    let all: Vec<Value> = rows
        .iter()
        .map(|summary| serde_json::from_str(summary).unwrap_or(Value::Null))
        .collect();
    if !filtered {
        return Ok((all, total));
    }
    let readable = crate::auth::readable(ctx, all, |p| p["name"].as_str().unwrap_or_default())?;
    let total = readable.len() as i64;
    let page = readable
        .into_iter()
        .skip(usize::try_from(from).unwrap_or(usize::MAX))
        .take(usize::try_from(size).unwrap_or(0))
        .collect();
    Ok((page, total))
}

/// `GET /-/v1/search?text=&size=&from=`. `text` is required (npm always sends it); `size` above
/// 250 is clamped to 250, as npm's registry does; a `from` past the last hit gives an empty page.
pub fn get(ctx: &mut Ctx, req: &mut Request) -> Result<Response> {
    let text = param(req, "text").unwrap_or_default();
    if text.trim().is_empty() {
        return Err(Error::BadRequest(
            "text is required: search with /-/v1/search?text=<words>".into(),
        ));
    }
    let size = number(req, "size", 20, MAX_SIZE)?;
    let from = number(req, "from", 0, i64::MAX)?;
    let (hits, total) = hits(ctx, &text, size, from)?;
    let count = hits.len().max(1) as f64;
    let objects: Vec<Value> = hits
        .into_iter()
        .enumerate()
        .map(|(i, package)| {
            // Hits come ranked; the score only has to preserve that order for display.
            let s = 1.0 - i as f64 / (2.0 * count);
            json!({
                "package": package,
                "score": {"final": s, "detail": {"quality": s, "popularity": s, "maintenance": s}},
                "searchScore": s,
                "flags": {},
            })
        })
        .collect();
    Ok(Response::json(
        200,
        &json!({"objects": objects, "total": total, "time": crate::time::now_rfc3339()}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fts(q: &Query) -> Option<String> {
        q.text.as_ref().map(TextQuery::fts5)
    }

    #[test]
    fn words_and_qualifiers_become_an_fts_query() {
        let q = parse("widget keywords:ui,forms scope:@acme author:Ann maintainer:bob");
        assert_eq!(fts(&q).as_deref(), Some("\"widget\"* AND keywords : (\"ui\" OR \"forms\") AND author : \"Ann\"* AND maintainers : \"bob\""));
        assert_eq!(q.scope.as_deref(), Some("acme"));
        assert_eq!(q.exact, "widget");
    }

    #[test]
    fn page_numbers_are_digits_and_saturate() {
        assert_eq!(whole_number("0"), Some(0));
        assert_eq!(whole_number("250"), Some(250));
        assert_eq!(whole_number("99999999999999999999999"), Some(i64::MAX));
        for bad in ["", "-1", "+1", "1.5", "ten", " 1"] {
            assert_eq!(whole_number(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn query_syntax_in_user_words_stays_literal() {
        let q = parse("a\"b OR NEAR(x) @acme/wid");
        assert_eq!(
            fts(&q).as_deref(),
            Some(
                "\"a\"* AND \"b\"* AND \"or\"* AND \"near\"* AND \"x\"* AND \"acme\"* AND \"wid\"*"
            )
        );
        assert_eq!(parse("").text, None);
        assert_eq!(parse("is:unstable").text, None);
        assert_eq!(
            fts(&parse("keywords:ui")).as_deref(),
            Some("keywords : (\"ui\")")
        );
    }
}

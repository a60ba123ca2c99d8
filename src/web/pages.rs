//! The pages other than a package's: home (search, counts, recently updated packages), search
//! results with paging, the login form, and error pages.

use super::format::{ago, count, date};
use super::html::Html;
use super::layout::{render, search_form};
use super::session::LoginForm;
use super::{package_path, root, search_path};
use crate::app::Ctx;
use crate::auth::{can_read, reads_vary};
use crate::config::AuthType;
use crate::error::{Error, Result};
use crate::http::{form_value, Request, Response};
use crate::store::meta;
use serde_json::Value;

/// Hits on one search page.
const PAGE_SIZE: i64 = 20;
/// Packages on the home page.
const RECENT: usize = 12;

/// `GET /`: the search box, how much is here, how to use it, and what changed last.
pub fn home(ctx: &mut Ctx, req: &mut Request) -> Result<Response> {
    let base = ctx.base_url(req)?;
    // Counts would tell a caller who may not read everything how much is hidden.
    let counts = (!reads_vary(ctx))
        .then(|| meta::counts(ctx.db))
        .transpose()?;
    // Unreadable packages are left out, so ask for a few more than are shown.
    let mut recent = Vec::with_capacity(RECENT);
    for summary in meta::recent(ctx.db, 4 * RECENT as i64, 0)? {
        if recent.len() == RECENT {
            break;
        }
        let v: Value = serde_json::from_str(&summary).unwrap_or(Value::Null);
        if can_read(ctx, v["name"].as_str().unwrap_or(""))? {
            recent.push(v);
        }
    }
    let root = root(ctx);
    let now = crate::time::now_millis();
    let body = |h: &mut Html| {
        h.wrap("section", &[("class", "hero")], |h| {
            h.el("h1", &[], "Packages on this registry");
            search_form(h, &root, "", "search big");
            if let Some((packages, versions)) = counts {
                h.wrap("p", &[("class", "stats")], |h| {
                    h.el("strong", &[], &count(packages, "package"));
                    h.literal(" · ");
                    h.el("strong", &[], &count(versions, "version"));
                });
            }
        });
        h.wrap("div", &[("class", "columns")], |h| {
            h.wrap("section", &[("class", "recent")], |h| {
                h.el("h2", &[], "Recently updated");
                if recent.is_empty() {
                    let why = if counts.is_some() {
                        "Nothing is published here yet: npm publish puts the first package here."
                    } else {
                        "There is no package here that you may read."
                    };
                    h.el("p", &[("class", "muted")], why);
                } else {
                    package_list(h, &root, now, &recent);
                    h.wrap("p", &[], |h| {
                        h.el(
                            "a",
                            &[("href", &search_path(&root, "", 1))],
                            "All packages →",
                        );
                    });
                }
            });
            h.wrap("aside", &[("class", "setup")], |h| setup(h, &base));
        });
    };
    Ok(render(ctx, 200, "", "", body))
}

/// How to point npm, pnpm and yarn at this registry.
fn setup(h: &mut Html, base: &str) {
    h.el("h2", &[], "Use this registry");
    h.el("p", &[], "For every package, in .npmrc:");
    h.el("pre", &[("class", "cmd")], &format!("registry={base}/"));
    h.el("p", &[], "Or for one scope only:");
    h.el(
        "pre",
        &[("class", "cmd")],
        &format!("@acme:registry={base}/"),
    );
    h.el(
        "p",
        &[("class", "muted")],
        "npm, pnpm and yarn read the same .npmrc; npm login saves your token there.",
    );
}

/// A list of packages from their search summaries: name, version, description, keywords, date.
fn package_list(h: &mut Html, root: &str, now: i64, summaries: &[Value]) {
    h.wrap("ul", &[("class", "packages")], |h| {
        for s in summaries {
            let name = s["name"].as_str().unwrap_or("");
            h.wrap("li", &[("class", "card")], |h| {
                h.wrap("div", &[("class", "card-head")], |h| {
                    h.el(
                        "a",
                        &[("class", "name"), ("href", &package_path(root, name))],
                        name,
                    );
                    if let Some(v) = s["version"].as_str() {
                        h.el("span", &[("class", "version")], v);
                    }
                });
                if let Some(d) = s["description"].as_str().filter(|d| !d.is_empty()) {
                    h.el("p", &[("class", "desc")], d);
                }
                h.wrap("div", &[("class", "card-meta")], |h| {
                    if let Some(at) = s["date"].as_str() {
                        h.el(
                            "time",
                            &[("datetime", at), ("title", date(at))],
                            &ago(now, at),
                        );
                    }
                    // Without accounts every publisher is "anonymous", which says nothing.
                    let publisher = s["publisher"]["username"].as_str();
                    if let Some(p) = publisher.filter(|p| *p != crate::api::user::ANONYMOUS) {
                        h.el("span", &[], &format!("by {p}"));
                    }
                    if let Some(kw) = s["keywords"].as_array().filter(|k| !k.is_empty()) {
                        keywords(h, root, kw.iter().filter_map(Value::as_str));
                    }
                });
            });
        }
    });
}

/// Keywords as links to the packages that share them.
pub fn keywords<'a>(h: &mut Html, root: &str, words: impl Iterator<Item = &'a str>) {
    h.wrap("span", &[("class", "keywords")], |h| {
        for k in words.take(12) {
            h.el(
                "a",
                &[
                    ("class", "chip"),
                    ("href", &search_path(root, &format!("keywords:{k}"), 1)),
                ],
                k,
            );
        }
    });
}

/// `GET /-/web/search?q=&page=`: ranked hits, 20 a page.
pub fn search(ctx: &mut Ctx, req: &mut Request) -> Result<Response> {
    let q = form_value(&req.query, "q").unwrap_or_default();
    let q = q.trim().to_string();
    // The API's rules where they apply: a page past the end is an empty page, however far.
    let page_no = form_value(&req.query, "page")
        .and_then(|p| crate::api::search::whole_number(&p))
        .unwrap_or(1)
        .clamp(1, 100_000);
    let (hits, total) = crate::api::search::hits(ctx, &q, PAGE_SIZE, (page_no - 1) * PAGE_SIZE)?;
    let pages = (total + PAGE_SIZE - 1) / PAGE_SIZE;
    let root = root(ctx);
    let now = crate::time::now_millis();
    let title = if q.is_empty() {
        "All packages".to_string()
    } else {
        format!("Search: {q}")
    };
    let body = |h: &mut Html| {
        h.wrap("div", &[("class", "results-head")], |h| {
            if q.is_empty() {
                h.el("h1", &[], "All packages");
            } else {
                h.wrap("h1", &[], |h| {
                    h.text(&format!("{} for ", count(total, "package")));
                    h.el("q", &[], &q);
                });
            }
        });
        if hits.is_empty() {
            h.wrap("div", &[("class", "empty")], |h| {
                h.el("p", &[], if page_no > 1 { "No more results." } else { "Nothing matches." });
                h.el("p", &[("class", "muted")], "Search looks at names, descriptions, keywords and authors. Narrow it with keywords:ui, scope:acme, author:ann or maintainer:bob.");
            });
        } else {
            package_list(h, &root, now, &hits);
        }
        if pages > 1 {
            h.wrap("nav", &[("class", "pager"), ("aria-label", "Pages")], |h| {
                if page_no > 1 {
                    h.el(
                        "a",
                        &[
                            ("rel", "prev"),
                            ("href", &search_path(&root, &q, page_no - 1)),
                        ],
                        "← Previous",
                    );
                }
                h.el(
                    "span",
                    &[],
                    &format!("Page {page_no} of {}", pages.max(page_no)),
                );
                if page_no < pages {
                    h.el(
                        "a",
                        &[
                            ("rel", "next"),
                            ("href", &search_path(&root, &q, page_no + 1)),
                        ],
                        "Next →",
                    );
                }
            });
        }
    };
    Ok(render(ctx, 200, &title, &q, body))
}

/// The login form: user name and password (local accounts), a token (github mode), or a note
/// that there is nothing to log in to (`auth.type = none`).
pub fn login(ctx: &mut Ctx, _req: &Request, status: u16, form: &LoginForm) -> Response {
    let root = root(ctx);
    let kind = ctx.app.config.auth.kind;
    let body = |h: &mut Html| {
        h.wrap("section", &[("class", "panel narrow")], |h| {
            let heading = if form.session.is_empty() {
                "Log in"
            } else {
                "Log in to npm"
            };
            h.el("h1", &[], heading);
            if !form.session.is_empty() {
                h.el("p", &[], "npm is waiting in your terminal. Log in here and it carries on with a new token of its own.");
            } else if let Some(why) = &form.why {
                h.el("p", &[], why);
            }
            if let Some(e) = &form.error {
                h.el("p", &[("class", "alert"), ("role", "alert")], e);
            }
            let who_name = ctx.who.name().unwrap_or("");
            if !who_name.is_empty() && form.session.is_empty() {
                h.el(
                    "p",
                    &[("class", "muted")],
                    &format!("You are logged in as {who_name}."),
                );
            }
            if kind == AuthType::None {
                h.el("p", &[], "This registry has no accounts (auth.type = none): everyone may read and publish, so there is nothing to log in to.");
                return;
            }
            h.wrap(
                "form",
                &[
                    ("method", "post"),
                    ("action", &format!("{root}/-/web/login")),
                    ("class", "stack"),
                ],
                |h| {
                    h.open("input", &[("type", "hidden"), ("name", "next"), ("value", &form.next)]);
                    h.open("input", &[("type", "hidden"), ("name", "session"), ("value", &form.session)]);
                    if kind == AuthType::GitHub {
                        h.el("label", &[("for", "token")], "GitHub personal access token");
                        h.open("input", &[("id", "token"), ("name", "token"), ("type", "password"), ("autocomplete", "off"), ("required", ""), ("autofocus", "")]);
                        h.el("p", &[("class", "muted")], "The registry asks GitHub who you are and which repositories you may read. The token stays in an HttpOnly cookie in this browser.");
                    } else {
                        let user = if form.user.is_empty() { who_name } else { &form.user };
                        h.el("label", &[("for", "user")], "User name");
                        h.open("input", &[("id", "user"), ("name", "user"), ("value", user), ("autocomplete", "username"), ("required", ""), ("autofocus", "")]);
                        h.el("label", &[("for", "password")], "Password");
                        h.open("input", &[("id", "password"), ("name", "password"), ("type", "password"), ("autocomplete", "current-password"), ("required", "")]);
                    }
                    h.el("button", &[("type", "submit"), ("class", "primary")], "Log in");
                },
            );
        });
    };
    render(ctx, status, "Log in", "", body)
}

/// What the browser sees once npm's login went through.
pub fn npm_logged_in(ctx: &mut Ctx, user: &str) -> Response {
    let body = |h: &mut Html| {
        h.wrap("section", &[("class", "panel narrow")], |h| {
            h.el("h1", &[], "npm is logged in");
            h.wrap("p", &[], |h| {
                h.text("npm now has a token for ");
                h.el("strong", &[], user);
                h.text(". You can close this tab and go back to your terminal.");
            });
        });
    };
    render(ctx, 200, "Logged in", "", body)
}

/// A short page for an error: the status, what went wrong, a way back.
pub fn error(ctx: &mut Ctx, _req: &Request, e: &Error) -> Response {
    let status = e.status();
    let title = match status {
        400 => "Bad request",
        403 => "Not allowed",
        404 => "Not found",
        405 => "Not allowed",
        410 => "Gone",
        413 => "Too large",
        s if s >= 500 => "Something went wrong",
        _ => "Error",
    };
    let root = root(ctx);
    let body = |h: &mut Html| {
        h.wrap("section", &[("class", "panel narrow error")], |h| {
            h.el("p", &[("class", "status")], &status.to_string());
            h.el("h1", &[], title);
            h.el("p", &[], e.client_message());
            h.wrap("p", &[], |h| {
                h.el("a", &[("href", &format!("{root}/"))], "← Home");
            });
        });
    };
    render(ctx, status, title, "", body)
}

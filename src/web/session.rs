//! Who is using the web UI, and npm's web login. A browser session is a cookie (HttpOnly,
//! SameSite=Strict) holding a credential nmr already knows how to check: a read-only nmr token
//! named "web" (local accounts; logging out revokes it) or the user's GitHub token (github
//! mode). Forms that change anything are posted only from this registry's own pages (Origin or
//! Referer must match). npm's web login (`POST /-/v1/login`, then polling the done URL) waits in
//! memory until the user logs in through the form.

use super::logins::Poll;
use super::{pages, root, see_other};
use crate::app::Ctx;
use crate::auth::{self, github, local, Identity};
use crate::config::AuthType;
use crate::error::{Error, Result};
use crate::http::{form_value, Request, Response};
use crate::store::db::Connection;
use crate::store::meta;
use serde_json::json;

/// The session cookie's name.
pub const COOKIE: &str = "nmr_session";
/// How long a browser session (and its token) lasts.
const SESSION_DAYS: u64 = 7;
/// Largest form body accepted.
const FORM_LIMIT: u64 = 16 * 1024;

/// What the login form shows.
#[derive(Default)]
pub struct LoginForm {
    /// Where to go once logged in: a path on this registry.
    pub next: String,
    /// The npm login this form completes (empty: a browser login only).
    pub session: String,
    /// The user name typed last time.
    pub user: String,
    /// Why the last try failed.
    pub error: Option<String>,
    /// Why the form is shown.
    pub why: Option<String>,
}

impl LoginForm {
    /// The form shown instead of a page that needs a login.
    pub fn to_read(next: String) -> LoginForm {
        LoginForm {
            next,
            why: Some("This registry needs you to log in to read its packages.".into()),
            ..Default::default()
        }
    }
}

/// The browser's caller, from its session cookie. A cookie that no longer works (expired,
/// revoked) is no session at all.
pub fn identify(ctx: &mut Ctx, req: &Request) -> Result<Identity> {
    match auth::from_token(ctx, req.cookie(COOKIE), req.remote) {
        Err(Error::Unauthorized(_) | Error::Forbidden(_)) => Ok(Identity::Nobody),
        other => other,
    }
}

/// `scheme://host[:port]` of a base URL.
fn origin(base: &str) -> &str {
    let after = base.find("://").map_or(0, |i| i + 3);
    base[after..].find('/').map_or(base, |i| &base[..after + i])
}

/// Refuses a form post that did not come from this registry's pages: a cross-site request
/// forgery. SameSite=Strict already keeps the cookie off such posts; this also stops one that
/// needs no cookie (logging a victim in as someone else).
fn same_origin(ctx: &Ctx, req: &Request) -> Result<()> {
    let base = ctx.base_url(req)?;
    let ours = origin(&base);
    let ok = match (req.header("origin"), req.header("referer")) {
        (Some(o), _) => o.trim().eq_ignore_ascii_case(ours),
        (None, Some(r)) => r
            .get(..ours.len() + 1)
            .is_some_and(|p| p.eq_ignore_ascii_case(&format!("{ours}/"))),
        (None, None) => false,
    };
    if ok {
        Ok(())
    } else {
        Err(Error::Forbidden(
            "this form must be sent from this registry's own pages; reload the page and try again"
                .into(),
        ))
    }
}

/// A path on this registry to go to after logging in; anything else (another site, `//host`,
/// a control character that could end the `Location` line) becomes the home page.
fn safe_next(root: &str, next: &str) -> String {
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && crate::http::header_safe(next);
    if local && next.starts_with(&format!("{root}/")) {
        next.to_string()
    } else {
        format!("{root}/")
    }
}

/// The `Set-Cookie` value that stores `value` for `max_age` seconds (0 removes it).
fn cookie(ctx: &Ctx, req: &Request, value: &str, max_age: u64) -> Result<String> {
    let secure = if ctx.base_url(req)?.starts_with("https:") {
        "; Secure"
    } else {
        ""
    };
    Ok(format!(
        "{COOKIE}={value}; Path={}/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}",
        root(ctx)
    ))
}

/// Whether a credential can travel in a cookie as it is.
fn cookie_safe(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= 512
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// `GET /-/web/login[?next=…][&session=…]`: the form.
pub fn login_page(ctx: &mut Ctx, req: &mut Request) -> Result<Response> {
    ctx.who = identify(ctx, req)?;
    let session = form_value(&req.query, "session").unwrap_or_default();
    if !session.is_empty() && !waiting(ctx, &session)? {
        return Err(expired());
    }
    let form = LoginForm {
        next: safe_next(
            &root(ctx),
            &form_value(&req.query, "next").unwrap_or_default(),
        ),
        session,
        ..Default::default()
    };
    Ok(pages::login(ctx, req, 200, &form))
}

/// Whether the npm login with this id waits for the user.
fn waiting(ctx: &Ctx, login_id: &str) -> Result<bool> {
    let now = crate::time::now_millis();
    ctx.app.web.logins.is_waiting(ctx.db, login_id, now)
}

fn expired() -> Error {
    Error::NotFound(
        "this npm login is unknown or has expired (they last 10 minutes); run npm login again"
            .into(),
    )
}

/// `POST /-/web/login`: checks the credentials, starts a browser session, and completes the npm
/// login the form was opened for.
pub fn login(ctx: &mut Ctx, req: &mut Request) -> Result<Response> {
    same_origin(ctx, req)?;
    let body = req.read_body(FORM_LIMIT)?;
    let body = String::from_utf8_lossy(&body);
    let field = |k: &str| form_value(&body, k).unwrap_or_default();
    ctx.who = identify(ctx, req)?;
    let mut form = LoginForm {
        next: safe_next(&root(ctx), &field("next")),
        session: field("session"),
        user: field("user").trim().to_string(),
        ..Default::default()
    };
    if !form.session.is_empty() && !waiting(ctx, &form.session)? {
        return Err(expired());
    }
    let (secret, user) = match ctx.app.config.auth.kind {
        AuthType::None => {
            return Err(Error::NotFound(
                "this registry has no accounts (auth.type = none)".into(),
            ))
        }
        AuthType::GitHub => {
            let token = field("token").trim().to_string();
            let known = cookie_safe(&token)
                .then(|| github::user(ctx.app, ctx.db, &token))
                .transpose();
            match known {
                Ok(Some(login)) => (token, login),
                Ok(None) | Err(Error::Unauthorized(_) | Error::Forbidden(_)) => {
                    form.error = Some("GitHub does not accept this token.".into());
                    return Ok(pages::login(ctx, req, 401, &form));
                }
                Err(e) => return Err(e),
            }
        }
        AuthType::Local => {
            let checked = local::check_password(ctx, &form.user, &field("password"), req.remote);
            let u = match checked {
                Ok(Some(u)) => u,
                Ok(None) => {
                    form.error = Some("Wrong user name or password.".into());
                    return Ok(pages::login(ctx, req, 401, &form));
                }
                // Throttled, or too many logins at once: the form again, saying when to retry.
                Err(e @ (Error::Throttled(..) | Error::Unavailable(_))) => {
                    form.error = Some(format!("{}.", capitalised(e.client_message())));
                    return Ok(pages::login(ctx, req, e.status(), &form).retry_after(&e));
                }
                Err(e) => return Err(e),
            };
            let spec = local::TokenSpec {
                name: Some("web".into()),
                readonly: true,
                expires_days: Some(SESSION_DAYS),
                ..Default::default()
            };
            let (secret, _) = local::create_token(ctx.db, &u.name, spec)?;
            // A new session replaces the one this browser had.
            if let Some(old) = req.cookie(COOKIE) {
                meta::delete_token_by_hash(ctx.db, &local::token_hash(old))?;
            }
            (secret, u.name)
        }
    };
    crate::info!("user {user} logged in to the web UI");
    let set = cookie(ctx, req, &secret, SESSION_DAYS * 86_400)?;
    if form.session.is_empty() {
        return Ok(see_other(form.next).with_header("Set-Cookie", set));
    }
    // npm's token is made when npm collects it (see npm_done).
    let now = crate::time::now_millis();
    if !ctx
        .app
        .web
        .logins
        .approve(ctx.db, &form.session, &user, now)?
    {
        return Err(expired());
    }
    ctx.who = auth::from_token(ctx, Some(&secret), req.remote)?;
    Ok(pages::npm_logged_in(ctx, &user).with_header("Set-Cookie", set))
}

/// A message as a sentence for the form.
fn capitalised(m: &str) -> String {
    let mut c = m.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// `POST /-/web/logout`: revokes the session's token and forgets the cookie.
pub fn logout(ctx: &mut Ctx, req: &mut Request) -> Result<Response> {
    same_origin(ctx, req)?;
    if ctx.app.config.auth.kind == AuthType::Local {
        if let Some(t) = req.cookie(COOKIE) {
            meta::delete_token_by_hash(ctx.db, &local::token_hash(t))?;
        }
    }
    let clear = cookie(ctx, req, "", 0)?;
    Ok(see_other(format!("{}/", root(ctx))).with_header("Set-Cookie", clear))
}

/// `POST /-/v1/login`: npm's web login. Offered for local accounts only; elsewhere (and for
/// `npm adduser`, which the form cannot do) the 404 sends npm to the user-name-and-password login.
pub fn npm_start(ctx: &mut Ctx, req: &mut Request) -> Result<Response> {
    let body = req.read_body(FORM_LIMIT)?;
    let creating = serde_json::from_slice::<serde_json::Value>(&body)
        .is_ok_and(|b| b["create"].as_bool() == Some(true));
    if ctx.app.config.auth.kind != AuthType::Local || creating {
        return Err(Error::NotFound(
            "web login is not offered here; log in with a user name and password".into(),
        ));
    }
    let now = crate::time::now_millis();
    let (login_id, done_id) = ctx.app.web.logins.start(ctx.db, req.remote, now)?;
    let base = ctx.base_url(req)?;
    Ok(Response::json(
        200,
        &json!({
            "loginUrl": format!("{base}/-/web/login?session={login_id}"),
            "doneUrl": format!("{base}/-/v1/login/done/{done_id}"),
        }),
    )
    .with_header("Cache-Control", "no-store"))
}

/// `GET /-/v1/login/done/<id>`: 202 and `Retry-After: 1` until the user has logged in, then the
/// token, once. The token is made here rather than when the user logs in, so that no working
/// token waits in the database (tokens are stored only as digests) and none is left behind
/// when npm gives up before collecting it.
pub fn npm_done(ctx: &mut Ctx, _req: &mut Request, done_id: &str) -> Result<Response> {
    let now = crate::time::now_millis();
    // npm gets a token of its own, one that may publish, as `npm login` would.
    let token_for = |conn: &Connection, user: &str| {
        let spec = local::TokenSpec {
            name: Some("npm login".into()),
            ..Default::default()
        };
        Ok(local::create_token(conn, user, spec)?.0)
    };
    match ctx.app.web.logins.poll(ctx.db, done_id, now, token_for)? {
        Poll::Unknown => Err(expired()),
        Poll::Waiting => Ok(Response::json(202, &json!({}))
            .with_header("Retry-After", "1")
            .with_header("Cache-Control", "no-store")),
        Poll::Done(token) => Ok(Response::json(200, &json!({ "token": token }))
            .with_header("Cache-Control", "no-store")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_this_registry() {
        assert_eq!(safe_next("", "/-/web/package/x"), "/-/web/package/x");
        assert_eq!(safe_next("", "//evil.test/x"), "/");
        assert_eq!(safe_next("", "https://evil.test/"), "/");
        assert_eq!(safe_next("", "/\\evil.test"), "/");
        for c in ['\r', '\n', '\0', '\x7f', '\x1b'] {
            assert_eq!(safe_next("", &format!("/-/web/search{c}X: 1")), "/");
        }
        assert_eq!(safe_next("/npm", "/other"), "/npm/");
        assert_eq!(
            safe_next("/npm", "/npm/-/web/search?q=a"),
            "/npm/-/web/search?q=a"
        );
    }

    #[test]
    fn origins_and_cookie_values() {
        assert_eq!(origin("https://h.test/npm"), "https://h.test");
        assert_eq!(origin("http://127.0.0.1:4873"), "http://127.0.0.1:4873");
        assert!(cookie_safe("nmr_0123abc") && cookie_safe("ghp_A-b.c"));
        assert!(!cookie_safe("a;b") && !cookie_safe("") && !cookie_safe("a b"));
    }
}

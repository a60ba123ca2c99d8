//! The user endpoints as `auth.type = "none"` answers them: there are no accounts, every
//! caller is `anonymous`, and login and logout succeed so clients that insist on them work.

use crate::app::Ctx;
use crate::error::{Error, Result};
use crate::http::{Request, Response};
use serde_json::json;

/// The name every caller has when the registry has no accounts.
pub const ANONYMOUS: &str = "anonymous";

/// `GET /-/whoami`.
pub fn whoami(_ctx: &mut Ctx, _req: &mut Request) -> Result<Response> {
    Ok(Response::json(200, &json!({"username": ANONYMOUS})))
}

/// `GET /-/user/org.couchdb.user:<name>`: a profile for `npm owner add`. Without accounts any
/// well-formed name is taken as given, with no e-mail address known.
pub fn profile(_ctx: &mut Ctx, _req: &mut Request, user: &str) -> Result<Response> {
    let name = user.strip_prefix("org.couchdb.user:").unwrap_or(user);
    check_user_name(name)?;
    Ok(Response::json(
        200,
        &json!({"_id": format!("org.couchdb.user:{name}"), "name": name, "email": ""}),
    ))
}

/// `PUT /-/user/org.couchdb.user:<name>` (login and adduser): any credentials work, so the
/// answer is a token that, like every token here, grants nothing special.
pub fn login(ctx: &mut Ctx, req: &mut Request, user: &str) -> Result<Response> {
    req.read_json(ctx.app.config.settings.max_body_size.min(64 * 1024))?;
    let name = user.strip_prefix("org.couchdb.user:").unwrap_or(user);
    check_user_name(name)?;
    let token = crate::random::hex_token(32)?;
    Ok(Response::json(
        201,
        &json!({"ok": format!("you are {name}; auth.type is none, so any token works"), "token": token}),
    ))
}

/// `DELETE /-/user/token/<token>` (logout).
pub fn logout(_ctx: &mut Ctx, _req: &mut Request, _token: &str) -> Result<Response> {
    Ok(Response::json(200, &json!({"ok": "Logged out"})))
}

/// `GET /-/npm/v1/tokens`: there are no stored tokens. `urls.next` is null, or pnpm loops.
pub fn tokens(_ctx: &mut Ctx, _req: &mut Request) -> Result<Response> {
    Ok(Response::json(
        200,
        &json!({"objects": [], "total": 0, "urls": {"next": null}}),
    ))
}

/// `POST /-/npm/v1/tokens` and `DELETE /-/npm/v1/tokens/token/<key>`.
pub fn token_change(_ctx: &mut Ctx, _req: &mut Request) -> Result<Response> {
    Err(Error::BadRequest("this registry runs with auth.type = none: there are no tokens to create or revoke, and any token is accepted".into()))
}

fn check_user_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 214
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::BadRequest(format!(
            "user name {name:?} may use only letters, digits, '-', '_' and '.'"
        )))
    }
}

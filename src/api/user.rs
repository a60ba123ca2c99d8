//! The account endpoints npm's `login`, `adduser`, `whoami`, `logout`, `token` and `owner add`
//! use, answered for each auth mode: `none` has no accounts (every caller is `anonymous` and
//! login hands out a token that means nothing); `local` keeps accounts and tokens; `github`
//! identifies callers by their GitHub token, so logins and nmr tokens do not apply.

use crate::app::Ctx;
use crate::auth::{local, Identity};
use crate::config::AuthType;
use crate::error::{Error, Result};
use crate::http::{Request, Response};
use crate::store::meta;
use serde_json::{json, Value};

/// The name every caller has when the registry has no accounts.
pub const ANONYMOUS: &str = "anonymous";

/// Shortest password accepted for a new account.
pub const MIN_PASSWORD: usize = 8;

fn github_has_no(what: &str) -> Error {
    Error::BadRequest(format!(
        "this registry uses GitHub authentication: {what}; put a GitHub personal access token in .npmrc as _authToken"
    ))
}

fn user_of(path_user: &str) -> &str {
    path_user
        .strip_prefix("org.couchdb.user:")
        .unwrap_or(path_user)
}

/// Checks a user name for a new account.
pub fn check_user_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 214
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && !name.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(Error::BadRequest(format!(
            "user name {name:?} may use only letters, digits, '-', '_' and '.'"
        )))
    }
}

/// `GET /-/whoami`.
pub fn whoami(ctx: &mut Ctx, _req: &mut Request) -> Result<Response> {
    let name = ctx.who.name().unwrap_or(ANONYMOUS);
    Ok(Response::json(200, &json!({"username": name})))
}

/// `GET /-/user/org.couchdb.user:<name>`: the profile `npm owner add` looks up.
pub fn profile(ctx: &mut Ctx, _req: &mut Request, user: &str) -> Result<Response> {
    let name = user_of(user);
    match ctx.app.config.auth.kind {
        AuthType::None => {
            check_user_name(name)?;
            Ok(Response::json(
                200,
                &json!({"_id": format!("org.couchdb.user:{name}"), "name": name, "email": ""}),
            ))
        }
        AuthType::Local => {
            let u = meta::user(ctx.db, name)?
                .ok_or_else(|| Error::NotFound(format!("no user {name:?} on this registry")))?;
            Ok(Response::json(
                200,
                &json!({"_id": format!("org.couchdb.user:{}", u.name), "name": u.name, "email": u.email}),
            ))
        }
        AuthType::GitHub => Err(github_has_no(
            "package owners are not used (repository permissions decide who may publish)",
        )),
    }
}

/// `PUT /-/user/org.couchdb.user:<name>` (and the legacy `/-rev/<rev>` form): `npm login` and
/// `npm adduser`. Answers 201 with a token for a right password at once, so clients never take
/// the 409 detour.
pub fn login(ctx: &mut Ctx, req: &mut Request, user: &str) -> Result<Response> {
    let basic = req.basic();
    let body = req.read_json(64 * 1024)?;
    let name = user_of(user).to_string();
    check_user_name(&name)?;
    if let Some(n) = body.get("name").and_then(Value::as_str) {
        if n != name {
            return Err(Error::BadRequest(format!(
                "body name {n:?} does not match the user in the URL ({name})"
            )));
        }
    }
    let password = body
        .get("password")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| basic.filter(|(u, _)| *u == name).map(|(_, p)| p));
    match ctx.app.config.auth.kind {
        AuthType::None => {
            let token = crate::random::hex_token(32)?;
            Ok(Response::json(
                201,
                &json!({"ok": format!("you are {name}; auth.type is none, so any token works"), "token": token}),
            ))
        }
        AuthType::GitHub => Err(github_has_no("there is no login")),
        AuthType::Local => {
            let password = password.ok_or_else(|| Error::BadRequest("send a password".into()))?;
            let registering =
                ctx.app.config.auth.allow_registration && meta::user(ctx.db, &name)?.is_none();
            let account = if registering {
                register(
                    ctx,
                    &name,
                    &password,
                    body.get("email").and_then(Value::as_str).unwrap_or(""),
                )?
            } else {
                local::check_password(ctx, &name, &password, req.remote)?.ok_or_else(|| {
                    Error::Unauthorized(
                        "wrong user name or password (new accounts are made by the operator: nmr user add)".into(),
                    )
                })?
            };
            let spec = local::TokenSpec {
                name: Some("npm login".into()),
                ..Default::default()
            };
            let (secret, _) = local::create_token(ctx.db, &account.name, spec)?;
            crate::info!("user {} logged in", account.name);
            Ok(Response::json(
                201,
                &json!({"ok": format!("you are logged in as {}", account.name), "token": secret}),
            ))
        }
    }
}

/// Creates an account (self-registration, or `nmr user add`).
pub fn register(ctx: &mut Ctx, name: &str, password: &str, email: &str) -> Result<meta::User> {
    if password.chars().count() < MIN_PASSWORD {
        return Err(Error::BadRequest(format!(
            "passwords need at least {MIN_PASSWORD} characters"
        )));
    }
    let u = meta::User {
        name: name.to_string(),
        email: email.to_string(),
        password: local::hash_off_slot(ctx, password)?,
    };
    if !meta::insert_user(ctx.db, &u, &crate::time::now_rfc3339())? {
        return Err(Error::Conflict(format!("user {name} exists")));
    }
    crate::info!("registered user {name}");
    Ok(u)
}

/// `DELETE /-/user/token/<token>` (logout): revokes the token in the path. Answers 200 even
/// for an unknown token, so a client can always forget its copy.
pub fn logout(ctx: &mut Ctx, _req: &mut Request, token: &str) -> Result<Response> {
    if ctx.app.config.auth.kind == AuthType::Local {
        meta::delete_token_by_hash(ctx.db, &local::token_hash(token))?;
    }
    Ok(Response::json(200, &json!({"ok": "Logged out"})))
}

fn local_user(ctx: &Ctx) -> Result<String> {
    match (&ctx.app.config.auth.kind, &ctx.who) {
        (AuthType::GitHub, _) => Err(github_has_no("nmr keeps no tokens")),
        (AuthType::None, _) => Err(Error::BadRequest("this registry runs with auth.type = none: there are no tokens to create or revoke, and any token is accepted".into())),
        (AuthType::Local, Identity::User { name, .. }) => Ok(name.clone()),
        (AuthType::Local, _) => Err(Error::Unauthorized("log in first: npm login".into())),
    }
}

/// `GET /-/npm/v1/tokens`. `urls.next` is null, or pnpm asks again forever.
pub fn tokens(ctx: &mut Ctx, _req: &mut Request) -> Result<Response> {
    if ctx.app.config.auth.kind == AuthType::None {
        return Ok(Response::json(
            200,
            &json!({"objects": [], "total": 0, "urls": {"next": null}}),
        ));
    }
    let user = local_user(ctx)?;
    let objects: Vec<Value> = meta::tokens_of(ctx.db, &user)?
        .into_iter()
        .map(|t| {
            json!({
                "key": t.key, "token": t.prefix, "name": t.name, "created": t.created, "updated": t.created,
                "readonly": t.readonly, "cidr_whitelist": serde_json::from_str::<Value>(&t.cidr).unwrap_or(json!([])),
                "expires": t.expires.map(|e| crate::time::format_millis(e * 1000)),
            })
        })
        .collect();
    let total = objects.len();
    Ok(Response::json(
        200,
        &json!({"objects": objects, "total": total, "urls": {"next": null}}),
    ))
}

/// `POST /-/npm/v1/tokens` (`npm token create`): needs the account's password again.
pub fn token_create(ctx: &mut Ctx, req: &mut Request) -> Result<Response> {
    let user = local_user(ctx)?;
    let body = req.read_json(64 * 1024)?;
    let expires_days = expires_days(&body)?;
    let password = body.get("password").and_then(Value::as_str).unwrap_or("");
    if local::check_password(ctx, &user, password, req.remote)?.is_none() {
        return Err(Error::Unauthorized(
            "wrong password: creating a token needs your password".into(),
        ));
    }
    let list = |k: &str| -> Vec<String> {
        body.get(k)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let readonly = body
        .get("readonly")
        .and_then(Value::as_bool)
        .unwrap_or(false)
        || body
            .get("packages_and_scopes_permission")
            .and_then(Value::as_str)
            == Some("read-only");
    let spec = local::TokenSpec {
        name: body.get("name").and_then(Value::as_str).map(str::to_string),
        readonly,
        cidr: list("cidr_whitelist"),
        expires_days,
    };
    let (secret, t) = local::create_token(ctx.db, &user, spec)?;
    Ok(Response::json(
        200,
        &json!({"token": secret, "key": t.key, "name": t.name, "readonly": t.readonly, "cidr_whitelist": list("cidr_whitelist"), "created": t.created}),
    ))
}

/// The `expires` of a token request: a whole number of days, or absent (or null) for a token
/// that does not expire. Anything else is refused rather than quietly ignored.
fn expires_days(body: &Value) -> Result<Option<u64>> {
    match body.get("expires") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .filter(|d| *d <= local::MAX_EXPIRES_DAYS)
            .map(Some)
            .ok_or_else(|| {
                Error::BadRequest(format!(
                    "expires must be a whole number of days from 0 to {}, not {v}",
                    local::MAX_EXPIRES_DAYS
                ))
            }),
    }
}

/// `DELETE /-/npm/v1/tokens/token/<key>` (`npm token revoke`): one of the caller's tokens.
pub fn token_revoke(ctx: &mut Ctx, _req: &mut Request, key: &str) -> Result<Response> {
    let user = local_user(ctx)?;
    if !meta::delete_token_by_key(ctx.db, key, Some(&user))? {
        return Err(Error::NotFound(format!("you have no token with id {key}")));
    }
    Ok(Response::json(200, &json!({})))
}

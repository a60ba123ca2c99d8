//! `auth.type = "github"`: the bearer token is a GitHub personal access token. GitHub says who
//! it belongs to (`GET /user`) and what it may do with a repository (`GET /repos/{o}/{r}`:
//! `permissions.pull` installs, `push` publishes). Answers are cached per (SHA-256 of the token,
//! URL) in SQLite, used for `auth.github.cache.ttl` seconds, then revalidated with
//! `If-None-Match` (a 304 costs nothing against GitHub's rate limit).

use crate::app::App;
use crate::error::{Error, Result};
use crate::store::db::Connection;
use crate::store::meta;
use serde_json::Value;

/// A GitHub repository as `owner/name`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repo {
    pub owner: String,
    pub name: String,
}

impl Repo {
    /// `owner/name`, the stored form.
    pub fn full(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }

    /// Parses the stored `owner/name` form.
    pub fn from_full(s: &str) -> Option<Repo> {
        let (o, n) = s.split_once('/')?;
        Some(Repo {
            owner: o.to_string(),
            name: n.to_string(),
        })
    }
}

fn valid_part(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && s != "."
        && s != ".."
}

/// Reads package.json's `repository` (a string or `{type, url}`) in every form npm accepts:
/// `git+https://HOST/o/r.git`, `https://HOST/o/r`, `git@HOST:o/r.git`, `ssh://git@HOST/o/r`,
/// `git://HOST/o/r.git`, `github:o/r`, `o/r`. A URL must be on the configured GitHub host.
pub fn parse_repository(v: &Value, host: &str) -> std::result::Result<Repo, String> {
    let raw = match v {
        Value::String(s) => s.as_str(),
        Value::Object(o) => o
            .get("url")
            .and_then(Value::as_str)
            .ok_or("repository has no url")?,
        _ => return Err("repository must be a string or {type, url}".into()),
    };
    let raw = raw.trim();
    let path = if let Some(rest) = raw.strip_prefix("github:") {
        rest.to_string()
    } else if let Some(rest) = raw.strip_prefix("git@") {
        let (h, p) = rest
            .split_once(':')
            .ok_or_else(|| format!("cannot read repository {raw:?}"))?;
        if !h.eq_ignore_ascii_case(host) {
            return Err(format!("repository {raw:?} is not on {host}"));
        }
        p.to_string()
    } else if raw.contains("://") {
        let after = raw.split_once("://").map(|(_, r)| r).unwrap_or("");
        let after = after.rsplit_once('@').map_or(after, |(_, r)| r);
        let (h, p) = after
            .split_once('/')
            .ok_or_else(|| format!("cannot read repository {raw:?}"))?;
        let h = h.split(':').next().unwrap_or(h);
        if !h.eq_ignore_ascii_case(host) {
            return Err(format!("repository {raw:?} is not on {host}"));
        }
        p.to_string()
    } else {
        raw.to_string()
    };
    let path = path.trim_end_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    let mut parts = path.split('/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(o), Some(n), None) if valid_part(o) && valid_part(n) => Ok(Repo {
            owner: o.to_string(),
            name: n.to_string(),
        }),
        _ => Err(format!("cannot read an owner/repository from {raw:?}")),
    }
}

/// The scope rule: a scoped package's scope is its repository's owner; an unscoped package
/// needs `auth.github.allow_unscoped`. The `Err` says what to change.
pub fn scope_rule(pkg: &str, repo: &Repo, allow_unscoped: bool) -> std::result::Result<(), String> {
    match crate::name::scope(pkg) {
        Some(scope) if !scope.eq_ignore_ascii_case(&repo.owner) => Err(format!(
            "the scope of {pkg} must be the repository owner: @{} for {}",
            repo.owner.to_lowercase(),
            repo.full()
        )),
        None if !allow_unscoped => Err(format!(
            "unscoped packages cannot be published with GitHub authentication; name it @{}/{pkg} (or set auth.github.allow_unscoped)",
            repo.owner.to_lowercase()
        )),
        _ => Ok(()),
    }
}

/// What a token may do with a repository.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Permission {
    pub pull: bool,
    pub push: bool,
}

fn unavailable(api: &str, why: impl std::fmt::Display) -> Error {
    Error::Unavailable(format!(
        "GitHub ({api}) could not answer the permission check: {why}; try again later"
    ))
}

/// GETs `path` from the API as the token's owner, through the cache. Returns status and body.
fn get(app: &App, conn: &Connection, token: &str, path: &str) -> Result<(u16, String)> {
    let api = &app.config.auth.github_api;
    let url = format!("{api}{path}");
    let key = format!("{} {url}", super::local::token_hash(token));
    let now = super::local::unix_now();
    let cached = meta::github_cached(conn, &key)?;
    if let Some(c) = &cached {
        if now - c.fetched < app.config.auth.github_cache_ttl as i64 {
            return Ok((c.status, c.body.clone()));
        }
    }
    let mut req = app
        .github
        .get(&url)
        .header("Authorization", format!("Bearer {token}"))
        .header("Accept", "application/vnd.github+json")
        .header("X-GitHub-Api-Version", "2022-11-28");
    if let Some(etag) = cached.as_ref().and_then(|c| c.etag.as_deref()) {
        req = req.header("If-None-Match", etag);
    }
    let mut resp = req.call().map_err(|e| unavailable(api, e))?;
    let status = resp.status().as_u16();
    let header = |n: &str| {
        resp.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let etag = header("etag");
    let remaining = header("x-ratelimit-remaining");
    let reset = header("x-ratelimit-reset");
    if status == 304 {
        if let Some(mut c) = cached {
            c.fetched = now;
            meta::github_store(conn, &key, &c)?;
            return Ok((c.status, c.body));
        }
    }
    if status == 429 || (status == 403 && remaining.as_deref() == Some("0")) {
        return Err(unavailable(
            api,
            format!(
                "rate limit reached (resets at unix time {})",
                reset.unwrap_or_else(|| "?".into())
            ),
        ));
    }
    if status >= 500 || status == 304 {
        return Err(unavailable(api, format!("HTTP {status}")));
    }
    let body = resp
        .body_mut()
        .read_to_string()
        .map_err(|e| unavailable(api, e))?;
    // 200 and 404 (no such repository, or no access) are answers worth keeping; a 401 is not,
    // so a fixed token works at once.
    if status == 200 || status == 404 {
        meta::github_store(
            conn,
            &key,
            &meta::Cached {
                status,
                etag,
                body: body.clone(),
                fetched: now,
            },
        )?;
    }
    Ok((status, body))
}

/// The login that owns the token. A token GitHub refused within the last minute is refused
/// again without asking (see [`super::rejected`]).
pub fn user(app: &App, conn: &Connection, token: &str) -> Result<String> {
    let digest = super::local::token_hash(token);
    if app
        .github_rejected
        .recently(&digest, std::time::Instant::now())
    {
        return Err(bad_credentials());
    }
    let (status, body) = get(app, conn, token, "/user")?;
    if status == 401 {
        app.github_rejected
            .refused(digest, std::time::Instant::now());
    }
    match status {
        200 => serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| v["login"].as_str().map(str::to_string))
            .ok_or_else(|| unavailable(&app.config.auth.github_api, "GET /user had no login")),
        401 => Err(bad_credentials()),
        other => Err(Error::Forbidden(format!(
            "GitHub answered {other} for the token's user; check the token's scopes"
        ))),
    }
}

fn bad_credentials() -> Error {
    Error::Unauthorized("GitHub does not accept this token (Bad credentials); put a valid personal access token in .npmrc as _authToken".into())
}

/// What the token may do with `repo`. A 404 means no access: GitHub hides private
/// repositories that way.
pub fn permission(app: &App, conn: &Connection, token: &str, repo: &Repo) -> Result<Permission> {
    let (status, body) = get(
        app,
        conn,
        token,
        &format!("/repos/{}/{}", repo.owner, repo.name),
    )?;
    match status {
        200 => {
            let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            let p = &v["permissions"];
            let flag = |k: &str| p[k].as_bool().unwrap_or(false);
            let push = flag("push") || flag("maintain") || flag("admin");
            Ok(Permission {
                pull: push || flag("pull"),
                push,
            })
        }
        404 | 403 => Ok(Permission::default()),
        401 => Err(Error::Unauthorized(
            "GitHub does not accept this token (Bad credentials)".into(),
        )),
        other => Err(unavailable(
            &app.config.auth.github_api,
            format!("HTTP {other}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_every_repository_form() {
        let want = Ok(Repo {
            owner: "acme".into(),
            name: "widget".into(),
        });
        for form in [
            json!("git+https://github.com/acme/widget.git"),
            json!("https://github.com/acme/widget"),
            json!("git@github.com:acme/widget.git"),
            json!("ssh://git@github.com/acme/widget.git"),
            json!("git://github.com/acme/widget.git"),
            json!("github:acme/widget"),
            json!("acme/widget"),
            json!({"type": "git", "url": "git+https://github.com/acme/widget.git"}),
            json!("https://GitHub.com/acme/widget/"),
        ] {
            assert_eq!(parse_repository(&form, "github.com"), want, "{form}");
        }
    }

    #[test]
    fn refuses_other_hosts_and_junk() {
        assert!(parse_repository(
            &json!("https://gitlab.example.test/acme/widget"),
            "github.com"
        )
        .is_err());
        assert!(parse_repository(
            &json!("git@gitlab.example.test:acme/widget.git"),
            "github.com"
        )
        .is_err());
        assert!(parse_repository(&json!("acme"), "github.com").is_err());
        assert!(parse_repository(&json!("acme/widget/extra"), "github.com").is_err());
        assert!(parse_repository(&json!("../etc"), "github.com").is_err());
        assert!(parse_repository(&json!(5), "github.com").is_err());
        assert_eq!(
            parse_repository(
                &json!("https://ghe.corp.test/Acme/Widget.git"),
                "ghe.corp.test"
            )
            .unwrap()
            .full(),
            "Acme/Widget"
        );
    }
}

//! Who is calling, and what they may do. Every endpoint declares the access it needs in the
//! routing table ([`Access`]); package-level write checks always use the package named in the
//! URL. Three modes: `none` (anyone may do anything), `local` (accounts and tokens kept by nmr;
//! maintainers decide who writes unscoped packages, organisations scoped ones: see `orgs`) and
//! `github` (GitHub tokens, repository permissions decide).

pub mod github;
pub mod hashing;
pub mod identity;
pub mod legacy;
pub mod local;
pub mod orgs;
pub mod rejected;
pub mod throttle;

pub use identity::Identity;

use crate::app::Ctx;
use crate::config::AuthType;
use crate::error::{Error, Result};
use crate::http::Request;
use crate::store::meta;
use serde_json::Value;

/// The access an endpoint needs, checked before its handler runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone (ping, login, audit).
    Open,
    /// Installing and reading: `auth.read`, and in github mode read access to the repository
    /// of the package in the URL.
    Read,
    /// Any authenticated caller (whoami, tokens, starring).
    Account,
    /// Changing the package in the URL: an authenticated, non-read-only caller who is a
    /// maintainer (local) or may push to its repository (github). Checked when the package
    /// exists; creating one is checked by the publish handler, which knows the repository.
    Write,
    /// `PUT /<name>`: publishing and deprecating (write) or starring (any account), told apart
    /// by the body. From the head alone: a body that may be a star needs an account; a larger
    /// or unannounced one can only be a publish or a deprecation, so a caller who may not write
    /// the package is refused before it is received. What needs the body to decide (a new
    /// package's repository in github mode) is left to the handler.
    Publish,
}

/// Largest body a star sends (`{_id, _rev, users}`); a larger `PUT /<name>` body can only be a
/// publish or a deprecation.
pub const STAR_BODY: u64 = 1 << 20;

fn need_login(ctx: &Ctx) -> Error {
    Error::Unauthorized(match ctx.app.config.auth.kind {
        AuthType::GitHub => "this registry needs a GitHub personal access token: put it in .npmrc as //HOST/:_authToken=<token>".into(),
        _ => "this registry needs you to log in: run npm login".into(),
    })
}

/// Works out the caller from the request's credentials.
pub fn identify(ctx: &mut Ctx, req: &Request) -> Result<Identity> {
    if ctx.app.config.auth.kind == AuthType::Local
        && req.bearer().is_none()
        && req.basic().is_some()
    {
        return Err(Error::Unauthorized(
            "send a token (Authorization: Bearer), not a password; npm login gives you one".into(),
        ));
    }
    from_token(ctx, req.bearer(), req.remote)
}

/// The caller a token stands for (`None`: no token), whether it came in an `Authorization`
/// header or in the web UI's session cookie. `from` is the peer, for address-limited tokens.
pub fn from_token(
    ctx: &mut Ctx,
    token: Option<&str>,
    from: Option<std::net::IpAddr>,
) -> Result<Identity> {
    let app = ctx.app;
    match (app.config.auth.kind, token) {
        (AuthType::None, _) => Ok(Identity::Anyone),
        (_, None) => Ok(Identity::Nobody),
        (AuthType::Local, Some(token)) => {
            let t = local::verify_token(ctx.db, token, from)?;
            let email = meta::user(ctx.db, &t.user)?
                .map(|u| u.email)
                .unwrap_or_default();
            Ok(Identity::User {
                name: t.user,
                email,
                readonly: t.readonly,
            })
        }
        (AuthType::GitHub, Some(token)) => {
            let login = github::user(app, ctx.db, token)?;
            Ok(Identity::GitHub {
                login,
                token: token.to_string(),
            })
        }
    }
}

/// Checks the route's declared access. `pkg` is the package in the URL, if any; `req` is read
/// for its head only (the body has not arrived).
pub fn check(ctx: &mut Ctx, access: Access, pkg: &str, req: &Request) -> Result<()> {
    if matches!(ctx.who, Identity::Anyone) || access == Access::Open {
        return Ok(());
    }
    match access {
        Access::Open => Ok(()),
        Access::Read => {
            if ctx.app.config.auth.read_public {
                return Ok(());
            }
            if ctx.who == Identity::Nobody {
                // `npm access set status=public` opens one package (local mode).
                if !pkg.is_empty() && can_read(ctx, pkg)? {
                    return Ok(());
                }
                return Err(need_login(ctx));
            }
            if !pkg.is_empty() && !can_read(ctx, pkg)? {
                return Err(hidden(pkg));
            }
            Ok(())
        }
        Access::Account => match ctx.who {
            Identity::Nobody => Err(need_login(ctx)),
            _ => Ok(()),
        },
        Access::Write => {
            if meta::package(ctx.db, pkg)?.is_some() {
                check_write(ctx, pkg, None).map(|_| ())
            } else {
                // Every write route changes an existing package. Saying so before the handler
                // reads its input makes a name that is not here answer as one the caller may
                // not read does (`hidden`), whatever else is wrong with the request.
                writer(ctx)?;
                Err(hidden(pkg))
            }
        }
        Access::Publish => {
            check(ctx, Access::Account, pkg, req)?;
            let declared = req
                .header("content-length")
                .and_then(|v| v.parse::<u64>().ok());
            if declared.is_some_and(|n| n <= STAR_BODY) {
                return Ok(());
            }
            // A new package's check needs the body only in github mode, whose check then
            // fails with 400, which is left to the handler.
            let refused = check_write(ctx, pkg, None).map(|_| ());
            match refused {
                Err(e @ (Error::Unauthorized(_) | Error::Forbidden(_) | Error::NotFound(_))) => {
                    Err(e)
                }
                _ => Ok(()),
            }
        }
    }
}

/// At start: says how many packages nobody may change until the operator acts, and how. In
/// github mode those without a repository (nobody may read them either); in local mode those
/// without maintainers.
pub fn warn_ownerless(app: &crate::app::App) -> Result<()> {
    let db = app.connect()?;
    let (names, what, fix) = match app.config.auth.kind {
        AuthType::GitHub => (
            meta::unassigned(&db)?,
            "have no GitHub repository, so nobody may read or write them",
            "list them with `nmr package unassigned`, assign each with `nmr package set-repo NAME OWNER/REPO`",
        ),
        AuthType::Local => (
            meta::unowned(&db)?,
            "have no maintainers, so nobody may change them",
            "list them with `nmr package unowned`, name one with `nmr package add-owner NAME USER`",
        ),
        AuthType::None => return Ok(()),
    };
    if let Some(first) = names.first() {
        crate::warn!("{} packages {what} (e.g. {first}): {fix}", names.len());
    }
    Ok(())
}

/// Whether a caller's reads depend on the package (github mode without `auth.read = public`,
/// local mode with `auth.read = members`): then every listing, count and search total must
/// leave out what the caller may not read.
pub fn reads_vary(ctx: &Ctx) -> bool {
    let auth = &ctx.app.config.auth;
    match auth.kind {
        AuthType::GitHub => !auth.read_public,
        AuthType::Local => auth.read_members,
        AuthType::None => false,
    }
}

/// What a caller who may not read `pkg` is told, whatever they asked: exactly what they would
/// be told if there were no such package, so that a refusal does not confirm the name exists.
pub fn hidden(pkg: &str) -> Error {
    crate::packument::not_found(pkg)
}

/// Whether the caller may read `pkg` (github mode asks GitHub; local mode lets every account
/// read, or with `auth.read = members` asks the package's organisation, and lets anyone read a
/// package opened with `npm access set status=public`). A name that is not here is readable:
/// the handler's 404, or the upstream, answers for it.
pub fn can_read(ctx: &mut Ctx, pkg: &str) -> Result<bool> {
    let auth = &ctx.app.config.auth;
    if auth.read_public {
        return Ok(true);
    }
    let local = auth.kind == AuthType::Local;
    let members = auth.read_members;
    match ctx.who.clone() {
        Identity::Anyone => Ok(true),
        Identity::User { name, .. } if members => orgs::member_reads(ctx.db, &name, pkg),
        Identity::User { .. } => Ok(true),
        Identity::Nobody => Ok(local && meta::is_public(ctx.db, pkg)?),
        Identity::GitHub { token, .. } => match meta::repository(ctx.db, pkg)? {
            None => Ok(true),
            // No repository, no one to ask: nobody reads it until the operator assigns one
            // (`nmr package set-repo`). Letting everyone read it was the first step of a takeover.
            Some(None) => Ok(false),
            Some(Some(r)) => {
                let repo = stored_repo(pkg, &r)?;
                Ok(github::permission(ctx.app, ctx.db, &token, &repo)?.pull)
            }
        },
    }
}

/// The items of a listing whose package (`name` of each) the caller may read, in order.
pub fn readable<T>(ctx: &mut Ctx, items: Vec<T>, name: impl Fn(&T) -> &str) -> Result<Vec<T>> {
    if !reads_vary(ctx) {
        return Ok(items);
    }
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        if can_read(ctx, name(&item))? {
            out.push(item);
        }
    }
    Ok(out)
}

/// The names in a package's maintainers JSON.
pub fn maintainer_names(json_list: &str) -> Vec<String> {
    serde_json::from_str::<Vec<Value>>(json_list)
        .unwrap_or_default()
        .iter()
        .filter_map(|m| m.get("name").and_then(Value::as_str).map(str::to_string))
        .collect()
}

/// Unscoped packages, and those of a scope without an organisation: maintainers write.
fn maintainer_rule(name: &str, pkg: &str, maintainers: &str) -> Result<Option<String>> {
    let maintainers = maintainer_names(maintainers);
    if maintainers.iter().any(|m| m == name) {
        Ok(None)
    } else if maintainers.is_empty() {
        // Imported, or published while auth.type was none: nobody's until the operator names
        // a maintainer. Taking it for whoever wrote first let any account take over a
        // migrated registry's packages.
        Err(Error::Forbidden(format!("{pkg} has no maintainers (it was imported, or published without authentication), so nobody may change it until the operator names one: nmr package add-owner {pkg} USER")))
    } else {
        Err(Error::Forbidden(format!("{name} is not a maintainer of {pkg}; a maintainer can add you with npm owner add {name} {pkg}")))
    }
}

fn stored_repo(pkg: &str, r: &str) -> Result<github::Repo> {
    github::Repo::from_full(r)
        .ok_or_else(|| Error::Internal(format!("stored repository {r:?} of {pkg}")))
}

/// The caller, if they may write at all (authenticated, and not through a read-only token).
fn writer<'a>(ctx: &'a Ctx<'_>) -> Result<&'a Identity> {
    match &ctx.who {
        Identity::Nobody => Err(need_login(ctx)),
        Identity::User { readonly: true, .. } => Err(Error::Forbidden(
            "this token is read-only; use a token that may publish".into(),
        )),
        who => Ok(who),
    }
}

/// Checks that the caller may change `pkg`. For a package that does not exist yet (a first
/// publish), `body_repo` is the publish body's `repository`, which github mode needs.
/// Returns the repository to record for a new package in github mode.
pub fn check_write(ctx: &mut Ctx, pkg: &str, body_repo: Option<&Value>) -> Result<Option<String>> {
    let who = writer(ctx)?.clone();
    match who {
        Identity::Anyone => Ok(None),
        Identity::Nobody => Err(need_login(ctx)),
        Identity::User { name, .. } => {
            let p = meta::package(ctx.db, pkg)?;
            if p.is_some() && !can_read(ctx, pkg)? {
                return Err(hidden(pkg));
            }
            if let Some(org) = orgs::org_of(ctx.db, pkg)? {
                let maintainers = p.as_ref().map(|p| maintainer_names(&p.maintainers));
                orgs::may_write(ctx.db, &name, &org, pkg, maintainers.as_deref())??;
                return Ok(None);
            }
            match (p, crate::name::scope(pkg)) {
                (None, Some(scope)) => {
                    orgs::claimable(ctx.db, ctx.app.config.auth.claim_scopes, scope)?;
                    Ok(None)
                }
                (None, None) => Ok(None),
                (Some(p), _) => maintainer_rule(&name, pkg, &p.maintainers),
            }
        }
        Identity::GitHub { login, token } => {
            let cfg = &ctx.app.config.auth;
            let repo = match meta::repository(ctx.db, pkg)? {
                // An unassigned package is nobody's to write, whatever the body claims: the
                // first publisher used to become its owner.
                Some(None) => return Err(hidden(pkg)),
                Some(Some(r)) => {
                    let repo = stored_repo(pkg, &r)?;
                    let perm = github::permission(ctx.app, ctx.db, &token, &repo)?;
                    if !perm.pull {
                        return Err(hidden(pkg));
                    }
                    github::scope_rule(pkg, &repo, cfg.github_allow_unscoped)
                        .map_err(Error::Forbidden)?;
                    if !perm.push {
                        return Err(Error::Forbidden(format!("{login} may not write to {}, so may not change {pkg}; ask for write access to the repository", repo.full())));
                    }
                    return Ok(None);
                }
                None => {
                    let v = body_repo.ok_or_else(|| Error::BadRequest(format!("{pkg} has no repository field: with GitHub authentication, package.json must name the GitHub repository that decides who may publish")))?;
                    github::parse_repository(v, &cfg.github_host).map_err(Error::BadRequest)?
                }
            };
            github::scope_rule(pkg, &repo, cfg.github_allow_unscoped).map_err(Error::Forbidden)?;
            if !github::permission(ctx.app, ctx.db, &token, &repo)?.push {
                return Err(Error::Forbidden(format!("{login} may not write to {}, so may not create {pkg}; ask for write access to the repository", repo.full())));
            }
            Ok(Some(repo.full()))
        }
    }
}

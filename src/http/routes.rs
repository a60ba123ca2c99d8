//! The routing table: every endpoint nmr serves, in one list. Paths are percent-decoded once
//! before matching, so `@scope%2fname`, `@scope%2Fname`, `%40scope%2Fname` and a raw `/` all
//! reach the same handler with the name `@scope/name`. Web pages (`/` and `/-/web/...`) are
//! routes like any other; their caller comes from the session cookie and their errors are pages.

use crate::app::Ctx;
use crate::auth::{self, Access};
use crate::error::{Error, Result};
use crate::http::{BodyLimit, Method, Request, Response, AUDIT_BODY, SMALL_BODY};
use crate::{
    api::access, api::audit, api::health, api::org, api::publish, api::revision, api::search,
    api::star, api::tags, api::tarball, api::team, api::user, name, uplink, web,
};

/// One path segment of a route pattern.
#[derive(Debug)]
pub enum Seg {
    /// Exactly this text.
    Lit(&'static str),
    /// A package name: `@scope/name` (two segments) or `name` (one).
    Pkg,
    /// Any one segment (a version, tag or file name).
    Param,
}

/// What a pattern captured: the package name and each `Param` in order.
#[derive(Debug, Default, PartialEq)]
pub struct Params {
    pub pkg: String,
    pub args: Vec<String>,
}

impl Params {
    /// The `i`th captured segment.
    fn arg(&self, i: usize) -> &str {
        &self.args[i]
    }
}

type Handler = fn(&mut Ctx, &mut Request, &Params) -> Result<Response>;

/// A method, a path pattern, the access it needs and its handler. `GET` routes also answer
/// `HEAD`.
pub struct Route {
    pub method: Method,
    pub access: Access,
    pub pattern: &'static [Seg],
    pub handler: Handler,
}

use Method::{Delete, Get, Post, Put};
use Seg::{Lit, Param, Pkg};

macro_rules! route {
    ($method:ident $access:ident [$($seg:expr),*] $handler:expr) => {
        Route { method: $method, access: Access::$access, pattern: &[$($seg),*], handler: $handler }
    };
}

/// Every endpoint. The web UI's pages come first, then registry-own paths under `/-/`; package
/// paths follow.
#[rustfmt::skip]
pub static ROUTES: &[Route] = &[
    route!(Get Read [Lit("")] |c, r, _| web::pages::home(c, r)),
    route!(Get Read [Lit("-"), Lit("web"), Lit("search")] |c, r, _| web::pages::search(c, r)),
    route!(Get Read [Lit("-"), Lit("web"), Lit("package"), Pkg] |c, r, p| web::package::package(c, r, &p.pkg)),
    route!(Get Read [Lit("-"), Lit("web"), Lit("package"), Pkg, Lit("v"), Param] |c, r, p| web::package::version(c, r, &p.pkg, p.arg(0))),
    route!(Get Read [Lit("-"), Lit("web"), Lit("org"), Param] |c, r, p| web::org::page(c, r, p.arg(0))),
    route!(Get Open [Lit("-"), Lit("web"), Lit("static"), Param] |c, r, p| web::static_file(c, r, p.arg(0))),
    // The login form checks the credentials itself; the logout form carries its own.
    route!(Get Open [Lit("-"), Lit("web"), Lit("login")] |c, r, _| web::session::login_page(c, r)),
    route!(Post Open [Lit("-"), Lit("web"), Lit("login")] |c, r, _| web::session::login(c, r)),
    route!(Post Open [Lit("-"), Lit("web"), Lit("logout")] |c, r, _| web::session::logout(c, r)),
    // npm's web login: the browser logs in with the form above, npm polls the done URL.
    route!(Post Open [Lit("-"), Lit("v1"), Lit("login")] |c, r, _| web::session::npm_start(c, r)),
    route!(Get Open [Lit("-"), Lit("v1"), Lit("login"), Lit("done"), Param] |c, r, p| web::session::npm_done(c, r, p.arg(0))),
    route!(Get Open [Lit("-"), Lit("ping")] |c, _, _| health::ping(c)),
    // Counts only (routes, statuses, bytes): nothing a scraper must log in to see.
    route!(Get Open [Lit("-"), Lit("metrics")] |c, _, _| metrics(c)),
    route!(Get Account [Lit("-"), Lit("whoami")] |c, r, _| user::whoami(c, r)),
    route!(Get Read [Lit("-"), Lit("v1"), Lit("search")] |c, r, _| search::get(c, r)),
    route!(Get Read [Lit("-"), Lit("_view"), Lit("starredByUser")] |c, r, _| star::starred_by(c, r)),
    route!(Post Open [Lit("-"), Lit("npm"), Lit("v1"), Lit("security"), Lit("advisories"), Lit("bulk")] |c, r, _| audit::bulk(c, r)),
    route!(Post Open [Lit("-"), Lit("npm"), Lit("v1"), Lit("security"), Lit("audits"), Lit("quick")] |c, r, _| audit::tree(c, r)),
    route!(Post Open [Lit("-"), Lit("npm"), Lit("v1"), Lit("security"), Lit("audits")] |c, r, _| audit::tree(c, r)),
    route!(Get Account [Lit("-"), Lit("npm"), Lit("v1"), Lit("tokens")] |c, r, _| user::tokens(c, r)),
    route!(Post Account [Lit("-"), Lit("npm"), Lit("v1"), Lit("tokens")] |c, r, _| user::token_create(c, r)),
    route!(Delete Account [Lit("-"), Lit("npm"), Lit("v1"), Lit("tokens"), Lit("token"), Param] |c, r, p| user::token_revoke(c, r, p.arg(0))),
    // The token in the path is the credential being given up, so logout needs no other.
    route!(Delete Open [Lit("-"), Lit("user"), Lit("token"), Param] |c, r, p| user::logout(c, r, p.arg(0))),
    route!(Get Read [Lit("-"), Lit("user"), Param, Lit("package")] |c, r, p| access::user_packages(c, r, p.arg(0))),
    route!(Get Account [Lit("-"), Lit("user"), Param] |c, r, p| user::profile(c, r, p.arg(0))),
    // Login checks the password in the body itself.
    route!(Put Open [Lit("-"), Lit("user"), Param] |c, r, p| user::login(c, r, p.arg(0))),
    route!(Put Open [Lit("-"), Lit("user"), Param, Lit("-rev"), Param] |c, r, p| user::login(c, r, p.arg(0))),
    route!(Get Read [Lit("-"), Lit("org"), Param, Lit("package")] |c, r, p| access::scope_packages(c, r, p.arg(0))),
    route!(Get Read [Lit("-"), Lit("package"), Pkg, Lit("dist-tags")] tag_list),
    route!(Put Write [Lit("-"), Lit("package"), Pkg, Lit("dist-tags"), Param] |c, r, p| tags::set(c, r, &p.pkg, p.arg(0))),
    route!(Delete Write [Lit("-"), Lit("package"), Pkg, Lit("dist-tags"), Param] |c, r, p| tags::remove(c, r, &p.pkg, p.arg(0))),
    route!(Get Read [Lit("-"), Lit("package"), Pkg, Lit("collaborators")] |c, r, p| access::collaborators(c, r, &p.pkg)),
    route!(Get Read [Lit("-"), Lit("package"), Pkg, Lit("visibility")] |c, r, p| access::visibility(c, r, &p.pkg)),
    route!(Post Write [Lit("-"), Lit("package"), Pkg, Lit("access")] |c, r, p| access::set_access(c, r, &p.pkg)),
    // Organisations and teams (local mode): the handlers check the caller's role.
    route!(Get Account [Lit("-"), Lit("org"), Param, Lit("user")] |c, r, p| org::members(c, r, p.arg(0))),
    route!(Put Account [Lit("-"), Lit("org"), Param, Lit("user")] |c, r, p| org::set_member(c, r, p.arg(0))),
    route!(Delete Account [Lit("-"), Lit("org"), Param, Lit("user")] |c, r, p| org::remove_member(c, r, p.arg(0))),
    route!(Get Account [Lit("-"), Lit("org"), Param, Lit("team")] |c, r, p| org::teams(c, r, p.arg(0))),
    route!(Put Account [Lit("-"), Lit("org"), Param, Lit("team")] |c, r, p| org::create_team(c, r, p.arg(0))),
    route!(Delete Account [Lit("-"), Lit("team"), Param, Param] |c, r, p| team::destroy(c, r, p.arg(0), p.arg(1))),
    route!(Get Account [Lit("-"), Lit("team"), Param, Param, Lit("user")] |c, r, p| team::users(c, r, p.arg(0), p.arg(1))),
    route!(Put Account [Lit("-"), Lit("team"), Param, Param, Lit("user")] |c, r, p| team::add_user(c, r, p.arg(0), p.arg(1))),
    route!(Delete Account [Lit("-"), Lit("team"), Param, Param, Lit("user")] |c, r, p| team::remove_user(c, r, p.arg(0), p.arg(1))),
    route!(Get Account [Lit("-"), Lit("team"), Param, Param, Lit("package")] |c, r, p| team::packages(c, r, p.arg(0), p.arg(1))),
    route!(Put Account [Lit("-"), Lit("team"), Param, Param, Lit("package")] |c, r, p| team::grant(c, r, p.arg(0), p.arg(1))),
    route!(Delete Account [Lit("-"), Lit("team"), Param, Param, Lit("package")] |c, r, p| team::revoke(c, r, p.arg(0), p.arg(1))),
    route!(Get Read [Pkg] packument_get),
    // One URL for publish, deprecate and star: the head decides what it can, the handler the rest.
    route!(Put Publish [Pkg] |c, r, p| publish::put(c, r, &p.pkg)),
    route!(Put Write [Pkg, Lit("-rev"), Param] |c, r, p| revision::put(c, r, &p.pkg, p.arg(0))),
    route!(Delete Write [Pkg, Lit("-rev"), Param] |c, r, p| revision::delete_package(c, r, &p.pkg, p.arg(0))),
    route!(Get Read [Pkg, Lit("-"), Param] tarball_get),
    route!(Delete Write [Pkg, Lit("-"), Param, Lit("-rev"), Param] |c, r, p| revision::delete_tarball(c, r, &p.pkg, p.arg(0), p.arg(1))),
    route!(Get Read [Pkg, Param] version_get),
];

/// `GET /-/metrics`: here, since the counters are listed by route pattern, which only the
/// routing table knows.
fn metrics(ctx: &mut Ctx) -> Result<Response> {
    let app = ctx.app;
    let text = app
        .metrics
        .render(ctx.db, app.uplink.errors(), &app.notifier, pattern)?;
    Ok(Response {
        status: 200,
        headers: vec![("Content-Type", "text/plain; version=0.0.4".into())],
        body: crate::http::Body::Bytes(text.into_bytes()),
    })
}

// The GET handlers of package paths ask the uplink first: it answers only for names nmr does
// not hold (see `uplink`), and nmr answers for everything else.

fn tag_list(ctx: &mut Ctx, req: &mut Request, p: &Params) -> Result<Response> {
    match uplink::dist_tags(ctx, req, &p.pkg)? {
        Some(r) => Ok(r),
        None => tags::list(ctx, req, &p.pkg),
    }
}

fn packument_get(ctx: &mut Ctx, req: &mut Request, p: &Params) -> Result<Response> {
    match uplink::packument(ctx, req, &p.pkg)? {
        Some(r) => Ok(r),
        None => crate::api::packument::get(ctx, req, &p.pkg),
    }
}

fn tarball_get(ctx: &mut Ctx, req: &mut Request, p: &Params) -> Result<Response> {
    match uplink::tarball(ctx, req, &p.pkg, p.arg(0))? {
        Some(r) => Ok(r),
        None => tarball::get(ctx, req, &p.pkg, p.arg(0)),
    }
}

fn version_get(ctx: &mut Ctx, req: &mut Request, p: &Params) -> Result<Response> {
    match uplink::version(ctx, req, &p.pkg, p.arg(0))? {
        Some(r) => Ok(r),
        None => crate::api::packument::get_version(ctx, req, &p.pkg, p.arg(0)),
    }
}

/// Matches decoded path segments against a pattern.
fn matches(pattern: &[Seg], segs: &[&str]) -> Option<Params> {
    let mut p = Params::default();
    let mut i = 0;
    for seg in pattern {
        let s = *segs.get(i)?;
        match seg {
            Lit(l) if s == *l => i += 1,
            Lit(_) => return None,
            // `-` is never a package: `/-/...` belongs to the registry.
            Pkg if s.is_empty() || s == "-" => return None,
            Pkg if s.starts_with('@') => {
                let n = segs.get(i + 1).filter(|n| !n.is_empty())?;
                p.pkg = format!("{s}/{n}");
                i += 2;
            }
            Pkg => {
                p.pkg = s.to_string();
                i += 1;
            }
            Param if s.is_empty() => return None,
            Param => {
                p.args.push(s.to_string());
                i += 1;
            }
        }
    }
    (i == segs.len()).then_some(p)
}

/// A route's path pattern as text, e.g. `/{pkg}/-/{}`: how metrics name routes.
pub fn pattern(i: usize) -> String {
    ROUTES[i]
        .pattern
        .iter()
        .map(|s| match s {
            Lit(l) => format!("/{l}"),
            Pkg => "/{pkg}".into(),
            Param => "/{}".into(),
        })
        .collect()
}

/// What the routing table decided from a request's head, before its body is read.
pub enum Admitted {
    /// The answer needs no handler (a browser sent to a package's page).
    Answer(Response),
    /// The route to run, its captures, and whether its errors are pages.
    Run {
        route: usize,
        params: Params,
        page: bool,
    },
}

/// The largest body route `i` accepts: `settings.max_body_size` for the two that carry package
/// documents (publish, deprecate and unpublish), limits sized to what clients send elsewhere.
pub fn body_limit(i: usize, max_body_size: u64) -> BodyLimit {
    let r = &ROUTES[i];
    match (r.method, r.pattern) {
        (Put, [Pkg] | [Pkg, Lit("-rev"), Param]) => BodyLimit::max_body_size(max_body_size),
        (Post, [Lit("-"), Lit("npm"), Lit("v1"), Lit("security"), ..]) => AUDIT_BODY.into(),
        _ => SMALL_BODY.into(),
    }
}

/// Finds the route for a request and checks its caller, from the head alone: a request that
/// will be refused is refused before its body is read. Also says which route it was (its
/// index in [`ROUTES`]), for the metrics. A browser opening a package's registry URL is sent
/// to its page, and a page's error is answered with a page.
pub fn admit(ctx: &mut Ctx, req: &mut Request) -> (Option<usize>, Result<Admitted>) {
    let path = match name::percent_decode(&req.path) {
        Ok(p) => p,
        Err(e) => return (None, Err(e)),
    };
    let segs: Vec<&str> = path.strip_prefix('/').unwrap_or(&path).split('/').collect();
    if matches!(req.method, Get | Method::Head) {
        let wanted = matches(&[Pkg], &segs)
            .map(|p| (p.pkg, None))
            .or_else(|| matches(&[Pkg, Param], &segs).map(|mut p| (p.pkg, p.args.pop())));
        if let Some(r) = wanted
            .and_then(|(pkg, version)| web::browser_redirect(ctx, req, &pkg, version.as_deref()))
        {
            return (None, Ok(Admitted::Answer(r)));
        }
    }
    let page = web::is_page(&segs);
    match find(ctx, req, &segs, page) {
        (i, Err(e)) if page => (i, Ok(Admitted::Answer(web::error_page(ctx, req, &e)))),
        other => other,
    }
}

/// Runs an admitted route's handler.
pub fn run(
    ctx: &mut Ctx,
    req: &mut Request,
    route: usize,
    params: &Params,
    page: bool,
) -> Result<Response> {
    match (ROUTES[route].handler)(ctx, req, params) {
        Err(e) if page => Ok(web::error_page(ctx, req, &e)),
        other => other,
    }
}

/// [`admit`] and [`run`] in one step, for the in-process fixtures (the listener reads the body
/// between the two).
#[cfg(test)]
pub fn dispatch(ctx: &mut Ctx, req: &mut Request) -> (Option<usize>, Result<Response>) {
    match admit(ctx, req) {
        (
            i,
            Ok(Admitted::Run {
                route,
                params,
                page,
            }),
        ) => (i, run(ctx, req, route, &params, page)),
        (i, Ok(Admitted::Answer(r))) => (i, Ok(r)),
        (i, Err(e)) => (i, Err(e)),
    }
}

fn find(
    ctx: &mut Ctx,
    req: &mut Request,
    segs: &[&str],
    page: bool,
) -> (Option<usize>, Result<Admitted>) {
    let mut path_known = false;
    for (i, route) in ROUTES.iter().enumerate() {
        if let Some(params) = matches(route.pattern, segs) {
            if route.method == req.method || (req.method == Method::Head && route.method == Get) {
                // Which route answered is known from here on, for the metrics, even when the
                // access check refuses.
                let checked = |ctx: &mut Ctx, req: &mut Request| {
                    if route.access != Access::Open {
                        ctx.who = if page {
                            web::session::identify(ctx, req)?
                        } else {
                            auth::identify(ctx, req)?
                        };
                    }
                    auth::check(ctx, route.access, &params.pkg, req)?;
                    Ok(Admitted::Run {
                        route: i,
                        params,
                        page,
                    })
                };
                return (Some(i), checked(ctx, req));
            }
            path_known = true;
        }
    }
    let e = if path_known {
        Error::MethodNotAllowed(format!("{} does not support this method", req.path))
    } else {
        Error::NotFound(format!("no such endpoint: {}", req.path))
    };
    (None, Err(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first route whose pattern matches, as its shape and captures (any method).
    fn route(path: &str) -> Option<(String, Params)> {
        let decoded = name::percent_decode(path).ok()?;
        let segs: Vec<&str> = decoded
            .strip_prefix('/')
            .unwrap_or(&decoded)
            .split('/')
            .collect();
        ROUTES
            .iter()
            .enumerate()
            .find_map(|(i, r)| matches(r.pattern, &segs).map(|p| (pattern(i), p)))
    }

    fn hit(shape: &str, p: &str, args: &[&str]) -> Option<(String, Params)> {
        Some((
            shape.to_string(),
            Params {
                pkg: p.into(),
                args: args.iter().map(|a| a.to_string()).collect(),
            },
        ))
    }

    #[test]
    fn every_client_spelling_reaches_the_same_route() {
        for path in [
            "/@acme%2fwidget",
            "/@acme%2Fwidget",
            "/%40acme%2Fwidget",
            "/@acme/widget",
        ] {
            assert_eq!(route(path), hit("/{pkg}", "@acme/widget", &[]), "{path}");
        }
        assert_eq!(route("/plainpkg"), hit("/{pkg}", "plainpkg", &[]));
    }

    #[test]
    fn tarballs_versions_revisions_and_tags_route_apart() {
        assert_eq!(
            route("/@acme/widget/-/widget-1.0.0.tgz"),
            hit("/{pkg}/-/{}", "@acme/widget", &["widget-1.0.0.tgz"])
        );
        assert_eq!(
            route("/plainpkg/-/plainpkg-1.0.0.tgz"),
            hit("/{pkg}/-/{}", "plainpkg", &["plainpkg-1.0.0.tgz"])
        );
        assert_eq!(
            route("/plainpkg/1.0.0"),
            hit("/{pkg}/{}", "plainpkg", &["1.0.0"])
        );
        assert_eq!(
            route("/@acme%2fwidget/latest"),
            hit("/{pkg}/{}", "@acme/widget", &["latest"])
        );
        assert_eq!(
            route("/@acme%2fwidget/-rev/3-abc"),
            hit("/{pkg}/-rev/{}", "@acme/widget", &["3-abc"])
        );
        assert_eq!(
            route("/@acme/widget/-/widget-1.0.0.tgz/-rev/4-def"),
            hit(
                "/{pkg}/-/{}/-rev/{}",
                "@acme/widget",
                &["widget-1.0.0.tgz", "4-def"]
            )
        );
        assert_eq!(
            route("/-/package/@acme%2fwidget/dist-tags"),
            hit("/-/package/{pkg}/dist-tags", "@acme/widget", &[])
        );
        assert_eq!(
            route("/-/package/plainpkg/dist-tags/beta"),
            hit("/-/package/{pkg}/dist-tags/{}", "plainpkg", &["beta"])
        );
        assert_eq!(
            route("/-/user/org.couchdb.user:bob"),
            hit("/-/user/{}", "", &["org.couchdb.user:bob"])
        );
        assert_eq!(
            route("/-/user/token/abc"),
            hit("/-/user/token/{}", "", &["abc"])
        );
    }

    #[test]
    fn web_pages_take_scoped_and_unscoped_names() {
        assert_eq!(
            route("/-/web/package/@acme/widget"),
            hit("/-/web/package/{pkg}", "@acme/widget", &[])
        );
        assert_eq!(
            route("/-/web/package/%40acme%2Fwidget/v/1.0.0"),
            hit("/-/web/package/{pkg}/v/{}", "@acme/widget", &["1.0.0"])
        );
        assert_eq!(
            route("/-/web/package/v/v/v"),
            hit("/-/web/package/{pkg}/v/{}", "v", &["v"])
        );
        assert_eq!(route("/-/web/package"), None);
    }

    #[test]
    fn registry_paths_and_junk_do_not_become_packages() {
        assert_eq!(route("/-/nothing"), None);
        assert_eq!(route("/-"), None);
        assert_eq!(route("/"), hit("/", "", &[]), "the home page");
        assert_eq!(route("/@acme"), None);
        assert_eq!(route("/plainpkg/-/..%2f..%2fetc%2fpasswd"), None);
        assert_eq!(route("/a/b/c/d"), None);
    }
}

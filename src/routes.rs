//! The routing table: every endpoint nmr serves, in one list. Paths are percent-decoded once
//! before matching, so `@scope%2fname`, `@scope%2Fname`, `%40scope%2Fname` and a raw `/` all
//! reach the same handler with the name `@scope/name`.

use crate::app::Ctx;
use crate::error::{Error, Result};
use crate::http::{Method, Request, Response};
use crate::{name, packument, publish, tags, tarball, uplink};
use serde_json::json;

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

/// What a pattern captured.
#[derive(Debug, Default, PartialEq)]
pub struct Params {
    pub pkg: String,
    pub param: String,
}

type Handler = fn(&mut Ctx, &mut Request, &Params) -> Result<Response>;

/// A method, a path pattern and the handler for them. `GET` routes also answer `HEAD`.
pub struct Route {
    pub method: Method,
    pub pattern: &'static [Seg],
    pub handler: Handler,
}

use Method::{Delete, Get, Post, Put};
use Seg::{Lit, Param, Pkg};

/// Every endpoint. Registry-own paths under `/-/` come first; package paths follow.
pub static ROUTES: &[Route] = &[
    Route {
        method: Get,
        pattern: &[Lit("-"), Lit("ping")],
        handler: ping,
    },
    Route {
        method: Post,
        pattern: &[
            Lit("-"),
            Lit("npm"),
            Lit("v1"),
            Lit("security"),
            Lit("advisories"),
            Lit("bulk"),
        ],
        handler: audit_bulk,
    },
    Route {
        method: Get,
        pattern: &[Lit("-"), Lit("package"), Pkg, Lit("dist-tags")],
        handler: tag_list,
    },
    Route {
        method: Put,
        pattern: &[Lit("-"), Lit("package"), Pkg, Lit("dist-tags"), Param],
        handler: tag_set,
    },
    Route {
        method: Delete,
        pattern: &[Lit("-"), Lit("package"), Pkg, Lit("dist-tags"), Param],
        handler: tag_remove,
    },
    Route {
        method: Get,
        pattern: &[Pkg],
        handler: packument_get,
    },
    Route {
        method: Put,
        pattern: &[Pkg],
        handler: package_put,
    },
    Route {
        method: Get,
        pattern: &[Pkg, Lit("-"), Param],
        handler: tarball_get,
    },
    Route {
        method: Get,
        pattern: &[Pkg, Param],
        handler: version_get,
    },
];

fn ping(_: &mut Ctx, _: &mut Request, _: &Params) -> Result<Response> {
    Ok(Response::json(200, &json!({})))
}

/// npm runs an audit on every install. nmr has no advisory data of its own: the upstream answers
/// for its packages in proxy mode, and otherwise the answer is "nothing found".
fn audit_bulk(ctx: &mut Ctx, req: &mut Request, _: &Params) -> Result<Response> {
    uplink::audit(ctx, req)
}

// The GET handlers of package paths ask the uplink first: it answers only for names nmr does
// not hold (see `uplink`), and nmr answers for everything else.

fn tag_list(ctx: &mut Ctx, req: &mut Request, p: &Params) -> Result<Response> {
    match uplink::dist_tags(ctx, req, &p.pkg)? {
        Some(r) => Ok(r),
        None => tags::list(ctx, req, &p.pkg),
    }
}

fn tag_set(ctx: &mut Ctx, req: &mut Request, p: &Params) -> Result<Response> {
    tags::set(ctx, req, &p.pkg, &p.param)
}

fn tag_remove(ctx: &mut Ctx, req: &mut Request, p: &Params) -> Result<Response> {
    tags::remove(ctx, req, &p.pkg, &p.param)
}

fn packument_get(ctx: &mut Ctx, req: &mut Request, p: &Params) -> Result<Response> {
    match uplink::packument(ctx, req, &p.pkg)? {
        Some(r) => Ok(r),
        None => packument::get(ctx, req, &p.pkg),
    }
}

fn package_put(ctx: &mut Ctx, req: &mut Request, p: &Params) -> Result<Response> {
    publish::put(ctx, req, &p.pkg)
}

fn tarball_get(ctx: &mut Ctx, req: &mut Request, p: &Params) -> Result<Response> {
    match uplink::tarball(ctx, req, &p.pkg, &p.param)? {
        Some(r) => Ok(r),
        None => tarball::get(ctx, req, &p.pkg, &p.param),
    }
}

fn version_get(ctx: &mut Ctx, req: &mut Request, p: &Params) -> Result<Response> {
    match uplink::version(ctx, req, &p.pkg, &p.param)? {
        Some(r) => Ok(r),
        None => packument::get_version(ctx, req, &p.pkg, &p.param),
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
                p.param = s.to_string();
                i += 1;
            }
        }
    }
    (i == segs.len()).then_some(p)
}

/// Finds the route for a request and runs it.
pub fn dispatch(ctx: &mut Ctx, req: &mut Request) -> Result<Response> {
    let path = name::percent_decode(&req.path)?;
    let segs: Vec<&str> = path.strip_prefix('/').unwrap_or(&path).split('/').collect();
    let mut path_known = false;
    for route in ROUTES {
        if let Some(params) = matches(route.pattern, &segs) {
            if route.method == req.method || (req.method == Method::Head && route.method == Get) {
                return (route.handler)(ctx, req, &params);
            }
            path_known = true;
        }
    }
    if path_known {
        Err(Error::MethodNotAllowed(format!(
            "{} does not support this method",
            req.path
        )))
    } else {
        Err(Error::NotFound(format!("no such endpoint: {}", req.path)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(path: &str) -> Option<(usize, Params)> {
        let decoded = name::percent_decode(path).ok()?;
        let segs: Vec<&str> = decoded
            .strip_prefix('/')
            .unwrap_or(&decoded)
            .split('/')
            .collect();
        ROUTES
            .iter()
            .enumerate()
            .find_map(|(i, r)| matches(r.pattern, &segs).map(|p| (i, p)))
    }

    fn pkg(p: &str, param: &str) -> Params {
        Params {
            pkg: p.into(),
            param: param.into(),
        }
    }

    #[test]
    fn every_client_spelling_reaches_the_same_route() {
        for path in [
            "/@acme%2fwidget",
            "/@acme%2Fwidget",
            "/%40acme%2Fwidget",
            "/@acme/widget",
        ] {
            assert_eq!(route(path), Some((5, pkg("@acme/widget", ""))), "{path}");
        }
        assert_eq!(route("/plainpkg"), Some((5, pkg("plainpkg", ""))));
    }

    #[test]
    fn tarballs_versions_and_tags_route_apart() {
        assert_eq!(
            route("/@acme/widget/-/widget-1.0.0.tgz"),
            Some((7, pkg("@acme/widget", "widget-1.0.0.tgz")))
        );
        assert_eq!(
            route("/plainpkg/-/plainpkg-1.0.0.tgz"),
            Some((7, pkg("plainpkg", "plainpkg-1.0.0.tgz")))
        );
        assert_eq!(
            route("/plainpkg/1.0.0"),
            Some((8, pkg("plainpkg", "1.0.0")))
        );
        assert_eq!(
            route("/@acme%2fwidget/latest"),
            Some((8, pkg("@acme/widget", "latest")))
        );
        assert_eq!(
            route("/-/package/@acme%2fwidget/dist-tags"),
            Some((2, pkg("@acme/widget", "")))
        );
        assert_eq!(
            route("/-/package/plainpkg/dist-tags/beta"),
            Some((3, pkg("plainpkg", "beta")))
        );
    }

    #[test]
    fn registry_paths_and_junk_do_not_become_packages() {
        assert_eq!(route("/-/nothing"), None);
        assert_eq!(route("/-"), None);
        assert_eq!(route("/"), None);
        assert_eq!(route("/@acme"), None);
        assert_eq!(route("/plainpkg/-/..%2f..%2fetc%2fpasswd"), None);
        assert_eq!(route("/a/b/c/d"), None);
    }
}

//! The web UI: pages to browse, search and read packages in a browser. This module owns what
//! every page shares: which paths are pages, the security headers they are sent with, HTML
//! error pages, the embedded static files, links between pages, and sending a browser that
//! opens a package's registry URL to its page.

pub mod format;
pub mod html;
pub mod layout;
pub mod logins;
pub mod markdown;
pub mod package;
pub mod pages;
pub mod readme;
pub mod session;
pub mod state;

use crate::app::Ctx;
use crate::error::{Error, Result};
use crate::http::{Body, Request, Response};
use html::url_part;
use std::sync::OnceLock;

/// No script runs on any page, from anywhere; styles and the icon come from here; README
/// images may come from any web address; forms post only here; no page may be framed.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' https: http:; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// [`CSP`] where reading needs a login: images only from here, so that a README's remote image
/// cannot tell its host who reads a private package, and when (the renderer drops them too).
const CSP_PRIVATE: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
                           form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Whether pages may load images from elsewhere: only where anyone may read without logging
/// in, so there is no private reader for a remote image to give away.
pub fn remote_images(ctx: &Ctx) -> bool {
    let auth = &ctx.app.config.auth;
    auth.read_public || auth.kind == crate::config::AuthType::None
}

/// Whether a decoded path is a web page (`/` and `/-/web/...`): its caller comes from the
/// session cookie and its errors are pages.
pub fn is_page(segs: &[&str]) -> bool {
    matches!(segs, [""] | ["-", "web", ..])
}

/// An HTML response with the headers every page carries. Pages depend on who is logged in, so
/// nothing may store them. `remote_images`: see [`remote_images`].
pub fn page(status: u16, body: String, remote_images: bool) -> Response {
    let csp = if remote_images { CSP } else { CSP_PRIVATE };
    Response {
        status,
        headers: vec![
            ("Content-Type", "text/html; charset=utf-8".into()),
            ("Content-Security-Policy", csp.into()),
            ("X-Content-Type-Options", "nosniff".into()),
            // Same-origin keeps the Origin header on our own form posts (the CSRF check reads
            // it) and sends nothing to the sites README links lead to.
            ("Referrer-Policy", "same-origin".into()),
            ("X-Frame-Options", "DENY".into()),
            ("Cache-Control", "no-store".into()),
        ],
        body: Body::Bytes(body.into_bytes()),
    }
}

/// `303 See Other` to a path on this registry.
pub fn see_other(location: String) -> Response {
    Response {
        status: 303,
        headers: vec![("Location", location), ("Cache-Control", "no-store".into())],
        body: Body::Empty,
    }
}

/// The path prefix of every link: the path of `server.public_url` (nmr behind a proxy at
/// `https://host/npm/`), else nothing.
pub fn root(ctx: &Ctx) -> String {
    ctx.app
        .config
        .server
        .public_url
        .as_deref()
        .and_then(|u| u.split_once("://"))
        .and_then(|(_, rest)| rest.find('/').map(|i| rest[i..].trim_end_matches('/')))
        .unwrap_or("")
        .to_string()
}

/// `/-/web/package/<name>`, with the scope's `@` and `/` kept readable.
pub fn package_path(root: &str, name: &str) -> String {
    let encoded = match name.strip_prefix('@').and_then(|n| n.split_once('/')) {
        Some((scope, base)) => format!("@{}/{}", url_part(scope), url_part(base)),
        None => url_part(name),
    };
    format!("{root}/-/web/package/{encoded}")
}

/// `/-/web/package/<name>/v/<version>`.
pub fn version_path(root: &str, name: &str, version: &str) -> String {
    format!("{}/v/{}", package_path(root, name), url_part(version))
}

/// `/-/web/search?q=<text>` (and the page, past the first).
pub fn search_path(root: &str, text: &str, page: i64) -> String {
    let mut p = format!("{root}/-/web/search?q={}", url_part(text));
    if page > 1 {
        p.push_str(&format!("&page={page}"));
    }
    p
}

/// A browser (`Accept` ranks `text/html` first) that opens `/<name>` or `/<name>/<version>`
/// goes to the page about it. The answer is the same whether the package exists, so it needs
/// no access check; npm clients never ask for HTML first and keep getting JSON.
pub fn browser_redirect(
    ctx: &Ctx,
    req: &Request,
    pkg: &str,
    version: Option<&str>,
) -> Option<Response> {
    if !req.prefers_html() {
        return None;
    }
    let root = root(ctx);
    let to = match version {
        Some(v) => version_path(&root, pkg, v),
        None => package_path(&root, pkg),
    };
    Some(Response {
        status: 302,
        headers: vec![("Location", to), ("Vary", "Accept".into())],
        body: Body::Empty,
    })
}

/// The page for an error on a page route: 401 is the login form (so a reader who must log in
/// can), anything else a short page that says what went wrong.
pub fn error_page(ctx: &mut Ctx, req: &Request, e: &Error) -> Response {
    if e.status() >= 500 {
        crate::error!("page {}: {}", req.path, e.message());
    }
    if let Error::Unauthorized(_) = e {
        let next = if req.query.is_empty() {
            req.path.clone()
        } else {
            format!("{}?{}", req.path, req.query)
        };
        return pages::login(ctx, req, 401, &session::LoginForm::to_read(next));
    }
    pages::error(ctx, req, e).retry_after(e)
}

/// One file the pages use, served under a name that carries its content hash, so it can be
/// cached for good and a new build's file is fetched at once.
struct Asset {
    name: String,
    content_type: &'static str,
    bytes: &'static [u8],
}

fn assets() -> &'static [Asset] {
    static ASSETS: OnceLock<Vec<Asset>> = OnceLock::new();
    ASSETS.get_or_init(|| {
        let hashed = |stem: &str, ext: &str, content_type, bytes: &'static [u8]| {
            use sha1::Digest;
            let hash = crate::digest::hex(&sha1::Sha1::digest(bytes));
            Asset {
                name: format!("{stem}.{}.{ext}", &hash[..12]),
                content_type,
                bytes,
            }
        };
        vec![
            hashed(
                "nmr",
                "css",
                "text/css; charset=utf-8",
                include_bytes!("assets/nmr.css"),
            ),
            hashed(
                "icon",
                "svg",
                "image/svg+xml",
                include_bytes!("assets/icon.svg"),
            ),
        ]
    })
}

/// The URL of the embedded file whose name starts with `stem.`.
pub fn asset_path(root: &str, stem: &str) -> String {
    let a = assets()
        .iter()
        .find(|a| a.name.starts_with(stem) && a.name.as_bytes().get(stem.len()) == Some(&b'.'))
        .expect("embedded asset");
    format!("{root}/-/web/static/{}", a.name)
}

/// `GET /-/web/static/<file>`: an embedded file, cacheable for a year (the name changes with
/// the content).
pub fn static_file(_ctx: &mut Ctx, _req: &mut Request, file: &str) -> Result<Response> {
    let a = assets()
        .iter()
        .find(|a| a.name == file)
        .ok_or_else(|| Error::NotFound(format!("no static file {file:?}")))?;
    Ok(Response {
        status: 200,
        headers: vec![
            ("Content-Type", a.content_type.into()),
            (
                "Cache-Control",
                "public, max-age=31536000, immutable".into(),
            ),
            ("X-Content-Type-Options", "nosniff".into()),
        ],
        body: Body::Bytes(a.bytes.to_vec()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_the_root_and_the_web_prefix() {
        assert!(is_page(&[""]));
        assert!(is_page(&["-", "web", "search"]));
        assert!(!is_page(&["-", "v1", "search"]));
        assert!(!is_page(&["web"]));
    }

    #[test]
    fn links_keep_scopes_readable_and_encode_the_rest() {
        assert_eq!(
            package_path("", "@acme/widget"),
            "/-/web/package/@acme/widget"
        );
        assert_eq!(
            version_path("/npm", "left-pad", "1.0.0+b"),
            "/npm/-/web/package/left-pad/v/1.0.0%2Bb"
        );
        assert_eq!(search_path("", "a&b", 2), "/-/web/search?q=a%26b&page=2");
    }

    #[test]
    fn asset_names_carry_a_hash() {
        let css = asset_path("", "nmr");
        assert!(
            css.starts_with("/-/web/static/nmr.") && css.ends_with(".css"),
            "{css}"
        );
        assert!(asset_path("", "icon").ends_with(".svg"));
    }
}

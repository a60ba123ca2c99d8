//! The web UI, through raw HTTP and real headless Chromium:
//! - home, search (with paging), package and version pages show what was published: README
//!   (sent with the publish or read from the tarball), versions with dates and deprecation,
//!   dist-tags, dependencies linked when held here, links, sizes, install commands;
//! - README HTML, script links and other payloads are escaped, and never run in a browser;
//! - browsers opening `/<name>` are sent to the page, npm clients keep getting JSON;
//! - pages carry a strict CSP and the other security headers; the stylesheet is cached for good;
//! - `auth.read = authenticated` asks for a login; the session is an HttpOnly, SameSite=Strict
//!   cookie holding a read-only "web" token that logout revokes; forms check their origin;
//! - npm's web login (`npm login`, npm 11's default) completes through the login form;
//! - github mode logs in with a token and never lists or shows a package the user may not read,
//!   nor loads a README's remote images.

use crate::support::auth::{add_user, nmr};
use crate::support::browser;
use crate::support::github::FakeGitHub;
use crate::support::*;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

/// What a browser sends as Accept for a page.
const BROWSER: &str =
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8";

/// GET as a browser, with the session cookie if given.
fn browse(reg: &Registry, path: &str, cookie: Option<&str>) -> Resp {
    let cookie = cookie.map(|c| format!("nmr_session={c}"));
    let mut headers = vec![("Accept", BROWSER)];
    if let Some(c) = &cookie {
        headers.push(("Cookie", c));
    }
    reg.request("GET", path, &headers, b"")
}

/// A page that must be there: 200, HTML, the security headers; its text.
fn page(reg: &Registry, path: &str) -> String {
    let r = browse(reg, path, None);
    assert_eq!(r.status, 200, "GET {path}: {}", r.text());
    assert_page_headers(&r);
    r.text()
}

fn assert_page_headers(r: &Resp) {
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let csp = r.header("content-security-policy").expect("a CSP");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(
        !csp.contains("script-src"),
        "no script source is ever allowed: {csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    assert_eq!(r.header("referrer-policy"), Some("same-origin"));
}

/// Publishes `name@version` with extra manifest `fields`, the tarball `tgz`, and the README sent
/// in the body (`None`: none, as some clients do).
fn publish_with(
    reg: &Registry,
    token: Option<&str>,
    name: &str,
    version: &str,
    fields: Value,
    tgz: &[u8],
    readme: Option<&str>,
) {
    let mut body = publish_body(name, version, tgz, "latest");
    let v = body["versions"][version].as_object_mut().unwrap();
    v.remove("readme");
    v.remove("readmeFilename");
    if let Some(r) = readme {
        v.insert("readme".into(), json!(r));
    }
    for (k, x) in fields.as_object().unwrap() {
        match (v.get_mut(k), x) {
            // `dist` keeps the digests of the tarball and gains the fields given.
            (Some(Value::Object(have)), Value::Object(more)) => have.extend(more.clone()),
            _ => {
                v.insert(k.clone(), x.clone());
            }
        }
    }
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(a) = &auth {
        headers.push(("Authorization", a));
    }
    let r = reg.request(
        "PUT",
        &format!("/{}", name.replace('/', "%2f")),
        &headers,
        body.to_string().as_bytes(),
    );
    assert_eq!(r.status, 201, "publish {name}@{version}: {}", r.text());
}

/// A package tarball as npm packs it (made with tar), holding `package/README.md` if given.
fn tarball(name: &str, readme: Option<&str>) -> Vec<u8> {
    let dir = TempDir::new("tgz");
    let pkg = dir.path().join("package");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(pkg.join("package.json"), json!({"name": name}).to_string()).unwrap();
    std::fs::write(pkg.join("index.js"), "module.exports = 1;\n").unwrap();
    if let Some(r) = readme {
        std::fs::write(pkg.join("README.md"), r).unwrap();
    }
    let out = std::process::Command::new("tar")
        .args(["-czf", "p.tgz", "package"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    std::fs::read(dir.path().join("p.tgz")).unwrap()
}

/// A README as a package would have one, ending with the payloads a hostile package could
/// carry. Each would change the title or add an element with an id starting `injected` if it
/// ran or were taken as markup.
const HOSTILE: &str = "# Widget\n\n\
Form widgets that **just work**: inputs, pickers and validation, with no build step.\n\n\
## Usage\n\n\
```js\nimport { DatePicker } from '@acme/widget'\n\nnew DatePicker(document.querySelector('#when'), { min: '2024-01-01' })\n```\n\n\
| Option | Default | Meaning |\n|---|---|---|\n| `min` | none | the earliest date |\n| `locale` | the browser's | how dates are written |\n\n\
> Widgets follow the page's colour scheme.\n\n\
## What a README cannot do here\n\n\
<script>document.title = 'pwned'</script>\n\n\
<img src=x onerror=\"document.title='pwned'\">\n\n\
<div id=\"injected-block\">raw block</div>\n\n\
Inline <b id=\"injected-inline\">bold</b> and <svg onload=\"document.title='pwned'\"></svg>.\n\n\
[click me](javascript:document.title='pwned') and [docs](https://docs.example.test/widget)\n\n\
![pixel](javascript:alert(1)) ![logo](https://img.example.test/logo.png)\n";

/// A registry with a small catalogue: a package with many versions, dependencies, links and a
/// hostile README; a dependency held here; a deprecated package; a README only in its tarball.
fn catalogue(reg: &Registry, token: Option<&str>) {
    let widget = json!({
        "description": "Widgets for forms",
        "keywords": ["ui", "forms"],
        "license": "MIT",
        "repository": {"type": "git", "url": "git+https://git.example.test/acme/widget.git"},
        "homepage": "https://widget.example.test",
        "author": "Ann Example <ann@example.test>",
        "dependencies": {"left-pad": "^1.3.0", "not-here": "^2.0.0"},
        "peerDependencies": {"react": ">=17"},
    });
    publish_with(
        reg,
        token,
        "left-pad",
        "1.3.0",
        json!({"description": "Pads strings"}),
        &fake_tgz("lp"),
        Some("# left-pad"),
    );
    for v in ["1.0.0", "1.1.0", "2.0.0-beta.1", "1.2.0"] {
        let mut fields = widget.clone();
        fields["dist"] = json!({"unpackedSize": 48213, "fileCount": 12});
        if v == "1.0.0" {
            fields["deprecated"] = json!("1.0.0 loses data: use 1.2.0");
        }
        publish_with(
            reg,
            token,
            "@acme/widget",
            v,
            fields,
            &fake_tgz(v),
            Some(HOSTILE),
        );
    }
    publish_with(
        reg,
        token,
        "old-thing",
        "0.1.0",
        json!({"description": "An old thing", "deprecated": "Use @acme/widget instead"}),
        &fake_tgz("old"),
        None,
    );
    let tgz = tarball(
        "from-tarball",
        Some("# From the tarball\n\nThis README was *packed*, not sent.\n"),
    );
    publish_with(
        reg,
        token,
        "from-tarball",
        "1.0.0",
        json!({"description": "README only in the tarball"}),
        &tgz,
        None,
    );
}

/// Panics naming the first of `parts` that `html` lacks.
fn has_all(html: &str, parts: &[&str]) {
    for part in parts {
        assert!(html.contains(part), "no {part:?} in:\n{html}");
    }
}

#[test]
fn web_package_page_shows_readme_versions_dependencies_and_install_commands() {
    let reg = Registry::start();
    catalogue(&reg, None);
    let html = page(&reg, "/-/web/package/@acme/widget");
    let npmrc_line = format!("@acme:registry={}/", reg.url());
    has_all(
        &html,
        &[
            "<title>@acme/widget · nmr</title>",
            // The README, rendered: emphasis, tables, highlighted code.
            "<h1>Widget</h1>",
            "<strong>just work</strong>",
            "<table>",
            "<code class=\"language-js\">",
            // The latest dist-tag (1.2.0), not the highest version (2.0.0-beta.1), is shown.
            "<span class=\"version\">1.2.0</span><span class=\"tag\">latest</span>",
            "deprecated: 1.0.0 loses data: use 1.2.0",
            "npm i @acme/widget",
            "pnpm add @acme/widget",
            "yarn add @acme/widget",
            &npmrc_line,
            // Dependencies held here are linked; others are named only.
            "<a href=\"/-/web/package/left-pad\">left-pad</a><code>^1.3.0</code>",
            "<span title=\"not held on this registry\">not-here</span>",
            "Peer dependencies (1)",
            "href=\"https://git.example.test/acme/widget\"",
            "href=\"https://widget.example.test\"",
            "<dt>Unpacked size</dt><dd>48.2 kB</dd>",
            "<dt>Tarball size</dt><dd>",
            "<dt>Author</dt><dd>Ann Example</dd>",
            "<a class=\"chip\" href=\"/-/web/search?q=keywords%3Aui\">ui</a>",
        ],
    );
    let links = ["2.0.0-beta.1", "1.2.0", "1.1.0", "1.0.0"]
        .map(|v| html.find(&format!("href=\"/-/web/package/@acme/widget/v/{v}\"")));
    assert!(links.iter().all(Option::is_some), "every version listed");
    assert!(links.windows(2).all(|w| w[0] < w[1]), "newest first");
    assert!(
        !html.contains("class=\"banner\""),
        "the latest version is not deprecated"
    );

    // One version's page: its own install commands, its banner, a pointer to the latest.
    has_all(
        &page(&reg, "/-/web/package/@acme/widget/v/1.0.0"),
        &[
            "npm i @acme/widget@1.0.0",
            "<strong>Version 1.0.0 is deprecated.</strong> 1.0.0 loses data",
            "The latest is <a href=\"/-/web/package/@acme/widget/v/1.2.0\">1.2.0</a>",
        ],
    );
    let tagged = page(&reg, "/-/web/package/@acme/widget/v/latest");
    has_all(&tagged, &["npm i @acme/widget@1.2.0"]);
    for (path, says) in [
        (
            "/-/web/package/@acme/widget/v/9.9.9",
            "has no version or tag",
        ),
        (
            "/-/web/package/nothing-here",
            "nothing-here is not in this registry",
        ),
    ] {
        let r = browse(&reg, path, None);
        assert_eq!(r.status, 404, "{path}");
        assert_page_headers(&r);
        has_all(&r.text(), &[says]);
    }
}

#[test]
fn web_readme_comes_from_the_tarball_and_deprecated_packages_have_a_banner() {
    let reg = Registry::start();
    catalogue(&reg, None);
    let html = page(&reg, "/-/web/package/from-tarball");
    assert!(html.contains("<h1>From the tarball</h1>"), "{html}");
    assert!(html.contains("<em>packed</em>"));
    let html = page(&reg, "/-/web/package/old-thing");
    assert!(html.contains("<div class=\"banner\" role=\"alert\"><strong>This package is deprecated.</strong> Use @acme/widget instead</div>"), "{html}");
    assert!(html.contains("This package has no README."));
}

/// Whether `needle` occurs inside a tag (between a `<` and its `>`) rather than in text, where
/// escaped markup shows it harmlessly.
fn in_a_tag(html: &str, needle: &str) -> bool {
    html.match_indices(needle).any(|(i, _)| {
        let before = &html[..i];
        before
            .rfind('<')
            .is_some_and(|lt| before.rfind('>').is_none_or(|gt| lt > gt))
    })
}

#[test]
fn web_readme_payloads_are_escaped() {
    assert!(
        in_a_tag("<p><div id=\"injected\">", "injected")
            && !in_a_tag("<p>&lt;div id=\"injected\"&gt;", "injected")
    );
    let reg = Registry::start();
    catalogue(&reg, None);
    let html = page(&reg, "/-/web/package/@acme/widget");
    let readme =
        &html[html.find("<article id=\"readme\"").unwrap()..html.find("</article>").unwrap()];
    for tag in ["<script", "<svg", "<div", "<b "] {
        assert!(!readme.contains(tag), "{tag} in {readme}");
    }
    for attr in ["injected", "onerror", "onload", "javascript:"] {
        assert!(!in_a_tag(readme, attr), "{attr} in a tag: {readme}");
    }
    has_all(
        readme,
        &[
            // Shown as text, and the link text stays without its target.
            "&lt;script&gt;document.title = 'pwned'&lt;/script&gt;",
            "&lt;div id=\"injected-block\"&gt;",
            "<p>click me and <a href=\"https://docs.example.test/widget\">docs</a></p>",
        ],
    );
    assert_eq!(
        readme.matches("<img").count(),
        1,
        "only the https image: {readme}"
    );
    assert!(!html.contains("<script"), "no script anywhere on the page");
}

#[test]
fn web_home_and_search_list_packages_with_paging() {
    let reg = Registry::start();
    catalogue(&reg, None);
    let npmrc_line = format!("registry={}/", reg.url());
    has_all(
        &page(&reg, "/"),
        &[
            "4 packages",
            "7 versions",
            ">@acme/widget</a>",
            ">left-pad</a>",
            ">old-thing</a>",
            ">from-tarball</a>",
            &npmrc_line,
            "action=\"/-/web/search\"",
        ],
    );
    has_all(
        &page(&reg, "/-/web/search?q=widget"),
        &[
            "1 package for <q>widget</q>",
            "<a class=\"name\" href=\"/-/web/package/@acme/widget\">@acme/widget</a>",
            "<span class=\"version\">1.2.0</span>",
            "Widgets for forms",
        ],
    );
    let none = page(&reg, "/-/web/search?q=%3Cscript%3Ezzz");
    has_all(&none, &["Nothing matches.", "&lt;script&gt;zzz"]);
    assert!(!none.contains("<script"), "the query is escaped");

    for i in 0..41 {
        raw_publish(&reg, &format!("bulk-{i:02}"), "1.0.0");
    }
    let p1 = page(&reg, "/-/web/search?q=bulk");
    has_all(
        &p1,
        &[
            "41 packages for",
            "Page 1 of 3",
            "href=\"/-/web/search?q=bulk&amp;page=2\"",
        ],
    );
    assert_eq!(p1.matches("class=\"card\"").count(), 20);
    let p3 = page(&reg, "/-/web/search?q=bulk&page=3");
    assert_eq!(p3.matches("class=\"card\"").count(), 1);
    has_all(&p3, &["Page 3 of 3", "rel=\"prev\""]);
    let all = page(&reg, "/-/web/search");
    has_all(&all, &["<h1>All packages</h1>", "Page 1 of 3"]);
}

#[test]
fn web_browsers_get_pages_and_npm_clients_keep_getting_json() {
    let reg = Registry::start();
    raw_publish(&reg, "@acme/widget", "1.0.0");
    for path in ["/@acme%2fwidget", "/@acme/widget"] {
        let r = browse(&reg, path, None);
        assert_eq!(r.status, 302, "{path}");
        assert_eq!(r.header("location"), Some("/-/web/package/@acme/widget"));
    }
    let r = browse(&reg, "/@acme%2fwidget/1.0.0", None);
    assert_eq!(
        r.header("location"),
        Some("/-/web/package/@acme/widget/v/1.0.0")
    );
    for accept in [
        "application/json",
        "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*",
        "*/*",
    ] {
        let r = reg.request("GET", "/@acme%2fwidget", &[("Accept", accept)], b"");
        assert_eq!(r.status, 200, "{accept}");
        assert_eq!(r.json()["name"], "@acme/widget", "{accept}");
    }
    assert_eq!(
        reg.get("/@acme%2fwidget").json()["name"],
        "@acme/widget",
        "no Accept at all"
    );

    // The stylesheet a page names is served for good; another name is not found.
    let html = page(&reg, "/");
    let css = html
        .split("rel=\"stylesheet\" href=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let r = reg.get(css);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/css; charset=utf-8"));
    assert_eq!(
        r.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert!(r.text().contains("prefers-color-scheme: dark"));
    let r = browse(&reg, "/-/web/static/nmr.000000000000.css", None);
    assert_eq!(r.status, 404);
    assert!(r.text().contains("<html"), "an HTML 404 for a page path");
    let r = browse(&reg, "/-/web/nothing", None);
    assert_eq!(r.status, 404);
    assert_page_headers(&r);
}

/// A form post as a browser sends it from a page at `origin`.
fn post_form(
    reg: &Registry,
    path: &str,
    form: &str,
    origin: Option<&str>,
    cookie: Option<&str>,
) -> Resp {
    let cookie = cookie.map(|c| format!("nmr_session={c}"));
    let mut headers = vec![
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Accept", BROWSER),
    ];
    if let Some(o) = origin {
        headers.push(("Origin", o));
    }
    if let Some(c) = &cookie {
        headers.push(("Cookie", c));
    }
    reg.request("POST", path, &headers, form.as_bytes())
}

/// The session cookie a response sets.
fn session_cookie(r: &Resp) -> String {
    let set = r
        .header("set-cookie")
        .unwrap_or_else(|| panic!("no cookie: {r:?}"));
    set.strip_prefix("nmr_session=")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn web_login_session_and_logout_with_local_accounts() {
    let reg = Registry::start_with(&[], &[("NMR_AUTH__TYPE", "local")]);
    add_user(&reg, "alice", "correct horse");
    let me = reg.url();

    // Reads need a login: the page is the login form, which comes back to the page.
    let r = browse(&reg, "/-/web/package/@acme/widget", None);
    assert_eq!(r.status, 401);
    assert_page_headers(&r);
    let form = r.text();
    assert!(
        form.contains("needs you to log in") && form.contains("name=\"password\""),
        "{form}"
    );
    assert!(
        form.contains("name=\"next\" value=\"/-/web/package/@acme/widget\""),
        "{form}"
    );

    // Forms must come from this registry's pages.
    let creds = "user=alice&password=correct+horse&next=%2F-%2Fweb%2Fsearch%3Fq%3Dw&session=";
    assert_eq!(
        post_form(&reg, "/-/web/login", creds, None, None).status,
        403
    );
    assert_eq!(
        post_form(&reg, "/-/web/login", creds, Some("http://evil.test"), None).status,
        403
    );
    let r = post_form(
        &reg,
        "/-/web/login",
        "user=alice&password=nope&next=%2F",
        Some(&me),
        None,
    );
    assert_eq!(r.status, 401);
    assert!(
        r.text().contains("Wrong user name or password.") && r.text().contains("value=\"alice\"")
    );
    assert!(r.header("set-cookie").is_none());

    let r = post_form(&reg, "/-/web/login", creds, Some(&me), None);
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(r.header("location"), Some("/-/web/search?q=w"));
    let set = r.header("set-cookie").unwrap();
    for part in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=604800"] {
        assert!(set.contains(part), "{set}");
    }
    let cookie = session_cookie(&r);
    assert!(cookie.starts_with("nmr_"), "an nmr token: {set}");
    let (_, tokens, _) = nmr(&reg, &["token", "list", "alice"], "");
    assert!(
        tokens.contains("\tweb\tread-only\t"),
        "a read-only token named web: {tokens}"
    );

    // The cookie opens pages, and only pages: the npm API still wants a token.
    let token = crate::support::auth::token(&reg, "alice", &[]);
    raw_publish_as(&reg, &token, "@acme/widget");
    let r = browse(&reg, "/-/web/package/@acme/widget", Some(&cookie));
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("<span class=\"user\">alice</span>") && r.text().contains("Log out"));
    let r = reg.request(
        "GET",
        "/@acme%2fwidget",
        &[("Cookie", &format!("nmr_session={cookie}"))],
        b"",
    );
    assert_eq!(r.status, 401, "the cookie is no npm credential");
    assert_eq!(
        browse(&reg, "/", Some("nmr_forged")).status,
        401,
        "a forged cookie is no session"
    );

    assert_eq!(
        post_form(&reg, "/-/web/logout", "", None, Some(&cookie)).status,
        403
    );
    let r = post_form(&reg, "/-/web/logout", "", Some(&me), Some(&cookie));
    assert_eq!(r.status, 303);
    assert!(r.header("set-cookie").unwrap().contains("Max-Age=0"));
    assert_eq!(
        browse(&reg, "/", Some(&cookie)).status,
        401,
        "logout revoked the token"
    );
    let (_, tokens, _) = nmr(&reg, &["token", "list", "alice"], "");
    assert!(!tokens.contains("\tweb\t"), "{tokens}");
}

fn raw_publish_as(reg: &Registry, token: &str, name: &str) {
    publish_with(
        reg,
        Some(token),
        name,
        "1.0.0",
        json!({}),
        &fake_tgz(name),
        Some("# hi"),
    );
}

#[test]
fn web_public_reads_need_no_login() {
    let reg = Registry::start_with(
        &[],
        &[("NMR_AUTH__TYPE", "local"), ("NMR_AUTH__READ", "public")],
    );
    add_user(&reg, "alice", "correct horse");
    let token = crate::support::auth::token(&reg, "alice", &[]);
    raw_publish_as(&reg, &token, "@acme/widget");
    let html = page(&reg, "/-/web/package/@acme/widget");
    assert!(html.contains(">Log in</a>"), "a way to log in");
    assert!(
        html.contains("<li><a href=\"/-/web/search?q=maintainer%3Aalice\">alice</a></li>"),
        "maintainers: {html}"
    );
}

/// alice logs in with the form opened for the npm login `session` (`password` form-encoded).
fn npm_login_form(reg: &Registry, session: &str, password: &str) -> Resp {
    let form = format!("user=alice&password={password}&session={session}");
    post_form(reg, "/-/web/login", &form, Some(&reg.url()), None)
}

/// `POST /-/v1/login` and its done URL, as npm drives them: 202 + Retry-After until the browser
/// logs in, then the token once; the login page's id cannot collect it.
#[test]
fn web_login_for_npm_hands_out_a_token_once() {
    let reg = Registry::start_with(&[], &[("NMR_AUTH__TYPE", "local")]);
    add_user(&reg, "alice", "correct horse");
    let me = reg.url();
    let r = reg.request(
        "POST",
        "/-/v1/login",
        &[("Content-Type", "application/json")],
        b"{}",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let login_url = r.json()["loginUrl"].as_str().unwrap().to_string();
    let done_url = r.json()["doneUrl"].as_str().unwrap().to_string();
    let login_path = login_url.strip_prefix(&me).unwrap().to_string();
    let done_path = done_url.strip_prefix(&me).unwrap().to_string();
    let session = login_path.split("session=").nth(1).unwrap().to_string();
    assert!(
        !done_path.contains(&session),
        "the page's id is not the done id"
    );

    let r = reg.get(&done_path);
    assert_eq!((r.status, r.header("retry-after")), (202, Some("1")));
    assert_eq!(r.json(), json!({}));
    assert_eq!(reg.get(&format!("/-/v1/login/done/{session}")).status, 404);

    let form = page(&reg, &login_path);
    assert!(
        form.contains("Log in to npm")
            && form.contains(&format!("name=\"session\" value=\"{session}\""))
    );
    let wrong = npm_login_form(&reg, &session, "nope");
    assert_eq!(wrong.status, 401);
    assert_eq!(reg.get(&done_path).status, 202, "still waiting");
    let r = npm_login_form(&reg, &session, "correct+horse");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("npm is logged in"), "{}", r.text());

    let r = reg.get(&done_path);
    assert_eq!(r.status, 200);
    let token = r.json()["token"].as_str().unwrap().to_string();
    assert_eq!(
        reg.get(&done_path).status,
        404,
        "the token is handed out once"
    );
    assert_eq!(reg.get_as("/-/whoami", &token).json()["username"], "alice");
    raw_publish_as(&reg, &token, "@acme/by-web-login");
    assert!(
        reg.settled_log().contains("/-/v1/login/done/<redacted>"),
        "done ids stay out of the log"
    );
    assert!(
        !reg.settled_log().contains(&session),
        "login ids stay out of the log"
    );

    // A login page for an unknown or finished login says so.
    let r = browse(&reg, &login_path, None);
    assert_eq!(r.status, 404);
    assert!(r.text().contains("run npm login again"));
}

/// Other modes answer 404, so npm falls back to the user-name-and-password login; so does
/// `npm adduser` (`create: true`), which the form cannot do.
#[test]
fn web_login_for_npm_is_only_for_local_accounts() {
    let reg = Registry::start();
    let r = reg.request(
        "POST",
        "/-/v1/login",
        &[("Content-Type", "application/json")],
        b"{}",
    );
    assert_eq!(r.status, 404);
    assert!(r.error().contains("web login is not offered here"));
    let local = Registry::start_with(&[], &[("NMR_AUTH__TYPE", "local")]);
    let r = local.request(
        "POST",
        "/-/v1/login",
        &[("Content-Type", "application/json")],
        br#"{"create":true}"#,
    );
    assert_eq!(r.status, 404);
    let html = page(&reg, "/-/web/login");
    assert!(html.contains("nothing to log in to"), "{html}");
}

/// The real `npm login` (web is npm 11's default): npm prints the login URL and polls; the user
/// logs in with the form; npm saves the token and `npm whoami` works.
#[test]
fn web_login_completes_a_real_npm_login() {
    let reg = Registry::start_with(&[], &[("NMR_AUTH__TYPE", "local")]);
    add_user(&reg, "alice", "correct horse");
    let c = Client::new(&reg);
    c.set_token(None);
    let work = TempDir::new("work");
    let mut child = c
        .command("npm", &["login"], work.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = String::new();
    let login_url = loop {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => {
                seen.push_str(&line);
                seen.push('\n');
                if let Some(u) = line
                    .split_whitespace()
                    .find(|w| w.contains("/-/web/login?session="))
                {
                    break u.to_string();
                }
            }
            Err(_) => {
                let _ = child.kill();
                panic!("npm printed no login URL:\n{seen}");
            }
        }
    };
    let me = reg.url();
    let path = login_url
        .strip_prefix(&me)
        .unwrap_or_else(|| panic!("{login_url}"));
    let session = path.split("session=").nth(1).unwrap();
    let r = npm_login_form(&reg, session, "correct+horse");
    assert_eq!(r.status, 200, "{}", r.text());
    let out = child.wait_with_output().unwrap();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(5)) {
        seen.push_str(&line);
        seen.push('\n');
    }
    assert!(
        out.status.success(),
        "npm login failed:\n{seen}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(seen.contains("Logged in"), "{seen}");
    let npmrc = std::fs::read_to_string(c.home.path().join("npmrc")).unwrap();
    assert!(npmrc.contains("_authToken=nmr_"), "{npmrc}");
    assert_eq!(c.ok("npm", &["whoami"], work.path()).trim(), "alice");
}

#[test]
fn web_github_mode_shows_only_packages_the_user_may_read() {
    let gh = FakeGitHub::start();
    gh.user("tok-alice", "alice").user("tok-bob", "bob");
    gh.grant("alice", "acme/widget", true, true)
        .grant("alice", "acme/secret", true, true)
        .grant("bob", "acme/widget", true, false);
    let host = "ghe.corp.test";
    let reg = Registry::start_with(
        &[],
        &[
            ("NMR_AUTH__TYPE", "github"),
            ("NMR_AUTH__GITHUB__HOST", host),
            ("NMR_AUTH__GITHUB__API_URL", gh.url.as_str()),
        ],
    );
    for name in ["widget", "secret"] {
        let repo = json!({"type": "git", "url": format!("git+https://{host}/acme/{name}.git")});
        publish_with(
            &reg,
            Some("tok-alice"),
            &format!("@acme/{name}"),
            "1.0.0",
            json!({"repository": repo, "keywords": ["acme"]}),
            &fake_tgz(name),
            Some("# hi\n\n![logo](https://img.e.test/logo.png)"),
        );
    }
    let me = reg.url();
    let form = browse(&reg, "/", None);
    assert_eq!(form.status, 401);
    assert!(
        form.text().contains("GitHub personal access token")
            && form.text().contains("name=\"token\"")
    );
    let r = post_form(
        &reg,
        "/-/web/login",
        "token=tok-nobody&next=%2F",
        Some(&me),
        None,
    );
    assert_eq!(r.status, 401);
    assert!(r.text().contains("GitHub does not accept this token."));
    let r = post_form(
        &reg,
        "/-/web/login",
        "token=tok-bob&next=%2F",
        Some(&me),
        None,
    );
    assert_eq!(r.status, 303, "{}", r.text());
    let bob = session_cookie(&r);
    assert_eq!(bob, "tok-bob", "the cookie carries the GitHub token");

    let home = browse(&reg, "/", Some(&bob));
    assert_eq!(home.status, 200);
    let home = home.text();
    assert!(
        home.contains(">@acme/widget</a>") && !home.contains("@acme/secret"),
        "{home}"
    );
    assert!(
        !home.contains("2 packages"),
        "no totals that count unreadable packages"
    );
    let found = browse(&reg, "/-/web/search?q=keywords%3Aacme", Some(&bob)).text();
    assert!(
        found.contains(">@acme/widget</a>") && !found.contains(">@acme/secret</a>"),
        "{found}"
    );
    assert!(
        found.contains("1 package for"),
        "the total counts only what bob may read: {found}"
    );
    // A package bob may not read is, to him, a package that is not here.
    let secret = browse(&reg, "/-/web/package/@acme/secret", Some(&bob));
    let absent = browse(&reg, "/-/web/package/@acme/absent", Some(&bob));
    assert_eq!((secret.status, absent.status), (404, 404));
    assert_eq!(secret.text().replace("secret", "absent"), absent.text());
    // Reading needs a login here, so a README's remote image must not tell its host who reads.
    let widget = browse(&reg, "/-/web/package/@acme/widget", Some(&bob));
    assert_eq!(widget.status, 200);
    let csp = widget.header("content-security-policy").unwrap();
    assert!(csp.contains("img-src 'self';"), "{csp}");
    assert!(
        widget.text().contains("logo") && !widget.text().contains("img.e.test"),
        "the image is left out, its alt text stays"
    );
    let alice = browse(&reg, "/-/web/search?q=keywords%3Aacme", Some("tok-alice")).text();
    assert!(
        alice.contains(">@acme/secret</a>"),
        "alice reads both: {alice}"
    );
    let r = reg.request(
        "POST",
        "/-/v1/login",
        &[("Content-Type", "application/json")],
        b"{}",
    );
    assert_eq!(r.status, 404, "no web login for npm in github mode");
}

/// Headless Chromium loads the pages: the home page, a search, and a package whose README
/// carries script and markup payloads that must neither run nor become elements. The package
/// page's screenshot is kept as a test artifact (and, with NMR_UPDATE_SCREENSHOT=1, replaces the
/// README's picture).
#[test]
fn web_pages_in_chromium_run_no_readme_payload() {
    let reg = Registry::start();
    catalogue(&reg, None);
    let base = reg.url();

    let home = browser::dump_dom(&format!("{base}/"));
    assert!(home.contains("<title>nmr</title>"), "{home}");
    assert!(
        home.contains(">@acme/widget</a>") && home.contains(">left-pad</a>"),
        "{home}"
    );

    let search = browser::dump_dom(&format!("{base}/-/web/search?q=pads"));
    assert!(
        search.contains(">left-pad</a>") && !search.contains(">@acme/widget</a>"),
        "{search}"
    );

    let url = format!("{base}/-/web/package/@acme/widget");
    let dom = browser::dump_dom(&url);
    assert!(
        dom.contains("<title>@acme/widget · nmr</title>"),
        "the title is untouched: {dom}"
    );
    assert!(!dom.contains("pwned</title>"), "{dom}");
    assert!(
        !in_a_tag(&dom, "injected"),
        "no element from README markup: {dom}"
    );
    assert!(
        !in_a_tag(&dom, "onerror") && !in_a_tag(&dom, "onload"),
        "no handler: {dom}"
    );
    assert!(!dom.contains("<script") && !dom.contains("<svg"), "{dom}");
    assert!(!dom.contains("href=\"javascript:"), "{dom}");
    assert!(
        dom.contains("&lt;div id=\"injected-block\"&gt;"),
        "the markup is shown as text"
    );
    assert!(dom.contains("npm i @acme/widget"), "{dom}");

    let artifacts = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("web");
    std::fs::create_dir_all(&artifacts).unwrap();
    let shot = artifacts.join("package-page.png");
    browser::screenshot(&url, &shot);
    eprintln!("screenshot of the package page: {}", shot.display());
    if std::env::var_os("NMR_UPDATE_SCREENSHOT").is_some() {
        let dest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/artifacts/package-page.png");
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(&shot, dest).unwrap();
    }
}

/// What a raw client receives for one request on a connection it then lets close: every byte,
/// so an answer split into two by an injected line end would show as a second status line.
fn whole_exchange(port: u16, request: &str) -> String {
    let mut s = connect(port);
    s.write_all(request.as_bytes()).unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn the_login_forms_next_cannot_break_a_header_line() {
    // A logged-in user once put CR/LF into `next`: it reached the Location header, and answers
    // shifted between clients. Every shape of line end must come back as the plain home page.
    let reg = Registry::start_with(&[], &[("NMR_AUTH__TYPE", "local")]);
    add_user(&reg, "alice", "correct horse");
    let me = reg.url();
    for next in [
        "%2F-%2Fweb%2Fsearch%0D%0ASet-Cookie%3A%20evil%3D1",
        "%2F%0AX-Evil%3A%201",
        "%2F%0DX-Evil%3A%201",
        "%2F%00X-Evil",
        "%2F-%2Fweb%2Fsearch%3Fq%3Da%0D%0A%0D%0A%3Cscript%3Eevil()%3C%2Fscript%3E",
    ] {
        let form = format!("user=alice&password=correct+horse&next={next}&session=");
        let request = format!(
            "POST /-/web/login HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nOrigin: {me}\r\nAccept: text/html\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{form}",
            reg.port,
            form.len()
        );
        let got = whole_exchange(reg.port, &request);
        assert_eq!(got.matches("HTTP/1.1 ").count(), 1, "one answer: {got}");
        assert!(got.starts_with("HTTP/1.1 303 "), "{got}");
        assert!(got.contains("\r\nLocation: /\r\n"), "the home page: {got}");
        assert!(!got.to_ascii_lowercase().contains("evil"), "{got}");
        // The next client gets its own answer.
        let ping = http(reg.port, "GET", "/-/ping", &[], b"");
        assert_eq!((ping.status, ping.text().as_str()), (200, "{}"));
    }
}

#[test]
fn web_readme_table_alignment_survives_the_csp() {
    let reg = Registry::start();
    let readme = "| name | count |\n|:-----|------:|\n| a | 1 |\n";
    publish_with(
        &reg,
        None,
        "aligned",
        "1.0.0",
        json!({}),
        &fake_tgz("aligned"),
        Some(readme),
    );
    let html = page(&reg, "/-/web/package/aligned");
    // An inline style would be dropped by the CSP (style-src 'self'), so the column would show
    // left-aligned; a class from the stylesheet is allowed.
    assert!(!html.contains(" style="), "{html}");
    has_all(
        &html,
        &[
            "<th class=\"align-left\">name</th>",
            "<td class=\"align-right\">1</td>",
        ],
    );
    let css = html
        .split("rel=\"stylesheet\" href=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap();
    let css = reg.get(css).text();
    assert!(
        css.contains(".markdown .align-right { text-align: right; }"),
        "{css}"
    );
}

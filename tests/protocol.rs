//! The registry protocol details clients rely on, checked over raw HTTP:
//! - full vs abbreviated packuments (Accept), every name encoding, `?write=true`;
//! - strong ETags with 304, gzip, `Vary`; tarballs with Content-Length, HEAD, digests;
//! - `dist.tarball` built from the Host header (with a trusted proxy's `X-Forwarded-Proto`) or
//!   `server.public_url`;
//! - per-version documents by version and tag; ping; star; packuments survive a restart.

use crate::support::*;
use serde_json::{json, Value};
use std::io::Read;

const CORGI: &str = "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*";

#[test]
fn full_and_abbreviated_packuments() {
    let reg = Registry::start();
    let tgz = raw_publish(&reg, "@acme/widget", "1.0.0");
    let full = reg.request(
        "GET",
        "/@acme%2fwidget",
        &[("Accept", "application/json")],
        b"",
    );
    assert_eq!(full.status, 200);
    assert_eq!(full.header("content-type"), Some("application/json"));
    let doc = full.json();
    assert_eq!(doc["_id"], "@acme/widget");
    assert!(doc["_rev"].as_str().unwrap().starts_with("1-"));
    assert_eq!(doc["readme"], "# readme");
    assert_eq!(doc["dist-tags"], json!({"latest": "1.0.0"}));
    let v = &doc["versions"]["1.0.0"];
    assert_eq!(v["dist"]["shasum"], sha1_hex(&tgz));
    assert_eq!(v["dist"]["integrity"], integrity(&tgz));
    assert_eq!(
        v["dist"]["tarball"],
        format!("{}/@acme/widget/-/widget-1.0.0.tgz", reg.url()),
        "client tarball URLs are ignored"
    );
    assert!(
        v.get("readme").is_none(),
        "readme lives at the top level only"
    );
    assert!(doc["time"]["1.0.0"].is_string() && doc["time"]["created"].is_string());

    let abbr = reg.request("GET", "/@acme%2fwidget", &[("Accept", CORGI)], b"");
    assert_eq!(
        abbr.header("content-type"),
        Some("application/vnd.npm.install-v1+json")
    );
    let a = abbr.json();
    assert_eq!(a["name"], "@acme/widget");
    assert!(a["modified"].is_string());
    assert_abbreviated(&a);
    let av = &a["versions"]["1.0.0"];
    assert_eq!(av["dependencies"], json!({}));
    assert_eq!(av["dist"], v["dist"]);
    assert!(av.get("description").is_none() && av.get("main").is_none());
    assert!(abbr.body.len() < full.body.len());

    // ?write=true always gets the editable full document.
    let w = reg
        .request(
            "GET",
            "/@acme%2fwidget?write=true",
            &[("Accept", CORGI)],
            b"",
        )
        .json();
    assert!(w["_rev"].is_string());
    for path in ["/@acme%2Fwidget", "/%40acme%2Fwidget", "/@acme/widget"] {
        assert_eq!(
            reg.request("GET", path, &[("Accept", "application/json")], b"")
                .body,
            full.body,
            "{path}"
        );
    }
}

/// The top-level fields of npm's abbreviated format, and nothing else.
const ABBREVIATED_TOP: &[&str] = &["name", "modified", "dist-tags", "versions"];

/// The per-version fields of npm's abbreviated format and those npm's installer reads from it.
const ABBREVIATED_VERSION: &[&str] = &[
    "name",
    "version",
    "dependencies",
    "optionalDependencies",
    "devDependencies",
    "bundleDependencies",
    "peerDependencies",
    "peerDependenciesMeta",
    "acceptDependencies",
    "bin",
    "directories",
    "dist",
    "engines",
    "_hasShrinkwrap",
    "hasInstallScript",
    "deprecated",
    "os",
    "cpu",
    "libc",
    "funding",
];

/// Panics on any field of an abbreviated document that npm's format does not define.
pub fn assert_abbreviated(doc: &Value) {
    for key in doc.as_object().unwrap().keys() {
        assert!(
            ABBREVIATED_TOP.contains(&key.as_str()),
            "top-level {key:?} in {doc}"
        );
    }
    for (v, m) in doc["versions"].as_object().unwrap() {
        for key in m.as_object().unwrap().keys() {
            assert!(
                ABBREVIATED_VERSION.contains(&key.as_str()),
                "{key:?} in version {v} of {doc}"
            );
        }
    }
}

#[test]
fn install_script_flag_and_dependency_fields_reach_the_abbreviated_document() {
    let reg = Registry::start();
    let tgz = fake_tgz("scripts");
    let mut b = publish_body("withscripts", "1.0.0", &tgz, "latest");
    let v = &mut b["versions"]["1.0.0"];
    v["scripts"] = json!({"postinstall": "node x.js", "test": "true"});
    v["peerDependencies"] = json!({"react": "*"});
    v["bin"] = json!({"ws": "cli.js"});
    v["engines"] = json!({"node": ">=18"});
    v["bundledDependencies"] = json!(["inside"]);
    v["funding"] = json!("https://fund.example.test");
    v["_npmUser"] = json!({"name": "ann"});
    v["gitHead"] = json!("abc");
    assert_eq!(reg.put_json("/withscripts", &b).status, 201);
    let a = reg
        .request("GET", "/withscripts", &[("Accept", CORGI)], b"")
        .json();
    let av = &a["versions"]["1.0.0"];
    assert_eq!(av["hasInstallScript"], true);
    assert_eq!(av["peerDependencies"], json!({"react": "*"}));
    assert_eq!(av["bin"], json!({"ws": "cli.js"}));
    assert_eq!(av["engines"], json!({"node": ">=18"}));
    assert!(av.get("scripts").is_none());
    assert_eq!(
        av["bundleDependencies"],
        json!(["inside"]),
        "npm's spelling"
    );
    assert_eq!(av["funding"], "https://fund.example.test");
    assert_abbreviated(&a);
}

#[test]
fn etags_304_and_gzip() {
    let reg = Registry::start();
    raw_publish(&reg, "plainpkg", "1.0.0");
    let r = reg.get("/plainpkg");
    let etag = r.header("etag").unwrap().to_string();
    assert!(etag.starts_with('"') && etag.ends_with('"'));
    assert!(r.header("vary").unwrap().contains("Accept"));
    let again = reg.request("GET", "/plainpkg", &[("If-None-Match", &etag)], b"");
    assert_eq!((again.status, again.body.len()), (304, 0));
    assert_eq!(again.header("etag"), Some(etag.as_str()));

    let gz = reg.request(
        "GET",
        "/plainpkg",
        &[("Accept-Encoding", "gzip, deflate")],
        b"",
    );
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(&gz.body[..])
        .read_to_end(&mut plain)
        .unwrap();
    assert_eq!(plain, r.body);
    let gz_etag = gz.header("etag").unwrap().to_string();
    assert_ne!(gz_etag, etag, "each encoding has its own strong ETag");
    assert_eq!(
        reg.request(
            "GET",
            "/plainpkg",
            &[("Accept-Encoding", "gzip"), ("If-None-Match", &gz_etag)],
            b""
        )
        .status,
        304
    );

    // A change makes the old ETag stale.
    raw_publish(&reg, "plainpkg", "1.1.0");
    let changed = reg.request("GET", "/plainpkg", &[("If-None-Match", &etag)], b"");
    assert_eq!(changed.status, 200);
    assert_eq!(changed.json()["dist-tags"]["latest"], "1.1.0");
}

#[test]
fn tarballs_have_length_support_head_and_match_their_digests() {
    let reg = Registry::start();
    // Large enough that a chunked response would have been chosen without our threshold.
    let big: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let r = reg.put_json("/bigpkg", &publish_body("bigpkg", "1.0.0", &big, "latest"));
    assert_eq!(r.status, 201, "{}", r.text());
    let t = reg.get("/bigpkg/-/bigpkg-1.0.0.tgz");
    assert_eq!(t.status, 200);
    assert_eq!(t.header("content-length"), Some("200000"));
    assert_eq!(t.header("content-type"), Some("application/octet-stream"));
    assert!(t.header("transfer-encoding").is_none());
    assert_eq!(t.body, big);
    let h = reg.request("HEAD", "/bigpkg/-/bigpkg-1.0.0.tgz", &[], b"");
    assert_eq!(
        (h.status, h.header("content-length")),
        (200, Some("200000"))
    );
    assert!(t.header("cache-control").unwrap().contains("immutable"));
    let etag = t.header("etag").unwrap();
    assert_eq!(etag, format!("\"{}\"", sha1_hex(&big)));
    let again = reg.request(
        "GET",
        "/bigpkg/-/bigpkg-1.0.0.tgz",
        &[("If-None-Match", etag)],
        b"",
    );
    assert_eq!(again.status, 304);
}

#[test]
fn tarball_urls_follow_the_host_the_client_used() {
    let reg = Registry::start();
    raw_publish(&reg, "@acme/widget", "1.0.0");
    let via = |headers: &[(&str, &str)]| {
        reg.request("GET", "/@acme%2fwidget", headers, b"").json()["versions"]["1.0.0"]["dist"]
            ["tarball"]
            .clone()
    };
    assert_eq!(
        via(&[("Host", "npm.internal.test:8080")]),
        "http://npm.internal.test:8080/@acme/widget/-/widget-1.0.0.tgz"
    );
    // Only a proxy in server.trusted_proxies is believed about the scheme (see proxies.rs).
    assert_eq!(
        via(&[
            ("Host", "npm.internal.test"),
            ("X-Forwarded-Proto", "https")
        ]),
        "http://npm.internal.test/@acme/widget/-/widget-1.0.0.tgz"
    );
    let bad = reg.request("GET", "/@acme%2fwidget", &[("Host", "evil\"host")], b"");
    assert_eq!(bad.status, 400);
    let one = reg
        .request(
            "GET",
            "/@acme%2fwidget/1.0.0",
            &[("Host", "other.test")],
            b"",
        )
        .json();
    assert_eq!(
        one["dist"]["tarball"],
        "http://other.test/@acme/widget/-/widget-1.0.0.tgz"
    );

    let dir = reg.stop();
    let reg = Registry::start_in(
        dir,
        &["--public-url", "https://registry.corp.test/npm/"],
        &[],
    );
    assert_eq!(
        via_reg(&reg),
        "https://registry.corp.test/npm/@acme/widget/-/widget-1.0.0.tgz"
    );
}

fn via_reg(reg: &Registry) -> Value {
    reg.get("/@acme%2fwidget").json()["versions"]["1.0.0"]["dist"]["tarball"].clone()
}

#[test]
fn versions_by_number_and_tag() {
    let reg = Registry::start();
    raw_publish(&reg, "plainpkg", "1.0.0");
    let tgz = fake_tgz("beta");
    assert_eq!(
        reg.put_json(
            "/plainpkg",
            &publish_body("plainpkg", "2.0.0-beta.1", &tgz, "beta")
        )
        .status,
        201
    );
    assert_eq!(reg.get("/plainpkg/1.0.0").json()["version"], "1.0.0");
    assert_eq!(reg.get("/plainpkg/latest").json()["version"], "1.0.0");
    let beta = reg.get("/plainpkg/beta").json();
    assert_eq!(beta["version"], "2.0.0-beta.1");
    assert_eq!(beta["dist"]["integrity"], integrity(&tgz));
    assert_eq!(
        reg.get("/-/package/plainpkg/dist-tags").json(),
        json!({"beta": "2.0.0-beta.1", "latest": "1.0.0"})
    );
}

#[test]
fn ping_and_star() {
    let reg = Registry::start();
    let p = reg.get("/-/ping?write=true");
    assert_eq!((p.status, p.json()), (200, json!({})));
    raw_publish(&reg, "plainpkg", "1.0.0");
    let rev = reg.get("/plainpkg?write=true").json()["_rev"].clone();
    let r = reg.put_json(
        "/plainpkg",
        &json!({"_id": "plainpkg", "_rev": rev, "users": {"alice": true}}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let doc = reg.get("/plainpkg").json();
    assert_eq!(doc["users"], json!({"alice": true}));
    assert_eq!(
        doc["versions"]["1.0.0"]["version"], "1.0.0",
        "starring leaves versions alone"
    );
}

#[test]
fn audit_bodies_are_inflated_and_answered_with_no_advisory_data() {
    use std::io::Write;
    let reg = Registry::start();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(br#"{"plainpkg":["1.0.0"]}"#).unwrap();
    let gz = enc.finish().unwrap();
    let gzip = [
        ("Content-Encoding", "gzip"),
        ("Content-Type", "application/json"),
    ];
    for path in [
        "/-/npm/v1/security/advisories/bulk",
        "/-/npm/v1/security/audits/quick",
        "/-/npm/v1/security/audits",
    ] {
        let r = reg.request("POST", path, &gzip, &gz);
        assert_eq!(r.status, 404, "{path}");
        assert!(
            r.error().contains("no security advisory data"),
            "{}",
            r.error()
        );
    }
    let r = reg.request(
        "POST",
        "/-/npm/v1/security/advisories/bulk",
        &gzip,
        b"not gzip at all",
    );
    assert_eq!(r.status, 400);
    assert!(r.error().contains("gzip"));
}

#[test]
fn stored_state_survives_a_restart() {
    let reg = Registry::start();
    let tgz = raw_publish(&reg, "@acme/widget", "1.0.0");
    let host = [("Host", "npm.internal.test")];
    let doc = reg.request("GET", "/@acme%2fwidget", &host, b"").body;
    let dir = reg.stop();
    let reg = Registry::start_in(dir, &[], &[]);
    assert_eq!(reg.request("GET", "/@acme%2fwidget", &host, b"").body, doc);
    assert_eq!(reg.get("/@acme/widget/-/widget-1.0.0.tgz").body, tgz);
}

#[test]
fn legacy_names_with_capitals_publish_and_install_but_never_twice_in_two_cases() {
    let reg = Registry::start();
    let work = TempDir::new("legacy");
    let c = Client::new(&reg);
    // npm accepts such names for packages that exist (validForOldPackages), and so must a
    // registry that receives them from forks, bundles and migrations.
    c.ok(
        "npm",
        &["publish"],
        &make_package(
            work.path(),
            json!({"name": "JSONStream", "version": "1.0.0"}),
        ),
    );
    assert_eq!(reg.get("/JSONStream").json()["name"], "JSONStream");
    npm_installs(&reg, work.path(), "JSONStream", "1.0.0");
    raw_publish(&reg, "@Legacy/Thing", "1.0.0");
    raw_publish(&reg, "odd~name(1)", "1.0.0");

    // A name that differs only in case is another package only to a careless reader: refused,
    // whichever spelling came first.
    raw_publish(&reg, "plainpkg", "1.0.0");
    for (name, there) in [
        ("jsonstream", "JSONStream"),
        ("JsonStream", "JSONStream"),
        ("PlainPkg", "plainpkg"),
        ("@legacy/thing", "@Legacy/Thing"),
    ] {
        let tgz = fake_tgz(name);
        let r = reg.put_json(
            &format!("/{}", name.replace('/', "%2f")),
            &publish_body(name, "2.0.0", &tgz, "latest"),
        );
        expect_error(&r, 409, &[name, there, "differs only in case"]);
        assert_eq!(
            reg.get(&format!("/{}", name.replace('/', "%2f"))).status,
            404
        );
    }
    // Versions of the package itself still publish under its own spelling.
    raw_publish(&reg, "JSONStream", "1.1.0");

    // What no npm name may be is still refused, capitals or not.
    for name in [
        ".Hidden",
        "_Under",
        " Spaced",
        "Sp ace",
        "Node_Modules",
        "-Dash",
        "Slash/Ed",
        "Ünï",
        "@Scope/.dot",
    ] {
        let tgz = fake_tgz(name);
        let path = format!("/{}", name.replace('/', "%2f").replace(' ', "%20"));
        let r = reg.put_json(&path, &publish_body(name, "1.0.0", &tgz, "latest"));
        assert!(
            matches!(r.status, 400 | 404 | 405),
            "{name:?}: {} {}",
            r.status,
            r.text()
        );
    }
}

#[test]
fn search_requires_text_clamps_size_and_pages_past_the_end_are_empty() {
    let reg = Registry::start();
    // One more than the largest page, so a clamped size shows as a full page of 250.
    for i in 0..251 {
        let name = format!("findme-{i:03}");
        let tgz = fake_tgz(&name);
        let r = reg.put_json(
            &format!("/{name}"),
            &publish_body(&name, "1.0.0", &tgz, "latest"),
        );
        assert_eq!(r.status, 201, "{}", r.text());
    }
    for path in [
        "/-/v1/search",
        "/-/v1/search?text=",
        "/-/v1/search?size=5&text=%20",
    ] {
        expect_error(&reg.get(path), 400, &["text is required"]);
    }
    let page = |query: &str| {
        let r = reg.get(&format!("/-/v1/search?text=findme{query}"));
        assert_eq!(r.status, 200, "{query}: {}", r.text());
        let doc = r.json();
        assert_eq!(doc["total"], 251, "{query}");
        doc["objects"].as_array().unwrap().len()
    };
    assert_eq!(page(""), 20, "the default size");
    assert_eq!(
        page("&size=1000"),
        250,
        "clamped to the maximum, not refused"
    );
    assert_eq!(page("&size=99999999999999999999"), 250);
    assert_eq!(page("&size=250&from=250"), 1);
    assert_eq!(page("&from=251"), 0, "past the end: an empty page");
    assert_eq!(page("&from=99999999999999999999"), 0);
    for bad in ["size=-1", "size=ten", "from=-5", "from=1.5"] {
        let r = reg.get(&format!("/-/v1/search?text=findme&{bad}"));
        expect_error(&r, 400, &["whole number"]);
    }

    // The web UI's search lists everything without text (its "All packages"), and keeps the
    // other rules: a page past the end, however far, is an empty page.
    let web = |query: &str| {
        let r = reg.request(
            "GET",
            &format!("/-/web/search?{query}"),
            &[("Accept", "text/html")],
            b"",
        );
        assert_eq!(r.status, 200, "{query}");
        r.text()
    };
    assert!(web("q=").contains("All packages"));
    assert!(web("q=findme&page=13").contains("findme-250"));
    for far in ["14", "99999999999999999999"] {
        let html = web(&format!("q=findme&page={far}"));
        assert!(html.contains("No more results."), "page {far}: {html}");
    }
}

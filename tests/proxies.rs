//! Issue #15, reverse proxies: `X-Forwarded-For` and `X-Forwarded-Proto` are believed only from
//! the addresses in `server.trusted_proxies`. From anyone else they change neither the tarball
//! URLs, nor the session cookie's `Secure` flag and the forms' origin, nor the address an
//! address-limited token is checked against.

use crate::support::auth::*;
use crate::support::*;
use serde_json::json;

/// A local-auth registry with alice, her token, and one limited to 10.0.0.0/8.
fn registry(extra: &[&str]) -> (Registry, String, String) {
    let reg = Registry::start_with(extra, &[("NMR_AUTH__TYPE", "local")]);
    add_user(&reg, "alice", "alice password");
    let rw = token(&reg, "alice", &[]);
    let body = json!({"password": "alice password", "cidr_whitelist": ["10.0.0.0/8"]}).to_string();
    let r = as_user(&reg, &rw, "POST", "/-/npm/v1/tokens", body.as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    let limited = r.json()["token"].as_str().unwrap().to_string();
    let tgz = fake_tgz("proxied@1.0.0");
    let publish = publish_body("proxied", "1.0.0", &tgz, "latest").to_string();
    assert_eq!(
        as_user(&reg, &rw, "PUT", "/proxied", publish.as_bytes()).status,
        201
    );
    (reg, rw, limited)
}

fn tarball_url(reg: &Registry, token: &str, headers: &[(&str, &str)]) -> String {
    let auth = format!("Bearer {token}");
    let mut h = vec![("Authorization", auth.as_str())];
    h.extend_from_slice(headers);
    let r = reg.request("GET", "/proxied", &h, b"");
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["versions"]["1.0.0"]["dist"]["tarball"]
        .as_str()
        .unwrap()
        .to_string()
}

fn web_login(reg: &Registry, origin: &str, headers: &[(&str, &str)]) -> Resp {
    let mut h = vec![
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Accept", "text/html"),
        ("Origin", origin),
    ];
    h.extend_from_slice(headers);
    reg.request(
        "POST",
        "/-/web/login",
        &h,
        b"user=alice&password=alice+password&next=%2F",
    )
}

fn as_from(reg: &Registry, token: &str, forwarded_for: &str) -> u16 {
    let auth = format!("Bearer {token}");
    reg.request(
        "GET",
        "/proxied",
        &[("Authorization", &auth), ("X-Forwarded-For", forwarded_for)],
        b"",
    )
    .status
}

#[test]
fn forwarded_headers_from_an_untrusted_client_change_nothing() {
    let (reg, rw, limited) = registry(&[]);
    let https = [
        ("Host", "npm.internal.test"),
        ("X-Forwarded-Proto", "https"),
    ];
    assert_eq!(
        tarball_url(&reg, &rw, &https),
        "http://npm.internal.test/proxied/-/proxied-1.0.0.tgz"
    );
    // The forms' origin and the cookie stay those of plain HTTP.
    let me = reg.url();
    let r = web_login(&reg, &me, &[("X-Forwarded-Proto", "https")]);
    assert_eq!(r.status, 303, "{}", r.text());
    let cookie = r.header("set-cookie").unwrap();
    assert!(!cookie.contains("Secure"), "{cookie}");
    let https_origin = me.replace("http://", "https://");
    let r = web_login(&reg, &https_origin, &[("X-Forwarded-Proto", "https")]);
    assert_eq!(r.status, 403, "{}", r.text());
    // An address-limited token is checked against the peer, whatever the client claims.
    assert_eq!(as_from(&reg, &limited, "10.1.2.3"), 403);
}

#[test]
fn a_trusted_proxy_names_the_client_and_its_scheme() {
    let (reg, rw, limited) = registry(&["--set", "server.trusted_proxies=192.0.2.0/24,127.0.0.1"]);
    let https = [
        ("Host", "npm.internal.test"),
        ("X-Forwarded-Proto", "https"),
    ];
    assert_eq!(
        tarball_url(&reg, &rw, &https),
        "https://npm.internal.test/proxied/-/proxied-1.0.0.tgz"
    );
    let https_origin = reg.url().replace("http://", "https://");
    let r = web_login(&reg, &https_origin, &[("X-Forwarded-Proto", "https")]);
    assert_eq!(r.status, 303, "{}", r.text());
    let cookie = r.header("set-cookie").unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");

    assert_eq!(
        as_from(&reg, &limited, "10.1.2.3"),
        200,
        "the forwarded client is in range"
    );
    assert_eq!(
        as_from(&reg, &limited, "10.1.2.3, 192.0.2.7"),
        200,
        "through two trusted proxies"
    );
    assert_eq!(
        as_from(&reg, &limited, "10.1.2.3, 198.51.100.1"),
        403,
        "the rightmost address no trusted proxy stands for is the client"
    );
    // Loopback is the proxy here, not the client: a loopback-only token does not pass through.
    let body = json!({"password": "alice password", "cidr_whitelist": ["127.0.0.0/8"]}).to_string();
    let local_only = as_user(&reg, &rw, "POST", "/-/npm/v1/tokens", body.as_bytes()).json()
        ["token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(as_from(&reg, &local_only, "198.51.100.1"), 403);
}

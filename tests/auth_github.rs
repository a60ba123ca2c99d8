//! `auth.type = "github"` against a fake GitHub API (GitHub Enterprise form, on loopback):
//! - pull permission installs, push publishes, none gets 404 (see `visibility`); the scope must
//!   equal the repository owner; unscoped packages are refused unless allowed; a publish cannot
//!   move a package to another repository; a body without a repository is refused;
//! - answers are cached (across restarts too), revalidated with If-None-Match after the TTL;
//! - GitHub failing, rate-limited or gone → 503 naming GitHub; a bad token → 401.
//!
//! Every refusal leaves the stored state as it was.

use crate::support::auth::as_user;
use crate::support::github::{FakeGitHub, Mode};
use crate::support::*;
use serde_json::json;

pub(crate) const HOST: &str = "ghe.corp.test";

pub(crate) fn registry(gh: &FakeGitHub, extra: &[(&str, &str)]) -> Registry {
    restart(TempDir::new("registry"), gh, extra)
}

pub(crate) fn fake() -> FakeGitHub {
    let gh = FakeGitHub::start();
    gh.user("tok-alice", "alice")
        .user("tok-bob", "bob")
        .user("tok-carol", "carol")
        .user("tok-dave", "dave");
    gh.grant("alice", "Acme/widget", true, true)
        .grant("alice", "acme/plain", true, true)
        .grant("alice", "acme/thing", true, true)
        .grant("bob", "acme/widget", true, false)
        .grant("dave", "acme/other", true, true);
    gh
}

pub(crate) fn publish_as(
    reg: &Registry,
    token: &str,
    name: &str,
    version: &str,
    repo: Option<&str>,
) -> Resp {
    let tgz = fake_tgz(&format!("{name}@{version}"));
    let mut body = publish_body(name, version, &tgz, "latest");
    if let Some(r) = repo {
        body["versions"][version]["repository"] =
            json!({"type": "git", "url": format!("git+https://{HOST}/{r}.git")});
    }
    as_user(
        reg,
        token,
        "PUT",
        &format!("/{}", name.replace('/', "%2f")),
        body.to_string().as_bytes(),
    )
}

/// alice publishes @acme/widget@1.0.0 from acme/widget.
pub(crate) fn publish_widget(reg: &Registry) {
    let r = publish_as(
        reg,
        "tok-alice",
        "@acme/widget",
        "1.0.0",
        Some("acme/widget"),
    );
    assert_eq!(r.status, 201, "{}", r.text());
}

/// Restarts on the same data with the fake's settings plus `extra`.
pub(crate) fn restart(dir: TempDir, gh: &FakeGitHub, extra: &[(&str, &str)]) -> Registry {
    let mut env = vec![
        ("NMR_AUTH__TYPE", "github"),
        ("NMR_AUTH__GITHUB__HOST", HOST),
        ("NMR_AUTH__GITHUB__API_URL", gh.url.as_str()),
    ];
    env.extend_from_slice(extra);
    Registry::start_in(dir, &[], &env)
}

#[test]
fn repository_permissions_decide_who_reads_and_writes() {
    let gh = fake();
    let reg = registry(&gh, &[]);
    publish_widget(&reg);
    let before = reg.snapshot();

    let r = publish_as(
        &reg,
        "tok-bob",
        "@acme/widget",
        "1.1.0",
        Some("acme/widget"),
    );
    assert_eq!(r.status, 403, "pull is not push: {}", r.text());
    assert!(
        r.error().contains("acme/widget") || r.error().contains("Acme/widget"),
        "{}",
        r.error()
    );
    assert_eq!(
        reg.get_as("/@acme%2fwidget", "tok-bob").status,
        200,
        "pull installs"
    );
    assert_eq!(
        reg.get_as("/@acme/widget/-/widget-1.0.0.tgz", "tok-bob")
            .status,
        200
    );
    assert_eq!(
        reg.get_as("/@acme%2fwidget", "tok-carol").status,
        404,
        "no access, no install, and no sign that it exists"
    );
    assert_eq!(reg.get("/@acme%2fwidget").status, 401);
    let r = reg.get_as("/@acme%2fwidget", "tok-nobody");
    expect_error(&r, 401, &["GitHub"]);

    // A publish cannot move the package: dave may push to acme/other, not to acme/widget
    // (which he may not even read).
    let r = publish_as(
        &reg,
        "tok-dave",
        "@acme/widget",
        "1.2.0",
        Some("acme/other"),
    );
    assert_eq!(r.status, 404, "{}", r.text());
    // The scope must be the repository owner; unscoped packages are refused; a repository is needed.
    let r = publish_as(
        &reg,
        "tok-alice",
        "@other/thing",
        "1.0.0",
        Some("acme/thing"),
    );
    expect_error(&r, 403, &["scope"]);
    let r = publish_as(&reg, "tok-alice", "plainpkg", "1.0.0", Some("acme/plain"));
    expect_error(&r, 403, &["unscoped"]);
    // A body that names another package than the URL is refused before any permission talk.
    let mut other = publish_body("@acme/widget", "1.3.0", &fake_tgz("x"), "latest");
    other["versions"]["1.3.0"]["repository"] = json!(format!("https://{HOST}/acme/widget"));
    let r = as_user(
        &reg,
        "tok-alice",
        "PUT",
        "/@acme%2fthing",
        other.to_string().as_bytes(),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let r = publish_as(&reg, "tok-alice", "@acme/norepo", "1.0.0", None);
    expect_error(&r, 400, &["repository"]);
    let r = publish_as(
        &reg,
        "tok-alice",
        "@acme/elsewhere",
        "1.0.0",
        Some("../../x"),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(reg.snapshot(), before, "refused publishes changed nothing");

    // Tags and deprecation need push too.
    assert_eq!(
        as_user(
            &reg,
            "tok-bob",
            "PUT",
            "/-/package/@acme%2fwidget/dist-tags/next",
            b"\"1.0.0\""
        )
        .status,
        403
    );
    assert_eq!(
        as_user(
            &reg,
            "tok-alice",
            "PUT",
            "/-/package/@acme%2fwidget/dist-tags/next",
            b"\"1.0.0\""
        )
        .status,
        201
    );
    assert_eq!(
        as_user(&reg, "tok-alice", "GET", "/-/whoami", b"").json()["username"],
        "alice"
    );

    let dir = reg.stop();
    let reg = restart(dir, &gh, &[("NMR_AUTH__GITHUB__ALLOW_UNSCOPED", "true")]);
    assert_eq!(
        publish_as(&reg, "tok-alice", "plainpkg", "1.0.0", Some("acme/plain")).status,
        201,
        "unscoped when allowed"
    );
}

#[test]
fn github_answers_are_cached_and_revalidated() {
    let gh = fake();
    let reg = registry(&gh, &[("NMR_AUTH__GITHUB__CACHE__TTL", "1")]);
    publish_widget(&reg);
    let calls = gh.seen().len();
    let dir = reg.stop();
    // Within the TTL a restarted registry asks GitHub nothing: the cache is in the database.
    let reg = restart(dir, &gh, &[("NMR_AUTH__GITHUB__CACHE__TTL", "300")]);
    assert_eq!(reg.get_as("/@acme%2fwidget", "tok-alice").status, 200);
    assert_eq!(
        gh.seen().len(),
        calls,
        "answered from the cache: {:?}",
        &gh.seen()[calls..]
    );
    let dir = reg.stop();

    // After the TTL the answer is revalidated: GitHub says 304 and the request succeeds.
    let reg = restart(dir, &gh, &[("NMR_AUTH__GITHUB__CACHE__TTL", "1")]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        assert_eq!(reg.get_as("/@acme%2fwidget", "tok-alice").status, 200);
        if gh.seen()[calls..]
            .iter()
            .any(|s| s.status == 304 && s.if_none_match.is_some())
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no revalidation with If-None-Match: {:?}",
            gh.seen()
        );
    }
}

#[test]
fn github_trouble_is_503_and_never_a_silent_allow() {
    let gh = fake();
    let reg = registry(&gh, &[]);
    let before = reg.snapshot();
    gh.set_mode(Mode::Failing);
    let r = publish_as(
        &reg,
        "tok-alice",
        "@acme/widget",
        "1.0.0",
        Some("acme/widget"),
    );
    expect_error(&r, 503, &["GitHub"]);
    gh.set_mode(Mode::RateLimited);
    let r = publish_as(
        &reg,
        "tok-alice",
        "@acme/widget",
        "1.0.0",
        Some("acme/widget"),
    );
    expect_error(&r, 503, &["rate limit"]);
    drop(gh);
    let r = publish_as(
        &reg,
        "tok-alice",
        "@acme/widget",
        "1.0.0",
        Some("acme/widget"),
    );
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(reg.snapshot(), before);
}

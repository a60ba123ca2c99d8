//! Issue #15, the limits of local accounts: token lifetimes that are out of range are refused
//! with 400 (never wrapped around or ignored).

use crate::support::auth::*;
use crate::support::*;
use serde_json::json;

fn local() -> Registry {
    Registry::start_with(&[], &[("NMR_AUTH__TYPE", "local")])
}

#[test]
fn token_lifetimes_out_of_range_are_refused() {
    let reg = local();
    add_user(&reg, "alice", "alice password");
    let rw = token(&reg, "alice", &[]);
    for expires in [
        json!(-1),
        json!(1.5),
        json!("7"),
        json!(3651),
        json!(u64::MAX),
    ] {
        let body = json!({"password": "alice password", "expires": expires}).to_string();
        let r = as_user(&reg, &rw, "POST", "/-/npm/v1/tokens", body.as_bytes());
        expect_error(&r, 400, &["expires", "days"]);
    }
    let body = json!({"password": "alice password", "expires": 30}).to_string();
    let r = as_user(&reg, &rw, "POST", "/-/npm/v1/tokens", body.as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    let listed = as_user(&reg, &rw, "GET", "/-/npm/v1/tokens", b"").json();
    assert_eq!(
        listed["objects"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| !t["expires"].is_null())
            .count(),
        1,
        "only the 30-day token expires: {listed}"
    );

    for days in ["3651", "99999999999999999"] {
        let (code, out, err) = nmr(
            &reg,
            &["token", "create", "alice", "--expires-days", days],
            "",
        );
        assert_ne!(code, 0, "{out}{err}");
        assert!(err.contains("0 to 3650"), "{err}");
    }
    let (code, out, err) = nmr(&reg, &["token", "list", "alice"], "");
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 2, "no token was made: {out}");
}

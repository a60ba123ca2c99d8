//! A stand-in for GitHub's REST API (the one thing the tests fake, since GitHub cannot be
//! reached here). It answers `GET /user` and `GET /repos/{owner}/{repo}` as GitHub does: a
//! Bearer token identifies the user; repositories it cannot see are 404 (GitHub hides private
//! ones that way); ETags with `If-None-Match` → 304; a missing `User-Agent` is 403; and it can be
//! switched to answer 500, or to a rate-limit 403 with `x-ratelimit-remaining: 0`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::http_server::{TestRequest, TestResponse, TestServer};

/// How the fake answers everything.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    Normal,
    Failing,
    RateLimited,
}

/// One request the fake received.
#[derive(Clone, Debug)]
pub struct Seen {
    pub path: String,
    pub token: Option<String>,
    pub if_none_match: Option<String>,
    pub status: u16,
}

#[derive(Default)]
struct State {
    /// token → login
    users: HashMap<String, String>,
    /// (login, "owner/repo" lower-case) → (pull, push)
    perms: HashMap<(String, String), (bool, bool)>,
    mode: Option<Mode>,
    seen: Vec<Seen>,
}

/// A running fake GitHub API.
pub struct FakeGitHub {
    pub url: String,
    state: Arc<Mutex<State>>,
    /// Held for its drop, which stops the server.
    _server: TestServer,
}

impl FakeGitHub {
    pub fn start() -> FakeGitHub {
        let state = Arc::new(Mutex::new(State::default()));
        let st = state.clone();
        let server = TestServer::start(move |rq| {
            let (status, body, extra) = answer(&st, rq);
            let mut resp =
                TestResponse::new(status, body).with_header("Content-Type", "application/json");
            for (k, v) in extra {
                resp = resp.with_header(&k, &v);
            }
            resp
        });
        FakeGitHub {
            url: server.url(),
            state,
            _server: server,
        }
    }

    /// A token that belongs to `login`.
    pub fn user(&self, token: &str, login: &str) -> &Self {
        self.state
            .lock()
            .unwrap()
            .users
            .insert(token.into(), login.into());
        self
    }

    /// What `login` may do with `repo` (`owner/name`).
    pub fn grant(&self, login: &str, repo: &str, pull: bool, push: bool) -> &Self {
        self.state
            .lock()
            .unwrap()
            .perms
            .insert((login.into(), repo.to_lowercase()), (pull, push));
        self
    }

    pub fn set_mode(&self, mode: Mode) {
        self.state.lock().unwrap().mode = Some(mode);
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }
}

fn etag_of(body: &str) -> String {
    format!("\"{}\"", super::sha1_hex(body.as_bytes()))
}

fn answer(st: &Arc<Mutex<State>>, rq: &TestRequest) -> (u16, String, Vec<(String, String)>) {
    let header = |n: &str| rq.header(n).map(str::to_string);
    let token = header("Authorization").and_then(|a| a.strip_prefix("Bearer ").map(str::to_string));
    let inm = header("If-None-Match");
    let mut s = st.lock().unwrap();
    let limits = vec![
        ("x-ratelimit-limit".to_string(), "5000".to_string()),
        ("x-ratelimit-remaining".to_string(), "4999".to_string()),
    ];
    let (status, body, extra) = match s.mode.unwrap_or(Mode::Normal) {
        Mode::Failing => (500, r#"{"message":"Server Error"}"#.to_string(), vec![]),
        Mode::RateLimited => (
            403,
            r#"{"message":"API rate limit exceeded"}"#.to_string(),
            vec![
                ("x-ratelimit-remaining".into(), "0".into()),
                ("x-ratelimit-reset".into(), "4102444800".into()),
            ],
        ),
        Mode::Normal if header("User-Agent").is_none() => {
            (403, r#"{"message":"missing User-Agent"}"#.into(), vec![])
        }
        Mode::Normal => {
            let login = token.as_ref().and_then(|t| s.users.get(t).cloned());
            let path = rq.path.clone();
            match (login, path.strip_prefix("/repos/")) {
                (None, _) => (
                    401,
                    r#"{"message":"Bad credentials","status":"401"}"#.into(),
                    vec![],
                ),
                (Some(login), None) if path == "/user" => (
                    200,
                    format!(r#"{{"login":"{login}","id":1,"type":"User"}}"#),
                    limits,
                ),
                (Some(login), Some(repo)) => match s.perms.get(&(login, repo.to_lowercase())) {
                    Some((pull, push)) => (
                        200,
                        format!(
                            r#"{{"full_name":"{repo}","private":true,"permissions":{{"admin":false,"maintain":false,"push":{push},"triage":false,"pull":{pull}}}}}"#
                        ),
                        limits,
                    ),
                    None => (404, r#"{"message":"Not Found"}"#.into(), vec![]),
                },
                _ => (404, r#"{"message":"Not Found"}"#.into(), vec![]),
            }
        }
    };
    let (status, body, extra) = if status == 200 {
        let tag = etag_of(&body);
        if inm.as_deref() == Some(tag.as_str()) {
            (304, String::new(), vec![("ETag".to_string(), tag)])
        } else {
            let mut e = extra;
            e.push(("ETag".to_string(), tag));
            (200, body, e)
        }
    } else {
        (status, body, extra)
    };
    s.seen.push(Seen {
        path: rq.path.clone(),
        token,
        if_none_match: inm,
        status,
    });
    (status, body, extra)
}

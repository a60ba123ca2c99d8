//! A stand-in for GitHub's REST API (the one thing the tests fake, since GitHub cannot be
//! reached here). It answers `GET /user` and `GET /repos/{owner}/{repo}` as GitHub does: a
//! Bearer token identifies the user; repositories it cannot see are 404 (GitHub hides private
//! ones that way); ETags with `If-None-Match` → 304; a missing `User-Agent` is 403; and it can be
//! switched to answer 500, or to a rate-limit 403 with `x-ratelimit-remaining: 0`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

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
    server: Arc<tiny_http::Server>,
}

impl FakeGitHub {
    pub fn start() -> FakeGitHub {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let url = format!(
            "http://127.0.0.1:{}",
            server.server_addr().to_ip().unwrap().port()
        );
        let state = Arc::new(Mutex::new(State::default()));
        let (s, st) = (server.clone(), state.clone());
        std::thread::spawn(move || {
            for rq in s.incoming_requests() {
                let (status, body, extra) = answer(&st, &rq);
                let mut resp = tiny_http::Response::from_string(body).with_status_code(status);
                resp.add_header(
                    tiny_http::Header::from_bytes(&b"Content-Type"[..], &b"application/json"[..])
                        .unwrap(),
                );
                for (k, v) in extra {
                    resp.add_header(
                        tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()).unwrap(),
                    );
                }
                let _ = rq.respond(resp);
            }
        });
        FakeGitHub { url, state, server }
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

impl Drop for FakeGitHub {
    fn drop(&mut self) {
        self.server.unblock();
    }
}

fn etag_of(body: &str) -> String {
    format!("\"{}\"", super::sha1_hex(body.as_bytes()))
}

fn answer(st: &Arc<Mutex<State>>, rq: &tiny_http::Request) -> (u16, String, Vec<(String, String)>) {
    let header = |n: &'static str| {
        rq.headers()
            .iter()
            .find(|h| h.field.equiv(n))
            .map(|h| h.value.as_str().to_string())
    };
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
            let path = rq.url().to_string();
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
        path: rq.url().to_string(),
        token,
        if_none_match: inm,
        status,
    });
    (status, body, extra)
}

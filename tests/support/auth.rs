//! Helpers for the authentication tests: operator commands (`nmr user`, `nmr token`) run
//! against a registry's data dir, an interactive `npm login` driven through a pseudo-terminal,
//! and raw requests that carry a token.

use super::{fake_tgz, nmr_command, publish_body, Client, Registry, Resp};
use std::io::{Read, Write};
use std::path::Path;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

/// Runs `nmr ARGS` in the registry's directory (so it finds the same database) with `stdin`.
pub fn nmr(reg: &Registry, args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = nmr_command(reg.dir.path())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Creates a local account.
pub fn add_user(reg: &Registry, name: &str, password: &str) {
    let (code, out, err) = nmr(
        reg,
        &[
            "user",
            "add",
            name,
            "--email",
            &format!("{name}@example.test"),
        ],
        &format!("{password}\n"),
    );
    assert_eq!(code, 0, "{out}{err}");
}

/// Creates a token with `nmr token create` and returns the secret.
pub fn token(reg: &Registry, user: &str, extra: &[&str]) -> String {
    let mut args = vec!["token", "create", user];
    args.extend_from_slice(extra);
    let (code, out, err) = nmr(reg, &args, "");
    assert_eq!(code, 0, "{out}{err}");
    out.trim().to_string()
}

/// A request with `Authorization: Bearer <token>` (and a JSON content type for bodies).
pub fn as_user(reg: &Registry, token: &str, method: &str, path: &str, body: &[u8]) -> Resp {
    let auth = format!("Bearer {token}");
    reg.request(
        method,
        path,
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        body,
    )
}

/// A registry with `auth.type = local` and the `extra` environment.
pub fn local(extra: &[(&str, &str)]) -> Registry {
    let mut env = vec![("NMR_AUTH__TYPE", "local")];
    env.extend_from_slice(extra);
    Registry::start_with(&[], &env)
}

/// `PUT /-/user/org.couchdb.user:<name>` as `npm login --auth-type=legacy` sends it.
pub fn couch_login(reg: &Registry, name: &str, password: &str) -> Resp {
    let body = serde_json::json!({"name": name, "password": password}).to_string();
    reg.request(
        "PUT",
        &format!("/-/user/org.couchdb.user:{name}"),
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
}

/// Publishes `name@version` (a made-up tarball, tagged `latest`) with `token`, as raw HTTP.
pub fn publish_as(reg: &Registry, token: &str, name: &str, version: &str) -> Resp {
    let tgz = fake_tgz(&format!("{name}@{version}"));
    let body = publish_body(name, version, &tgz, "latest").to_string();
    as_user(
        reg,
        token,
        "PUT",
        &format!("/{}", name.replace('/', "%2f")),
        body.as_bytes(),
    )
}

/// Drives an interactive `npm login` through a pseudo-terminal (`script`), answering the
/// prompts as they appear. Returns whether npm succeeded and everything it printed.
pub fn npm_login(c: &Client, cwd: &Path, user: &str, password: &str) -> (bool, String) {
    let mut cmd = c.command(
        "script",
        &["-qec", "npm login --auth-type=legacy", "/dev/null"],
        cwd,
    );
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script (util-linux) runs npm in a terminal");
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut seen = String::new();
    let mut stdin = child.stdin.take().unwrap();
    let wait_for = |what: &str, seen: &mut String| -> bool {
        while !seen.contains(what) {
            match rx.recv_timeout(Duration::from_secs(60)) {
                Ok(chunk) => seen.push_str(&String::from_utf8_lossy(&chunk)),
                Err(_) => return false,
            }
        }
        true
    };
    for (prompt, answer) in [("Username:", user), ("Password:", password)] {
        if !wait_for(prompt, &mut seen) {
            let _ = child.kill();
            let _ = child.wait();
            return (false, seen);
        }
        // What came before the prompt has been consumed; only later prompts count now.
        seen = seen.split(prompt).last().unwrap_or("").to_string();
        stdin.write_all(format!("{answer}\r").as_bytes()).unwrap();
    }
    let status = child.wait().unwrap();
    while let Ok(chunk) = rx.recv_timeout(Duration::from_secs(5)) {
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    (status.success(), seen)
}

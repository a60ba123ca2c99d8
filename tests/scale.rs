//! Several instances on one PostgreSQL database and one bucket: whatever one writes, another
//! serves at once; concurrent publishes through both are all kept; one killed mid-publish
//! leaves the other serving and the store consistent; both ride out a database restart.

use crate::support::postgres::Postgres;
use crate::support::s3::S3Server;
use crate::support::*;
use std::sync::{Arc, Barrier};

/// Two instances (A and B) on `url` and the bucket.
fn pair(s3: &S3Server, url: &str) -> (Registry, Registry) {
    let db = format!("db.url={url}");
    let a = s3.registry(&["--set", &db]);
    let b = s3.registry(&["--set", &db]);
    (a, b)
}

fn versions(reg: &Registry, name: &str) -> Vec<String> {
    let r = reg.get(&format!("/{}", name.replace('/', "%2f")));
    assert_eq!(r.status, 200, "{}", r.text());
    let mut v: Vec<String> = r.json()["versions"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    v.sort();
    v
}

#[test]
fn a_version_published_through_one_instance_installs_through_the_other_at_once() {
    let pg = Postgres::shared();
    let s3 = S3Server::start();
    let (a, b) = pair(&s3, &pg.fresh_database());
    raw_publish(&a, "@acme/shared", "1.0.0");
    // B renders and keeps the packument now, so a stale copy would show below.
    assert_eq!(versions(&b, "@acme/shared"), ["1.0.0"]);
    // npm publishes the second through A, so that B has a real tarball to install.
    let work = TempDir::new("scale-install");
    let manifest = serde_json::json!({"name": "@acme/shared", "version": "1.1.0"});
    Client::new(&a).ok("npm", &["publish"], &make_package(work.path(), manifest));
    assert_eq!(versions(&b, "@acme/shared"), ["1.0.0", "1.1.0"]);
    let doc = b.get("/@acme%2fshared").json();
    assert_eq!(doc["dist-tags"]["latest"], "1.1.0");

    npm_installs(&b, work.path(), "@acme/shared", "1.1.0");

    // Unpublishing through B is seen by A at once too.
    let rev = a.get("/@acme%2fshared?write=true").json()["_rev"]
        .as_str()
        .unwrap()
        .to_string();
    let r = b.request("DELETE", &format!("/@acme%2fshared/-rev/{rev}"), &[], b"");
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(a.get("/@acme%2fshared").status, 404);
}

#[test]
fn sixteen_concurrent_publishes_over_two_instances_are_all_kept() {
    let pg = Postgres::shared();
    let s3 = S3Server::start();
    let (a, b) = pair(&s3, &pg.fresh_database());
    let regs = Arc::new([a, b]);
    let barrier = Arc::new(Barrier::new(16));
    let threads: Vec<_> = (0..16)
        .map(|i| {
            let (regs, barrier) = (regs.clone(), barrier.clone());
            std::thread::spawn(move || {
                let version = format!("1.{i}.0");
                let tgz = fake_tgz(&version);
                let body = publish_body("@acme/busy", &version, &tgz, "latest");
                barrier.wait();
                let r = regs[i % 2].put_json("/@acme%2fbusy", &body);
                assert_eq!(
                    r.status,
                    201,
                    "{version}: {}\n{}",
                    r.text(),
                    regs[i % 2].log()
                );
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let mut want: Vec<String> = (0..16).map(|i| format!("1.{i}.0")).collect();
    want.sort();
    for reg in regs.iter() {
        assert_eq!(versions(reg, "@acme/busy"), want);
    }
    // The same version through both at once: one wins, the other is told.
    let tgz_a = fake_tgz("a");
    let tgz_b = fake_tgz("b");
    let barrier = Arc::new(Barrier::new(2));
    let racers: Vec<_> = [tgz_a, tgz_b]
        .into_iter()
        .enumerate()
        .map(|(i, tgz)| {
            let (regs, barrier) = (regs.clone(), barrier.clone());
            std::thread::spawn(move || {
                let body = publish_body("@acme/busy", "2.0.0", &tgz, "latest");
                barrier.wait();
                regs[i].put_json("/@acme%2fbusy", &body).status
            })
        })
        .collect();
    let mut statuses: Vec<u16> = racers.into_iter().map(|t| t.join().unwrap()).collect();
    statuses.sort();
    assert_eq!(statuses, [201, 409]);
}

#[test]
fn an_instance_killed_during_publishes_leaves_the_other_serving_and_fsck_clean() {
    let pg = Postgres::shared();
    let s3 = S3Server::start();
    let url = pg.fresh_database();
    let (a, b) = pair(&s3, &url);
    // Publishes through A that are in flight when it dies: each connects first, so that none
    // is refused for want of a listener.
    let barrier = Arc::new(Barrier::new(7));
    let threads: Vec<_> = (0..6)
        .map(|i| {
            let (port, barrier) = (a.port, barrier.clone());
            std::thread::spawn(move || {
                let version = format!("1.{i}.0");
                let body = publish_body("@acme/crash", &version, &fake_tgz(&version), "latest");
                let body = body.to_string();
                let mut s = connect(port);
                barrier.wait();
                let head = format!(
                    "PUT /@acme%2fcrash HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                    body.len()
                );
                let sent = std::io::Write::write_all(&mut s, head.as_bytes())
                    .and_then(|()| std::io::Write::write_all(&mut s, body.as_bytes()));
                let status = sent.ok().and_then(|()| read_response(&mut s, false)).map(|r| r.status);
                (version, status)
            })
        })
        .collect();
    barrier.wait();
    raw_publish(&b, "@acme/crash", "0.1.0");
    a.signal("KILL");
    let outcomes: Vec<(String, Option<u16>)> =
        threads.into_iter().map(|t| t.join().unwrap()).collect();
    // B keeps serving: every publish A answered 201 for is there, and B takes new ones.
    let work = TempDir::new("scale-crash");
    let manifest = serde_json::json!({"name": "@acme/crash", "version": "2.0.0"});
    Client::new(&b).ok("npm", &["publish"], &make_package(work.path(), manifest));
    let listed = versions(&b, "@acme/crash");
    for (v, status) in &outcomes {
        if *status == Some(201) {
            assert!(
                listed.contains(v),
                "{v} was acknowledged but is gone: {listed:?}"
            );
        }
    }
    npm_installs(&b, work.path(), "@acme/crash", "2.0.0");

    let out = s3
        .nmr(work.path(), &["fsck", "--set", &format!("db.url={url}")])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "fsck: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn both_instances_recover_from_a_database_restart_without_restarting() {
    // A server of its own: restarting the shared one would disturb the other tests.
    let pg = Postgres::start();
    let s3 = S3Server::start();
    let (a, b) = pair(&s3, &pg.fresh_database());
    raw_publish(&a, "@acme/steady", "1.0.0");
    // Every handler slot holds a connection; several requests at once make sure many of
    // them see the restart.
    let load = |reg: &Registry| {
        let port = reg.port;
        let threads: Vec<_> = (0..8)
            .map(|_| {
                std::thread::spawn(move || {
                    try_http(port, "GET", "/@acme%2fsteady", &[], b"").map(|r| r.status)
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect::<Vec<_>>()
    };
    assert!(load(&a).iter().all(|s| *s == Some(200)));

    pg.stop();
    // While the database is down, a request that needs it says so.
    let r = b.get("/-/ping");
    assert_eq!(r.status, 503, "{}", r.text());
    let r = b.put_json(
        "/@acme%2fsteady",
        &publish_body("@acme/steady", "1.1.0", &fake_tgz("x"), "latest"),
    );
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(r.error().contains("database"), "{}", r.text());
    pg.restart();

    for reg in [&a, &b] {
        // The server closed every session on its way down; a worker notices that its idle
        // connection was closed before using it, and connects again.
        for status in load(reg) {
            assert_eq!(status, Some(200), "{}", reg.log());
        }
        assert_eq!(reg.get("/-/ping").status, 200);
    }
    raw_publish(&b, "@acme/steady", "1.1.0");
    assert_eq!(versions(&a, "@acme/steady"), ["1.0.0", "1.1.0"]);
}

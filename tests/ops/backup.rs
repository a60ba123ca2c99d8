//! `nmr backup` while nmr serves and publishes go on, then `nmr restore` into a fresh data
//! directory (local disk, and an S3 bucket): the restored registry installs with npm and passes
//! fsck. Restores refuse an unfinished backup and an existing database; backups refuse a
//! directory that is not empty.

use super::crash::fsck;
use crate::support::s3::*;
use crate::support::*;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;

fn nmr(dir: &Path, args: &[&str]) -> (i32, String) {
    let out = nmr_command(dir).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn a_backup_taken_while_serving_restores_and_installs() {
    let reg = Arc::new(Registry::start());
    let work = TempDir::new("backup-work");
    let pkg = serde_json::json!({"name": "@acme/kept", "version": "1.0.0", "main": "index.js", "license": "MIT"});
    Client::new(&reg).ok("npm", &["publish"], &make_package(work.path(), pkg));

    // Publishes keep landing while the backup runs.
    let stop = Arc::new(AtomicBool::new(false));
    let busy = {
        let (reg, stop) = (reg.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(SeqCst) {
                raw_publish(&reg, "busy", &format!("1.{n}.0"));
                n += 1;
            }
            n
        })
    };
    wait_for("a first busy publish", || {
        (reg.get("/busy").status == 200).then_some(())
    });
    let backups = TempDir::new("backups");
    let target = backups.path().join("b1");
    let (code, out) = nmr(reg.dir.path(), &["backup", target.to_str().unwrap()]);
    stop.store(true, SeqCst);
    let published = busy.join().unwrap();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("backup complete"), "{out}");
    assert!(target.join("nmr-backup.json").is_file());
    assert!(published > 0);

    let (code, out) = nmr(reg.dir.path(), &["backup", target.to_str().unwrap()]);
    assert_eq!(code, 2, "a backup never mixes into an old one: {out}");

    let fresh = TempDir::new("restored");
    let (code, out) = nmr(fresh.path(), &["restore", target.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = nmr(fresh.path(), &["restore", target.to_str().unwrap()]);
    assert_eq!(code, 2, "an existing database is never overwritten: {out}");
    assert!(out.contains("db.path"), "{out}");
    let (code, out) = fsck(fresh.path(), &[]);
    assert_eq!(code, 0, "{out}");

    let restored = Registry::start_in(fresh, &[], &[]);
    npm_installs(&restored, work.path(), "@acme/kept", "1.0.0");
    // The snapshot holds some prefix of the busy publishes, each whole.
    let doc = restored.get("/busy").json();
    let versions = doc["versions"].as_object().unwrap();
    assert!(!versions.is_empty() && versions.len() <= published);
    for (v, m) in versions {
        let r = restored.get(&format!("/busy/-/busy-{v}.tgz"));
        assert_eq!(integrity(&r.body), m["dist"]["integrity"], "busy@{v}");
    }

    let unfinished = backups.path().join("unfinished");
    std::fs::create_dir_all(&unfinished).unwrap();
    let (code, out) = nmr(
        TempDir::new("nothing").path(),
        &["restore", unfinished.to_str().unwrap()],
    );
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("not a complete nmr backup"), "{out}");
}

#[test]
fn a_backup_restores_into_an_s3_bucket() {
    let reg = Registry::start();
    let tgz = raw_publish(&reg, "@acme/widget", "1.0.0");
    let backups = TempDir::new("backups");
    let target = backups.path().join("b");
    let (code, out) = nmr(reg.dir.path(), &["backup", target.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");

    let s3 = S3Server::start();
    let fresh = TempDir::new("restored-s3");
    let out = s3
        .nmr(fresh.path(), &["restore", target.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(s3.objects().len(), 1);
    let restored = s3.registry_in(fresh, &[]);
    assert_eq!(restored.get("/@acme/widget/-/widget-1.0.0.tgz").body, tgz);
}

//! `nmr fsck` on both backends: damaged, missing and orphaned objects are reported with a
//! non-zero exit, the upstream cache is not mistaken for orphans, and `--repair` removes the
//! orphans and nothing else (never metadata).

use super::crash::fsck;
use crate::support::s3::*;
use crate::support::*;

/// The stored key of a published file, from the database.
fn key_of(reg: &Registry, name: &str, version: &str) -> String {
    let db = rusqlite::Connection::open(reg.dir.path().join("data/nmr.sqlite")).unwrap();
    db.query_row(
        "SELECT blob_key FROM files f JOIN packages p ON p.id = f.package_id WHERE p.name = ?1 AND f.version = ?2",
        [name, version],
        |r| r.get(0),
    )
    .unwrap()
}

fn metadata(reg: &Registry) -> Vec<(String, String)> {
    reg.snapshot()
        .into_iter()
        .filter(|(k, _)| !k.starts_with("file "))
        .collect()
}

#[test]
fn fsck_reports_damage_and_repair_removes_only_orphans() {
    let reg = Registry::start();
    let (a1, _a2, b1) = (
        raw_publish(&reg, "apkg", "1.0.0"),
        raw_publish(&reg, "apkg", "1.1.0"),
        raw_publish(&reg, "bpkg", "1.0.0"),
    );
    let (code, out) = fsck(reg.dir.path(), &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("3 objects: 3 ok"), "{out}");

    let storage = reg.dir.path().join("data/storage");
    let (ka1, kb1) = (key_of(&reg, "apkg", "1.0.0"), key_of(&reg, "bpkg", "1.0.0"));
    let mut damaged = a1.clone();
    damaged[10] ^= 0xff;
    std::fs::write(storage.join(&ka1), &damaged).unwrap();
    std::fs::remove_file(storage.join(&kb1)).unwrap();
    std::fs::write(
        storage.join("apkg/apkg-9.9.9-0123456789abcdef.tgz"),
        b"stray",
    )
    .unwrap();
    std::fs::create_dir_all(storage.join("_uplink/up")).unwrap();
    std::fs::write(
        storage.join("_uplink/up/up-1.0.0-0123456789abcdef.tgz"),
        b"cache",
    )
    .unwrap();
    let meta_before = metadata(&reg);

    let (code, out) = fsck(reg.dir.path(), &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("CORRUPT {ka1} (apkg@1.0.0)")),
        "{out}"
    );
    assert!(
        out.contains(&format!("MISSING {kb1} (bpkg@1.0.0)")),
        "{out}"
    );
    assert!(
        out.contains("ORPHAN apkg/apkg-9.9.9-0123456789abcdef.tgz"),
        "{out}"
    );
    assert!(!out.contains("_uplink"), "{out}");
    assert!(
        out.contains("3 objects: 1 ok, 1 missing, 1 corrupt; 1 orphans"),
        "{out}"
    );

    let (code, out) = fsck(reg.dir.path(), &["--repair"]);
    assert_eq!(code, 1, "damage that only a person can fix remains: {out}");
    assert!(
        out.contains("removed orphan apkg/apkg-9.9.9-0123456789abcdef.tgz"),
        "{out}"
    );
    assert!(!storage
        .join("apkg/apkg-9.9.9-0123456789abcdef.tgz")
        .exists());
    assert!(storage
        .join("_uplink/up/up-1.0.0-0123456789abcdef.tgz")
        .exists());
    assert_eq!(std::fs::read(storage.join(&ka1)).unwrap(), damaged);
    assert_eq!(metadata(&reg), meta_before, "metadata is never touched");

    std::fs::write(storage.join(&ka1), &a1).unwrap();
    std::fs::write(storage.join(&kb1), &b1).unwrap();
    let (code, out) = fsck(reg.dir.path(), &[]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn fsck_checks_an_s3_bucket_the_same_way() {
    let s3 = S3Server::start();
    let reg = s3.registry(&[]);
    raw_publish(&reg, "apkg", "1.0.0");
    raw_publish(&reg, "bpkg", "1.0.0");
    let run = |args: &[&str]| {
        let mut all = vec!["fsck"];
        all.extend_from_slice(args);
        let out = s3.nmr(reg.dir.path(), &all).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, out) = run(&[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("S3 bucket \"{BUCKET}\"")), "{out}");

    let ka = key_of(&reg, "apkg", "1.0.0");
    std::fs::write(s3.object_path(&ka), b"rotten").unwrap();
    std::fs::create_dir_all(s3.object_path("zpkg")).unwrap();
    std::fs::write(
        s3.object_path("zpkg/zpkg-1.0.0-0123456789abcdef.tgz"),
        b"stray",
    )
    .unwrap();
    let (code, out) = run(&[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("CORRUPT {ka}")), "{out}");
    assert!(
        out.contains("ORPHAN zpkg/zpkg-1.0.0-0123456789abcdef.tgz"),
        "{out}"
    );

    let (code, out) = run(&["--repair"]);
    assert_eq!(code, 1, "{out}");
    assert!(!s3
        .object_path("zpkg/zpkg-1.0.0-0123456789abcdef.tgz")
        .exists());
    assert!(s3.object_path(&ka).exists());
}

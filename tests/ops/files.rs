//! Issue #15, files: the database with its WAL and shared-memory files, the directory nmr makes
//! for it, spooled request bodies and backups are private to nmr's user (files 0600,
//! directories 0700) even when nmr runs under a umask of 000.

use crate::support::*;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn database_spool_and_backups_are_private_whatever_the_umask() {
    let reg = Registry::start_under(TempDir::new("modes"), Some("umask 000"), &[], &[]);
    raw_publish(&reg, "modes", "1.0.0");
    let data = reg.dir.path().join("data");
    assert_eq!(
        mode(&data),
        0o700,
        "the directory nmr made for the database"
    );
    for f in ["nmr.sqlite", "nmr.sqlite-wal", "nmr.sqlite-shm"] {
        assert_eq!(mode(&data.join(f)), 0o600, "{f}");
    }

    // A body over 256 KiB is spooled to an unlinked file while it arrives: it is seen through
    // the process's open descriptors.
    let mut s = connect(reg.port);
    write!(
        s,
        "PUT /spooled HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 900000\r\n\r\n"
    )
    .unwrap();
    s.write_all(&vec![b' '; 400_000]).unwrap();
    let fds = format!("/proc/{}/fd", reg.pid());
    let spooled = wait_for("a spooled body", || {
        std::fs::read_dir(&fds).ok()?.flatten().find_map(|e| {
            let target = std::fs::read_link(e.path()).ok()?;
            target
                .to_string_lossy()
                .contains("nmr-spool-")
                .then(|| e.path())
        })
    });
    assert_eq!(mode(&spooled), 0o600, "the spooled body");
    drop(s);

    let backups = TempDir::new("modes-backups");
    let target = backups.path().join("b");
    let mut cmd = nmr_command(reg.dir.path());
    cmd.args(["backup", target.to_str().unwrap()]);
    let out = wrapped(&cmd, "umask 000").output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(mode(&target), 0o700, "the backup directory");
    for f in ["nmr.sqlite", "nmr-backup.json"] {
        assert_eq!(mode(&target.join(f)), 0o600, "{f} in the backup");
    }
}

//! Where request bodies too large to hold in memory are spooled while they arrive: a private
//! directory (readable by nmr's user only, removed with nmr, swept after a crash) and a budget
//! of bytes that all bodies being received share, so uploads cannot fill the disk.

use crate::error::Error;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};

/// Prefix of spool directories in the temp dir: `nmr-spool-<pid>-<random>`.
const DIR_PREFIX: &str = "nmr-spool-";

pub struct Spool {
    dir: PathBuf,
    budget: u64,
    used: AtomicU64,
}

impl Spool {
    /// Creates the directory in the temp dir, or in `fallback` where there is no temp dir (an
    /// empty container root has no `/tmp`). Directories left by nmr processes that no longer
    /// run (killed with SIGKILL) are removed first.
    pub fn create(budget: u64, fallback: &Path) -> Result<Spool, String> {
        use std::os::unix::fs::DirBuilderExt;
        let tmp = std::env::temp_dir();
        let tmp = if tmp.is_dir() {
            tmp
        } else {
            fallback.to_path_buf()
        };
        sweep(&tmp);
        let token = crate::random::hex_token(8).map_err(|e| e.to_string())?;
        let dir = tmp.join(format!("{DIR_PREFIX}{}-{token}", std::process::id()));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        Ok(Spool {
            dir,
            budget,
            used: AtomicU64::new(0),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Takes `n` bytes of the budget, or says why not.
    pub fn reserve(&self, n: u64) -> Result<(), Error> {
        let before = self.used.fetch_add(n, SeqCst);
        if before + n > self.budget {
            self.used.fetch_sub(n, SeqCst);
            return Err(Error::Unavailable(format!(
                "the registry is already receiving {} MB of uploads (server.spool_budget); try again shortly",
                self.budget >> 20
            )));
        }
        Ok(())
    }

    /// Gives back what a body took once it is gone.
    pub fn release(&self, n: u64) {
        self.used.fetch_sub(n, SeqCst);
    }

    /// Bytes taken now.
    pub fn used(&self) -> u64 {
        self.used.load(SeqCst)
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Removes spool directories whose process is gone (no `/proc/<pid>`).
fn sweep(tmp: &Path) {
    // Without /proc (a chroot), every process would look gone, live ones too.
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let pid = name
            .to_str()
            .and_then(|n| n.strip_prefix(DIR_PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid {
            if !Path::new(&format!("/proc/{pid}")).exists() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

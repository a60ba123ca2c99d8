//! The private directory between the front and tiny_http: it holds tiny_http's Unix socket and
//! the request bodies being spooled, is readable by nmr's user only, and goes away with nmr.

use std::path::{Path, PathBuf};

/// The private directory holding tiny_http's Unix socket and spooled request bodies; removed
/// when dropped.
pub struct BackendDir {
    dir: PathBuf,
}

/// Prefix of backend directories in the temp dir: `nmr-front-<pid>-<random>`.
const DIR_PREFIX: &str = "nmr-front-";

impl BackendDir {
    /// Creates the directory, readable by nmr's user only, so that nothing else on the host
    /// can reach tiny_http past the front. Directories left by nmr processes that no longer
    /// run (killed with SIGKILL) are removed first.
    pub fn create() -> Result<BackendDir, String> {
        use std::os::unix::fs::DirBuilderExt;
        let tmp = std::env::temp_dir();
        sweep(&tmp);
        let token = crate::random::hex_token(8).map_err(|e| e.message().to_string())?;
        let dir = tmp.join(format!("{DIR_PREFIX}{}-{token}", std::process::id()));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        Ok(BackendDir { dir })
    }

    /// The directory itself: where request bodies are spooled.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Where tiny_http listens.
    pub fn socket(&self) -> PathBuf {
        self.dir.join("workers.sock")
    }
}

impl Drop for BackendDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Removes backend directories whose process is gone (no `/proc/<pid>`).
fn sweep(tmp: &Path) {
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

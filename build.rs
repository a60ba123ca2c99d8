//! Build script: records the commit nmr is built from, for `nmr --version`.
//!
//! `BUILD_COMMIT` overrides it (a build from a source tarball has no git history to ask); outside
//! a git checkout, or without git, the commit is "unknown" rather than a failed build.
//!
//! The name must not start with `NMR_`: `cargo run` and `cargo test` put what a build script
//! hands to rustc into the environment of the binary they start, and nmr reads every `NMR_*`
//! variable as a setting (an unknown one stops it).

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!s.is_empty()).then_some(s)
}

fn main() {
    println!("cargo:rerun-if-env-changed=BUILD_COMMIT");
    let commit = match std::env::var("BUILD_COMMIT") {
        Ok(c) if !c.is_empty() => c,
        _ => {
            watch_head();
            git(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into())
        }
    };
    println!("cargo:rustc-env=BUILD_COMMIT={commit}");
}

/// Asks cargo to run this again when HEAD moves (a commit, a checkout), and not on every build:
/// HEAD itself, the branch file it points at and packed-refs. Only existing files are named,
/// since cargo treats a missing one as always changed.
fn watch_head() {
    let (Some(git_dir), Some(common)) = (
        git(&["rev-parse", "--git-dir"]),
        git(&["rev-parse", "--git-common-dir"]),
    ) else {
        return;
    };
    let mut files = vec![
        Path::new(&git_dir).join("HEAD"),
        Path::new(&common).join("packed-refs"),
    ];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        files.push(Path::new(&common).join(branch));
    }
    for f in files.iter().filter(|f| f.exists()) {
        println!("cargo:rerun-if-changed={}", f.display());
    }
}

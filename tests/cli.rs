//! The command line: `nmr config` shows each value with its source across all layers, and bad
//! configuration stops start-up with a message naming the key and where it came from.

use crate::support::*;

fn run(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = nmr_command(dir)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn config_shows_values_and_sources_from_every_layer() {
    let dir = TempDir::new("cli");
    std::fs::write(
        dir.path().join("nmr.toml"),
        "[server]\nport = 5000\nworkers = 7\nhost = \"0.0.0.0\"\n",
    )
    .unwrap();
    let (code, out, err) = run(
        dir.path(),
        &["config", "--workers", "9"],
        &[
            ("NMR_SERVER__PORT", "6000"),
            ("NMR_DB__PATH", "/srv/nmr.sqlite"),
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("port = 6000  # environment variable NMR_SERVER__PORT"),
        "{out}"
    );
    assert!(out.contains("workers = 9  # flag --workers"), "{out}");
    assert!(out.contains("host = \"0.0.0.0\"  # config file"), "{out}");
    assert!(
        out.contains("path = \"/srv/nmr.sqlite\"  # environment variable NMR_DB__PATH"),
        "{out}"
    );
    assert!(
        out.contains("allow_previous_version = false  # default"),
        "{out}"
    );
}

#[test]
fn bad_configuration_stops_start_up_naming_key_and_source() {
    let dir = TempDir::new("cli-bad");
    std::fs::write(dir.path().join("nmr.toml"), "[server]\nprot = 5000\n").unwrap();
    let (code, _, err) = run(dir.path(), &["serve"], &[]);
    assert_eq!(code, 2);
    assert!(
        err.contains("server.prot") && err.contains("nmr.toml"),
        "{err}"
    );

    std::fs::remove_file(dir.path().join("nmr.toml")).unwrap();
    let (code, _, err) = run(dir.path(), &["serve"], &[("NMR_SERVER__PORT", "http")]);
    assert_eq!(code, 2);
    assert!(
        err.contains("server.port") && err.contains("NMR_SERVER__PORT"),
        "{err}"
    );

    let (code, _, err) = run(dir.path(), &["serve", "--set", "storage.type=s4"], &[]);
    assert_eq!(code, 2);
    assert!(
        err.contains("storage.type") && err.contains("--set"),
        "{err}"
    );

    let (code, _, err) = run(dir.path(), &["serve", "--bogus"], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("--bogus"), "{err}");
    assert!(
        !dir.path().join("data").exists(),
        "nothing was created before the configuration was checked"
    );
}

#[test]
fn a_port_already_in_use_fails_start_up() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let dir = TempDir::new("cli-port");
    let (code, _, err) = run(dir.path(), &["serve", "--port", &port], &[]);
    assert_eq!(code, 1);
    assert!(err.contains("cannot listen"), "{err}");
}

#[test]
fn defaults_put_data_under_the_working_directory() {
    let reg = Registry::start();
    raw_publish(&reg, "plainpkg", "1.0.0");
    assert!(reg.dir.path().join("data/nmr.sqlite").is_file());
    assert!(reg.dir.path().join("data/storage/plainpkg").is_dir());
}

/// The commit `nmr --version` should name: as build.rs finds it.
fn expected_commit() -> String {
    if let Ok(c) = std::env::var("BUILD_COMMIT") {
        if !c.is_empty() {
            return c;
        }
    }
    std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

#[test]
fn version_names_the_version_and_the_commit() {
    let dir = TempDir::new("cli-version");
    let (code, out, err) = run(dir.path(), &["--version"], &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        format!(
            "nmr {} (commit {})\n",
            env!("CARGO_PKG_VERSION"),
            expected_commit()
        )
    );
}

#[test]
fn help_lists_every_subcommand() {
    let dir = TempDir::new("cli-help");
    let (code, out, err) = run(dir.path(), &["--help"], &[]);
    assert_eq!(code, 0, "{err}");
    for sub in [
        "[serve]",
        "config",
        "storage copy",
        "db copy --to postgres",
        "db copy --to sqlite",
        "mirror",
        "export",
        "import",
        "import --from-verdaccio",
        "import --from-registry",
        "fsck",
        "backup",
        "restore",
        "user add",
        "user passwd",
        "user del",
        "user list",
        "token create",
        "token list",
        "token revoke",
        "notify log",
        "notify retry",
        "package unassigned",
        "package set-repo",
        "package unowned",
        "package add-owner",
        "org list",
        "org add",
        "org del",
        "org show",
        "org set",
        "org rm",
        "team list",
        "team create|destroy",
        "team add|rm",
        "team grant",
        "team revoke",
        "cache list",
        "cache drop",
        "cache prune",
        "--help | --version",
    ] {
        assert!(
            out.lines()
                .any(|l| l.trim_start().starts_with(&format!("nmr {sub}"))),
            "no line for nmr {sub} in:\n{out}"
        );
    }
}

#[test]
fn the_environment_cargo_starts_nmr_in_holds_no_setting() {
    // `cargo run` (the README's first command) and `cargo test` put the variables build.rs hands
    // to rustc into the environment of the binary they start, and this test process got the same
    // ones. nmr reads every NMR_* variable as a setting, so none of them may look like one: a
    // build script's NMR_COMMIT once stopped `cargo run --release` with "unknown setting".
    // (Run the tests without NMR_* settings of your own in the environment.)
    let dir = TempDir::new("cli-cargo-env");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_nmr"));
    cmd.current_dir(dir.path())
        .arg("config")
        .env("XDG_CONFIG_HOME", dir.path().join("xdg"));
    // The test suite's own knobs are not cargo's.
    for (k, _) in std::env::vars() {
        if k.starts_with("NMR_TEST_") {
            cmd.env_remove(k);
        }
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

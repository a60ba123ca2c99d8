//! Command-line parsing and the subcommands: `nmr serve` (the default) and `nmr config`.

use crate::config::{self, Inputs};
use std::path::PathBuf;

const USAGE: &str = "\
nmr: a private npm registry

usage:
  nmr [serve] [options]   start the registry (the default)
  nmr config [options]    print the effective configuration and where each value came from
  nmr --help | --version

options (each overrides the config file and NMR_* environment variables):
  --config PATH              read this config file instead of searching
                             ./nmr.toml, $XDG_CONFIG_HOME/nmr/config.toml, /etc/nmr/config.toml
  --host HOST                server.host
  --port PORT                server.port (0 picks a free port)
  --public-url URL           server.public_url
  --workers N                server.workers
  --log-level LEVEL          logger.level (error, warn, info, debug)
  --storage-path DIR         storage.local.path
  --db-path FILE             db.path
  --allow-previous-version   settings.allow_previous_version = true
  --offline                  uplink.offline = true (serve only what is cached; never ask the upstream)
  --set KEY=VALUE            any setting by its dotted key, e.g. --set settings.max_body_size=50mb
";

/// Flags that set one key to the value that follows them.
const FLAGS: &[(&str, &str)] = &[
    ("--host", "server.host"),
    ("--port", "server.port"),
    ("--public-url", "server.public_url"),
    ("--workers", "server.workers"),
    ("--log-level", "logger.level"),
    ("--storage-path", "storage.local.path"),
    ("--db-path", "db.path"),
];

/// Flags that take no value and set one boolean key to true.
const SWITCHES: &[(&str, &str)] = &[
    (
        "--allow-previous-version",
        "settings.allow_previous_version",
    ),
    ("--offline", "uplink.offline"),
];

enum Command {
    Serve,
    Config,
}

fn parse(args: &[String]) -> Result<(Command, Inputs), String> {
    let mut inputs = Inputs::default();
    let mut command = None;
    let mut it = args.iter().peekable();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = |what: &str| -> Result<String, String> {
            match &inline {
                Some(v) => Ok(v.clone()),
                None => it
                    .next()
                    .cloned()
                    .ok_or_else(|| format!("{flag} needs {what}")),
            }
        };
        match flag {
            "serve" if command.is_none() => command = Some(Command::Serve),
            "config" if command.is_none() => command = Some(Command::Config),
            "--config" => inputs.config_path = Some(PathBuf::from(value("a path")?)),
            "--set" => {
                let kv = value("KEY=VALUE")?;
                let (k, v) = kv
                    .split_once('=')
                    .ok_or_else(|| format!("--set {kv}: expected KEY=VALUE"))?;
                inputs
                    .flags
                    .push((k.to_string(), v.to_string(), format!("--set {k}")));
            }
            _ => {
                if let Some((_, key)) = SWITCHES.iter().find(|(f, _)| *f == flag) {
                    inputs
                        .flags
                        .push((key.to_string(), "true".into(), flag.to_string()));
                } else if let Some((_, key)) = FLAGS.iter().find(|(f, _)| *f == flag) {
                    inputs
                        .flags
                        .push((key.to_string(), value("a value")?, flag.to_string()));
                } else {
                    return Err(format!("unknown argument {arg:?}; see nmr --help"));
                }
            }
        }
    }
    Ok((command.unwrap_or(Command::Serve), inputs))
}

/// Runs the command line and returns the process exit code.
pub fn main(args: Vec<String>) -> i32 {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        print!("{USAGE}");
        return 0;
    }
    if args.iter().any(|a| a == "--version" || a == "-V") {
        println!("nmr {}", env!("CARGO_PKG_VERSION"));
        return 0;
    }
    let (command, mut inputs) = match parse(&args) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("nmr: {e}");
            return 2;
        }
    };
    inputs.env = std::env::vars().collect();
    inputs.cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let effective = match config::load(&inputs) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("nmr: configuration error: {e}");
            return 2;
        }
    };
    match command {
        Command::Config => {
            print!(
                "{}",
                config::render(&effective.entries, effective.file.as_deref())
            );
            0
        }
        Command::Serve => {
            crate::log::set_level(effective.config.log_level);
            if let Some(f) = &effective.file {
                crate::info!("config file {}", f.display());
            }
            let app = match crate::app::App::open(effective.config) {
                Ok(a) => a,
                Err(e) => {
                    crate::error!("cannot start: {e}");
                    return 1;
                }
            };
            match crate::server::run(app) {
                Ok(()) => 0,
                Err(e) => {
                    crate::error!("{e}");
                    1
                }
            }
        }
    }
}

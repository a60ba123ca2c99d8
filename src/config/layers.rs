//! The layers and how they stack: built-in defaults < config file < `NMR_SECTION__KEY`
//! environment variables < command-line flags. Each value keeps its [`Source`], so that an
//! unknown key or a bad value is reported with where it came from, and `nmr config` can say it.

use super::keys::{find_key, Key, KEYS};
use super::parse::{parse_text, parse_toml, Val};
use super::Config;
use std::fmt;
use std::path::{Path, PathBuf};

/// Where a value came from, for error messages and `nmr config`.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    /// Built into nmr.
    Default,
    /// A config file.
    File(PathBuf),
    /// An environment variable.
    Env(String),
    /// A command-line flag.
    Flag(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => write!(f, "default"),
            Source::File(p) => write!(f, "config file {}", p.display()),
            Source::Env(v) => write!(f, "environment variable {v}"),
            Source::Flag(flag) => write!(f, "flag {flag}"),
        }
    }
}

/// What the layers are built from; gathered by the CLI, injected by tests.
#[derive(Default, Debug)]
pub struct Inputs {
    /// `--config PATH`, which must exist.
    pub config_path: Option<PathBuf>,
    /// The process environment (only `NMR_*`, the XDG/HOME variables and the standard
    /// `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` pair are read).
    pub env: Vec<(String, String)>,
    /// `(key, value, flag as typed)` from the command line, in order.
    pub flags: Vec<(String, String, String)>,
    /// Where `./nmr.toml` is looked for.
    pub cwd: PathBuf,
}

/// The configuration together with where each value came from.
#[derive(Debug)]
pub struct Effective {
    pub config: Config,
    /// The config file that was read, if any.
    pub file: Option<PathBuf>,
    /// Every key with its value and source, in [`KEYS`] order.
    pub entries: Vec<(&'static Key, Val, Source)>,
}

fn known_keys_near(path: &str) -> String {
    let section = path.split('.').next().unwrap_or("");
    let near: Vec<&str> = KEYS
        .iter()
        .map(|k| k.path)
        .filter(|p| p.split('.').next() == Some(section))
        .collect();
    if near.is_empty() {
        let sections: std::collections::BTreeSet<&str> = KEYS
            .iter()
            .filter_map(|k| k.path.split('.').next())
            .collect();
        format!(
            "known sections: {}",
            sections.into_iter().collect::<Vec<_>>().join(", ")
        )
    } else {
        format!("known keys there: {}", near.join(", "))
    }
}

fn flatten(prefix: &str, table: &toml::Table, out: &mut Vec<(String, toml::Value)>) {
    for (k, v) in table {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            // A table is a section unless a key by that exact name exists (none do today).
            toml::Value::Table(t) if find_key(&path).is_none() => flatten(&path, t, out),
            _ => out.push((path, v.clone())),
        }
    }
}

pub(super) fn env_lookup<'a>(env: &'a [(String, String)], name: &str) -> Option<&'a str> {
    env.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// The config file to read: `--config`, then `NMR_CONFIG`, then the first that exists of
/// `./nmr.toml`, `$XDG_CONFIG_HOME/nmr/config.toml` (default `~/.config`), `/etc/nmr/config.toml`.
fn choose_file(inputs: &Inputs) -> Result<Option<PathBuf>, String> {
    if let Some(p) = &inputs.config_path {
        return if p.is_file() {
            Ok(Some(p.clone()))
        } else {
            Err(format!(
                "config file {} (from --config) does not exist",
                p.display()
            ))
        };
    }
    if let Some(p) = env_lookup(&inputs.env, "NMR_CONFIG") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(Some(p))
        } else {
            Err(format!(
                "config file {} (from NMR_CONFIG) does not exist",
                p.display()
            ))
        };
    }
    let mut candidates = vec![inputs.cwd.join("nmr.toml")];
    if let Some(x) = env_lookup(&inputs.env, "XDG_CONFIG_HOME") {
        candidates.push(Path::new(x).join("nmr/config.toml"));
    } else if let Some(h) = env_lookup(&inputs.env, "HOME") {
        candidates.push(Path::new(h).join(".config/nmr/config.toml"));
    }
    candidates.push(PathBuf::from("/etc/nmr/config.toml"));
    Ok(candidates.into_iter().find(|p| p.is_file()))
}

/// A setting's value and where it came from; later layers overwrite earlier ones in place.
type Entry = (&'static Key, Val, Source);

fn entry<'a>(entries: &'a mut [Entry], path: &str) -> Option<&'a mut Entry> {
    entries.iter_mut().find(|(k, ..)| k.path == path)
}

/// Builds the effective configuration from all layers.
pub fn load(inputs: &Inputs) -> Result<Effective, String> {
    let mut entries = KEYS
        .iter()
        .map(|k| {
            parse_text(k.kind, k.default)
                .map(|v| (k, v, Source::Default))
                .map_err(|e| format!("built-in default for {}: {e}", k.path))
        })
        .collect::<Result<Vec<Entry>, String>>()?;

    let file = choose_file(inputs)?;
    if let Some(path) = &file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
        let table: toml::Table = text
            .parse()
            .map_err(|e| format!("config file {} is not valid TOML: {e}", path.display()))?;
        let mut flat = Vec::new();
        flatten("", &table, &mut flat);
        for (p, v) in flat {
            let src = Source::File(path.clone());
            let slot = entry(&mut entries, &p)
                .ok_or_else(|| format!("unknown key `{p}` in {src} ({})", known_keys_near(&p)))?;
            slot.1 = parse_toml(slot.0.kind, &v)
                .map_err(|e| format!("bad value for `{p}` in {src}: {e}"))?;
            slot.2 = src;
        }
    }

    let mut env: Vec<&(String, String)> = inputs
        .env
        .iter()
        .filter(|(k, _)| k.starts_with("NMR_") && k != "NMR_CONFIG")
        .collect();
    env.sort();
    for (var, raw) in env {
        let p = var["NMR_".len()..]
            .split("__")
            .map(str::to_ascii_lowercase)
            .collect::<Vec<_>>()
            .join(".");
        let src = Source::Env(var.clone());
        let slot = entry(&mut entries, &p).ok_or_else(|| format!("unknown setting `{p}` from {src} ({}; nested keys use a double underscore, e.g. NMR_SERVER__PORT)", known_keys_near(&p)))?;
        slot.1 = parse_text(slot.0.kind, raw)
            .map_err(|e| format!("bad value for `{p}` from {src}: {e}"))?;
        slot.2 = src;
    }

    for (p, raw, flag) in &inputs.flags {
        let src = Source::Flag(flag.clone());
        let slot = entry(&mut entries, p)
            .ok_or_else(|| format!("unknown key `{p}` from {src} ({})", known_keys_near(p)))?;
        slot.1 = parse_text(slot.0.kind, raw)
            .map_err(|e| format!("bad value for `{p}` from {src}: {e}"))?;
        slot.2 = src;
    }

    let config = Config::from_values(&entries, &inputs.env)?;
    Ok(Effective {
        config,
        file,
        entries,
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::{inputs, tempdir};
    use super::*;

    #[test]
    fn defaults_apply_without_any_layer() {
        let d = tempdir("defaults");
        let e = load(&inputs(&d)).unwrap();
        assert_eq!(e.config.server.port, 4873);
        assert_eq!(e.config.settings.max_body_size, 200 << 20);
        assert!(!e.config.settings.allow_previous_version);
        assert!(e.file.is_none());
    }

    #[test]
    fn layers_override_in_order_file_env_flags() {
        let d = tempdir("layers");
        std::fs::write(d.join("nmr.toml"), "[server]\nport = 1111\nhost = \"0.0.0.0\"\nworkers = 3\n[settings]\nmax_body_size = \"1mb\"\n").unwrap();
        let mut i = inputs(&d);
        i.env.push(("NMR_SERVER__PORT".into(), "2222".into()));
        i.env.push(("NMR_SERVER__WORKERS".into(), "5".into()));
        i.flags
            .push(("server.port".into(), "3333".into(), "--port".into()));
        let e = load(&i).unwrap();
        assert_eq!(e.config.server.port, 3333);
        assert_eq!(e.config.server.workers, 5);
        assert_eq!(e.config.server.host, "0.0.0.0");
        assert_eq!(e.config.settings.max_body_size, 1 << 20);
        let src = |p: &str| {
            e.entries
                .iter()
                .find(|(k, _, _)| k.path == p)
                .unwrap()
                .2
                .clone()
        };
        assert_eq!(src("server.port"), Source::Flag("--port".into()));
        assert_eq!(
            src("server.workers"),
            Source::Env("NMR_SERVER__WORKERS".into())
        );
        assert_eq!(src("server.host"), Source::File(d.join("nmr.toml")));
        assert_eq!(src("db.path"), Source::Default);
    }

    #[test]
    fn unknown_keys_and_bad_values_name_key_and_source() {
        let d = tempdir("bad");
        std::fs::write(d.join("nmr.toml"), "[server]\nprot = 1\n").unwrap();
        let err = load(&inputs(&d)).unwrap_err();
        assert!(
            err.contains("server.prot") && err.contains("nmr.toml"),
            "{err}"
        );

        std::fs::write(d.join("nmr.toml"), "[server]\nport = \"eighty\"\n").unwrap();
        let err = load(&inputs(&d)).unwrap_err();
        assert!(
            err.contains("server.port") && err.contains("nmr.toml"),
            "{err}"
        );

        std::fs::remove_file(d.join("nmr.toml")).unwrap();
        let mut i = inputs(&d);
        i.env.push(("NMR_SERVER__PROT".into(), "1".into()));
        let err = load(&i).unwrap_err();
        assert!(
            err.contains("server.prot") && err.contains("NMR_SERVER__PROT"),
            "{err}"
        );

        let mut i = inputs(&d);
        i.env.push((
            "NMR_SETTINGS__ALLOW_PREVIOUS_VERSION".into(),
            "maybe".into(),
        ));
        let err = load(&i).unwrap_err();
        assert!(
            err.contains("settings.allow_previous_version")
                && err.contains("NMR_SETTINGS__ALLOW_PREVIOUS_VERSION"),
            "{err}"
        );

        let mut i = inputs(&d);
        i.env
            .push(("NMR_SETTINGS__MAX_BODY_SIZE".into(), "3g".into()));
        assert!(load(&i).unwrap_err().contains("settings.max_body_size"));

        let mut i = inputs(&d);
        i.env.push(("NMR_AUTH__TYPE".into(), "ldap".into()));
        assert!(load(&i).unwrap_err().contains("auth.type"));

        let mut i = inputs(&d);
        i.flags.push((
            "server.public_url".into(),
            "ftp://x".into(),
            "--public-url".into(),
        ));
        let err = load(&i).unwrap_err();
        assert!(err.contains("--public-url"), "{err}");
    }

    #[test]
    fn explicit_config_path_must_exist_and_xdg_file_is_found() {
        let d = tempdir("paths");
        let mut i = inputs(&d);
        i.config_path = Some(d.join("missing.toml"));
        assert!(load(&i).unwrap_err().contains("missing.toml"));

        std::fs::create_dir_all(d.join("xdg/nmr")).unwrap();
        std::fs::write(
            d.join("xdg/nmr/config.toml"),
            "[db]\npath = \"/x/y.sqlite\"\n",
        )
        .unwrap();
        let e = load(&inputs(&d)).unwrap();
        assert_eq!(e.config.db_path, PathBuf::from("/x/y.sqlite"));
        assert_eq!(e.file, Some(d.join("xdg/nmr/config.toml")));
    }
}

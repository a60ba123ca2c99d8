//! Reading the layered values into the typed [`Config`] sections, and the checks that span more
//! than one key (S3's bucket and key pair, uplink's mode and URL, TLS's certificate and key).

use super::keys::Key;
use super::layers::{env_lookup, Source};
use super::parse::Val;
use super::{
    Auth, AuthType, Config, S3Credentials, Secret, Server, Settings, StorageType, Tls, Uplink,
    UplinkMode, S3,
};
use crate::log::Level;
use std::time::Duration;

/// Every key's layered value, read back as the type its [`Kind`](super::Kind) parses to.
///
/// Reading a key as another type, or a key that is not declared, is a slip in this file; it
/// comes out as an error naming the key, like any other configuration error, and not as a panic.
struct Values<'a>(&'a [(&'a Key, Val, Source)]);

impl<'a> Values<'a> {
    fn get(&self, path: &str) -> Result<&'a (&'a Key, Val, Source), String> {
        self.0
            .iter()
            .find(|(k, ..)| k.path == path)
            .ok_or_else(|| format!("`{path}` is not a declared setting"))
    }

    fn source(&self, path: &str) -> Result<&'a Source, String> {
        self.get(path).map(|(_, _, src)| src)
    }

    /// Text, a path, a base URL, a prefix or a choice, as checked by its parser.
    fn text(&self, path: &str) -> Result<&'a str, String> {
        match self.get(path)? {
            (_, Val::Text(s), _) => Ok(s),
            (k, ..) => Err(misread(k, "text")),
        }
    }

    /// Text where empty means "not set".
    fn optional(&self, path: &str) -> Result<Option<String>, String> {
        let s = self.text(path)?;
        Ok((!s.is_empty()).then(|| s.to_string()))
    }

    /// A port, count, size or number of seconds, in the integer type the section keeps it in;
    /// the kind's range already guarantees that it fits.
    fn int<T: TryFrom<u64>>(&self, path: &str) -> Result<T, String> {
        match self.get(path)? {
            (k, Val::Int(n), _) => T::try_from(*n).map_err(|_| misread(k, "a smaller number")),
            (k, ..) => Err(misread(k, "a number")),
        }
    }

    fn seconds(&self, path: &str) -> Result<Duration, String> {
        self.int(path).map(Duration::from_secs)
    }

    fn flag(&self, path: &str) -> Result<bool, String> {
        match self.get(path)? {
            (_, Val::Bool(b), _) => Ok(*b),
            (k, ..) => Err(misread(k, "true or false")),
        }
    }

    fn notify(&self, path: &str) -> Result<Vec<super::Notify>, String> {
        match self.get(path)? {
            (_, Val::Notify(n), _) => Ok(n.clone()),
            (k, ..) => Err(misread(k, "[[notify]] tables")),
        }
    }

    fn list(&self, path: &str) -> Result<&'a [String], String> {
        match self.get(path)? {
            (_, Val::List(items), _) => Ok(items),
            (k, ..) => Err(misread(k, "a list")),
        }
    }

    /// A choice's word as the enum it names; `parse` must know every word the key offers.
    fn choice<T>(&self, path: &str, parse: fn(&str) -> Option<T>) -> Result<T, String> {
        let word = self.text(path)?;
        parse(word).ok_or_else(|| format!("`{path}` = {word:?} names nothing nmr knows"))
    }
}

fn misread(key: &Key, wanted: &str) -> String {
    format!(
        "setting `{}`, declared as {:?}, was read as {wanted}",
        key.path, key.kind
    )
}

impl Config {
    /// The typed configuration from every key's layered value. The checks that span keys run
    /// in a fixed order (S3, uplink, TLS) so that the first problem reported does not change.
    pub(super) fn from_values(
        entries: &[(&Key, Val, Source)],
        env: &[(String, String)],
    ) -> Result<Config, String> {
        let v = Values(entries);
        let storage_type = v.choice("storage.type", StorageType::parse)?;
        let s3 = S3::from_values(&v, env)?;
        if storage_type == StorageType::S3 {
            check_s3(&s3)?;
        }
        let uplink = Uplink::from_values(&v)?;
        let db_url = v.optional("db.url")?.map(Secret);
        let db_password = db_password(&v, env)?;
        if let Some(url) = &db_url {
            check_db_url(&v, &url.0, storage_type)?;
        }
        Ok(Config {
            auth: Auth::from_values(&v)?,
            server: Server::from_values(&v)?,
            log_level: v.choice("logger.level", |w| w.parse::<Level>().ok())?,
            settings: Settings {
                allow_previous_version: v.flag("settings.allow_previous_version")?,
                max_body_size: v.int("settings.max_body_size")?,
            },
            storage_type,
            storage_path: v.text("storage.local.path")?.into(),
            s3,
            db_path: v.text("db.path")?.into(),
            db_url,
            db_password,
            uplink,
            notify: v.notify("notify")?,
        })
    }
}

impl Server {
    fn from_values(v: &Values) -> Result<Server, String> {
        Ok(Server {
            host: v.text("server.host")?.to_string(),
            port: v.int("server.port")?,
            public_url: v.optional("server.public_url")?,
            workers: v.int("server.workers")?,
            max_connections: v.int("server.max_connections")?,
            read_timeout: v.seconds("server.read_timeout")?,
            write_timeout: v.seconds("server.write_timeout")?,
            shutdown_timeout: v.seconds("server.shutdown_timeout")?,
            max_connections_per_address: v.int("server.max_connections_per_address")?,
            min_upload_rate: v.int("server.min_upload_rate")?,
            spool_budget: v.int("server.spool_budget")?,
            tls: Tls::from_values(v)?,
            trusted_proxies: v.list("server.trusted_proxies")?.to_vec(),
        })
    }
}

impl Tls {
    /// Half a pair is refused rather than quietly serving plain HTTP where HTTPS was meant.
    fn from_values(v: &Values) -> Result<Option<Tls>, String> {
        match (v.text("server.tls.cert")?, v.text("server.tls.key")?) {
            ("", "") => Ok(None),
            ("", _) | (_, "") => Err(format!(
                "server.tls.cert (from {}) and server.tls.key (from {}) go together: set both for HTTPS, or neither",
                v.source("server.tls.cert")?,
                v.source("server.tls.key")?
            )),
            (cert, key) => Ok(Some(Tls {
                cert: cert.into(),
                key: key.into(),
            })),
        }
    }
}

impl Auth {
    fn from_values(v: &Values) -> Result<Auth, String> {
        let github_host = v.text("auth.github.host")?.trim().to_ascii_lowercase();
        let github_api = match v.text("auth.github.api_url")? {
            "" if github_host == "github.com" => "https://api.github.com".to_string(),
            "" => format!("https://{github_host}/api/v3"),
            url => url.to_string(),
        };
        let kind = v.choice("auth.type", AuthType::parse)?;
        // Members exist only where nmr keeps the accounts; silently reading it as another
        // setting would open or close packages the operator did not mean to.
        if v.text("auth.read")? == "members" && kind != AuthType::Local {
            return Err("auth.read = \"members\" needs auth.type = \"local\": organisations and their members are local accounts".into());
        }
        Ok(Auth {
            kind,
            read_public: v.text("auth.read")? == "public",
            read_members: v.text("auth.read")? == "members",
            claim_scopes: v.flag("auth.local.claim_scopes")?,
            allow_registration: v.flag("auth.local.allow_registration")?,
            github_api,
            github_allow_unscoped: v.flag("auth.github.allow_unscoped")?,
            github_cache_ttl: v.int("auth.github.cache.ttl")?,
            github_host,
        })
    }
}

/// A PostgreSQL URL, checked as far as the settings go (the URL itself is parsed when the
/// database is opened): several instances can only share one database if they share the
/// tarballs too, so local storage needs saying so.
fn check_db_url(v: &Values, url: &str, storage: StorageType) -> Result<(), String> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(format!(
            "db.url (from {}) must start with postgres:// or postgresql://, or be empty for SQLite at db.path",
            v.source("db.url")?
        ));
    }
    if storage == StorageType::Local && !v.flag("db.allow_local_storage")? {
        return Err(format!(
            "db.url names PostgreSQL but storage.type = \"local\" (from {}): instances sharing the database would not share tarballs; use storage.type = \"s3\", or set db.allow_local_storage = true for a single instance",
            v.source("storage.type")?
        ));
    }
    Ok(())
}

/// The PostgreSQL password kept apart from `db.url`: `db.password_file` (trailing newline
/// dropped), else `PGPASSWORD`, as libpq reads it.
fn db_password(v: &Values, env: &[(String, String)]) -> Result<Option<Secret>, String> {
    if let Some(file) = v.optional("db.password_file")? {
        let source = v.source("db.password_file")?;
        let text = std::fs::read_to_string(&file)
            .map_err(|e| format!("cannot read db.password_file {file} (from {source}): {e}"))?;
        return Ok(Some(Secret(
            text.trim_end_matches(['\n', '\r']).to_string(),
        )));
    }
    Ok(env
        .iter()
        .find(|(k, _)| k == "PGPASSWORD")
        .map(|(_, p)| Secret(p.clone())))
}

impl S3 {
    /// Built, and its values checked, even when storage is local: `nmr storage copy` may
    /// still use it as one end of a copy.
    fn from_values(v: &Values, env: &[(String, String)]) -> Result<S3, String> {
        Ok(S3 {
            bucket: v.text("storage.s3.bucket")?.to_string(),
            region: v.text("storage.s3.region")?.to_string(),
            endpoint: v.optional("storage.s3.endpoint")?,
            path_style: v.flag("storage.s3.path_style")?,
            prefix: v.text("storage.s3.prefix")?.to_string(),
            credentials: s3_credentials(
                v.text("storage.s3.access_key_id")?,
                v.text("storage.s3.secret_access_key")?,
                env,
            ),
            redirect: v.flag("storage.s3.redirect")?,
            expires: v.int("storage.s3.expires")?,
        })
    }
}

impl Uplink {
    fn from_values(v: &Values) -> Result<Uplink, String> {
        let mode = v.choice("uplink.mode", UplinkMode::parse)?;
        let url = v.optional("uplink.url")?;
        if mode != UplinkMode::Off && url.is_none() {
            return Err(format!(
                "uplink.mode = {:?} (from {}) needs uplink.url, the upstream registry's base URL; set uplink.url, or set uplink.mode = \"off\"",
                v.text("uplink.mode")?,
                v.source("uplink.mode")?
            ));
        }
        Ok(Uplink {
            mode,
            url,
            token: v.optional("uplink.token")?.map(Secret),
            timeout: v.seconds("uplink.timeout")?,
            maxage: v.seconds("uplink.maxage")?,
            offline: v.flag("uplink.offline")?,
            cache_max_size: Some(v.int("uplink.cache_max_size")?).filter(|n| *n > 0),
            private_scopes: v
                .list("uplink.private_scopes")?
                .iter()
                .map(|s| s.trim_start_matches('@').to_string())
                .collect(),
            tarball_hosts: v.list("uplink.tarball_hosts")?.to_vec(),
        })
    }
}

/// The S3 access key pair: both from the config, else both from the standard AWS variables.
/// Mixing the two sources would hide a half-finished configuration, so it is refused.
fn s3_credentials(
    id: &str,
    secret: &str,
    env: &[(String, String)],
) -> Result<S3Credentials, String> {
    match (id.is_empty(), secret.is_empty()) {
        (false, false) => Ok(S3Credentials {
            access_key_id: id.to_string(),
            secret_access_key: Secret(secret.to_string()),
            source: "config",
        }),
        (true, true) => {
            let id = env_lookup(env, "AWS_ACCESS_KEY_ID");
            let secret = env_lookup(env, "AWS_SECRET_ACCESS_KEY");
            match (id, secret) {
                (Some(id), Some(secret)) => Ok(S3Credentials {
                    access_key_id: id.to_string(),
                    secret_access_key: Secret(secret.to_string()),
                    source: "environment",
                }),
                (None, None) => Err("S3 storage needs credentials: storage.s3.access_key_id and storage.s3.secret_access_key, or the AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY environment variables".into()),
                _ => Err("only one of AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY is set; set both or neither".into()),
            }
        }
        _ => Err("storage.s3.access_key_id and storage.s3.secret_access_key must be set together (or both left empty to use AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)".into()),
    }
}

/// What an S3 store needs before it can be opened: checked at load time when it is the
/// configured backend, and by `nmr storage copy` when it is one end of a copy.
pub fn check_s3(s3: &S3) -> Result<(), String> {
    if s3.bucket.is_empty() {
        return Err(
            "S3 storage needs storage.s3.bucket (e.g. NMR_STORAGE__S3__BUCKET=npm-tarballs)".into(),
        );
    }
    if s3.region.is_empty() {
        return Err("storage.s3.region must not be empty".into());
    }
    s3.credentials.as_ref().map(|_| ()).map_err(Clone::clone)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{inputs, inputs_with_env, tempdir};
    use super::super::{load, render, Kind, KEYS};
    use super::*;

    #[test]
    fn a_key_read_as_another_type_is_an_error_naming_it() {
        let entries = load(&inputs(&tempdir("misread"))).unwrap().entries;
        let v = Values(&entries);
        assert_eq!(v.int::<u16>("server.port"), Ok(4873));
        for err in [
            v.int::<u64>("server.host").unwrap_err(),
            v.int::<u8>("server.port").unwrap_err(),
            v.flag("server.nope").unwrap_err(),
        ] {
            assert!(err.contains("server."), "{err}");
        }
    }

    #[test]
    fn every_word_a_choice_offers_names_something() {
        let knows = |path: &str, w: &str| match path {
            "storage.type" => StorageType::parse(w).is_some(),
            "uplink.mode" => UplinkMode::parse(w).is_some(),
            "auth.type" => AuthType::parse(w).is_some(),
            "logger.level" => w.parse::<Level>().is_ok(),
            // Read as text and compared with "public".
            "auth.read" => true,
            other => panic!("{other} is a choice that Config::from_values does not read"),
        };
        for k in KEYS {
            if let Kind::Choice(words) = k.kind {
                for w in words {
                    assert!(knows(k.path, w), "{} = {w:?}", k.path);
                }
            }
        }
    }

    #[test]
    fn the_github_api_follows_the_host_unless_set() {
        let d = tempdir("github");
        let api = |env: &[(&str, &str)]| {
            load(&inputs_with_env(&d, env))
                .unwrap()
                .config
                .auth
                .github_api
        };
        assert_eq!(api(&[]), "https://api.github.com");
        assert_eq!(
            api(&[("NMR_AUTH__GITHUB__HOST", "GHE.Corp.Test")]),
            "https://ghe.corp.test/api/v3"
        );
        assert_eq!(
            api(&[
                ("NMR_AUTH__GITHUB__HOST", "ghe.corp.test"),
                ("NMR_AUTH__GITHUB__API_URL", "http://127.0.0.1:9/api/")
            ]),
            "http://127.0.0.1:9/api"
        );
    }

    #[test]
    fn tls_takes_a_certificate_and_its_key_together_or_neither() {
        let d = tempdir("tls");
        let tls =
            |env: &[(&str, &str)]| load(&inputs_with_env(&d, env)).map(|e| e.config.server.tls);
        assert!(tls(&[]).unwrap().is_none());
        let both = tls(&[
            ("NMR_SERVER__TLS__CERT", "/c.pem"),
            ("NMR_SERVER__TLS__KEY", "/k.pem"),
        ]);
        let both = both.unwrap().unwrap();
        assert_eq!(
            (both.cert.to_str(), both.key.to_str()),
            (Some("/c.pem"), Some("/k.pem"))
        );
        let e = tls(&[("NMR_SERVER__TLS__CERT", "/c.pem")]).unwrap_err();
        assert!(
            e.contains("server.tls.cert")
                && e.contains("server.tls.key")
                && e.contains("NMR_SERVER__TLS__CERT"),
            "{e}"
        );
    }

    #[test]
    fn s3_needs_a_bucket_and_a_whole_key_pair_from_one_source() {
        let d = tempdir("s3");
        let mut i = inputs(&d);
        i.env.push(("NMR_STORAGE__TYPE".into(), "s3".into()));
        assert!(load(&i).unwrap_err().contains("storage.s3.bucket"));
        i.env.push(("NMR_STORAGE__S3__BUCKET".into(), "npm".into()));
        assert!(load(&i).unwrap_err().contains("AWS_ACCESS_KEY_ID"));
        i.env.push(("AWS_ACCESS_KEY_ID".into(), "AKID".into()));
        assert!(load(&i).unwrap_err().contains("only one of"));
        i.env
            .push(("AWS_SECRET_ACCESS_KEY".into(), "from-env".into()));
        let c = load(&i).unwrap().config.s3.credentials.unwrap();
        assert_eq!(
            (c.source, c.secret_access_key.0.as_str()),
            ("environment", "from-env")
        );

        i.env
            .push(("NMR_STORAGE__S3__ACCESS_KEY_ID".into(), "cfg-id".into()));
        assert!(load(&i).unwrap_err().contains("must be set together"));
        i.env.push((
            "NMR_STORAGE__S3__SECRET_ACCESS_KEY".into(),
            "from-config".into(),
        ));
        let e = load(&i).unwrap();
        let c = e.config.s3.credentials.as_ref().unwrap();
        assert_eq!((c.source, c.access_key_id.as_str()), ("config", "cfg-id"));
        let shown = format!("{:?}{}", e.config, render(&e.entries, None));
        assert!(
            !shown.contains("from-config") && !shown.contains("from-env"),
            "{shown}"
        );
    }

    #[test]
    fn s3_values_are_checked_even_when_storage_is_local() {
        let d = tempdir("s3-values");
        let mut i = inputs(&d);
        i.env
            .push(("AWS_ACCESS_KEY_ID".into(), "half a pair".into()));
        assert_eq!(load(&i).unwrap().config.storage_type, StorageType::Local);

        std::fs::write(
            d.join("nmr.toml"),
            "[storage.s3]\nprefix = \"/npm/v1/\"\nexpires = 120\n",
        )
        .unwrap();
        let s3 = load(&inputs(&d)).unwrap().config.s3;
        assert_eq!((s3.prefix.as_str(), s3.expires), ("npm/v1/", 120));
        for (k, v) in [
            ("NMR_STORAGE__S3__PREFIX", "a/../b"),
            ("NMR_STORAGE__S3__PREFIX", "a b"),
            ("NMR_STORAGE__S3__EXPIRES", "0"),
            ("NMR_STORAGE__S3__EXPIRES", "604801"),
            ("NMR_STORAGE__S3__ENDPOINT", "s3.example.test"),
        ] {
            let mut i = inputs(&d);
            i.env.push((k.into(), v.into()));
            assert!(load(&i).unwrap_err().contains(k), "{k}={v}");
        }
    }

    #[test]
    fn uplink_settings_come_from_every_layer_and_read_back() {
        let d = tempdir("uplink");
        std::fs::write(
            d.join("nmr.toml"),
            "[uplink]\nmode = \"proxy\"\nurl = \"http://upstream.example.test/\"\nprivate_scopes = [\"@acme\", \"internal\"]\nmaxage = \"5m\"\n",
        )
        .unwrap();
        let e = load(&inputs(&d)).unwrap();
        let u = &e.config.uplink;
        assert_eq!(u.mode, UplinkMode::Proxy);
        assert_eq!(u.url.as_deref(), Some("http://upstream.example.test"));
        assert_eq!(u.private_scopes, ["acme", "internal"]);
        assert_eq!(u.maxage, Duration::from_secs(300));
        assert_eq!(u.timeout, Duration::from_secs(30));
        assert!(!u.offline && u.token.is_none());
        assert_eq!(u.cache_max_size, None, "no limit unless set");

        let mut i = inputs(&d);
        i.env
            .push(("NMR_UPLINK__CACHE_MAX_SIZE".into(), "2tb".into()));
        i.env
            .push(("NMR_UPLINK__PRIVATE_SCOPES".into(), "@a, b,".into()));
        i.env.push(("NMR_UPLINK__TOKEN".into(), "s3cret".into()));
        i.flags
            .push(("uplink.offline".into(), "true".into(), "--offline".into()));
        i.flags.push((
            "uplink.timeout".into(),
            "2".into(),
            "--set uplink.timeout".into(),
        ));
        let e = load(&i).unwrap();
        let u = &e.config.uplink;
        assert_eq!(u.private_scopes, ["a", "b"]);
        assert_eq!(u.timeout, Duration::from_secs(2));
        assert!(u.offline);
        assert_eq!(u.cache_max_size, Some(2 << 40));
        assert_eq!(u.token, Some(Secret("s3cret".into())));
        assert!(!format!("{:?}", e.config).contains("s3cret"));

        let text = render(&e.entries, e.file.as_deref());
        assert!(text.contains("private_scopes = [\"@a\", \"@b\"]"), "{text}");
        assert!(text.contains("token = \"********\"") && !text.contains("s3cret"));
        std::fs::write(d.join("nmr.toml"), &text).unwrap();
        let again = load(&inputs(&d)).unwrap().config.uplink;
        assert_eq!(again.private_scopes, ["a", "b"]);
        assert_eq!((again.timeout, again.offline), (u.timeout, true));
    }

    #[test]
    fn bad_uplink_settings_stop_start_up_naming_the_keys() {
        let d = tempdir("uplink-bad");
        let err = |env: &[(&str, &str)]| load(&inputs_with_env(&d, env)).unwrap_err();
        let e = err(&[("NMR_UPLINK__MODE", "redirect")]);
        assert!(
            e.contains("uplink.mode") && e.contains("uplink.url") && e.contains("NMR_UPLINK__MODE"),
            "{e}"
        );
        let e = err(&[("NMR_UPLINK__PRIVATE_SCOPES", "@acme,@Bad")]);
        assert!(
            e.contains("uplink.private_scopes") && e.contains("@Bad"),
            "{e}"
        );
        assert!(err(&[("NMR_UPLINK__MAXAGE", "soon")]).contains("uplink.maxage"));
        assert!(err(&[("NMR_UPLINK__TIMEOUT", "0")]).contains("uplink.timeout"));
        assert!(err(&[("NMR_UPLINK__CACHE_MAX_SIZE", "lots")]).contains("uplink.cache_max_size"));
        assert!(err(&[("NMR_UPLINK__URL", "upstream.example.test")]).contains("uplink.url"));
        assert!(err(&[("NMR_UPLINK__MODE", "mirror")]).contains("uplink.mode"));
    }
}

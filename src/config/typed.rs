//! Reading the layered values into the typed [`Config`] sections, and the checks that span more
//! than one key (S3's bucket and key pair, uplink's mode and URL, TLS's certificate and key).

use super::layers::{env_lookup, Source};
use super::parse::Val;
use super::{
    Auth, AuthType, Config, S3Credentials, Secret, Server, Settings, StorageType, Tls, Uplink,
    UplinkMode, S3,
};
use crate::log::Level;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// The typed configuration from every key's layered value.
pub(super) fn build(
    values: &BTreeMap<&'static str, (Val, Source)>,
    env: &[(String, String)],
) -> Result<Config, String> {
    let text = |p: &str| match &values[p].0 {
        Val::Text(s) => s.clone(),
        other => unreachable!("{p} holds {other:?}"),
    };
    let int = |p: &str| match &values[p].0 {
        Val::Int(n) => *n,
        other => unreachable!("{p} holds {other:?}"),
    };
    let boolean = |p: &str| matches!(values[p].0, Val::Bool(true));
    let nonempty = |s: String| (!s.is_empty()).then_some(s);
    let public_url = text("server.public_url");
    let storage_type = StorageType::parse(&text("storage.type")).expect("checked by Kind::Choice");
    let endpoint = text("storage.s3.endpoint");
    let s3 = S3 {
        bucket: text("storage.s3.bucket"),
        region: text("storage.s3.region"),
        endpoint: (!endpoint.is_empty()).then_some(endpoint),
        path_style: boolean("storage.s3.path_style"),
        prefix: text("storage.s3.prefix"),
        credentials: s3_credentials(
            text("storage.s3.access_key_id"),
            text("storage.s3.secret_access_key"),
            env,
        ),
        redirect: boolean("storage.s3.redirect"),
        expires: u32::try_from(int("storage.s3.expires")).expect("checked by Kind::Seconds"),
    };
    if storage_type == StorageType::S3 {
        check_s3(&s3)?;
    }
    let mode = match text("uplink.mode").as_str() {
        "redirect" => UplinkMode::Redirect,
        "proxy" => UplinkMode::Proxy,
        _ => UplinkMode::Off,
    };
    let uplink_url = nonempty(text("uplink.url"));
    if mode != UplinkMode::Off && uplink_url.is_none() {
        return Err(format!(
            "uplink.mode = {:?} (from {}) needs uplink.url, the upstream registry's base URL; set uplink.url, or set uplink.mode = \"off\"",
            text("uplink.mode"),
            values["uplink.mode"].1
        ));
    }
    let scopes = match &values["uplink.private_scopes"].0 {
        Val::List(l) => l
            .iter()
            .map(|s| s.trim_start_matches('@').to_string())
            .collect(),
        other => unreachable!("uplink.private_scopes holds {other:?}"),
    };
    let github_host = text("auth.github.host").trim().to_ascii_lowercase();
    let github_api = match text("auth.github.api_url") {
        u if !u.is_empty() => u,
        _ if github_host == "github.com" => "https://api.github.com".to_string(),
        _ => format!("https://{github_host}/api/v3"),
    };
    let tls = match (text("server.tls.cert"), text("server.tls.key")) {
        (c, k) if c.is_empty() && k.is_empty() => None,
        (c, k) if c.is_empty() || k.is_empty() => {
            return Err(format!(
                "server.tls.cert (from {}) and server.tls.key (from {}) go together: set both for HTTPS, or neither",
                values["server.tls.cert"].1, values["server.tls.key"].1
            ))
        }
        (c, k) => Some(Tls {
            cert: PathBuf::from(c),
            key: PathBuf::from(k),
        }),
    };
    let config = Config {
        auth: Auth {
            kind: match text("auth.type").as_str() {
                "local" => AuthType::Local,
                "github" => AuthType::GitHub,
                _ => AuthType::None,
            },
            read_public: text("auth.read") == "public",
            allow_registration: boolean("auth.local.allow_registration"),
            github_api,
            github_allow_unscoped: boolean("auth.github.allow_unscoped"),
            github_cache_ttl: int("auth.github.cache.ttl"),
            github_host,
        },
        server: Server {
            host: text("server.host"),
            port: int("server.port") as u16,
            public_url: (!public_url.is_empty()).then_some(public_url),
            workers: int("server.workers") as usize,
            max_connections: int("server.max_connections") as usize,
            read_timeout: Duration::from_secs(int("server.read_timeout")),
            write_timeout: Duration::from_secs(int("server.write_timeout")),
            shutdown_timeout: Duration::from_secs(int("server.shutdown_timeout")),
            max_connections_per_address: int("server.max_connections_per_address") as usize,
            min_upload_rate: int("server.min_upload_rate"),
            spool_budget: int("server.spool_budget"),
            tls,
        },
        log_level: Level::parse(&text("logger.level")).expect("checked by Kind::Choice"),
        settings: Settings {
            allow_previous_version: boolean("settings.allow_previous_version"),
            max_body_size: int("settings.max_body_size"),
        },
        storage_type,
        storage_path: PathBuf::from(text("storage.local.path")),
        s3,
        db_path: PathBuf::from(text("db.path")),
        uplink: Uplink {
            mode,
            url: uplink_url,
            token: nonempty(text("uplink.token")).map(Secret),
            timeout: Duration::from_secs(int("uplink.timeout")),
            maxage: Duration::from_secs(int("uplink.maxage")),
            offline: boolean("uplink.offline"),
            private_scopes: scopes,
        },
    };
    Ok(config)
}

/// The S3 access key pair: both from the config, else both from the standard AWS variables.
/// Mixing the two sources would hide a half-finished configuration, so it is refused.
fn s3_credentials(
    id: String,
    secret: String,
    env: &[(String, String)],
) -> Result<S3Credentials, String> {
    match (id.is_empty(), secret.is_empty()) {
        (false, false) => Ok(S3Credentials {
            access_key_id: id,
            secret_access_key: Secret(secret),
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
    use super::super::{load, render};
    use super::*;

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

        let mut i = inputs(&d);
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
        assert!(err(&[("NMR_UPLINK__URL", "upstream.example.test")]).contains("uplink.url"));
        assert!(err(&[("NMR_UPLINK__MODE", "mirror")]).contains("uplink.mode"));
    }
}

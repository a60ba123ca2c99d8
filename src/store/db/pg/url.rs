//! The `postgres://` URL an operator writes in `db.url`: parsing it into a [`Config`], and
//! masking its password for display.
//!
//! The user part ends at the *last* `@` of the URL, so a password holding a raw `/`, `?` or `#`
//! still parses, and, more to the point, never ends up in a host, port or query key that an
//! error message would quote. Every error names a part of the URL but never repeats the
//! password.

use super::{Config, SslMode};
use percent_encoding::percent_decode_str;
use std::path::PathBuf;
use std::time::Duration;

/// The URL split into its raw (still percent-encoded) parts.
struct Parts<'a> {
    scheme: &'a str,
    user: Option<&'a str>,
    password: Option<&'a str>,
    hostport: &'a str,
    path: Option<&'a str>,
    query: Option<&'a str>,
}

fn split(url: &str) -> Option<Parts<'_>> {
    let (scheme, rest) = url.split_once("://")?;
    let (userinfo, rest) = match rest.rfind('@') {
        Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
        None => (None, rest),
    };
    let (user, password) = match userinfo {
        Some(u) => match u.split_once(':') {
            Some((user, pass)) => (Some(user), Some(pass)),
            None => (Some(u), None),
        },
        None => (None, None),
    };
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, Some(q)),
        None => (rest, None),
    };
    let (hostport, path) = match rest.split_once('/') {
        Some((h, p)) => (h, Some(p)),
        None => (rest, None),
    };
    Some(Parts {
        scheme,
        user,
        password,
        hostport,
        path,
        query,
    })
}

/// Percent-decodes one part; `what` names it in the error, whose text never quotes the part
/// (it may be the password).
fn decode(raw: &str, what: &str) -> Result<String, String> {
    percent_decode_str(raw)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| format!("the {what} in the database URL is not UTF-8 once percent-decoded"))
}

fn parse_port(raw: &str) -> Result<u16, String> {
    match raw.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!(
            "the port {raw:?} in the database URL is not a number from 1 to 65535"
        )),
    }
}

fn parse_sslmode(raw: &str) -> Result<SslMode, String> {
    Ok(match raw {
        "disable" => SslMode::Disable,
        "prefer" => SslMode::Prefer,
        "require" => SslMode::Require,
        "verify-ca" => SslMode::VerifyCa,
        "verify-full" => SslMode::VerifyFull,
        _ => {
            return Err(format!(
                "sslmode={raw} in the database URL is not one of disable, prefer, require, \
                 verify-ca, verify-full"
            ))
        }
    })
}

/// Splits `[host][:port]`, with an IPv6 address in brackets.
fn split_hostport(raw: &str) -> Result<(&str, Option<&str>), String> {
    if let Some(inner) = raw.strip_prefix('[') {
        let (host, after) = inner.split_once(']').ok_or_else(|| {
            format!("the host {raw:?} in the database URL opens a '[' it does not close")
        })?;
        return match after {
            "" => Ok((host, None)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((host, Some(port))),
                None => Err(format!(
                    "the host {raw:?} in the database URL has text after its ']'"
                )),
            },
        };
    }
    Ok(match raw.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (raw, None),
    })
}

/// Parses `postgres://user:pass@host:port/db?sslmode=require&sslrootcert=/path&connect_timeout=5&host=/var/run/postgresql`
/// (also `postgresql://`). Percent-decodes user, password, dbname, host and query values.
/// Unknown query keys are an error naming the key. Errors are human messages that never
/// contain the password.
pub fn parse_url(url: &str) -> Result<Config, String> {
    let parts = split(url).ok_or_else(|| {
        "the database URL does not start with postgres:// or postgresql://".to_string()
    })?;
    if parts.scheme != "postgres" && parts.scheme != "postgresql" {
        return Err(format!(
            "the database URL starts with {}://, not postgres:// or postgresql://",
            parts.scheme
        ));
    }
    let mut config = Config::default();
    if let Some(user) = parts.user {
        config.user = decode(user, "user name")?;
    }
    if let Some(password) = parts.password {
        config.password = Some(decode(password, "password")?);
    }
    let (host, port) = split_hostport(parts.hostport)?;
    if !host.is_empty() {
        config.host = decode(host, "host")?;
    }
    if let Some(port) = port.filter(|p| !p.is_empty()) {
        config.port = parse_port(port)?;
    }
    let mut dbname = match parts.path {
        Some(p) if !p.is_empty() => Some(decode(p, "database name")?),
        _ => None,
    };
    for pair in parts
        .query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (key, raw) = pair.split_once('=').unwrap_or((pair, ""));
        let value = decode(raw, &format!("value of {key}"))?;
        match key {
            "sslmode" => config.sslmode = parse_sslmode(&value)?,
            "sslrootcert" => config.ca_file = Some(PathBuf::from(value)),
            "connect_timeout" => {
                let secs = value
                    .parse::<u64>()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| {
                        format!(
                            "connect_timeout={value} in the database URL is not a whole number of \
                         seconds above 0"
                        )
                    })?;
                config.connect_timeout = Duration::from_secs(secs);
            }
            "host" => config.host = value,
            "port" => config.port = parse_port(&value)?,
            "dbname" => dbname = Some(value),
            "user" => config.user = value,
            "application_name" => config.application_name = value,
            _ => {
                return Err(format!(
                    "the database URL has an unknown setting {key:?}; nmr knows sslmode, \
                     sslrootcert, connect_timeout, host, port, dbname, user and application_name"
                ))
            }
        }
    }
    if config.user.is_empty() {
        return Err("the database URL names no user (postgres://USER@host/db)".to_string());
    }
    if config.host.is_empty() {
        return Err("the database URL names no host".to_string());
    }
    config.dbname = dbname.unwrap_or_else(|| config.user.clone());
    Ok(config)
}

/// The URL with the password replaced by `***` (for `nmr db copy`'s output). Text that is not a
/// URL comes back unchanged: it has no user part to hide.
pub fn mask_url(url: &str) -> String {
    mask_password(url, "***")
}

/// The URL with the password replaced by `mask`, found exactly as [`parse_url`] finds it (so a
/// password holding a raw `/`, `?` or `#` is hidden too).
pub fn mask_password(url: &str, mask: &str) -> String {
    let Some(parts) = split(url) else {
        return url.to_string();
    };
    let Some(password) = parts.password else {
        return url.to_string();
    };
    // The password starts right after the first ':' that follows "://" and the user name.
    let start = parts.scheme.len() + 3 + parts.user.map_or(0, str::len) + 1;
    let end = start + password.len();
    format!("{}{mask}{}", &url[..start], &url[end..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_url_fills_every_field() {
        let c = parse_url(
            "postgres://nmr:secret@db.example.com:6543/registry?sslmode=verify-full\
             &sslrootcert=/etc/ca.pem&connect_timeout=5&application_name=nmr-1",
        )
        .unwrap();
        assert_eq!(c.host, "db.example.com");
        assert_eq!(c.port, 6543);
        assert_eq!(c.user, "nmr");
        assert_eq!(c.password.as_deref(), Some("secret"));
        assert_eq!(c.dbname, "registry");
        assert_eq!(c.sslmode, SslMode::VerifyFull);
        assert_eq!(c.ca_file, Some(PathBuf::from("/etc/ca.pem")));
        assert_eq!(c.connect_timeout, Duration::from_secs(5));
        assert_eq!(c.application_name, "nmr-1");
    }

    #[test]
    fn defaults_fill_what_the_url_leaves_out() {
        let c = parse_url("postgresql://alice@localhost").unwrap();
        assert_eq!(c.port, 5432);
        assert_eq!(c.password, None);
        assert_eq!(c.dbname, "alice");
        assert_eq!(c.sslmode, SslMode::Prefer);
        assert_eq!(c.ca_file, None);
        assert_eq!(c.connect_timeout, Duration::from_secs(10));
        assert_eq!(c.io_timeout, Duration::from_secs(60));
        assert_eq!(c.application_name, "nmr");
    }

    #[test]
    fn percent_encoded_parts_are_decoded() {
        let c = parse_url("postgres://us%65r:p%40ss%3Aw%2Fo%25rd@h/my%20db").unwrap();
        assert_eq!(c.user, "user");
        assert_eq!(c.password.as_deref(), Some("p@ss:w/o%rd"));
        assert_eq!(c.dbname, "my db");
    }

    #[test]
    fn a_raw_at_sign_or_slash_in_the_password_still_parses() {
        let c = parse_url("postgres://u:pa@s/s?x@host:5433/db").unwrap();
        assert_eq!(c.password.as_deref(), Some("pa@s/s?x"));
        assert_eq!(c.host, "host");
        assert_eq!(c.port, 5433);
        assert_eq!(c.dbname, "db");
    }

    #[test]
    fn a_unix_socket_directory_comes_from_the_query_or_an_encoded_host() {
        let c = parse_url("postgres://nmr@/reg?host=/var/run/postgresql").unwrap();
        assert_eq!(c.host, "/var/run/postgresql");
        assert_eq!(c.dbname, "reg");
        let c = parse_url("postgres://nmr@%2Ftmp%2Fpg:5999/reg").unwrap();
        assert_eq!(c.host, "/tmp/pg");
        assert_eq!(c.port, 5999);
    }

    #[test]
    fn an_ipv6_host_is_in_brackets() {
        let c = parse_url("postgres://u@[::1]:5433/d").unwrap();
        assert_eq!((c.host.as_str(), c.port), ("::1", 5433));
        let c = parse_url("postgres://u@[fe80::1]/d").unwrap();
        assert_eq!((c.host.as_str(), c.port), ("fe80::1", 5432));
    }

    #[test]
    fn every_sslmode_parses() {
        for (text, mode) in [
            ("disable", SslMode::Disable),
            ("prefer", SslMode::Prefer),
            ("require", SslMode::Require),
            ("verify-ca", SslMode::VerifyCa),
            ("verify-full", SslMode::VerifyFull),
        ] {
            let c = parse_url(&format!("postgres://u@h/d?sslmode={text}")).unwrap();
            assert_eq!(c.sslmode, mode);
        }
    }

    #[test]
    fn errors_name_the_problem_but_never_the_password() {
        let secret = "Sup3rS3cret";
        for (url, wanted) in [
            ("mysql://u:Sup3rS3cret@h/d", "mysql://"),
            ("postgres://u:Sup3rS3cret@h/d?sslmode=on", "sslmode=on"),
            ("postgres://u:Sup3rS3cret@h/d?sslcert=/x", "\"sslcert\""),
            ("postgres://u:Sup3rS3cret@h:99999/d", "99999"),
            (
                "postgres://u:Sup3rS3cret@h/d?connect_timeout=x",
                "connect_timeout",
            ),
            ("postgres://:Sup3rS3cret@h/d", "no user"),
            ("postgres://u:Sup3rS3cret%FF@h/d", "password"),
            ("postgres://u:Sup3rS3cret@[::1/d", "'['"),
        ] {
            let e = parse_url(url).unwrap_err();
            assert!(e.contains(wanted), "{url}: {e}");
            assert!(!e.contains(secret), "{url}: {e}");
        }
    }

    #[test]
    fn masking_hides_only_the_password() {
        assert_eq!(
            mask_url("postgres://nmr:p%40ss%3Aword@db:5432/reg?sslmode=require"),
            "postgres://nmr:***@db:5432/reg?sslmode=require"
        );
        assert_eq!(
            mask_url("postgres://nmr:pa@ss@db/reg"),
            "postgres://nmr:***@db/reg"
        );
        assert_eq!(mask_url("postgres://nmr@db/reg"), "postgres://nmr@db/reg");
        assert_eq!(mask_url("postgres://db/reg"), "postgres://db/reg");
        assert_eq!(mask_url("not a url"), "not a url");
    }
}

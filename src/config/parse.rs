//! Turning a setting's written form (text from a variable, flag or default, or a typed TOML
//! value) into a checked [`Val`] according to its [`Kind`], so that a bad value is refused where
//! it is read, naming what was expected.

use super::keys::Kind;

/// A parsed value.
#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    /// Text, path or URL.
    Text(String),
    /// Port, count or size.
    Int(u64),
    /// A flag.
    Bool(bool),
    /// A list of words (scopes).
    List(Vec<String>),
    /// `[[notify]]` entries.
    Notify(Vec<super::Notify>),
}

/// Largest accepted `settings.max_body_size`.
const MAX_SIZE: u64 = 2 << 30;

/// Suffixes of `Kind::Capacity` and the bytes they stand for.
const CAPACITY_UNITS: &[(&str, u64)] = &[
    ("", 1),
    ("b", 1),
    ("k", 1 << 10),
    ("kb", 1 << 10),
    ("m", 1 << 20),
    ("mb", 1 << 20),
    ("g", 1 << 30),
    ("gb", 1 << 30),
    ("t", 1 << 40),
    ("tb", 1 << 40),
];

/// Suffixes of `Kind::Size`: those of capacities without terabytes, no body being that large.
const SIZE_UNITS: &[(&str, u64)] = CAPACITY_UNITS.split_at(8).0;

/// Suffixes of `Kind::Seconds` and the seconds they stand for.
const SECONDS_UNITS: &[(&str, u64)] = &[("", 1), ("s", 1), ("m", 60), ("h", 3600)];

/// A whole number with an optional unit suffix from `units`, scaled by that unit.
fn parse_scaled(s: &str, units: &[(&str, u64)]) -> Option<u64> {
    let t = s.trim().to_ascii_lowercase();
    let digits_end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let n: u64 = t[..digits_end].parse().ok()?;
    let suffix = t[digits_end..].trim();
    let (_, mult) = units.iter().find(|(u, _)| *u == suffix)?;
    n.checked_mul(*mult)
}

/// One scope, `@acme` or `acme`, checked against npm's name rules and returned as `@acme`.
fn parse_scope(s: &str) -> Result<String, String> {
    let bare = s.trim().trim_start_matches('@');
    let refused = || format!("{s:?} is not an npm scope such as @acme");
    // Scopes are compared exactly, and npm's scopes are lowercase.
    if bare != crate::name::folded(bare) {
        return Err(refused());
    }
    crate::name::validate(&format!("@{bare}/x"))
        .map(|()| format!("@{bare}"))
        .map_err(|_| refused())
}

/// One address range for `Kind::Addresses`, kept as written (trimmed) once it parses.
fn parse_range(s: &str) -> Result<String, String> {
    let t = s.trim();
    crate::cidr::parse(t)
        .map(|_| t.to_string())
        .ok_or_else(|| format!("{s:?} is not an address or range such as 10.0.0.5 or 10.0.0.0/8"))
}

/// One origin for `Kind::Origins`: `http(s)://host[:port]`, nothing after it but an optional
/// `/`. Returned lower-cased and without a default port, as origins are compared.
fn parse_origin(s: &str) -> Result<String, String> {
    let refuse = || {
        format!("{s:?} is not an origin such as https://cdn.example.test or https://cdn.example.test:8443")
    };
    let t = s.trim().trim_end_matches('/').to_ascii_lowercase();
    let (scheme, rest) = t.split_once("://").ok_or_else(refuse)?;
    let default = match scheme {
        "http" => ":80",
        "https" => ":443",
        _ => return Err(refuse()),
    };
    let host_ok = !rest.is_empty()
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-_:[]".contains(c));
    if !host_ok {
        return Err(refuse());
    }
    let rest = rest.strip_suffix(default).unwrap_or(rest);
    Ok(format!("{scheme}://{rest}"))
}

/// Checks one item of a list and returns it as it is kept.
type ItemParser = fn(&str) -> Result<String, String>;

/// How one item of a list kind is parsed; `None` for kinds that are not lists.
fn list_item(kind: Kind) -> Option<ItemParser> {
    match kind {
        Kind::Scopes => Some(parse_scope),
        Kind::Addresses => Some(parse_range),
        Kind::Origins => Some(parse_origin),
        _ => None,
    }
}

/// Parses a value written as text (environment, flags, defaults).
pub(super) fn parse_text(kind: Kind, s: &str) -> Result<Val, String> {
    match kind {
        Kind::Text | Kind::Path => Ok(Val::Text(s.to_string())),
        Kind::Port => s
            .parse::<u16>()
            .map(|p| Val::Int(p.into()))
            .map_err(|_| format!("{s:?} is not a port number (0-65535)")),
        Kind::Count { min, max } => match s.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(Val::Int(n)),
            _ => Err(format!("{s:?} is not a whole number from {min} to {max}")),
        },
        Kind::Bool => match s {
            "true" | "1" | "yes" => Ok(Val::Bool(true)),
            "false" | "0" | "no" => Ok(Val::Bool(false)),
            _ => Err(format!("{s:?} is not true or false")),
        },
        Kind::Size => match parse_scaled(s, SIZE_UNITS) {
            // Bodies are held in memory while checked; beyond this a publish is a mistake.
            Some(n) if (1..=MAX_SIZE).contains(&n) => Ok(Val::Int(n)),
            Some(_) => Err(format!("{s:?} is out of range: from 1 byte to 2gb")),
            None => Err(format!("{s:?} is not a size such as 200mb, 1g or 1048576")),
        },
        Kind::Capacity => parse_scaled(s, CAPACITY_UNITS)
            .filter(|n| i64::try_from(*n).is_ok())
            .map(Val::Int)
            .ok_or_else(|| format!("{s:?} is not a size such as 20gb or 500mb, or 0 for no limit")),
        Kind::BaseUrl => check_base_url(s).map(Val::Text),
        Kind::Seconds { min, max } => match parse_scaled(s, SECONDS_UNITS) {
            Some(n) if (min..=max).contains(&n) => Ok(Val::Int(n)),
            Some(_) => Err(format!(
                "{s:?} is out of range: from {min} to {max} seconds"
            )),
            None => Err(format!("{s:?} is not a duration such as 30, 30s, 5m or 1h")),
        },
        Kind::Scopes | Kind::Addresses | Kind::Origins => s
            .split(',')
            .filter(|p| !p.trim().is_empty())
            .map(list_item(kind).expect("a list kind"))
            .collect::<Result<_, _>>()
            .map(Val::List),
        Kind::Prefix => check_prefix(s).map(Val::Text),
        Kind::Notify if s.trim().is_empty() => Ok(Val::Notify(Vec::new())),
        // Variables and flags carry the tables as JSON, which maps onto TOML's values.
        Kind::Notify => serde_json::from_str::<toml::Value>(s)
            .map_err(|e| format!("not a JSON array of [[notify]] objects: {e}"))
            .and_then(|v| super::notify::parse(&v))
            .map(Val::Notify),
        Kind::Choice(options) => {
            if options.contains(&s) {
                Ok(Val::Text(s.to_string()))
            } else {
                Err(format!("{s:?} is not one of: {}", options.join(", ")))
            }
        }
    }
}

fn expected_type(kind: Kind) -> &'static str {
    match kind {
        Kind::Port | Kind::Count { .. } => "integer",
        Kind::Size => "integer or string such as \"200mb\"",
        Kind::Capacity => "integer or string such as \"20gb\"",
        Kind::Seconds { .. } => "integer or string such as \"5m\"",
        Kind::Bool => "boolean",
        Kind::Scopes => "array of strings such as [\"@acme\"]",
        Kind::Notify => "[[notify]] tables",
        Kind::Addresses => "array of strings such as [\"10.0.0.0/8\"]",
        Kind::Origins => "array of strings such as [\"https://cdn.example.test\"]",
        _ => "string",
    }
}

/// Parses a value from the config file, where numbers and booleans are typed.
pub(super) fn parse_toml(kind: Kind, v: &toml::Value) -> Result<Val, String> {
    match (kind, v) {
        (Kind::Notify, v) => super::notify::parse(v).map(Val::Notify),
        (_, toml::Value::String(s)) => parse_text(kind, s),
        (
            Kind::Port | Kind::Count { .. } | Kind::Size | Kind::Capacity | Kind::Seconds { .. },
            toml::Value::Integer(n),
        ) => parse_text(kind, &n.to_string()),
        (Kind::Scopes | Kind::Addresses | Kind::Origins, toml::Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .ok_or_else(|| {
                        format!("a {} in the list where a string is expected", i.type_str())
                    })
                    .and_then(list_item(kind).expect("a list kind"))
            })
            .collect::<Result<_, _>>()
            .map(Val::List),
        (Kind::Bool, toml::Value::Boolean(b)) => Ok(Val::Bool(*b)),
        (_, other) => Err(format!(
            "a {} where a {} is expected",
            other.type_str(),
            expected_type(kind)
        )),
    }
}

/// A base URL must be http(s) and safe to splice into JSON and headers as is.
fn check_base_url(s: &str) -> Result<String, String> {
    let s = s.trim_end_matches('/');
    if s.is_empty() {
        return Ok(String::new());
    }
    let rest = s
        .strip_prefix("http://")
        .or_else(|| s.strip_prefix("https://"))
        .ok_or_else(|| format!("{s:?} must start with http:// or https://"))?;
    if rest.is_empty()
        || s.chars()
            .any(|c| c.is_control() || c.is_whitespace() || "\"\\<>{}|^`".contains(c))
    {
        return Err(format!("{s:?} is not a valid base URL"));
    }
    Ok(s.to_string())
}

/// A bucket prefix is normalised to `a/b/` (or empty); its segments follow the same rules as
/// blob keys, so no prefix can make two configurations' keys collide in surprising ways.
fn check_prefix(s: &str) -> Result<String, String> {
    let t = s.trim_matches('/');
    if t.is_empty() {
        return Ok(String::new());
    }
    let ok = t.split('/').all(|seg| {
        !seg.is_empty()
            && !seg.starts_with('.')
            && seg
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c))
    });
    if ok {
        Ok(format!("{t}/"))
    } else {
        Err(format!(
            "{s:?} is not a bucket prefix: use /-separated names of letters, digits, '-', '_', '.' and '@', none starting with '.'"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_and_origin_lists_are_checked_item_by_item() {
        assert_eq!(
            parse_text(Kind::Addresses, "10.0.0.5, 10.0.0.0/8,::1").unwrap(),
            Val::List(vec!["10.0.0.5".into(), "10.0.0.0/8".into(), "::1".into()])
        );
        assert!(parse_text(Kind::Addresses, "10.0.0.0/33").is_err());
        assert!(parse_text(Kind::Addresses, "proxy.example.test").is_err());
        assert_eq!(
            parse_text(
                Kind::Origins,
                "HTTPS://CDN.example.test:443/,http://127.0.0.1:8080"
            )
            .unwrap(),
            Val::List(vec![
                "https://cdn.example.test".into(),
                "http://127.0.0.1:8080".into()
            ])
        );
        for bad in [
            "cdn.example.test",
            "ftp://cdn.example.test",
            "https://cdn.example.test/path",
            "https://user@cdn.example.test",
            "https://",
        ] {
            assert!(parse_text(Kind::Origins, bad).is_err(), "{bad}");
        }
        let toml: toml::Value = toml::from_str("v = [\"10.0.0.1\", 5]").unwrap();
        assert!(parse_toml(Kind::Addresses, &toml["v"]).is_err());
    }
}

//! `[[notify]]`: the webhooks called when a package changes. Each table of the config file (or
//! each object of the JSON array in `NMR_NOTIFY`) becomes one checked [`Notify`]; `nmr config`
//! writes them back as `[[notify]]` tables with the secret and the header values masked.

use super::Secret;
use std::time::Duration;

/// What happened to a package; `events` in a `[[notify]]` entry selects among these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NotifyEvent {
    Publish,
    Unpublish,
    DistTag,
    Deprecate,
    Owner,
}

impl NotifyEvent {
    pub const ALL: [NotifyEvent; 5] = [
        NotifyEvent::Publish,
        NotifyEvent::Unpublish,
        NotifyEvent::DistTag,
        NotifyEvent::Deprecate,
        NotifyEvent::Owner,
    ];

    /// The word in `events`, in the payload's `event` and in the `X-Nmr-Event` header.
    pub fn name(self) -> &'static str {
        match self {
            NotifyEvent::Publish => "publish",
            NotifyEvent::Unpublish => "unpublish",
            NotifyEvent::DistTag => "dist-tag",
            NotifyEvent::Deprecate => "deprecate",
            NotifyEvent::Owner => "owner",
        }
    }

    pub fn parse(s: &str) -> Option<NotifyEvent> {
        NotifyEvent::ALL.into_iter().find(|e| e.name() == s)
    }
}

/// The body's shape: nmr's own JSON, or what a chat tool's incoming webhook accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotifyFormat {
    Json,
    Slack,
    Teams,
}

impl NotifyFormat {
    const ALL: [NotifyFormat; 3] = [NotifyFormat::Json, NotifyFormat::Slack, NotifyFormat::Teams];

    pub fn name(self) -> &'static str {
        match self {
            NotifyFormat::Json => "json",
            NotifyFormat::Slack => "slack",
            NotifyFormat::Teams => "teams",
        }
    }
}

/// One `[[notify]]` entry. Its `url` identifies it: events waiting in the outbox name the URL
/// they go to, so the secret and headers used are always those configured now.
#[derive(Clone, Debug, PartialEq)]
pub struct Notify {
    pub url: String,
    /// Never empty: left out, it is every event.
    pub events: Vec<NotifyEvent>,
    /// Glob patterns (`*` matches any run of characters); empty = every package.
    pub packages: Vec<String>,
    pub secret: Option<Secret>,
    pub format: NotifyFormat,
    /// Extra request headers; their values may be credentials, so they are kept as secrets.
    pub headers: Vec<(String, Secret)>,
    /// Bounds connecting and the whole exchange.
    pub timeout: Duration,
    /// The first wait after a failed attempt; it doubles per attempt up to a day.
    pub retry_base: Duration,
}

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_RETRY_BASE: Duration = Duration::from_secs(10);

/// Headers nmr writes itself: an entry may not replace the framing, the body's type or the
/// signature a receiver checks.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-type",
    "content-length",
    "transfer-encoding",
    "connection",
];

/// Reads the entries from the config file's `notify` array (or the JSON of `NMR_NOTIFY`).
pub(super) fn parse(v: &toml::Value) -> Result<Vec<Notify>, String> {
    let toml::Value::Array(items) = v else {
        return Err(format!(
            "a {} where [[notify]] tables are expected",
            v.type_str()
        ));
    };
    let mut out: Vec<Notify> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let toml::Value::Table(t) = item else {
            return Err(format!(
                "entry {} is a {}, not a table",
                i + 1,
                item.type_str()
            ));
        };
        let n = entry(t).map_err(|e| format!("entry {}: {e}", i + 1))?;
        if out.iter().any(|o| o.url == n.url) {
            return Err(format!(
                "entry {}: url {:?} is already used by an earlier entry; one entry per URL (events waiting for delivery are kept by URL)",
                i + 1,
                n.url
            ));
        }
        out.push(n);
    }
    Ok(out)
}

fn string<'a>(key: &str, v: &'a toml::Value) -> Result<&'a str, String> {
    v.as_str()
        .ok_or_else(|| format!("{key}: a {} where a string is expected", v.type_str()))
}

fn strings<'a>(key: &str, v: &'a toml::Value) -> Result<Vec<&'a str>, String> {
    let items = v.as_array().ok_or_else(|| {
        format!(
            "{key}: a {} where an array of strings is expected",
            v.type_str()
        )
    })?;
    let list = items
        .iter()
        .map(|i| string(key, i))
        .collect::<Result<Vec<_>, _>>()?;
    if list.is_empty() {
        return Err(format!("{key} is empty; leave it out to mean all"));
    }
    Ok(list)
}

fn entry(t: &toml::Table) -> Result<Notify, String> {
    let url = t.get("url").ok_or("url is missing")?;
    let mut n = Notify {
        url: check_url(string("url", url)?)?,
        events: NotifyEvent::ALL.to_vec(),
        packages: Vec::new(),
        secret: None,
        format: NotifyFormat::Json,
        headers: Vec::new(),
        timeout: DEFAULT_TIMEOUT,
        retry_base: DEFAULT_RETRY_BASE,
    };
    for (k, v) in t {
        match k.as_str() {
            "url" => {}
            "events" => {
                n.events = strings(k, v)?
                    .into_iter()
                    .map(|e| {
                        NotifyEvent::parse(e).ok_or_else(|| {
                            format!(
                                "events: {e:?} is not one of: {}",
                                NotifyEvent::ALL.map(NotifyEvent::name).join(", ")
                            )
                        })
                    })
                    .collect::<Result<_, _>>()?;
            }
            "packages" => {
                n.packages = strings(k, v)?
                    .into_iter()
                    .map(|p| {
                        let bad = p.is_empty() || p.chars().any(|c| c.is_whitespace() || c.is_control());
                        if bad {
                            Err(format!("packages: {p:?} is not a package name pattern such as \"@acme/*\""))
                        } else {
                            Ok(p.to_string())
                        }
                    })
                    .collect::<Result<_, _>>()?;
            }
            "secret" => {
                let s = string(k, v)?;
                n.secret = (!s.is_empty()).then(|| Secret(s.to_string()));
            }
            "format" => {
                let f = string(k, v)?;
                n.format = NotifyFormat::ALL
                    .into_iter()
                    .find(|x| x.name() == f)
                    .ok_or_else(|| format!("format: {f:?} is not one of: json, slack, teams"))?;
            }
            "headers" => {
                let h = v.as_table().ok_or_else(|| {
                    format!(
                        "headers: a {} where a table such as {{ Authorization = \"Bearer ...\" }} is expected",
                        v.type_str()
                    )
                })?;
                for (name, value) in h {
                    let value = string(&format!("headers.{name}"), value)?;
                    check_header(name, value)?;
                    n.headers.push((name.clone(), Secret(value.to_string())));
                }
            }
            "timeout" => n.timeout = duration(k, v, 100, 300_000)?,
            "retry_base" => n.retry_base = duration(k, v, 1, 3_600_000)?,
            other => {
                return Err(format!(
                    "unknown key `{other}` (known: url, events, packages, secret, format, headers, timeout, retry_base)"
                ))
            }
        }
    }
    Ok(n)
}

/// Any http(s) URL without characters that could break the request line.
fn check_url(s: &str) -> Result<String, String> {
    let rest = s
        .strip_prefix("http://")
        .or_else(|| s.strip_prefix("https://"))
        .ok_or_else(|| format!("url {s:?} must start with http:// or https://"))?;
    if rest.is_empty()
        || rest.starts_with('/')
        || s.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(format!("url {s:?} is not a valid URL"));
    }
    Ok(s.to_string())
}

fn check_header(name: &str, value: &str) -> Result<(), String> {
    let token = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c));
    if !token {
        return Err(format!("headers: {name:?} is not a header name"));
    }
    let lower = name.to_ascii_lowercase();
    if RESERVED_HEADERS.contains(&lower.as_str()) || lower.starts_with("x-nmr-") {
        return Err(format!(
            "headers: {name} is set by nmr itself and cannot be configured"
        ));
    }
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return Err(format!(
            "headers.{name}: control characters are not allowed"
        ));
    }
    Ok(())
}

/// Whole seconds as a number, or text with a unit: `500ms`, `10s`, `2m`. Bounds in ms.
fn duration(key: &str, v: &toml::Value, min: u64, max: u64) -> Result<Duration, String> {
    let ms = match v {
        toml::Value::Integer(n) => u64::try_from(*n).ok().and_then(|n| n.checked_mul(1000)),
        toml::Value::String(s) => parse_millis(s),
        other => {
            return Err(format!(
                "{key}: a {} where a duration such as \"10s\" is expected",
                other.type_str()
            ))
        }
    };
    match ms {
        Some(ms) if (min..=max).contains(&ms) => Ok(Duration::from_millis(ms)),
        _ => Err(format!(
            "{key}: {} is not a duration from {min} ms to {} s, such as \"500ms\", \"10s\" or \"2m\"",
            match v {
                toml::Value::String(s) => quoted(s),
                other => format!("{other:?}"),
            },
            max / 1000
        )),
    }
}

fn parse_millis(s: &str) -> Option<u64> {
    let t = s.trim();
    let end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let n: u64 = t[..end].parse().ok()?;
    let unit = match t[end..].trim() {
        "ms" => 1,
        "" | "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return None,
    };
    n.checked_mul(unit)
}

fn render_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms % 1000 == 0 {
        format!("\"{}s\"", ms / 1000)
    } else {
        format!("\"{ms}ms\"")
    }
}

fn quoted(s: &str) -> String {
    // JSON string escapes are valid TOML basic-string escapes.
    serde_json::to_string(s).expect("strings serialise")
}

/// A receiver's URL as it may be shown (`nmr config`, the log, `nmr notify log`): its origin and
/// first path segment, the rest masked. Chat tools' incoming-webhook URLs are credentials in
/// their path, so anyone who read them could post as nmr.
pub fn shown_url(url: &str) -> String {
    let bare = url.split(['?', '#']).next().unwrap_or("");
    let Some((scheme, rest)) = bare.split_once("://") else {
        return "********".into();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let mut segments = path.split('/').filter(|s| !s.is_empty());
    match (segments.next(), segments.next()) {
        (None, _) => format!("{scheme}://{host}/"),
        (Some(_), None) => format!("{scheme}://{host}/********"),
        (Some(first), Some(_)) => format!("{scheme}://{host}/{first}/********"),
    }
}

/// The entries as `[[notify]]` tables, with the URL's path, the secret and the header values
/// masked; `source` goes in a comment.
pub(super) fn render(entries: &[Notify], source: &str) -> String {
    if entries.is_empty() {
        return format!("\n# [[notify]]: none  # {source}\n");
    }
    let mut out = String::new();
    for n in entries {
        let list = |items: Vec<String>| items.join(", ");
        out.push_str(&format!("\n[[notify]]  # {source}\n"));
        out.push_str(&format!("url = {}\n", quoted(&shown_url(&n.url))));
        out.push_str(&format!(
            "events = [{}]\n",
            list(n.events.iter().map(|e| quoted(e.name())).collect())
        ));
        if !n.packages.is_empty() {
            out.push_str(&format!(
                "packages = [{}]\n",
                list(n.packages.iter().map(|p| quoted(p)).collect())
            ));
        }
        if n.secret.is_some() {
            out.push_str("secret = \"********\"\n");
        }
        out.push_str(&format!("format = {}\n", quoted(n.format.name())));
        if !n.headers.is_empty() {
            out.push_str(&format!(
                "headers = {{ {} }}\n",
                list(
                    n.headers
                        .iter()
                        .map(|(k, _)| format!("{} = \"********\"", quoted(k)))
                        .collect()
                )
            ));
        }
        out.push_str(&format!("timeout = {}\n", render_duration(n.timeout)));
        out.push_str(&format!("retry_base = {}\n", render_duration(n.retry_base)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::testing::{inputs, inputs_with_env, tempdir};
    use super::super::{load, render as render_config};
    use super::*;

    const EXAMPLE: &str = r#"
[server]
port = 1234

[[notify]]
url = "https://hooks.example.test/npm"
events = ["publish", "unpublish", "dist-tag", "deprecate", "owner"]
packages = ["@acme/*", "left-pad"]
secret = "hunter2"
format = "json"
headers = { Authorization = "Bearer tok3n" }

[[notify]]
url = "http://127.0.0.1:9/chat"
format = "slack"
retry_base = "250ms"
"#;

    #[test]
    fn the_readme_shape_reads_with_defaults_and_renders_masked_and_back() {
        let d = tempdir("notify");
        std::fs::write(d.join("nmr.toml"), EXAMPLE).unwrap();
        let e = load(&inputs(&d)).unwrap();
        let n = &e.config.notify;
        assert_eq!(n.len(), 2);
        assert_eq!(n[0].packages, ["@acme/*", "left-pad"]);
        assert_eq!(n[0].secret, Some(Secret("hunter2".into())));
        assert_eq!(n[0].headers[0].0, "Authorization");
        assert_eq!(n[1].events, NotifyEvent::ALL);
        assert_eq!(n[1].format, NotifyFormat::Slack);
        assert_eq!(n[1].retry_base, Duration::from_millis(250));
        assert_eq!(n[1].timeout, DEFAULT_TIMEOUT);

        let text = render_config(&e.entries, e.file.as_deref());
        assert!(
            !text.contains("hunter2")
                && !text.contains("tok3n")
                && !format!("{n:?}").contains("hunter2"),
            "{text}"
        );
        assert!(text.contains("Authorization\" = \"********\""), "{text}");
        std::fs::write(d.join("nmr.toml"), &text).unwrap();
        let again = load(&inputs(&d)).unwrap().config.notify;
        assert_eq!(again.len(), 2);
        assert!(
            !text.contains("/chat"),
            "a webhook URL's path is its credential: {text}"
        );
        assert_eq!(again[1].url, "http://127.0.0.1:9/********");
        let unmasked = Notify {
            url: n[1].url.clone(),
            ..again[1].clone()
        };
        assert_eq!(unmasked, n[1]);
        assert_eq!(again[0].packages, n[0].packages);
        assert_eq!(again[0].secret, Some(Secret("********".into())));
    }

    #[test]
    fn shown_urls_keep_the_origin_and_mask_the_path() {
        assert_eq!(
            shown_url("https://hooks.example.test/services/T0/B0/XYZ?x=1"),
            "https://hooks.example.test/services/********"
        );
        assert_eq!(
            shown_url("http://u:p@h.test:8080/npm"),
            "http://h.test:8080/********"
        );
        assert_eq!(shown_url("https://h.test"), "https://h.test/");
        assert_eq!(shown_url("not a url"), "********");
    }

    #[test]
    fn the_environment_takes_the_same_entries_as_json() {
        let d = tempdir("notify-env");
        let e = load(&inputs_with_env(
            &d,
            &[(
                "NMR_NOTIFY",
                r#"[{"url": "http://127.0.0.1:9/x", "events": ["publish"], "timeout": 2}]"#,
            )],
        ))
        .unwrap();
        let n = &e.config.notify[0];
        assert_eq!(
            (n.events.as_slice(), n.timeout),
            (&[NotifyEvent::Publish][..], Duration::from_secs(2))
        );
    }

    #[test]
    fn bad_entries_stop_start_up_naming_entry_and_key() {
        let d = tempdir("notify-bad");
        for (body, expect) in [
            ("[[notify]]\nevents = [\"publish\"]\n", "url is missing"),
            ("[[notify]]\nurl = \"ftp://x\"\n", "http://"),
            (
                "[[notify]]\nurl = \"http://x\"\nevents = [\"push\"]\n",
                "\"push\"",
            ),
            (
                "[[notify]]\nurl = \"http://x\"\nevents = []\n",
                "events is empty",
            ),
            (
                "[[notify]]\nurl = \"http://x\"\nformat = \"discord\"\n",
                "format",
            ),
            (
                "[[notify]]\nurl = \"http://x\"\nheaders = { Content-Type = \"text/plain\" }\n",
                "set by nmr",
            ),
            (
                "[[notify]]\nurl = \"http://x\"\nheaders = { X-Nmr-Event = \"x\" }\n",
                "set by nmr",
            ),
            (
                "[[notify]]\nurl = \"http://x\"\nretries = 3\n",
                "unknown key `retries`",
            ),
            (
                "[[notify]]\nurl = \"http://x\"\ntimeout = \"0s\"\n",
                "timeout",
            ),
            (
                "[[notify]]\nurl = \"http://x\"\n[[notify]]\nurl = \"http://x\"\n",
                "entry 2: url",
            ),
            ("notify = \"http://x\"\n", "[[notify]] tables"),
        ] {
            std::fs::write(d.join("nmr.toml"), body).unwrap();
            let err = load(&inputs(&d)).unwrap_err();
            assert!(
                err.contains("`notify`") && err.contains(expect),
                "{body}: {err}"
            );
        }
    }
}

//! `nmr import --from-registry URL [--token T] --scope @acme [--package NAME...]`: copies
//! packages from any running npm registry through the npm protocol. The scope is listed with
//! the search endpoint (`/-/v1/search`, paged), the names given with `--package` are added,
//! then each full packument (`Accept: application/json`) and every tarball are fetched,
//! verified against the packument's digests and stored as local packages with their publish
//! times.
//!
//! The token goes to the registry's own origin (scheme, host and port of URL) only: a tarball
//! URL on another origin (a CDN, a storage bucket) is fetched without it, and redirects are
//! followed without it (ureq drops `Authorization` on every redirect).

use super::{describe, import_package, Progress, Report};
use crate::app::App;
use crate::cmd::error::{Error, Result};
use crate::store::db::Connection;
use crate::uplink::{loggable, origin};
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::Write;
use std::time::Duration;

/// Search page size: the most npm's search endpoint gives per page.
const PAGE: usize = 250;

/// Pages of a search read at most, against a registry whose paging never ends.
const MAX_PAGES: usize = 400;

/// Largest packument read.
const MAX_DOC: u64 = 256 << 20;

/// How long the registry may stay silent (connect, or between bytes).
const TIMEOUT: Duration = Duration::from_secs(60);

/// What `nmr import --from-registry` was asked to do.
pub struct Options {
    pub url: String,
    pub token: Option<String>,
    /// `@acme`.
    pub scope: Option<String>,
    pub packages: Vec<String>,
}

/// Checks the options: an http(s) URL, a scope as `@name` (a bare `acme` is taken as
/// `@acme`), and something to copy.
pub fn check(mut o: Options) -> Result<Options> {
    let url = o.url.trim_end_matches('/').to_string();
    if !(url.starts_with("http://") || url.starts_with("https://")) || origin(&url).is_none() {
        return Err(Error::Usage(format!(
            "--from-registry {:?}: expected an http:// or https:// URL",
            o.url
        )));
    }
    o.url = url;
    if let Some(s) = &o.scope {
        let s = if s.starts_with('@') {
            s.clone()
        } else {
            format!("@{s}")
        };
        crate::name::validate(&format!("{s}/x"))
            .map_err(|_| Error::Usage(format!("--scope {s:?} is not a package scope")))?;
        o.scope = Some(s);
    }
    if o.scope.is_none() && o.packages.is_empty() {
        return Err(Error::Usage(
            "nmr import --from-registry needs --scope @name or --package NAME".into(),
        ));
    }
    Ok(o)
}

/// The registry as seen from here.
struct Remote {
    agent: ureq::Agent,
    base: String,
    token: Option<String>,
}

impl Remote {
    fn new(o: &Options) -> Remote {
        let t = Some(TIMEOUT);
        let agent = ureq::config::Config::builder()
            .http_status_as_error(false)
            .timeout_resolve(t)
            .timeout_connect(t)
            .timeout_per_read(t)
            .user_agent(concat!("nmr/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        Remote {
            agent,
            base: o.url.clone(),
            token: o.token.clone(),
        }
    }

    /// `GET url`: the status and at most `limit` bytes of body. The token goes along only to
    /// the registry's own origin.
    fn get(
        &self,
        url: &str,
        accept: &str,
        limit: u64,
    ) -> std::result::Result<(u16, Vec<u8>), String> {
        let mut rb = self.agent.get(url).header("Accept", accept);
        if let Some(t) = &self.token {
            if origin(url).is_some() && origin(url) == origin(&self.base) {
                rb = rb.header("Authorization", format!("Bearer {t}"));
            }
        }
        // Neither the URL's query (a signed one may be a credential) nor ureq's texts, which
        // quote a bad URL whole, go into the report.
        let shown = || loggable(url);
        let mut resp = rb
            .call()
            .map_err(|e| format!("{}: {}", shown(), crate::uplink::describe(&e)))?;
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(limit)
            .read_to_vec()
            .map_err(|e| format!("{}: {}", shown(), crate::uplink::describe(&e)))?;
        Ok((status, body))
    }

    fn json(&self, url: &str) -> std::result::Result<Value, String> {
        match self.get(url, "application/json", MAX_DOC)? {
            (200, body) => serde_json::from_slice(&body)
                .map_err(|e| format!("{url} answered something that is not JSON: {e}")),
            (401 | 403, _) if self.token.is_none() => Err(format!(
                "{url} needs credentials: give a token with --token"
            )),
            (401 | 403, _) => Err(format!("{url} refused the token")),
            (404, _) => Err(format!("{url} is not there (404)")),
            (s, _) => Err(format!("{url} answered {s}")),
        }
    }

    /// The names one search query finds in the scope, page by page.
    fn search(&self, text: &str, scope: &str) -> std::result::Result<BTreeSet<String>, String> {
        let mut names = BTreeSet::new();
        // Every name the search gave, in the scope or not: how paging is known to progress.
        let mut all = BTreeSet::new();
        let q: String =
            percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        for page in 0..MAX_PAGES {
            let url = format!(
                "{}/-/v1/search?text={q}&size={PAGE}&from={}",
                self.base,
                page * PAGE
            );
            let doc = self.json(&url)?;
            let objects = doc
                .get("objects")
                .and_then(Value::as_array)
                .ok_or_else(|| format!("{url} gave no search results (no \"objects\")"))?;
            let before = all.len();
            for n in objects
                .iter()
                .filter_map(|o| o.get("package")?.get("name")?.as_str())
            {
                all.insert(n.to_string());
                if n.strip_prefix(scope).is_some_and(|r| r.starts_with('/')) {
                    names.insert(n.to_string());
                }
            }
            // A short page is the last; so is one that brings nothing new, from a registry
            // that ignores `from` and answers the first page again.
            if objects.len() < PAGE || all.len() == before {
                break;
            }
        }
        Ok(names)
    }
}

/// The scope's names by search: npm's `scope:` qualifier first, then the scope as plain text
/// for registries (Verdaccio) that match names but know no qualifiers.
fn list_scope(remote: &Remote, scope: &str, report: &mut Report) -> BTreeSet<String> {
    let bare = scope.trim_start_matches('@');
    let mut names = BTreeSet::new();
    for text in [format!("scope:{bare}"), scope.to_string()] {
        match remote.search(&text, scope) {
            Ok(found) => names.extend(found),
            Err(why) => report.skipped.push((
                format!("search for {text}"),
                format!("{why}; only the names given with --package are copied"),
            )),
        }
        if !names.is_empty() {
            break;
        }
    }
    names
}

/// Runs the copy.
pub fn run(
    app: &App,
    db: &mut Connection,
    opts: &Options,
    progress: &Progress,
    out: &mut dyn Write,
) -> Result<Report> {
    let remote = Remote::new(opts);
    let mut report = Report::default();
    let mut names: BTreeSet<String> = opts.packages.iter().cloned().collect();
    if let Some(scope) = &opts.scope {
        let found = list_scope(&remote, scope, &mut report);
        let _ = writeln!(
            out,
            "{}: search found {} packages in {scope}",
            remote.base,
            found.len()
        );
        names.extend(found);
    }
    if names.is_empty() {
        return Err(Error::Failed(format!(
            "found nothing to copy from {}: name the packages with --package",
            remote.base
        )));
    }
    let total = names.len();
    for (i, name) in names.iter().enumerate() {
        progress.show(i + 1, total, name);
        let url = format!("{}/{}", remote.base, crate::uplink::encode(name));
        let doc = match remote.json(&url) {
            Ok(d) => d,
            Err(why) => {
                report.problems.push((name.clone(), why));
                continue;
            }
        };
        let where_ = |_: &str, m: &serde_json::Map<String, Value>| {
            m.get("dist")
                .and_then(|d| d.get("tarball"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let pkg = match describe(name, &doc, &where_, &mut report.problems) {
            Ok(p) => p,
            Err(why) => {
                report.problems.push((name.clone(), why));
                continue;
            }
        };
        let limit = app.config.settings.max_body_size.saturating_add(1);
        let mut fetch = |o: &super::Offered| {
            if !(o.tarball.starts_with("http://") || o.tarball.starts_with("https://")) {
                return Err(format!("its dist.tarball {:?} is not a URL", o.tarball));
            }
            match remote.get(&o.tarball, "application/octet-stream", limit)? {
                (200, body) => Ok(body),
                (s, _) => Err(format!("{} answered {s}", loggable(&o.tarball))),
            }
        };
        import_package(app, db, pkg, &mut fetch, &mut report, out)?;
    }
    progress.clear();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(url: &str, scope: Option<&str>) -> Options {
        Options {
            url: url.into(),
            token: None,
            scope: scope.map(str::to_string),
            packages: vec![],
        }
    }

    #[test]
    fn options_are_checked_and_the_scope_normalised() {
        let o = check(opts("http://127.0.0.1:4873/", Some("acme"))).unwrap();
        assert_eq!(
            (o.url.as_str(), o.scope.as_deref()),
            ("http://127.0.0.1:4873", Some("@acme"))
        );
        assert!(check(opts("ftp://x.example.test", Some("@acme"))).is_err());
        assert!(check(opts("http://x.example.test", None)).is_err());
        assert!(check(opts("http://x.example.test", Some("@A B"))).is_err());
    }
}

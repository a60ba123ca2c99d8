//! The package document ("packument"): building the full and abbreviated forms when a package
//! changes, storing them as templates, and serving them from cached bytes with an ETag and gzip.
//!
//! Tarball URLs depend on the host a client used, so templates hold a per-database marker where
//! the base URL goes; a read splices in the base URL once per (package, revision, base) and
//! caches the result, so serving a 500-version document does no JSON work. Packuments cached from
//! the upstream registry are templates of the same kind and are served by the same path.

pub mod cache;

use crate::digest::hex;
use crate::error::{Error, Result};
use crate::name;
use crate::store::meta;
use serde_json::{json, Map, Value};
use sha1::{Digest, Sha1};
use std::collections::HashMap;

/// Fields of a version kept in the abbreviated document, and nothing else: those npm's
/// abbreviated format defines (name, version, the five dependency maps, bin, directories, dist,
/// engines, _hasShrinkwrap), then those npm's installer reads from it and npm's registry sends
/// (deprecated, hasInstallScript, peerDependenciesMeta, acceptDependencies, os, cpu, libc,
/// funding). `bundledDependencies`, the other spelling, is sent as `bundleDependencies`.
pub const ABBREVIATED_FIELDS: &[&str] = &[
    "name",
    "version",
    "deprecated",
    "dependencies",
    "optionalDependencies",
    "devDependencies",
    "peerDependencies",
    "peerDependenciesMeta",
    "bundleDependencies",
    "acceptDependencies",
    "bin",
    "directories",
    "engines",
    "os",
    "cpu",
    "libc",
    "funding",
    "_hasShrinkwrap",
    "hasInstallScript",
    "dist",
];

/// Top-level fields of the abbreviated document: exactly those npm's format defines. No `_rev`
/// (writes read it from the full document) and no `time` (clients that need it, such as pnpm's
/// time-based resolution, ask for the full document).
pub const ABBREVIATED_TOP: &[&str] = &["name", "modified", "dist-tags", "versions"];

/// Top-level fields of the full document copied from the `latest` version.
const LATEST_FIELDS: &[&str] = &[
    "description",
    "homepage",
    "keywords",
    "repository",
    "author",
    "bugs",
    "license",
    "contributors",
];

/// Orders version strings by semver precedence; anything unparsable sorts first by text.
pub fn sort_versions(versions: &mut [String]) {
    versions.sort_by(
        |a, b| match (semver::Version::parse(a), semver::Version::parse(b)) {
            (Ok(x), Ok(y)) => x.cmp(&y),
            (Ok(_), Err(_)) => std::cmp::Ordering::Greater,
            (Err(_), Ok(_)) => std::cmp::Ordering::Less,
            _ => a.cmp(b),
        },
    );
}

/// The version `latest` should point at when none is set: the highest release, else the
/// highest prerelease.
pub fn default_latest(versions: &[String]) -> Option<String> {
    let mut sorted = versions.to_vec();
    sort_versions(&mut sorted);
    sorted
        .iter()
        .rev()
        .find(|v| semver::Version::parse(v).is_ok_and(|s| s.pre.is_empty()))
        .or(sorted.last())
        .cloned()
}

/// Points `latest` at [`default_latest`] when a package has no `latest` tag (its first publish
/// or import did not name one).
pub fn ensure_latest(tx: &crate::store::db::Transaction, id: i64) -> Result<()> {
    if meta::tags(tx, id)?.iter().any(|(t, _)| t == "latest") {
        return Ok(());
    }
    let all: Vec<String> = meta::versions(tx, id)?
        .into_iter()
        .map(|v| v.version)
        .collect();
    match default_latest(&all) {
        Some(l) => Ok(meta::set_tag(tx, id, "latest", &l)?),
        None => Ok(()),
    }
}

/// The `_rev` clients echo back on writes.
pub fn rev_string(name: &str, rev: i64, modified: &str) -> String {
    let h = Sha1::digest(format!("{name}\n{rev}\n{modified}").as_bytes());
    format!("{rev}-{}", &hex(&h)[..16])
}

/// One version's document with `dist` completed from the stored file record. `base` is what
/// precedes the tarball path: the real base URL, or the template marker.
pub fn version_doc(
    pkg: &str,
    v: &meta::Version,
    tgz: Option<&meta::File>,
    base: &str,
) -> Result<Value> {
    let mut doc: Map<String, Value> = match serde_json::from_str(&v.manifest) {
        Ok(Value::Object(m)) => m,
        _ => {
            return Err(Error::Internal(format!(
                "stored manifest of {pkg}@{} is not a JSON object",
                v.version
            )))
        }
    };
    doc.entry("_id")
        .or_insert_with(|| json!(format!("{pkg}@{}", v.version)));
    match &v.deprecated {
        Some(msg) => doc.insert("deprecated".into(), json!(msg)),
        None => doc.remove("deprecated"),
    };
    let mut dist = match doc.remove("dist") {
        Some(Value::Object(d)) => d,
        _ => Map::new(),
    };
    if let Some(f) = tgz {
        dist.insert(
            "tarball".into(),
            json!(format!("{base}/{pkg}/-/{}", f.filename)),
        );
        dist.insert("shasum".into(), json!(f.sha1));
        dist.insert("integrity".into(), json!(f.integrity));
    }
    doc.insert("dist".into(), Value::Object(dist));
    Ok(Value::Object(doc))
}

/// The abbreviated form of one version's document: only what an installer needs.
pub fn abbreviate_version(doc: &Map<String, Value>) -> Map<String, Value> {
    let mut short: Map<String, Value> = ABBREVIATED_FIELDS
        .iter()
        .filter_map(|f| doc.get(*f).map(|x| (f.to_string(), x.clone())))
        .collect();
    if let Some(b) = doc.get("bundledDependencies") {
        short
            .entry("bundleDependencies")
            .or_insert_with(|| b.clone());
    }
    if has_install_script(doc) {
        short.insert("hasInstallScript".into(), json!(true));
    }
    short
}

fn has_install_script(doc: &Map<String, Value>) -> bool {
    doc.get("hasInstallScript")
        .and_then(Value::as_bool)
        .unwrap_or(false)
        || doc
            .get("scripts")
            .and_then(Value::as_object)
            .is_some_and(|s| {
                ["preinstall", "install", "postinstall"]
                    .iter()
                    .any(|k| s.contains_key(*k))
            })
}

/// Records a change to a package inside its write transaction: a new revision and
/// modification time, then both documents rebuilt. Every write ends with this, so the two can
/// never drift apart.
pub fn changed(
    tx: &crate::store::db::Transaction,
    id: i64,
    name: &str,
    marker: &str,
    now: &str,
) -> Result<()> {
    meta::touch(tx, id, now)?;
    rebuild(tx, name, marker)
}

/// What both documents and the search row of a package are built from.
struct Parts {
    pkg: meta::Package,
    /// In semver order.
    versions: Vec<meta::Version>,
    files: Vec<meta::File>,
    tags: Map<String, Value>,
    latest: Option<String>,
}

impl Parts {
    fn load(tx: &crate::store::db::Transaction, name: &str) -> Result<Parts> {
        let pkg = meta::package(tx, name)?
            .ok_or_else(|| Error::Internal(format!("rebuild of missing package {name}")))?;
        let mut versions = meta::versions(tx, pkg.id)?;
        let mut order: Vec<String> = versions.iter().map(|v| v.version.clone()).collect();
        sort_versions(&mut order);
        let rank: HashMap<&str, usize> = order
            .iter()
            .enumerate()
            .map(|(i, v)| (v.as_str(), i))
            .collect();
        versions.sort_by_key(|v| rank[v.version.as_str()]);
        let files = meta::files(tx, pkg.id)?;
        let tags: Map<String, Value> = meta::tags(tx, pkg.id)?
            .into_iter()
            .map(|(t, v)| (t, json!(v)))
            .collect();
        let latest = tags
            .get("latest")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| default_latest(&order));
        Ok(Parts {
            pkg,
            versions,
            files,
            tags,
            latest,
        })
    }

    /// The stored `.tgz` of a version.
    fn tgz(&self, version: &str) -> Option<&meta::File> {
        self.files
            .iter()
            .find(|f| f.version == version && f.filename.ends_with(".tgz"))
    }
}

/// Writes a package's search row again from its stored rows, leaving its documents as they
/// are: `nmr db copy` moves the documents byte for byte, but each engine keeps its own index.
pub fn reindex(tx: &crate::store::db::Transaction, name: &str) -> Result<()> {
    let parts = Parts::load(tx, name)?;
    // The same map as rebuild's, so a version with an odd name finds the same date.
    let mut time = Map::new();
    time.insert("created".into(), json!(parts.pkg.created));
    time.insert("modified".into(), json!(parts.pkg.modified));
    let mut latest_doc = None;
    for v in &parts.versions {
        time.insert(v.version.clone(), json!(v.published));
        if parts.latest.as_deref() == Some(v.version.as_str()) {
            // The tarball URL is not indexed, so no base is needed.
            if let Value::Object(m) = version_doc(name, v, parts.tgz(&v.version), "")? {
                latest_doc = Some(m);
            }
        }
    }
    index(
        tx,
        &parts.pkg,
        latest_doc.as_ref(),
        parts.latest.as_deref(),
        &time,
    )
}

/// Rebuilds and stores both templates of a package.
pub fn rebuild(tx: &crate::store::db::Transaction, name: &str, marker: &str) -> Result<()> {
    let parts = Parts::load(tx, name)?;
    let base = format!("\u{0}{marker}");
    let Parts {
        pkg,
        versions,
        tags,
        latest,
        ..
    } = &parts;
    let tgz = |ver: &str| parts.tgz(ver);

    let mut full_versions = Map::new();
    let mut abbrev_versions = Map::new();
    let mut time = Map::new();
    time.insert("created".into(), json!(pkg.created));
    time.insert("modified".into(), json!(pkg.modified));
    let mut latest_doc = None;
    let mut readme = None;
    for v in versions {
        let doc = version_doc(name, v, tgz(&v.version), &base)?;
        let Value::Object(ref m) = doc else {
            unreachable!("version_doc returns an object")
        };
        abbrev_versions.insert(v.version.clone(), Value::Object(abbreviate_version(m)));
        time.insert(v.version.clone(), json!(v.published));
        if latest.as_deref() == Some(v.version.as_str()) {
            latest_doc = Some(m.clone());
            readme = v.readme.clone();
        }
        full_versions.insert(v.version.clone(), doc);
    }

    let mut full = Map::new();
    full.insert("_id".into(), json!(name));
    full.insert(
        "_rev".into(),
        json!(rev_string(name, pkg.rev, &pkg.modified)),
    );
    full.insert("name".into(), json!(name));
    if let Some(l) = &latest_doc {
        for f in LATEST_FIELDS {
            if let Some(x) = l.get(*f) {
                full.insert(f.to_string(), x.clone());
            }
        }
    }
    full.insert("dist-tags".into(), Value::Object(tags.clone()));
    full.insert("versions".into(), Value::Object(full_versions));
    full.insert("time".into(), Value::Object(time.clone()));
    full.insert(
        "maintainers".into(),
        serde_json::from_str(&pkg.maintainers).unwrap_or(json!([])),
    );
    full.insert(
        "users".into(),
        serde_json::from_str(&pkg.users).unwrap_or(json!({})),
    );
    if let Some(r) = readme {
        full.insert("readme".into(), json!(r));
        if let Some(f) = latest_doc.as_ref().and_then(|l| l.get("readmeFilename")) {
            full.insert("readmeFilename".into(), f.clone());
        }
    }

    index(tx, pkg, latest_doc.as_ref(), latest.as_deref(), &time)?;

    let abbrev = json!({
        "name": name,
        "modified": pkg.modified,
        "dist-tags": tags,
        "versions": abbrev_versions,
    });
    let full =
        serde_json::to_vec(&Value::Object(full)).map_err(|e| Error::Internal(e.to_string()))?;
    let abbrev = serde_json::to_vec(&abbrev).map_err(|e| Error::Internal(e.to_string()))?;
    Ok(meta::store_docs(tx, pkg.id, &full, &abbrev)?)
}

/// A person field (`"Name <mail> (url)"` or `{name, email}`) as `(name, email)`.
fn person(v: &Value) -> (String, String) {
    match v {
        Value::String(s) => {
            let name = s.split(['<', '(']).next().unwrap_or("").trim().to_string();
            let email = s
                .split_once('<')
                .and_then(|(_, r)| r.split_once('>'))
                .map_or("", |(e, _)| e.trim())
                .to_string();
            (name, email)
        }
        Value::Object(o) => {
            let get = |k: &str| o.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            (get("name"), get("email"))
        }
        _ => (String::new(), String::new()),
    }
}

fn url_of(v: Option<&Value>) -> Option<Value> {
    match v? {
        Value::String(s) => Some(json!(s)),
        Value::Object(o) => o.get("url").cloned(),
        _ => None,
    }
}

/// Updates the search index row and the summary a search hit returns.
fn index(
    tx: &crate::store::db::Transaction,
    pkg: &meta::Package,
    latest: Option<&Map<String, Value>>,
    version: Option<&str>,
    time: &Map<String, Value>,
) -> Result<()> {
    let empty = Map::new();
    let l = latest.unwrap_or(&empty);
    let description = l.get("description").and_then(Value::as_str).unwrap_or("");
    let keywords: Vec<String> = match l.get("keywords") {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        Some(Value::String(s)) => s
            .split([',', ' '])
            .filter(|k| !k.is_empty())
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    };
    let author = l.get("author").map(person).unwrap_or_default();
    let maintainers: Vec<Value> = serde_json::from_str::<Vec<Value>>(&pkg.maintainers)
        .unwrap_or_default()
        .iter()
        .map(person)
        .filter(|(n, _)| !n.is_empty())
        .map(|(username, email)| json!({"username": username, "email": email}))
        .collect();
    // Clients require a publisher name (pnpm fails without one): the npm user recorded with the
    // version, else the first maintainer, else an honest placeholder.
    let publisher = l
        .get("_npmUser")
        .map(person)
        .filter(|(n, _)| !n.is_empty())
        .map(|(username, email)| json!({"username": username, "email": email}))
        .or_else(|| maintainers.first().cloned())
        .unwrap_or_else(|| json!({"username": "anonymous", "email": ""}));
    let mut links = Map::new();
    for (k, field) in [
        ("homepage", "homepage"),
        ("repository", "repository"),
        ("bugs", "bugs"),
    ] {
        if let Some(u) = url_of(l.get(field)) {
            links.insert(k.into(), u);
        }
    }
    let summary = json!({
        "name": pkg.name,
        "scope": name::scope(&pkg.name).unwrap_or("unscoped"),
        "version": version,
        "description": description,
        "keywords": keywords,
        "date": version.and_then(|v| time.get(v)).unwrap_or(&json!(pkg.modified)),
        "links": links,
        "author": {"name": author.0},
        "publisher": publisher,
        "maintainers": maintainers,
    });
    let maintainer_names: Vec<&str> = maintainers
        .iter()
        .filter_map(|m| m["username"].as_str())
        .collect();
    Ok(meta::index_package(
        tx,
        pkg,
        &meta::SearchDoc {
            description,
            keywords: &keywords.join(" "),
            author: &format!("{} {}", author.0, author.1),
            maintainers: &maintainer_names.join(" "),
            summary: &summary.to_string(),
        },
    )?)
}

pub use cache::{Cache, Rendered};
pub use meta::Origin;

/// The 404 for a package this registry does not hold.
pub fn not_found(name: &str) -> Error {
    Error::NotFound(format!(
        "package {name} is not in this registry; check the name, or publish it first"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_by_semver_precedence() {
        let mut v: Vec<String> = ["1.10.0", "1.2.0", "1.2.0-beta.2", "1.2.0-beta.10", "0.9.0"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        sort_versions(&mut v);
        assert_eq!(
            v,
            ["0.9.0", "1.2.0-beta.2", "1.2.0-beta.10", "1.2.0", "1.10.0"]
        );
        assert_eq!(default_latest(&v).unwrap(), "1.10.0");
        assert_eq!(
            default_latest(&["2.0.0-rc.1".to_string()]).unwrap(),
            "2.0.0-rc.1"
        );
    }
}

//! A package's page and one version's page: the README, the version's facts (sizes, license,
//! links), install commands for npm, pnpm and yarn, dist-tags, maintainers, dependencies (linked
//! when held here), every version with its date and deprecation, and a banner for deprecation.

use super::format::{ago, bytes, count, date};
use super::html::{url_part, Html, Markup};
use super::layout::render;
use super::{markdown, package_path, pages, readme, root, search_path, version_path};
use crate::app::Ctx;
use crate::auth::can_read;
use crate::error::{Error, Result};
use crate::http::{Request, Response};
use crate::name;
use crate::packument::not_found;
use crate::store::meta::{self, VersionSummary};
use serde_json::{Map, Value};

/// Versions listed before the rest are folded away.
const VERSIONS_SHOWN: usize = 25;

/// Dependency groups of a manifest, in the order shown.
const DEPENDENCY_GROUPS: &[(&str, &str)] = &[
    ("dependencies", "Dependencies"),
    ("peerDependencies", "Peer dependencies"),
    ("optionalDependencies", "Optional dependencies"),
    ("devDependencies", "Dev dependencies"),
];

/// `GET /-/web/package/<name>`: the page of the package, showing its `latest` version.
pub fn package(ctx: &mut Ctx, req: &mut Request, name: &str) -> Result<Response> {
    show(ctx, req, name, None)
}

/// `GET /-/web/package/<name>/v/<version-or-tag>`: the page of one version.
pub fn version(ctx: &mut Ctx, req: &mut Request, name: &str, spec: &str) -> Result<Response> {
    show(ctx, req, name, Some(spec))
}

/// One group of dependencies: `dependencies`, `peerDependencies`, ...
struct Group {
    title: &'static str,
    list: Vec<Dependency>,
}

struct Dependency {
    name: String,
    range: String,
    /// Whether this registry holds it, so it gets a link.
    held: bool,
}

/// Everything the page shows, gathered before any HTML is written.
struct View {
    name: String,
    /// Every version, newest first.
    versions: Vec<VersionSummary>,
    tags: Vec<(String, String)>,
    latest: String,
    /// The version shown and whether it was asked for (a version page).
    shown: String,
    pinned: bool,
    manifest: Map<String, Value>,
    published: String,
    deprecated: Option<String>,
    tarball_size: Option<i64>,
    readme: Option<Markup>,
    dependencies: Vec<Group>,
    maintainers: Vec<String>,
    /// The organisation of the package's scope (local auth), and the teams it is granted to
    /// with whether they may publish it.
    org: Option<String>,
    teams: Vec<(String, bool)>,
    /// Where `github:o/r` and `o/r` repository shorthands point.
    github_host: String,
    /// Set when the package comes from the upstream registry rather than from a publish here.
    upstream: Option<Upstream>,
}

/// Where an upstream package's page comes from.
struct Upstream {
    /// The upstream registry's base URL.
    registry: String,
    /// The upstream could not confirm the cached copy (down, or nmr is offline).
    stale: bool,
}

fn show(ctx: &mut Ctx, req: &Request, name: &str, spec: Option<&str>) -> Result<Response> {
    let view = gather(ctx, name, spec)?;
    let base = ctx.base_url(req)?;
    let title = if view.pinned {
        format!("{}@{}", view.name, view.shown)
    } else {
        view.name.clone()
    };
    let root = root(ctx);
    let now = crate::time::now_millis();
    Ok(render(ctx, 200, &title, "", |h| {
        write_page(h, &root, &base, now, &view)
    }))
}

fn gather(ctx: &mut Ctx, name: &str, spec: Option<&str>) -> Result<View> {
    let Some(pkg) = meta::package(ctx.db, name)? else {
        // In proxy mode, a name the upstream holds has a page too: from the cached packument.
        return match crate::uplink::packument_doc(ctx, name)? {
            Some((doc, stale)) => gather_upstream(ctx, name, spec, &doc, stale),
            None => Err(not_found(name)),
        };
    };
    let tags = meta::tags(ctx.db, pkg.id)?;
    let parsed = sorted(meta::version_summaries(ctx.db, pkg.id)?);
    let (latest, shown) = pick(name, &parsed, &tags, spec)?;
    let Some(v) = meta::version(ctx.db, pkg.id, &shown)? else {
        if meta::is_deleted(ctx.db, name, &shown)? {
            return Err(Error::Gone(format!("{name}@{shown} was unpublished")));
        }
        return Err(Error::NotFound(format!(
            "{name} has no version or tag {shown:?}"
        )));
    };
    let manifest = match serde_json::from_str(&v.manifest) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    let file = meta::file(ctx.db, name, &name::tarball_file(name, &shown))?;
    let text = readme::for_version(
        &ctx.app.blobs,
        &ctx.app.web.readmes,
        v.readme.as_deref(),
        file.as_ref().map(|f| f.blob_key.as_str()),
    )?;
    let dependencies = dependencies(ctx, &manifest)?;
    let maintainers = crate::auth::maintainer_names(&pkg.maintainers);
    let org = match ctx.app.config.auth.kind {
        crate::config::AuthType::Local => crate::auth::orgs::org_of(ctx.db, name)?,
        _ => None,
    };
    let teams = match &org {
        Some(_) => meta::package_teams(ctx.db, name)?
            .into_iter()
            .map(|(o, t, w)| (format!("{o}:{t}"), w))
            .collect(),
        None => Vec::new(),
    };
    Ok(View {
        name: pkg.name,
        versions: parsed.into_iter().map(|(_, v)| v).collect(),
        tags,
        latest,
        pinned: spec.is_some(),
        shown,
        manifest,
        published: v.published,
        deprecated: v.deprecated,
        tarball_size: file.map(|f| f.size),
        readme: text.map(|t| markdown::render(&t, super::remote_images(ctx))),
        dependencies,
        maintainers,
        org,
        teams,
        github_host: ctx.app.config.auth.github_host.clone(),
        upstream: None,
    })
}

/// Versions newest first, each with its parsed form (`None` when it is not semver).
type Sorted = Vec<(Option<semver::Version>, VersionSummary)>;

fn sorted(versions: Vec<VersionSummary>) -> Sorted {
    // Each version string is parsed once; sorting compares the parsed forms.
    let mut parsed: Sorted = versions
        .into_iter()
        .map(|v| (semver::Version::parse(&v.version).ok(), v))
        .collect();
    parsed.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| b.1.version.cmp(&a.1.version)));
    parsed
}

/// The `latest` version and the one to show: `spec` (a version or tag), else `latest`.
fn pick(
    name: &str,
    parsed: &Sorted,
    tags: &[(String, String)],
    spec: Option<&str>,
) -> Result<(String, String)> {
    let tagged = |t: &str| {
        tags.iter()
            .find(|(tag, _)| tag == t)
            .map(|(_, v)| v.clone())
    };
    let latest = tagged("latest")
        .or_else(|| {
            parsed
                .iter()
                .find(|(p, _)| p.as_ref().is_some_and(|p| p.pre.is_empty()))
                .or(parsed.first())
                .map(|(_, v)| v.version.clone())
        })
        .ok_or_else(|| not_found(name))?;
    let shown = match spec {
        None => latest.clone(),
        Some(s) => tagged(s).unwrap_or_else(|| s.to_string()),
    };
    Ok((latest, shown))
}

/// The page of a package only the upstream holds, from its cached full packument.
fn gather_upstream(
    ctx: &mut Ctx,
    name: &str,
    spec: Option<&str>,
    doc: &Value,
    stale: bool,
) -> Result<View> {
    let empty = Map::new();
    let all = doc["versions"].as_object().unwrap_or(&empty);
    let text = |v: &Value| v.as_str().map(str::to_string);
    let parsed = sorted(
        all.iter()
            .map(|(version, m)| VersionSummary {
                version: version.clone(),
                published: text(&doc["time"][version]).unwrap_or_default(),
                deprecated: text(&m["deprecated"]).filter(|d| !d.is_empty()),
            })
            .collect(),
    );
    let tags: Vec<(String, String)> = doc["dist-tags"]
        .as_object()
        .unwrap_or(&empty)
        .iter()
        .filter_map(|(t, v)| Some((t.clone(), v.as_str()?.to_string())))
        .collect();
    let (latest, shown) = pick(name, &parsed, &tags, spec)?;
    let Some(Value::Object(manifest)) = all.get(&shown).cloned() else {
        return Err(Error::NotFound(format!(
            "{name} has no version or tag {shown:?}"
        )));
    };
    let summary = parsed
        .iter()
        .find(|(_, v)| v.version == shown)
        .map(|(_, v)| v.clone())
        .expect("every version is summarised");
    // The upstream sends the README of its latest version at the top; a version may carry its own.
    let readme = manifest
        .get("readme")
        .and_then(text)
        .or_else(|| text(&doc["readme"]))
        .filter(|r| !r.trim().is_empty());
    let stored =
        meta::uplink_file(ctx.db, name, &name::tarball_file(name, &shown))?.and_then(|f| f.stored);
    let dependencies = dependencies(ctx, &manifest)?;
    let maintainers = doc["maintainers"]
        .as_array()
        .map(|list| list.iter().filter_map(person).collect())
        .unwrap_or_default();
    Ok(View {
        name: name.to_string(),
        versions: parsed.into_iter().map(|(_, v)| v).collect(),
        tags,
        latest,
        pinned: spec.is_some(),
        shown,
        published: summary.published,
        deprecated: summary.deprecated,
        manifest,
        tarball_size: stored.map(|f| f.size),
        readme: readme.map(|t| markdown::render(&t, super::remote_images(ctx))),
        dependencies,
        maintainers,
        org: None,
        teams: Vec::new(),
        github_host: ctx.app.config.auth.github_host.clone(),
        upstream: Some(Upstream {
            registry: crate::uplink::base(ctx.app).to_string(),
            stale,
        }),
    })
}

/// A version's dependencies by group, each marked if this registry holds it.
fn dependencies(ctx: &mut Ctx, manifest: &Map<String, Value>) -> Result<Vec<Group>> {
    let mut dependencies = Vec::new();
    for (field, title) in DEPENDENCY_GROUPS {
        let Some(deps) = manifest.get(*field).and_then(Value::as_object) else {
            continue;
        };
        let mut list = Vec::with_capacity(deps.len());
        for (dep, range) in deps {
            // A link to a package the reader may not see would tell them it is here.
            let held = meta::package_rev(ctx.db, dep)?.is_some() && can_read(ctx, dep)?;
            let range = range.as_str().unwrap_or("").to_string();
            list.push(Dependency {
                name: dep.clone(),
                range,
                held,
            });
        }
        if !list.is_empty() {
            dependencies.push(Group { title, list });
        }
    }
    Ok(dependencies)
}

/// A web link for a `repository`, `homepage` or `bugs` value: npm's shorthands and git URLs
/// become the https page; anything that is not http(s) in the end is no link.
pub fn web_url(v: &Value, github_host: &str) -> Option<String> {
    let raw = match v {
        Value::String(s) => s.as_str(),
        Value::Object(o) => o.get("url").and_then(Value::as_str)?,
        _ => return None,
    }
    .trim();
    let hosts = [
        ("github:", github_host),
        ("gitlab:", "gitlab.com"),
        ("bitbucket:", "bitbucket.org"),
    ];
    let mut url = if let Some((prefix, host)) = hosts.iter().find(|(p, _)| raw.starts_with(p)) {
        format!("https://{host}/{}", &raw[prefix.len()..])
    } else if !raw.contains(':') && raw.matches('/').count() == 1 && !raw.starts_with('/') {
        format!("https://{github_host}/{raw}")
    } else if let Some(rest) = raw.strip_prefix("git@") {
        let (host, path) = rest.split_once(':')?;
        format!("https://{host}/{path}")
    } else {
        let u = raw.strip_prefix("git+").unwrap_or(raw);
        let u = u
            .strip_prefix("ssh://git@")
            .map_or(u.to_string(), |r| format!("https://{r}"));
        u.strip_prefix("git://")
            .map_or(u.clone(), |r| format!("https://{r}"))
    };
    if url.ends_with(".git") {
        url.truncate(url.len() - 4);
    }
    let lower = url.to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://")).then_some(url)
}

/// The name in a person field (`"Ann <a@e.test>"` or `{name}`).
fn person(v: &Value) -> Option<String> {
    let n = match v {
        Value::String(s) => s.split(['<', '(']).next().unwrap_or("").trim(),
        Value::Object(o) => o.get("name").and_then(Value::as_str).unwrap_or("").trim(),
        _ => "",
    };
    (!n.is_empty()).then(|| n.to_string())
}

fn write_page(h: &mut Html, root: &str, base: &str, now: i64, v: &View) {
    let m = &v.manifest;
    let all_deprecated = v.versions.iter().all(|x| x.deprecated.is_some());
    if let Some(msg) = &v.deprecated {
        h.wrap("div", &[("class", "banner"), ("role", "alert")], |h| {
            let what = if all_deprecated && !v.pinned {
                "This package is deprecated.".to_string()
            } else {
                format!("Version {} is deprecated.", v.shown)
            };
            h.el("strong", &[], &what);
            h.text(" ");
            h.text(msg);
        });
    }
    if let Some(up) = &v.upstream {
        h.wrap("div", &[("class", "note upstream")], |h| {
            h.el("strong", &[], "From the upstream registry.");
            h.text(&format!(
                " This registry serves {} from {} and keeps a copy; it was not published here.",
                v.name, up.registry
            ));
            if up.stale {
                h.text(" The upstream could not be reached, so this is the copy kept here.");
            }
        });
    }
    h.wrap("header", &[("class", "pkg-head")], |h| {
        h.wrap("h1", &[("class", "pkg-name")], |h| {
            match v.name.split_once('/') {
                Some((scope, base)) => {
                    h.el("span", &[("class", "scope")], &format!("{scope}/"));
                    h.text(base);
                }
                None => {
                    h.text(&v.name);
                }
            }
        });
        h.wrap("p", &[("class", "pkg-sub")], |h| {
            h.el("span", &[("class", "version")], &v.shown);
            for (tag, _) in v.tags.iter().filter(|(_, ver)| *ver == v.shown) {
                h.el("span", &[("class", "tag")], tag);
            }
            h.text(" · Published ");
            h.el(
                "time",
                &[("datetime", &v.published), ("title", date(&v.published))],
                &ago(now, &v.published),
            );
            if let Some(l) = m.get("license").and_then(Value::as_str) {
                h.text(" · ");
                h.text(l);
            }
        });
        if v.pinned && v.shown != v.latest {
            h.wrap("p", &[("class", "note")], |h| {
                h.text("This is not the latest version. The latest is ");
                h.el(
                    "a",
                    &[("href", &version_path(root, &v.name, &v.latest))],
                    &v.latest,
                );
                h.text(".");
            });
        }
        if let Some(d) = m.get("description").and_then(Value::as_str) {
            h.el("p", &[("class", "desc")], d);
        }
        if let Some(kw) = m.get("keywords").and_then(Value::as_array) {
            pages::keywords(h, root, kw.iter().filter_map(Value::as_str));
        }
    });
    // Three parts, so a phone can show the install commands first and the facts last.
    h.wrap("div", &[("class", "pkg-grid")], |h| {
        h.wrap("section", &[("class", "pkg-install")], |h| {
            install(h, base, v)
        });
        h.wrap("div", &[("class", "pkg-main")], |h| {
            main_column(h, root, now, v)
        });
        h.wrap("aside", &[("class", "pkg-side")], |h| {
            side_column(h, root, v)
        });
    });
}

fn main_column(h: &mut Html, root: &str, now: i64, v: &View) {
    let dep_count: usize = v
        .dependencies
        .iter()
        .filter(|g| g.title != "Dev dependencies")
        .map(|g| g.list.len())
        .sum();
    h.wrap(
        "nav",
        &[("class", "tabs"), ("aria-label", "Sections")],
        |h| {
            h.el("a", &[("href", "#readme")], "Readme");
            h.el(
                "a",
                &[("href", "#dependencies")],
                &format!("Dependencies ({dep_count})"),
            );
            h.el(
                "a",
                &[("href", "#versions")],
                &format!("Versions ({})", v.versions.len()),
            );
        },
    );
    match &v.readme {
        Some(md) => {
            h.wrap("article", &[("id", "readme"), ("class", "markdown")], |h| {
                h.markup(md);
            });
        }
        None => {
            h.wrap(
                "article",
                &[("id", "readme"), ("class", "markdown empty")],
                |h| {
                    h.el("p", &[("class", "muted")], "This package has no README.");
                },
            );
        }
    }
    h.wrap("section", &[("id", "dependencies")], |h| {
        h.el("h2", &[], "Dependencies");
        if v.dependencies.is_empty() {
            h.el("p", &[("class", "muted")], "None.");
        }
        for g in &v.dependencies {
            h.el("h3", &[], &format!("{} ({})", g.title, g.list.len()));
            h.wrap("ul", &[("class", "deps")], |h| {
                for d in &g.list {
                    h.wrap("li", &[], |h| {
                        if d.held {
                            h.el("a", &[("href", &package_path(root, &d.name))], &d.name);
                        } else {
                            h.el("span", &[("title", "not held on this registry")], &d.name);
                        }
                        h.el("code", &[], &d.range);
                    });
                }
            });
        }
    });
    h.wrap("section", &[("id", "versions")], |h| {
        h.el("h2", &[], &format!("Versions ({})", v.versions.len()));
        let (first, rest) = v.versions.split_at(v.versions.len().min(VERSIONS_SHOWN));
        version_table(h, root, now, v, first);
        if !rest.is_empty() {
            h.wrap("details", &[], |h| {
                h.el(
                    "summary",
                    &[],
                    &format!("Show {} more", count(rest.len() as i64, "version")),
                );
                version_table(h, root, now, v, rest);
            });
        }
    });
}

fn version_table(h: &mut Html, root: &str, now: i64, v: &View, rows: &[VersionSummary]) {
    h.wrap("table", &[("class", "versions")], |h| {
        h.literal("<thead><tr><th>Version</th><th>Published</th><th>Tags</th></tr></thead>");
        h.open("tbody", &[]);
        // Made once: a table may have hundreds of rows.
        let versions_path = format!("{}/v/", package_path(root, &v.name));
        for row in rows {
            let class = match (row.version == v.shown, row.deprecated.is_some()) {
                (true, true) => "current deprecated",
                (true, false) => "current",
                (false, true) => "deprecated",
                (false, false) => "",
            };
            h.wrap("tr", &[("class", class)], |h| {
                h.wrap("td", &[], |h| {
                    h.el(
                        "a",
                        &[("href", &(versions_path.clone() + &url_part(&row.version)))],
                        &row.version,
                    );
                    if let Some(msg) = &row.deprecated {
                        h.el(
                            "span",
                            &[("class", "dep-note")],
                            &format!("deprecated: {msg}"),
                        );
                    }
                });
                h.wrap("td", &[], |h| {
                    h.el(
                        "time",
                        &[("datetime", &row.published), ("title", &row.published)],
                        &ago(now, &row.published),
                    );
                });
                h.wrap("td", &[], |h| {
                    for (tag, _) in v.tags.iter().filter(|(_, ver)| *ver == row.version) {
                        h.el("span", &[("class", "tag")], tag);
                    }
                });
            });
        }
        h.close("tbody");
    });
}

/// Install commands for npm, pnpm and yarn, and the .npmrc line that points at this registry.
fn install(h: &mut Html, base: &str, v: &View) {
    let target = if v.pinned {
        format!("{}@{}", v.name, v.shown)
    } else {
        v.name.clone()
    };
    h.el("h2", &[], "Install");
    for cmd in ["npm i", "pnpm add", "yarn add"] {
        h.el("pre", &[("class", "cmd")], &format!("{cmd} {target}"));
    }
    let registry_line = match name::scope(&v.name) {
        Some(s) => format!("@{s}:registry={base}/"),
        None => format!("registry={base}/"),
    };
    h.el(
        "p",
        &[("class", "muted small")],
        "With this registry in .npmrc:",
    );
    h.el("pre", &[("class", "cmd")], &registry_line);
}

fn side_column(h: &mut Html, root: &str, v: &View) {
    let m = &v.manifest;
    h.open("dl", &[("class", "facts")]);
    let fact = |h: &mut Html, label: &str, value: &str| {
        h.el("dt", &[], label);
        h.el("dd", &[], value);
    };
    fact(h, "Version", &v.shown);
    if let Some(l) = m.get("license").and_then(Value::as_str) {
        fact(h, "License", l);
    }
    let dist = m.get("dist").and_then(Value::as_object);
    if let Some(n) = dist
        .and_then(|d| d.get("unpackedSize"))
        .and_then(Value::as_u64)
    {
        fact(h, "Unpacked size", &bytes(n));
    }
    if let Some(n) = v.tarball_size {
        fact(h, "Tarball size", &bytes(n.max(0) as u64));
    }
    if let Some(n) = dist
        .and_then(|d| d.get("fileCount"))
        .and_then(Value::as_i64)
    {
        fact(h, "Files", &n.to_string());
    }
    if let Some(a) = m.get("author").and_then(person) {
        fact(h, "Author", &a);
    }
    if let Some(p) = m.get("_npmUser").and_then(person) {
        fact(h, "Published by", &p);
    }
    h.close("dl");
    let links: Vec<(&str, String)> = [
        ("Repository", "repository"),
        ("Homepage", "homepage"),
        ("Issues", "bugs"),
    ]
    .iter()
    .filter_map(|(label, field)| Some((*label, web_url(m.get(*field)?, &v.github_host)?)))
    .collect();
    if !links.is_empty() {
        h.wrap("section", &[], |h| {
            h.el("h2", &[], "Links");
            h.wrap("ul", &[("class", "links")], |h| {
                for (label, url) in &links {
                    h.wrap("li", &[], |h| {
                        h.el("span", &[("class", "muted")], label);
                        let shown = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
                        h.el("a", &[("href", url), ("rel", "noopener nofollow")], shown);
                    });
                }
            });
        });
    }
    h.wrap("section", &[], |h| {
        h.el("h2", &[], "Dist-tags");
        h.wrap("ul", &[("class", "dist-tags")], |h| {
            for (tag, version) in &v.tags {
                h.wrap("li", &[], |h| {
                    h.el("span", &[("class", "tag")], tag);
                    h.el(
                        "a",
                        &[("href", &version_path(root, &v.name, version))],
                        version,
                    );
                });
            }
        });
    });
    if let Some(org) = &v.org {
        h.wrap("section", &[], |h| {
            h.el("h2", &[], "Organisation");
            h.wrap("p", &[], |h| {
                h.el(
                    "a",
                    &[("href", &super::org_path(root, org))],
                    &format!("@{org}"),
                );
            });
            h.el(
                "p",
                &[("class", "muted")],
                "Its owners and admins may publish.",
            );
            if !v.teams.is_empty() {
                h.el("h3", &[], "Teams");
                h.wrap("ul", &[("class", "people teams")], |h| {
                    for (team, write) in &v.teams {
                        h.wrap("li", &[], |h| {
                            h.el("span", &[("class", "team")], team);
                            h.literal(" ");
                            let may = if *write { "may publish" } else { "may install" };
                            h.el("span", &[("class", "muted")], may);
                        });
                    }
                });
            }
        });
    }
    if !v.maintainers.is_empty() {
        h.wrap("section", &[], |h| {
            h.el("h2", &[], "Maintainers");
            h.wrap("ul", &[("class", "people")], |h| {
                for person in &v.maintainers {
                    h.wrap("li", &[], |h| {
                        h.el(
                            "a",
                            &[(
                                "href",
                                &search_path(root, &format!("maintainer:{person}"), 1),
                            )],
                            person,
                        );
                    });
                }
            });
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn repository_values_become_web_links() {
        let gh = "github.example.test";
        let cases = [
            (
                json!("git+https://git.test/o/r.git"),
                Some("https://git.test/o/r"),
            ),
            (
                json!({"type": "git", "url": "git://git.test/o/r.git"}),
                Some("https://git.test/o/r"),
            ),
            (json!("git@git.test:o/r.git"), Some("https://git.test/o/r")),
            (
                json!("ssh://git@git.test/o/r.git"),
                Some("https://git.test/o/r"),
            ),
            (json!("github:o/r"), Some("https://github.example.test/o/r")),
            (json!("o/r"), Some("https://github.example.test/o/r")),
            (json!("https://docs.test/x"), Some("https://docs.test/x")),
            (json!("javascript:alert(1)"), None),
            (json!("file:///etc/passwd"), None),
            (json!(7), None),
        ];
        for (v, want) in cases {
            assert_eq!(web_url(&v, gh).as_deref(), want, "{v}");
        }
    }

    #[test]
    fn people_are_named() {
        assert_eq!(
            person(&json!("Ann <a@e.test> (https://a.test)")).as_deref(),
            Some("Ann")
        );
        assert_eq!(person(&json!({"name": "Bo"})).as_deref(), Some("Bo"));
        assert_eq!(person(&json!("")), None);
    }
}

//! Reading lockfiles for `nmr mirror`: which `name@version` pairs a project installs from a
//! registry, from npm's `package-lock.json` / `npm-shrinkwrap.json` (lockfile versions 1 to
//! 3), pnpm's `pnpm-lock.yaml` (5.x, 6.x, 9.x) and yarn 1's `yarn.lock`. Entries that do not
//! come from a registry (git, local paths, bundled dependencies, workspace links) are listed
//! apart, with the reason, so the caller can say what it left out.
//!
//! pnpm-lock.yaml is read line by line rather than with a YAML parser: only the keys of its
//! `packages:` section (two-space indent, `name@version:`) and their `resolution: {integrity:
//! ...}` line are needed, pnpm writes that section in one fixed machine-made layout, and a
//! YAML crate would be the largest dependency nmr has for reading a few hundred lines.

use super::error::{Error, Result};
use std::collections::BTreeSet;

/// One package version a lockfile installs from a registry.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Entry {
    pub name: String,
    pub version: String,
    /// The SRI string the lockfile pins, when it has one.
    pub integrity: Option<String>,
}

/// What a lockfile lists: registry entries (sorted, without duplicates) and what was left out.
#[derive(Debug, Default, PartialEq)]
pub struct Parsed {
    /// `package-lock.json v3`, `pnpm-lock.yaml 9.0`, ...
    pub kind: String,
    pub entries: Vec<Entry>,
    /// `(what, why)` for each entry that is not a registry package.
    pub skipped: Vec<(String, String)>,
}

/// Parses a lockfile's text. The file name is only used in messages; the format is told by
/// the content, so a renamed lockfile still works. The error, a usage error since the operator
/// chose the file, says what was expected.
pub fn parse(text: &str) -> Result<Parsed> {
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    let mut parsed = if trimmed.starts_with('{') {
        npm(trimmed)?
    } else if text.lines().any(|l| l.trim() == "# yarn lockfile v1") {
        yarn(text)?
    } else if text.lines().any(|l| l.starts_with("lockfileVersion:")) {
        pnpm(text)?
    } else if text.lines().any(|l| l.starts_with("__metadata:")) {
        return Err(Error::Usage(
            "this is a yarn 2+ (berry) lockfile, which is not supported; yarn 1's yarn.lock is"
                .into(),
        ));
    } else {
        return Err(Error::Usage(UNSUPPORTED.into()));
    };
    parsed.entries.sort();
    parsed.entries.dedup();
    Ok(parsed)
}

const UNSUPPORTED: &str = "not a lockfile nmr can read: expected package-lock.json or npm-shrinkwrap.json (lockfile versions 1-3), pnpm-lock.yaml (5, 6 or 9) or yarn.lock (yarn 1)";

/// Whether a version string names a registry release (not a URL, path or git reference).
fn registry_version(v: &str) -> bool {
    semver::Version::parse(v).is_ok()
}

/// Splits `name@spec` at the `@` that is not the scope's; `None` without one. Any text is
/// safe: an empty one, or one starting with a multi-byte character.
pub fn split_at_version(s: &str) -> Option<(&str, &str)> {
    let first = s.chars().next()?.len_utf8();
    let at = s[first..].find('@')? + first;
    Some((&s[..at], &s[at + 1..]))
}

/// The package name a `node_modules/.../node_modules/<name>` path ends in.
fn name_from_path(path: &str) -> &str {
    path.rsplit_once("node_modules/").map_or(path, |(_, n)| n)
}

/// Keeps an entry if it is a registry release, else records why not.
fn push(
    out: &mut Parsed,
    name: &str,
    version: &str,
    integrity: Option<&str>,
    resolved: Option<&str>,
) {
    // Registry tarballs live at `<registry>/<name>/-/<file>`; any other URL, a git reference
    // or a path is something a registry does not serve.
    let elsewhere = resolved.is_some_and(|r| {
        !(r.starts_with("http://") || r.starts_with("https://")) || !r.contains("/-/")
    });
    if !registry_version(version) || elsewhere {
        out.skipped.push((
            format!("{name}@{}", resolved.unwrap_or(version)),
            "not from a registry".into(),
        ));
        return;
    }
    out.entries.push(Entry {
        name: name.to_string(),
        version: version.to_string(),
        integrity: integrity.map(str::to_string),
    });
}

fn npm(text: &str) -> Result<Parsed> {
    use serde_json::Value;
    let doc: Value = serde_json::from_str(text)
        .map_err(|e| Error::Usage(format!("not valid JSON ({e}); {UNSUPPORTED}")))?;
    let version = doc["lockfileVersion"].as_u64().ok_or_else(|| {
        Error::Usage(format!(
            "a JSON file without lockfileVersion; {UNSUPPORTED}"
        ))
    })?;
    if !(1..=3).contains(&version) {
        return Err(Error::Usage(format!(
            "package-lock.json lockfileVersion {version} is not supported (1, 2 and 3 are)"
        )));
    }
    let mut out = Parsed {
        kind: format!("package-lock.json v{version}"),
        ..Parsed::default()
    };
    let text_of = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    if version >= 2 {
        // v2 also keeps v1's `dependencies`, with the same entries; `packages` is complete.
        let packages = doc["packages"]
            .as_object()
            .ok_or_else(|| Error::Usage("package-lock.json has no packages object".into()))?;
        for (path, p) in packages {
            if path.is_empty() || !path.contains("node_modules/") {
                continue; // the project itself, or a workspace folder
            }
            if p.get("link").and_then(Value::as_bool) == Some(true) {
                out.skipped
                    .push((path.clone(), "a link to a local folder".into()));
                continue;
            }
            if p.get("inBundle").and_then(Value::as_bool) == Some(true) {
                out.skipped
                    .push((path.clone(), "bundled inside its parent's tarball".into()));
                continue;
            }
            let name = text_of(p, "name").unwrap_or_else(|| name_from_path(path).to_string());
            let Some(version) = text_of(p, "version") else {
                out.skipped.push((path.clone(), "no version".into()));
                continue;
            };
            push(
                &mut out,
                &name,
                &version,
                text_of(p, "integrity").as_deref(),
                text_of(p, "resolved").as_deref(),
            );
        }
    } else {
        let mut stack: Vec<(String, &Value)> = doc["dependencies"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v))
            .collect();
        while let Some((key, d)) = stack.pop() {
            if let Some(deps) = d.get("dependencies").and_then(Value::as_object) {
                stack.extend(deps.iter().map(|(k, v)| (k.clone(), v)));
            }
            if d.get("bundled").and_then(Value::as_bool) == Some(true) {
                out.skipped
                    .push((key, "bundled inside its parent's tarball".into()));
                continue;
            }
            let Some(version) = text_of(d, "version") else {
                out.skipped.push((key, "no version".into()));
                continue;
            };
            // An alias (`"alias": {"version": "npm:real@1.0.0"}`) installs another package.
            let (name, version) = match version.strip_prefix("npm:").and_then(split_at_version) {
                Some((n, v)) => (n.to_string(), v.to_string()),
                None => (key, version),
            };
            push(
                &mut out,
                &name,
                &version,
                text_of(d, "integrity").as_deref(),
                text_of(d, "resolved").as_deref(),
            );
        }
    }
    Ok(out)
}

/// Removes one level of YAML quoting.
fn unquote(s: &str) -> &str {
    let s = s.trim();
    for q in ['\'', '"'] {
        if let Some(inner) = s.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return inner;
        }
    }
    s
}

fn pnpm(text: &str) -> Result<Parsed> {
    let version = text
        .lines()
        .find_map(|l| l.strip_prefix("lockfileVersion:"))
        .map(unquote)
        .unwrap_or_default()
        .to_string();
    let major = version.split('.').next().unwrap_or("");
    if !["5", "6", "9"].contains(&major) {
        return Err(Error::Usage(format!(
            "pnpm-lock.yaml lockfileVersion {version:?} is not supported (5.x, 6.x and 9.x are)"
        )));
    }
    let mut out = Parsed {
        kind: format!("pnpm-lock.yaml {version}"),
        ..Parsed::default()
    };
    let mut in_packages = false;
    // The entry whose lines are being read: (name, version) if it is a registry package.
    let mut current: Option<(String, String)> = None;
    let mut integrity: Option<String> = None;
    let flush = |out: &mut Parsed, cur: &mut Option<(String, String)>, i: &mut Option<String>| {
        if let Some((n, v)) = cur.take() {
            push(out, &n, &v, i.as_deref(), None);
        }
        *i = None;
    };
    for line in text.lines() {
        if !line.starts_with(' ') && !line.trim().is_empty() {
            flush(&mut out, &mut current, &mut integrity);
            in_packages = line.trim_end() == "packages:";
            continue;
        }
        if !in_packages {
            continue;
        }
        if let Some(key) = line
            .strip_prefix("  ")
            .filter(|k| !k.starts_with(' '))
            .and_then(|k| k.trim_end().strip_suffix(':'))
        {
            flush(&mut out, &mut current, &mut integrity);
            let key = unquote(key);
            // 5.x: /name/1.0.0[_peer]; 6.x: /name@1.0.0[(peer)]; 9.x: name@1.0.0.
            let key = key.strip_prefix('/').unwrap_or(key);
            let key = key.split('(').next().unwrap_or(key);
            let split = if major == "5" {
                key.rsplit_once('/')
                    .map(|(n, v)| (n, v.split('_').next().unwrap_or(v)))
            } else {
                split_at_version(key)
            };
            match split {
                Some((n, v)) if registry_version(v) => {
                    current = Some((n.to_string(), v.to_string()));
                }
                _ => out
                    .skipped
                    .push((key.to_string(), "not from a registry".into())),
            }
            continue;
        }
        let body = line.trim();
        if let Some(r) = body.strip_prefix("resolution:") {
            // `{integrity: sha512-...}`, with `tarball:` when a registry's URL is not the
            // canonical one; a `type: git`, a directory or another URL is not a registry's.
            let r = r.trim().trim_start_matches('{').trim_end_matches('}');
            for field in r.split(',') {
                match field.split_once(':').map(|(k, v)| (k.trim(), unquote(v))) {
                    Some(("integrity", v)) => integrity = Some(v.to_string()),
                    Some(("tarball", url)) if url.contains("/-/") => {}
                    Some(("tarball" | "type" | "repo" | "directory", _)) => {
                        if let Some((n, v)) = current.take() {
                            out.skipped
                                .push((format!("{n}@{v}"), "not from a registry".into()));
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    flush(&mut out, &mut current, &mut integrity);
    Ok(out)
}

fn yarn(text: &str) -> Result<Parsed> {
    let mut out = Parsed {
        kind: "yarn.lock v1".into(),
        ..Parsed::default()
    };
    // One block per resolved package: a header of specifiers, then indented fields.
    struct Block {
        name: String,
        version: Option<String>,
        resolved: Option<String>,
        integrity: Option<String>,
    }
    let mut block: Option<Block> = None;
    let mut seen_headers = BTreeSet::new();
    let finish = |out: &mut Parsed, b: Option<Block>| {
        if let Some(b) = b {
            match b.version {
                Some(v) => push(
                    out,
                    &b.name,
                    &v,
                    b.integrity.as_deref(),
                    b.resolved.as_deref(),
                ),
                None => out.skipped.push((b.name, "no version".into())),
            }
        }
    };
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if !line.starts_with(' ') {
            finish(&mut out, block.take());
            let header = line.trim_end().strip_suffix(':').ok_or_else(|| {
                Error::Usage(format!(
                    "yarn.lock: unexpected line {line:?}; {UNSUPPORTED}"
                ))
            })?;
            if !seen_headers.insert(header.to_string()) {
                continue;
            }
            // `"@s/a@^1", "@s/a@^1.1"` or `a@^1`; an alias spec is `alias@npm:real@^1`.
            let first = unquote(header.split(", ").next().unwrap_or(header));
            let (name, spec) = split_at_version(first).ok_or_else(|| {
                Error::Usage(format!(
                    "yarn.lock: cannot read the package name in {line:?}"
                ))
            })?;
            let name = spec
                .strip_prefix("npm:")
                .and_then(split_at_version)
                .map_or(name, |(real, _)| real);
            block = Some(Block {
                name: name.to_string(),
                version: None,
                resolved: None,
                integrity: None,
            });
            continue;
        }
        let Some(b) = block.as_mut() else { continue };
        // Fields sit at two spaces; deeper lines are dependency lists.
        let Some(field) = line.strip_prefix("  ").filter(|f| !f.starts_with(' ')) else {
            continue;
        };
        let (key, value) = field.split_once(' ').unwrap_or((field, ""));
        let value = unquote(value).to_string();
        match key {
            "version" => b.version = Some(value),
            "resolved" => b.resolved = Some(value),
            "integrity" => b.integrity = Some(value),
            _ => {}
        }
    }
    finish(&mut out, block.take());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &Parsed) -> Vec<String> {
        p.entries
            .iter()
            .map(|e| format!("{}@{}", e.name, e.version))
            .collect()
    }

    #[test]
    fn names_split_from_versions_whatever_the_text() {
        assert_eq!(
            split_at_version("@up/lib@1.2.3"),
            Some(("@up/lib", "1.2.3"))
        );
        assert_eq!(split_at_version("lib@^1"), Some(("lib", "^1")));
        assert_eq!(split_at_version("@up/lib"), None);
        assert_eq!(split_at_version(""), None);
        assert_eq!(split_at_version("é@1"), Some(("é", "1")));
        // An alias with nothing after `npm:` once made the split panic.
        let lock = r#"{"lockfileVersion": 1, "dependencies": {"a": {"version": "npm:"}}}"#;
        let _ = parse(lock);
    }

    #[test]
    fn npm_v3_packages_with_nesting_aliases_links_and_bundles() {
        let lock = r#"{
          "name": "app", "lockfileVersion": 3, "requires": true,
          "packages": {
            "": {"name": "app", "dependencies": {"@up/lib": "1.0.0"}},
            "node_modules/@up/lib": {"version": "1.0.0", "resolved": "http://127.0.0.1:1/@up/lib/-/lib-1.0.0.tgz", "integrity": "sha512-AA=="},
            "node_modules/@up/lib/node_modules/dep": {"version": "2.0.0", "resolved": "http://127.0.0.1:1/dep/-/dep-2.0.0.tgz"},
            "node_modules/dep": {"version": "1.0.0", "dev": true},
            "node_modules/alias": {"name": "real", "version": "3.0.0"},
            "node_modules/ws": {"resolved": "packages/ws", "link": true},
            "packages/ws": {"name": "ws", "version": "0.0.1"},
            "node_modules/inner": {"version": "1.0.0", "inBundle": true},
            "node_modules/gitdep": {"version": "1.0.0", "resolved": "git+ssh://git@example.test/x.git#abc"}
          }
        }"#;
        let p = parse(lock).unwrap();
        assert_eq!(p.kind, "package-lock.json v3");
        assert_eq!(
            pairs(&p),
            ["@up/lib@1.0.0", "dep@1.0.0", "dep@2.0.0", "real@3.0.0"]
        );
        assert_eq!(p.entries[0].integrity.as_deref(), Some("sha512-AA=="));
        assert_eq!(p.skipped.len(), 3, "{:?}", p.skipped);
    }

    #[test]
    fn npm_v1_dependencies_recursively() {
        let lock = r#"{"name": "app", "lockfileVersion": 1, "dependencies": {
            "a": {"version": "1.0.0", "integrity": "sha1-xx", "dependencies": {
                "b": {"version": "2.0.0"}}},
            "al": {"version": "npm:@s/real@1.2.3"},
            "c": {"version": "file:../c"},
            "d": {"version": "1.0.0", "bundled": true}
        }}"#;
        let p = parse(lock).unwrap();
        assert_eq!(pairs(&p), ["@s/real@1.2.3", "a@1.0.0", "b@2.0.0"]);
        assert_eq!(p.skipped.len(), 2);
    }

    #[test]
    fn pnpm_9_6_and_5_keys() {
        let v9 = "lockfileVersion: '9.0'\n\nsettings:\n  autoInstallPeers: true\n\nimporters:\n\n  .:\n    dependencies:\n      '@up/lib':\n        specifier: 1.0.0\n        version: 1.0.0\n\npackages:\n\n  '@up/lib@1.0.0':\n    resolution: {integrity: sha512-AA==}\n\n  dep@1.0.0:\n    resolution: {integrity: sha512-BB==}\n    engines: {node: '>=8'}\n\n  tb@https://example.test/tb.tgz:\n    resolution: {tarball: https://example.test/tb.tgz}\n    version: 1.0.0\n\n  odd@2.0.0:\n    resolution: {integrity: sha512-CC==, tarball: 'http://127.0.0.1:1/odd/-/odd-2.0.0.tgz'}\n\n  gitdep@1.0.0:\n    resolution: {type: git, repo: x, commit: y}\n\nsnapshots:\n\n  '@up/lib@1.0.0':\n    dependencies:\n      dep: 1.0.0\n";
        let p = parse(v9).unwrap();
        assert_eq!(p.kind, "pnpm-lock.yaml 9.0");
        assert_eq!(pairs(&p), ["@up/lib@1.0.0", "dep@1.0.0", "odd@2.0.0"]);
        assert_eq!(p.entries[1].integrity.as_deref(), Some("sha512-BB=="));
        assert_eq!(p.skipped.len(), 2, "{:?}", p.skipped);

        let v6 = "lockfileVersion: '6.0'\n\npackages:\n\n  /@up/lib@1.0.0(react@18.0.0):\n    resolution: {integrity: sha512-AA==}\n    dev: false\n\n  /dep@1.0.0:\n    resolution: {integrity: sha512-BB==}\n";
        assert_eq!(pairs(&parse(v6).unwrap()), ["@up/lib@1.0.0", "dep@1.0.0"]);
        let v5 = "lockfileVersion: 5.4\n\npackages:\n\n  /@up/lib/1.0.0_react@18.0.0:\n    resolution: {integrity: sha512-AA==}\n\n  /dep/1.0.0:\n    resolution: {integrity: sha512-BB==}\n";
        assert_eq!(pairs(&parse(v5).unwrap()), ["@up/lib@1.0.0", "dep@1.0.0"]);
        assert!(parse("lockfileVersion: '3.0'\n")
            .unwrap_err()
            .to_string()
            .contains("3.0"));
    }

    #[test]
    fn yarn_1_blocks() {
        let lock = "# THIS IS AN AUTOGENERATED FILE. DO NOT EDIT THIS FILE DIRECTLY.\n# yarn lockfile v1\n\n\n\"@up/lib@1.0.0\":\n  version \"1.0.0\"\n  resolved \"http://127.0.0.1:1/@up/lib/-/lib-1.0.0.tgz#abc\"\n  integrity sha512-AA==\n  dependencies:\n    dep \"^1.0.0\"\n\ndep@^1.0.0, dep@^1.0.1:\n  version \"1.0.1\"\n  resolved \"http://127.0.0.1:1/dep/-/dep-1.0.1.tgz#def\"\n\nal@npm:real@^2:\n  version \"2.0.0\"\n\n\"gd@git+https://example.test/gd.git\":\n  version \"0.1.0\"\n  resolved \"git+https://example.test/gd.git#abc\"\n";
        let p = parse(lock).unwrap();
        assert_eq!(p.kind, "yarn.lock v1");
        assert_eq!(pairs(&p), ["@up/lib@1.0.0", "dep@1.0.1", "real@2.0.0"]);
        assert_eq!(p.entries[0].integrity.as_deref(), Some("sha512-AA=="));
        assert_eq!(p.skipped.len(), 1);
    }

    #[test]
    fn anything_else_is_refused_with_what_is_supported() {
        for (text, says) in [
            ("", "package-lock.json"),
            ("hello: world\n", "yarn.lock"),
            ("__metadata:\n  version: 6\n", "berry"),
            ("{\"name\": \"x\"}", "lockfileVersion"),
            ("{\"lockfileVersion\": 4, \"packages\": {}}", "4"),
            ("{not json", "JSON"),
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{text:?}");
            assert!(e.to_string().contains(says), "{text:?}: {e}");
        }
    }
}

//! npm package names: the publishing rules, the percent-encodings clients put in paths, and the
//! canonical tarball file name derived from a name and version.

use crate::error::{Error, Result};

/// Longest name npm accepts.
const MAX_LEN: usize = 214;

/// Names npm reserves; `-` is also ours, since `/-/...` is the registry's own namespace.
const RESERVED: &[&str] = &["node_modules", "favicon.ico", "-"];

/// Percent-decodes a URL path. Clients spell the same name as `@scope%2fname`, `@scope%2Fname` or
/// `%40scope%2Fname`, so decoding happens once, before routing.
pub fn percent_decode(s: &str) -> Result<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hi = bytes.get(i + 1).and_then(|b| (*b as char).to_digit(16));
            let lo = bytes.get(i + 2).and_then(|b| (*b as char).to_digit(16));
            match (hi, lo) {
                (Some(h), Some(l)) => out.push((h * 16 + l) as u8),
                _ => {
                    return Err(Error::BadRequest(format!(
                        "bad percent-escape in path {s:?}"
                    )))
                }
            }
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| Error::BadRequest(format!("path {s:?} is not UTF-8")))
}

/// Characters `encodeURIComponent` leaves alone: npm requires names to be made only of these.
fn url_safe(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-_.!~*'()".contains(c)
}

fn check_part(part: &str, what: &str, full: &str) -> std::result::Result<(), String> {
    if part.is_empty() {
        return Err(format!("package name {full:?} has an empty {what}"));
    }
    if part.starts_with('.') || part.starts_with('_') {
        return Err(format!(
            "package name {full:?}: the {what} may not start with '.' or '_'"
        ));
    }
    if let Some(c) = part.chars().find(|c| !url_safe(*c)) {
        return Err(format!(
            "package name {full:?} contains {c:?}; names may use only letters, digits and -_.!~*'()"
        ));
    }
    if part.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(format!("package name {full:?} must be lowercase"));
    }
    Ok(())
}

/// Checks a name against npm's rules for new packages. The message names the broken rule.
pub fn validate(name: &str) -> Result<()> {
    let rule = |m: String| Error::BadRequest(m);
    if name.len() > MAX_LEN {
        return Err(rule(format!(
            "package name is {} characters; at most {MAX_LEN} are allowed",
            name.len()
        )));
    }
    if name.trim() != name {
        return Err(rule(format!(
            "package name {name:?} has leading or trailing spaces"
        )));
    }
    if RESERVED.contains(&name) {
        return Err(rule(format!("package name {name:?} is reserved")));
    }
    match name.strip_prefix('@') {
        Some(rest) => {
            let (scope, pkg) = rest.split_once('/').ok_or_else(|| {
                rule(format!(
                    "scoped package name {name:?} must look like @scope/name"
                ))
            })?;
            check_part(scope, "scope", name).map_err(rule)?;
            check_part(pkg, "name", name).map_err(rule)?;
            if pkg.contains('/') {
                return Err(rule(format!("package name {name:?} has more than one '/'")));
            }
        }
        None => check_part(name, "name", name).map_err(rule)?,
    }
    Ok(())
}

/// Checks a name that comes from an upstream registry: npm's rules, except that legacy names
/// there may hold capitals, so nothing malformed is passed on or stored.
pub fn validate_upstream(name: &str) -> Result<()> {
    validate(&name.to_ascii_lowercase())
}

/// The part after the scope: `widget` for `@acme/widget`, the name itself when unscoped.
pub fn basename(name: &str) -> &str {
    name.rsplit_once('/').map_or(name, |(_, b)| b)
}

/// The scope without `@` (`acme` for `@acme/widget`), if any.
pub fn scope(name: &str) -> Option<&str> {
    name.strip_prefix('@')
        .and_then(|r| r.split_once('/'))
        .map(|(s, _)| s)
}

/// The canonical tarball file name: `widget-1.1.0.tgz` (the form pnpm rebuilds URLs from).
pub fn tarball_file(name: &str, version: &str) -> String {
    format!("{}-{version}.tgz", basename(name))
}

/// The version a canonical file name belongs to: `widget-1.0.0.tgz` → `1.0.0`.
pub fn version_of_file<'f>(name: &str, file: &'f str) -> Option<&'f str> {
    file.strip_suffix(".tgz")
        .or_else(|| file.strip_suffix(".sigstore"))?
        .strip_prefix(basename(name))?
        .strip_prefix('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_map_back_to_versions() {
        assert_eq!(
            version_of_file("@acme/widget", "widget-1.0.0.tgz"),
            Some("1.0.0")
        );
        assert_eq!(
            version_of_file("foo-bar", "foo-bar-2.0.0-rc.1.tgz"),
            Some("2.0.0-rc.1")
        );
        assert_eq!(version_of_file("foo", "bar-1.0.0.tgz"), None);
    }

    #[test]
    fn decodes_every_spelling_clients_send() {
        for raw in [
            "/@acme%2fwidget",
            "/@acme%2Fwidget",
            "/%40acme%2Fwidget",
            "/@acme/widget",
        ] {
            assert_eq!(percent_decode(raw).unwrap(), "/@acme/widget", "{raw}");
        }
        assert!(percent_decode("/bad%2").is_err());
        assert!(percent_decode("/bad%zz").is_err());
        assert!(percent_decode("/bad%ff").is_err());
    }

    #[test]
    fn accepts_valid_names() {
        for n in [
            "plainpkg",
            "@acme/widget",
            "a.b-c_d",
            "x",
            "@a/b",
            "foo!bar",
        ] {
            validate(n).unwrap_or_else(|e| panic!("{n}: {e}"));
        }
    }

    #[test]
    fn rejects_invalid_names() {
        let long = "a".repeat(215);
        for n in [
            "",
            ".hidden",
            "_under",
            "Upper",
            "@acme/Widget",
            "@acme",
            "@acme/",
            "@/x",
            "a b",
            "a/b",
            "@a/b/c",
            "..",
            "../etc",
            "node_modules",
            "-",
            "ünï",
            " x",
            long.as_str(),
            "@.a/b",
            "@acme/.b",
        ] {
            assert!(validate(n).is_err(), "{n:?} should be rejected");
        }
    }

    #[test]
    fn upstream_names_may_hold_legacy_capitals_only() {
        validate_upstream("JSONStream").unwrap();
        validate_upstream("@Acme/Widget").unwrap();
        assert!(validate_upstream("../etc").is_err());
        assert!(validate_upstream("a b").is_err());
    }

    #[test]
    fn derives_canonical_file_names() {
        assert_eq!(tarball_file("@acme/widget", "1.1.0"), "widget-1.1.0.tgz");
        assert_eq!(
            tarball_file("plainpkg", "2.0.0-beta.1"),
            "plainpkg-2.0.0-beta.1.tgz"
        );
        assert_eq!(scope("@acme/widget"), Some("acme"));
        assert_eq!(scope("plainpkg"), None);
    }
}

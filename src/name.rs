//! npm package names: the rules a name must meet, the percent-encodings clients put in paths, and
//! the canonical tarball file name derived from a name and version.

use crate::error::{Error, Result};

/// Longest name accepted: npm's limit for new names. Older npm names could be longer, but a name
/// is also a path in the tarball store, whose file-name components stop at 255 bytes.
const MAX_LEN: usize = 214;

/// Names npm reserves, in any case.
const RESERVED: &[&str] = &["node_modules", "favicon.ico"];

/// Percent-decodes a URL path. Clients spell the same name as `@scope%2fname`, `@scope%2Fname` or
/// `%40scope%2Fname`, so decoding happens once, before routing. Stricter than the
/// `percent-encoding` crate that decodes: a `%` not followed by two hex digits (which it would
/// keep as it is) is refused, and so is a result that is not UTF-8.
pub fn percent_decode(s: &str) -> Result<String> {
    let escapes_well_formed = s.split('%').skip(1).all(|after| {
        after
            .as_bytes()
            .get(..2)
            .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    });
    if !escapes_well_formed {
        return Err(Error::BadRequest(format!(
            "bad percent-escape in path {s:?}"
        )));
    }
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(|decoded| decoded.into_owned())
        .map_err(|_| Error::BadRequest(format!("path {s:?} is not UTF-8")))
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
    Ok(())
}

/// Checks a name against npm's rules for names that exist (`validForOldPackages` in npm's
/// validate-npm-package-name): capitals and `~'!()*` are accepted, since registries must serve
/// `JSONStream` and its kind (from the upstream, bundles, migrations and forks). What no npm name
/// may be is refused, with a message that names the broken rule; so are a leading `-` (the
/// registry's own `/-/` namespace) and a scope or name part starting with `.` or `_`.
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
    if RESERVED.contains(&name.to_ascii_lowercase().as_str()) {
        return Err(rule(format!("package name {name:?} is reserved")));
    }
    if name.starts_with('-') {
        return Err(rule(format!(
            "package name {name:?} may not start with '-'"
        )));
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

/// The form two names share when they differ only in case: `jsonstream` for `JSONStream`. No two
/// packages may share it, so case cannot pass one package off as another.
pub fn folded(name: &str) -> String {
    name.to_ascii_lowercase()
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
    fn decodes_once_and_refuses_every_malformed_escape() {
        // Once: an encoded `%` stays a `%`, it does not start a second escape.
        assert_eq!(percent_decode("/a%252Fb").unwrap(), "/a%2Fb");
        assert_eq!(percent_decode("/%C3%BCber").unwrap(), "/über");
        // A `%` anywhere, even right after an escape or at the very end, needs two hex digits.
        for bad in ["%", "/a%", "/a%4", "/%%41", "/%41%", "/%4g", "/%\u{fc}1"] {
            assert!(percent_decode(bad).is_err(), "{bad:?}");
        }
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
            // Valid for existing npm packages: capitals and `~'!()*`.
            "JSONStream",
            "@Acme/Widget",
            "Foo~(x)*'",
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
            "@acme",
            "@acme/",
            "@/x",
            "a b",
            "a/b",
            "@a/b/c",
            "..",
            "../etc",
            "node_modules",
            "Node_Modules",
            "FAVICON.ICO",
            "-",
            "-dash",
            "Caps/Slash",
            "Ab..%2f",
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
    fn names_fold_to_lowercase() {
        assert_eq!(folded("JSONStream"), "jsonstream");
        assert_eq!(folded("@Acme/Widget"), folded("@acme/widget"));
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

//! Package documents as clients send them (`PUT /<name>` and `PUT /<name>/-rev/<rev>`): the
//! body read as a JSON object that names the package in the URL, whether it carries tarballs,
//! and the rule for dist-tag names. Shared by publish, unpublish, deprecate and the tag
//! endpoints, so none of them reaches into another.

use crate::error::{Error, Result};
use crate::http::Request;
use crate::name;
use serde_json::{Map, Value};

fn bad(msg: impl Into<String>) -> Error {
    Error::BadRequest(msg.into())
}

/// Reads a package-document body (at most `max_body_size` bytes, `settings.max_body_size`) and
/// checks that it names the package in the URL.
pub fn read(req: &mut Request, name: &str, max_body_size: u64) -> Result<Map<String, Value>> {
    name::validate(name)?;
    let body = req.read_json(crate::http::BodyLimit::max_body_size(max_body_size))?;
    let Value::Object(doc) = body else {
        return Err(bad(
            "request body must be a JSON object (a package document)",
        ));
    };
    for field in ["_id", "name"] {
        if let Some(v) = doc.get(field) {
            if v.as_str() != Some(name) {
                return Err(bad(format!(
                    "body {field} {v} does not match the package in the URL ({name})"
                )));
            }
        }
    }
    Ok(doc)
}

/// Whether a document carries tarball data, which only a publish may.
pub fn has_attachments(doc: &Map<String, Value>) -> bool {
    doc.get("_attachments")
        .and_then(Value::as_object)
        .is_some_and(|a| !a.is_empty())
}

/// The dist-tag name rule: shared by publish, the dist-tag endpoints, unpublish, mirroring and
/// bundle import.
pub fn validate_tag(tag: &str) -> Result<()> {
    let looks_like_range = tag.starts_with(|c: char| {
        c.is_ascii_digit() || c == '^' || c == '~' || c == '=' || c == '<' || c == '>'
    }) || tag
        .strip_prefix('v')
        .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
        || matches!(tag, "*" | "x" | "X");
    if tag.is_empty()
        || tag.len() > 128
        || looks_like_range
        || !tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(bad(format!(
            "dist-tag {tag:?} is not allowed: use letters, digits, '-', '_' or '.', and nothing that reads as a version or range"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_names_that_read_as_versions_are_refused() {
        for ok in ["latest", "beta", "next-2", "v-next"] {
            validate_tag(ok).unwrap();
        }
        for bad in ["", "1.0.0", "v1", "^1", "x", "*", "a b", "a/b", "<2"] {
            assert!(validate_tag(bad).is_err(), "{bad}");
        }
    }
}

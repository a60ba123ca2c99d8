//! Turning a packument fetched from the upstream into stored templates. Tarball URLs are
//! rewritten to nmr's canonical path `/<name>/-/<file>.tgz` behind the template marker, so
//! clients keep talking to nmr; the upstream's own URL and digests are kept per file for the
//! download; the abbreviated form is derived as it is for local packages.

use crate::name;
use crate::packument::abbreviate_version;
use crate::store::meta::{UplinkDist, UplinkDoc};
use serde_json::{json, Map, Value};

/// Whether a version string is safe as part of a file name in our URLs.
fn safe_version(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 256
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-+".contains(c))
}

fn text(m: &Map<String, Value>, key: &str) -> Option<String> {
    m.get(key).and_then(Value::as_str).map(str::to_string)
}

/// Builds both templates of `name` from the upstream's full document. Versions without a usable
/// `dist.tarball` are left out: nmr could not serve their tarballs. The error says what is wrong
/// with the document.
pub fn build(
    name: &str,
    body: &[u8],
    etag: Option<String>,
    marker: &str,
) -> Result<UplinkDoc, String> {
    let Ok(Value::Object(mut doc)) = serde_json::from_slice::<Value>(body) else {
        return Err("it is not a JSON object".into());
    };
    if let Some(n) = doc.get("name") {
        if n.as_str() != Some(name) {
            return Err(format!("it describes {n}, not {name}"));
        }
    }
    // Taken out and put back in place, so the document keeps its field order.
    let versions = match doc.get_mut("versions") {
        Some(Value::Object(v)) => std::mem::take(v),
        _ => return Err("it has no versions object".into()),
    };
    let base = format!("\u{0}{marker}");
    let mut dists = Vec::new();
    let mut full = Map::new();
    let mut short = Map::new();
    for (version, v) in versions {
        let Value::Object(mut v) = v else { continue };
        let Some(Value::Object(dist)) = v.get_mut("dist") else {
            continue;
        };
        let url =
            text(dist, "tarball").filter(|u| u.starts_with("https://") || u.starts_with("http://"));
        let Some(url) = url.filter(|_| safe_version(&version)) else {
            continue;
        };
        let filename = name::tarball_file(name, &version);
        dists.push(UplinkDist {
            filename: filename.clone(),
            version: version.clone(),
            url,
            integrity: text(dist, "integrity"),
            shasum: text(dist, "shasum"),
        });
        dist.insert(
            "tarball".into(),
            json!(format!("{base}/{name}/-/{filename}")),
        );
        short.insert(version.clone(), Value::Object(abbreviate_version(&v)));
        full.insert(version, Value::Object(v));
    }
    doc["versions"] = Value::Object(full);

    let mut abbrev = Map::new();
    abbrev.insert("name".into(), json!(name));
    let time = doc.get("time").and_then(Value::as_object);
    if let Some(m) = time.and_then(|t| t.get("modified")).or(doc.get("modified")) {
        abbrev.insert("modified".into(), m.clone());
    }
    abbrev.insert(
        "dist-tags".into(),
        doc.get("dist-tags").cloned().unwrap_or(json!({})),
    );
    abbrev.insert("versions".into(), Value::Object(short));
    let ser = |v: &Map<String, Value>| serde_json::to_vec(v).expect("JSON values serialise");
    Ok(UplinkDoc {
        etag,
        full: ser(&doc),
        abbrev: ser(&abbrev),
        dists,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream_doc() -> Value {
        json!({
            "_id": "@up/lib", "_rev": "3-abc", "name": "@up/lib",
            "dist-tags": {"latest": "1.1.0"},
            "versions": {
                "1.0.0": {"name": "@up/lib", "version": "1.0.0", "description": "d",
                          "scripts": {"postinstall": "node x"},
                          "dist": {"tarball": "https://cdn.example.test/@up/lib/-/lib-1.0.0.tgz",
                                   "shasum": "aa", "integrity": "sha512-bb"}},
                "1.1.0": {"name": "@up/lib", "version": "1.1.0", "dependencies": {"dep": "^1"},
                          "dist": {"tarball": "https://upstream.example.test/@up/lib/-/lib-1.1.0.tgz",
                                   "shasum": "cc"}},
                "9.9.9": {"name": "@up/lib", "version": "9.9.9", "dist": {"tarball": "file:///etc/passwd"}},
                "../x": {"name": "@up/lib", "version": "../x", "dist": {"tarball": "https://h/x.tgz"}}
            },
            "time": {"created": "2026-01-01T00:00:00.000Z", "modified": "2026-02-01T00:00:00.000Z"},
            "readme": "# lib"
        })
    }

    #[test]
    fn tarball_urls_point_at_nmr_and_upstream_urls_are_kept_per_file() {
        let body = serde_json::to_vec(&upstream_doc()).unwrap();
        let d = build("@up/lib", &body, Some("\"e1\"".into()), "MARK").unwrap();
        assert_eq!(d.etag.as_deref(), Some("\"e1\""));
        assert_eq!(
            d.dists,
            vec![
                UplinkDist {
                    filename: "lib-1.0.0.tgz".into(),
                    version: "1.0.0".into(),
                    url: "https://cdn.example.test/@up/lib/-/lib-1.0.0.tgz".into(),
                    integrity: Some("sha512-bb".into()),
                    shasum: Some("aa".into()),
                },
                UplinkDist {
                    filename: "lib-1.1.0.tgz".into(),
                    version: "1.1.0".into(),
                    url: "https://upstream.example.test/@up/lib/-/lib-1.1.0.tgz".into(),
                    integrity: None,
                    shasum: Some("cc".into()),
                },
            ]
        );
        let full: Value = serde_json::from_slice(&d.full).unwrap();
        assert_eq!(
            full["versions"]["1.0.0"]["dist"]["tarball"],
            "\u{0}MARK/@up/lib/-/lib-1.0.0.tgz"
        );
        assert_eq!(
            full["versions"].as_object().unwrap().len(),
            2,
            "unservable versions are left out"
        );
        assert_eq!(full["readme"], "# lib");
        let keys: Vec<&String> = full.as_object().unwrap().keys().collect();
        assert_eq!(
            keys[..4],
            ["_id", "_rev", "name", "dist-tags"],
            "order kept"
        );

        let short: Value = serde_json::from_slice(&d.abbrev).unwrap();
        assert_eq!(short["modified"], "2026-02-01T00:00:00.000Z");
        assert_eq!(short["dist-tags"], json!({"latest": "1.1.0"}));
        let v = &short["versions"]["1.0.0"];
        assert_eq!(v["hasInstallScript"], true);
        assert!(v.get("description").is_none() && v.get("scripts").is_none());
        assert_eq!(v["dist"], full["versions"]["1.0.0"]["dist"]);
        assert_eq!(
            short["versions"]["1.1.0"]["dependencies"],
            json!({"dep": "^1"})
        );
        assert!(short.get("readme").is_none());
        let top: Vec<&String> = short.as_object().unwrap().keys().collect();
        assert!(
            top.iter()
                .all(|k| crate::packument::ABBREVIATED_TOP.contains(&k.as_str())),
            "only the abbreviated format's fields: {top:?}"
        );
    }

    #[test]
    fn documents_for_another_name_or_without_versions_are_refused() {
        let body = serde_json::to_vec(&upstream_doc()).unwrap();
        assert!(build("@up/other", &body, None, "M")
            .unwrap_err()
            .contains("@up/lib"));
        assert!(build("x", br#"{"name":"x"}"#, None, "M")
            .unwrap_err()
            .contains("versions"));
        assert!(build("x", b"<html>", None, "M").is_err());
    }
}

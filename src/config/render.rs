//! `nmr config`: the effective configuration as TOML that nmr reads back as it is, with each
//! value's source beside it and secrets masked.

use super::keys::Key;
use super::layers::Source;
use super::parse::Val;
use std::path::Path;

fn toml_value(v: &Val) -> String {
    match v {
        // JSON string escapes are valid TOML basic-string escapes.
        Val::Text(s) => serde_json::to_string(s).expect("strings serialise"),
        Val::Int(n) => n.to_string(),
        Val::Bool(b) => b.to_string(),
        Val::List(items) => format!(
            "[{}]",
            items
                .iter()
                .map(|i| serde_json::to_string(i).expect("strings serialise"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        // Rendered as tables of their own by `render`.
        Val::Notify(_) => String::new(),
    }
}

/// Renders the effective configuration as TOML that nmr itself can read back, with each value's
/// source as a comment and secrets masked.
pub fn render(entries: &[(&Key, Val, Source)], file: Option<&Path>) -> String {
    let mut out = String::from(
        "# nmr effective configuration: defaults < config file < NMR_* environment < flags\n",
    );
    match file {
        Some(p) => out.push_str(&format!("# config file: {}\n", p.display())),
        None => out.push_str("# config file: none found\n"),
    }
    let mut section = "";
    let mut notify = String::new();
    for (k, v, src) in entries {
        // Arrays of tables must follow every other table, or TOML would read the keys after
        // them as theirs.
        if let Val::Notify(n) = v {
            notify.push_str(&super::notify::render(n, &src.to_string()));
            continue;
        }
        let (sec, name) = k.path.rsplit_once('.').unwrap_or(("", k.path));
        if sec != section {
            out.push_str(&format!("\n[{sec}]\n"));
            section = sec;
        }
        let shown = match v {
            Val::Text(s) if k.secret && k.path == "db.url" => toml_value(&Val::Text(masked_url(s))),
            Val::Text(s) if k.secret && !s.is_empty() => "\"********\"".to_string(),
            _ => toml_value(v),
        };
        out.push_str(&format!("{name} = {shown}  # {src}\n"));
    }
    out.push_str(&notify);
    out
}

/// A URL with the password in its user info replaced by `********`: what the operator needs to
/// recognise the database, without the secret. The password is found as the database client
/// finds it, so whatever the client would send is what is hidden.
pub fn masked_url(url: &str) -> String {
    crate::store::db::pg::mask_password(url, "********")
}

#[cfg(test)]
mod tests {
    use super::super::testing::{inputs, tempdir};
    use super::super::{load, Kind};
    use super::*;

    #[test]
    fn database_urls_show_everything_but_the_password() {
        assert_eq!(
            super::masked_url("postgres://nmr:s3cr@t@db.internal:5432/nmr?sslmode=require"),
            "postgres://nmr:********@db.internal:5432/nmr?sslmode=require"
        );
        assert_eq!(
            super::masked_url("postgres://nmr@db/nmr"),
            "postgres://nmr@db/nmr"
        );
        assert_eq!(super::masked_url(""), "");
        // The client reads the user part up to the last '@', so a raw '/' belongs to the
        // password and is hidden with it.
        assert_eq!(
            super::masked_url("postgres://nmr:pa/ss?w#rd@db/nmr"),
            "postgres://nmr:********@db/nmr"
        );
    }

    #[test]
    fn rendered_config_reads_back_to_the_same_values_and_masks_secrets() {
        let d = tempdir("render");
        let mut i = inputs(&d);
        i.env.push((
            "NMR_SERVER__PUBLIC_URL".into(),
            "https://npm.example.test/".into(),
        ));
        let e = load(&i).unwrap();
        let text = render(&e.entries, e.file.as_deref());
        assert!(text.contains("environment variable NMR_SERVER__PUBLIC_URL"));
        std::fs::write(d.join("nmr.toml"), &text).unwrap();
        let again = load(&inputs(&d)).unwrap();
        assert_eq!(
            again.config.server.public_url.as_deref(),
            Some("https://npm.example.test")
        );
        let values: Vec<&Val> = e.entries.iter().map(|(_, v, _)| v).collect();
        let values_again: Vec<&Val> = again.entries.iter().map(|(_, v, _)| v).collect();
        assert_eq!(values, values_again);

        let secret = Key {
            path: "s3.secret",
            kind: Kind::Text,
            default: "",
            secret: true,
            doc: "",
        };
        let masked = render(
            &[(&secret, Val::Text("hunter2".into()), Source::Default)],
            None,
        );
        assert!(!masked.contains("hunter2") && masked.contains("********"));
    }
}

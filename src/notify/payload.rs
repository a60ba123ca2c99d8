//! The bodies a receiver gets, built when the change commits: nmr's versioned JSON document,
//! a Slack incoming-webhook message, or a Teams message carrying an Adaptive Card (what both
//! Teams' incoming webhooks and its Workflows webhook trigger accept).

use crate::config::{NotifyEvent, NotifyFormat};
use crate::name;
use serde_json::json;

/// The version of the `json` body's shape, in its `schema` field; it changes only when a field
/// changes meaning or goes away (`version` is the package's version).
pub const SCHEMA: u32 = 1;

/// Who changed which package, through which registry URL.
#[derive(Clone, Debug)]
pub struct Source {
    pub package: String,
    /// The user name; `anonymous` when nobody is known (auth type none). Never a token.
    pub actor: String,
    /// The registry's base URL, without a trailing slash.
    pub registry: String,
}

/// One thing that happened to the package.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    pub event: NotifyEvent,
    /// What kind of that event: `publish`; `version` or `package` (unpublish); `add` or `rm`
    /// (dist-tag, owner); `deprecate` or `undeprecate`.
    pub action: &'static str,
    pub version: Option<String>,
    pub tag: Option<String>,
    /// A deprecation's message.
    pub message: Option<String>,
    /// The user an owner change added or removed.
    pub owner: Option<String>,
}

impl Change {
    pub fn new(event: NotifyEvent, action: &'static str) -> Change {
        Change {
            event,
            action,
            version: None,
            tag: None,
            message: None,
            owner: None,
        }
    }

    pub fn version(mut self, v: &str) -> Change {
        self.version = Some(v.to_string());
        self
    }

    pub fn tag(mut self, t: &str) -> Change {
        self.tag = Some(t.to_string());
        self
    }
}

/// The tarball of a version that is still there to download.
fn tarball(src: &Source, c: &Change) -> Option<String> {
    let v = c.version.as_deref()?;
    let gone =
        c.event == NotifyEvent::Unpublish || (c.event == NotifyEvent::DistTag && c.action == "rm");
    (!gone).then(|| {
        format!(
            "{}/{}/-/{}-{v}.tgz",
            src.registry,
            src.package,
            name::basename(&src.package)
        )
    })
}

/// The package's page in the web UI, which chat messages link to.
fn page(src: &Source) -> String {
    format!("{}/-/web/package/{}", src.registry, src.package)
}

/// The body for one receiver. `id` is the delivery's own id (also `X-Nmr-Delivery`), `time`
/// the change's.
pub fn body(format: NotifyFormat, id: &str, time: &str, src: &Source, c: &Change) -> Vec<u8> {
    let v = match format {
        NotifyFormat::Json => json!({
            "schema": SCHEMA,
            "id": id,
            "event": c.event.name(),
            "action": c.action,
            "package": src.package,
            "version": c.version,
            "tag": c.tag,
            "actor": src.actor,
            "time": time,
            "registry": src.registry,
            "tarball": tarball(src, c),
            "message": c.message,
            "owner": c.owner,
        }),
        NotifyFormat::Slack => {
            let link = format!("<{}|{}>", page(src), slack_escape(&subject(src, c)));
            json!({ "text": sentence(src, c, &link, slack_escape) })
        }
        NotifyFormat::Teams => {
            let link = format!("[{}]({})", subject(src, c), page(src));
            json!({
                "type": "message",
                "attachments": [{
                    "contentType": "application/vnd.microsoft.card.adaptive",
                    "content": {
                        "type": "AdaptiveCard",
                        "version": "1.2",
                        "body": [{"type": "TextBlock", "wrap": true, "text": sentence(src, c, &link, |s| s.to_string())}],
                        "actions": [{"type": "Action.OpenUrl", "title": "Open in the registry", "url": page(src)}]
                    }
                }]
            })
        }
    };
    serde_json::to_vec(&v).expect("JSON values serialise")
}

/// `name@version`, or the name alone.
fn subject(src: &Source, c: &Change) -> String {
    match &c.version {
        Some(v) => format!("{}@{v}", src.package),
        None => src.package.clone(),
    }
}

/// Slack reads `&`, `<` and `>` as markup; everything else in the text is shown as it is.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// One sentence for people: who did what, with `link` standing for the package (and version).
fn sentence(src: &Source, c: &Change, link: &str, esc: fn(&str) -> String) -> String {
    let actor = esc(&src.actor);
    let tag = esc(c.tag.as_deref().unwrap_or(""));
    match (c.event, c.action) {
        (NotifyEvent::Publish, _) if c.tag.is_some() => {
            format!("{actor} published {link} (dist-tag {tag})")
        }
        (NotifyEvent::Publish, _) => format!("{actor} published {link}"),
        (NotifyEvent::Unpublish, "package") => {
            format!("{actor} unpublished the whole package {link}")
        }
        (NotifyEvent::Unpublish, _) => format!("{actor} unpublished {link}"),
        (NotifyEvent::DistTag, "rm") => format!("{actor} removed the dist-tag {tag} ({link})"),
        (NotifyEvent::DistTag, _) => format!("{actor} set the dist-tag {tag} to {link}"),
        (NotifyEvent::Deprecate, "undeprecate") => format!("{actor} undeprecated {link}"),
        (NotifyEvent::Deprecate, _) => format!(
            "{actor} deprecated {link}: {}",
            esc(c.message.as_deref().unwrap_or(""))
        ),
        (NotifyEvent::Owner, action) => {
            let owner = esc(c.owner.as_deref().unwrap_or(""));
            if action == "rm" {
                format!("{actor} removed {owner} from the owners of {link}")
            } else {
                format!("{actor} made {owner} an owner of {link}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn src() -> Source {
        Source {
            package: "@acme/ui".into(),
            actor: "alice <&>".into(),
            registry: "http://127.0.0.1:4873".into(),
        }
    }

    fn parse(b: Vec<u8>) -> Value {
        serde_json::from_slice(&b).unwrap()
    }

    #[test]
    fn the_json_body_carries_every_documented_field() {
        let c = Change::new(NotifyEvent::Publish, "publish")
            .version("1.2.0")
            .tag("latest");
        let b = parse(body(
            NotifyFormat::Json,
            "d1",
            "2026-01-01T00:00:00.000Z",
            &src(),
            &c,
        ));
        assert_eq!(
            b,
            json!({"schema": 1, "id": "d1", "event": "publish", "action": "publish",
                "package": "@acme/ui", "version": "1.2.0", "tag": "latest", "actor": "alice <&>",
                "time": "2026-01-01T00:00:00.000Z", "registry": "http://127.0.0.1:4873",
                "tarball": "http://127.0.0.1:4873/@acme/ui/-/ui-1.2.0.tgz",
                "message": null, "owner": null})
        );
        let gone = Change::new(NotifyEvent::Unpublish, "version").version("1.2.0");
        let b = parse(body(NotifyFormat::Json, "d2", "t", &src(), &gone));
        assert_eq!(b["tarball"], Value::Null);
    }

    #[test]
    fn chat_bodies_say_what_happened_with_a_link_and_escape_slack_markup() {
        let c = Change::new(NotifyEvent::Publish, "publish")
            .version("1.2.0")
            .tag("latest");
        let slack = parse(body(NotifyFormat::Slack, "d", "t", &src(), &c));
        assert_eq!(
            slack,
            json!({"text": "alice &lt;&amp;&gt; published <http://127.0.0.1:4873/-/web/package/@acme/ui|@acme/ui@1.2.0> (dist-tag latest)"})
        );
        let teams = parse(body(NotifyFormat::Teams, "d", "t", &src(), &c));
        let card = &teams["attachments"][0]["content"];
        assert_eq!(card["type"], "AdaptiveCard");
        assert!(card["body"][0]["text"]
            .as_str()
            .unwrap()
            .contains("[@acme/ui@1.2.0](http://127.0.0.1:4873/-/web/package/@acme/ui)"));
    }
}

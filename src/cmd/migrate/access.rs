//! `--verdaccio-config config.yaml`: Verdaccio's `packages:` access rules, and what each means
//! in nmr. Only that block is read, by indentation: its shape is fixed (a pattern, then
//! `access`, `publish`, `unpublish`, `proxy` with a word list, an inline `[a, b]` list or a
//! `- a` block list), so a YAML library would be a large dependency for a dozen lines.
//!
//! The rules are printed with the nmr settings they correspond to. `auth.read` and the uplink
//! settings are the operator's configuration, which an import never rewrites; the rules that
//! map exactly onto an organisation (a whole scope published by named users) are picked out
//! here ([`plan`]) and applied after the import, with local auth, by `scopes`.

use crate::auth::orgs;
use crate::cmd::error::{Error, Result};
use std::path::Path;

/// One entry of `packages:`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Rule {
    pub pattern: String,
    pub access: Vec<String>,
    pub publish: Vec<String>,
    pub unpublish: Vec<String>,
    pub proxy: Vec<String>,
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// A line without its comment (a `#` at the start or after a space, outside quotes).
fn uncomment(line: &str) -> &str {
    let mut quote = None;
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '#') if prev == ' ' || prev == '\t' => return line[..i].trim_end(),
            _ => {}
        }
        prev = c;
    }
    line.trim_end()
}

fn unquote(s: &str) -> &str {
    let s = s.trim();
    for q in ['\'', '"'] {
        if let Some(inner) = s.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return inner;
        }
    }
    s
}

/// The words of a value: `a b`, `[a, b]` or a quoted string of either.
fn words(value: &str) -> Vec<String> {
    let v = unquote(value);
    let v = v
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(v);
    v.split([',', ' ', '\t'])
        .map(unquote)
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// Reads the `packages:` block of a Verdaccio config.
pub fn parse(text: &str) -> std::result::Result<Vec<Rule>, String> {
    let mut lines = text.lines().enumerate();
    for (_, l) in lines.by_ref() {
        if uncomment(l) == "packages:" {
            break;
        }
    }
    let mut rules: Vec<Rule> = Vec::new();
    let mut pattern_indent = None;
    let mut key: Option<String> = None;
    for (n, raw) in lines {
        let line = uncomment(raw);
        if line.trim().is_empty() {
            continue;
        }
        let ind = indent(line);
        if ind == 0 {
            break;
        }
        let body = line.trim();
        let at = || format!("line {}", n + 1);
        match pattern_indent {
            None => pattern_indent = Some(ind),
            Some(p) if ind < p => return Err(format!("{}: unexpected indentation", at())),
            _ => {}
        }
        if Some(ind) == pattern_indent {
            let pattern = body
                .strip_suffix(':')
                .ok_or_else(|| format!("{}: expected a package pattern followed by ':'", at()))?;
            rules.push(Rule {
                pattern: unquote(pattern).to_string(),
                ..Rule::default()
            });
            key = None;
            continue;
        }
        let rule = rules
            .last_mut()
            .ok_or_else(|| format!("{}: a setting before any package pattern", at()))?;
        let (k, value) = if let Some(item) = body.strip_prefix("- ") {
            let k = key
                .clone()
                .ok_or_else(|| format!("{}: a list item outside a setting", at()))?;
            (k, item)
        } else {
            let (k, v) = body
                .split_once(':')
                .ok_or_else(|| format!("{}: expected `setting: value`", at()))?;
            key = Some(k.trim().to_string());
            (k.trim().to_string(), v)
        };
        let list = match k.as_str() {
            "access" => &mut rule.access,
            "publish" => &mut rule.publish,
            "unpublish" => &mut rule.unpublish,
            "proxy" => &mut rule.proxy,
            // `storage:` and plugin settings say nothing about access.
            _ => continue,
        };
        list.extend(words(value));
    }
    Ok(rules)
}

/// Whether a Verdaccio group stands for anyone, for any logged-in user, or for neither.
fn group(who: &[String]) -> &'static str {
    let has = |names: &[&str]| who.iter().any(|w| names.contains(&w.as_str()));
    if has(&["$all", "$anonymous", "@all", "@anonymous"]) {
        "anyone"
    } else if has(&["$authenticated", "@authenticated"]) {
        "accounts"
    } else if who.is_empty() {
        "nobody"
    } else {
        "named"
    }
}

/// What one rule means in nmr, a line per setting.
pub fn describe(rule: &Rule) -> Vec<String> {
    let mut lines = Vec::new();
    let names = |w: &[String]| w.join(" ");
    lines.push(match group(&rule.access) {
        "anyone" => "access: anyone may install: auth.read = \"public\"".to_string(),
        "accounts" => "access: accounts only: auth.read = \"authenticated\" (the default)".into(),
        "nobody" => "access: not set (Verdaccio then lets nobody read): nmr has no per-package read lists; auth.read applies, and with auth.read = \"members\" only an organisation's members read its packages".into(),
        _ => format!(
            "access: only {}: nmr has no per-package read lists; closest is auth.read = \"members\" (the members of an organisation read all of its packages, and nobody else), else auth.read = \"authenticated\"",
            names(&rule.access)
        ),
    });
    let plan = plan(rule);
    lines.push(match group(&rule.publish) {
        "anyone" | "accounts" => "publish: any account may publish a new name (auth.type = \"local\"); its first publisher becomes its maintainer; imported packages without maintainers wait for `nmr package add-owner PACKAGE USER`".to_string(),
        "nobody" => "publish: not set: in nmr any account may publish a new name".into(),
        _ => match &plan {
            Some(p) => format!(
                "publish: {}: with auth.type = \"local\", applied after the import: the organisation @{org} with them as members (developers; a new organisation's owner is the first with an account) on the team @{org}:{team}, which may publish every @{org} package here",
                names(&rule.publish),
                org = p.org,
                team = TEAM
            ),
            None => format!(
                "publish: {}: not applied (only a whole scope, '@scope/*', published by named users maps onto an organisation and its team): `nmr package add-owner PACKAGE USER` or `npm owner add USER PACKAGE` for each package, or a team with `nmr team grant`",
                names(&rule.publish)
            ),
        },
    });
    if !rule.unpublish.is_empty() {
        lines.push(format!(
            "unpublish: {}: in nmr the package's maintainers unpublish",
            names(&rule.unpublish)
        ));
    }
    let scope = rule
        .pattern
        .strip_suffix("/*")
        .filter(|s| s.starts_with('@') && !s.contains(['*', '/']));
    lines.push(match (rule.proxy.is_empty(), scope) {
        (false, _) => format!(
            "proxy: {}: names not held here go upstream: uplink.mode = \"proxy\" with uplink.url",
            names(&rule.proxy)
        ),
        (true, Some(s)) => format!(
            "no proxy: {s} never goes upstream: uplink.private_scopes = [\"{s}\"]"
        ),
        (true, None) => "no proxy: names matching it are answered 404 when not here (uplink.mode = \"off\" for a registry without an upstream)".into(),
    });
    lines
}

/// Reads the `packages:` rules of a config file; a file that cannot be read is a usage error,
/// found before anything is imported.
pub fn read(file: &Path) -> Result<Vec<Rule>> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| Error::Usage(format!("cannot read {}: {e}", file.display())))?;
    parse(&text).map_err(|e| Error::Usage(format!("{}: packages: {e}", file.display())))
}

/// Prints every rule with its meaning.
pub fn print(file: &Path, rules: &[Rule], out: &mut dyn std::io::Write) {
    if rules.is_empty() {
        let _ = writeln!(out, "{}: no packages: rules", file.display());
        return;
    }
    let _ = writeln!(
        out,
        "access rules in {} and what they are in nmr (auth.read and the uplink settings are nmr.toml's, never rewritten by an import; publish lists of whole scopes are applied as organisations and teams after the import):",
        file.display()
    );
    for r in rules {
        let _ = writeln!(out, "  '{}'", r.pattern);
        for l in describe(r) {
            let _ = writeln!(out, "    {l}");
        }
    }
}

/// The team a scope's publishers are put on. One fixed name, so that a second run finds it.
pub const TEAM: &str = "publishers";

/// A rule that is applied: the organisation (without `@`) and the users its `publish` names.
#[derive(Debug, PartialEq, Eq)]
pub struct Plan {
    pub org: String,
    pub users: Vec<String>,
}

/// The scope of a pattern that covers exactly one whole scope.
fn whole_scope(pattern: &str) -> Option<&str> {
    let scope = pattern
        .strip_suffix("/**")
        .or_else(|| pattern.strip_suffix("/*"))?;
    let bare = scope.strip_prefix('@')?;
    // `@acme-*/*` covers several scopes (Verdaccio's patterns are globs); a name that cannot
    // be an organisation maps to none.
    if bare.contains(['*', '?', '[', ']', '{', '}', '!', '+', '(', ')']) {
        return None;
    }
    orgs::check_org_name(bare).ok()
}

/// Whether `rule` maps exactly onto an organisation: a whole scope, published by named users
/// only. A group anywhere in the list (`$authenticated`, `@all`, a plugin's `$group` or
/// `@group`) stands for people nmr cannot list, so such a rule is printed only.
pub fn plan(rule: &Rule) -> Option<Plan> {
    let org = whole_scope(&rule.pattern)?;
    if rule.publish.is_empty() || rule.publish.iter().any(|w| w.starts_with(['$', '@'])) {
        return None;
    }
    let mut users: Vec<String> = Vec::new();
    for u in &rule.publish {
        if !users.contains(u) {
            users.push(u.clone());
        }
    }
    Some(Plan {
        org: org.to_string(),
        users,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "\
storage: ./storage   # where packages live
auth:
  htpasswd:
    file: ./htpasswd
packages:
  '@acme/*':
    access: $authenticated
    publish: alice bob   # two people
    unpublish: [alice]
  \"@open/*\":
    access:
      - $all
    publish: $authenticated
    proxy: upstream
  '**':
    access: $all
    publish: $authenticated
    proxy: upstream
middlewares:
  audit:
    enabled: true
";

    #[test]
    fn reads_the_packages_block_only() {
        let rules = parse(CONFIG).unwrap();
        assert_eq!(rules.len(), 3);
        assert_eq!(
            rules[0],
            Rule {
                pattern: "@acme/*".into(),
                access: vec!["$authenticated".into()],
                publish: vec!["alice".into(), "bob".into()],
                unpublish: vec!["alice".into()],
                proxy: vec![],
            }
        );
        assert_eq!(rules[1].pattern, "@open/*");
        assert_eq!(rules[1].access, ["$all"]);
        assert_eq!(rules[2].proxy, ["upstream"]);
        assert_eq!(parse("storage: x\n").unwrap(), vec![]);
        assert!(parse("packages:\n  '**':\n    access\n").is_err());
    }

    #[test]
    fn rules_map_to_nmr_settings() {
        let rules = parse(CONFIG).unwrap();
        let acme = describe(&rules[0]).join("\n");
        assert!(acme.contains("auth.read = \"authenticated\""), "{acme}");
        assert!(
            acme.contains("alice bob: with auth.type = \"local\", applied after the import: the organisation @acme"),
            "{acme}"
        );
        assert!(acme.contains("the team @acme:publishers"), "{acme}");
        assert!(!acme.contains("no teams"), "{acme}");
        assert!(
            acme.contains("uplink.private_scopes = [\"@acme\"]"),
            "{acme}"
        );
        let open = describe(&rules[1]).join("\n");
        assert!(open.contains("auth.read = \"public\""), "{open}");
        assert!(open.contains("uplink.mode = \"proxy\""), "{open}");
        let other = describe(&Rule {
            pattern: "@acme/x-*".into(),
            access: vec!["alice".into()],
            publish: vec!["alice".into()],
            ..Rule::default()
        })
        .join("\n");
        assert!(other.contains("publish: alice: not applied"), "{other}");
        assert!(other.contains("auth.read = \"members\""), "{other}");
    }
}

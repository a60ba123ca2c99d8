//! An organisation's page (local auth): its packages that the viewer may read, its members
//! with their roles, and its teams with their members and packages. With `auth.read =
//! members` only members see it; to anyone else it is a page about nothing.

use super::html::Html;
use super::layout::render;
use super::{package_path, root};
use crate::app::Ctx;
use crate::auth::{self, orgs};
use crate::config::AuthType;
use crate::error::{Error, Result};
use crate::http::{Request, Response};
use crate::store::meta;

/// `GET /-/web/org/<org>`.
pub fn page(ctx: &mut Ctx, _req: &mut Request, org: &str) -> Result<Response> {
    orgs::check_org_name(org)?;
    if ctx.app.config.auth.kind != AuthType::Local {
        return Err(Error::NotFound(
            "organisations exist only with local accounts (auth.type = local)".into(),
        ));
    }
    let name = crate::api::org::visible_to(ctx, org, ctx.who.name())?;
    let names = meta::scope_packages(ctx.db, &name)?;
    let packages = auth::readable(ctx, names, |n| n)?;
    let members = meta::members(ctx.db, &name)?;
    let mut teams = Vec::new();
    for (team, description) in meta::teams(ctx.db, &name)? {
        let users = meta::team_members(ctx.db, &name, &team)?;
        let granted = meta::team_packages(ctx.db, &name, &team)?;
        let granted = auth::readable(ctx, granted, |(p, _)| p)?;
        teams.push((team, description, users, granted));
    }
    let root = root(ctx);
    let title = format!("@{name}");
    Ok(render(ctx, 200, &title, "", |h: &mut Html| {
        h.el("h1", &[], &title);
        h.wrap("div", &[("class", "columns")], |h| {
            h.wrap("section", &[], |h| {
                h.el("h2", &[], &format!("Packages ({})", packages.len()));
                if packages.is_empty() {
                    h.el(
                        "p",
                        &[("class", "muted")],
                        "No package here that you may read.",
                    );
                }
                h.wrap("ul", &[("class", "links")], |h| {
                    for p in &packages {
                        h.wrap("li", &[], |h| {
                            h.el("a", &[("href", &package_path(&root, p))], p);
                        });
                    }
                });
            });
            h.wrap("aside", &[], |h| {
                h.el("h2", &[], &format!("Members ({})", members.len()));
                h.wrap("ul", &[("class", "people")], |h| {
                    for (user, role) in &members {
                        h.wrap("li", &[], |h| {
                            h.text(user);
                            h.literal(" ");
                            h.el("span", &[("class", "muted")], role);
                        });
                    }
                });
                h.el("h2", &[], &format!("Teams ({})", teams.len()));
                for (team, description, users, granted) in &teams {
                    h.el("h3", &[("class", "team")], &format!("{name}:{team}"));
                    if !description.is_empty() {
                        h.el("p", &[("class", "muted")], description);
                    }
                    h.el("p", &[], &format!("Members: {}", list(users)));
                    h.wrap("ul", &[("class", "links")], |h| {
                        for (p, write) in granted {
                            h.wrap("li", &[], |h| {
                                h.el("a", &[("href", &package_path(&root, p))], p);
                                h.literal(" ");
                                let may = orgs::permissions_name(*write);
                                h.el("span", &[("class", "muted")], may);
                            });
                        }
                    });
                }
            });
        });
    }))
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

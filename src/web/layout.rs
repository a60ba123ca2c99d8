//! The frame every page shares: the document head (stylesheet, icon, viewport), the header with
//! the search box and who is logged in, and the footer.

use super::html::Html;
use super::{asset_path, root};
use crate::app::Ctx;
use crate::auth::Identity;
use crate::config::AuthType;
use crate::http::Response;

/// A whole page as a response: the frame around what `main` writes. `title` goes before
/// " · nmr" (empty for the home page); `query` is what the search box shows.
pub fn render(
    ctx: &Ctx,
    status: u16,
    title: &str,
    query: &str,
    main: impl FnOnce(&mut Html),
) -> Response {
    super::page(
        status,
        document(ctx, title, query, main),
        super::remote_images(ctx),
    )
}

fn document(ctx: &Ctx, title: &str, query: &str, main: impl FnOnce(&mut Html)) -> String {
    let root = root(ctx);
    let mut h = Html::with_capacity(16 * 1024);
    h.literal("<!doctype html>");
    h.open("html", &[("lang", "en")]);
    h.wrap("head", &[], |h| {
        h.open("meta", &[("charset", "utf-8")]);
        h.open(
            "meta",
            &[
                ("name", "viewport"),
                ("content", "width=device-width, initial-scale=1"),
            ],
        );
        h.open(
            "meta",
            &[("name", "color-scheme"), ("content", "light dark")],
        );
        let title = if title.is_empty() {
            "nmr".to_string()
        } else {
            format!("{title} · nmr")
        };
        h.el("title", &[], &title);
        h.open(
            "link",
            &[("rel", "stylesheet"), ("href", &asset_path(&root, "nmr"))],
        );
        h.open(
            "link",
            &[
                ("rel", "icon"),
                ("type", "image/svg+xml"),
                ("href", &asset_path(&root, "icon")),
            ],
        );
    });
    h.open("body", &[]);
    header(ctx, &mut h, &root, query);
    h.wrap("main", &[("class", "page")], main);
    h.wrap("footer", &[("class", "site")], |h| {
        h.wrap("div", &[("class", "bar")], |h| {
            h.text(concat!("nmr ", env!("CARGO_PKG_VERSION")));
            h.literal(" · ");
            h.text("a private npm registry");
        });
    });
    h.close("body").close("html");
    h.finish()
}

fn header(ctx: &Ctx, h: &mut Html, root: &str, query: &str) {
    h.open("header", &[("class", "site")]);
    h.open("div", &[("class", "bar")]);
    h.wrap(
        "a",
        &[("class", "brand"), ("href", &format!("{root}/"))],
        |h| {
            h.open(
                "img",
                &[
                    ("src", &asset_path(root, "icon")),
                    ("alt", ""),
                    ("width", "28"),
                    ("height", "28"),
                ],
            );
            h.el("span", &[], "nmr");
        },
    );
    search_form(h, root, query, "search");
    h.wrap("div", &[("class", "session")], |h| match &ctx.who {
        Identity::Anyone => {
            h.el(
                "span",
                &[
                    ("class", "pill"),
                    ("title", "auth.type = none: anyone may read and publish"),
                ],
                "open registry",
            );
        }
        Identity::Nobody if ctx.app.config.auth.kind != AuthType::None => {
            h.el("a", &[("href", &format!("{root}/-/web/login"))], "Log in");
        }
        Identity::Nobody => {}
        who => {
            h.el("span", &[("class", "user")], who.name().unwrap_or(""));
            h.wrap(
                "form",
                &[
                    ("method", "post"),
                    ("action", &format!("{root}/-/web/logout")),
                ],
                |h| {
                    h.el(
                        "button",
                        &[("class", "link"), ("type", "submit")],
                        "Log out",
                    );
                },
            );
        }
    });
    h.close("div").close("header");
}

/// The search box: in the header (`class = "search"`) and on the home page (`"search big"`).
pub fn search_form(h: &mut Html, root: &str, query: &str, class: &'static str) {
    h.wrap(
        "form",
        &[
            ("class", class),
            ("role", "search"),
            ("method", "get"),
            ("action", &format!("{root}/-/web/search")),
        ],
        |h| {
            h.open(
                "input",
                &[
                    ("type", "search"),
                    ("name", "q"),
                    ("value", query),
                    ("placeholder", "Search packages"),
                    ("aria-label", "Search packages"),
                ],
            );
            h.el("button", &[("type", "submit")], "Search");
        },
    );
}

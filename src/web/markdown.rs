//! README Markdown to HTML with pulldown-cmark, made safe to show: raw HTML is shown as text,
//! links keep only `http(s):`, `mailto:` and relative targets, and images only `http(s):`
//! sources, and none where the registry is private. Anything else keeps its text and loses its
//! target. Table alignment becomes a class, since the pages' CSP refuses the inline styles
//! pulldown-cmark would write.

use super::html::Markup;
use pulldown_cmark::{Alignment, CodeBlockKind, CowStr, Event, Options, Parser, Tag, TagEnd};

/// Longest README rendered; the rest is cut (at a character boundary) with a note.
pub const MAX_README: usize = 512 * 1024;

/// The scheme of a URL as a browser would read it, lower-cased; `None` for a relative URL.
/// Browsers drop ASCII tabs and newlines anywhere in a URL and leading control characters and
/// spaces, so `java\tscript:` is still `javascript:`; do the same before looking.
fn scheme(url: &str) -> Option<String> {
    let cleaned: String = url
        .trim_start_matches(|c: char| c <= ' ')
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect();
    let end = cleaned.find([':', '/', '?', '#'])?;
    cleaned[end..]
        .starts_with(':')
        .then(|| cleaned[..end].to_ascii_lowercase())
}

/// Whether a link target may be followed from a README.
fn link_ok(url: &str) -> bool {
    match scheme(url) {
        None => true,
        Some(s) => matches!(s.as_str(), "http" | "https" | "mailto"),
    }
}

/// Whether an image may be loaded from a README: absolute web URLs only.
fn image_ok(url: &str) -> bool {
    matches!(scheme(url).as_deref(), Some("http" | "https"))
}

/// Where the cells of the table being written stand, so each aligned cell gets its class.
#[derive(Default)]
struct Table {
    aligns: Vec<Alignment>,
    in_head: bool,
    cell: usize,
}

impl Table {
    /// The event that opens the next cell: unchanged when the column has no alignment, else the
    /// cell tag with an `align-*` class (the stylesheet's rules) in place of a `style`.
    fn open_cell(&self) -> Event<'static> {
        let class = match self.aligns.get(self.cell) {
            Some(Alignment::Left) => "align-left",
            Some(Alignment::Center) => "align-center",
            Some(Alignment::Right) => "align-right",
            Some(Alignment::None) | None => return Event::Start(Tag::TableCell),
        };
        let tag = if self.in_head { "th" } else { "td" };
        Event::InlineHtml(CowStr::from(format!("<{tag} class=\"{class}\">")))
    }
}

/// Renders README Markdown to safe HTML. Without `remote_images` every image shows its alt
/// text instead: a private package's reader must not be announced to an image's host.
pub fn render(source: &str, remote_images: bool) -> Markup {
    let (source, cut) = if source.len() > MAX_README {
        let mut end = MAX_README;
        while !source.is_char_boundary(end) {
            end -= 1;
        }
        (&source[..end], true)
    } else {
        (source, false)
    };
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_FOOTNOTES;
    // Whether each open link or image was kept, so its end is dropped with its start.
    let mut kept: Vec<bool> = Vec::new();
    let mut table = Table::default();
    let events = Parser::new_ext(source, options).filter_map(|ev| match ev {
        // The writer is told no alignment, so it writes no `style`; the cells carry classes.
        Event::Start(Tag::Table(aligns)) => {
            let plain = vec![Alignment::None; aligns.len()];
            table = Table {
                aligns,
                ..Table::default()
            };
            Some(Event::Start(Tag::Table(plain)))
        }
        Event::Start(Tag::TableHead) => {
            (table.in_head, table.cell) = (true, 0);
            Some(ev)
        }
        Event::End(TagEnd::TableHead) => {
            table.in_head = false;
            Some(ev)
        }
        Event::Start(Tag::TableRow) => {
            table.cell = 0;
            Some(ev)
        }
        Event::Start(Tag::TableCell) => Some(table.open_cell()),
        Event::End(TagEnd::TableCell) => {
            table.cell += 1;
            Some(ev)
        }
        Event::Html(raw) | Event::InlineHtml(raw) => Some(Event::Text(raw)),
        // An HTML block becomes a code block, so its escaped source keeps its lines.
        Event::Start(Tag::HtmlBlock) => Some(Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(
            CowStr::Borrowed("html"),
        )))),
        Event::End(TagEnd::HtmlBlock) => Some(Event::End(TagEnd::CodeBlock)),
        Event::Start(Tag::Link { ref dest_url, .. }) => {
            let ok = link_ok(dest_url);
            kept.push(ok);
            ok.then_some(ev)
        }
        Event::Start(Tag::Image { ref dest_url, .. }) => {
            let ok = remote_images && image_ok(dest_url);
            kept.push(ok);
            // An image left out shows its alt text, which the writer emits as plain text.
            ok.then_some(ev)
        }
        Event::End(TagEnd::Link | TagEnd::Image) => kept.pop().unwrap_or(false).then_some(ev),
        other => Some(other),
    });
    let mut out = String::with_capacity(source.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut out, events);
    if cut {
        out.push_str("<p class=\"note\">This README is longer than the registry shows; the rest is in the package.</p>");
    }
    Markup::trusted(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn html(md: &str) -> String {
        render(md, true).as_str().to_string()
    }

    #[test]
    fn markdown_renders() {
        let h = html("# Title\n\nSome *text* and `code`.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n");
        assert!(h.contains("<h1>Title</h1>"), "{h}");
        assert!(
            h.contains("<em>text</em>") && h.contains("<code>code</code>"),
            "{h}"
        );
        assert!(h.contains("<table>"), "{h}");
    }

    #[test]
    fn table_alignment_is_a_class_not_an_inline_style() {
        let h = html("| l | c | r | n |\n|:--|:-:|--:|---|\n| 1 | 2 | 3 | 4 |\n");
        assert!(!h.contains("style="), "the CSP drops inline styles: {h}");
        for cell in [
            "<th class=\"align-left\">l</th>",
            "<th class=\"align-center\">c</th>",
            "<th class=\"align-right\">r</th>",
            "<th>n</th>",
            "<td class=\"align-left\">1</td>",
            "<td class=\"align-center\">2</td>",
            "<td class=\"align-right\">3</td>",
            "<td>4</td>",
        ] {
            assert!(h.contains(cell), "no {cell} in {h}");
        }
    }

    #[test]
    fn raw_html_is_shown_as_text() {
        let h = html("<script>alert(1)</script>\n\ninline <img src=x onerror=alert(1)> here\n");
        assert!(!h.contains("<script") && !h.contains("<img"), "{h}");
        assert!(h.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{h}");
        assert!(h.contains("&lt;img src=x onerror=alert(1)&gt;"), "{h}");
    }

    #[test]
    fn only_safe_link_targets_survive() {
        for bad in [
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            "java\tscript:alert(1)",
            "vbscript:x",
            "data:text/html,<script>alert(1)</script>",
            " javascript:alert(1)",
        ] {
            let h = html(&format!("[click](<{bad}>)"));
            assert!(!h.contains("href"), "{bad}: {h}");
            assert!(h.contains("click"), "the text stays: {h}");
        }
        for good in [
            "https://example.test/x",
            "http://e.test",
            "mailto:a@e.test",
            "docs/a.md",
            "#usage",
            "/abs",
            "?q=1",
            "docs/a:b",
        ] {
            let h = html(&format!("[go](<{good}>)"));
            assert!(h.contains("href"), "{good}: {h}");
        }
    }

    #[test]
    fn relative_urls_with_a_colon_after_a_slash_are_relative() {
        assert_eq!(scheme("docs/a:b"), None);
        assert_eq!(scheme("a:b/c").as_deref(), Some("a"));
    }

    #[test]
    fn images_load_only_from_web_urls() {
        let h =
            html("![logo](https://e.test/logo.png) ![bad](javascript:alert(1)) ![rel](logo.png)");
        assert_eq!(h.matches("<img").count(), 1, "{h}");
        assert!(
            h.contains("bad") && h.contains("rel"),
            "alt text stays: {h}"
        );
        let h = html("![x](<https://e.test/a.png\" onerror=\"alert(1)>)");
        assert!(
            h.contains("<img") && !h.contains("\" onerror"),
            "quotes stay in the URL: {h}"
        );
    }

    #[test]
    fn a_private_registry_shows_no_remote_image() {
        let md = "[![badge](https://e.test/b.svg)](https://e.test/ci) ![logo](http://e.test/l.png)";
        let h = render(md, false).as_str().to_string();
        assert!(!h.contains("<img") && !h.contains("b.svg"), "{h}");
        assert!(
            h.contains("badge") && h.contains("logo") && h.contains("href=\"https://e.test/ci\""),
            "alt text and links stay: {h}"
        );
    }

    #[test]
    fn nested_links_and_images_keep_their_balance() {
        let h = html("[![badge](https://e.test/b.svg)](javascript:x) [ok](https://e.test)");
        assert!(
            h.contains("<img") && h.contains("href=\"https://e.test\""),
            "{h}"
        );
        assert_eq!(h.matches("<a ").count(), h.matches("</a>").count(), "{h}");
    }

    #[test]
    fn huge_readmes_are_cut() {
        let big = "é".repeat(MAX_README);
        let h = html(&big);
        assert!(h.contains("longer than the registry shows"));
    }
}

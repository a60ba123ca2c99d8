//! A small HTML builder that escapes by default. Tag and attribute names are `&'static str`
//! (written in this crate, never taken from a request or a package); every text and attribute
//! value goes through [`escape`]. The only way to add markup unescaped is a [`Markup`], which
//! only the Markdown renderer makes.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use std::fmt::Write;

/// Markup that is safe to insert as it is: made by [`crate::web::markdown`] from events it
/// filtered, escaped by pulldown-cmark's writer.
pub struct Markup(String);

impl Markup {
    /// Wraps HTML that trusted code produced. Crate-private so no handler can wrap request text.
    pub(crate) fn trusted(html: String) -> Markup {
        Markup(html)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Appends `s` with the five characters that matter in text and quoted attributes escaped.
pub fn escape_into(out: &mut String, s: &str) {
    let mut last = 0;
    for (i, b) in s.bytes().enumerate() {
        let rep = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&#39;",
            _ => continue,
        };
        out.push_str(&s[last..i]);
        out.push_str(rep);
        last = i + 1;
    }
    out.push_str(&s[last..]);
}

/// `s` escaped for text or a quoted attribute.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_into(&mut out, s);
    out
}

/// An attribute list: names are ours, values are escaped when written.
pub type Attrs<'a> = &'a [(&'static str, &'a str)];

/// A document being built.
#[derive(Default)]
pub struct Html {
    out: String,
}

impl Html {
    /// An empty document with room for `n` bytes.
    pub fn with_capacity(n: usize) -> Html {
        Html {
            out: String::with_capacity(n),
        }
    }

    /// Markup written by this crate: a doctype, or a fixed snippet with no data in it.
    pub fn literal(&mut self, s: &'static str) -> &mut Html {
        self.out.push_str(s);
        self
    }

    /// Text, escaped.
    pub fn text(&mut self, s: &str) -> &mut Html {
        escape_into(&mut self.out, s);
        self
    }

    /// Formatted text, escaped (for numbers and short composed strings).
    pub fn textf(&mut self, args: std::fmt::Arguments) -> &mut Html {
        let mut s = String::new();
        let _ = s.write_fmt(args);
        self.text(&s)
    }

    /// A start tag: `<tag a="v">`.
    pub fn open(&mut self, tag: &'static str, attrs: Attrs) -> &mut Html {
        self.out.push('<');
        self.out.push_str(tag);
        for (name, value) in attrs {
            self.out.push(' ');
            self.out.push_str(name);
            self.out.push_str("=\"");
            escape_into(&mut self.out, value);
            self.out.push('"');
        }
        self.out.push('>');
        self
    }

    /// An end tag.
    pub fn close(&mut self, tag: &'static str) -> &mut Html {
        self.out.push_str("</");
        self.out.push_str(tag);
        self.out.push('>');
        self
    }

    /// An element holding only text.
    pub fn el(&mut self, tag: &'static str, attrs: Attrs, text: &str) -> &mut Html {
        self.open(tag, attrs).text(text).close(tag)
    }

    /// An element whose content `inner` writes.
    pub fn wrap(
        &mut self,
        tag: &'static str,
        attrs: Attrs,
        inner: impl FnOnce(&mut Html),
    ) -> &mut Html {
        self.open(tag, attrs);
        inner(self);
        self.close(tag)
    }

    /// Trusted markup (a rendered README).
    pub fn markup(&mut self, m: &Markup) -> &mut Html {
        self.out.push_str(&m.0);
        self
    }

    /// The finished document.
    pub fn finish(self) -> String {
        self.out
    }
}

/// What [`url_part`] encodes: everything but the unreserved characters (`A-Z a-z 0-9 - . _ ~`).
const NOT_UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes one URL path segment (or query value): everything but unreserved
/// characters, so a name or version can never end the segment or start a new part of the URL.
pub fn url_part(s: &str) -> String {
    utf8_percent_encode(s, NOT_UNRESERVED).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_attributes_are_escaped() {
        let mut h = Html::default();
        h.open("a", &[("href", "/x?a=1&b=\"2\"")])
            .text("<script>alert('x')</script>")
            .close("a");
        assert_eq!(
            h.finish(),
            "<a href=\"/x?a=1&amp;b=&quot;2&quot;\">&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;</a>"
        );
    }

    #[test]
    fn nesting_writes_balanced_tags() {
        let mut h = Html::default();
        h.wrap("ul", &[], |h| {
            h.el("li", &[("class", "a")], "1 & 2");
        });
        assert_eq!(h.finish(), "<ul><li class=\"a\">1 &amp; 2</li></ul>");
    }

    #[test]
    fn url_parts_cannot_break_out_of_a_segment() {
        assert_eq!(url_part("@acme/widget"), "%40acme%2Fwidget");
        assert_eq!(url_part("1.0.0-rc.1+b"), "1.0.0-rc.1%2Bb");
        assert_eq!(url_part("a b?#"), "a%20b%3F%23");
    }
}

//! How pages write numbers, sizes and times for people: "12.3 kB", "3 days ago", "1 version".

use crate::time::parse as parse_millis;

/// A byte count in SI units, as npm prints sizes.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if n < 1000 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1000.0;
    let mut unit = 0;
    while v >= 999.95 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// `n` and the noun, made plural when `n` is not 1.
pub fn count(n: i64, noun: &str) -> String {
    let n_text = thousands(n);
    if n == 1 {
        format!("{n_text} {noun}")
    } else {
        format!("{n_text} {noun}s")
    }
}

/// 12345 as "12,345".
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// How long before `now_ms` the timestamp `at` was, in the largest whole unit: "just now",
/// "5 minutes ago", "3 days ago". An unreadable timestamp is shown as it is.
pub fn ago(now_ms: i64, at: &str) -> String {
    let Some(then) = parse_millis(at) else {
        return at.to_string();
    };
    let secs = (now_ms - then).max(0) / 1000;
    let (n, unit) = match secs {
        0..=59 => return "just now".into(),
        60..=3_599 => (secs / 60, "minute"),
        3_600..=86_399 => (secs / 3_600, "hour"),
        86_400..=2_591_999 => (secs / 86_400, "day"),
        2_592_000..=31_535_999 => (secs / 2_592_000, "month"),
        _ => (secs / 31_536_000, "year"),
    };
    format!("{} ago", count(n, unit))
}

/// The date part of a timestamp (`2026-11-29`), for tooltips and tables.
pub fn date(at: &str) -> &str {
    at.get(..10).unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_npm_prints_them() {
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(1_000), "1.0 kB");
        assert_eq!(bytes(12_345), "12.3 kB");
        assert_eq!(bytes(999_999), "1.0 MB");
        assert_eq!(bytes(5_300_000_000), "5.3 GB");
    }

    #[test]
    fn counts_are_plural_and_grouped() {
        assert_eq!(count(1, "version"), "1 version");
        assert_eq!(count(0, "version"), "0 versions");
        assert_eq!(count(1234567, "package"), "1,234,567 packages");
        assert_eq!(thousands(-1000), "-1,000");
    }

    #[test]
    fn times_are_relative() {
        let now = parse_millis("2026-11-29T12:00:00.000Z").unwrap();
        assert_eq!(ago(now, "2026-11-29T11:59:30.000Z"), "just now");
        assert_eq!(ago(now, "2026-11-29T11:00:00.000Z"), "1 hour ago");
        assert_eq!(ago(now, "2026-11-26T12:00:00.000Z"), "3 days ago");
        assert_eq!(ago(now, "2024-11-29T12:00:00.000Z"), "2 years ago");
        assert_eq!(ago(now, "soon"), "soon");
        assert_eq!(date("2026-11-29T11:00:00.000Z"), "2026-11-29");
    }
}

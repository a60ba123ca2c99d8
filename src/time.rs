//! Timestamps in the form npm documents use: RFC 3339, UTC, milliseconds (`2026-11-29T01:10:36.123Z`).

use std::time::{SystemTime, UNIX_EPOCH};

/// The current time as an npm-style timestamp.
pub fn now_rfc3339() -> String {
    format_millis(now_millis())
}

/// Milliseconds since the Unix epoch.
pub fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as i64
}

/// Formats milliseconds since the Unix epoch.
pub fn format_millis(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Parses `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM)` into milliseconds since the
/// Unix epoch. Stored timestamps all come from [`format_millis`], so a parsed time reformatted
/// with it compares with them as text.
pub fn parse(s: &str) -> Option<i64> {
    let num = |t: &str| -> Option<i64> {
        (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
            .then(|| t.parse().ok())
            .flatten()
    };
    let (date, rest) = match s.split_once(['T', 't', ' ']) {
        Some((d, r)) => (d, Some(r)),
        None => (s, None),
    };
    let mut parts = date.splitn(3, '-');
    let (y, m, d) = (
        num(parts.next()?)?,
        num(parts.next()?)?,
        num(parts.next()?)?,
    );
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return None;
    }
    let days = days_from_civil(y, m, d);
    let Some(rest) = rest else {
        return Some(days * 86_400_000);
    };
    // The zone: Z, or an offset to subtract to get UTC.
    let (clock, offset_min) = if let Some(c) = rest.strip_suffix(['Z', 'z']) {
        (c, 0)
    } else {
        let at = rest.rfind(['+', '-'])?;
        let (c, z) = rest.split_at(at);
        let (hh, mm) = z[1..].split_once(':')?;
        let (hh, mm) = (num(hh)?, num(mm)?);
        if hh > 23 || mm > 59 {
            return None;
        }
        let sign = if z.starts_with('-') { -1 } else { 1 };
        (c, sign * (hh * 60 + mm))
    };
    let (hms, frac) = match clock.split_once('.') {
        Some((h, f)) => (h, Some(f)),
        None => (clock, None),
    };
    let mut hms = hms.splitn(3, ':');
    let (h, mi, sec) = (num(hms.next()?)?, num(hms.next()?)?, num(hms.next()?)?);
    if h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let millis = match frac {
        None => 0,
        Some(f) => {
            num(f)?;
            // Only milliseconds count; finer digits are cut off.
            let ms: String = f.chars().chain("000".chars()).take(3).collect();
            ms.parse().ok()?
        }
    };
    Some(((days * 24 + h) * 60 + mi - offset_min) * 60_000 + sec * 1000 + millis)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// (year, month, day) to days since 1970-01-01: the inverse of [`civil_from_days`].
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's well-known civil-from-days algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(format_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_millis(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(format_millis(1_795_914_636_007), "2026-11-29T01:10:36.007Z");
    }

    #[test]
    fn parses_what_it_formats_and_the_usual_spellings() {
        for ms in [0, 951_782_400_123, 1_795_914_636_007, -86_400_000] {
            assert_eq!(parse(&format_millis(ms)), Some(ms));
        }
        assert_eq!(parse("2000-02-29"), Some(951_782_400_000));
        assert_eq!(parse("2000-02-29T00:00:00Z"), Some(951_782_400_000));
        assert_eq!(parse("2000-02-29T02:30:00+02:30"), Some(951_782_400_000));
        assert_eq!(parse("2000-02-28T23:00:00.5-01:00"), Some(951_782_400_500));
        for bad in [
            "",
            "2001-02-29",
            "2000-13-01",
            "2000-1-1x",
            "yesterday",
            "2000-01-01T25:00:00Z",
            "2000-01-01T10:00",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}

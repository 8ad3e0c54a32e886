//! Times as people read them: "4 minutes ago" on the page, the exact time on hover, and
//! durations as "1 h 4 min". The browser supplies the clock (milliseconds since the epoch);
//! everything here is arithmetic on it, so it is tested natively.

/// How long ago `then` was, at `now` (both milliseconds since the epoch): "just now",
/// "12 seconds ago", "3 minutes ago", "2 hours ago", "5 days ago". A time ahead of the
/// clock (a node's clock a little fast) reads "just now", never a negative age.
pub fn ago(then_ms: f64, now_ms: f64) -> String {
    let secs = ((now_ms - then_ms) / 1000.0).floor();
    if !secs.is_finite() || secs < 10.0 {
        return "just now".into();
    }
    let secs = secs as u64;
    let (n, unit) = match secs {
        s if s < 60 => (s, "second"),
        s if s < 3600 => (s / 60, "minute"),
        s if s < 86_400 => (s / 3600, "hour"),
        s if s < 86_400 * 60 => (s / 86_400, "day"),
        s if s < 86_400 * 730 => (s / (86_400 * 30), "month"),
        s => (s / (86_400 * 365), "year"),
    };
    format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" })
}

/// A span of time, to the two largest units: "0.4 s", "42 s", "3 min 5 s", "1 h 4 min",
/// "2 d 3 h".
pub fn span(ms: f64) -> String {
    if !ms.is_finite() || ms < 0.0 {
        return "—".into();
    }
    if ms < 10_000.0 {
        return format!("{:.1} s", ms / 1000.0);
    }
    let s = (ms / 1000.0).round() as u64;
    match s {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min {} s", s / 60, s % 60),
        s if s < 86_400 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        s => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}

/// An RFC 3339 time as a person reads it exactly: `2026-12-06 21:14:11 UTC`. The fraction of
/// a second goes; a time that is not RFC 3339 is shown as it came.
pub fn exact(rfc3339: &str) -> String {
    let Some((date, rest)) = rfc3339.split_once('T') else { return rfc3339.to_string() };
    if rest.len() < 8 || !rest.is_char_boundary(8) {
        return rfc3339.to_string();
    }
    let (clock, zone) = rest.split_at(8);
    let zone = zone.trim_start_matches(|c: char| c == '.' || c.is_ascii_digit());
    let zone = match zone {
        "Z" | "z" | "+00:00" => "UTC",
        other => other,
    };
    format!("{date} {clock} {zone}").trim_end().to_string()
}

/// An RFC 3339 time as milliseconds since the epoch (`corral_api::time::rfc3339_ms`, which
/// the server's validators use too).
pub fn parse_ms(s: &str) -> Option<f64> {
    corral_api::time::rfc3339_ms(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: f64 = 60_000.0;

    #[test]
    fn ages_read_in_the_largest_whole_unit() {
        let now = 1_000_000_000_000.0;
        for (ago_ms, said) in [
            (0.0, "just now"),
            (9_999.0, "just now"),
            (-5.0 * MIN, "just now"),
            (12_000.0, "12 seconds ago"),
            (MIN, "1 minute ago"),
            (59.9 * MIN, "59 minutes ago"),
            (60.0 * MIN, "1 hour ago"),
            (25.0 * 60.0 * MIN, "1 day ago"),
            (45.0 * 24.0 * 60.0 * MIN, "45 days ago"),
            (90.0 * 24.0 * 60.0 * MIN, "3 months ago"),
            (800.0 * 24.0 * 60.0 * MIN, "2 years ago"),
        ] {
            assert_eq!(ago(now - ago_ms, now), said, "{ago_ms} ms");
        }
        assert_eq!(ago(f64::NAN, now), "just now");
    }

    #[test]
    fn spans_keep_two_units() {
        for (ms, said) in [
            (400.0, "0.4 s"),
            (42_000.0, "42 s"),
            (185_000.0, "3 min 5 s"),
            (3_840_000.0, "1 h 4 min"),
            (183_600_000.0, "2 d 3 h"),
            (-1.0, "—"),
        ] {
            assert_eq!(span(ms), said);
        }
    }

    #[test]
    fn exact_times_drop_the_fraction_and_name_utc() {
        assert_eq!(exact("2026-12-06T21:14:11.123456789Z"), "2026-12-06 21:14:11 UTC");
        assert_eq!(exact("2026-12-06T21:14:11+00:00"), "2026-12-06 21:14:11 UTC");
        assert_eq!(exact("2026-12-06T21:14:11.5+01:00"), "2026-12-06 21:14:11 +01:00");
        assert_eq!(exact("yesterday"), "yesterday");
        assert_eq!(exact("2026-12-06T21"), "2026-12-06T21");
    }
}

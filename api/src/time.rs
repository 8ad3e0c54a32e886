//! Times on the wire: RFC 3339, parsed without a date library (the WASM app shares this).

/// An RFC 3339 time as milliseconds since the epoch, as the servers write it
/// (`2026-12-06T21:14:11.123456789Z`, or with an offset `+01:00`); `None` for anything else.
/// The browser parses with this, not `Date.parse`, which promises only three digits of
/// fraction; validators use it to check a time a request carries.
pub fn rfc3339_ms(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = s.get(from..from + len)?;
        part.bytes().all(|c| c.is_ascii_digit()).then(|| part.parse().ok())?
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut fraction = 0.0;
    if let Some(after) = rest.strip_prefix('.') {
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        fraction = format!("0.{}", &after[..digits]).parse::<f64>().ok()?;
        rest = &after[digits..];
    }
    let offset_min = match rest {
        "Z" | "z" => 0,
        o if o.len() == 6 && (o.starts_with('+') || o.starts_with('-')) && &o[3..4] == ":" => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            sign * (o[1..3].parse::<i64>().ok()? * 60 + o[4..6].parse::<i64>().ok()?)
        }
        _ => return None,
    };
    // Days since 1970-01-01 of a proleptic Gregorian date (years counted from March, so
    // the leap day falls last).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_min * 60;
    Some((secs as f64 + fraction) * 1000.0)
}

/// Unix seconds as RFC 3339 in UTC (`2026-12-06T21:14:11Z`): the inverse of the days count
/// above (Howard Hinnant's civil-from-days).
pub fn rfc3339(unix_s: i64) -> String {
    let (days, secs) = (unix_s.div_euclid(86_400), unix_s.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs % 3600 / 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_seconds_to_rfc3339_and_back() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_825_600), "2000-02-29T12:00:00Z");
        assert_eq!(rfc3339(1_796_591_651), "2026-12-06T21:14:11Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
        for t in (0..4_000_000_000_i64).step_by(86_399 * 37) {
            assert_eq!(rfc3339_ms(&rfc3339(t)), Some(t as f64 * 1000.0), "{t}");
        }
    }

    #[test]
    fn rfc3339_parses_to_the_epoch_with_its_fraction_and_offset() {
        assert_eq!(rfc3339_ms("1970-01-01T00:00:00Z"), Some(0.0));
        // 2000-02-29 (a leap day) 12:00 UTC, checked against `date -d ... +%s`.
        assert_eq!(rfc3339_ms("2000-02-29T12:00:00Z"), Some(951_825_600_000.0));
        assert_eq!(rfc3339_ms("2026-12-06T21:14:11Z"), Some(1_796_591_651_000.0));
        assert_eq!(rfc3339_ms("2026-12-06T22:14:11+01:00"), rfc3339_ms("2026-12-06T21:14:11Z"));
        let fine = rfc3339_ms("2026-12-06T21:14:11.123456789Z").unwrap();
        assert!((fine - 1_796_591_651_123.456_8).abs() < 0.01, "{fine}");
        for bad in [
            "",
            "yesterday",
            "2026-12-06",
            "2026-13-06T21:14:11Z",
            "2026-12-06T21:14:11",
            "2026-12-06T21:14:11.Z",
        ] {
            assert_eq!(rfc3339_ms(bad), None, "{bad}");
        }
    }
}

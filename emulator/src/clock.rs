//! UTC time formatting and parsing (no time-zone database: the emulator's users all live in UTC).

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch.
pub fn now_unix() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// Milliseconds since the Unix epoch.
pub fn now_millis() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Days since 1970-01-01 → (year, month, day). Howard Hinnant's algorithm.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month, day) → days since 1970-01-01.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn split(secs: i64) -> (i64, u32, u32, i64, i64, i64) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, mo, d) = civil_from_days(days);
    (y, mo, d, rem / 3600, rem % 3600 / 60, rem % 60)
}

/// `2023-04-07T21:59:01Z` (Dataverse `Edm.DateTimeOffset`, second precision).
pub fn fmt_iso(secs: i64) -> String {
    let (y, mo, d, h, mi, s) = split(secs);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// `2023-01-04 19:44:18Z` (Entra error `timestamp`).
pub fn fmt_aad(secs: i64) -> String {
    let (y, mo, d, h, mi, s) = split(secs);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}Z")
}

/// `1980-05-01` (`Edm.Date`).
pub fn fmt_date(days: i64) -> String {
    let (y, mo, d) = civil_from_days(days);
    format!("{y:04}-{mo:02}-{d:02}")
}

/// `4/7/2023 9:59 PM` (formatted value, en-US, UTC).
pub fn fmt_us(secs: i64) -> String {
    let (y, mo, d, h, mi, _) = split(secs);
    let (h12, ampm) = match h {
        0 => (12, "AM"),
        1..=11 => (h, "AM"),
        12 => (12, "PM"),
        _ => (h - 12, "PM"),
    };
    format!("{mo}/{d}/{y} {h12}:{mi:02} {ampm}")
}

/// `5/1/1980` (formatted date-only value).
pub fn fmt_us_date(days: i64) -> String {
    let (y, mo, d) = civil_from_days(days);
    format!("{mo}/{d}/{y}")
}

/// `08/22/2017 08:10:44`: the time part of a delta token.
pub fn fmt_delta(secs: i64) -> String {
    let (y, mo, d, h, mi, s) = split(secs);
    format!("{mo:02}/{d:02}/{y:04} {h:02}:{mi:02}:{s:02}")
}

fn num(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses `MM/dd/yyyy HH:mm:ss`.
pub fn parse_delta(s: &str) -> Option<i64> {
    let (date, time) = s.split_once(' ')?;
    let mut dp = date.split('/');
    let mo = num(dp.next()?)?;
    let d = num(dp.next()?)?;
    let y = num(dp.next()?)?;
    let mut tp = time.split(':');
    let h = num(tp.next()?)?;
    let mi = num(tp.next()?)?;
    let sec = num(tp.next()?)?;
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    Some(days_from_civil(y, mo as u32, d as u32) * 86_400 + h * 3600 + mi * 60 + sec)
}

/// Parses `YYYY-MM-DD` → days since epoch.
pub fn parse_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y = num(&s[0..4])?;
    let m = num(&s[5..7])?;
    let d = num(&s[8..10])?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    Some(days_from_civil(y, m as u32, d as u32))
}

/// Parses `YYYY-MM-DDTHH:MM[:SS[.fff]](Z|±hh:mm)` → seconds since epoch.
pub fn parse_iso(s: &str) -> Option<i64> {
    if s.len() < 16 || s.as_bytes().get(10) != Some(&b'T') {
        return None;
    }
    let days = parse_date(s.get(0..10)?)?;
    let rest = s.get(11..)?;
    let (clock, offset) = if let Some(c) = rest.strip_suffix('Z') {
        (c, 0)
    } else if rest.len() > 6 && rest.is_char_boundary(rest.len() - 6) {
        let (c, off) = rest.split_at(rest.len() - 6);
        let sign = match off.as_bytes()[0] {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        let oh = num(off.get(1..3)?)?;
        let om = num(off.get(4..6)?)?;
        (c, sign * (oh * 3600 + om * 60))
    } else {
        return None;
    };
    let clock = clock.split('.').next()?;
    let mut parts = clock.split(':');
    let h = num(parts.next()?)?;
    let mi = num(parts.next()?)?;
    let sec = match parts.next() {
        Some(p) => num(p)?,
        None => 0,
    };
    if h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    Some(days * 86_400 + h * 3600 + mi * 60 + sec - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let t = parse_iso("2017-08-22T08:10:44Z").unwrap();
        assert_eq!(fmt_iso(t), "2017-08-22T08:10:44Z");
        assert_eq!(fmt_delta(t), "08/22/2017 08:10:44");
        assert_eq!(parse_delta("08/22/2017 08:10:44"), Some(t));
        assert_eq!(fmt_us(t), "8/22/2017 8:10 AM");
        assert_eq!(parse_iso("2017-08-22T10:10:44+02:00"), Some(t));
        assert_eq!(fmt_date(parse_date("1980-05-01").unwrap()), "1980-05-01");
        assert_eq!(parse_iso("2024-01-01T00:00é00000"), None);
        assert_eq!(parse_date("é12-01-01x"), None);
    }
}

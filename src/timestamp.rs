//! Timestamps in the forms metric files use, to and from Unix milliseconds (UTC):
//! ISO 8601 with or without zone and fractions, `YYYY-MM-DD HH:MM:SS[.ffffff]` (or
//! with `/` between year, month and day), and Unix seconds or milliseconds.

/// The forms [`parse`] accepts, for error messages.
pub const FORMS: &str = "ISO 8601 (2024-05-01T12:00:00Z, with optional .fff and +hh:mm), \
'YYYY-MM-DD HH:MM:SS[.ffffff]' (or YYYY/MM/DD), Unix seconds (1714564800) or milliseconds (1714564800000)";

/// The median step between consecutive times (Unix milliseconds) that advance, in
/// milliseconds: how often rows were sampled. `None` when no time advances.
pub fn median_step_ms(times: &[i64]) -> Option<i64> {
    let mut steps: Vec<i64> = times
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|&d| d > 0)
        .collect();
    if steps.is_empty() {
        return None;
    }
    let middle = steps.len() / 2;
    Some(*steps.select_nth_unstable(middle).1)
}

/// The times an ISO 8601 timestamp of four-digit years can say, in Unix
/// milliseconds: from 0000-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z. A time
/// outside them is written in a form [`parse`] does not read back.
pub const WRITABLE_MS: std::ops::RangeInclusive<i64> = -62_167_219_200_000..=253_402_300_799_999;

/// The earliest time a file of metrics is taken to hold (1990-01-01T00:00:00Z): a
/// number before it, read as Unix seconds, is most likely no time at all (a
/// duration, a count, a metric), as it reads as a date around 1970.
pub const EARLIEST_MS: i64 = 631_152_000_000;

/// Parses one timestamp to Unix milliseconds; `None` if it is in no known form.
pub fn parse(text: &str) -> Option<i64> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    if t.bytes()
        .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-')
        && t.matches('-').count() <= 1
    {
        return parse_unix(t);
    }
    parse_civil(t.as_bytes())
}

/// Unix seconds, or milliseconds when the number is too large to be seconds
/// (beyond the year 5138).
fn parse_unix(t: &str) -> Option<i64> {
    let v: f64 = t.parse().ok()?;
    if !v.is_finite() {
        return None;
    }
    let ms = if v.abs() >= 1e11 { v } else { v * 1000.0 };
    Some(ms.round() as i64)
}

fn digits(b: &[u8], at: usize, n: usize) -> Option<i64> {
    let s = b.get(at..at + n)?;
    let mut v = 0i64;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (c - b'0') as i64;
    }
    Some(v)
}

fn parse_civil(b: &[u8]) -> Option<i64> {
    let year = digits(b, 0, 4)?;
    // `2025-01-06`, or `2025/01/06` as some exporters and spreadsheets write it:
    // year first either way, so neither is ambiguous.
    let separator = *b.get(4).filter(|&&c| c == b'-' || c == b'/')?;
    if b.get(7) != Some(&separator) {
        return None;
    }
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let mut ms = days_from_civil(year, month, day) * 86_400_000;
    if b.len() == 10 {
        return Some(ms);
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let hour = digits(b, 11, 2)?;
    let minute = digits(b, 14, 2)?;
    if b.get(13) != Some(&b':') || hour > 23 || minute > 59 {
        return None;
    }
    let mut at = 16;
    let mut second = 0;
    if b.get(16) == Some(&b':') {
        second = digits(b, 17, 2)?;
        if second > 60 {
            return None;
        }
        at = 19;
    }
    ms += ((hour * 60 + minute) * 60 + second) * 1000;
    if matches!(b.get(at), Some(b'.') | Some(b',')) {
        at += 1;
        let start = at;
        let mut frac = 0i64;
        while let Some(c) = b.get(at).filter(|c| c.is_ascii_digit()) {
            if at - start < 3 {
                frac = frac * 10 + (c - b'0') as i64;
            }
            at += 1;
        }
        if at == start {
            return None;
        }
        for _ in (at - start)..3 {
            frac *= 10;
        }
        ms += frac;
    }
    match &b[at..] {
        [] | [b'Z'] | [b'z'] => Some(ms),
        [b' ', b'U', b'T', b'C'] => Some(ms),
        [sign @ (b'+' | b'-'), rest @ ..] => {
            let (h, m) = match rest.len() {
                2 => (digits(rest, 0, 2)?, 0),
                4 => (digits(rest, 0, 2)?, digits(rest, 2, 2)?),
                5 if rest[2] == b':' => (digits(rest, 0, 2)?, digits(rest, 3, 2)?),
                _ => return None,
            };
            let offset = (h * 60 + m) * 60_000;
            Some(if *sign == b'+' {
                ms - offset
            } else {
                ms + offset
            })
        }
        _ => None,
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Civil date of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Appends `ms` as `YYYY-MM-DDTHH:MM:SSZ` (with `.mmm` when not a whole second).
pub fn push_iso(out: &mut String, ms: i64) {
    let (days, rem) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let (y, mo, d) = civil_from_days(days);
    let secs = rem / 1000;
    let (h, mi, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    use std::fmt::Write;
    let _ = write!(out, "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}");
    if rem % 1000 != 0 {
        let _ = write!(out, ".{:03}", rem % 1000);
    }
    out.push('Z');
}

/// `ms` as an ISO 8601 string.
pub fn to_iso(ms: i64) -> String {
    let mut s = String::with_capacity(24);
    push_iso(&mut s, ms);
    s
}

/// The time now, in Unix milliseconds (0 on a clock set before 1970).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Hour of the day (0-23, UTC) of a timestamp.
pub fn hour_of_day(ms: i64) -> u32 {
    (ms.rem_euclid(86_400_000) / 3_600_000) as u32
}

/// A duration as Prometheus writes them: one or more number-unit pairs (`ms`,
/// `s`, `m`, `h`, `d`), as `90s`, `2m` or `1h30m`.
pub fn parse_duration(text: &str) -> Option<std::time::Duration> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total_ms: u64 = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let number: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let scale: u64 = match &rest[..unit] {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return None,
        };
        total_ms = total_ms.checked_add(number.checked_mul(scale)?)?;
        rest = &rest[unit..];
    }
    Some(std::time::Duration::from_millis(total_ms))
}

/// A moment on the command line: any form [`parse`] reads, `now`, or `now-` and a
/// duration (`now-6h`), relative to `now_ms`.
pub fn parse_moment(text: &str, now_ms: i64) -> Option<i64> {
    let text = text.trim();
    if text == "now" {
        return Some(now_ms);
    }
    if let Some(ago) = text.strip_prefix("now-") {
        return Some(now_ms - i64::try_from(parse_duration(ago)?.as_millis()).ok()?);
    }
    parse(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_step_skips_repeated_and_backward_times() {
        assert_eq!(
            median_step_ms(&[0, 1000, 1000, 2000, 500, 1500, 63_500]),
            Some(1000)
        );
        assert_eq!(median_step_ms(&[5, 5, 5]), None);
        assert_eq!(median_step_ms(&[]), None);
    }

    const NOON: i64 = 1_714_564_800_000; // 2024-05-01T12:00:00Z

    #[test]
    fn every_documented_form_parses_to_the_same_instant() {
        for form in [
            "2024-05-01T12:00:00Z",
            "2024-05-01T12:00:00",
            "2024-05-01 12:00:00",
            "2024-05-01T12:00:00.000000",
            "2024-05-01T14:00:00+02:00",
            "2024-05-01T07:00:00-0500",
            "1714564800",
            "1714564800000",
            "1714564800.0",
            "2024/05/01 12:00:00",
        ] {
            assert_eq!(parse(form), Some(NOON), "{form}");
        }
        assert_eq!(parse("2024-05-01 12:00:00.25"), Some(NOON + 250));
    }

    #[test]
    fn nonsense_is_refused() {
        for bad in [
            "",
            "yesterday",
            "2024-13-01",
            "2024-02-30 00:00:00",
            "2024-05-01T25:00:00",
            "12:00",
            "2024/05-01 12:00:00",
            "01/05/2024 12:00:00",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn durations_read_as_prometheus_writes_them() {
        use std::time::Duration;
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        for bad in ["", "30", "s", "3x", "-1s", "1.5h"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn moments_are_absolute_or_before_now() {
        let now = 1_800_000_000_000;
        assert_eq!(parse_moment("now", now), Some(now));
        assert_eq!(parse_moment("now-6h", now), Some(now - 6 * 3_600_000));
        assert_eq!(
            parse_moment("2025-01-06T10:03:20Z", now),
            Some(1_736_157_800_000)
        );
        assert_eq!(parse_moment("yesterday", now), None);
    }

    #[test]
    fn formatting_round_trips() {
        assert_eq!(to_iso(NOON), "2024-05-01T12:00:00Z");
        assert_eq!(to_iso(NOON + 5), "2024-05-01T12:00:00.005Z");
        assert_eq!(parse(&to_iso(-86_400_000)), Some(-86_400_000));
        assert_eq!(hour_of_day(NOON), 12);
    }
}

//! The usual metrics CSV, a timestamp and columns of plain numbers, read without
//! polars: each chunk of records is parsed on its own core straight into the
//! columns, a short decimal as its digits over an exact power of ten and any other
//! number by the standard library's parser, both correctly rounded (so each is the
//! `f64` polars gives), the times with [`timestamp::parse`]. Anything else (a
//! quote, a carriage return, a text or label column, a word for a missing reading,
//! a cell that is not a plain decimal) is left to polars, which also says what is
//! wrong with a bad cell. Measured in technical.md ("Reading the usual file").

use rayon::prelude::*;

use crate::timestamp;

/// What one column of the file holds, for this reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Numbers: a metric.
    Number,
    /// The timestamp column.
    Time,
}

/// A file's columns as parsed: one vector per [`Kind::Number`] column, in file
/// order, and the times when there is a [`Kind::Time`] column.
#[derive(Debug, Default, PartialEq)]
pub struct Parsed {
    /// The numbers, a missing reading (an empty cell) as NaN.
    pub columns: Vec<Vec<f64>>,
    /// Unix milliseconds per row.
    pub times: Option<Vec<i64>>,
}

/// Parses the data records of `bytes` (UTF-8 text as [`super::text::check_text`]
/// checked it: a header line, then records with no quote, as
/// [`super::structure::scan_structure`] checked them), whose chunks begin at
/// `chunk_starts` after the first, as `kinds` says; `None` when a cell needs
/// polars.
pub fn parse(
    bytes: &[u8],
    delimiter: u8,
    kinds: &[Kind],
    chunk_starts: &[usize],
) -> Option<Parsed> {
    let data = memchr::memchr(b'\n', bytes)? + 1;
    let bounds: Vec<usize> = std::iter::once(data)
        .chain(chunk_starts.iter().copied())
        .chain(std::iter::once(bytes.len()))
        .collect();
    let chunks: Vec<Parsed> = bounds
        .par_windows(2)
        .map(|w| parse_chunk(&bytes[w[0]..w[1]], delimiter, kinds))
        .collect::<Option<_>>()?;
    let numbers = kinds.iter().filter(|&&k| k == Kind::Number).count();
    let columns = (0..numbers)
        .into_par_iter()
        .map(|c| joined(chunks.iter().map(|p| p.columns[c].as_slice())))
        .collect();
    let times = kinds.contains(&Kind::Time).then(|| {
        joined(
            chunks
                .iter()
                .map(|p| p.times.as_deref().unwrap_or_default()),
        )
    });
    Some(Parsed { columns, times })
}

/// The chunks' parts of one column, end to end.
fn joined<'a, T: Copy + 'a>(parts: impl Iterator<Item = &'a [T]> + Clone) -> Vec<T> {
    let mut column = Vec::with_capacity(parts.clone().map(<[T]>::len).sum());
    for part in parts {
        column.extend_from_slice(part);
    }
    column
}

/// Parses whole records in `text`, each byte looked at once: a cell is read up to
/// the delimiter or line break that ends it, and must end as its column does
/// (the last with a line break or the end of the text, the others with the
/// delimiter).
fn parse_chunk(text: &[u8], delimiter: u8, kinds: &[Kind]) -> Option<Parsed> {
    let numbers = kinds.iter().filter(|&&k| k == Kind::Number).count();
    let mut parsed = Parsed {
        columns: vec![Vec::new(); numbers],
        times: kinds.contains(&Kind::Time).then(Vec::new),
    };
    let mut recent = RecentTime::default();
    let mut at = 0;
    while at < text.len() {
        // A blank line is left to polars, which reads it as it always has.
        if text[at] == b'\n' {
            return None;
        }
        let mut number = 0;
        for (k, kind) in kinds.iter().enumerate() {
            // The text is checked UTF-8 already, and a delimiter is one ASCII byte,
            // so cells are cut from the bytes; only a timestamp is read as text.
            let end = match kind {
                Kind::Number => {
                    let (value, end) = number_at(text, at, delimiter)?;
                    parsed.columns[number].push(value);
                    number += 1;
                    end
                }
                Kind::Time => {
                    let end = memchr::memchr2(delimiter, b'\n', &text[at..])
                        .map_or(text.len(), |i| at + i);
                    let cell = &text[at..end];
                    if cell.ends_with(b"\r") {
                        return None;
                    }
                    parsed.times.as_mut()?.push(recent.parse(cell)?);
                    end
                }
            };
            // A carriage return before a line break fails the cell it ends (a
            // number, or a time above), and the file goes to polars.
            let last = k + 1 == kinds.len();
            match text.get(end) {
                Some(&b) if b == delimiter && !last => at = end + 1,
                Some(b'\n') if last => at = end + 1,
                None if last => at = end,
                _ => return None,
            }
        }
    }
    Some(parsed)
}

/// The last time cell read and its time, so that the next, when it differs only in
/// its seconds (`2025-01-01T00:00:07Z` after `...:06Z`), is that time moved by
/// the seconds between them: the rest of the cell, read the same, gives the same.
#[derive(Default)]
struct RecentTime<'a> {
    last: Option<(&'a [u8], i64)>,
}

impl<'a> RecentTime<'a> {
    /// Where the seconds' two digits are in a date and time of day with seconds.
    const SECONDS: std::ops::Range<usize> = 17..19;

    /// The time of `cell` (UTF-8), as [`timestamp::parse`] reads it.
    fn parse(&mut self, cell: &'a [u8]) -> Option<i64> {
        let seconds = |c: &[u8]| -> Option<i64> {
            let [tens @ b'0'..=b'9', ones @ b'0'..=b'9'] = c.get(Self::SECONDS)? else {
                return None;
            };
            Some(i64::from((tens - b'0') * 10 + (ones - b'0')))
        };
        // A date and time of day with seconds, from its first byte (no space a
        // trim would take off, which would move the seconds).
        let shaped = |c: &[u8]| {
            c.len() > Self::SECONDS.end
                && c[0].is_ascii_digit()
                && c[13] == b':'
                && c[16] == b':'
                && matches!(c[10], b'T' | b't' | b' ')
        };
        if let Some((last, time)) = self.last
            && last.len() == cell.len()
            && shaped(cell)
            && last[..Self::SECONDS.start] == cell[..Self::SECONDS.start]
            && last[Self::SECONDS.end..] == cell[Self::SECONDS.end..]
            && let (Some(then), Some(now)) = (seconds(last), seconds(cell))
            && now <= 60
        {
            let time = time + (now - then) * 1000;
            self.last = Some((cell, time));
            return Some(time);
        }
        let time = timestamp::parse(std::str::from_utf8(cell).ok()?)?;
        self.last = Some((cell, time));
        Some(time)
    }
}

/// The number in the cell starting at `at` and where the cell ends (at the
/// delimiter, the line break or the end of `text`): a plain decimal (`-12.5`, `3`,
/// `1e-3`) as polars reads it, an empty cell as NaN; `None` for anything else. The
/// usual cell is read in one pass; any other is cut out first and read by
/// [`slow_number`].
fn number_at(text: &[u8], at: usize, delimiter: u8) -> Option<(f64, usize)> {
    let (negative, start) = match text.get(at) {
        Some(b'-') => (true, at + 1),
        _ => (false, at),
    };
    match short_decimal(&text[start..], |b| b == delimiter || b == b'\n') {
        Some((Some(value), len)) => Some((if negative { -value } else { value }, start + len)),
        // Nothing at all: an empty cell.
        Some((None, 0)) if start == at => Some((f64::NAN, at)),
        Some((None, _)) => None,
        None => {
            let end =
                memchr::memchr2(delimiter, b'\n', &text[start..]).map_or(text.len(), |e| start + e);
            Some((slow_number(&text[at..end], &text[start..end])?, end))
        }
    }
}

/// The usual cell, read from the start of `digits` (a cell without its sign) up
/// to the first byte `ends` takes for the cell's end, or the end of `digits`: at
/// most 15 digits with a point and no exponent. Its digits are an integer below
/// 2^53 and 10^k is exact for k <= 22, so one division is correctly rounded, the
/// same value any correct parser gives (the fast path of Clinger's algorithm,
/// which polars' parser takes too). Gives the value (`None` without a digit) and
/// the bytes read; `None` at a byte it does not take, for [`slow_number`].
#[inline(always)]
fn short_decimal(digits: &[u8], ends: impl Fn(u8) -> bool) -> Option<(Option<f64>, usize)> {
    let (mut mantissa, mut count, mut point, mut after) = (0u64, 0u32, false, 0usize);
    let mut len = 0;
    for &b in digits {
        match b {
            b'0'..=b'9' if count < 15 => {
                mantissa = mantissa * 10 + u64::from(b - b'0');
                count += 1;
                after += usize::from(point);
            }
            b'.' if !point => point = true,
            _ if ends(b) => break,
            _ => return None,
        }
        len += 1;
    }
    let value = (count > 0).then(|| mantissa as f64 / POWERS_OF_TEN[after]);
    Some((value, len))
}

/// 10^0 to 10^15, each exactly representable.
const POWERS_OF_TEN: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// A decimal with more digits or an exponent (`digits` is `cell` without its
/// sign), checked to be plain and parsed by the standard library.
fn slow_number(cell: &[u8], digits: &[u8]) -> Option<f64> {
    let (mantissa, exponent) = match digits.iter().position(|&b| b == b'e' || b == b'E') {
        Some(at) => (&digits[..at], Some(&digits[at + 1..])),
        None => (digits, None),
    };
    let (whole, fraction) = match mantissa.iter().position(|&b| b == b'.') {
        Some(at) => (&mantissa[..at], &mantissa[at + 1..]),
        None => (mantissa, &b""[..]),
    };
    let plain = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e
            .strip_prefix(b"-")
            .or_else(|| e.strip_prefix(b"+"))
            .unwrap_or(e);
        !e.is_empty() && plain(e)
    });
    if whole.len() + fraction.len() == 0 || !plain(whole) || !plain(fraction) || !exponent_ok {
        return None;
    }
    // Checked above to be ASCII digits, a point, a sign and an exponent mark. A
    // number beyond the largest `f64` is left to polars, whose reading tells it.
    let value: f64 = std::str::from_utf8(cell).ok()?.parse().ok()?;
    value.is_finite().then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A whole cell as [`number_at`] reads it.
    fn number_of(cell: &[u8]) -> Option<f64> {
        number_at(cell, 0, b',')
            .filter(|&(_, end)| end == cell.len())
            .map(|(value, _)| value)
    }

    #[test]
    fn plain_decimals_parse_and_anything_else_is_left_to_polars() {
        for (cell, value) in [
            ("12.5", 12.5),
            ("-3", -3.0),
            ("0.000", 0.0),
            ("1e-3", 1e-3),
            ("2.5E+2", 250.0),
            (".5", 0.5),
            ("7.", 7.0),
        ] {
            assert_eq!(number_of(cell.as_bytes()), Some(value), "{cell}");
        }
        assert!(number_of(b"").unwrap().is_nan());
        for cell in [
            "1e999", "-1e400", "NA", "nan", "inf", "+1", " 1", "1 ", "1,5", "-", ".", "1e", "1e+",
            "0x10", "1.2.3", "--1",
        ] {
            assert_eq!(number_of(cell.as_bytes()), None, "{cell}");
        }
    }

    #[test]
    fn short_decimals_take_the_exact_fast_path_and_agree_with_a_correct_parser() {
        // Digits, point and sign drawn from a fixed sequence: every value must be
        // the correctly rounded one, bit for bit.
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let mut next = |n: u64| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            (state >> 33) % n
        };
        for _ in 0..200_000 {
            let digits = 1 + next(17) as usize;
            let mut cell: String = (0..digits)
                .map(|_| char::from(b'0' + next(10) as u8))
                .collect();
            if next(4) > 0 {
                cell.insert(next(digits as u64 + 1) as usize, '.');
            }
            if next(3) == 0 {
                cell.insert(0, '-');
            }
            let want: f64 = cell.parse().unwrap();
            assert_eq!(
                number_of(cell.as_bytes()).map(f64::to_bits),
                Some(want.to_bits()),
                "{cell}"
            );
        }
    }

    #[test]
    fn a_time_after_one_that_differs_in_its_seconds_reads_as_parsing_it_alone() {
        let cells = [
            "2025-01-01T00:00:00Z",
            "2025-01-01T00:00:07Z",
            "2025-01-01T00:00:60Z",
            "2025-01-01T00:00:61Z",
            "2025-01-01T00:00:05Z",
            "2025-01-01T00:01:05Z",
            "2025-01-01T00:01:09+02:00",
            "2025-01-01T00:01:3x+02:00",
            "2025-01-01T00:01:31+02:00",
            "2025-01-01 00:01:31.250",
            "2025-01-01 00:01:32.250",
            " 2025-01-01 00:01:33.250",
            "2025-01-01 00:01:34.250",
            "1735689600.123456789",
            "1735689601.123456789",
        ];
        let mut recent = RecentTime::default();
        for cell in cells {
            assert_eq!(
                recent.parse(cell.as_bytes()),
                timestamp::parse(cell),
                "{cell}"
            );
        }
        // Every second of a day, in order.
        let mut text = String::new();
        for s in 0..86_400 {
            text.push_str(&format!(
                "2025-03-04T{:02}:{:02}:{:02}Z\n",
                s / 3600,
                s / 60 % 60,
                s % 60
            ));
        }
        let mut recent = RecentTime::default();
        for cell in text.lines() {
            assert_eq!(
                recent.parse(cell.as_bytes()),
                timestamp::parse(cell),
                "{cell}"
            );
        }
    }

    #[test]
    fn chunks_join_in_order_and_a_bad_cell_or_width_gives_up() {
        let kinds = [Kind::Time, Kind::Number, Kind::Number];
        let text = b"timestamp,a,b\n2025-01-01T00:00:00Z,1,2\n2025-01-01T00:00:01Z,,4\n2025-01-01T00:00:02Z,5,6\n";
        let second = text.len() - b"2025-01-01T00:00:02Z,5,6\n".len();
        let parsed = parse(text, b',', &kinds, &[second]).unwrap();
        assert_eq!(
            parsed.times,
            Some(vec![
                1_735_689_600_000,
                1_735_689_601_000,
                1_735_689_602_000
            ])
        );
        assert_eq!(parsed.columns[0][0], 1.0);
        assert!(parsed.columns[0][1].is_nan());
        assert_eq!(parsed.columns[1], [2.0, 4.0, 6.0]);
        assert_eq!(
            parse(b"t,a\n2025-01-01T00:00:00Z,NA\n", b',', &kinds[..2], &[]),
            None
        );
        assert_eq!(parse(b"t,a\nyesterday,1\n", b',', &kinds[..2], &[]), None);
        assert_eq!(
            parse(b"t,a\n2025-01-01T00:00:00Z,1,2\n", b',', &kinds[..2], &[]),
            None
        );
        assert_eq!(
            parse(b"t,a\n2025-01-01T00:00:00Z,1\r\n", b',', &kinds[..2], &[]),
            None
        );
        // Too few cells, a blank line, a carriage return after a time: polars's.
        let t = "2025-01-01T00:00:00Z";
        for text in [
            format!("t,a,b\n{t},1\n"),
            format!("t,a,b\n{t},1,2\n\n{t},3,4\n"),
            format!("t,a,b\n{t},1,2\n{t},3,4\n\n"),
            format!("b,a,t\n1,2,{t}\r\n"),
        ] {
            let kinds = if text.starts_with('b') {
                [Kind::Number, Kind::Number, Kind::Time]
            } else {
                kinds
            };
            assert_eq!(parse(text.as_bytes(), b',', &kinds, &[]), None, "{text:?}");
        }
        // Long and exponent cells in any column, an empty last cell, no final line
        // break: each cell as `number_of` reads it alone.
        let text = format!("t,a,b\n{t},12345678901234567.5,\n{t},-1e3,0.25");
        let parsed = parse(text.as_bytes(), b',', &kinds, &[]).unwrap();
        assert_eq!(parsed.columns[0], [12345678901234567.5, -1000.0]);
        assert!(parsed.columns[1][0].is_nan());
        assert_eq!(parsed.columns[1][1], 0.25);
        assert_eq!(parsed.times.unwrap().len(), 2);
    }
}

//! Checking a CSV's record structure before parsing: every record has as many
//! fields as the header and every quote closes. The scan also finds where each
//! chunk of rows begins, so rows can be written back in parallel.

use rayon::prelude::*;

use super::InputError;
use crate::located::line_col;

/// Data records per chunk of the file, the unit in which rows are written back in
/// parallel.
pub const WRITE_CHUNK: usize = 8192;

/// What one pass over a file's bytes learned of its records.
#[derive(Debug, PartialEq, Eq)]
pub struct Structure {
    /// Data records (rows below the header).
    pub records: usize,
    /// Byte offsets where each [`WRITE_CHUNK`] of data records begins, after the
    /// first (which begins with the header).
    pub chunk_starts: Vec<usize>,
    /// Whether any field is quoted, which makes the file one for polars to parse
    /// (see [`super::numbers`]).
    pub quoted: bool,
}

/// Checks every record has as many fields as the header and every quote closes,
/// counting the data records and noting where each chunk of them begins. Input
/// without a quote, where every line is a record, is checked in parallel.
pub fn scan_structure(
    bytes: &[u8],
    delimiter: u8,
    width: usize,
    name: &str,
) -> Result<Structure, InputError> {
    if memchr::memchr(b'"', bytes).is_some() {
        scan_quoted(bytes, delimiter, width, name)
    } else {
        scan_plain(bytes, delimiter, width, name)
    }
}

/// [`scan_structure`] for any input: one pass over the bytes, following quotes.
fn scan_quoted(
    bytes: &[u8],
    delimiter: u8,
    width: usize,
    name: &str,
) -> Result<Structure, InputError> {
    let mut chunk_starts = Vec::new();
    let mut line: u64 = 1;
    let mut fields = 1usize;
    let mut content = false;
    let mut at_field_start = true;
    let mut quote_open: Option<usize> = None;
    let mut quoted = false;
    let mut just_closed = false;
    let mut records = 0usize;
    let mut header_done = false;
    let mut i = 0;
    let finish =
        |fields: usize, content: bool, line: u64, records: &mut usize, header_done: &mut bool| {
            if !content {
                return Ok(());
            }
            if !*header_done {
                *header_done = true;
                return Ok(());
            }
            if fields != width {
                return Err(field_count_error(name, line, width, fields));
            }
            *records += 1;
            Ok(())
        };
    while i < bytes.len() {
        let b = bytes[i];
        if quote_open.is_some() {
            if b == b'"' {
                if bytes.get(i + 1) == Some(&b'"') {
                    i += 2;
                    continue;
                }
                quote_open = None;
                just_closed = true;
            } else if b == b'\n' {
                line += 1;
            }
            i += 1;
            continue;
        }
        // RFC 4180: a quote only opens a field, and a quoted field ends at its
        // closing quote. The parser behind the structure scan misreads other
        // quotes (a header `cpu"` made it fail outright), so they are refused.
        if std::mem::take(&mut just_closed) && b != delimiter && b != b'\n' && b != b'\r' {
            return Err(quote_error(
                bytes,
                i,
                name,
                "text after the closing quote of a quoted field",
                "end a quoted field with its quote, or double a quote inside it (\"\")",
            ));
        }
        match b {
            b'"' if at_field_start => {
                quote_open = Some(i);
                quoted = true;
                at_field_start = false;
                content = true;
            }
            b'"' => {
                return Err(quote_error(
                    bytes,
                    i,
                    name,
                    "a quote inside a field that does not begin with one",
                    "quote the whole field and double the quote inside it, as \"5\"\" disk\"",
                ));
            }
            b'\n' => {
                let before = records;
                finish(fields, content, line, &mut records, &mut header_done)?;
                if records != before && records.is_multiple_of(WRITE_CHUNK) {
                    chunk_starts.push(i + 1);
                }
                line += 1;
                fields = 1;
                content = false;
                at_field_start = true;
            }
            // Only as part of a line's end (`\r\n`): elsewhere the parser takes it
            // for text, so a quote after it would not open the field as the scan
            // counted, and a field of one quote made the parser slice past it.
            b'\r' => {
                // The last of a run of them is the one before anything else.
                if !matches!(bytes.get(i + 1), None | Some(b'\n' | b'\r')) {
                    return Err(quote_error(
                        bytes,
                        i,
                        name,
                        "a carriage return inside a record, not before its line break",
                        "save the file with LF or CRLF line endings",
                    ));
                }
            }
            _ if b == delimiter => {
                fields += 1;
                at_field_start = true;
                content = true;
            }
            _ => {
                at_field_start = false;
                content = true;
            }
        }
        i += 1;
    }
    if let Some(open) = quote_open {
        return Err(quote_error(
            bytes,
            open,
            name,
            "unterminated quote: a field opens with \" but never closes",
            "close the quote, or double a quote inside a quoted field (\"\")",
        ));
    }
    finish(fields, content, line, &mut records, &mut header_done)?;
    // A chunk that would begin at the very end holds no record.
    if chunk_starts.last() == Some(&bytes.len()) {
        chunk_starts.pop();
    }
    Ok(Structure {
        records,
        chunk_starts,
        quoted,
    })
}

/// A quoting problem at byte `at`, located by line and column.
fn quote_error(bytes: &[u8], at: usize, name: &str, problem: &str, hint: &str) -> InputError {
    let (line, col) = line_col(bytes, at);
    InputError::at(name, Some(line), Some(col), problem).hint(hint)
}

/// Bytes of input checked per task by [`scan_plain`].
const SCAN_PIECE: usize = 1 << 20;

/// [`scan_structure`] for input without quotes: every line is a record (or blank),
/// so pieces of lines are checked in parallel and their record ends put in order.
fn scan_plain(
    bytes: &[u8],
    delimiter: u8,
    width: usize,
    name: &str,
) -> Result<Structure, InputError> {
    // The header is the first line with content; data records follow it.
    let mut body = 0;
    let mut header_lines = 0u64;
    while body < bytes.len() {
        let end = memchr::memchr(b'\n', &bytes[body..]).map_or(bytes.len(), |p| body + p + 1);
        let line = &bytes[body..end];
        body = end;
        header_lines += 1;
        if has_content(line) {
            break;
        }
    }
    let mut cuts = vec![body];
    while let Some(&last) = cuts.last() {
        let next = last + SCAN_PIECE;
        if next >= bytes.len() {
            break;
        }
        match memchr::memchr(b'\n', &bytes[next..]) {
            Some(p) if next + p + 1 < bytes.len() => cuts.push(next + p + 1),
            _ => break,
        }
    }
    cuts.push(bytes.len());
    let pieces: Vec<Piece> = cuts
        .par_windows(2)
        .map(|w| Piece::scan(bytes, w[0]..w[1], delimiter, width))
        .collect();
    let mut line = header_lines;
    let mut records = 0;
    let mut chunk_starts = Vec::new();
    for piece in pieces {
        if let Some((at, fields)) = piece.error {
            return Err(field_count_error(name, line + at, width, fields));
        }
        for end in piece.record_ends {
            records += 1;
            if records % WRITE_CHUNK == 0 && end < bytes.len() {
                chunk_starts.push(end);
            }
        }
        line += piece.lines;
    }
    Ok(Structure {
        records,
        chunk_starts,
        quoted: false,
    })
}

/// What [`scan_plain`] learned of one piece of lines.
struct Piece {
    /// Lines in the piece.
    lines: u64,
    /// Offset just past each record (its newline included).
    record_ends: Vec<usize>,
    /// The first record with the wrong number of fields: its line in the piece
    /// (1-based) and its field count.
    error: Option<(u64, usize)>,
}

impl Piece {
    fn scan(bytes: &[u8], range: std::ops::Range<usize>, delimiter: u8, width: usize) -> Piece {
        let mut piece = Piece {
            lines: 0,
            record_ends: Vec::new(),
            error: None,
        };
        let mut start = range.start;
        while start < range.end {
            let end = memchr::memchr(b'\n', &bytes[start..range.end])
                .map_or(range.end, |p| start + p + 1);
            let line = &bytes[start..end];
            start = end;
            piece.lines += 1;
            if !has_content(line) {
                continue;
            }
            let fields = 1 + line.iter().filter(|&&b| b == delimiter).count();
            if fields != width {
                piece.error = Some((piece.lines, fields));
                break;
            }
            piece.record_ends.push(end);
        }
        piece
    }
}

/// Whether a line holds anything but line-break characters.
fn has_content(line: &[u8]) -> bool {
    line.iter().any(|&b| b != b'\r' && b != b'\n')
}

fn field_count_error(name: &str, line: u64, width: usize, fields: usize) -> InputError {
    let what = if fields < width {
        "too few"
    } else {
        "too many"
    };
    InputError::at(
        name,
        Some(line),
        None,
        &format!("{what} fields: expected {width} (as in the header), found {fields}"),
    )
    .hint("every row needs one value per header column; leave a cell empty for a missing reading")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structure_errors_name_the_line() {
        let err = scan_structure(b"a,b\n1,2\n3\n", b',', 2, "f.csv")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("f.csv:3: too few fields: expected 2"),
            "{err}"
        );
        let err = scan_structure(b"a,b\n1,2\n\"3,4\n5,6\n", b',', 2, "f.csv")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("f.csv:3:1: unterminated quote"), "{err}");
        assert_eq!(
            scan_structure(b"a,b\r\n1,\"x\ny\"\r\n\r\n3,4", b',', 2, "f")
                .unwrap()
                .records,
            2
        );
        // A carriage return inside a record: the parser would take it for text
        // before the quote (a fuzzed `NA\n\r"\x03\n"` made it slice past a field).
        for (text, at) in [
            (&b"NA\n\r\"\x03\n\""[..], "f.csv:2:1:"),
            (b"a,b\n1,2\r\"x\",3\n", "f.csv:2:4:"),
            (b"a,b\n\"1\"\r\r,2\n", "f.csv:2:5:"),
        ] {
            let err = scan_structure(text, b',', 2, "f.csv")
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with(at) && err.contains("carriage return"),
                "{err}"
            );
        }
        assert!(scan_structure(b"a,b\r\r\n\"1\",2\r\r\r\n", b',', 2, "f").is_ok());
    }

    #[test]
    fn input_without_quotes_gets_the_structure_of_the_quote_following_scan() {
        let mut big = b"\r\na;b\r\n".to_vec();
        for i in 0..(3 * WRITE_CHUNK + 17) {
            big.extend_from_slice(format!("{i};{}\r\n", i * 7).as_bytes());
            if i % 1000 == 0 {
                big.extend_from_slice(b"\r\n\n");
            }
        }
        let mut exact = big.clone();
        exact.truncate(big.len() - 2);
        let mut wrong = big.clone();
        wrong.extend_from_slice(b"1;2;3\n4;5\n");
        let padded: Vec<u8> = big
            .iter()
            .copied()
            .chain(std::iter::repeat_n(b'\n', SCAN_PIECE))
            .collect();
        for input in [&big, &exact, &wrong, &padded, &b"a,b\n1,2".to_vec()] {
            let delimiter = if input.starts_with(b"a,") { b',' } else { b';' };
            let plain = scan_plain(input, delimiter, 2, "f").map_err(|e| e.to_string());
            let quoted = scan_quoted(input, delimiter, 2, "f").map_err(|e| e.to_string());
            assert_eq!(plain, quoted);
        }
        assert_eq!(
            scan_plain(&big, b';', 2, "f").unwrap().records,
            3 * WRITE_CHUNK + 17
        );
    }
}

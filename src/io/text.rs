//! A CSV as bytes: where it comes from (a file, standard input, an upload), read
//! whole, checked to be UTF-8 text (not empty, not binary, without a byte-order
//! mark), and its delimiter detected from the header line.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::InputError;
use crate::located::line_col;

/// Where a CSV comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CsvInput {
    /// A file on disk.
    Path(PathBuf),
    /// Standard input (`-` on the command line).
    Stdin,
    /// Bytes already in memory (a web upload), with the name errors use.
    Bytes {
        /// How errors name it, e.g. the uploaded file's name.
        name: String,
        /// The content.
        bytes: Vec<u8>,
    },
}

impl CsvInput {
    /// `-` means standard input; anything else is a path.
    pub fn from_arg(arg: &Path) -> CsvInput {
        if arg.as_os_str() == "-" {
            CsvInput::Stdin
        } else {
            CsvInput::Path(arg.to_path_buf())
        }
    }

    /// How errors name the source.
    pub fn name(&self) -> String {
        match self {
            CsvInput::Path(p) => p.display().to_string(),
            CsvInput::Stdin => "<stdin>".into(),
            CsvInput::Bytes { name, .. } => name.clone(),
        }
    }
}

/// The whole content of `source`; `name` is how errors name it.
pub fn read_bytes(source: &CsvInput, name: &str) -> Result<Vec<u8>, InputError> {
    let mut buf = Vec::new();
    match source {
        CsvInput::Bytes { bytes, .. } => buf.clone_from(bytes),
        CsvInput::Stdin => {
            std::io::stdin().lock().read_to_end(&mut buf).map_err(|e| {
                InputError::at(
                    name,
                    None,
                    None,
                    &format!("cannot read standard input: {e}"),
                )
                .hint("pipe a CSV into the command")
            })?;
        }
        CsvInput::Path(path) => {
            let mut file = open_file(path, name)?;
            file.read_to_end(&mut buf)
                .map_err(|e| read_error(name, e))?;
        }
    }
    Ok(buf)
}

/// Opens the file at `path` (named `name` in errors) to read it, saying why not:
/// a directory, not found, not allowed.
pub fn open_file(path: &Path, name: &str) -> Result<std::fs::File, InputError> {
    if path.is_dir() {
        return Err(
            InputError::at(name, None, None, "is a directory, expected a CSV file")
                .hint("name a file inside it"),
        );
    }
    std::fs::File::open(path).map_err(|e| {
        let hint = match e.kind() {
            std::io::ErrorKind::NotFound => {
                "check the path; relative paths start from the current directory"
            }
            std::io::ErrorKind::PermissionDenied => "check the file's permissions",
            _ => "check that the file exists and is readable",
        };
        InputError::at(name, None, None, &format!("cannot open: {e}")).hint(hint)
    })
}

/// A read of the file named `name` that failed.
pub fn read_error(name: &str, e: std::io::Error) -> InputError {
    InputError::at(name, None, None, &format!("cannot read: {e}"))
        .hint("check the file is readable")
}

/// Whether `bytes` begin as InfluxDB's annotated CSV does: a line of annotations
/// (`#group`, `#datatype` or `#default`) before the header.
fn annotated(bytes: &[u8]) -> bool {
    [&b"#group,"[..], b"#datatype,", b"#default,"]
        .iter()
        .any(|a| bytes.starts_with(a))
}

/// What a compressed file or an archive is, by its first bytes, and how to read
/// it instead: `metrics` reads CSV text, and a decompressor can feed it standard
/// input.
fn packed(bytes: &[u8]) -> Option<(&'static str, &'static str)> {
    const KINDS: [(&[u8], &str, &str); 4] = [
        (
            &[0x1F, 0x8B],
            "a gzip-compressed file",
            "decompress it on the way in: zcat FILE | metrics analyze --csv-file - ...",
        ),
        (
            &[0x28, 0xB5, 0x2F, 0xFD],
            "a zstd-compressed file",
            "decompress it on the way in: zstdcat FILE | metrics analyze --csv-file - ...",
        ),
        (
            &[0xFD, b'7', b'z', b'X', b'Z', 0x00],
            "an xz-compressed file",
            "decompress it on the way in: xzcat FILE | metrics analyze --csv-file - ...",
        ),
        (
            b"PK\x03\x04",
            "a zip archive (a spreadsheet workbook is one)",
            "export the sheet as CSV, or unzip the CSV out of it",
        ),
    ];
    // bzip2: `BZh`, the block size (1 to 9), then the first block's magic.
    if bytes.len() >= 10 && bytes.starts_with(b"BZh") && bytes[4..10] == *b"1AY&SY" {
        return Some((
            "a bzip2-compressed file",
            "decompress it on the way in: bzcat FILE | metrics analyze --csv-file - ...",
        ));
    }
    KINDS
        .iter()
        .find(|(magic, _, _)| bytes.starts_with(magic))
        .map(|&(_, what, hint)| (what, hint))
}

/// Rejects empty, binary and non-UTF-8 input and drops a byte-order mark.
pub fn check_text(mut bytes: Vec<u8>, name: &str) -> Result<Vec<u8>, InputError> {
    if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
        bytes.drain(..3);
    }
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(InputError::at(
            name,
            None,
            None,
            "the file is empty; expected a header line such as 'timestamp,cpu_percent,...'",
        )
        .hint("check that the export that made the file succeeded"));
    }
    if let Some((what, hint)) = packed(&bytes) {
        return Err(
            InputError::at(name, None, None, &format!("{what}; expected CSV text")).hint(hint),
        );
    }
    if annotated(&bytes) {
        return Err(InputError::at(
            name,
            Some(1),
            None,
            "InfluxDB annotated CSV (lines of #group, #datatype and #default, then a row per field and time); expected a header, then a row per time with a column per metric",
        )
        .hint("pivot the fields into columns in the query, |> pivot(rowKey: [\"_time\"], columnKey: [\"_field\"], valueColumn: \"_value\"), then leave out the annotations and the columns before _start on the way in: grep -v '^#' FILE | cut -d, -f4- | metrics analyze --csv-file - ..."));
    }
    if let Some(at) = memchr::memchr(0, &bytes) {
        let (line, col) = line_col(&bytes, at);
        return Err(InputError::at(
            name,
            Some(line),
            Some(col),
            "binary content (a NUL byte); expected CSV text",
        )
        .hint("is this a compressed or spreadsheet file? export it as CSV"));
    }
    if let Err(e) = std::str::from_utf8(&bytes) {
        let at = e.valid_up_to();
        let (line, col) = line_col(&bytes, at);
        return Err(InputError::at(
            name,
            Some(line),
            Some(col),
            &format!("not UTF-8 text; found byte 0x{:02X}", bytes[at]),
        )
        .hint("save or convert the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)"));
    }
    Ok(bytes)
}

/// The field delimiters a file is read with, in the order a tie is settled.
pub const DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];

/// The one of [`DELIMITERS`] that splits the header line into the most fields.
pub fn detect_delimiter(bytes: &[u8]) -> u8 {
    let first = bytes.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let mut in_quote = false;
    let mut counts = [0usize; DELIMITERS.len()];
    for &b in first {
        if b == b'"' {
            in_quote = !in_quote;
        } else if !in_quote && let Some(i) = DELIMITERS.iter().position(|&c| c == b) {
            counts[i] += 1;
        }
    }
    let best = (0..DELIMITERS.len())
        .max_by_key(|&i| (counts[i], usize::MAX - i))
        .unwrap_or(0);
    if counts[best] == 0 {
        b','
    } else {
        DELIMITERS[best]
    }
}

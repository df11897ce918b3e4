//! Reading a metrics CSV into a [`Frame`]: the usual file of a timestamp and numbers
//! is parsed by [`super::numbers`], anything else by polars (both on every core); a
//! byte scan and the csv crate find the exact line and column whenever the
//! input is wrong, so every error says where, what was expected and how to fix it.

use std::io::Cursor;
use std::sync::Arc;

use polars::prelude::*;
use rayon::prelude::*;

use super::InputError;
use super::numbers::{self, Kind};
use super::structure::scan_structure;
use super::sysstat;
use super::text::{CsvInput, DELIMITERS, check_text, detect_delimiter, read_bytes};
use crate::detector::Frame;
use crate::schema;
use crate::timestamp;

/// How to read a CSV.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Field delimiter; detected among `,` `;` tab and `|` when `None`.
    pub delimiter: Option<u8>,
    /// The time column; `None` uses `timestamp` when present.
    pub timestamp_column: Option<String>,
    /// The ground-truth column; `None` uses `label` when present.
    pub label_column: Option<String>,
    /// Numeric columns that are not metrics (e.g. the `--fit-where` column).
    pub exclude: Vec<String>,
    /// Which header columns hold numbers, and how they write them, when already
    /// decided (by the first window of a file read in windows); found from the
    /// first rows otherwise.
    pub kinds: Option<CellKinds>,
    /// Keeps metric columns without a reading, for a reader of windows to decide
    /// on the whole file (see [`leave_out_empty_metrics`]).
    pub keep_empty: bool,
    /// Columns their source has already told to be counters (`--prometheus`, by
    /// their series' names), which the check for columns that only rise does not
    /// name again.
    pub told_counters: Vec<String>,
    /// Whether `timestamp_column` is already decided for the whole file (by a
    /// reader of windows, from its first window): `None` then means `timestamp`
    /// or none, not a column to look for in each window, whose first row may say
    /// otherwise.
    pub time_decided: bool,
}

/// What a file's cells hold, decided from its first rows (see [`KindCounts`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CellKinds {
    /// Which header columns hold numbers.
    pub numeric: Vec<bool>,
    /// Whether its numbers are written with a decimal comma (`41,30`), as
    /// spreadsheets and exports in much of Europe write them, with `;` between
    /// cells.
    pub decimal_comma: bool,
}

/// A CSV as read: its text (for writing rows back unchanged) and its frame.
#[derive(Debug, Clone)]
pub struct Table {
    /// How errors and summaries name the input.
    pub source: String,
    /// The content after any byte-order mark.
    pub bytes: Vec<u8>,
    /// Byte offsets in `bytes` where each [`super::structure::WRITE_CHUNK`] of data
    /// rows begins, after the first chunk (which begins with the header).
    pub chunk_starts: Vec<usize>,
    /// The field delimiter in use.
    pub delimiter: u8,
    /// Whether numbers are written with a decimal comma (see [`CellKinds`]).
    pub decimal_comma: bool,
    /// Column names in file order.
    pub header: Vec<String>,
    /// Which of them were read as numbers.
    pub numeric: Vec<bool>,
    /// Metrics, text columns and times.
    pub frame: Frame,
    /// Ground truth per row, when a label column exists.
    pub labels: Option<Vec<bool>>,
    /// Name of the label column in use.
    pub label_column: Option<String>,
    /// What the reader left out and why, for the command and the summary to say.
    pub warnings: Vec<String>,
    /// The metric columns with infinite cells, read as missing readings, in the
    /// header's order: told by whoever takes the rows (see
    /// [`crate::analysis::infinite::Infinities`]), who knows where they are in
    /// the file.
    pub infinite: Vec<InfiniteCells>,
}

/// The cells of one metric column that hold an infinite number (`inf`, or one
/// beyond the largest `f64`), each read as a missing reading: an exporter that
/// divides by zero writes them, and there is no reading to judge in them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InfiniteCells {
    /// The column's name.
    pub column: String,
    /// How many cells.
    pub count: usize,
    /// The first one's row, 0-based among the table's rows.
    pub first_row: usize,
}

impl Table {
    /// Indices of the rows whose `column` reads `value` (compared as trimmed text).
    /// The label column counts too, `value` read as a label cell is (`0` or `1`,
    /// `false` or `true`...): `--fit-where label=0` fits on the rows labelled normal.
    pub fn rows_where(&self, column: &str, value: &str) -> Result<Vec<usize>, InputError> {
        if self.label_column.as_deref() == Some(column)
            && let Some(labels) = &self.labels
        {
            let Some(wanted) = label_value(value) else {
                return Err(InputError::at(
                    &self.source,
                    Some(1),
                    None,
                    &format!("--fit-where {column}={value}: '{column}' is the label column, whose cells read as 0 or 1"),
                )
                .hint(&format!("fit on the rows labelled normal with --fit-where {column}=0")));
            };
            return Ok((0..labels.len()).filter(|&i| labels[i] == wanted).collect());
        }
        let Some(c) = self.frame.text_names.iter().position(|n| n == column) else {
            return Err(InputError::at(
                &self.source,
                Some(1),
                None,
                &format!(
                    "--fit-where names column '{column}', but the header has [{}]",
                    self.header.join(", ")
                ),
            )
            .hint("use one of the header's column names, e.g. --fit-where split=train"));
        };
        Ok(self.frame.text_columns[c]
            .iter()
            .enumerate()
            .filter(|(_, cell)| cell.trim() == value)
            .map(|(i, _)| i)
            .collect())
    }
}

/// Cells read as missing rather than as text.
const MISSING: [&str; 7] = ["", "NA", "N/A", "NaN", "nan", "null", "None"];

/// Rows looked at to decide whether a column holds numbers or text.
const INFER_ROWS: usize = 1000;

/// Reads and validates a whole CSV.
pub fn read_table(source: &CsvInput, options: &ReadOptions) -> Result<Table, InputError> {
    let name = source.name();
    let raw = read_bytes(source, &name)?;
    table_of(name, raw, options)
}

/// Reads and validates the CSV in `raw`, named `name` in errors.
pub fn table_of(name: String, raw: Vec<u8>, options: &ReadOptions) -> Result<Table, InputError> {
    let bytes = check_text(raw, &name)?;
    let delimiter = options
        .delimiter
        .unwrap_or_else(|| detect_delimiter(&bytes));
    let header = read_header(&bytes, delimiter, &name)?;
    let structure = scan_structure(&bytes, delimiter, header.len(), &name).map_err(|e| {
        match sysstat::repeated_groups_hint(&header) {
            Some(hint) => e.hint(hint),
            None => e,
        }
    })?;
    if structure.records == 0 {
        return Err(
            InputError::at(&name, None, None, "the file has a header but no data rows")
                .hint("add rows of readings below the header"),
        );
    }
    let found = time_column(options, &header, &bytes, delimiter);
    let timestamp_col = pick_column(
        &header,
        found.column.as_deref(),
        schema::DEFAULT_TIMESTAMP,
        &name,
        "--timestamp-column",
    )?;
    let label_col = pick_column(
        &header,
        options.label_column.as_deref(),
        schema::DEFAULT_LABEL,
        &name,
        "--label-column",
    )?;
    let (kinds, dressed) = match &options.kinds {
        Some(kinds) if kinds.numeric.len() == header.len() => (kinds.clone(), Vec::new()),
        _ => infer_kinds(&bytes, delimiter, &header),
    };
    let CellKinds {
        mut numeric,
        decimal_comma,
    } = kinds;
    // Excluded columns are kept as text, so rows can be selected by their value. A
    // file `metrics` wrote (an analysed CSV, `watch`'s history) carries verdict
    // columns: they are results, never metrics; nor are sysstat's interval and CPU
    // number.
    let not_metrics = sysstat::not_metrics(&header);
    for (i, h) in header.iter().enumerate() {
        if options.exclude.contains(h)
            || schema::VERDICT_COLUMNS.contains(&h.as_str())
            || not_metrics.contains(&h.as_str())
        {
            numeric[i] = false;
        }
    }
    // Cells with a decimal comma are polars' to read.
    let plain = plain_kinds(
        structure.quoted,
        &header,
        &numeric,
        timestamp_col,
        label_col,
    )
    .filter(|_| !decimal_comma)
    .and_then(|kinds| numbers::parse(&bytes, delimiter, &kinds, &structure.chunk_starts));
    let Columns {
        mut frame,
        labels,
        infinite,
    } = match plain {
        Some(parsed) => {
            let names = header
                .iter()
                .enumerate()
                .filter(|&(i, _)| Some(i) != timestamp_col);
            let frame = Frame {
                names: names.map(|(_, h)| h.clone()).collect(),
                columns: parsed.columns,
                times: parsed.times,
                ..Frame::default()
            };
            // Its reader leaves an infinite cell to polars.
            Columns {
                frame,
                labels: None,
                infinite: Vec::new(),
            }
        }
        None => frame_with_polars(
            &bytes,
            Cells {
                delimiter,
                header: &header,
                numeric: &numeric,
                decimal_comma,
                timestamp_col,
            },
            label_col,
            &name,
        )?,
    };
    if frame.names.is_empty() {
        return Err(InputError::at(
            &name,
            Some(1),
            None,
            &format!(
                "no numeric metric columns; expected at least one column of numbers, found [{}]",
                header.join(", ")
            ),
        )
        .hint(&no_metrics_hint(&header, delimiter)));
    }
    let mut warnings = dressed;
    warnings.extend(found.unread);
    warnings.extend(missing_natives(&header));
    if !options.keep_empty {
        let empty: Vec<usize> = (0..frame.names.len())
            .filter(|&m| frame.columns[m].iter().all(|v| v.is_nan()))
            .collect();
        let rows = frame.rows();
        warnings.extend(leave_out_empty_metrics(
            &mut frame, &empty, rows, &header, &name,
        )?);
    }
    let label_column = label_col.map(|i| header[i].clone());
    Ok(Table {
        source: name,
        bytes,
        chunk_starts: structure.chunk_starts,
        delimiter,
        decimal_comma,
        header,
        numeric,
        frame,
        labels,
        label_column,
        warnings,
        infinite,
    })
}

/// What each column holds when the file can be read without polars (see
/// [`numbers`]): no quoted field (`quoted`, from the structure scan), no label
/// column, and every column the timestamp or numbers.
fn plain_kinds(
    quoted: bool,
    header: &[String],
    numeric: &[bool],
    timestamp_col: Option<usize>,
    label_col: Option<usize>,
) -> Option<Vec<Kind>> {
    if label_col.is_some() || quoted {
        return None;
    }
    (0..header.len())
        .map(|i| match (Some(i) == timestamp_col, numeric[i]) {
            (true, _) => Some(Kind::Time),
            (false, true) => Some(Kind::Number),
            (false, false) => None,
        })
        .collect()
}

/// How a file's cells are laid out and written: what parsing them needs.
#[derive(Debug, Clone, Copy)]
struct Cells<'a> {
    delimiter: u8,
    header: &'a [String],
    /// Which columns hold numbers.
    numeric: &'a [bool],
    /// Whether those numbers have a decimal comma.
    decimal_comma: bool,
    timestamp_col: Option<usize>,
}

/// A file's records as read.
struct Columns {
    /// Its metric, text and timestamp columns.
    frame: Frame,
    /// Its labels, when it has a label column.
    labels: Option<Vec<bool>>,
    /// Its metric columns' infinite cells, read as missing.
    infinite: Vec<InfiniteCells>,
}

/// The file's columns, parsed by polars.
fn frame_with_polars(
    bytes: &[u8],
    cells: Cells,
    label_col: Option<usize>,
    name: &str,
) -> Result<Columns, InputError> {
    let df = parse_with_polars(bytes, cells, name)?;
    let Cells {
        delimiter,
        header,
        numeric,
        timestamp_col,
        ..
    } = cells;

    // The metric columns, converted on every core.
    let mut metrics: Vec<Option<(Vec<f64>, Option<InfiniteCells>)>> = header
        .par_iter()
        .enumerate()
        .map(|(i, column_name)| {
            if !numeric[i] || Some(i) == timestamp_col || Some(i) == label_col {
                return Ok(None);
            }
            let column = df.column(column_name).map_err(|e| polars_error(name, e))?;
            let values = column.f64().map_err(|e| polars_error(name, e))?;
            let mut values: Vec<f64> = values.iter().map(|v| v.unwrap_or(f64::NAN)).collect();
            let infinite = infinite_as_missing(&mut values, column_name);
            Ok(Some((values, infinite)))
        })
        .collect::<Result<_, InputError>>()?;
    let mut frame = Frame::default();
    let mut labels = None;
    let mut infinite = Vec::new();
    for (i, column_name) in header.iter().enumerate() {
        let column = df.column(column_name).map_err(|e| polars_error(name, e))?;
        if Some(i) == timestamp_col {
            frame.times = Some(parse_times(column, bytes, delimiter, name, column_name, i)?);
        } else if Some(i) == label_col {
            labels = Some(read_labels(column).map_err(|(row, cell)| {
                InputError::at(
                    name,
                    line_of_record(bytes, delimiter, row),
                    Some(i as u64 + 1),
                    &format!(
                        "label column '{column_name}': {cell:?} is not a label; a label is 0 or 1 (0.0 or 1.0, true or false, yes or no, anomaly or normal), or empty for normal"
                    ),
                )
                .hint("name the column of 0/1 labels with --label-column, or leave it out")
            })?);
        } else if let Some((values, cells)) = metrics[i].take() {
            frame.names.push(column_name.clone());
            frame.columns.push(values);
            infinite.extend(cells);
        } else {
            let values = column.str().map_err(|e| polars_error(name, e))?;
            frame.text_names.push(column_name.clone());
            frame
                .text_columns
                .push(values.iter().map(|v| v.unwrap_or("").to_string()).collect());
        }
    }
    Ok(Columns {
        frame,
        labels,
        infinite,
    })
}

/// Makes every infinite reading of the metric column `column` missing (NaN), and
/// says how many there were and where the first was.
fn infinite_as_missing(values: &mut [f64], column: &str) -> Option<InfiniteCells> {
    let mut cells: Option<InfiniteCells> = None;
    for (row, value) in values.iter_mut().enumerate() {
        if value.is_infinite() {
            *value = f64::NAN;
            cells
                .get_or_insert_with(|| InfiniteCells {
                    column: column.to_string(),
                    count: 0,
                    first_row: row,
                })
                .count += 1;
        }
    }
    cells
}

/// Takes the metric columns at `empty` (ascending), which have no reading at all in
/// the `rows` rows of the file (every cell empty, NaN or infinite), out of `frame`,
/// with a warning each: there is nothing to learn a baseline from, and scoring them
/// against an invented one would flag or excuse rows at random. An error when
/// nothing would be left.
pub fn leave_out_empty_metrics(
    frame: &mut Frame,
    empty: &[usize],
    rows: usize,
    header: &[String],
    name: &str,
) -> Result<Vec<String>, InputError> {
    let column_of = |m: usize| {
        header
            .iter()
            .position(|h| *h == frame.names[m])
            .map(|i| i as u64 + 1)
    };
    if let Some(&m) = empty.first().filter(|_| empty.len() == frame.names.len()) {
        return Err(InputError::at(
            name,
            Some(1),
            column_of(m),
            &format!(
                "column '{}' has no readings: every one of its {rows} cells is empty, NaN or infinite, so there is no baseline to judge it by",
                frame.names[m],
            ),
        )
        .hint("the file needs at least one metric column with readings"));
    }
    let warnings = empty
        .iter()
        .map(|&m| {
            format!(
                "column '{}' left out: every one of its {rows} cells is empty, NaN or infinite",
                frame.names[m],
            )
        })
        .collect();
    for &m in empty.iter().rev() {
        frame.names.remove(m);
        frame.columns.remove(m);
    }
    Ok(warnings)
}

fn csv_reader(bytes: &[u8], delimiter: u8) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .flexible(true)
        .from_reader(bytes)
}

/// The column names on the header line of `bytes`, checked: every column named,
/// once, and not with a number.
pub fn read_header(bytes: &[u8], delimiter: u8, name: &str) -> Result<Vec<String>, InputError> {
    let mut reader = csv_reader(bytes, delimiter);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| {
            InputError::at(name, Some(1), None, &format!("unreadable header: {e}"))
                .hint("the first line must name the columns")
        })?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    for (i, h) in header.iter().enumerate() {
        if h.is_empty() {
            // The last of several: what an export that ends every line with a
            // delimiter writes.
            let (message, hint) = if i + 1 == header.len() && i > 0 {
                (
                    "the header line ends with a delimiter, so its last column has no name",
                    "remove the delimiter at the end of every line, or name that column",
                )
            } else {
                (
                    "a column has no name; expected a header naming every column",
                    "is the first line a header? add one naming each column",
                )
            };
            return Err(InputError::at(name, Some(1), Some(i as u64 + 1), message).hint(hint));
        }
        if let Some(j) = header[..i].iter().position(|g| g == h) {
            return Err(InputError::at(
                name,
                Some(1),
                Some(i as u64 + 1),
                &format!(
                    "duplicate column name '{h}' (columns {} and {})",
                    j + 1,
                    i + 1
                ),
            )
            .hint("rename one of them so every column name is unique"));
        }
        if h.parse::<f64>().is_ok() {
            return Err(InputError::at(
                name,
                Some(1),
                Some(i as u64 + 1),
                &format!("expected a header line naming the columns, found the number '{h}'"),
            )
            .hint("add a header line such as 'timestamp,cpu_percent,memory_percent'"));
        }
    }
    Ok(header)
}

/// Names a time column often has when it is not `timestamp`, tried in this order
/// (in any case).
const TIME_NAMES: [&str; 11] = [
    "time",
    "datetime",
    "date_time",
    "date time",
    "date",
    "ts",
    "time_stamp",
    "@timestamp",
    "_time",
    "epoch",
    "unix_time",
];

/// Which column holds a file's times, when it is not `timestamp`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct NamedTime {
    /// The column `--timestamp-column` names; else the first header name of
    /// `TIME_NAMES` whose cell on the first data row reads as a time since 1990.
    /// A time column called `time` or `date` was read as text, or as a metric when
    /// it held Unix seconds. `None`: `timestamp`, when the header has it.
    pub column: Option<String>,
    /// When there is none, but a column so named holds text the reader does not
    /// take for a time (`01/02/2025 10:00`, which may be either day or month
    /// first): what to tell the user, whose rows are then judged without times.
    pub unread: Option<String>,
}

/// The [`NamedTime`] of a file read with `options`, with this `header` and first
/// rows `bytes`: the column the options name or have decided, else one looked
/// for by name; nothing to look for when the header has `timestamp` (the
/// default).
pub fn time_column(
    options: &ReadOptions,
    header: &[String],
    bytes: &[u8],
    delimiter: u8,
) -> NamedTime {
    if options.timestamp_column.is_some()
        || options.time_decided
        || header
            .iter()
            .any(|h| h.eq_ignore_ascii_case(schema::DEFAULT_TIMESTAMP))
    {
        return NamedTime {
            column: options.timestamp_column.clone(),
            unread: None,
        };
    }
    let Some(Ok(first)) = csv_reader(bytes, delimiter).records().next() else {
        return NamedTime::default();
    };
    let named: Vec<(usize, &str)> = TIME_NAMES
        .iter()
        .filter_map(|wanted| {
            let at = header.iter().position(|h| h.eq_ignore_ascii_case(wanted))?;
            Some((at, first.get(at)?))
        })
        .collect();
    let column = named.iter().find_map(|&(at, cell)| {
        crate::timestamp::parse(cell)
            .filter(|&ms| ms >= crate::timestamp::EARLIEST_MS)
            .map(|_| header[at].clone())
    });
    let unread = match column {
        Some(_) => None,
        None => named
            .iter()
            .find(|(_, cell)| {
                let cell = cell.trim();
                cell.parse::<f64>().is_err()
                    && cell.bytes().any(|b| b.is_ascii_digit())
                    && cell.bytes().any(|b| matches!(b, b'/' | b'-' | b'.' | b':'))
            })
            .map(|&(at, cell)| {
                format!(
                    "column '{}' holds \"{cell}\", which is not a time this reader knows, so it is read as text: rows are judged in file order without their times (no time of day; incidents placed by row); hint: write its times as ISO 8601 (2025-01-02T10:00:00Z) or as YYYY-MM-DD HH:MM:SS (dates with the day or the month first, such as 01/02/2025, are not read: they cannot be told apart)",
                    header[at]
                )
            }),
    };
    NamedTime { column, unread }
}

fn pick_column(
    header: &[String],
    asked: Option<&str>,
    default: &str,
    name: &str,
    flag: &str,
) -> Result<Option<usize>, InputError> {
    match asked {
        Some(col) => match header.iter().position(|h| h == col) {
            Some(i) => Ok(Some(i)),
            None => Err(InputError::at(
                name,
                Some(1),
                None,
                &format!(
                    "{flag} names '{col}', but the header has [{}]",
                    header.join(", ")
                ),
            )
            .hint("use one of the header's column names")),
        },
        None => Ok(header.iter().position(|h| h.eq_ignore_ascii_case(default))),
    }
}

/// A warning when the header names the native schema (three or more of its
/// metrics) but not all of [`schema::REQUIRED_NATIVE`]: a host that exports no disk
/// or network counters is judged on what it has, and a misspelt native name
/// (`cpu_pct`) is told, as it is judged as a metric of its own, without the native
/// rules. Such a file used to be refused, leaving no way to analyse it.
pub fn missing_natives(header: &[String]) -> Option<String> {
    if !schema::uses_native_schema(header) {
        return None;
    }
    let present: Vec<String> = header.iter().map(|h| schema::canonical(h)).collect();
    let missing: Vec<&str> = schema::REQUIRED_NATIVE
        .iter()
        .copied()
        .filter(|r| !present.iter().any(|p| p == r))
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "the header names native metrics but not {}: the file is judged without them and without the rules made for them; hint: if another column holds one of them, give it the native name",
            missing.join(", ")
        )
    })
}

/// Which columns hold numbers. Metrics from the catalogue always do. Another column
/// does when at least 90 % of the non-missing cells in its first rows are numbers,
/// so one bad cell is reported as an error rather than turning a metric into text;
/// a column with no value in those rows is decided by its first value further down.
fn infer_kinds(bytes: &[u8], delimiter: u8, header: &[String]) -> (CellKinds, Vec<String>) {
    let mut counts = KindCounts::new(header.len());
    counts.scan(bytes, delimiter);
    counts.kinds(header, delimiter)
}

/// What decides which columns hold numbers (see `infer_kinds`), counted over
/// the pieces of a file in order, each a CSV under the file's header: a piece
/// after the first is needed only while a column has had no value.
#[derive(Debug, Clone)]
pub struct KindCounts {
    numbers: Vec<usize>,
    texts: Vec<usize>,
    /// Text cells that are numbers written with something more (see
    /// [`number_with_extras`]), and the first of them.
    dressed: Vec<usize>,
    dressed_example: Vec<Option<String>>,
    /// Text cells that are numbers with a decimal comma (see
    /// [`with_decimal_comma`]), and whether any of them cannot be a thousands
    /// separator instead (`41,30`, not `1,234`).
    commas: Vec<usize>,
    comma_is_decimal: bool,
    /// Number cells with a decimal point: a file that has them writes no decimal
    /// comma.
    points: usize,
    /// Data rows counted so far.
    rows: usize,
}

impl KindCounts {
    /// Nothing counted yet, for a header of `width` columns.
    pub fn new(width: usize) -> KindCounts {
        KindCounts {
            numbers: vec![0; width],
            texts: vec![0; width],
            dressed: vec![0; width],
            dressed_example: vec![None; width],
            commas: vec![0; width],
            comma_is_decimal: false,
            points: 0,
            rows: 0,
        }
    }

    /// Counts the records of the next piece, `bytes` (a header line, then records);
    /// returns whether every column is decided, so later pieces need not be read.
    pub fn scan(&mut self, bytes: &[u8], delimiter: u8) -> bool {
        let width = self.numbers.len();
        let mut reader = csv_reader(bytes, delimiter);
        for record in reader.records().flatten() {
            if self.decided() {
                return true;
            }
            let row = self.rows;
            self.rows += 1;
            for (i, cell) in record.iter().enumerate().take(width) {
                let cell = cell.trim();
                let seen = self.numbers[i] + self.texts[i] > 0;
                if MISSING.contains(&cell) || (row >= INFER_ROWS && seen) {
                    continue;
                }
                if cell.parse::<f64>().is_ok() {
                    self.numbers[i] += 1;
                    self.points += usize::from(cell.contains('.'));
                } else {
                    self.texts[i] += 1;
                    if let Some((_, fraction)) = cell.split_once(',')
                        && with_decimal_comma(cell).is_some()
                    {
                        self.commas[i] += 1;
                        self.comma_is_decimal |= fraction.len() != 3;
                    }
                    if number_with_extras(cell) {
                        self.dressed[i] += 1;
                        self.dressed_example[i].get_or_insert_with(|| cell.to_string());
                    }
                }
            }
        }
        self.decided()
    }

    fn decided(&self) -> bool {
        self.rows >= INFER_ROWS
            && (0..self.numbers.len()).all(|i| self.numbers[i] + self.texts[i] > 0)
    }

    /// Which of the columns of `header` hold numbers and whether they are written
    /// with a decimal comma, and a warning for each column read as text whose
    /// cells are mostly numbers written with something more (see
    /// `dressed_numbers`). A decimal comma is read in a file whose cells are not
    /// separated by commas (`delimiter`), whose numbers have no decimal point, and
    /// where one at least cannot be a thousands separator.
    pub fn kinds(&self, header: &[String], delimiter: u8) -> (CellKinds, Vec<String>) {
        let decimal_comma = delimiter != b',' && self.comma_is_decimal && self.points == 0;
        let numeric: Vec<bool> = header
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let (numbers, texts) = if decimal_comma {
                    (
                        self.numbers[i] + self.commas[i],
                        self.texts[i] - self.commas[i],
                    )
                } else {
                    (self.numbers[i], self.texts[i])
                };
                is_catalogued(name) || numbers >= 9 * texts
            })
            .collect();
        let dressed = self.dressed_numbers(header, &numeric);
        let kinds = CellKinds {
            numeric,
            decimal_comma,
        };
        (kinds, dressed)
    }

    /// A warning for each column read as text (`kinds`) although most of its cells
    /// are numbers written with something more (`"4,257"`, `45%`, `1,5`, `3.2 GB`):
    /// such a column is not judged, and the user most likely meant it to be.
    fn dressed_numbers(&self, header: &[String], kinds: &[bool]) -> Vec<String> {
        header
            .iter()
            .enumerate()
            .filter(|&(i, _)| !kinds[i] && self.dressed[i] > 0 && 2 * self.dressed[i] > self.texts[i])
            .map(|(i, name)| {
                let example = self.dressed_example[i].as_deref().unwrap_or_default();
                format!(
                    "column '{name}' is read as text, not judged as a metric: its cells are numbers written with something more, such as {example:?}; hint: {PLAIN_NUMBERS}"
                )
            })
            .collect()
    }
}

/// What to do with numbers written with separators, a unit, or a decimal comma
/// where it cannot be read.
const PLAIN_NUMBERS: &str = "write plain numbers (4257, 1.5) without separators or a unit; a decimal comma (1,5) is read only in a file whose cells are separated by ';', a tab or '|', and whose numbers have no decimal point";

/// Whether `cell` (not a number as it stands) is a number with thousands
/// separators or a decimal comma (`4,257`, `1 234`, `1,5`) or a unit after it
/// (`45%`, `3.2 GB`, `10ms`, `12 req/s`). A date (`2025-01-01`), a time (`12:30`)
/// or a version (`1.2.3`) is none of these.
fn number_with_extras(cell: &str) -> bool {
    let unsigned = cell.trim().trim_start_matches(['+', '-']);
    if !unsigned.starts_with(|c: char| c.is_ascii_digit()) {
        return false;
    }
    let separated: String = unsigned
        .chars()
        .filter(|c| !matches!(c, ',' | '\'' | '_' | ' '))
        .collect();
    if separated.len() < unsigned.len()
        && unsigned
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ',' | '\'' | '_' | ' ' | '.'))
        && separated.parse::<f64>().is_ok()
    {
        return true;
    }
    let split = unsigned
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(unsigned.len());
    let (number, unit) = unsigned.split_at(split);
    let unit = unit.trim();
    number.parse::<f64>().is_ok()
        && !unit.is_empty()
        && unit.len() <= 8
        && unit
            .chars()
            .all(|c| c.is_ascii_alphabetic() || matches!(c, '%' | '/'))
}

/// `cell` read as a number with a decimal comma: digits, a comma and digits, with
/// a sign or not (`41,30`, `-0,5`), or digits alone; nothing else.
fn with_decimal_comma(cell: &str) -> Option<f64> {
    let unsigned = cell.strip_prefix(['-', '+']).unwrap_or(cell);
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    let shaped = match unsigned.split_once(',') {
        Some((whole, fraction)) => digits(whole) && digits(fraction),
        None => digits(unsigned),
    };
    shaped.then(|| cell.replacen(',', ".", 1).parse().ok())?
}

fn is_catalogued(name: &str) -> bool {
    let name = schema::canonical(name);
    schema::NATIVE
        .iter()
        .chain(schema::LIVE_EXTRA.iter())
        .any(|m| m.name == name)
}

/// The words for a missing reading (besides an empty cell) that occur in `bytes`:
/// polars compares every cell with each word it is given, so words a file never
/// uses are left out. All of them start with `N` or `n`.
fn missing_tokens_in(bytes: &[u8]) -> Vec<&'static str> {
    const PIECE: usize = 1 << 20;
    let found: Vec<bool> = (0..bytes.len().div_ceil(PIECE))
        .into_par_iter()
        .map(|k| {
            let piece = &bytes[k * PIECE..((k + 1) * PIECE).min(bytes.len())];
            let mut seen = vec![false; MISSING.len()];
            for at in memchr::memchr2_iter(b'N', b'n', piece) {
                let rest = &bytes[k * PIECE + at..];
                for (t, token) in MISSING.iter().enumerate().skip(1) {
                    seen[t] |= rest.starts_with(token.as_bytes());
                }
            }
            seen
        })
        .reduce(
            || vec![false; MISSING.len()],
            |a, b| a.iter().zip(&b).map(|(x, y)| x | y).collect(),
        );
    MISSING
        .iter()
        .zip(found)
        .skip(1)
        .filter(|(_, seen)| *seen)
        .map(|(token, _)| *token)
        .collect()
}

fn parse_with_polars(bytes: &[u8], cells: Cells, name: &str) -> Result<DataFrame, InputError> {
    let mut schema = Schema::with_capacity(cells.header.len());
    for (i, h) in cells.header.iter().enumerate() {
        let dtype = if cells.numeric[i] && Some(i) != cells.timestamp_col {
            DataType::Float64
        } else {
            DataType::String
        };
        schema.with_column(h.as_str().into(), dtype);
    }
    let parse = CsvParseOptions::default()
        .with_separator(cells.delimiter)
        .with_decimal_comma(cells.decimal_comma)
        .with_quote_char(Some(b'"'))
        .with_missing_is_null(true)
        .with_null_values(
            Some(missing_tokens_in(bytes))
                .filter(|tokens| !tokens.is_empty())
                .map(|tokens| NullValues::AllColumns(tokens.into_iter().map(Into::into).collect())),
        );
    CsvReadOptions::default()
        .with_has_header(true)
        .with_schema(Some(Arc::new(schema)))
        .with_parse_options(parse)
        .into_reader_with_file_handle(Cursor::new(bytes))
        .finish()
        .map_err(|e| match first_bad_number(bytes, cells, name) {
            Some(err) => err,
            None => polars_error(name, e),
        })
}

/// The first cell of a numeric column that is not a number, as an error.
fn first_bad_number(bytes: &[u8], cells: Cells, name: &str) -> Option<InputError> {
    let Cells {
        delimiter,
        header,
        numeric,
        decimal_comma,
        timestamp_col,
    } = cells;
    let mut reader = csv_reader(bytes, delimiter);
    for record in reader.records().flatten() {
        for (i, cell) in record.iter().enumerate() {
            let trimmed = cell.trim();
            if numeric.get(i) != Some(&true)
                || Some(i) == timestamp_col
                || MISSING.contains(&trimmed)
            {
                continue;
            }
            // The parser takes spaces before a number but not after it.
            let number = if decimal_comma {
                with_decimal_comma(trimmed)
            } else {
                trimmed.parse::<f64>().ok()
            };
            let hint = if number.is_none() && number_with_extras(trimmed) {
                PLAIN_NUMBERS
            } else if number.is_none() {
                "fix the cell, or leave it empty to have it scored with the baseline median"
            } else if cell.trim_end() != cell {
                "remove the spaces after the number"
            } else {
                continue;
            };
            let line = record_line(bytes, &record);
            return Some(
                InputError::at(
                    name,
                    line,
                    Some(i as u64 + 1),
                    &format!("column '{}': expected a number, found {cell:?}", header[i]),
                )
                .hint(hint),
            );
        }
    }
    None
}

fn polars_error(name: &str, e: PolarsError) -> InputError {
    InputError::at(name, None, None, &format!("cannot parse the CSV: {e}"))
        .hint("check the file is a well-formed CSV with a header line")
}

fn parse_times(
    column: &Column,
    bytes: &[u8],
    delimiter: u8,
    name: &str,
    column_name: &str,
    index: usize,
) -> Result<Vec<i64>, InputError> {
    let text = column.str().map_err(|e| polars_error(name, e))?;
    // Each of polars' chunks is parsed on its own core; a chunk stops at its first
    // bad cell, and the earliest bad cell of the file is reported.
    let chunks: Vec<_> = text.downcast_iter().collect();
    let parsed: Vec<Result<Vec<i64>, usize>> = chunks
        .par_iter()
        .map(|chunk| {
            chunk
                .iter()
                .enumerate()
                .map(|(i, cell)| cell.and_then(timestamp::parse).ok_or(i))
                .collect()
        })
        .collect();
    let mut times = Vec::with_capacity(text.len());
    let mut offset = 0;
    for (chunk, result) in chunks.iter().zip(parsed) {
        match result {
            Ok(part) => times.extend(part),
            Err(i) => {
                let row = offset + i;
                let cell = chunk.value(i);
                return Err(InputError::at(
                    name,
                    line_of_record(bytes, delimiter, row),
                    Some(index as u64 + 1),
                    &format!("column '{column_name}': expected a timestamp, found {cell:?}"),
                )
                .hint(&format!(
                    "use one of: {}; or name another column with --timestamp-column",
                    timestamp::FORMS
                )));
            }
        }
        offset += chunk.len();
    }
    Ok(times)
}

/// What to try when a file has no metric column: when its header reads as one
/// column that holds another delimiter, the delimiter is the likely cause.
fn no_metrics_hint(header: &[String], delimiter: u8) -> String {
    let one = match header {
        [one] => one.as_bytes(),
        _ => &[],
    };
    let other = DELIMITERS
        .into_iter()
        .find(|&d| d != delimiter && one.contains(&d));
    match other {
        Some(d) => format!(
            "the header reads as one column with the delimiter {:?}; try --delimiter {:?}",
            char::from(delimiter),
            char::from(d)
        ),
        None if one.contains(&b' ') => "the header reads as one column of words between \
             spaces: fields must be separated by ',', ';', tab or '|'; convert it, e.g. \
             tr -s ' ' ',' < in.txt > in.csv"
            .to_string(),
        None => "metrics are read from columns whose cells are numbers; label and timestamp \
                 columns do not count"
            .to_string(),
    }
}

/// The line of the file (1-based) where data record `row` (0-based) begins.
fn line_of_record(bytes: &[u8], delimiter: u8, row: usize) -> Option<u64> {
    csv_reader(bytes, delimiter)
        .records()
        .nth(row)
        .and_then(|r| r.ok())
        .and_then(|r| record_line(bytes, &r))
}

/// The line of `bytes` where `record` begins. The csv reader places a record where
/// its reading began: at the blank lines before it, or, in a file of `\r\n` line
/// breaks, at the `\n` ending the line above; so errors named the line before.
fn record_line(bytes: &[u8], record: &csv::StringRecord) -> Option<u64> {
    let from = usize::try_from(record.position()?.byte())
        .ok()?
        .min(bytes.len());
    let start = bytes[from..]
        .iter()
        .position(|&b| b != b'\n' && b != b'\r')
        .map_or(bytes.len(), |k| from + k);
    Some(1 + memchr::memchr_iter(b'\n', &bytes[..start]).count() as u64)
}

/// Each row's label (an empty cell is normal), or the first row whose cell is no
/// label, with that cell. A column of other numbers or words (`--label-column
/// cpu_percent`, `--label-column anomaly_type`) was read as labels anyway: every
/// non-zero reading an anomaly, every word normal, and the quality figures made
/// of that.
fn read_labels(column: &Column) -> Result<Vec<bool>, (usize, String)> {
    if let Ok(values) = column.f64() {
        return values
            .iter()
            .enumerate()
            .map(|(row, v)| match v {
                None => Ok(false),
                Some(x) if x == 0.0 || x == 1.0 => Ok(x == 1.0),
                Some(x) => Err((row, x.to_string())),
            })
            .collect();
    }
    match column.str() {
        Ok(text) => text
            .iter()
            .enumerate()
            .map(|(row, v)| match v.map(str::trim) {
                None | Some("") => Ok(false),
                Some(cell) => label_value(cell).ok_or((row, cell.to_string())),
            })
            .collect(),
        Err(_) => Ok(vec![false; column.len()]),
    }
}

/// A label cell's meaning: `Some(true)` for an anomaly (`1`, `true`, `yes`,
/// `anomaly`), `Some(false)` for a normal row (`0`, `false`, `no`, `normal`), in
/// any case; `None` for anything else.
fn label_value(cell: &str) -> Option<bool> {
    match cell.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "anomaly" => Some(true),
        "0" | "false" | "no" | "normal" => Some(false),
        // `1.0` and `0.0`: what pandas writes for a label column that had a gap.
        other => match other.parse::<f64>() {
            Ok(1.0) => Some(true),
            Ok(0.0) => Some(false),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_column_by_another_name_is_found_when_its_first_cell_is_a_time() {
        let find = |text: &str| {
            let header = read_header(text.as_bytes(), b',', "t.csv").unwrap();
            time_column(&ReadOptions::default(), &header, text.as_bytes(), b',').column
        };
        assert_eq!(
            find("Time,cpu\n2025-01-01 00:00:00,5\n").as_deref(),
            Some("Time")
        );
        assert_eq!(find("ts,cpu\n1700000000,5\n").as_deref(), Some("ts"));
        assert_eq!(find("ts,cpu\n1700000000000,5\n").as_deref(), Some("ts"));
        // A duration called time, a date-only cell and the default are left alone.
        assert_eq!(find("time,cpu\n123.4,5\n"), None);
        assert_eq!(find("date,cpu\nMonday,5\n"), None);
        assert_eq!(find("timestamp,time\n1700000000,1700000000\n"), None);
        // The first name that holds a time, in the order of TIME_NAMES.
        assert_eq!(
            find("date,time,cpu\n2025-01-01T00:00:00Z,2025-01-01T00:00:00Z,5\n").as_deref(),
            Some("time")
        );
    }

    #[test]
    fn a_column_named_as_a_time_that_holds_no_time_this_reader_knows_is_told() {
        let unread = |text: &str| {
            let header = read_header(text.as_bytes(), b',', "t.csv").unwrap();
            time_column(&ReadOptions::default(), &header, text.as_bytes(), b',').unread
        };
        let told = unread("Time,cpu\n01/02/2025 10:00:00,5\n").unwrap();
        assert!(
            told.starts_with("column 'Time' holds \"01/02/2025 10:00:00\", which is not a time"),
            "{told}"
        );
        // A time found, a number (a duration), a word, or the default: nothing.
        assert_eq!(unread("Time,cpu\n2025-01-02 10:00:00,5\n"), None);
        assert_eq!(unread("time,cpu\n123.4,5\n"), None);
        assert_eq!(unread("date,cpu\nMonday,5\n"), None);
        assert_eq!(unread("timestamp,time\n1700000000,01/02/2025\n"), None);
    }

    #[test]
    fn labels_read_as_words_as_integers_and_as_the_floats_pandas_writes() {
        for (cell, label) in [
            ("1", Some(true)),
            (" Anomaly ", Some(true)),
            ("1.0", Some(true)),
            ("0.0", Some(false)),
            ("-0", Some(false)),
            ("no", Some(false)),
            ("0.5", None),
            ("2", None),
            ("nan", None),
            ("42.73", None),
        ] {
            assert_eq!(label_value(cell), label, "{cell:?}");
        }
    }

    #[test]
    fn numbers_written_with_separators_or_units_are_told_apart_from_dates_and_words() {
        for dressed in [
            "4,257",
            "1 234 567",
            "1,5",
            "-1,000.5",
            "45%",
            "3.2 GB",
            "10ms",
            "12 req/s",
        ] {
            assert!(number_with_extras(dressed), "{dressed}");
        }
        for other in [
            "2025-01-01",
            "12:30",
            "1.2.3",
            "0x1F",
            "ok",
            "",
            "3e5x",
            "v2",
            "1,2,3a",
        ] {
            assert!(!number_with_extras(other), "{other}");
        }
    }

    #[test]
    fn a_decimal_comma_is_read_where_it_cannot_be_a_delimiter_a_separator_or_beside_points() {
        assert_eq!(with_decimal_comma("41,30"), Some(41.3));
        assert_eq!(with_decimal_comma("-0,5"), Some(-0.5));
        assert_eq!(with_decimal_comma("12"), Some(12.0));
        for cell in ["1,2,3", "1.5", ",5", "5,", "1,5 %", "1 234,5", "a,b", ""] {
            assert_eq!(with_decimal_comma(cell), None, "{cell}");
        }
        let decided = |text: &str, delimiter: u8| {
            let header = read_header(text.as_bytes(), delimiter, "t").unwrap();
            infer_kinds(text.as_bytes(), delimiter, &header).0
        };
        let kinds = decided("t;cpu_percent;value\n2025-01-01T00:00:00Z;41,30;7\n", b';');
        assert_eq!(
            kinds,
            CellKinds {
                numeric: vec![false, true, true],
                decimal_comma: true,
            }
        );
        // A comma before three digits may as well be a thousands separator.
        assert!(!decided("a;b\n1,234;2\n", b';').decimal_comma);
        assert!(decided("a;b\n1,234;2,5\n", b';').decimal_comma);
        // A file that writes decimal points writes no decimal comma.
        assert!(!decided("a;b\n1,25;2.5\n", b';').decimal_comma);
        assert!(decided("a\tb\n1,25\t2\n", b'\t').decimal_comma);
        assert!(!decided("a,b\n\"1,25\",2\n", b',').decimal_comma);
    }

    #[test]
    fn a_column_of_numbers_with_units_is_named_in_a_warning() {
        let mut csv = String::from("timestamp,cpu,load,status\n");
        for i in 0..50 {
            csv.push_str(&format!("{i},{},{}%,ok\n", i % 7, i % 9));
        }
        let table = table_of("u.csv".into(), csv.into(), &ReadOptions::default()).unwrap();
        assert_eq!(table.frame.names, ["cpu"]);
        assert_eq!(table.warnings.len(), 1, "{:?}", table.warnings);
        assert!(
            table.warnings[0].starts_with("column 'load' is read as text, not judged as a metric")
                && table.warnings[0].contains("\"0%\""),
            "{:?}",
            table.warnings
        );
    }

    #[test]
    fn a_header_read_as_one_column_with_another_delimiter_in_it_hints_at_it() {
        let csv = "timestamp,cpu\n2025-01-01T00:00:00Z,1\n";
        let options = ReadOptions {
            delimiter: Some(b';'),
            ..ReadOptions::default()
        };
        let err = table_of("f.csv".into(), csv.into(), &options)
            .unwrap_err()
            .to_string();
        assert!(err.contains("try --delimiter ','"), "{err}");
        // Words between spaces: told that spaces do not separate fields.
        let spaced = "timestamp cpu\n1700000000 1\n";
        let err = table_of("f.csv".into(), spaced.into(), &ReadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("tr -s ' ' ','"), "{err}");
    }

    #[test]
    fn fit_where_on_the_label_column_takes_the_rows_of_that_label() {
        let csv = "cpu,label\n1,0\n2,1\n3,normal\n4,true\n";
        let table = table_of("f.csv".into(), csv.into(), &ReadOptions::default()).unwrap();
        assert_eq!(table.label_column.as_deref(), Some("label"));
        assert_eq!(table.rows_where("label", "0").unwrap(), [0, 2]);
        assert_eq!(table.rows_where("label", " True ").unwrap(), [1, 3]);
        let err = table.rows_where("label", "maybe").unwrap_err().to_string();
        assert!(err.contains("'label' is the label column"), "{err}");
        assert!(err.contains("--fit-where label=0"), "{err}");
    }

    #[test]
    fn delimiter_is_detected_from_the_header() {
        assert_eq!(detect_delimiter(b"a;b;c\n1;2;3"), b';');
        assert_eq!(detect_delimiter(b"a\tb\n1\t2"), b'\t');
        assert_eq!(detect_delimiter(b"\"x;y\",b\n1,2"), b',');
        assert_eq!(detect_delimiter(b"value\n1"), b',');
        assert_eq!(detect_delimiter(b"a|b|c\n1|2|3"), b'|');
        // A pipe in a name is no delimiter when commas separate the names.
        assert_eq!(detect_delimiter(b"a,b|c\n1,2"), b',');
    }

    #[test]
    fn infinite_cells_are_missing_readings_counted_per_column() {
        let csv = "timestamp,a,b\n1,1e999,2\n2,inf,3\n3,5,-inf\n4,6,7\n";
        let table = table_of("f.csv".into(), csv.into(), &ReadOptions::default()).unwrap();
        let column = |m: usize| table.frame.columns[m].iter().map(|v| v.to_bits());
        let want = |v: &[f64]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(
            column(0).collect::<Vec<_>>(),
            want(&[f64::NAN, f64::NAN, 5.0, 6.0])
        );
        assert_eq!(
            column(1).collect::<Vec<_>>(),
            want(&[2.0, 3.0, f64::NAN, 7.0])
        );
        let cells = |column: &str, count, first_row| InfiniteCells {
            column: column.into(),
            count,
            first_row,
        };
        assert_eq!(table.infinite, [cells("a", 2, 0), cells("b", 1, 2)]);
    }

    #[test]
    fn the_usual_file_reads_as_polars_reads_it_and_anything_else_goes_to_polars() {
        let cells = [
            "12.5",
            "-3",
            "0.000",
            "-0.0",
            "1e-3",
            "2.5E+2",
            ".5",
            "7.",
            "",
            "123456789.123456",
            "0.1234567890123456789",
            "99999999999999999",
            "3.14159",
        ];
        let mut csv = String::from("timestamp;a;b\n");
        for (i, cell) in cells.iter().enumerate() {
            let other = cells[(i * 7 + 3) % cells.len()];
            csv.push_str(&format!("2025-01-01T00:00:{i:02}Z;{cell};{other}\n"));
        }
        let table = table_of(
            "f.csv".into(),
            csv.clone().into_bytes(),
            &ReadOptions::default(),
        )
        .unwrap();
        let header = read_header(csv.as_bytes(), b';', "f.csv").unwrap();
        let numeric = [true, true, true];
        let cells = Cells {
            delimiter: b';',
            header: &header,
            numeric: &numeric,
            decimal_comma: false,
            timestamp_col: Some(0),
        };
        let polars = frame_with_polars(csv.as_bytes(), cells, None, "f.csv")
            .unwrap()
            .frame;
        let bits = |f: &Frame| -> Vec<Vec<u64>> {
            f.columns
                .iter()
                .map(|c| c.iter().map(|v| v.to_bits()).collect())
                .collect()
        };
        let quoted = |text: &[u8]| scan_structure(text, b';', 3, "f.csv").unwrap().quoted;
        assert!(plain_kinds(quoted(csv.as_bytes()), &header, &numeric, Some(0), None).is_some());
        assert_eq!(bits(&table.frame), bits(&polars));
        assert_eq!(table.frame.times, polars.times);
        assert_eq!(table.frame.names, polars.names);
        // A quote, a label column or a text column is polars' to read.
        assert!(
            plain_kinds(
                quoted(b"t;a;b\n\"x\";1;2\n"),
                &header,
                &numeric,
                Some(0),
                None
            )
            .is_none()
        );
        let plain = quoted(csv.as_bytes());
        assert!(plain_kinds(plain, &header, &numeric, Some(0), Some(2)).is_none());
        assert!(plain_kinds(plain, &header, &[true, true, false], Some(0), None).is_none());
    }

    #[test]
    fn only_the_missing_words_a_file_uses_are_looked_for() {
        assert!(missing_tokens_in(b"timestamp,network_mb\n1,2\n").is_empty());
        assert_eq!(
            missing_tokens_in(b"cpu,note\nN/A,x\nnull,None\n"),
            ["N/A", "null", "None"]
        );
    }
}

//! Writing a table back with its verdicts: every input row and column in the original
//! order and text, then the verdict columns.

use std::io::Write;

use rayon::prelude::*;

use super::input::Table;
use super::structure::WRITE_CHUNK;
use crate::detector::Verdict;
use crate::detector::reasons;
use crate::numfmt::push_fixed;
use crate::schema::VERDICT_COLUMNS;

/// Chunks formatted at once before they are written: enough for every core, few
/// enough that the buffers stay in cache (measured: formatting into 16 fresh
/// 8-MB buffers made writing a million rows slower than one sequential pass).
const CHUNKS_IN_FLIGHT: usize = 16;

/// Writes `table`'s data rows from row `from` (a multiple of [`WRITE_CHUNK`]) on,
/// one for each of `verdicts`, with their verdicts to `out`, using the table's
/// delimiter, after its header line when `from` is 0 and `with_header` (a window
/// of a file after the first leaves it out). `metrics` names the model's metrics
/// for `top_metric`. A file `metrics` wrote already has verdict columns: those are
/// replaced, not repeated. Chunks of rows are formatted in parallel and written in
/// order, each batch while the next is formatted.
pub fn write_annotated<W: Write>(
    table: &Table,
    from: usize,
    verdicts: &[Verdict],
    metrics: &[String],
    with_header: bool,
    mut out: W,
) -> csv::Result<()> {
    let stale: Vec<usize> = (0..table.header.len())
        .filter(|&i| VERDICT_COLUMNS.contains(&table.header[i].as_str()))
        .collect();
    let mut bounds = Vec::with_capacity(table.chunk_starts.len() + 2);
    bounds.push(0);
    bounds.extend_from_slice(&table.chunk_starts);
    bounds.push(table.bytes.len());
    let first = from / WRITE_CHUNK;
    let last = (from + verdicts.len()).div_ceil(WRITE_CHUNK).max(first + 1);
    let chunks: Vec<(usize, &[u8])> = bounds
        .windows(2)
        .enumerate()
        .take(last)
        .skip(first)
        .map(|(k, w)| (k, &table.bytes[w[0]..w[1]]))
        .collect();
    let format = |batch: &[(usize, &[u8])], buffers: &mut [Vec<u8>]| {
        batch
            .par_iter()
            .zip(buffers.par_iter_mut())
            .try_for_each(|(&(k, bytes), buf)| {
                buf.clear();
                Chunk {
                    bytes,
                    delimiter: table.delimiter,
                    decimal_comma: table.decimal_comma,
                    header: k == 0,
                    write_header: with_header,
                    verdicts: verdicts.get(k * WRITE_CHUNK - from..).unwrap_or_default(),
                    metrics,
                    stale: &stale,
                }
                .write(buf)
            })
    };
    // One batch is written out while the next is formatted.
    let mut ready = vec![Vec::new(); CHUNKS_IN_FLIGHT];
    let mut next = vec![Vec::new(); CHUNKS_IN_FLIGHT];
    let mut ready_len = 0;
    for batch in chunks.chunks(CHUNKS_IN_FLIGHT) {
        std::thread::scope(|s| {
            let formatting = s.spawn(|| format(batch, &mut next[..batch.len()]));
            let written = ready[..ready_len]
                .iter()
                .try_for_each(|buf| out.write_all(buf));
            let formatted = formatting
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            written.map_err(csv::Error::from).and(formatted)
        })?;
        std::mem::swap(&mut ready, &mut next);
        ready_len = batch.len();
    }
    for buf in &ready[..ready_len] {
        out.write_all(buf)?;
    }
    out.flush()?;
    Ok(())
}

/// A chunk of the input's records and the verdicts of its data records, in order.
struct Chunk<'a> {
    /// The records' bytes, from a record's start to a record's end.
    bytes: &'a [u8],
    delimiter: u8,
    /// Whether the input writes its numbers with a decimal comma, as the verdicts'
    /// numbers are then written.
    decimal_comma: bool,
    /// Whether the first record is the header.
    header: bool,
    /// Whether that header is written.
    write_header: bool,
    /// At least one per data record (extra ones are ignored).
    verdicts: &'a [Verdict],
    /// The model's metrics, for `top_metric`.
    metrics: &'a [String],
    /// Positions of verdict columns the input already has, left out of the output.
    stale: &'a [usize],
}

impl Chunk<'_> {
    /// Formats the records with their verdict cells into `out`.
    fn write(&self, out: &mut Vec<u8>) -> csv::Result<()> {
        let start = out.len();
        if self.stale.is_empty()
            && memchr::memchr(b'"', self.bytes).is_none()
            && self.write_plain(out)
        {
            return Ok(());
        }
        out.truncate(start);
        self.write_csv(out)
    }

    /// [`Chunk::write`] for any input, through a CSV reader and writer; the only one
    /// that leaves out stale verdict columns.
    fn write_csv(&self, out: &mut Vec<u8>) -> csv::Result<()> {
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(self.delimiter)
            .has_headers(false)
            .flexible(true)
            .from_reader(self.bytes);
        let mut writer = csv::WriterBuilder::new()
            .delimiter(self.delimiter)
            .from_writer(out);
        let mut read = csv::ByteRecord::new();
        let mut record = csv::ByteRecord::new();
        let mut verdicts = self.verdicts.iter();
        let mut cell = Vec::with_capacity(64);
        let mut first = self.header;
        while reader.read_byte_record(&mut read)? {
            record.clear();
            for (i, field) in read.iter().enumerate() {
                if !self.stale.contains(&i) {
                    record.push_field(field);
                }
            }
            if first {
                first = false;
                if !self.write_header {
                    continue;
                }
                for c in VERDICT_COLUMNS {
                    record.push_field(c.as_bytes());
                }
                writer.write_byte_record(&record)?;
                continue;
            }
            let Some(v) = verdicts.next() else { break };
            push_verdict(
                &mut record,
                Some(v),
                self.metrics,
                self.decimal_comma,
                &mut cell,
            );
            writer.write_byte_record(&record)?;
        }
        writer.flush()?;
        Ok(())
    }

    /// [`Chunk::write`] for lines without a quote: each line with content is a
    /// record whose fields need no quotes, so it is copied as it stands (its line
    /// break made `\n`) and the verdict cells follow, exactly as the CSV writer
    /// would put them. Returns false, having written part of the chunk, when a line
    /// holds a carriage return other than its break's, which a CSV reader takes for
    /// a record's end.
    fn write_plain(&self, out: &mut Vec<u8>) -> bool {
        let bytes = self.bytes;
        let mut verdicts = self.verdicts.iter();
        let mut cell = Vec::with_capacity(64);
        let mut first = self.header;
        let mut start = 0;
        let ends = memchr::memchr_iter(b'\n', bytes).chain(std::iter::once(bytes.len()));
        for end in ends {
            let mut line = &bytes[start..end];
            start = end + 1;
            if let Some(rest) = line.strip_suffix(b"\r") {
                line = rest;
            }
            if line.iter().all(|&b| b == b'\r') {
                continue;
            }
            if memchr::memchr(b'\r', line).is_some() {
                return false;
            }
            let verdict = if first {
                first = false;
                if !self.write_header {
                    continue;
                }
                None
            } else {
                match verdicts.next() {
                    Some(v) => Some(v),
                    None => break,
                }
            };
            out.extend_from_slice(line);
            let mut push = |field: &[u8]| {
                out.push(self.delimiter);
                push_field(out, field, self.delimiter);
            };
            match verdict {
                Some(v) => verdict_cells(
                    Some(v),
                    self.metrics,
                    self.decimal_comma,
                    &mut cell,
                    &mut push,
                ),
                None => VERDICT_COLUMNS.iter().for_each(|c| push(c.as_bytes())),
            }
            out.push(b'\n');
        }
        true
    }
}

/// Appends `field` as a CSV writer would: in quotes, with quotes doubled, when it
/// holds the delimiter, a quote or a line break.
fn push_field(out: &mut Vec<u8>, field: &[u8], delimiter: u8) {
    if !field
        .iter()
        .any(|&b| b == delimiter || b == b'"' || b == b'\n' || b == b'\r')
    {
        out.extend_from_slice(field);
        return;
    }
    out.push(b'"');
    for &b in field {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    out.push(b'"');
}

/// Appends the [`VERDICT_COLUMNS`] cells of `verdict` to `record` (empty cells when
/// there is none yet), its numbers with a decimal comma when `decimal_comma`.
/// `cell` is scratch space reused between rows.
pub fn push_verdict(
    record: &mut csv::ByteRecord,
    verdict: Option<&Verdict>,
    metrics: &[String],
    decimal_comma: bool,
    cell: &mut Vec<u8>,
) {
    verdict_cells(verdict, metrics, decimal_comma, cell, &mut |field| {
        record.push_field(field)
    });
}

/// Hands each of the [`VERDICT_COLUMNS`] cells of `verdict`, in order, to `field`
/// (empty cells when there is none yet), its numbers with a decimal comma when
/// `decimal_comma`. `cell` is scratch space reused between rows.
fn verdict_cells(
    verdict: Option<&Verdict>,
    metrics: &[String],
    decimal_comma: bool,
    cell: &mut Vec<u8>,
    field: &mut dyn FnMut(&[u8]),
) {
    let number = |cell: &mut Vec<u8>, value: f64, decimals: u32| {
        cell.clear();
        push_fixed(cell, value, decimals);
        if decimal_comma && let Some(point) = cell.iter().position(|&b| b == b'.') {
            cell[point] = b',';
        }
    };
    let Some(v) = verdict else {
        for _ in VERDICT_COLUMNS {
            field(b"");
        }
        return;
    };
    field(if v.is_anomaly { b"true" } else { b"false" });
    number(cell, v.anomaly_score, 4);
    field(cell);
    field(v.severity.as_str().as_bytes());
    number(cell, v.z_max, 2);
    field(cell);
    field(v.top_metric_name(metrics).unwrap_or_default().as_bytes());
    cell.clear();
    for (i, r) in v.reasons.iter().enumerate() {
        if i > 0 {
            cell.extend_from_slice(reasons::SEPARATOR.as_bytes());
        }
        cell.extend_from_slice(r.as_bytes());
    }
    field(cell);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detector::Severity;
    use crate::io::input::{ReadOptions, read_table};
    use crate::io::text::CsvInput;

    #[test]
    fn rows_across_many_chunks_come_back_in_order_with_their_own_verdicts() {
        let rows = 3 * WRITE_CHUNK + 123;
        let mut text = String::from("name,value\r\n");
        for r in 0..rows {
            // Quoted fields with delimiters and line breaks, and blank lines, so a
            // chunk boundary that split a record would show.
            if r % 1000 == 0 {
                text.push_str(&format!("\"row {r},\nsecond line\",{r}\r\n\r\n"));
            } else {
                text.push_str(&format!("row {r},{r}\r\n"));
            }
        }
        let source = CsvInput::Bytes {
            name: "many.csv".into(),
            bytes: text.into_bytes(),
        };
        let table = read_table(&source, &ReadOptions::default()).unwrap();
        assert_eq!(table.chunk_starts.len(), 3);
        let verdicts: Vec<Verdict> = (0..rows)
            .map(|r| Verdict {
                anomaly_score: r as f64 / rows as f64,
                is_anomaly: false,
                severity: Severity::Normal,
                z_max: 0.0,
                top_metric: None,
                reasons: vec![format!("reason {r}")],
                after_pause: false,
            })
            .collect();
        let mut out = Vec::new();
        write_annotated(&table, 0, &verdicts, &["value".into()], true, &mut out).unwrap();
        let mut reader = csv::Reader::from_reader(out.as_slice());
        let header = reader.headers().unwrap().clone();
        assert_eq!(header.len(), 2 + VERDICT_COLUMNS.len());
        let mut seen = 0;
        for (r, record) in reader.records().enumerate() {
            let record = record.unwrap();
            assert_eq!(record[1], r.to_string());
            assert_eq!(record[7], format!("reason {r}"));
            if r % 1000 == 0 {
                assert_eq!(record[0], format!("row {r},\nsecond line"));
            }
            seen += 1;
        }
        assert_eq!(seen, rows);
    }

    #[test]
    fn plain_lines_are_written_as_the_csv_writer_would() {
        let verdict = |r: usize| Verdict {
            anomaly_score: 0.5,
            is_anomaly: r.is_multiple_of(2),
            severity: Severity::High,
            z_max: 3.25,
            top_metric: Some(0),
            reasons: vec![format!("value {r}, \"odd\"; high"), "second".into()],
            after_pause: false,
        };
        let verdicts: Vec<Verdict> = (0..4).map(verdict).collect();
        let metrics = ["value".to_string()];
        for (text, delimiter) in [
            ("t,value\n1,2\n3,4\n", b','),
            ("t,value\r\n1,2\r\n\r\n\r\r\n3,4", b','),
            ("\n\nt;value\n1;2,5\n\n3;4\n5;6\n7;8\n9;10\n", b';'),
            ("t\tvalue\n1\t\n\t4\n", b'\t'),
        ] {
            for write_header in [true, false] {
                let chunk = Chunk {
                    bytes: text.as_bytes(),
                    delimiter,
                    // Both writers put the decimal comma in the same cells.
                    decimal_comma: delimiter == b';',
                    header: true,
                    write_header,
                    verdicts: &verdicts,
                    metrics: &metrics,
                    stale: &[],
                };
                let mut plain = Vec::new();
                assert!(chunk.write_plain(&mut plain));
                let mut csv = Vec::new();
                chunk.write_csv(&mut csv).unwrap();
                let plain = String::from_utf8(plain).unwrap();
                assert_eq!(plain, String::from_utf8(csv).unwrap(), "{text:?}");
                // Without the header, the rows are written just the same.
                assert_eq!(
                    plain
                        .lines()
                        .next()
                        .is_some_and(|l| l.contains("anomaly_score")),
                    write_header,
                    "{text:?}"
                );
            }
        }
        // A carriage return inside a line ends a record for a CSV reader: the
        // plain writer declines.
        let chunk = Chunk {
            bytes: b"t,value\n1,2\r3\n",
            delimiter: b',',
            decimal_comma: false,
            header: true,
            write_header: true,
            verdicts: &verdicts,
            metrics: &metrics,
            stale: &[],
        };
        assert!(!chunk.write_plain(&mut Vec::new()));
    }
}

//! Writing a table back with its verdicts: every input row and column in the original
//! order and text, then the verdict columns.

use std::io::Write;

use super::input::Table;
use crate::detector::Verdict;
use crate::numfmt::push_fixed;

/// The columns appended to every row, in order.
pub const VERDICT_COLUMNS: [&str; 6] = [
    "is_anomaly",
    "anomaly_score",
    "severity",
    "z_max",
    "top_metric",
    "reasons",
];

/// How reasons are joined in one cell.
pub const REASON_SEPARATOR: &str = " | ";

/// Streams `table`'s rows with `verdicts` (one per data row) to `out`, using the
/// table's delimiter. `metrics` names the model's metrics for `top_metric`.
pub fn write_annotated<W: Write>(
    table: &Table,
    verdicts: &[Verdict],
    metrics: &[String],
    out: W,
) -> csv::Result<()> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(table.delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(table.bytes.as_slice());
    let mut writer = csv::WriterBuilder::new()
        .delimiter(table.delimiter)
        .from_writer(out);
    let mut record = csv::ByteRecord::new();
    let mut verdicts = verdicts.iter();
    let mut cell = String::with_capacity(64);
    let mut first = true;
    while reader.read_byte_record(&mut record)? {
        if first {
            first = false;
            for c in VERDICT_COLUMNS {
                record.push_field(c.as_bytes());
            }
            writer.write_byte_record(&record)?;
            continue;
        }
        let Some(v) = verdicts.next() else { break };
        push_verdict(&mut record, Some(v), metrics, &mut cell);
        writer.write_byte_record(&record)?;
    }
    writer.flush()?;
    Ok(())
}

/// Appends the [`VERDICT_COLUMNS`] cells of `verdict` to `record` (empty cells when
/// there is none yet). `cell` is scratch space reused between rows.
pub fn push_verdict(
    record: &mut csv::ByteRecord,
    verdict: Option<&Verdict>,
    metrics: &[String],
    cell: &mut String,
) {
    let Some(v) = verdict else {
        for _ in VERDICT_COLUMNS {
            record.push_field(b"");
        }
        return;
    };
    record.push_field(if v.is_anomaly { b"true" } else { b"false" });
    cell.clear();
    push_fixed(cell, v.anomaly_score, 4);
    record.push_field(cell.as_bytes());
    record.push_field(v.severity.as_str().as_bytes());
    cell.clear();
    push_fixed(cell, v.z_max, 2);
    record.push_field(cell.as_bytes());
    record.push_field(v.top_metric_name(metrics).unwrap_or_default().as_bytes());
    cell.clear();
    for (i, r) in v.reasons.iter().enumerate() {
        if i > 0 {
            cell.push_str(REASON_SEPARATOR);
        }
        cell.push_str(r);
    }
    record.push_field(cell.as_bytes());
}

//! The incidents file `analyze --events` writes: one row (CSV) or one object (JSON)
//! per incident, chosen by the file's extension.

use std::io::Write;
use std::path::Path;

use crate::detector::Incident;
use crate::timestamp;

/// The columns of the CSV form, in order.
pub const EVENT_COLUMNS: [&str; 12] = [
    "id",
    "start",
    "end",
    "open",
    "duration_s",
    "rows",
    "first_row",
    "last_row",
    "peak_score",
    "peak_severity",
    "metrics",
    "summary",
];

/// Whether `path` asks for JSON (`.json`, any case) rather than CSV.
pub fn is_json(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
}

/// Writes `incidents` to `w`: a JSON array when `json` (a file named `.json`, see
/// [`is_json`]), else CSV with [`EVENT_COLUMNS`].
pub fn write_events(w: &mut dyn Write, json: bool, incidents: &[Incident]) -> std::io::Result<()> {
    if json {
        let json = serde_json::to_string_pretty(incidents).map_err(std::io::Error::other)?;
        w.write_all(json.as_bytes())?;
        w.write_all(b"\n")
    } else {
        write_csv(w, incidents)
    }
}

fn write_csv(w: &mut dyn Write, incidents: &[Incident]) -> std::io::Result<()> {
    let mut csv = csv::Writer::from_writer(w);
    csv.write_record(EVENT_COLUMNS)?;
    let iso = |ms: Option<i64>| ms.map(timestamp::to_iso).unwrap_or_default();
    for i in incidents {
        csv.write_record([
            i.id.to_string(),
            iso(i.start_ms),
            iso(i.end_ms),
            i.open.to_string(),
            i.duration_s().map(|d| d.to_string()).unwrap_or_default(),
            i.rows.to_string(),
            i.first_row.to_string(),
            i.last_row.to_string(),
            format!("{:.4}", i.peak_score),
            i.peak_severity.to_string(),
            i.metrics.join(";"),
            i.summary.clone(),
        ])?;
    }
    csv.flush()
}

//! A batch analysis of a file read window by window, so memory follows the window,
//! not the file: a first pass goes through every window to count the rows, find
//! the metric columns without a reading and take the training sample (once every
//! metric has shown a reading, only the sampled rows are parsed); the fit; then a
//! second pass judges each window where the one before left off and hands its
//! verdicts on to be written. A file that fits in one window is read once. The
//! verdicts are those of [`super::analyze`] on the whole file held at once.

use std::time::{Duration, Instant};

use super::counters::rising_columns;
use super::fit_sample::FitSample;
use super::{AnalysisError, FitRows, fit_on, fit_whole, training_rows};
use crate::detector::batch::Resume;
use crate::detector::{DetectorParams, Frame, Model, RuleSet, Verdict};
use crate::io::InputError;
use crate::io::input::{
    CellKinds, KindCounts, NamedTime, ReadOptions, Table, leave_out_empty_metrics, missing_natives,
    read_header, table_of, time_column,
};
use crate::io::structure::WRITE_CHUNK;
use crate::io::text::detect_delimiter;
use crate::io::windows::{Window, Windows};

/// What a windowed analysis is asked to do.
pub struct Plan<'a> {
    /// The detector's settings, for a fit.
    pub params: &'a DetectorParams,
    /// Which rows to fit on.
    pub fit: &'a FitRows,
    /// A saved model to use instead of a fit.
    pub model: Option<Model>,
    /// The rules.
    pub rules: &'a RuleSet,
    /// How to read the file.
    pub options: &'a ReadOptions,
}

/// What the first pass and the fit found, ready for the second pass.
pub struct Prepared {
    /// The model to judge with.
    pub model: Model,
    /// Rows fitted on (0 with a saved model).
    pub fit_rows: usize,
    /// Data rows in the file.
    pub rows: usize,
    /// What the reader left out and why.
    pub warnings: Vec<String>,
    /// Time spent on the first pass.
    pub read_time: Duration,
    /// Time spent fitting.
    pub fit_time: Duration,
    /// The one window of a file that has only one, kept from the first pass.
    kept: Option<Table>,
    /// How the second pass reads the windows: the column kinds the first found.
    options: ReadOptions,
    /// The metric columns left out for having no reading.
    empty: Vec<String>,
}

/// Reads every window of `windows` and fits (unless `plan` brings a model);
/// `progress` is called after each window with the bytes of records read so far
/// in the pass (from 0 again when the pass is read again).
pub fn prepare(
    windows: &mut Windows,
    plan: Plan,
    progress: &dyn Fn(usize),
) -> Result<Prepared, AnalysisError> {
    let started = Instant::now();
    let mut options = plan.options.clone();
    options.keep_empty = true;
    let ColumnKinds {
        kinds,
        dressed,
        time,
    } = column_kinds(windows, &options)?;
    options.kinds = kinds;
    // Found once, from the first window, so every window reads the same column.
    options.timestamp_column = time.column.or(options.timestamp_column);
    options.time_decided = true;
    let FirstPass {
        sample,
        rows,
        readings,
        mut first,
        header,
        names,
    } = sampled_pass(windows, &plan, &options, progress)?;
    let empty_at: Vec<usize> = (0..names.len()).filter(|&m| !readings[m]).collect();
    let mut names_only = Frame {
        names: names.clone(),
        columns: vec![Vec::new(); names.len()],
        ..Frame::default()
    };
    let mut warnings = dressed;
    warnings.extend(time.unread);
    warnings.extend(missing_natives(&header));
    warnings.extend(leave_out_empty_metrics(
        &mut names_only,
        &empty_at,
        rows,
        &header,
        windows.name(),
    )?);
    let empty: Vec<String> = empty_at.iter().map(|&m| names[m].clone()).collect();
    if let Some(t) = first.as_mut() {
        drop_metrics(&mut t.frame, &empty);
        t.warnings = warnings.clone();
    }
    let read_time = started.elapsed();
    let started = Instant::now();
    let (model, fit_rows) = match (plan.model, &first) {
        (Some(m), _) => (m, 0),
        (None, Some(only)) => {
            warnings.extend(rising_columns(&only.frame, &plan.options.told_counters));
            fit_whole(only, names.len(), plan.params, plan.fit)?
        }
        (None, None) => {
            let mut train = sample.finish();
            drop_metrics(&mut train, &empty);
            warnings.extend(rising_columns(&train, &plan.options.told_counters));
            fit_on(&train, plan.params, plan.fit, windows.name())?
        }
    };
    let text: Vec<String> = header
        .iter()
        .filter(|h| !names.contains(h))
        .cloned()
        .collect();
    warnings.extend(plan.rules.idle(&names, &text));
    Ok(Prepared {
        model,
        fit_rows,
        rows,
        warnings,
        read_time,
        fit_time: started.elapsed(),
        kept: first,
        options,
        empty,
    })
}

/// What the first pass through the windows found.
struct FirstPass {
    /// The training sample.
    sample: FitSample,
    /// Data rows in the file.
    rows: usize,
    /// For each metric column, whether any row has a reading.
    readings: Vec<bool>,
    /// The only window, as a table, when the file has one.
    first: Option<Table>,
    /// The header's names.
    header: Vec<String>,
    /// The metric columns' names.
    names: Vec<String>,
}

/// The first pass, expecting the rows the file's size promises; read again
/// without when far fewer came (the first window's rows much shorter than the
/// rest), taking every block the sample may keep.
fn sampled_pass(
    windows: &mut Windows,
    plan: &Plan,
    options: &ReadOptions,
    progress: &dyn Fn(usize),
) -> Result<FirstPass, AnalysisError> {
    let pass = first_pass(windows, plan, options, progress, true)?;
    if pass.first.is_some() || plan.model.is_some() || pass.sample.held() {
        return Ok(pass);
    }
    windows.rewind()?;
    first_pass(windows, plan, options, progress, false)
}

/// Goes through every window, counting the rows, noting which metrics have a
/// reading and taking the training sample. With `expect`, the sample starts at the
/// step that half the rows the file's size promises (at the first window's bytes
/// per row) would need: the blocks it would later drop are not read.
fn first_pass(
    windows: &mut Windows,
    plan: &Plan,
    options: &ReadOptions,
    progress: &dyn Fn(usize),
    expect: bool,
) -> Result<FirstPass, AnalysisError> {
    let mut sample = FitSample::default();
    let mut rows = 0;
    let mut readings: Vec<bool> = Vec::new();
    let mut first: Option<Table> = None;
    let (mut header, mut names) = (Vec::new(), Vec::new());
    let mut windows_read = 0;
    let mut bytes_read = 0;
    while let Some(window) = windows.next_window()? {
        bytes_read += window.record_bytes();
        progress(bytes_read);
        // The first window's training rows go into the sample only once there is
        // a second: a file of one window is fitted on its table (see `fit_whole`).
        if let Some(kept) = first.take()
            && plan.model.is_none()
        {
            sample.push(&kept.frame, training_rows(&kept, plan.fit, 0)?);
        }
        // Once every metric has shown a reading, a window only counts its rows
        // and gives its sampled training rows: only those are read.
        let settled = windows_read > 0
            && readings.iter().all(|&r| r)
            && matches!(plan.fit, FitRows::All | FitRows::First(_));
        if let Some(count) = settled.then(|| window.plain_records()).flatten() {
            let training = match (plan.model.is_some(), plan.fit) {
                (true, _) => 0,
                (false, FitRows::First(n)) => count.min(n.saturating_sub(sample.seen())),
                (false, _) => count,
            };
            let runs = sample.wanted(training);
            // A bad row is reported as reading the whole window reports it: the first
            // in the window, not the first among the sampled.
            let part = if runs.is_empty() {
                Frame::default()
            } else {
                match read_window(windows.name(), window.part(&runs), options) {
                    Ok(part) => part.frame,
                    Err(e) => {
                        let whole = read_window(windows.name(), window, options);
                        return Err(whole.err().unwrap_or(e).into());
                    }
                }
            };
            sample.push_runs(training, &runs, &part);
            rows += count;
            windows_read += 1;
            windows.recycle(window.bytes);
            continue;
        }
        let window_bytes = window.bytes.len();
        let table = read_window(windows.name(), window, options)?;
        if windows_read == 0 {
            // Nothing is in the sample before a second window.
            sample = FitSample::of_metrics(table.frame.names.len());
            readings = vec![false; table.frame.names.len()];
            header.clone_from(&table.header);
            names.clone_from(&table.frame.names);
            let promised =
                table.frame.rows() as f64 * windows.size() as f64 / window_bytes.max(1) as f64;
            match plan.fit {
                _ if !expect => {}
                FitRows::All => sample.expect(promised as usize / 2),
                FitRows::First(n) => sample.expect((promised as usize / 2).min(*n)),
                // Which rows are training rows is only known as they are read.
                FitRows::Where { .. } => {}
            }
        }
        for (seen, column) in readings.iter_mut().zip(&table.frame.columns) {
            *seen = *seen || column.iter().any(|v| !v.is_nan());
        }
        if plan.model.is_none() && windows_read > 0 {
            let train = training_rows(&table, plan.fit, sample.seen())?;
            sample.push(&table.frame, train);
        }
        rows += table.frame.rows();
        windows_read += 1;
        if windows_read == 1 {
            first = Some(table);
        } else {
            windows.recycle(table.bytes);
        }
    }
    Ok(FirstPass {
        sample,
        rows,
        readings,
        first,
        header,
        names,
    })
}

/// What takes each judged part of a window, in order: the window's table, the row
/// of it the part begins at, the part's verdicts and the model.
pub type EachPart<'a> =
    dyn FnMut(&Table, usize, &[Verdict], &Model) -> Result<(), AnalysisError> + 'a;

/// Rows of a window judged at a time, handed on while the next are judged: writing
/// (one core copying into the page cache) then runs beside the judging of the next
/// part, on every core. A multiple of [`WRITE_CHUNK`].
const PART_ROWS: usize = 16 * WRITE_CHUNK;

/// Judges every window of `windows` with the prepared model, in order, handing
/// each part of each window to `each` (on this thread, while the next part is
/// judged on another); returns the time spent judging.
pub fn judge(
    windows: &mut Windows,
    prepared: &mut Prepared,
    rules: &RuleSet,
    progress: &(dyn Fn(usize) + Sync),
    each: &mut EachPart,
) -> Result<Duration, AnalysisError> {
    let mut resume = Resume::default();
    let mut scoring = Duration::ZERO;
    let model = &prepared.model;
    let mut judge_one = |table: &Table| -> Result<(), AnalysisError> {
        let rows = table.frame.rows();
        let resume = &mut resume;
        let (judged, handed) = std::thread::scope(|s| {
            let (parts, received) = std::sync::mpsc::sync_channel(1);
            let judging = s.spawn(move || -> Result<Duration, AnalysisError> {
                let started = Instant::now();
                for from in (0..rows.max(1)).step_by(PART_ROWS) {
                    let part = from..(from + PART_ROWS).min(rows);
                    let verdicts = model
                        .score_rows_after(&table.frame, part, rules, progress, resume)
                        .map_err(|error| AnalysisError::Detector {
                            source_name: table.source.clone(),
                            error,
                        })?;
                    // The receiver stops taking parts when writing failed: the
                    // error is its to report.
                    if parts.send((from, verdicts)).is_err() {
                        break;
                    }
                }
                Ok(started.elapsed())
            });
            let handed = received
                .iter()
                .try_for_each(|(from, verdicts)| each(table, from, &verdicts, model));
            drop(received);
            let judged = judging
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (judged, handed)
        });
        handed?;
        scoring += judged?;
        Ok(())
    };
    if let Some(table) = prepared.kept.take() {
        judge_one(&table)?;
        return Ok(scoring);
    }
    windows.rewind()?;
    while let Some(window) = windows.next_window()? {
        let mut table = read_window(windows.name(), window, &prepared.options)?;
        drop_metrics(&mut table.frame, &prepared.empty);
        judge_one(&table)?;
        windows.recycle(table.bytes);
    }
    Ok(scoring)
}

/// What the first window (or the first few) tells of a file's columns.
#[derive(Default)]
struct ColumnKinds {
    /// Which header columns hold numbers, and how; `None` when the first window
    /// cannot be read, for reading it to say why.
    kinds: Option<CellKinds>,
    /// The warnings for columns of numbers written as text (see
    /// [`KindCounts::kinds`]).
    dressed: Vec<String>,
    /// The time column by another name than `timestamp`, or what to tell of a
    /// column so named that holds no time (see [`time_column`]).
    time: NamedTime,
}

/// The file's [`ColumnKinds`], decided as for a file held whole, from as many
/// windows as it takes (nearly always the first).
fn column_kinds(windows: &mut Windows, options: &ReadOptions) -> Result<ColumnKinds, InputError> {
    let mut kinds: Option<(Vec<String>, KindCounts)> = None;
    let mut first = None;
    let mut time = NamedTime::default();
    let mut delimiter = b',';
    while let Some(window) = windows.next_window()? {
        delimiter = options
            .delimiter
            .unwrap_or_else(|| detect_delimiter(&window.bytes));
        if kinds.is_none() {
            let Ok(header) = read_header(&window.bytes, delimiter, windows.name()) else {
                first = Some(window);
                break;
            };
            time = time_column(options, &header, &window.bytes, delimiter);
            let counts = KindCounts::new(header.len());
            kinds = Some((header, counts));
        }
        let decided = kinds
            .as_mut()
            .is_some_and(|(_, counts)| counts.scan(&window.bytes, delimiter));
        if window.first {
            first = Some(window);
        }
        if decided {
            break;
        }
    }
    // Decided by the first window (nearly always): the reading goes on from there,
    // without reading it again.
    match first {
        Some(window) if !windows.past_first() => windows.put_back(window),
        _ => windows.rewind()?,
    }
    Ok(match kinds {
        Some((header, counts)) => {
            let (kinds, dressed) = counts.kinds(&header, delimiter);
            ColumnKinds {
                kinds: Some(kinds),
                dressed,
                time,
            }
        }
        None => ColumnKinds::default(),
    })
}

/// One window read as a table, its errors placed at their lines in the file.
fn read_window(name: &str, mut window: Window, options: &ReadOptions) -> Result<Table, InputError> {
    let bytes = std::mem::take(&mut window.bytes);
    table_of(name.to_string(), bytes, options).map_err(|e| window.locate(e))
}

/// Takes the metric columns named in `names` out of `frame`.
fn drop_metrics(frame: &mut Frame, names: &[String]) {
    if names.is_empty() {
        return;
    }
    let mut m = 0;
    while m < frame.names.len() {
        if names.contains(&frame.names[m]) {
            frame.names.remove(m);
            frame.columns.remove(m);
        } else {
            m += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detector::test_data;
    use crate::io::text::CsvInput;

    /// The training sample of `text` read in windows of the least size, with the
    /// rows expected from the file's size or not, the rows counted, and how many
    /// times the reading started (its progress going back to the first window).
    fn sample_of(text: &[u8], expect: bool) -> (Frame, usize, usize) {
        let mut windows = Windows::open(
            CsvInput::Bytes {
                name: "in.csv".into(),
                bytes: text.to_vec(),
            },
            0,
        )
        .unwrap();
        let rules = RuleSet::default();
        let options = ReadOptions {
            keep_empty: true,
            ..ReadOptions::default()
        };
        let plan = Plan {
            params: &DetectorParams::default(),
            fit: &FitRows::All,
            model: None,
            rules: &rules,
            options: &options,
        };
        let read = std::cell::RefCell::new(Vec::new());
        let progress = |bytes| read.borrow_mut().push(bytes);
        let pass = if expect {
            sampled_pass(&mut windows, &plan, &options, &progress).unwrap()
        } else {
            first_pass(&mut windows, &plan, &options, &progress, false).unwrap()
        };
        let read = read.into_inner();
        // Each reading ends at every record's bytes: the file less its header.
        assert_eq!(read.last(), Some(&(text.len() - 2)));
        let starts = 1 + read.windows(2).filter(|w| w[1] < w[0]).count();
        (pass.sample.finish(), pass.rows, starts)
    }

    #[test]
    fn expecting_the_rows_from_the_size_keeps_the_sample_of_every_row_read() {
        // Rows of one length: the sample starts thinned, and is the same.
        let mut even = b"x\n".to_vec();
        for r in 0..2_500_000u32 {
            even.extend_from_slice(format!("{}.5\n", 1000 + r % 9000).as_bytes());
        }
        let (sample, rows, starts) = sample_of(&even, true);
        assert_eq!((rows, starts), (2_500_000, 1));
        assert!(sample.rows() > 1 << 19, "{}", sample.rows());
        assert!(sample == sample_of(&even, false).0);
        // The first window's rows far shorter than the rest: the size promises
        // more rows than come, and the sample is taken again, the same.
        let mut uneven = b"x\n".to_vec();
        uneven.extend(std::iter::repeat_n(*b"1\n", 40_000).flatten());
        for r in 0..1_200_000u32 {
            uneven.extend_from_slice(format!("{}.125\n", 100_000 + r).as_bytes());
        }
        let (sample, rows, starts) = sample_of(&uneven, true);
        // Read twice, the progress starting over for the second reading.
        assert_eq!((rows, starts), (1_240_000, 2));
        assert!(sample == sample_of(&uneven, false).0);
    }

    #[test]
    fn a_window_judged_in_parts_gets_the_verdicts_of_one_pass() {
        let rows = PART_ROWS + 3 * WRITE_CHUNK + 17;
        let mut frame = test_data::frame(rows, 3);
        // An incident open across the boundary between the two parts.
        for v in &mut frame.columns[0][PART_ROWS - 5..PART_ROWS + 40] {
            *v += 60.0;
        }
        // Names outside the native schema, which would want more columns.
        let mut text = String::from("requests,queue,latency");
        for r in 0..rows {
            text.push('\n');
            let cells: Vec<String> = frame
                .columns
                .iter()
                .map(|c| format!("{:.3}", c[r]))
                .collect();
            text.push_str(&cells.join(","));
        }
        text.push('\n');
        let source = || CsvInput::Bytes {
            name: "parts.csv".into(),
            bytes: text.clone().into_bytes(),
        };
        let rules = RuleSet::default();
        let options = ReadOptions::default();
        let mut windows = Windows::open(source(), 1 << 30).unwrap();
        let mut prepared = prepare(
            &mut windows,
            Plan {
                params: &DetectorParams::default(),
                fit: &FitRows::All,
                model: None,
                rules: &rules,
                options: &options,
            },
            &|_| {},
        )
        .unwrap();
        let table = crate::io::input::read_table(&source(), &options).unwrap();
        let whole = prepared
            .model
            .score_frame(&table.frame, &rules, &|_| {})
            .unwrap();
        let (mut starts, mut parts) = (Vec::new(), Vec::new());
        judge(
            &mut windows,
            &mut prepared,
            &rules,
            &|_| {},
            &mut |_, from, verdicts, _| {
                starts.push(from);
                parts.extend_from_slice(verdicts);
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(starts, [0, PART_ROWS]);
        assert!(whole[PART_ROWS].is_anomaly && whole[PART_ROWS - 1].is_anomaly);
        assert!(parts == whole, "the parts' verdicts differ from one pass's");
    }
}

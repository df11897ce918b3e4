//! `metrics analyze`: batch analysis of a metrics CSV.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{ArgGroup, Args};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::detector_flags::{DetectorFlags, between};
use super::paths::{check_distinct, check_output};
use std::collections::BTreeMap;
use std::time::Duration;

use metrics::analysis::windowed::{Plan, judge, prepare};
use metrics::analysis::{AnalysisError, FitRows};
use metrics::detector::{
    DEFAULT_SAMPLE_SIZE, DetectorError, DetectorParams, MIN_TRAIN_ROWS, Model, RuleSet,
};
use metrics::http::client::ClientSettings;
use metrics::http::shown_url;
use metrics::io::atomic::write_atomically;
use metrics::io::events::{is_json, write_events};
use metrics::io::input::ReadOptions;
use metrics::io::model_file::save_model;
use metrics::io::output::write_annotated;
use metrics::io::prometheus::{
    History, RangeQuery, node_exporter_queries, rate_window_ms, scrape_probe,
};
use metrics::io::text::CsvInput;
use metrics::io::windows::Windows;
use metrics::report::{Run, Tally};
use metrics::timestamp::{now_ms, parse_duration, parse_moment};

/// Arguments of `metrics analyze`.
#[derive(Debug, Args)]
// A saved model brings its own settings: fitting flags beside it would be ignored.
#[command(mut_arg("model", |a| a.conflicts_with_all(["contamination", "trees", "sample_size", "adapt_after", "timezone"])))]
// Rows come from a CSV or from Prometheus, and Prometheus's from a query or an
// instance: a missing source is named as the choice it is, and a CSV with a query
// as the mix it is.
#[command(group(ArgGroup::new("source").required(true).args(["csv_file", "prometheus"])))]
#[command(group(ArgGroup::new("series").args(["query", "instance"]).conflicts_with("csv_file")))]
pub struct AnalyzeArgs {
    /// The metrics CSV to analyse (`-` for standard input).
    #[arg(long, value_name = "IN")]
    pub csv_file: Option<PathBuf>,
    /// Analyse history Prometheus holds instead of a CSV: the server's base URL
    /// (http://127.0.0.1:9090), with --query or --instance, and --start.
    #[arg(long, value_name = "URL", requires = "start", requires = "series")]
    pub prometheus: Option<String>,
    /// PromQL whose series (of one instance) become the columns, named from their
    /// labels.
    #[arg(long, value_name = "PROMQL", requires = "prometheus")]
    pub query: Option<String>,
    /// The node_exporter metrics of this instance, as the native columns (CPU %,
    /// memory %, disk and network MB/s, load).
    #[arg(long, value_name = "INSTANCE", requires = "prometheus")]
    pub instance: Option<String>,
    /// Start of the range: ISO 8601, Unix seconds or ms, `now`, or `now-7d`.
    #[arg(long, value_name = "TIME", requires = "prometheus")]
    pub start: Option<String>,
    /// End of the range (as --start).
    #[arg(
        long,
        value_name = "TIME",
        default_value = "now",
        requires = "prometheus"
    )]
    pub end: String,
    /// Time between rows read from Prometheus (as 15s, 1m, 1h).
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "1m",
        requires = "prometheus"
    )]
    pub step: String,
    /// How to reach a Prometheus behind a password, a private CA, a tenant header
    /// or a proxy: a YAML file of Prometheus' client settings (basic_auth,
    /// authorization, tls_config, http_headers, proxy_url, proxy_from_environment,
    /// follow_redirects), as `promtool --http.config.file` reads.
    #[arg(long, value_name = "FILE", requires = "prometheus")]
    pub http_config: Option<PathBuf>,
    /// Where to write every row with its verdict columns (`-` for standard output).
    /// Without it only the summary is printed.
    #[arg(long, value_name = "OUT")]
    pub output_file: Option<PathBuf>,
    /// The detector's settings, a saved model and the rules.
    #[command(flatten)]
    pub detector: DetectorFlags,
    /// Fit on the first N rows only (e.g. a known-good period, at least 32 rows),
    /// then score every row.
    #[arg(long, value_name = "N", conflicts_with_all = ["fit_where", "model"],
          value_parser = between::<MIN_TRAIN_ROWS, { usize::MAX }>)]
    pub fit_rows: Option<usize>,
    /// Fit on the rows where COLUMN has VALUE (e.g. split=train; label=0 fits on the
    /// rows labelled normal), then score every row.
    #[arg(long, value_name = "COLUMN=VALUE", value_parser = parse_fit_where, conflicts_with = "model")]
    pub fit_where: Option<(String, String)>,
    /// Column of ground-truth labels (0/1) to measure quality against [default: label, if present].
    #[arg(long, value_name = "COL")]
    pub label_column: Option<String>,
    /// Column of timestamps [default: timestamp, if present; else the first of time,
    /// datetime, date, ts, epoch, ... whose first cell is a time; otherwise row order
    /// is time].
    #[arg(long, value_name = "COL")]
    pub timestamp_column: Option<String>,
    /// Field delimiter [default: detected among ',', ';', tab and '|'].
    #[arg(long, value_parser = parse_delimiter)]
    pub delimiter: Option<u8>,
    /// Also write the summary, quality figures and flagged rows as JSON (`-` for
    /// standard output).
    #[arg(long, value_name = "REPORT.json")]
    pub json: Option<PathBuf>,
    /// Also write one line per incident (a run of anomalous rows): CSV, or JSON when
    /// the name ends in .json (`-` for standard output, as CSV).
    #[arg(long, value_name = "FILE")]
    pub events: Option<PathBuf>,
    /// Megabytes of CSV read, judged and written at a time: memory follows this
    /// window, not the file's size. A file of up to four windows is read whole and
    /// once; a larger one twice (to fit, then to judge). Standard input is first
    /// spooled to a temporary file (in TMPDIR).
    #[arg(long, value_name = "MB", default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=65536))]
    pub window_mb: u64,
    /// How many of the worst anomalies the summary lists.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// Print no summary and no progress: standard error then holds only what is
    /// wrong, the errors and the warnings about the input.
    #[arg(long, short)]
    pub quiet: bool,
}

fn parse_fit_where(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((c, v)) if !c.trim().is_empty() => Ok((c.trim().to_string(), v.trim().to_string())),
        _ => Err(format!(
            "expected COLUMN=VALUE (e.g. split=train), found '{s}'"
        )),
    }
}

fn parse_delimiter(s: &str) -> Result<u8, String> {
    match s {
        "," | "comma" => Ok(b','),
        ";" | "semicolon" => Ok(b';'),
        "\t" | "\\t" | "tab" => Ok(b'\t'),
        "|" | "pipe" => Ok(b'|'),
        _ => Err(format!("expected one of ',', ';', tab or '|', found '{s}'")),
    }
}

/// Runs the command.
pub fn run(args: AnalyzeArgs) -> Result<ExitCode> {
    super::heap::one_heap();
    super::interrupt::remove_outputs_on_stop();
    let inputs: Vec<&Path> = args.csv_file.as_deref().into_iter().collect();
    let outputs: Vec<(&Path, &str)> = [
        (&args.output_file, "--output-file"),
        (&args.json, "--json"),
        (&args.events, "--events"),
        (&args.detector.save_model, "--save-model"),
    ]
    .into_iter()
    .filter_map(|(out, flag)| Some((out.as_deref()?, flag)))
    .collect();
    for &(out, flag) in &outputs {
        check_output(out, flag, &inputs)?;
    }
    check_distinct(&outputs)?;
    // `--csv-file -` typed at a terminal waits for the file to be typed in, which
    // looks like a hang: say what it waits for.
    if args.csv_file.as_deref() == Some(Path::new("-"))
        && std::io::IsTerminal::is_terminal(&std::io::stdin())
    {
        eprintln!(
            "reading the CSV from the terminal: paste it and end with Ctrl-D; hint: pipe a file in (metrics analyze --csv-file - < FILE), or name it with --csv-file FILE"
        );
    }
    if let Some(out) = args.output_file.as_deref().filter(|o| is_json(o)) {
        eprintln!(
            "warning: --output-file {}: the rows and their verdicts are written as CSV, whatever the name; hint: --json FILE writes the report as JSON",
            out.display()
        );
    }
    let rules = args.detector.rules()?;
    let saved = args.detector.saved_model()?;
    let params = args.detector.params()?;

    let fit = match (&args.fit_rows, &args.fit_where) {
        (Some(n), _) => FitRows::First(*n),
        (_, Some((column, value))) => FitRows::Where {
            column: column.clone(),
            value: value.clone(),
        },
        _ => FitRows::All,
    };
    let options = ReadOptions {
        delimiter: args.delimiter,
        timestamp_column: args.timestamp_column.clone(),
        label_column: args.label_column.clone(),
        exclude: args.fit_where.iter().map(|(c, _)| c.clone()).collect(),
        ..ReadOptions::default()
    };
    let mut job = Job {
        args: &args,
        options,
        fit,
        rules,
        saved,
        params,
    };
    match (&args.csv_file, &args.prometheus) {
        (Some(path), _) => job.run(CsvInput::from_arg(path), &Outputs::of(&args)),
        (None, Some(url)) => {
            let (histories, steps) = prometheus_history(url, &args)?;
            let several = histories.len() > 1;
            let mut outputs = Vec::new();
            for history in &histories {
                let name = history.instance.as_deref().unwrap_or("no-instance");
                let out = if several {
                    Outputs::of(&args).for_instance(name)?
                } else {
                    Outputs::of(&args)
                };
                outputs.push(out);
            }
            for (history, outputs) in histories.into_iter().zip(outputs) {
                let name = match &history.instance {
                    Some(i) => format!("prometheus {} instance {i}", shown_url(url)),
                    None => format!("prometheus {}", shown_url(url)),
                };
                if several && !args.quiet {
                    eprintln!("== {name}");
                }
                for warning in history.counter_warnings() {
                    eprintln!("warning: {name}: {warning}");
                }
                job.options.told_counters = history.counter_columns;
                job.run(
                    CsvInput::Bytes {
                        name,
                        bytes: history.csv.into_bytes(),
                    },
                    &outputs,
                )
                .map_err(|e| match job.fit {
                    FitRows::All => too_few_steps(e, steps),
                    _ => e,
                })?;
            }
            Ok(ExitCode::SUCCESS)
        }
        (None, None) => {
            bail!("give --csv-file FILE, or --prometheus URL with --query or --instance")
        }
    }
}

/// Where one analysis writes.
struct Outputs {
    output_file: Option<PathBuf>,
    json: Option<PathBuf>,
    events: Option<PathBuf>,
    save_model: Option<PathBuf>,
}

impl Outputs {
    fn of(args: &AnalyzeArgs) -> Outputs {
        Outputs {
            output_file: args.output_file.clone(),
            json: args.json.clone(),
            events: args.events.clone(),
            save_model: args.detector.save_model.clone(),
        }
    }

    /// The files of one instance among several: `out.csv` becomes
    /// `out.web-1_9100.csv`, checked like the ones given.
    fn for_instance(self, instance: &str) -> Result<Outputs> {
        let tag: String = instance
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let derive = |path: Option<PathBuf>, flag: &str| -> Result<Option<PathBuf>> {
            let Some(path) = path else { return Ok(None) };
            if path.as_os_str() == "-" {
                bail!(
                    "{flag} -: the query returned several instances, which cannot share standard output; hint: give a file name, and each instance gets its own file"
                );
            }
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let name = match path.extension() {
                Some(ext) => format!("{stem}.{tag}.{}", ext.to_string_lossy()),
                None => format!("{stem}.{tag}"),
            };
            let derived = path.with_file_name(name);
            check_output(&derived, flag, &[])?;
            Ok(Some(derived))
        };
        Ok(Outputs {
            output_file: derive(self.output_file, "--output-file")?,
            json: derive(self.json, "--json")?,
            events: derive(self.events, "--events")?,
            save_model: derive(self.save_model, "--save-model")?,
        })
    }
}

/// One analysis as the flags ask, ready to run on a source.
struct Job<'a> {
    args: &'a AnalyzeArgs,
    options: ReadOptions,
    fit: FitRows,
    rules: RuleSet,
    /// The `--model`, read once for every instance analysed.
    saved: Option<Model>,
    params: DetectorParams,
}

impl Job<'_> {
    /// Reads `source` window by window, analyses it and writes `outputs` and the
    /// summary.
    fn run(&self, source: CsvInput, outputs: &Outputs) -> Result<ExitCode> {
        let args = self.args;
        let mut windows = Windows::open(source, (args.window_mb as usize) << 20)?;
        let reading = reading_bar(windows.size(), args.quiet);
        let mut prepared = prepare(
            &mut windows,
            Plan {
                params: &self.params,
                fit: &self.fit,
                model: self.saved.clone(),
                rules: &self.rules,
                options: &self.options,
            },
            &|bytes| reading.set_position(bytes as u64),
        )?;
        reading.finish_and_clear();
        if let FitRows::First(n) = self.fit
            && self.saved.is_none()
            && n > prepared.rows
        {
            prepared.warnings.push(format!(
                "--fit-rows {n} asks for more rows than the {} there are, so every row was fitted on and judged against itself; hint: fit on a known-good period shorter than the input",
                prepared.rows
            ));
        }
        let asked = args.detector.sample_size;
        if let Some(drawn) = prepared.model.forest_sample_size()
            && self.saved.is_none()
            && asked != DEFAULT_SAMPLE_SIZE
            && drawn < asked
        {
            prepared.warnings.push(format!(
                "--sample-size {asked} asks for more rows than the {drawn} the forest is grown from, so each tree was grown from all of them; hint: give a smaller --sample-size, or fit on more rows"
            ));
        }
        if let Some(zone) = &args.detector.timezone
            && !prepared.model.knows_time_of_day()
        {
            prepared.warnings.push(format!(
                "--timezone {} changed nothing: a time-of-day profile is learned only when the rows fitted on span two days or more; hint: fit on a longer period, or leave --timezone out",
                zone.name()
            ));
        }
        // Said now, as it happens, even with --quiet; the summary repeats them.
        for warning in &prepared.warnings {
            eprintln!("warning: {}: {warning}", windows.name());
        }
        if let Some(path) = &outputs.save_model {
            save_model(&prepared.model, path).context("--save-model")?;
        }
        let bar = progress_bar(prepared.rows as u64, args.quiet);
        // --json lists every flagged row (kept on disk); the summary only the worst.
        let mut tally = if outputs.json.is_some() {
            Tally::keeping_every_flagged(args.top)
                .context("--json: cannot make a temporary file for the flagged rows (set TMPDIR to a writable directory)")?
        } else {
            Tally::new(args.top)
        };
        let started = Instant::now();
        let mut first = true;
        let mut judge_into = |mut out: Option<&mut dyn Write>| -> Result<Duration> {
            let scoring = judge(
                &mut windows,
                &mut prepared,
                &self.rules,
                &|done| bar.inc(done as u64),
                &mut |table, from, verdicts, model| {
                    if let Some(out) = out.as_mut() {
                        write_annotated(table, from, verdicts, &model.metrics, first, &mut **out)
                            .map_err(AnalysisError::Write)?;
                    }
                    first = false;
                    tally.add(table, from, verdicts, &model.metrics);
                    Ok(())
                },
            )?;
            Ok(scoring)
        };
        let scoring = match &outputs.output_file {
            Some(out) if out.as_os_str() == "-" => {
                let stdout = std::io::stdout();
                let mut lock = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
                // A reader that closed standard output (`| head`) ends the output,
                // not the command, in error.
                match judge_into(Some(&mut lock)).and_then(|s| {
                    lock.flush().context("writing standard output")?;
                    Ok(s)
                }) {
                    Ok(s) => s,
                    Err(e) if is_broken_pipe(&e) => return Ok(ExitCode::SUCCESS),
                    Err(e) => return Err(e),
                }
            }
            Some(out) => {
                let mut scoring = Duration::ZERO;
                write_atomically(out, |w| -> Result<()> {
                    scoring = judge_into(Some(w))?;
                    Ok(())
                })
                .with_context(|| format!("--output-file {}: cannot write", out.display()))?;
                scoring
            }
            None => judge_into(None)?,
        };
        bar.finish_and_clear();
        // Said as it happens, even with --quiet; the summary repeats it.
        for warning in tally.found_warnings(windows.name()) {
            eprintln!("warning: {}: {warning}", windows.name());
        }
        let total = started.elapsed().as_secs_f64();
        let score = scoring.as_secs_f64();
        let incidents = tally.incidents();
        let run = Run {
            source: windows.name().to_string(),
            fit_rows: prepared.fit_rows,
            metrics: prepared.model.metrics.clone(),
            warnings: prepared.warnings.clone(),
            seconds: BTreeMap::from([
                ("read", prepared.read_time.as_secs_f64()),
                ("fit", prepared.fit_time.as_secs_f64()),
                ("score", score),
                ("write", (total - score).max(0.0)),
            ]),
        };
        let summary = tally.summary(&run, &incidents, args.top);
        if let Some(path) = &outputs.json {
            // The summary and incidents as one pretty object, every flagged row
            // (worst first, one to a line) added last from the disk.
            let head = serde_json::to_string_pretty(&serde_json::json!({
                "summary": summary,
                "incidents": incidents,
            }))
            .unwrap_or_default();
            let open = head.strip_suffix("\n}").unwrap_or(&head);
            written(path, |w| {
                w.write_all(open.as_bytes())?;
                w.write_all(b",\n  \"flagged\": [")?;
                tally.write_every_flagged("    ", w)?;
                w.write_all(b"\n  ]\n}\n")
            })
            .with_context(|| format!("--json {}: cannot write", path.display()))?;
        }
        if let Some(path) = &outputs.events {
            written(path, |w| write_events(w, is_json(path), &incidents))
                .with_context(|| format!("--events {}: cannot write", path.display()))?;
        }
        if !args.quiet {
            eprint!("{}", summary.render());
            if let Some(out) = outputs
                .output_file
                .as_ref()
                .filter(|o| o.as_os_str() != "-")
            {
                eprintln!("wrote {}", out.display());
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// The history `--prometheus` names: one CSV per instance, and the steps of
/// its range.
fn prometheus_history(url: &str, args: &AnalyzeArgs) -> Result<(Vec<History>, i64)> {
    let (start, end, step_ms) = history_range(args, now_ms())?;
    let client = match &args.http_config {
        Some(path) => ClientSettings::load(path)?,
        None => ClientSettings::default(),
    };
    let mut range = RangeQuery {
        url: url.to_string(),
        client,
        queries: Vec::new(),
        start_ms: start,
        end_ms: end,
        step_ms,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    range.queries = match (&args.query, &args.instance) {
        (Some(q), _) => vec![(None, q.clone())],
        (None, Some(instance)) => {
            let scrape_ms = runtime.block_on(range.sample_spacing_ms(&scrape_probe(instance)));
            node_exporter_queries(instance, rate_window_ms(step_ms, scrape_ms))
        }
        (None, None) => bail!("--prometheus needs --query PROMQL or --instance NAME"),
    };
    Ok((runtime.block_on(range.fetch())?, range.steps()))
}

/// The range `--start`, `--end` and `--step` name, as Unix ms: start, end and
/// step. `now` is taken at a whole step (as Grafana does), so `--start now-1d`
/// reads rows at whole minutes at the default step, and the same command run twice
/// within one step reads the same rows and gives the same verdicts.
fn history_range(args: &AnalyzeArgs, now_ms: i64) -> Result<(i64, i64, i64)> {
    let step = parse_duration(&args.step)
        .filter(|d| !d.is_zero())
        .with_context(|| {
            format!(
                "--step {:?}: not a duration longer than 0; hint: 15s, 1m or 1h",
                args.step
            )
        })?;
    // Beyond i64 (290 million years) it is longer than any range, and said so.
    let step_ms = i64::try_from(step.as_millis()).unwrap_or(i64::MAX);
    let now = now_ms - now_ms.rem_euclid(step_ms.max(1));
    let moment = |flag: &str, text: &str| {
        parse_moment(text, now).with_context(|| {
            format!("{flag} {text:?}: not a time; hint: ISO 8601 (2025-01-06T10:00:00Z), Unix seconds, now, or now-7d")
        })
    };
    let start = moment("--start", args.start.as_deref().unwrap_or_default())?;
    let end = moment("--end", &args.end)?;
    Ok((start, end, step_ms))
}

/// Runs `write` into the file `path`, atomically, or for `-` into standard
/// output, where a reader that stopped early (`| head`) ends the output, not the
/// command, in error.
fn written(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    if path.as_os_str() != "-" {
        return write_atomically(path, |w| write(w));
    }
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    match write(&mut out).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        result => result,
    }
}

/// Too few rows to learn from, said in the terms of a range query: the rows are
/// the `steps` from --start to --end that Prometheus holds samples at, which the
/// user can change, unless the range reaches further back than the samples
/// (a Prometheus started minutes ago, or whose retention ended).
fn too_few_steps(e: anyhow::Error, steps: i64) -> anyhow::Error {
    match e.downcast_ref::<AnalysisError>() {
        Some(AnalysisError::Detector {
            source_name,
            error: DetectorError::TooFewRows { needed, found },
        }) if (*found as i64) < steps => anyhow::anyhow!(
            "{source_name}: Prometheus holds samples at only {found} of the {steps} steps from --start to --end, but training needs at least {needed}; hint: a shorter --step, or an earlier --start if it keeps older samples"
        ),
        Some(AnalysisError::Detector {
            source_name,
            error: DetectorError::TooFewRows { needed, found },
        }) => anyhow::anyhow!(
            "{source_name}: --start to --end gives {found} rows at this --step, but training needs at least {needed}; hint: an earlier --start or a shorter --step"
        ),
        _ => e,
    }
}

/// Whether `e` is standard output closed by its reader (`| head`), which ends the
/// output, not the command, in error.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    super::failure::io_kinds(e).any(|kind| kind == std::io::ErrorKind::BrokenPipe)
}

/// A bar on a terminal for the first pass over an input big enough to take over a
/// second (about 200,000 rows); hidden otherwise.
fn reading_bar(bytes: u64, quiet: bool) -> ProgressBar {
    if quiet || bytes < 16 << 20 {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(bytes), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("reading {bar:40} {bytes}/{total_bytes} ({eta})")
    {
        bar.set_style(style);
    }
    bar
}

/// A bar on a terminal for inputs big enough to take over a second; hidden otherwise.
fn progress_bar(rows: u64, quiet: bool) -> ProgressBar {
    if quiet || rows < 200_000 {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(rows), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("scoring {bar:40} {pos}/{len} rows ({eta})") {
        bar.set_style(style);
    }
    bar
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: AnalyzeArgs,
    }

    fn range(flags: &[&str], now_ms: i64) -> (i64, i64, i64) {
        let base = [
            "analyze",
            "--prometheus",
            "http://127.0.0.1:9090",
            "--query",
            "up",
        ];
        let cli = Cli::try_parse_from(base.iter().chain(flags)).unwrap();
        history_range(&cli.args, now_ms).unwrap()
    }

    #[test]
    fn a_range_from_now_starts_at_a_whole_step_and_holds_within_one() {
        // 2025-01-06T10:00:00Z, then 12.3 s and 59.9 s later.
        let ten = 1_736_157_600_000;
        let day = 86_400_000;
        for later in [0, 12_300, 59_900] {
            assert_eq!(
                range(&["--start", "now-1d"], ten + later),
                (ten - day, ten, 60_000),
                "{later} ms after"
            );
        }
        assert_eq!(
            range(&["--start", "now-1h", "--step", "15s"], ten + 20_000),
            (ten - 3_600_000 + 15_000, ten + 15_000, 15_000)
        );
        // A time given as such is used as given.
        assert_eq!(
            range(
                &["--start", "2025-01-06T09:00:00.5Z", "--end", "1736157612"],
                ten + 59_900
            ),
            (ten - 3_600_000 + 500, ten + 12_000, 60_000)
        );
    }
}

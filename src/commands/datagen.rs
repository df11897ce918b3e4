//! `metrics datagen`: synthetic metrics with labelled anomalies.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;

use super::detector_flags::between;
use super::paths::check_output;
use metrics::datagen::{AnomalyType, GenParams, Generator};
use metrics::io::atomic::write_atomically;
use metrics::timestamp;
use metrics::zone::Zone;

/// Where `datagen` writes when no `-o` is given.
pub const DEFAULT_OUTPUT: &str = "samples/synthetic_metrics.csv";

/// Arguments of `metrics datagen`.
#[derive(Debug, Args)]
pub struct DatagenArgs {
    /// Number of rows (at least 1: a file of a header alone is one `analyze` refuses).
    #[arg(short = 'n', long, default_value_t = 2000, value_parser = between::<1, { usize::MAX }>)]
    pub rows: usize,
    /// Seed: the same arguments and seed give a byte-identical file.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output file (`-` for standard output).
    #[arg(short = 'o', long, default_value = DEFAULT_OUTPUT)]
    pub output: PathBuf,
    /// Seconds between samples.
    #[arg(long, default_value_t = 1.0)]
    pub interval: f64,
    /// Time of the first sample (any form `analyze` reads).
    #[arg(long, default_value = "2025-01-01T00:00:00Z")]
    pub start: String,
    /// Share of rows inside anomaly episodes, in [0, 0.5], held to within a quarter
    /// over. Every type is planted when the file is long enough (about 2,000 rows at
    /// 0.03); a shorter one gets fewer types, drawn at random, rather than a larger
    /// share, and a file under 100 rows none.
    #[arg(long, default_value_t = 0.03)]
    pub anomaly_rate: f64,
    /// Anomaly types to plant, comma-separated [default: all of them].
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub types: Vec<AnomalyType>,
    /// Leave out the label and anomaly_type columns.
    #[arg(long)]
    pub no_labels: bool,
    /// IANA time zone whose clocks the simulated host keeps (Europe/Berlin): its
    /// working day, 02:00 backup and hourly job move with daylight saving time.
    /// Timestamps stay UTC [default: UTC].
    #[arg(long, value_name = "ZONE")]
    pub timezone: Option<Zone>,
    /// Print nothing on standard error but errors.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Runs the command.
pub fn run(args: DatagenArgs) -> Result<ExitCode> {
    super::interrupt::remove_outputs_on_stop();
    if !(args.interval > 0.0 && args.interval.is_finite()) {
        bail!(
            "--interval must be a positive number of seconds, got {}",
            args.interval
        );
    }
    if !(0.0..=0.5).contains(&args.anomaly_rate) {
        bail!(
            "--anomaly-rate must be between 0 and 0.5, got {}",
            args.anomaly_rate
        );
    }
    let Some(start_ms) = timestamp::parse(&args.start) else {
        bail!(
            "--start {:?} is not a timestamp; hint: use one of: {}",
            args.start,
            timestamp::FORMS
        );
    };
    // Every sample's time must be one `analyze` reads back.
    let end_ms = start_ms as f64 + args.rows.saturating_sub(1) as f64 * args.interval * 1000.0;
    if !timestamp::WRITABLE_MS.contains(&start_ms) {
        bail!(
            "--start {:?} is outside the years 0000-9999 that timestamps are written in",
            args.start
        );
    }
    if end_ms > *timestamp::WRITABLE_MS.end() as f64 {
        bail!(
            "-n {} samples {} s apart from {} would end after the year 9999, which no \
             timestamp can say; hint: lower -n or --interval, or start earlier",
            args.rows,
            if args.interval < 1e9 {
                args.interval.to_string()
            } else {
                format!("{:e}", args.interval)
            },
            timestamp::to_iso(start_ms)
        );
    }
    let end_ms = end_ms.round() as i64;
    if args.output.as_os_str() == DEFAULT_OUTPUT
        && let Some(folder) = args.output.parent()
    {
        std::fs::create_dir_all(folder)
            .with_context(|| format!("cannot create {}", folder.display()))?;
    }
    check_output(&args.output, "-o", &[])?;
    let params = GenParams {
        rows: args.rows,
        seed: args.seed,
        interval_s: args.interval,
        start_ms,
        anomaly_rate: args.anomaly_rate,
        types: if args.types.is_empty() {
            AnomalyType::ALL.to_vec()
        } else {
            args.types.clone()
        },
        labels: !args.no_labels,
        zone: args.timezone.clone(),
    };
    let mut generator = Generator::new(params);
    let mut episodes: BTreeMap<AnomalyType, (usize, usize)> = BTreeMap::new();
    for e in generator.episodes() {
        let entry = episodes.entry(e.kind).or_default();
        entry.0 += 1;
        entry.1 += e.len;
    }
    let mut write = |w: &mut dyn Write| -> std::io::Result<()> {
        let mut buf = generator.header();
        buf.push('\n');
        while generator.next_row(&mut buf) {
            if buf.len() > 1 << 16 {
                w.write_all(buf.as_bytes())?;
                buf.clear();
            }
        }
        w.write_all(buf.as_bytes())?;
        w.flush()
    };
    if args.output.as_os_str() == "-" {
        let stdout = std::io::stdout();
        let mut lock = stdout.lock();
        if let Err(e) = write(&mut lock)
            && e.kind() != std::io::ErrorKind::BrokenPipe
        {
            return Err(e).context("writing standard output");
        }
    } else {
        write_atomically(&args.output, |w| write(w))
            .with_context(|| format!("-o {}: cannot write", args.output.display()))?;
    }
    if !args.quiet {
        eprintln!(
            "{} rows from {} to {}",
            args.rows,
            timestamp::to_iso(start_ms),
            timestamp::to_iso(end_ms)
        );
        let total: usize = episodes.values().map(|(_, rows)| rows).sum();
        eprintln!(
            "{} anomaly episodes, {total} rows ({:.2} %):",
            episodes.values().map(|(n, _)| n).sum::<usize>(),
            100.0 * total as f64 / args.rows.max(1) as f64
        );
        for (kind, (n, rows)) in &episodes {
            eprintln!("  {:<14} {n:>4} episodes {rows:>7} rows", kind.name());
        }
        if args.output.as_os_str() != "-" {
            eprintln!("wrote {}", args.output.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

//! The session's text log: standard error and a daily file in the log folder, both
//! filtered by `RUST_LOG` (default `info`), the file written off the caller's
//! thread so a slow disk never delays a sample. The last [`TEXT_LOG_DAYS`] daily
//! files are kept, so a session left running does not fill the disk.

use std::path::Path;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::filter::{FilterExt, filter_fn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, fmt};

/// Daily text log files kept; older ones are removed as a new day begins.
pub const TEXT_LOG_DAYS: usize = 30;

/// Target of the events the command has already printed on standard error in its
/// own words (whatever `RUST_LOG` says): they go to the file alone, so standard
/// error does not say them twice.
pub const FILE_ONLY: &str = "metrics::file_only";

/// Sets up the text log for the process; keep the guard until the end, which
/// flushes the file. A folder that cannot be written is reported once, and the
/// log goes on to standard error alone.
pub fn init_text_log(dir: &Path) -> Option<WorkerGuard> {
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let appender = std::fs::create_dir_all(dir)
        .map_err(|e| e.to_string())
        .and_then(|()| {
            tracing_appender::rolling::RollingFileAppender::builder()
                .rotation(tracing_appender::rolling::Rotation::DAILY)
                .filename_prefix("system_monitor")
                .filename_suffix("log")
                .max_log_files(TEXT_LOG_DAYS)
                .build(dir)
                .map_err(|e| e.to_string())
        });
    let stderr = fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .with_filter(filter().and(filter_fn(|event| event.target() != FILE_ONLY)));
    match appender {
        Ok(appender) => {
            let (writer, guard) = tracing_appender::non_blocking(appender);
            let file = fmt::layer()
                .with_writer(writer)
                .with_ansi(false)
                .with_target(false)
                .with_filter(filter());
            let _ = tracing_subscriber::registry()
                .with(stderr)
                .with(file)
                .try_init();
            Some(guard)
        }
        Err(e) => {
            let _ = tracing_subscriber::registry().with(stderr).try_init();
            tracing::warn!(
                "cannot write logs to {}: {e}; detection and the server go on without them",
                dir.display()
            );
            None
        }
    }
}

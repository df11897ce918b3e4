//! The `metrics` command line: a thin edge over the library. Errors print one line
//! and exit 2; a closed pipe is not an error.

mod commands;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Finds anomalies in system metrics on one host: analyse CSV files, watch this machine
/// live with a dashboard, generate test data.
#[derive(Debug, Parser)]
#[command(name = "metrics", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Analyse a metrics CSV: every row back with its verdict, and a summary of the worst.
    Analyze(commands::analyze::AnalyzeArgs),
    /// Generate realistic synthetic metrics with labelled anomalies.
    Datagen(commands::datagen::DatagenArgs),
    /// Sample this machine (or replay a CSV), detect live and serve the dashboard.
    Watch(commands::watch::WatchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Analyze(args) => commands::analyze::run(args),
        Command::Datagen(args) => commands::datagen::run(args),
        Command::Watch(args) => commands::watch::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", commands::failure::told(&e));
            ExitCode::from(2)
        }
    }
}

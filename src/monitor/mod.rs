//! The live side, as a library: where samples come from ([`collector`] for this
//! machine, [`replay`] for a recorded CSV), the baseline -> train -> monitor state
//! machine they go through ([`pipeline`], judging with the same detector `analyze`
//! uses), the [`session`] loop that runs it on its own thread and publishes every
//! judged sample through a small trait, the files it leaves ([`logs`],
//! [`text_log`]), and the recent past a restarted session takes up from them
//! ([`resume`]: its samples; [`past_incidents`]: its incidents). `metrics watch` only builds these pieces and waits.

pub mod collector;
mod disk_io;
pub mod logs;
mod network_io;
pub mod past_incidents;
pub mod pipeline;
mod process_cpu;
pub mod record;
pub mod replay;
pub mod resume;
pub mod session;
pub mod text_log;

use serde::Serialize;

/// One reading of every metric of a source at one moment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sample {
    /// Unix time in milliseconds.
    pub time: i64,
    /// One value per metric of the source, in its order; NaN where a subsystem gave
    /// nothing.
    pub values: Vec<f64>,
    /// One value per text column of the source (for status rules).
    pub texts: Vec<String>,
    /// Usage of each CPU core in percent (live only).
    pub cores: Vec<f32>,
    /// The busiest processes (live only; refreshed every few samples).
    pub processes: Option<TopProcesses>,
}

/// What a source produces: its metric names (and text columns) never change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SampleLayout {
    /// Metric names, in sample order.
    pub names: Vec<String>,
    /// Unit of each metric, for display.
    pub units: Vec<String>,
    /// Text column names, in sample order.
    pub text_names: Vec<String>,
    /// Whether sample times are real (a replayed file without a time column has
    /// made-up ones, which the detector must not read as time of day).
    pub timed: bool,
}

impl SampleLayout {
    /// A layout of the given metric names with the units the catalogue knows.
    pub fn of(names: Vec<String>, text_names: Vec<String>, timed: bool) -> SampleLayout {
        let units = names
            .iter()
            .map(|n| crate::schema::describe(n).unit.to_string())
            .collect();
        SampleLayout {
            names,
            units,
            text_names,
            timed,
        }
    }
}

/// A process as shown next to an anomaly.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProcessInfo {
    /// Process id.
    pub pid: u32,
    /// Executable name.
    pub name: String,
    /// CPU usage in percent of one core.
    pub cpu_percent: f32,
    /// Resident memory in MB.
    pub memory_mb: f64,
}

/// The processes that used the most CPU and the most memory.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct TopProcesses {
    /// Highest CPU usage first.
    pub by_cpu: Vec<ProcessInfo>,
    /// Highest resident memory first.
    pub by_memory: Vec<ProcessInfo>,
}

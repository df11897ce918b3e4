//! `metrics` finds anomalies in system metrics, in batch and live, on one host.
//!
//! The [`detector`] fuses an extended isolation forest, robust z-scores and rules
//! into one [`detector::Verdict`] per row; the commands are thin shells around it.

pub mod alerts;
pub mod analysis;
pub mod datagen;
pub mod detector;
pub mod evaluation;
pub mod http;
pub mod io;
pub mod located;
pub mod monitor;
pub mod numfmt;
pub mod report;
pub mod schema;
pub mod server;
pub mod timestamp;
pub mod zone;

//! `metrics` finds anomalies in system metrics, in batch and live, on one host.
//!
//! The [`detector`] fuses an extended isolation forest, robust z-scores and rules
//! into one [`detector::Verdict`] per row; the commands are thin shells around it.

pub mod detector;
pub mod numfmt;
pub mod schema;
pub mod timestamp;

//! What the rows of a file say about it as they are taken, told once they all are:
//! whether their times run forward ([`TimeOrder`]) and which judged columns held
//! infinite cells ([`Infinities`]). `analyze` (window by window, through
//! `report::Tally`) and `watch --replay` take rows this one way, so they tell the
//! same warnings in the same order.

use std::ops::Range;

use super::infinite::Infinities;
use super::time_order::TimeOrder;
use crate::io::input::Table;

/// The warnings found so far in the rows taken.
#[derive(Debug, Default)]
pub struct RowWarnings {
    order: TimeOrder,
    infinities: Infinities,
}

impl RowWarnings {
    /// Takes the rows `rows` of `table`, the next ones of the file after
    /// `rows_before` rows, judged by a model of `metrics`. A table taken in parts
    /// gives its infinite cells with its first part (`rows` from 0).
    pub fn add(
        &mut self,
        table: &Table,
        rows: Range<usize>,
        rows_before: usize,
        metrics: &[String],
    ) {
        if let Some(times) = &table.frame.times {
            self.order.add(&times[rows.clone()]);
        }
        if rows.start == 0 {
            self.infinities.add(&table.infinite, rows_before, metrics);
        }
    }

    /// What to tell the user of the rows taken from `file` (its name, for the
    /// hints): infinite cells, then their times.
    pub fn warnings(&self, file: &str) -> Vec<String> {
        let mut warnings = self.infinities.warnings();
        warnings.extend(self.order.warnings(file));
        warnings
    }
}

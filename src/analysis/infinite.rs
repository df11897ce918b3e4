//! Infinite cells across a file. A reader reads `inf`, or a number beyond the
//! largest `f64` (what an exporter that divides by zero writes), as a missing
//! reading: the row is judged with the metric's baseline median in its place, and
//! its reasons say the metric is missing. The cell says otherwise, so the user is
//! told once per column how many there were and where the first one is, counted
//! over the whole file however it was read.

use crate::io::input::InfiniteCells;

/// The judged metric columns with infinite cells.
#[derive(Debug, Default)]
pub struct Infinities {
    /// Each column's cells, its first one's row 1-based among the file's data rows.
    columns: Vec<InfiniteCells>,
}

impl Infinities {
    /// Takes the infinite cells of a table whose first row is the file's data row
    /// `rows_before + 1`, keeping only columns among `metrics` (the judged ones: a
    /// column left out for having no reading is told so already).
    pub fn add(&mut self, cells: &[InfiniteCells], rows_before: usize, metrics: &[String]) {
        for cells in cells.iter().filter(|c| metrics.contains(&c.column)) {
            match self.columns.iter_mut().find(|c| c.column == cells.column) {
                Some(known) => known.count += cells.count,
                None => self.columns.push(InfiniteCells {
                    first_row: rows_before + cells.first_row + 1,
                    ..cells.clone()
                }),
            }
        }
    }

    /// One warning per column with infinite cells, the column whose first one
    /// comes first in the file first (then in file order), however it was read.
    pub fn warnings(&self) -> Vec<String> {
        let mut columns: Vec<&InfiniteCells> = self.columns.iter().collect();
        columns.sort_by_key(|c| c.first_row);
        columns
            .into_iter()
            .map(|c| {
                let cells = match c.count {
                    1 => "1 cell is".to_string(),
                    n => format!("{n} cells are"),
                };
                format!(
                    "column '{}': {cells} infinite (inf, or beyond ±1.8e308), the first at data row {}: read as missing, scored as the column's baseline median; hint: leave a cell empty where there is no reading",
                    c.column, c.first_row
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(column: &str, count: usize, first_row: usize) -> InfiniteCells {
        InfiniteCells {
            column: column.into(),
            count,
            first_row,
        }
    }

    #[test]
    fn each_judged_column_is_told_once_with_its_first_row_in_the_file() {
        let metrics = ["cpu".to_string(), "disk".to_string()];
        let mut infinities = Infinities::default();
        assert!(infinities.warnings().is_empty());
        // A first window of 100 rows, then a second.
        infinities.add(&[cells("cpu", 1, 70), cells("dead", 100, 0)], 0, &metrics);
        infinities.add(&[cells("cpu", 3, 0), cells("disk", 2, 7)], 100, &metrics);
        let warnings = infinities.warnings();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(
            warnings[0].starts_with("column 'cpu': 4 cells are infinite")
                && warnings[0].contains("the first at data row 71:"),
            "{warnings:?}"
        );
        assert!(
            warnings[1].starts_with("column 'disk': 2 cells are infinite")
                && warnings[1].contains("the first at data row 108:"),
            "{warnings:?}"
        );
    }
}

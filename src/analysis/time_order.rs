//! Whether a file's times run forward. The detector reads rows in file order: a
//! row's features come from the rows above it, its expected value from its time of
//! day, an incident's duration from its first and last rows' times. A file whose
//! times go backwards (sorted by another column, two files joined) is judged in
//! that order all the same, so the user is told once, with where it first happens.
//! So is a file where many rows share the time of the row before: what several
//! hosts or series written in turn look like (long format), judged as one series.
//! And so is a file whose first time falls before 1990: numbers read as Unix
//! seconds, from a column that holds no times (a metric, a row count).

use crate::timestamp;

/// Rows' times taken in file order, and where they first went backwards.
#[derive(Debug, Default)]
pub struct TimeOrder {
    /// Rows taken so far.
    rows: usize,
    /// The last row's time.
    last: Option<i64>,
    /// How many rows had a time earlier than the row before.
    backward: usize,
    /// How many rows had a time later than the row before.
    forward: usize,
    /// The first such row: its 1-based data row, the time before it and its own.
    first: Option<(usize, i64, i64)>,
    /// How many rows had the time of the row before.
    repeated: usize,
    /// The first such row (1-based data row).
    first_repeat: Option<usize>,
    /// The first row's time.
    start: Option<i64>,
}

/// Fewest rows with the time of the row before, and the least share of the rows
/// they must be, for a file to be told it may hold several series in turn: a file
/// sampled faster than its timestamps' resolution repeats a time now and then.
const MIN_REPEATED: usize = 10;

impl TimeOrder {
    /// Takes the times of the next rows, in file order.
    pub fn add(&mut self, times: &[i64]) {
        for (r, &t) in times.iter().enumerate() {
            self.start.get_or_insert(t);
            if let Some(before) = self.last {
                if t < before {
                    self.backward += 1;
                    self.first.get_or_insert((self.rows + r + 1, before, t));
                } else if t > before {
                    self.forward += 1;
                } else {
                    self.repeated += 1;
                    self.first_repeat.get_or_insert(self.rows + r + 1);
                }
            }
            self.last = Some(t);
        }
        self.rows += times.len();
    }

    /// What to tell the user of the times of `file` (its name, for the hints):
    /// that they start before 1990, that they went backwards or that many rows
    /// repeat the time before them.
    pub fn warnings(&self, file: &str) -> Vec<String> {
        self.start_warning()
            .into_iter()
            .chain(self.order_warning(file))
            .collect()
    }

    /// What to tell the user when the first time is before 1990.
    fn start_warning(&self) -> Option<String> {
        let start = self.start.filter(|&t| t < timestamp::EARLIEST_MS)?;
        Some(format!(
            "the first row's time reads as {}: numbers in the time column are taken as \
             Unix seconds (milliseconds from 100000000000), so a column of other numbers \
             (a metric, a row count) gives the rows times that mean nothing; hint: name the \
             column of times with --timestamp-column, written as ISO 8601 \
             (2025-01-02T10:00:00Z) or Unix seconds",
            timestamp::to_iso(start)
        ))
    }

    /// What to tell the user when the times went backwards or many rows repeat the
    /// time before them.
    fn order_warning(&self, file: &str) -> Option<String> {
        let Some((row, before, at)) = self.first else {
            return self.repeated_warning();
        };
        if self.forward == 0 && self.backward > 1 {
            // Newest first, as Netdata's data API writes by default.
            return Some(format!(
                "the times run backwards throughout (newest first, from {} down to {}): rows \
                 are judged in file order, so each is judged against the rows after it in \
                 time; hint: reverse the rows under the header, e.g. (head -n 1 {file}; \
                 tail -n +2 {file} | tac) > oldest_first.csv",
                timestamp::to_iso(before),
                timestamp::to_iso(self.last.unwrap_or(at)),
                file = shell_word(file),
            ));
        }
        let more = match self.backward - 1 {
            0 => String::new(),
            1 => " and at 1 more row".to_string(),
            n => format!(" and at {n} more rows"),
        };
        Some(format!(
            "the times go backwards at data row {row} ({} after {}){more}: rows are judged \
             in file order, so their features, expected values and incident durations \
             follow that order; hint: sort the file by its time column",
            timestamp::to_iso(at),
            timestamp::to_iso(before),
        ))
    }

    /// What to tell the user when a quarter of the rows or more have the time of
    /// the row before.
    fn repeated_warning(&self) -> Option<String> {
        let row = self.first_repeat?;
        (self.repeated >= MIN_REPEATED && 4 * self.repeated >= self.rows).then(|| {
            format!(
                "{} of the {} rows have the time of the row before (first at data row {row}): \
                 rows of several hosts or series written in turn are judged as one series, \
                 each row against the rows of the others; hint: give each host a file of \
                 its own, with a column per metric",
                self.repeated, self.rows
            )
        })
    }
}

/// `file` as one word of a shell command: as it is when it needs no quoting,
/// else in single quotes; standard input as a file it could be saved to.
fn shell_word(file: &str) -> String {
    if file == "<stdin>" {
        "in.csv".to_string()
    } else if !file.is_empty()
        && file
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._/-+,:@%".contains(&b))
    {
        file.to_string()
    } else {
        format!("'{}'", file.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2025-01-01T00:00:00Z: times as a file of metrics has them.
    const T0: i64 = 1_735_689_600_000;

    fn order_of(windows: &[&[i64]]) -> TimeOrder {
        let mut order = TimeOrder::default();
        for times in windows {
            order.add(&times.iter().map(|t| T0 + t).collect::<Vec<_>>());
        }
        order
    }

    #[test]
    fn times_that_only_run_forward_or_repeat_say_nothing() {
        let order = order_of(&[&[0, 1000, 1000], &[2000, 3000]]);
        assert!(order.warnings("in.csv").is_empty());
    }

    #[test]
    fn rows_of_several_hosts_in_turn_are_told_but_a_time_repeated_now_and_then_is_not() {
        let times: Vec<i64> = (0..100).map(|i| i / 2 * 1000).collect();
        let warnings = order_of(&[&times[..40], &times[40..]]).warnings("in.csv");
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].starts_with(
                "50 of the 100 rows have the time of the row before (first at data row 2): "
            ),
            "{warnings:?}"
        );
        let times: Vec<i64> = (0..100).map(|i| (i - i / 10) * 1000).collect();
        assert!(order_of(&[&times]).warnings("in.csv").is_empty());
    }

    #[test]
    fn a_file_newest_first_is_told_how_to_reverse_it_by_its_name() {
        let order = order_of(&[&[5000, 4000, 4000], &[3000, 0]]);
        let warnings = order.warnings("logs/host 1.csv");
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].starts_with(
                "the times run backwards throughout (newest first, from \
                 2025-01-01T00:00:05Z down to 2025-01-01T00:00:00Z)"
            ),
            "{warnings:?}"
        );
        assert!(
            warnings[0].contains(
                "(head -n 1 'logs/host 1.csv'; tail -n +2 'logs/host 1.csv' | tac) > oldest_first.csv"
            ),
            "{warnings:?}"
        );
        assert!(
            order.warnings("<stdin>")[0].contains("(head -n 1 in.csv; tail -n +2 in.csv | tac)")
        );
        assert!(order.warnings("it's.csv")[0].contains("head -n 1 'it'\\''s.csv';"));
    }

    #[test]
    fn the_first_step_back_is_named_by_its_row_and_the_rest_counted() {
        // The first window's last time is carried into the next.
        let warnings = order_of(&[&[0, 5000, 6000], &[1000, 2000, 500]]).warnings("in.csv");
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].starts_with(
                "the times go backwards at data row 4 (2025-01-01T00:00:01Z after \
                 2025-01-01T00:00:06Z) and at 1 more row: "
            ),
            "{warnings:?}"
        );
        assert!(warnings[0].ends_with("hint: sort the file by its time column"));
    }

    #[test]
    fn times_before_1990_are_told_as_numbers_that_may_not_be_times() {
        let mut order = TimeOrder::default();
        order.add(&[41_300, 37_120, 40_000]);
        let warnings = order.warnings("in.csv");
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(
            warnings[0].starts_with(
                "the first row's time reads as 1970-01-01T00:00:41.300Z: numbers in the time \
                 column are taken as Unix seconds"
            ),
            "{warnings:?}"
        );
        assert!(warnings[1].starts_with("the times go backwards at data row 2"));
        let mut order = TimeOrder::default();
        order.add(&[timestamp::EARLIEST_MS, timestamp::EARLIEST_MS + 1000]);
        assert!(order.warnings("in.csv").is_empty());
    }
}

//! Whether a file's times run forward. The detector reads rows in file order: a
//! row's features come from the rows above it, its expected value from its time of
//! day, an incident's duration from its first and last rows' times. A file whose
//! times go backwards (sorted by another column, two files joined) is judged in
//! that order all the same, so the user is told once, with where it first happens.
//! So is a file where many rows share the time of the row before: what several
//! hosts or series written in turn look like (long format), judged as one series.

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
}

/// Fewest rows with the time of the row before, and the least share of the rows
/// they must be, for a file to be told it may hold several series in turn: a file
/// sampled faster than its timestamps' resolution repeats a time now and then.
const MIN_REPEATED: usize = 10;

impl TimeOrder {
    /// Takes the times of the next rows, in file order.
    pub fn add(&mut self, times: &[i64]) {
        for (r, &t) in times.iter().enumerate() {
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

    /// What to tell the user, when the times went backwards or many rows repeat
    /// the time before them.
    pub fn warning(&self) -> Option<String> {
        let Some((row, before, at)) = self.first else {
            return self.repeated_warning();
        };
        if self.forward == 0 && self.backward > 1 {
            // Newest first, as Netdata's data API writes by default.
            return Some(format!(
                "the times run backwards throughout (newest first, from {} down to {}): rows \
                 are judged in file order, so each is judged against the rows after it in \
                 time; hint: reverse the rows under the header, e.g. (head -n 1 in.csv; \
                 tail -n +2 in.csv | tac) > oldest_first.csv",
                timestamp::to_iso(before),
                timestamp::to_iso(self.last.unwrap_or(at)),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_that_only_run_forward_or_repeat_say_nothing() {
        let mut order = TimeOrder::default();
        order.add(&[0, 1000, 1000]);
        order.add(&[2000, 3000]);
        assert_eq!(order.warning(), None);
    }

    #[test]
    fn rows_of_several_hosts_in_turn_are_told_but_a_time_repeated_now_and_then_is_not() {
        let mut order = TimeOrder::default();
        let times: Vec<i64> = (0..100).map(|i| i / 2 * 1000).collect();
        order.add(&times[..40]);
        order.add(&times[40..]);
        let warning = order.warning().unwrap();
        assert!(
            warning.starts_with(
                "50 of the 100 rows have the time of the row before (first at data row 2): "
            ),
            "{warning}"
        );
        let mut order = TimeOrder::default();
        let times: Vec<i64> = (0..100).map(|i| (i - i / 10) * 1000).collect();
        order.add(&times);
        assert_eq!(order.warning(), None);
    }

    #[test]
    fn a_file_newest_first_is_told_how_to_reverse_it() {
        let mut order = TimeOrder::default();
        order.add(&[5000, 4000, 4000]);
        order.add(&[3000, 0]);
        let warning = order.warning().unwrap();
        assert!(
            warning.starts_with(
                "the times run backwards throughout (newest first, from \
                 1970-01-01T00:00:05Z down to 1970-01-01T00:00:00Z)"
            ),
            "{warning}"
        );
        assert!(warning.contains("tac) > oldest_first.csv"), "{warning}");
    }

    #[test]
    fn the_first_step_back_is_named_by_its_row_and_the_rest_counted() {
        let mut order = TimeOrder::default();
        order.add(&[0, 5000, 6000]);
        // The first window's last time is carried into the next.
        order.add(&[1000, 2000, 500]);
        let warning = order.warning().unwrap();
        assert!(
            warning.starts_with(
                "the times go backwards at data row 4 (1970-01-01T00:00:01Z after \
                 1970-01-01T00:00:06Z) and at 1 more row: "
            ),
            "{warning}"
        );
        assert!(warning.ends_with("hint: sort the file by its time column"));
    }
}

//! The training rows a batch fit takes: all of them up to [`max_fit_rows`], else
//! every other block of [`FIT_BLOCK`] consecutive rows, or every fourth, and so on,
//! the fewest left out that keep it within bounds. Blocks, not single rows, keep
//! the rows' order and spacing within each block, which the features, the flat runs
//! and the calibration of the bars read; spreading them over the whole period
//! keeps every time of day and week. Taken as the rows go by, it gives the same
//! sample whether a file is held whole or read in windows.

use crate::detector::{Frame, scaled_to_width};

/// Most training rows a batch fit takes: the fit's medians already used at most
/// about a million rows, and its calibration far fewer.
pub const MAX_FIT_ROWS: usize = 1 << 20;

/// Metrics a fit may have and still take [`MAX_FIT_ROWS`] rows: a wider one takes
/// proportionally fewer, so the sample's readings stay within 128 MB (a million
/// rows of 512 metrics would hold 4.3 GB).
const FIT_METRICS: usize = 16;

/// Fewest training rows a fit of many metrics takes up to: two blocks.
const MIN_FIT_ROWS: usize = 2 * FIT_BLOCK;

/// Most training rows a batch fit of `metrics` metrics takes.
pub fn max_fit_rows(metrics: usize) -> usize {
    scaled_to_width(MAX_FIT_ROWS, FIT_METRICS, metrics, MIN_FIT_ROWS)
}

/// Consecutive training rows kept or left out together.
pub const FIT_BLOCK: usize = 4096;

/// The training rows kept so far, as they go by in order.
#[derive(Debug)]
pub struct FitSample {
    /// Most rows kept ([`max_fit_rows`]).
    max_rows: usize,
    /// The kept rows.
    frame: Frame,
    /// The index of each kept block among all blocks of training rows, in order.
    blocks: Vec<usize>,
    /// Training rows seen.
    seen: usize,
    /// Of the blocks, every `step`-th is kept (a power of two); 0 before the first
    /// row.
    step: usize,
    /// The step the first row starts at (see [`FitSample::expect`]); 0 for 1.
    start_step: usize,
}

impl Default for FitSample {
    /// A sample of up to [`MAX_FIT_ROWS`] rows.
    fn default() -> FitSample {
        FitSample::of_metrics(1)
    }
}

impl FitSample {
    /// An empty sample of the training rows of `metrics` metrics: up to
    /// [`max_fit_rows`] of them.
    pub fn of_metrics(metrics: usize) -> FitSample {
        FitSample {
            max_rows: max_fit_rows(metrics),
            frame: Frame::default(),
            blocks: Vec::new(),
            seen: 0,
            step: 0,
            start_step: 0,
        }
    }

    /// Takes the rows `rows` (ascending) of `frame` as the next training rows. Every
    /// frame given has the same columns.
    pub fn push(&mut self, frame: &Frame, rows: impl IntoIterator<Item = usize>) {
        if self.step == 0 {
            self.step = self.start_step.max(1);
            self.frame = Frame {
                names: frame.names.clone(),
                columns: vec![Vec::new(); frame.columns.len()],
                text_names: frame.text_names.clone(),
                text_columns: vec![Vec::new(); frame.text_columns.len()],
                times: frame.times.as_ref().map(|_| Vec::new()),
            };
        }
        for r in rows {
            let block = self.seen / FIT_BLOCK;
            self.seen += 1;
            if !block.is_multiple_of(self.step) {
                continue;
            }
            if self.blocks.last() != Some(&block) {
                self.blocks.push(block);
            }
            let kept = &mut self.frame;
            for (to, from) in kept.columns.iter_mut().zip(&frame.columns) {
                to.push(from[r]);
            }
            for (to, from) in kept.text_columns.iter_mut().zip(&frame.text_columns) {
                to.push(from[r].clone());
            }
            if let (Some(to), Some(from)) = (kept.times.as_mut(), frame.times.as_ref()) {
                to.push(from[r]);
            }
            if kept.rows() > self.max_rows {
                self.thin();
            }
        }
    }

    /// Of the next `count` training rows, the runs (from 0, the next row) the sample
    /// keeps as it stands; a later thinning may still drop some. The rows outside
    /// them it never keeps: they need not be read (see [`FitSample::push_runs`]).
    pub fn wanted(&self, count: usize) -> Vec<std::ops::Range<usize>> {
        // Before the first row, the step it will start at.
        let step = self.step.max(self.start_step).max(1);
        let (from, to) = (self.seen, self.seen + count);
        if count == 0 {
            return Vec::new();
        }
        (from / FIT_BLOCK..=(to - 1) / FIT_BLOCK)
            .filter(|b| b.is_multiple_of(step))
            .map(|b| (b * FIT_BLOCK).max(from) - from..((b + 1) * FIT_BLOCK).min(to) - from)
            .collect()
    }

    /// Takes the next `count` training rows, of which only those in `runs` (from
    /// [`FitSample::wanted`] for `count`) were read: they are `part`'s rows, in order.
    pub fn push_runs(&mut self, count: usize, runs: &[std::ops::Range<usize>], part: &Frame) {
        let (mut at, mut row) = (0, 0);
        for run in runs {
            self.seen += run.start - at;
            self.push(part, row..row + run.len());
            row += run.len();
            at = run.end;
        }
        self.seen += count - at;
    }

    /// Starts the sample at the step it would end at after `rows` training rows,
    /// before any is taken: the blocks a later thinning would drop are then never
    /// taken, nor read (see [`FitSample::wanted`]). The sample is the same as
    /// without it when at least `rows` rows come, which [`FitSample::held`] says.
    pub fn expect(&mut self, rows: usize) {
        if self.step == 0 {
            self.start_step = final_step(rows, self.max_rows);
        }
    }

    /// Whether the rows seen are enough for the step the sample started at: when
    /// fewer came than [`FitSample::expect`] was told, blocks a sample taken
    /// without it would keep were left out, and it must be taken again.
    pub fn held(&self) -> bool {
        self.start_step <= final_step(self.seen, self.max_rows)
    }

    /// Training rows seen, kept or not.
    pub fn seen(&self) -> usize {
        self.seen
    }

    /// The kept rows, in order.
    pub fn finish(self) -> Frame {
        self.frame
    }

    /// Keeps every other kept block.
    fn thin(&mut self) {
        self.step *= 2;
        let step = self.step;
        let keep: Vec<bool> = self.blocks.iter().map(|b| b.is_multiple_of(step)).collect();
        let kept = |row: usize| keep[row / FIT_BLOCK];
        let frame = &mut self.frame;
        for column in &mut frame.columns {
            retain_rows(column, kept);
        }
        for column in &mut frame.text_columns {
            retain_rows(column, kept);
        }
        if let Some(times) = frame.times.as_mut() {
            retain_rows(times, kept);
        }
        self.blocks.retain(|b| b.is_multiple_of(step));
    }
}

/// The step a sample ends at after `rows` training rows: the smallest power of two
/// that keeps at most `max_rows`, as thinning whenever it holds more reaches.
fn final_step(rows: usize, max_rows: usize) -> usize {
    let (blocks, rest) = (rows / FIT_BLOCK, rows % FIT_BLOCK);
    let kept = |step: usize| {
        blocks.div_ceil(step) * FIT_BLOCK + if blocks.is_multiple_of(step) { rest } else { 0 }
    };
    let mut step = 1;
    while kept(step) > max_rows {
        step *= 2;
    }
    step
}

fn retain_rows<T>(column: &mut Vec<T>, kept: impl Fn(usize) -> bool) {
    let mut row = 0;
    column.retain(|_| {
        row += 1;
        kept(row - 1)
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(rows: usize) -> Frame {
        Frame {
            names: vec!["x".into()],
            columns: vec![(0..rows).map(|r| r as f64).collect()],
            times: Some((0..rows as i64).collect()),
            ..Frame::default()
        }
    }

    /// A column of `rows` rows and its sample taken in one push.
    fn whole_sample(rows: usize) -> (Frame, Frame) {
        let frame = column(rows);
        let mut sample = FitSample::default();
        sample.push(&frame, 0..rows);
        let kept = sample.finish();
        (frame, kept)
    }

    #[test]
    fn a_wide_training_set_keeps_fewer_rows_so_its_readings_take_the_same_memory() {
        assert_eq!(max_fit_rows(8), MAX_FIT_ROWS);
        assert_eq!(max_fit_rows(16), MAX_FIT_ROWS);
        assert_eq!(max_fit_rows(512), 32_768);
        assert_eq!(max_fit_rows(100_000), MIN_FIT_ROWS);
        let wide = Frame {
            names: (0..512).map(|m| format!("m{m}")).collect(),
            columns: vec![(0..60_000).map(|r| r as f64).collect(); 512],
            ..Frame::default()
        };
        let mut sample = FitSample::of_metrics(512);
        sample.push(&wide, 0..60_000);
        let kept = sample.finish();
        assert!(
            kept.rows() <= 32_768 && kept.rows() > 16_384,
            "{}",
            kept.rows()
        );
        // Whole blocks, spread over the rows.
        assert_eq!(kept.columns[0][FIT_BLOCK], (2 * FIT_BLOCK) as f64);
    }

    #[test]
    fn a_small_training_set_is_kept_whole() {
        let frame = column(10_000);
        let mut sample = FitSample::default();
        sample.push(&frame, 0..10_000);
        assert_eq!(sample.finish(), frame);
    }

    #[test]
    fn a_large_one_keeps_evenly_spread_whole_blocks_within_bounds() {
        let rows = 3 * MAX_FIT_ROWS + 100;
        let frame = column(rows);
        let mut sample = FitSample::default();
        sample.push(&frame, 0..rows);
        let kept = sample.finish();
        // Every fourth block: a quarter of the rows, the smallest thinning in bounds.
        assert!(kept.rows() <= MAX_FIT_ROWS);
        assert!(kept.rows() > MAX_FIT_ROWS / 2, "{}", kept.rows());
        let first_of_second = kept.columns[0][FIT_BLOCK];
        assert_eq!(first_of_second, (4 * FIT_BLOCK) as f64);
        assert_eq!(kept.columns[0][FIT_BLOCK - 1], (FIT_BLOCK - 1) as f64);
        assert_eq!(kept.times.as_ref().unwrap().len(), kept.rows());
    }

    #[test]
    fn reading_only_the_wanted_rows_gives_the_same_sample() {
        let rows = 3 * MAX_FIT_ROWS + 999;
        let (frame, whole) = whole_sample(rows);
        let mut sparse = FitSample::default();
        let mut start = 0;
        while start < rows {
            let count = 250_000.min(rows - start);
            let runs = sparse.wanted(count);
            let read: Vec<usize> = runs
                .iter()
                .flat_map(|r| start + r.start..start + r.end)
                .collect();
            sparse.push_runs(count, &runs, &frame.select(&read));
            start += count;
        }
        assert_eq!(whole, sparse.finish());
    }

    #[test]
    fn expecting_the_rows_reads_fewer_and_keeps_the_same_sample() {
        for rows in [
            5 * MAX_FIT_ROWS + 17,
            8 * MAX_FIT_ROWS,
            2 * MAX_FIT_ROWS - 1,
        ] {
            let (frame, whole) = whole_sample(rows);
            for expected in [rows / 2, rows] {
                let mut sparse = FitSample::default();
                sparse.expect(expected);
                let mut start = 0;
                let mut read = 0;
                while start < rows {
                    let count = 300_000.min(rows - start);
                    let runs = sparse.wanted(count);
                    let at: Vec<usize> = runs
                        .iter()
                        .flat_map(|r| start + r.start..start + r.end)
                        .collect();
                    read += at.len();
                    sparse.push_runs(count, &runs, &frame.select(&at));
                    start += count;
                }
                assert!(sparse.held());
                // Told the rows, it reads only the rows it keeps.
                let bound = if expected == rows {
                    MAX_FIT_ROWS
                } else {
                    2 * MAX_FIT_ROWS
                };
                assert!(
                    read <= bound,
                    "{rows} rows, {expected} expected: read {read}"
                );
                assert_eq!(whole, sparse.finish(), "{rows} rows, {expected} expected");
            }
        }
        // Fewer rows than expected: it says so.
        let mut short = FitSample::default();
        short.expect(8 * MAX_FIT_ROWS);
        let frame = column(2 * MAX_FIT_ROWS);
        short.push(&frame, 0..frame.rows());
        assert!(!short.held());
    }

    #[test]
    fn the_sample_is_the_same_whatever_the_windows_it_comes_in() {
        let rows = 2 * MAX_FIT_ROWS + 12_345;
        let (frame, whole) = whole_sample(rows);
        let mut windows = FitSample::default();
        let mut start = 0;
        for size in [1, 7_000, 300_000, 1_500_000].iter().cycle() {
            let end = (start + size).min(rows);
            windows.push(&frame, start..end);
            start = end;
            if start == rows {
                break;
            }
        }
        assert_eq!(whole, windows.finish());
    }
}

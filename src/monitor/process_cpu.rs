//! What each process used of the CPU between two readings of the process table,
//! measured from its accumulated CPU time over our own clock. sysinfo divides a
//! process's CPU time since its last reading by the span of the last CPU
//! reading, which the collector takes every sample: a table read every five
//! samples showed five times the usage (a process busy on one core of two read
//! 200 %), and a process started since the last reading read 0 %.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// One process as a reading of the table finds it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    /// Process id.
    pub pid: u32,
    /// When it started (seconds since the epoch), so a reused pid counts as new.
    pub start: u64,
    /// CPU time it has used since it started, in milliseconds over all its threads.
    pub cpu_ms: u64,
}

/// The CPU time of every process at the last reading, and when that was.
#[derive(Debug)]
pub struct ProcessCpu {
    at: Instant,
    seen: HashMap<u32, (u64, u64)>,
}

impl ProcessCpu {
    /// Remembers a first reading of the table, taken at `at`.
    pub fn new(at: Instant, readings: impl IntoIterator<Item = Reading>) -> ProcessCpu {
        let mut cpu = ProcessCpu {
            at,
            seen: HashMap::new(),
        };
        cpu.remember(readings);
        cpu
    }

    /// Percent of one core each process used since the last reading, in the order
    /// given, and remembers this one. A process the last reading did not see has
    /// lived only since then, so all its CPU time counts. No share is above
    /// `cores` × 100, whatever the clock tick's rounding.
    pub fn since_last(
        &mut self,
        at: Instant,
        readings: Vec<Reading>,
        cores: usize,
    ) -> Vec<(u32, f32)> {
        let span = at
            .saturating_duration_since(self.at)
            .max(Duration::from_millis(1));
        let most = cores.max(1) as f64 * 100.0;
        let shares = readings
            .iter()
            .map(|r| {
                let before = match self.seen.get(&r.pid) {
                    Some(&(start, cpu_ms)) if start == r.start => cpu_ms,
                    _ => 0,
                };
                let used = r.cpu_ms.saturating_sub(before) as f64;
                let share = (100.0 * used / (span.as_secs_f64() * 1000.0)).min(most);
                (r.pid, share as f32)
            })
            .collect();
        self.at = at;
        self.remember(readings);
        shares
    }

    fn remember(&mut self, readings: impl IntoIterator<Item = Reading>) {
        self.seen = readings
            .into_iter()
            .map(|r| (r.pid, (r.start, r.cpu_ms)))
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(pid: u32, start: u64, cpu_ms: u64) -> Reading {
        Reading { pid, start, cpu_ms }
    }

    #[test]
    fn a_process_busy_on_one_core_for_five_seconds_reads_one_core() {
        let t0 = Instant::now();
        let mut cpu = ProcessCpu::new(t0, [reading(7, 100, 1_500), reading(8, 100, 40)]);
        let shares = cpu.since_last(
            t0 + Duration::from_secs(5),
            vec![reading(7, 100, 6_450), reading(8, 100, 90)],
            2,
        );
        assert_eq!(shares.len(), 2);
        assert!((shares[0].1 - 99.0).abs() < 0.01, "{shares:?}");
        assert!((shares[1].1 - 1.0).abs() < 0.01, "{shares:?}");
    }

    #[test]
    fn a_process_started_since_the_last_reading_counts_all_its_time() {
        let t0 = Instant::now();
        let mut cpu = ProcessCpu::new(t0, [reading(7, 100, 1_000)]);
        // pid 9 is new; pid 7 exited and its number went to a process started later.
        let shares = cpu.since_last(
            t0 + Duration::from_secs(2),
            vec![reading(9, 104, 1_600), reading(7, 105, 200)],
            2,
        );
        assert_eq!(shares, vec![(9, 80.0), (7, 10.0)]);
    }

    #[test]
    fn no_share_is_above_every_core_busy() {
        let t0 = Instant::now();
        let mut cpu = ProcessCpu::new(t0, []);
        let shares = cpu.since_last(t0 + Duration::from_millis(10), vec![reading(3, 1, 500)], 4);
        assert_eq!(shares, vec![(3, 400.0)]);
    }
}

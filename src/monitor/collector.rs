//! Samples this machine with sysinfo: the native metrics plus swap, load and the
//! process count, per-core usage, and the busiest processes (which disks and
//! interfaces count is `disk_io.rs`'s and `network_io.rs`'s to say). Rates come from the counters' change since the
//! previous sample over the time between them. A subsystem that is unsupported
//! or fails gives NaN and never stops the others.

use std::time::Instant;

use sysinfo::{
    CpuRefreshKind, MemoryRefreshKind, Networks, Pid, ProcessRefreshKind, ProcessesToUpdate, System,
};

use super::disk_io::DiskIo;
use super::network_io::network_bytes;
use super::process_cpu::{ProcessCpu, Reading};
use super::{ProcessInfo, Sample, SampleLayout, TopProcesses};
use crate::schema::{LIVE_EXTRA, NATIVE};

/// Bytes in the MB of the `_mb` metrics (MiB, as psutil-based tools report).
const MB: f64 = 1024.0 * 1024.0;
/// Bytes in the GB of `memory_available_gb`.
const GB: f64 = 1024.0 * 1024.0 * 1024.0;
/// Processes listed per ranking.
pub const TOP_PROCESSES: usize = 5;
/// The process table is the costliest part of a sample (one file per process on
/// Linux), so it is refreshed every this many samples; per-process CPU is then an
/// average over that span (`process_cpu.rs`), which is what a person wants next
/// to an anomaly.
pub const PROCESS_EVERY: u64 = 5;

/// A live source of samples from this machine.
pub struct Collector {
    system: Option<System>,
    process_cpu: ProcessCpu,
    disks: DiskIo,
    networks: Option<Networks>,
    last: Instant,
    samples: u64,
    top: Option<TopProcesses>,
}

impl Collector {
    /// Opens every subsystem sysinfo supports here and takes the first readings, so
    /// the first [`Collector::sample`] (at least `sysinfo::MINIMUM_CPU_UPDATE_INTERVAL`
    /// later) already has rates and CPU usage.
    pub fn new() -> Collector {
        let mut system = System::new().ok();
        if let Some(s) = system.as_mut() {
            s.refresh_cpu_specifics(CpuRefreshKind::nothing().with_usage());
            s.refresh_processes_specifics(ProcessesToUpdate::All, true, process_kind());
        }
        let process_cpu = ProcessCpu::new(
            Instant::now(),
            system.as_ref().map(readings).unwrap_or_default(),
        );
        let disks = DiskIo::new();
        let networks = Networks::new_with_refreshed_list().ok();
        Collector {
            system,
            process_cpu,
            disks,
            networks,
            last: Instant::now(),
            samples: 0,
            top: None,
        }
    }

    /// What the collector produces: the native metrics, then the live extras.
    pub fn layout() -> SampleLayout {
        let names = NATIVE
            .iter()
            .chain(LIVE_EXTRA.iter())
            .map(|m| m.name.to_string())
            .collect();
        SampleLayout::of(names, Vec::new(), true)
    }

    /// The busiest processes of this moment, for an anomaly: the process table
    /// is read again unless the latest sample read it (per-process CPU is then
    /// averaged since the previous reading, at most [`PROCESS_EVERY`] samples
    /// ago). Read twice in the same sample, every process's CPU was a share of a
    /// few milliseconds, and the busiest-by-CPU list was noise.
    pub fn top_processes_now(&mut self) -> TopProcesses {
        // The latest sample is number `samples - 1`.
        let read_by_sample = self
            .samples
            .checked_sub(1)
            .is_some_and(|n| n.is_multiple_of(PROCESS_EVERY));
        if !read_by_sample {
            self.refresh_processes();
        }
        self.top.clone().unwrap_or_default()
    }

    fn refresh_processes(&mut self) {
        if let Some(s) = self.system.as_mut() {
            s.refresh_processes_specifics(ProcessesToUpdate::All, true, process_kind());
            let shares = self
                .process_cpu
                .since_last(Instant::now(), readings(s), s.cpus().len());
            self.top = Some(top_processes(s, &shares));
        }
    }

    /// Reads every metric now; `time` is the sample's Unix time in milliseconds.
    pub fn sample(&mut self, time: i64) -> Sample {
        let now = Instant::now();
        let seconds = now.duration_since(self.last).as_secs_f64().max(1e-3);
        self.last = now;
        let mut values = vec![f64::NAN; NATIVE.len() + LIVE_EXTRA.len()];
        let mut cores = Vec::new();
        if let Some(s) = self.system.as_mut() {
            s.refresh_cpu_specifics(CpuRefreshKind::nothing().with_usage().with_frequency());
            s.refresh_memory_specifics(MemoryRefreshKind::nothing().with_ram().with_swap());
            values[0] = f64::from(s.global_cpu_usage());
            cores = s.cpus().iter().map(|c| c.usage()).collect();
            values[1] = mean_frequency(s);
            if s.total_memory() > 0 {
                let total = s.total_memory() as f64;
                let available = s.available_memory() as f64;
                values[2] = 100.0 * (1.0 - available / total);
                values[3] = available / GB;
            }
            values[8] = if s.total_swap() > 0 {
                100.0 * s.used_swap() as f64 / s.total_swap() as f64
            } else {
                0.0
            };
        }
        if self.samples.is_multiple_of(PROCESS_EVERY) {
            self.refresh_processes();
        }
        if let Some(s) = &self.system {
            values[12] = s.processes().len() as f64;
        }
        if let Some((read, written)) = self.disks.since_last() {
            values[4] = read / MB / seconds;
            values[5] = written / MB / seconds;
        }
        if let Some(networks) = self.networks.as_mut() {
            networks.refresh(true);
            let (sent, received) = network_bytes(networks);
            values[6] = sent / MB / seconds;
            values[7] = received / MB / seconds;
        }
        if let Ok(load) = System::load_average() {
            values[9] = load.one;
            values[10] = load.five;
            values[11] = load.fifteen;
        }
        self.samples += 1;
        Sample {
            time,
            values,
            texts: Vec::new(),
            cores,
            processes: self.top.clone(),
        }
    }
}

impl Default for Collector {
    fn default() -> Self {
        Collector::new()
    }
}

/// CPU and memory of each process, without its threads: sysinfo otherwise lists
/// every thread as a process of its own, with the process's memory, so
/// `process_count` counted threads (118 where `ps -e` lists 73) and one program's
/// threads filled the busiest-by-memory list.
fn process_kind() -> ProcessRefreshKind {
    ProcessRefreshKind::nothing()
        .with_cpu()
        .with_memory()
        .without_tasks()
}

fn mean_frequency(s: &System) -> f64 {
    let cpus = s.cpus();
    let known: Vec<f64> = cpus
        .iter()
        .map(|c| c.frequency() as f64)
        .filter(|&f| f > 0.0)
        .collect();
    if known.is_empty() {
        f64::NAN
    } else {
        known.iter().sum::<f64>() / known.len() as f64
    }
}

/// Every process's CPU time as the table holds it now.
fn readings(s: &System) -> Vec<Reading> {
    s.processes()
        .values()
        .map(|p| Reading {
            pid: p.pid().as_u32(),
            start: p.start_time(),
            cpu_ms: p.accumulated_cpu_time(),
        })
        .collect()
}

/// The busiest processes, from each one's share of the CPU since the last reading.
fn top_processes(s: &System, shares: &[(u32, f32)]) -> TopProcesses {
    let mut all: Vec<ProcessInfo> = shares
        .iter()
        .filter_map(|&(pid, cpu_percent)| {
            let p = s.process(Pid::from_u32(pid))?;
            Some(ProcessInfo {
                pid,
                name: p.name().to_string_lossy().into_owned(),
                cpu_percent,
                memory_mb: p.memory() as f64 / MB,
            })
        })
        .collect();
    let rank = |all: &mut Vec<ProcessInfo>, key: fn(&ProcessInfo) -> f64| {
        all.sort_by(|a, b| key(b).total_cmp(&key(a)).then(a.pid.cmp(&b.pid)));
        all.iter().take(TOP_PROCESSES).cloned().collect::<Vec<_>>()
    };
    let by_cpu = rank(&mut all, |p| f64::from(p.cpu_percent));
    let by_memory = rank(&mut all, |p| p.memory_mb);
    TopProcesses { by_cpu, by_memory }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn processes_are_counted_and_ranked_without_their_threads() {
        let stop = std::sync::Arc::new(std::sync::Barrier::new(9));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    stop.wait();
                })
            })
            .collect();
        let mut collector = Collector::new();
        std::thread::sleep(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL);
        let sample = collector.sample(1_700_000_000_000);
        let system = collector.system.as_ref().expect("processes on Linux");
        let ours = sysinfo::get_current_pid().expect("own pid");
        let listed: Vec<_> = system.processes().values().collect();
        let userland = Some(sysinfo::ThreadKind::Userland);
        assert!(listed.iter().all(|p| p.thread_kind() != userland));
        assert!(listed.iter().any(|p| p.pid() == ours));
        assert_eq!(sample.values[12], listed.len() as f64);
        let top = sample.processes.expect("processes on the first sample");
        let mut pids: Vec<u32> = top.by_memory.iter().map(|p| p.pid).collect();
        pids.sort_unstable();
        pids.dedup();
        assert_eq!(pids.len(), top.by_memory.len());
        stop.wait();
        for thread in threads {
            thread.join().expect("thread");
        }
    }

    #[test]
    fn an_anomaly_on_a_sample_that_read_the_process_table_gets_that_reading() {
        // A busy thread, so this process leads the busiest-by-CPU list when its CPU
        // is measured over the sample's interval, and not over the moment between
        // two readings of one sample.
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let busy = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            })
        };
        let mut collector = Collector::new();
        std::thread::sleep(Duration::from_millis(300));
        let sample = collector.sample(1_700_000_000_000);
        let read = sample.processes.expect("the first sample reads the table");
        let now = collector.top_processes_now();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        busy.join().expect("thread");
        assert_eq!(now, read);
        assert!(read.by_cpu[0].cpu_percent > 20.0, "{:?}", read.by_cpu);
    }

    /// Kills the busy child however the test ends.
    struct Busy(std::process::Child);

    impl Drop for Busy {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    #[test]
    fn a_process_busy_on_one_core_reads_one_core_at_most_also_when_new() {
        let mut collector = Collector::new();
        // Started after the collector's first reading: every reading below is new
        // to it at first, and then one spanning five samples.
        let busy = Busy(
            std::process::Command::new("sh")
                .args(["-c", "while :; do :; done"])
                .spawn()
                .expect("sh"),
        );
        let share = |top: &TopProcesses| {
            top.by_cpu
                .iter()
                .find(|p| p.pid == busy.0.id())
                .map(|p| p.cpu_percent)
        };
        std::thread::sleep(Duration::from_millis(300));
        let first = collector.sample(1_700_000_000_000);
        let first = share(first.processes.as_ref().expect("read at the first sample"));
        let mut sample = None;
        for i in 1..=PROCESS_EVERY {
            std::thread::sleep(Duration::from_millis(100));
            sample = Some(collector.sample(1_700_000_000_000 + i as i64 * 100));
        }
        let later = sample
            .and_then(|s| s.processes)
            .expect("read every 5 samples");
        let later = share(&later);
        for cpu in [first, later] {
            let cpu = cpu.expect("a busy loop is among the five busiest processes");
            assert!(cpu > 20.0 && cpu <= 105.0, "{first:?} then {later:?}");
        }
    }

    #[test]
    fn a_sample_has_every_metric_of_the_schema_and_sane_values() {
        let mut collector = Collector::new();
        std::thread::sleep(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL);
        let sample = collector.sample(1_700_000_000_000);
        let layout = Collector::layout();
        assert_eq!(sample.values.len(), layout.names.len());
        assert_eq!(layout.names[0], "cpu_percent");
        let cpu = sample.values[0];
        assert!((0.0..=100.0).contains(&cpu), "cpu {cpu}");
        let memory = sample.values[2];
        assert!(memory > 0.0 && memory < 100.0, "memory {memory}");
        for rate in &sample.values[4..8] {
            assert!(rate.is_nan() || *rate >= 0.0, "rate {rate}");
        }
        let top = sample.processes.expect("processes on the first sample");
        assert!(!top.by_memory.is_empty() && top.by_memory.len() <= TOP_PROCESSES);
        assert!(
            top.by_memory
                .windows(2)
                .all(|w| w[0].memory_mb >= w[1].memory_mb)
        );
    }
}

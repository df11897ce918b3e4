//! Synthetic host metrics with labelled anomalies: a daily load cycle, metrics that
//! move together as on a real machine, bursty heavy-tailed I/O, legitimate heavy
//! periods (a nightly backup, an hourly job) that are not anomalies, and anomaly
//! episodes of many kinds. Rows are generated one at a time, so memory stays flat.

use std::f64::consts::PI;
use std::fmt;
use std::str::FromStr;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::StandardNormal;

use crate::numfmt::push_fixed;
use crate::schema::NATIVE;
use crate::timestamp;
use crate::zone::{Zone, wall_clock};

/// The kinds of anomaly the generator plants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AnomalyType {
    /// CPU jumps far above its level for a moment.
    CpuSpike,
    /// CPU pinned at 100 %.
    CpuStuck,
    /// Memory use climbs steadily.
    MemoryLeak,
    /// Disk reads and writes far beyond their usual bursts.
    DiskBurst,
    /// Network traffic far beyond its usual bursts.
    NetworkFlood,
    /// CPU, memory, disk and network all strained at once.
    Contention,
    /// One metric moves to a new level and stays there.
    LevelShift,
    /// One metric stops changing: a stuck sensor.
    Frozen,
    /// Daytime CPU load in the middle of the night.
    Contextual,
}

impl AnomalyType {
    /// Every type, in the order `--types` lists them.
    pub const ALL: [AnomalyType; 9] = [
        AnomalyType::CpuSpike,
        AnomalyType::CpuStuck,
        AnomalyType::MemoryLeak,
        AnomalyType::DiskBurst,
        AnomalyType::NetworkFlood,
        AnomalyType::Contention,
        AnomalyType::LevelShift,
        AnomalyType::Frozen,
        AnomalyType::Contextual,
    ];

    /// The name written in the `anomaly_type` column.
    pub fn name(self) -> &'static str {
        match self {
            AnomalyType::CpuSpike => "cpu_spike",
            AnomalyType::CpuStuck => "cpu_stuck",
            AnomalyType::MemoryLeak => "memory_leak",
            AnomalyType::DiskBurst => "disk_burst",
            AnomalyType::NetworkFlood => "network_flood",
            AnomalyType::Contention => "contention",
            AnomalyType::LevelShift => "level_shift",
            AnomalyType::Frozen => "frozen",
            AnomalyType::Contextual => "contextual",
        }
    }

    /// Shortest and longest episode, in samples.
    fn durations(self) -> (usize, usize) {
        match self {
            AnomalyType::CpuSpike => (1, 20),
            AnomalyType::CpuStuck => (20, 200),
            AnomalyType::MemoryLeak => (60, 400),
            AnomalyType::DiskBurst => (3, 60),
            AnomalyType::NetworkFlood => (5, 120),
            AnomalyType::Contention => (10, 100),
            AnomalyType::LevelShift => (50, 300),
            AnomalyType::Frozen => (40, 300),
            AnomalyType::Contextual => (30, 200),
        }
    }
}

impl fmt::Display for AnomalyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for AnomalyType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        AnomalyType::ALL
            .iter()
            .copied()
            .find(|t| t.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = AnomalyType::ALL.iter().map(|t| t.name()).collect();
                format!(
                    "unknown anomaly type '{s}'; expected one of {}",
                    names.join(", ")
                )
            })
    }
}

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct GenParams {
    /// Number of rows.
    pub rows: usize,
    /// Seed: the same parameters and seed give the same rows.
    pub seed: u64,
    /// Seconds between rows.
    pub interval_s: f64,
    /// Time of the first row, Unix milliseconds.
    pub start_ms: i64,
    /// Target share of anomalous rows.
    pub anomaly_rate: f64,
    /// Types to plant, cycled in order.
    pub types: Vec<AnomalyType>,
    /// Whether to write the `label` and `anomaly_type` columns.
    pub labels: bool,
    /// The zone whose clocks the host keeps: its working day, its nightly backup
    /// and its hourly job follow them (UTC when `None`). Timestamps stay UTC.
    pub zone: Option<Zone>,
}

/// One planted anomaly.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Episode {
    /// Its kind.
    pub kind: AnomalyType,
    /// First row (0-based).
    pub start: usize,
    /// Number of rows.
    pub len: usize,
    /// Which native metric it affects, for single-metric kinds.
    pub metric: usize,
    /// Strength, from 0.6 to 1.0.
    pub strength: f64,
}

/// Lays out episodes for `params`: durations drawn per type until the anomaly rate is
/// met, then spread over the file with quiet gaps between them and a clean start.
pub fn plan(params: &GenParams, rng: &mut StdRng) -> Vec<Episode> {
    let n = params.rows;
    let target = (params.anomaly_rate * n as f64).round() as usize;
    if target == 0 || params.types.is_empty() || n < 100 {
        return Vec::new();
    }
    let cap = (n / 20).max(1);
    // Every type at least once, then whole rounds until the rate is met.
    let mut episodes = Vec::new();
    let mut total = 0;
    while total < target || episodes.len() < params.types.len() {
        for &kind in &params.types {
            let (lo, hi) = kind.durations();
            let len = rng.random_range(lo..=hi).min(cap);
            let metric = match kind {
                AnomalyType::LevelShift => [0, 2, 4, 6][rng.random_range(0..4)],
                AnomalyType::Frozen => [0, 2, 5, 7][rng.random_range(0..4)],
                _ => 0,
            };
            episodes.push(Episode {
                kind,
                start: 0,
                len,
                metric,
                strength: rng.random_range(0.6..1.0),
            });
            total += len;
        }
    }
    // Shrink to the rate, keeping each episode long enough to be what it is.
    if total > target {
        let f = target as f64 / total as f64;
        for e in &mut episodes {
            let floor = e.kind.durations().0.min(10);
            e.len = ((e.len as f64 * f).round() as usize).max(floor);
        }
        total = episodes.iter().map(|e| e.len).sum();
    }
    // Shuffle the order, then share the free rows out as gaps.
    for k in (1..episodes.len()).rev() {
        episodes.swap(k, rng.random_range(0..=k));
    }
    // A file too short for one shortest episode of every type within a quarter over
    // the rate (69 rows for all nine: about 2,000 rows at 0.03), or whose second round
    // of episodes cannot shrink back to it (200 rows at 0.5 planted 76 %), keeps the
    // episodes that fit the rate, in the shuffled order, so its anomalous share stays
    // the one asked.
    if total > target + target / 4 {
        let mut kept = 0;
        episodes.retain(|e| {
            let fits = kept + e.len <= target;
            kept += if fits { e.len } else { 0 };
            fits
        });
        total = kept;
    }
    let warmup = n / 10;
    let free = n.saturating_sub(total + warmup);
    let mut cuts: Vec<usize> = (0..episodes.len())
        .map(|_| rng.random_range(0..=free))
        .collect();
    cuts.sort_unstable();
    let mut at = warmup;
    let mut prev = 0;
    for (e, cut) in episodes.iter_mut().zip(cuts) {
        at += cut - prev;
        prev = cut;
        e.start = at;
        at += e.len;
    }
    episodes.retain(|e| e.start + e.len <= n);
    move_to_night(&mut episodes, params);
    episodes
}

/// Moves each contextual episode into the next night (01:00-05:00) where it fits
/// before the following episode: daytime load is only anomalous at night.
fn move_to_night(episodes: &mut [Episode], params: &GenParams) {
    let hour = |row: usize| {
        let ms = params.start_ms + (row as f64 * params.interval_s * 1000.0) as i64;
        timestamp::hour_of_day(wall_clock(params.zone.as_ref(), ms))
    };
    for i in 0..episodes.len() {
        if episodes[i].kind != AnomalyType::Contextual {
            continue;
        }
        let limit = episodes
            .get(i + 1)
            .map_or(params.rows, |next| next.start.saturating_sub(10));
        let e = &mut episodes[i];
        let mut row = e.start;
        while row + e.len <= limit && !(1..5).contains(&hour(row)) {
            row += 1;
        }
        if row + e.len <= limit && (1..5).contains(&hour(row + e.len - 1)) {
            e.start = row;
        }
    }
}

/// The healthy state of the simulated host, carried from row to row.
struct Host {
    rng: StdRng,
    cpu_drift: f64,
    mem_used_gb: f64,
    disk_burst: f64,
    net_burst: f64,
    last: [f64; 8],
}

const TOTAL_MEMORY_GB: f64 = 16.0;
/// Time constant of a disk or network burst's decay, in seconds.
const BURST_DECAY_S: f64 = 20.0;
const MIN_FREQ_MHZ: f64 = 1200.0;
const MAX_FREQ_MHZ: f64 = 3600.0;

impl Host {
    fn gauss(&mut self) -> f64 {
        self.rng.sample::<f64, _>(StandardNormal)
    }

    /// Load in 0..1 from the time of day: low at night, peaking mid-afternoon.
    fn daily_load(ms: i64) -> f64 {
        let hours = (ms.rem_euclid(86_400_000)) as f64 / 3_600_000.0;
        0.5 - 0.45 * ((hours - 3.0) / 24.0 * 2.0 * PI).cos()
    }

    /// Nightly backup 02:00-02:20 and an hourly job in the first minute of each hour:
    /// heavy but expected.
    fn scheduled_work(ms: i64) -> (f64, f64) {
        let secs = ms.rem_euclid(86_400_000) / 1000;
        let backup = (7200..8400).contains(&secs);
        let hourly = secs % 3600 < 60;
        (
            if backup { 1.0 } else { 0.0 },
            if hourly { 1.0 } else { 0.0 },
        )
    }

    /// A normal sample at wall-clock time `ms` (see [`GenParams::zone`]).
    fn normal(&mut self, ms: i64, step_s: f64) -> [f64; 8] {
        let load = Self::daily_load(ms);
        let (backup, hourly) = Self::scheduled_work(ms);
        let keep = (-step_s / 300.0).exp();
        self.cpu_drift = keep * self.cpu_drift + (1.0 - keep * keep).sqrt() * 6.0 * self.gauss();
        let cpu = (8.0
            + 45.0 * load
            + self.cpu_drift
            + 2.5 * self.gauss()
            + 15.0 * backup
            + 20.0 * hourly)
            .clamp(0.5, 99.0);
        let freq = MIN_FREQ_MHZ
            + (MAX_FREQ_MHZ - MIN_FREQ_MHZ) * (cpu / 100.0).powf(0.6)
            + 25.0 * self.gauss();
        let target_mem = 5.0 + 3.5 * load + 1.5 * backup;
        self.mem_used_gb += (target_mem - self.mem_used_gb) * (1.0 - keep) + 0.02 * self.gauss();
        let mem_used = (self.mem_used_gb + 0.03 * self.gauss()).clamp(1.0, TOTAL_MEMORY_GB - 0.5);
        // Bursts arrive at random (about one a minute each), heavy-tailed in size,
        // and decay over ~20 s; a sample reports their mean over its interval, so
        // coarse sampling smooths them as a real per-minute average would.
        let decay = (-step_s / BURST_DECAY_S).exp();
        let mean_over_step = BURST_DECAY_S / step_s * (1.0 - decay);
        let arrive = (1.0 - (-step_s / 60.0).exp()).min(1.0);
        self.disk_burst *= decay;
        if self.rng.random_bool(arrive) {
            self.disk_burst += (1.2 * self.gauss()).exp() * 6.0;
        }
        self.net_burst *= decay;
        if self.rng.random_bool(arrive) {
            self.net_burst += (1.2 * self.gauss()).exp() * 3.0;
        }
        let (disk_burst, net_burst) = (
            self.disk_burst * mean_over_step,
            self.net_burst * mean_over_step,
        );
        let lognormal = |z: f64, mu: f64| (mu + 0.5 * z).exp();
        let (z1, z2, z3, z4) = (self.gauss(), self.gauss(), self.gauss(), self.gauss());
        let disk_read =
            lognormal(z1, 0.3 + load) + 0.6 * disk_burst + 90.0 * backup + 10.0 * hourly;
        let disk_write =
            lognormal(z2, 0.0 + load) + 0.4 * disk_burst + 25.0 * backup + 15.0 * hourly;
        let net_sent = lognormal(z3, -0.7 + 1.2 * load) + 0.5 * net_burst + 45.0 * backup;
        let net_recv = lognormal(z4, -0.2 + 1.2 * load) + net_burst + 2.0 * hourly;
        [
            cpu,
            freq,
            100.0 * mem_used / TOTAL_MEMORY_GB,
            TOTAL_MEMORY_GB - mem_used,
            disk_read,
            disk_write,
            net_sent,
            net_recv,
        ]
    }

    /// Bends a normal sample `m` into the anomaly `e`, `k` rows into it.
    fn disturb(&mut self, m: &mut [f64; 8], e: &Episode, k: usize) {
        let s = e.strength;
        let set_memory = |m: &mut [f64; 8], pct: f64| {
            m[2] = pct.clamp(0.0, 99.5);
            m[3] = TOTAL_MEMORY_GB * (1.0 - m[2] / 100.0);
        };
        match e.kind {
            AnomalyType::CpuSpike => m[0] = (m[0] + 45.0 + 25.0 * s).min(100.0),
            AnomalyType::CpuStuck => {
                m[0] = 100.0;
                m[1] = MAX_FREQ_MHZ;
            }
            AnomalyType::MemoryLeak => {
                let progress = (k + 1) as f64 / e.len as f64;
                set_memory(m, m[2] + 45.0 * s * progress);
            }
            AnomalyType::DiskBurst => {
                m[4] += 250.0 * s + 20.0 * self.gauss().abs();
                m[5] += 180.0 * s + 20.0 * self.gauss().abs();
            }
            AnomalyType::NetworkFlood => {
                m[6] += 60.0 * s + 5.0 * self.gauss().abs();
                m[7] += 110.0 * s + 10.0 * self.gauss().abs();
            }
            AnomalyType::Contention => {
                m[0] = (m[0] + 35.0 * s + 10.0).min(100.0);
                set_memory(m, m[2] + 18.0 * s + 5.0);
                m[4] += 40.0 * s;
                m[5] += 40.0 * s;
                m[6] += 12.0 * s;
                m[7] += 20.0 * s;
            }
            AnomalyType::LevelShift => match e.metric {
                0 => m[0] = (m[0] + 30.0 * s + 10.0).min(100.0),
                2 => set_memory(m, m[2] + 25.0 * s + 5.0),
                4 => m[4] += 40.0 * s + 15.0,
                _ => m[6] += 25.0 * s + 10.0,
            },
            AnomalyType::Frozen => m[e.metric] = self.last[e.metric],
            AnomalyType::Contextual => {
                // Daytime load at night, within the range seen by day.
                let day = Self::daily_load(14 * 3_600_000);
                let night = Self::daily_load(3 * 3_600_000);
                m[0] = (m[0] + 45.0 * (day - night) * s + 15.0).min(95.0);
                m[1] = MIN_FREQ_MHZ + (MAX_FREQ_MHZ - MIN_FREQ_MHZ) * (m[0] / 100.0).powf(0.6);
            }
        }
    }
}

/// Decimals written per native metric.
const DECIMALS: [u32; 8] = [2, 1, 2, 3, 3, 3, 3, 3];

/// Streams the rows of a synthetic file.
pub struct Generator {
    params: GenParams,
    host: Host,
    episodes: Vec<Episode>,
    next_episode: usize,
    row: usize,
}

impl Generator {
    /// A generator for `params`; the episode plan is fixed here.
    pub fn new(params: GenParams) -> Generator {
        let mut rng = StdRng::seed_from_u64(params.seed);
        let episodes = plan(&params, &mut rng);
        let host = Host {
            rng,
            cpu_drift: 0.0,
            mem_used_gb: 6.0,
            disk_burst: 0.0,
            net_burst: 0.0,
            last: [0.0; 8],
        };
        Generator {
            params,
            host,
            episodes,
            next_episode: 0,
            row: 0,
        }
    }

    /// The planted episodes, in time order.
    pub fn episodes(&self) -> &[Episode] {
        &self.episodes
    }

    /// The header line (without newline).
    pub fn header(&self) -> String {
        let mut names: Vec<&str> = vec!["timestamp"];
        names.extend(NATIVE.iter().map(|m| m.name));
        if self.params.labels {
            names.extend(["label", "anomaly_type"]);
        }
        names.join(",")
    }

    /// Appends the next row (with newline) to `out`; false when all rows are done.
    pub fn next_row(&mut self, out: &mut String) -> bool {
        if self.row >= self.params.rows {
            return false;
        }
        let ms = self.params.start_ms
            + (self.row as f64 * self.params.interval_s * 1000.0).round() as i64;
        let mut m = self.host.normal(
            wall_clock(self.params.zone.as_ref(), ms),
            self.params.interval_s,
        );
        while self
            .episodes
            .get(self.next_episode)
            .is_some_and(|e| e.start + e.len <= self.row)
        {
            self.next_episode += 1;
        }
        let active = self
            .episodes
            .get(self.next_episode)
            .filter(|e| e.start <= self.row)
            .copied();
        if let Some(e) = &active {
            self.host.disturb(&mut m, e, self.row - e.start);
        }
        // Values are written rounded; the frozen sensor repeats what was written.
        for (i, v) in m.iter_mut().enumerate() {
            let scale = 10f64.powi(DECIMALS[i] as i32);
            *v = (v.max(0.0) * scale).round() / scale;
        }
        self.host.last = m;
        timestamp::push_iso(out, ms);
        for (v, d) in m.iter().zip(DECIMALS) {
            out.push(',');
            push_fixed(out, *v, d);
        }
        if self.params.labels {
            match &active {
                Some(e) => {
                    out.push_str(",1,");
                    out.push_str(e.kind.name());
                }
                None => out.push_str(",0,"),
            }
        }
        out.push('\n');
        self.row += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(rows: usize) -> GenParams {
        GenParams {
            rows,
            seed: 1,
            interval_s: 60.0,
            start_ms: 1_735_689_600_000,
            anomaly_rate: 0.03,
            types: AnomalyType::ALL.to_vec(),
            labels: true,
            zone: None,
        }
    }

    fn generate(p: GenParams) -> String {
        let mut g = Generator::new(p);
        let mut out = g.header() + "\n";
        while g.next_row(&mut out) {}
        out
    }

    #[test]
    fn episodes_do_not_overlap_and_meet_the_rate() {
        let p = params(20_000);
        let g = Generator::new(p.clone());
        let e = g.episodes();
        assert!(e.windows(2).all(|w| w[0].start + w[0].len <= w[1].start));
        let total: usize = e.iter().map(|e| e.len).sum();
        assert!((total as f64 / 20_000.0 - 0.03).abs() < 0.005, "{total}");
        for t in AnomalyType::ALL {
            assert!(e.iter().any(|e| e.kind == t), "{t} missing");
        }
    }

    #[test]
    fn a_short_file_keeps_the_rate_with_fewer_types() {
        for rows in [100, 300, 1000] {
            let e = Generator::new(params(rows)).episodes().to_vec();
            let total: usize = e.iter().map(|e| e.len).sum();
            let target = (0.03 * rows as f64).round() as usize;
            assert!(
                !e.is_empty() && total <= target,
                "{rows} rows: {total} planted"
            );
        }
        // Long enough for every type within a quarter over the rate: all nine.
        let e = Generator::new(params(2000)).episodes().to_vec();
        assert!(
            AnomalyType::ALL
                .iter()
                .all(|&t| e.iter().any(|e| e.kind == t))
        );
    }

    #[test]
    fn no_rate_on_any_length_plants_more_than_a_quarter_over_it() {
        for rate in [0.01, 0.03, 0.1, 0.2, 0.3, 0.5] {
            for rows in [100, 200, 500, 1000, 1200, 2000, 5000, 20_000] {
                for seed in 0..4 {
                    let p = GenParams {
                        anomaly_rate: rate,
                        seed,
                        ..params(rows)
                    };
                    let planted: usize = Generator::new(p).episodes().iter().map(|e| e.len).sum();
                    let target = (rate * rows as f64).round() as usize;
                    assert!(
                        planted <= target + target / 4,
                        "{rows} rows at {rate}, seed {seed}: {planted} planted for {target}"
                    );
                }
            }
        }
    }

    #[test]
    fn memory_available_is_total_minus_used_and_frequency_follows_cpu() {
        let text = generate(params(3000));
        let rows: Vec<Vec<f64>> = text
            .lines()
            .skip(1)
            .map(|l| {
                l.split(',')
                    .skip(1)
                    .take(8)
                    .map(|v| v.parse().unwrap())
                    .collect()
            })
            .collect();
        for r in &rows {
            let used = r[2] / 100.0 * TOTAL_MEMORY_GB;
            assert!((used + r[3] - TOTAL_MEMORY_GB).abs() < 0.01, "{r:?}");
            assert!((0.0..=100.0).contains(&r[0]));
        }
        let (busy, idle): (Vec<&Vec<f64>>, Vec<&Vec<f64>>) = rows.iter().partition(|r| r[0] > 50.0);
        let mean = |v: &[&Vec<f64>]| v.iter().map(|r| r[1]).sum::<f64>() / v.len() as f64;
        assert!(mean(&busy) > mean(&idle) + 300.0);
    }

    #[test]
    fn the_same_seed_gives_the_same_file() {
        assert_eq!(generate(params(500)), generate(params(500)));
        let mut other = params(500);
        other.seed = 2;
        assert_ne!(generate(params(500)), generate(other));
    }

    #[test]
    fn type_names_round_trip_and_unknown_ones_are_listed() {
        for t in AnomalyType::ALL {
            assert_eq!(t.name().parse::<AnomalyType>(), Ok(t));
        }
        let err = "cpu".parse::<AnomalyType>().unwrap_err();
        assert!(err.contains("cpu_spike, cpu_stuck"), "{err}");
    }
}

//! A metric's adapted level: a shift away from the baseline that persists is
//! absorbed after a bounded number of samples, as a new centre and, when the new
//! regime is noisier than the baseline, a wider spread; it is dropped at once when
//! the metric is back near its baseline. This is what keeps a baseline learned at
//! an unusual moment, or a new normal after a change, from being alarmed on
//! forever, while a metric that returns to its baseline is judged against it again
//! at once.

use serde::{Deserialize, Serialize};

use super::scaling::Scale;
use crate::schema;

/// Sigmas from the adapted level at which a metric's smoothed deviation counts
/// towards a persistent shift.
pub const SHIFT_SIGMA: f64 = 2.0;

/// Sigmas from the learned baseline within which an adapted metric's smoothed
/// deviation is back: its shift is dropped at once.
pub const BACK_SIGMA: f64 = 1.0;

/// Weight of the newest deviation in the smoothed one (an exponential average over
/// about seven samples): enough to see a shift through a noisy metric's scatter,
/// quick enough that a metric back at its baseline is seen so within seconds.
const SMOOTHING: f64 = 0.25;

/// A deviation this large (model space) is no reading of any metric but a corrupt
/// one (a 1e308 in a file): it does not step the level. Counted, one such reading
/// stayed in the smoothed deviation for thousands of samples and became the centre
/// of a shift, after which every ordinary reading was flagged. Real deviations are
/// far below it: a rate is modelled as log(1 + x), and a percent, an amount or
/// bytes per second of any machine stay under 1e13.
const BEYOND_MEASURE: f64 = 1e15;

/// Most samples a shift towards idle (see [`schema::Harm`]) must persist before
/// it is absorbed: a machine at rest is told once, as one short incident, and then
/// taken as it is, so an alarm never outlasts the load that caused it by more than
/// a minute or two at one sample a second.
pub const IDLE_ADAPT_AFTER: u64 = 60;

/// Most samples a shift must persist before it is absorbed when it goes back to
/// the level of the last shift absorbed: a new normal that comes and goes (a job
/// that runs for hours, pauses, and runs again) is known when it returns.
pub const KNOWN_ADAPT_AFTER: u64 = 60;

/// How many samples a metric's shift must persist before it is absorbed, by
/// direction; 0 never.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdaptAfter {
    /// For a shift below the baseline.
    pub below: u64,
    /// For a shift above it.
    pub above: u64,
}

impl AdaptAfter {
    /// The samples for the metric `name`: `after` towards harm, at most
    /// [`IDLE_ADAPT_AFTER`] towards idle.
    pub fn for_metric(name: &str, after: u64) -> AdaptAfter {
        let harm = schema::describe(name).harm;
        let towards = |above: bool| {
            if harm.towards(above) {
                after
            } else {
                after.min(IDLE_ADAPT_AFTER)
            }
        };
        AdaptAfter {
            below: towards(false),
            above: towards(true),
        }
    }

    fn on(self, above: bool) -> u64 {
        if above { self.above } else { self.below }
    }
}

/// A shift absorbed: where the metric now sits and how much wider it scatters.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Adapted {
    /// The mean deviation of the shift, model space.
    centre: f64,
    /// Its scatter over the baseline's, at least 1.
    stretch: f64,
}

/// What a metric's deviations are measured against: its learned baseline, or a
/// shift absorbed since.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Reference(Option<Adapted>);

impl Reference {
    /// The deviation feature of a raw deviation `deviation`, given the baseline
    /// deviations' median: the deviation itself, or once a shift is absorbed, its
    /// departure from the shift's centre in units of the shift's scatter.
    pub fn feature(&self, deviation: f64, median: f64) -> f64 {
        match self.0 {
            None => deviation,
            Some(a) => median + (deviation - a.centre) / a.stretch,
        }
    }

    /// The raw deviation whose feature is `feature`: [`Reference::feature`] undone.
    pub fn raw(&self, feature: f64, median: f64) -> f64 {
        match self.0 {
            None => feature,
            Some(a) => a.centre + (feature - median) * a.stretch,
        }
    }
}

/// One metric's adapted level, stepped with each of its deviations from what it is
/// expected to read.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Level {
    /// What its deviations are measured against now.
    reference: Reference,
    /// The last shift absorbed, kept after it is dropped.
    known: Reference,
    /// The smoothed deviation, once there is one.
    smoothed: Option<f64>,
    /// Samples counted towards the next shift, all on one side.
    run: u64,
    /// Whether that side is above.
    above: bool,
    /// The sum of those samples' deviations.
    sum: f64,
    /// The sum of their squares.
    sum_sq: f64,
}

impl Level {
    /// What the metric's deviations are measured against now.
    pub fn reference(&self) -> Reference {
        self.reference
    }

    /// Steps the level with the next deviation `deviation` (model space) of a metric
    /// whose deviations scale as `scale`. A shift is absorbed once the smoothed
    /// deviation has been at least [`SHIFT_SIGMA`] from the adapted level on one
    /// side for `after` samples of that side (0: never; at most
    /// [`KNOWN_ADAPT_AFTER`] when it is back within [`BACK_SIGMA`] of the last
    /// shift absorbed), none of them back within [`BACK_SIGMA`] of the adapted
    /// level or past it on the other side; it is dropped as soon as the smoothed
    /// deviation is within [`BACK_SIGMA`] of the learned baseline.
    /// Returns whether the level changed, after which the deviations remembered
    /// must be measured again (see [`super::features::History::remeasure`]).
    pub fn step(&mut self, deviation: f64, scale: &Scale, after: AdaptAfter) -> bool {
        if after == AdaptAfter::default() || deviation.is_nan() || deviation.abs() >= BEYOND_MEASURE
        {
            return false;
        }
        let smoothed = match self.smoothed {
            Some(s) => s + SMOOTHING * (deviation - s),
            None => deviation,
        };
        self.smoothed = Some(smoothed);
        if self.reference.0.is_some() && scale.sigma(smoothed).abs() < BACK_SIGMA {
            self.reference = Reference::default();
            self.restart();
            return true;
        }
        let z = scale.sigma(self.reference.feature(smoothed, scale.median));
        let above = z > 0.0;
        if z.abs() >= SHIFT_SIGMA && after.on(above) > 0 {
            if self.run > 0 && above != self.above {
                self.restart();
            }
            self.above = above;
            self.run += 1;
            self.sum += deviation;
            self.sum_sq += deviation * deviation;
            let known = self.known.0.is_some()
                && scale
                    .sigma(self.known.feature(smoothed, scale.median))
                    .abs()
                    < BACK_SIGMA;
            let needed = if known {
                after.on(above).min(KNOWN_ADAPT_AFTER)
            } else {
                after.on(above)
            };
            if self.run >= needed {
                let n = self.run as f64;
                let centre = self.sum / n;
                let scatter = (self.sum_sq / n - centre * centre).max(0.0).sqrt();
                let baseline = scale.spread / scale.tail;
                self.reference = Reference(Some(Adapted {
                    centre,
                    stretch: (scatter / baseline).max(1.0),
                }));
                self.known = self.reference;
                self.restart();
                return true;
            }
        } else if self.run > 0 && (above != self.above || z.abs() < BACK_SIGMA) {
            self.restart();
        }
        false
    }

    /// Forgets the samples counted towards a shift.
    fn restart(&mut self) {
        self.run = 0;
        self.sum = 0.0;
        self.sum_sq = 0.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detector::test_data::unit;

    /// Steps `level` with each deviation and says at which ones it changed.
    fn changes(level: &mut Level, deviations: &[f64], after: u64) -> Vec<usize> {
        let after = AdaptAfter {
            below: after,
            above: after,
        };
        deviations
            .iter()
            .enumerate()
            .filter(|&(_, &d)| level.step(d, &unit(), after))
            .map(|(i, _)| i)
            .collect()
    }

    #[test]
    fn a_corrupt_reading_neither_starts_nor_becomes_a_shift() {
        let mut level = Level::default();
        let mut deviations = vec![0.0; 5];
        deviations.extend([1e308, f64::INFINITY, f64::NAN]);
        deviations.extend([0.0; 100]);
        assert!(changes(&mut level, &deviations, 10).is_empty());
        assert_eq!(level.reference(), Reference::default());
        // An ordinary shift after it is absorbed as ever, at its own level.
        assert_eq!(changes(&mut level, &[8.0; 10], 10), [9]);
        assert_eq!(level.reference().feature(8.0, 0.0), 0.0);
    }

    #[test]
    fn a_persistent_shift_is_absorbed_after_the_set_samples_and_dropped_when_back() {
        let mut level = Level::default();
        assert_eq!(changes(&mut level, &[8.0; 10], 10), [9]);
        assert_eq!(level.reference().feature(8.0, 0.0), 0.0);
        assert_eq!(level.reference().raw(0.0, 0.0), 8.0);
        // Scatter around the new level is ordinary; back at the baseline, the
        // shift goes within a few samples.
        assert!(changes(&mut level, &[9.0, 7.0, 8.5], 10).is_empty());
        let back = changes(&mut level, &[0.0; 12], 10);
        assert_eq!(back.len(), 1);
        assert!(back[0] < 12);
        assert_eq!(level.reference().feature(8.0, 0.0), 8.0);
    }

    #[test]
    fn a_noisier_new_regime_widens_the_spread_it_is_judged_by() {
        let mut level = Level::default();
        let noisy: Vec<f64> = (0..40)
            .map(|i| if i % 2 == 0 { 14.0 } else { 6.0 })
            .collect();
        assert!(!changes(&mut level, &noisy, 30).is_empty());
        assert!((level.reference().raw(1.0, 0.0) - 14.0).abs() < 1.0);
        assert!(level.reference().feature(14.0, 0.0).abs() < 1.5);
    }

    #[test]
    fn a_shift_that_returns_to_a_level_absorbed_before_is_known_sooner() {
        let mut level = Level::default();
        let after = 5 * KNOWN_ADAPT_AFTER;
        let shift = vec![8.0; after as usize];
        assert_eq!(changes(&mut level, &shift, after), [after as usize - 1]);
        assert_eq!(changes(&mut level, &[0.0; 20], after).len(), 1);
        // Back at the level absorbed before: known within KNOWN_ADAPT_AFTER samples
        // (the first two only bring the smoothed deviation there).
        let again = changes(&mut level, &shift, after);
        assert_eq!(again.len(), 1);
        assert!(again[0] < KNOWN_ADAPT_AFTER as usize + 3, "{again:?}");
        assert!(level.reference().feature(8.0, 0.0).abs() < 1e-9);
        // A level never absorbed still waits the whole time.
        assert_eq!(changes(&mut level, &[0.0; 20], after).len(), 1);
        let other = vec![-8.0; after as usize + 5];
        assert!(changes(&mut level, &other, after)[0] >= after as usize - 1);
    }

    #[test]
    fn a_shift_interrupted_by_ordinary_samples_starts_over() {
        let mut level = Level::default();
        changes(&mut level, &[8.0; 9], 10);
        changes(&mut level, &[0.0; 8], 10);
        assert_eq!(changes(&mut level, &[-8.0; 11], 10), [10]);
        assert!(level.reference().feature(-8.0, 0.0).abs() < 1e-9);
    }

    #[test]
    fn a_metric_falling_towards_idle_is_absorbed_sooner_than_one_rising() {
        let disk = AdaptAfter::for_metric("disk_write_mb", 1500);
        assert_eq!((disk.below, disk.above), (IDLE_ADAPT_AFTER, 1500));
        let memory_left = AdaptAfter::for_metric("memory_available_gb", 1500);
        assert_eq!(
            (memory_left.below, memory_left.above),
            (1500, IDLE_ADAPT_AFTER)
        );
        let unknown = AdaptAfter::for_metric("m07", 1500);
        assert_eq!((unknown.below, unknown.above), (1500, 1500));
        assert_eq!(
            AdaptAfter::for_metric("cpu_percent", 0),
            AdaptAfter::default()
        );
    }

    #[test]
    fn zero_never_adapts() {
        let mut level = Level::default();
        assert!(changes(&mut level, &[50.0; 100], 0).is_empty());
    }
}

//! Incidents: a row at the opening bar opens an anomaly, and the rows after it stay
//! part of it while they remain elevated, so an incident is reported as a whole
//! rather than as the few rows that cross the bar; at sub-minute sampling it ends
//! once it has faded. The same state machine runs in batch, live and when the bar
//! is calibrated (there on incidents held to the end). Measured in technical.md.
//!
//! A fading incident follows one metric's level: the metric of its first row's
//! largest sigma, and from [`FADE_AFTER`] rows after each row at the bar on, the
//! metric of that row's largest sigma. A burst on another metric then neither
//! closes a plateau nor sets the peak it is measured against.
//!
//! A fading incident that closes while its rows still reach the hold level leaves
//! its tail behind: until a row falls below the hold level, a row at the bar whose
//! largest sigma is on the metric that incident followed, and whose level there is
//! no higher than the incident's peak, is [`Place::Quelled`] rather than opening a
//! new incident. A backup's throughput that wavers as it ebbs is one incident, not
//! one per wave; a level past the peak (a flood after a burst on the same link)
//! opens one. Measured in technical.md ("The tail of a faded incident").

/// Most rows an incident is held open after its last row at the opening bar.
pub const HOLD_ROWS: u64 = 60;

/// Where rows are sampled more often than once a minute (see
/// [`super::fusion::Thresholds::fading`]), a held row at which the incident's
/// level (the followed metric's levels, see [`Levels`], smoothed by
/// [`FADE_SMOOTHING`]) has fallen below this share of its peak closes it: at such
/// rates an ordinary burst of I/O or traffic spans tens of rows and fades, and
/// holding it to the end flagged more normal rows than anything else. Measured in
/// technical.md.
pub const FADE_SHARE: f64 = 0.85;

/// Weight of a row's level in the incident's level, an exponential average
/// over about two rows: one quiet row inside a noisy plateau (a level shift, a
/// stuck load) does not close it, so the share can sit close to the peak and a
/// burst that fades is let go within seconds. Measured in technical.md.
pub const FADE_SMOOTHING: f64 = 0.65;

/// Rows after the last row at the bar before fading is judged, before a held row's
/// level counts towards the peak, and before the incident follows another metric:
/// as many as a step takes to become the recent level (the features' recent
/// window), so the jump itself is not the peak. Rows at the bar count towards it
/// once the incident is older than this: a plateau that stays at the bar sets the
/// peak its end is measured against.
pub const FADE_AFTER: u64 = super::features::RECENT_WINDOW as u64;

/// Where a row stands in the incidents around it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// Not part of an incident.
    Outside,
    /// At or above the opening bar: opens an incident, or renews the open one.
    Opening,
    /// Below the opening bar but held in the incident that began `began` rows
    /// before it.
    Held {
        /// Rows since the incident's first row.
        began: u64,
    },
    /// At or above the opening bar, but the tail of the incident that faded last:
    /// its largest sigma is on the metric that incident followed, no higher than
    /// the incident's peak, and no row has fallen below the hold level since. It
    /// opens nothing.
    Quelled,
}

impl Place {
    /// Whether the row is part of an incident.
    pub fn in_incident(self) -> bool {
        matches!(self, Place::Opening | Place::Held { .. })
    }
}

/// The open incident, if any, as a pass over rows in order carries it, and the
/// tail of the last one to fade.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Hold {
    open: Option<Incident>,
    /// The incident that faded while its rows still reached the hold level, until
    /// a row falls below it.
    faded: Option<Faded>,
}

/// What the tail of a faded incident is measured against.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Faded {
    /// The metric the incident followed when it closed.
    metric: usize,
    /// Its peak level on that metric, or its level when it closed if higher.
    peak: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Incident {
    /// Rows since the incident's first row.
    age: u64,
    /// Rows since its last row at the opening bar.
    quiet: u64,
    /// The largest level of its rows held more than [`FADE_AFTER`] rows after a
    /// row at the bar, or at the bar more than [`FADE_AFTER`] rows into it.
    peak: f64,
    /// The followed metric's levels, smoothed by [`FADE_SMOOTHING`] (when it fades).
    level: f64,
    /// The metric whose level it follows.
    metric: usize,
}

/// What one row brings to an open incident's fading: each metric's level and the
/// metric of the row's largest sigma. A level is the metric's largest sigma,
/// counted in proportion to the raw reading's excess (see
/// [`super::fusion::fading_levels`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Levels {
    /// Per metric, in the model's order.
    pub per_metric: Vec<f64>,
    /// The metric of the row's largest sigma.
    pub top: usize,
}

impl Levels {
    /// Metric `m`'s level, zero when the row has none: it does not reach the hold
    /// level (so it closes any incident whatever its level), or it neither opens
    /// an incident nor meets an open one (so no level is read).
    fn of(&self, m: usize) -> f64 {
        self.per_metric.get(m).copied().unwrap_or(0.0)
    }
}

/// What the incident state machine takes of one row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step<'a> {
    /// The row reaches the opening bar.
    pub opens: bool,
    /// The row reaches the hold level.
    pub holds: bool,
    /// The row's levels, when incidents fade (see [`FADE_SHARE`]); `None` when
    /// they are held to the end.
    pub fading: Option<&'a Levels>,
}

impl Hold {
    /// Whether an incident is open: only then, or when a row opens one, does the
    /// row's fading level count.
    pub fn is_open(&self) -> bool {
        self.open.is_some()
    }

    /// Takes the next row and says where it stands.
    pub fn step(&mut self, row: Step) -> Place {
        let next = self.open.map(|i| i.next(row.fading));
        match next {
            None if row.opens && self.in_tail(row.fading) => Place::Quelled,
            _ if row.opens => {
                self.open = Some(match next {
                    Some(mut i) => {
                        if row.fading.is_some() && i.age > FADE_AFTER {
                            i.peak = i.peak.max(i.level);
                        }
                        Incident { quiet: 0, ..i }
                    }
                    None => Incident {
                        age: 0,
                        quiet: 0,
                        peak: 0.0,
                        level: row.fading.map_or(0.0, |l| l.of(l.top)),
                        metric: row.fading.map_or(0, |l| l.top),
                    },
                });
                Place::Opening
            }
            Some(mut i) if row.holds && i.quiet <= HOLD_ROWS && !i.faded(row.fading.is_some()) => {
                if row.fading.is_some() && i.quiet > FADE_AFTER {
                    i.peak = i.peak.max(i.level);
                }
                self.open = Some(i);
                Place::Held { began: i.age }
            }
            _ => {
                self.faded = match (next, row.fading) {
                    _ if !row.holds => None,
                    (Some(i), Some(_)) => Some(Faded {
                        metric: i.metric,
                        peak: i.peak.max(i.level),
                    }),
                    _ => self.faded,
                };
                self.open = None;
                Place::Outside
            }
        }
    }

    /// Whether a row with these fading levels is in the tail of the incident that
    /// faded last: its largest sigma on the metric it followed, no higher than its
    /// peak.
    fn in_tail(&self, fading: Option<&Levels>) -> bool {
        matches!((self.faded, fading),
            (Some(f), Some(l)) if l.top == f.metric && l.of(f.metric) <= f.peak)
    }

    /// How many of a sequence's rows, given in order, incidents flag, counting from
    /// row `from` on: the rows before it only set the incident state the counted
    /// rows start from.
    pub fn flagged_from<'a>(rows: impl Iterator<Item = Step<'a>>, from: usize) -> usize {
        let mut hold = Hold::default();
        rows.enumerate()
            .filter(|&(i, row)| hold.step(row).in_incident() && i >= from)
            .count()
    }
}

impl Incident {
    /// The incident one row on, with the row's `fading` levels (if it fades) taken
    /// into its level. [`FADE_AFTER`] rows after a row at the bar it follows the
    /// metric of the row's largest sigma, its level and peak carried over in
    /// proportion to the two metrics' levels on that row.
    fn next(self, fading: Option<&Levels>) -> Incident {
        let mut i = Incident {
            age: self.age + 1,
            quiet: self.quiet + 1,
            ..self
        };
        if let Some(levels) = fading {
            if i.quiet == FADE_AFTER + 1 && levels.top != i.metric {
                let followed = levels.of(i.metric);
                let ratio = if followed > 0.0 {
                    levels.of(levels.top) / followed
                } else {
                    0.0
                };
                i.level *= ratio;
                i.peak *= ratio;
                i.metric = levels.top;
            }
            i.level += FADE_SMOOTHING * (levels.of(i.metric) - i.level);
        }
        i
    }

    /// Whether the incident, with the next row taken into its level, this far after
    /// the last row at the bar, has faded below [`FADE_SHARE`] of its peak; never
    /// when incidents do not `fade` (held to the end).
    fn faded(&self, fade: bool) -> bool {
        fade && self.quiet > FADE_AFTER && self.level < FADE_SHARE * self.peak
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(opens: bool, holds: bool) -> Step<'static> {
        Step {
            opens,
            holds,
            fading: None,
        }
    }

    fn places(rows: &[(bool, bool)]) -> Vec<Place> {
        let mut hold = Hold::default();
        rows.iter().map(|&(o, h)| hold.step(step(o, h))).collect()
    }

    #[test]
    fn an_incident_is_held_while_elevated_and_closes_when_it_drops() {
        let p = places(&[
            (false, true),
            (true, true),
            (false, true),
            (false, true),
            (false, false),
            (false, true),
        ]);
        assert_eq!(
            p,
            [
                Place::Outside,
                Place::Opening,
                Place::Held { began: 1 },
                Place::Held { began: 2 },
                Place::Outside,
                Place::Outside,
            ]
        );
    }

    #[test]
    fn a_hold_ends_after_hold_rows_without_a_row_at_the_bar() {
        let mut rows = vec![(true, true)];
        rows.extend(std::iter::repeat_n((false, true), HOLD_ROWS as usize + 5));
        let p = places(&rows);
        assert_eq!(p[HOLD_ROWS as usize], Place::Held { began: HOLD_ROWS });
        assert_eq!(p[HOLD_ROWS as usize + 1], Place::Outside);
        assert_eq!(p[HOLD_ROWS as usize + 2], Place::Outside);
    }

    #[test]
    fn a_renewed_incident_keeps_its_start() {
        let p = places(&[(true, true), (false, true), (true, true), (false, true)]);
        assert_eq!(p[2], Place::Opening);
        assert_eq!(p[3], Place::Held { began: 3 });
    }

    #[test]
    fn the_flagged_count_takes_opening_and_held_rows_after_the_lead_in() {
        let rows = [(true, true), (false, true), (false, false), (false, true)];
        let steps = || rows.iter().map(|&(o, h)| step(o, h));
        assert_eq!(Hold::flagged_from(steps(), 0), 2);
        assert_eq!(Hold::flagged_from(steps(), 1), 1);
    }

    /// The places of rows whose levels are `levels` (one row each), the first at
    /// the bar and the rest held, as incidents fade.
    fn faded(levels: &[Levels]) -> Vec<Place> {
        let mut hold = Hold::default();
        levels
            .iter()
            .enumerate()
            .map(|(k, l)| {
                hold.step(Step {
                    opens: k == 0,
                    holds: true,
                    fading: Some(l),
                })
            })
            .collect()
    }

    /// One metric's levels, row by row.
    fn one(sigmas: &[f64]) -> Vec<Levels> {
        sigmas
            .iter()
            .map(|&s| Levels {
                per_metric: vec![s],
                top: 0,
            })
            .collect()
    }

    #[test]
    fn a_fading_incident_closes_below_its_share_of_the_peak_and_a_steady_one_is_held() {
        // The jump's own sigma (20) in the first rows is not the peak: the peak is
        // the level at the sixth row after the bar (5.7), and the level falls under
        // 0.85 of it two rows later, at the row of sigma 4.5.
        let mut fading = vec![20.0, 15.0, 12.0, 9.0, 8.0, 6.0];
        fading.extend((0..20).map(|k| 5.0 - 0.25 * k as f64));
        let places = faded(&one(&fading));
        let closed = places.iter().position(|p| *p == Place::Outside).unwrap();
        assert_eq!(fading[closed], 4.5, "{places:?}");
        assert!(places[..closed].iter().all(|p| *p != Place::Outside));
        let steady: Vec<f64> = (0..60).map(|k| 3.4 + 0.1 * (k % 3) as f64).collect();
        assert!(faded(&one(&steady)).iter().all(|p| *p != Place::Outside));
        // One quiet row in a plateau (5.5 against 6.9, under 0.85 of it) does not
        // close it: the level only falls to 6.0.
        let dipping: Vec<f64> = (0..60)
            .map(|k| if k % 9 == 8 { 5.5 } else { 6.9 })
            .collect();
        assert!(faded(&one(&dipping)).iter().all(|p| *p != Place::Outside));
        // Held to the end when incidents do not fade.
        let mut hold = Hold::default();
        let plain: Vec<Place> = fading
            .iter()
            .enumerate()
            .map(|(k, _)| hold.step(step(k == 0, true)))
            .collect();
        assert!(plain.iter().all(|p| *p != Place::Outside));
    }

    #[test]
    fn a_burst_on_another_metric_neither_closes_a_plateau_nor_sets_its_peak() {
        // Metric 0 steps to a plateau at 6 sigma; on the tenth row metric 1 bursts
        // to 15 and dies away. The incident follows metric 0 and is held.
        let levels: Vec<Levels> = (0..50)
            .map(|k| {
                let burst = if k >= 10 {
                    15.0 * 0.8f64.powi(k - 10)
                } else {
                    0.0
                };
                let plateau = if k < 3 { 20.0 } else { 6.0 };
                Levels {
                    per_metric: vec![plateau, burst],
                    top: usize::from(burst > plateau),
                }
            })
            .collect();
        assert!(faded(&levels).iter().all(|p| *p != Place::Outside));
        // Measured on the largest sigma of any metric, as before, the burst set the
        // peak and the plateau, under 0.85 of it, closed the incident.
        let largest: Vec<f64> = levels
            .iter()
            .map(|l| l.per_metric.iter().copied().fold(0.0, f64::max))
            .collect();
        assert!(faded(&one(&largest)).contains(&Place::Outside));
    }

    #[test]
    fn the_metric_on_top_six_rows_after_the_bar_is_followed_from_then_on() {
        // A burst on metric 1 opens the incident while metric 0 rises (a leak
        // under a burst). Six rows after the bar metric 0 is on top: the incident
        // follows it, its level carried over in proportion, and holds while it
        // rises although the burst dies away.
        let levels: Vec<Levels> = (0..40)
            .map(|k| {
                let burst = 16.0 * 0.8f64.powi(k);
                let leak = 4.0 + 0.2 * f64::from(k);
                Levels {
                    per_metric: vec![leak, burst],
                    top: usize::from(burst > leak),
                }
            })
            .collect();
        assert_eq!(levels[0].top, 1);
        assert_eq!(levels[FADE_AFTER as usize + 1].top, 0);
        assert!(faded(&levels).iter().all(|p| *p != Place::Outside));
        // Had it kept following the burst, it would have closed.
        let burst_only: Vec<Levels> = levels
            .iter()
            .map(|l| Levels {
                top: 1,
                ..l.clone()
            })
            .collect();
        assert!(faded(&burst_only).contains(&Place::Outside));
    }

    #[test]
    fn a_plateau_at_the_bar_sets_the_peak_its_end_is_measured_against() {
        // Ten rows at the bar at 9 sigma (past the first five, they count towards
        // the peak), then the metric falls back to 2.5 and stays there: the
        // incident closes within a few rows instead of being held for HOLD_ROWS.
        let mut hold = Hold::default();
        let mut places = Vec::new();
        for k in 0..40 {
            let l = Levels {
                per_metric: vec![if k < 12 { 9.0 } else { 2.5 }],
                top: 0,
            };
            places.push(hold.step(Step {
                opens: k < 12,
                holds: true,
                fading: Some(&l),
            }));
        }
        let closed = places.iter().position(|p| *p == Place::Outside).unwrap();
        assert_eq!(closed, 12 + FADE_AFTER as usize, "{places:?}");
    }

    /// A hold fed twelve rows at the bar at 9 sigma on metric 0, then rows held at
    /// 2.5 until the incident fades: the state a faded incident's tail starts from.
    fn after_a_faded_plateau() -> Hold {
        let mut hold = Hold::default();
        for k in 0..=12 + FADE_AFTER as usize {
            let l = Levels {
                per_metric: vec![if k < 12 { 9.0 } else { 2.5 }, 0.0],
                top: 0,
            };
            hold.step(with(k < 12, true, &l));
        }
        assert!(!hold.is_open());
        hold
    }

    /// A row that `opens` and `holds` or not, with fading levels `l`.
    fn with(opens: bool, holds: bool, l: &Levels) -> Step<'_> {
        Step {
            opens,
            holds,
            fading: Some(l),
        }
    }

    /// A row at the bar with fading levels `l`.
    fn at_bar(l: &Levels) -> Step<'_> {
        with(true, true, l)
    }

    /// A row with level `level` on metric `top` (and none on the other).
    fn on(top: usize, level: f64) -> Levels {
        let mut per_metric = vec![0.0; 2];
        per_metric[top] = level;
        Levels { per_metric, top }
    }

    #[test]
    fn the_tail_of_a_faded_incident_opens_nothing_until_a_row_falls_below_the_hold_level() {
        let mut hold = after_a_faded_plateau();
        // The same metric back at the bar, under the peak: the tail, not news.
        let wave = on(0, 7.0);
        assert_eq!(hold.step(at_bar(&wave)), Place::Quelled);
        assert_eq!(hold.step(at_bar(&wave)), Place::Quelled);
        assert!(!hold.is_open());
        // A held row between waves keeps the tail.
        let between = on(0, 2.0);
        assert_eq!(hold.step(with(false, true, &between)), Place::Outside);
        assert_eq!(hold.step(at_bar(&wave)), Place::Quelled);
        // A row below the hold level ends it: the next wave opens an incident.
        let quiet = on(0, 0.0);
        assert_eq!(hold.step(with(false, false, &quiet)), Place::Outside);
        assert_eq!(hold.step(at_bar(&wave)), Place::Opening);
    }

    #[test]
    fn past_the_peak_or_on_another_metric_a_row_at_the_bar_opens_an_incident() {
        let higher = on(0, 9.5);
        assert_eq!(
            after_a_faded_plateau().step(at_bar(&higher)),
            Place::Opening
        );
        let elsewhere = on(1, 5.0);
        assert_eq!(
            after_a_faded_plateau().step(at_bar(&elsewhere)),
            Place::Opening
        );
        // Where incidents are held to the end, nothing is quelled.
        let mut hold = Hold::default();
        let places: Vec<Place> = [true, false, false, true]
            .into_iter()
            .map(|opens| hold.step(step(opens, true)))
            .collect();
        assert!(places.iter().all(|p| p.in_incident()), "{places:?}");
    }
}

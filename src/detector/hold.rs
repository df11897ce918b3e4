//! Incidents: a row at the opening bar opens an anomaly, and the rows after it stay
//! part of it while they remain elevated, so an incident is reported as a whole
//! rather than as the few rows that cross the bar; at sub-minute sampling it ends
//! once it has faded. The same state machine runs in batch, live and when the bar
//! is calibrated (there on incidents held to the end). Measured in technical.md.

/// Most rows an incident is held open after its last row at the opening bar.
pub const HOLD_ROWS: u64 = 60;

/// Where rows are sampled more often than once a minute (see
/// [`super::fusion::Thresholds::fading`]), a held row at which the incident's
/// level (its rows' largest sigmas, smoothed by [`FADE_SMOOTHING`]) has fallen
/// below this share of its peak closes it: at such rates an ordinary burst of I/O
/// or traffic spans tens of rows and fades, and holding it to the end flagged more
/// normal rows than anything else. Measured in technical.md.
pub const FADE_SHARE: f64 = 0.85;

/// Weight of a row's largest sigma in the incident's level, an exponential average
/// over about two rows: one quiet row inside a noisy plateau (a level shift, a
/// stuck load) does not close it, so the share can sit close to the peak and a
/// burst that fades is let go within seconds. Measured in technical.md.
pub const FADE_SMOOTHING: f64 = 0.65;

/// Rows after the last row at the bar before fading is judged, and before a held
/// row's level counts towards the peak: as many as a step takes to become the
/// recent level (the features' recent window), so the jump itself is not the peak.
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
}

/// The open incident, if any, as a pass over rows in order carries it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Hold {
    open: Option<Incident>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Incident {
    /// Rows since the incident's first row.
    age: u64,
    /// Rows since its last row at the opening bar.
    quiet: u64,
    /// The largest level of its rows held more than [`FADE_AFTER`] rows after a
    /// row at the bar.
    peak: f64,
    /// Its rows' largest sigmas, smoothed by [`FADE_SMOOTHING`] (when it fades).
    level: f64,
}

/// What the incident state machine takes of one row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    /// The row reaches the opening bar.
    pub opens: bool,
    /// The row reaches the hold level.
    pub holds: bool,
    /// The row's largest sigma, when incidents fade (see [`FADE_SHARE`]); `None`
    /// when they are held to the end.
    pub fading: Option<f64>,
}

impl Hold {
    /// Takes the next row and says where it stands.
    pub fn step(&mut self, row: Step) -> Place {
        let sigma = row.fading.unwrap_or(0.0);
        let next = self.open.map(|i| Incident {
            age: i.age + 1,
            quiet: i.quiet + 1,
            peak: i.peak,
            level: i.level + FADE_SMOOTHING * (sigma - i.level),
        });
        match next {
            _ if row.opens => {
                self.open = Some(Incident {
                    age: next.map_or(0, |i| i.age),
                    quiet: 0,
                    peak: next.map_or(0.0, |i| i.peak),
                    level: next.map_or(sigma, |i| i.level),
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
                self.open = None;
                Place::Outside
            }
        }
    }

    /// How many of a sequence's rows, given in order, incidents flag, counting from
    /// row `from` on: the rows before it only set the incident state the counted
    /// rows start from.
    pub fn flagged_from(rows: impl Iterator<Item = Step>, from: usize) -> usize {
        let mut hold = Hold::default();
        rows.enumerate()
            .filter(|&(i, row)| hold.step(row) != Place::Outside && i >= from)
            .count()
    }
}

impl Incident {
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

    fn step(opens: bool, holds: bool) -> Step {
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

    #[test]
    fn a_fading_incident_closes_below_its_share_of_the_peak_and_a_steady_one_is_held() {
        let run = |sigmas: &[f64]| -> Vec<Place> {
            let mut hold = Hold::default();
            std::iter::once(true)
                .chain(std::iter::repeat(false))
                .zip(sigmas)
                .map(|(opens, &s)| {
                    hold.step(Step {
                        opens,
                        holds: true,
                        fading: Some(s),
                    })
                })
                .collect()
        };
        // The jump's own sigma (20) in the first rows is not the peak: the peak is
        // the level at the sixth row after the bar (5.7), and the level falls under
        // 0.85 of it two rows later, at the row of sigma 4.5.
        let mut fading = vec![20.0, 15.0, 12.0, 9.0, 8.0, 6.0];
        fading.extend((0..20).map(|k| 5.0 - 0.25 * k as f64));
        let places = run(&fading);
        let closed = places.iter().position(|p| *p == Place::Outside).unwrap();
        assert_eq!(fading[closed], 4.5, "{places:?}");
        assert!(places[..closed].iter().all(|p| *p != Place::Outside));
        let steady: Vec<f64> = (0..60).map(|k| 3.4 + 0.1 * (k % 3) as f64).collect();
        assert!(run(&steady).iter().all(|p| *p != Place::Outside));
        // One quiet row in a plateau (5.5 against 6.9, under 0.85 of it) does not
        // close it: the level only falls to 6.0.
        let dipping: Vec<f64> = (0..60)
            .map(|k| if k % 9 == 8 { 5.5 } else { 6.9 })
            .collect();
        assert!(run(&dipping).iter().all(|p| *p != Place::Outside));
        // Held to the end when incidents do not fade.
        let mut hold = Hold::default();
        let plain: Vec<Place> = fading
            .iter()
            .enumerate()
            .map(|(k, _)| hold.step(step(k == 0, true)))
            .collect();
        assert!(plain.iter().all(|p| *p != Place::Outside));
    }
}

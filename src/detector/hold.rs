//! Incidents: a row at the opening bar opens an anomaly, and the rows after it stay
//! part of it while they remain elevated, so an incident is reported as a whole
//! rather than as the few rows that cross the bar. The same state machine runs in
//! batch, live and when the bar is calibrated. Measured in technical.md.

/// Most rows an incident is held open after its last row at the opening bar.
pub const HOLD_ROWS: u64 = 60;

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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hold {
    open: Option<Incident>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Incident {
    /// Rows since the incident's first row.
    age: u64,
    /// Rows since its last row at the opening bar.
    quiet: u64,
}

impl Hold {
    /// Takes the next row: `opens` when it reaches the opening bar, `holds` when it
    /// reaches the hold level.
    pub fn step(&mut self, opens: bool, holds: bool) -> Place {
        let next = self.open.map(|i| Incident {
            age: i.age + 1,
            quiet: i.quiet + 1,
        });
        match next {
            _ if opens => {
                self.open = Some(Incident {
                    age: next.map_or(0, |i| i.age),
                    quiet: 0,
                });
                Place::Opening
            }
            Some(i) if holds && i.quiet <= HOLD_ROWS => {
                self.open = Some(i);
                Place::Held { began: i.age }
            }
            _ => {
                self.open = None;
                Place::Outside
            }
        }
    }

    /// How many of a sequence's rows, given in order as `(opens, holds)`, incidents
    /// flag, counting from row `from` on: the rows before it only set the incident
    /// state the counted rows start from.
    pub fn flagged_from(rows: impl Iterator<Item = (bool, bool)>, from: usize) -> usize {
        let mut hold = Hold::default();
        rows.enumerate()
            .filter(|&(i, (opens, holds))| hold.step(opens, holds) != Place::Outside && i >= from)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn places(rows: &[(bool, bool)]) -> Vec<Place> {
        let mut hold = Hold::default();
        rows.iter().map(|&(o, h)| hold.step(o, h)).collect()
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
        assert_eq!(Hold::flagged_from(rows.into_iter(), 0), 2);
        assert_eq!(Hold::flagged_from(rows.into_iter(), 1), 1);
    }
}

//! A time zone's clocks, for what follows local time rather than UTC: a host's
//! working day and its cron jobs (a nightly backup at 02:00) move by an hour
//! when daylight saving time begins or ends, so the time-of-day profile can bin
//! each reading by a zone's wall clock (`--timezone`) instead of by UTC.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Offset, TimeZone};
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// First and last instants (Unix ms) whose offsets are looked up: 1970 to 2100.
/// Times outside keep the offset at the nearer end.
const FIRST_MS: i64 = 0;
const LAST_MS: i64 = 4_102_444_800_000;
const DAY_MS: i64 = 86_400_000;

/// An IANA time zone (`Europe/Berlin`) and its offsets from UTC over time.
#[derive(Clone)]
pub struct Zone {
    tz: Tz,
    /// The instants (Unix ms, ascending) at which the offset changes, each with
    /// the offset (ms) in force from then on; the first holds from the start.
    changes: Vec<(i64, i64)>,
}

impl Zone {
    /// The zone of this IANA name, with every change of its offset between 1970
    /// and 2100 found once (offsets never change more often than daily, so each
    /// day is looked at and a changed one is searched to the second).
    pub fn named(name: &str) -> Result<Zone, String> {
        let tz: Tz = name.parse().map_err(|_| {
            format!(
                "unknown time zone {name:?}; hint: an IANA name as in /usr/share/zoneinfo, such as Europe/Berlin, America/New_York or UTC"
            )
        })?;
        let offset = |ms: i64| offset_ms(tz, ms);
        let mut changes = vec![(i64::MIN, offset(FIRST_MS))];
        let mut day = FIRST_MS;
        while day < LAST_MS {
            let next = day + DAY_MS;
            let (before, after) = (offset(day), offset(next));
            if before != after {
                // The first second of the next offset, searched in (day, next].
                let (mut low, mut high) = (day, next);
                while high - low > 1000 {
                    let mid = low + (high - low) / 2000 * 1000;
                    if offset(mid) == before {
                        low = mid;
                    } else {
                        high = mid;
                    }
                }
                changes.push((high, after));
            }
            day = next;
        }
        Ok(Zone { tz, changes })
    }

    /// The zone's IANA name.
    pub fn name(&self) -> &'static str {
        self.tz.name()
    }

    /// The zone's wall-clock time at `utc_ms`, as Unix ms would read it: UTC ms
    /// plus the offset then in force.
    pub fn local_ms(&self, utc_ms: i64) -> i64 {
        let at = self.changes.partition_point(|&(from, _)| from <= utc_ms);
        let (_, offset) = self.changes[at.saturating_sub(1)];
        utc_ms.saturating_add(offset)
    }
}

/// The wall-clock time at `utc_ms` on `zone`'s clocks, or on UTC's when `None`:
/// what the time-of-day profile bins by and the simulated host keeps.
pub fn wall_clock(zone: Option<&Zone>, utc_ms: i64) -> i64 {
    zone.map_or(utc_ms, |z| z.local_ms(utc_ms))
}

/// The offset from UTC (ms) in force in `tz` at `utc_ms`.
fn offset_ms(tz: Tz, utc_ms: i64) -> i64 {
    let utc = DateTime::from_timestamp_millis(utc_ms).unwrap_or_default();
    i64::from(
        tz.offset_from_utc_datetime(&utc.naive_utc())
            .fix()
            .local_minus_utc(),
    ) * 1000
}

impl fmt::Debug for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Zone({})", self.name())
    }
}

impl PartialEq for Zone {
    fn eq(&self, other: &Self) -> bool {
        self.tz == other.tz
    }
}

impl FromStr for Zone {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Zone::named(s.trim())
    }
}

impl Serialize for Zone {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Zone {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Zone::named(&name).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timestamp::parse;

    fn at(text: &str) -> i64 {
        parse(text).expect("a time")
    }

    #[test]
    fn new_york_clocks_move_an_hour_at_both_changes_of_2025() {
        let zone = Zone::named("America/New_York").unwrap();
        // Summer time began at 02:00 local (07:00 UTC) on 9 March and ended at
        // 02:00 local (06:00 UTC) on 2 November.
        let local = |utc: &str| crate::timestamp::to_iso(zone.local_ms(at(utc)));
        assert_eq!(local("2025-03-09T06:59:59Z"), "2025-03-09T01:59:59Z");
        assert_eq!(local("2025-03-09T07:00:00Z"), "2025-03-09T03:00:00Z");
        assert_eq!(local("2025-11-02T05:59:59Z"), "2025-11-02T01:59:59Z");
        assert_eq!(local("2025-11-02T06:00:00Z"), "2025-11-02T01:00:00Z");
        assert_eq!(local("1950-01-01T12:00:00Z"), "1950-01-01T07:00:00Z");
    }

    #[test]
    fn a_zone_without_changes_is_one_offset_and_utc_is_utc() {
        let kolkata = Zone::named("Asia/Kolkata").unwrap();
        let utc = Zone::named("UTC").unwrap();
        for text in ["2001-06-01T00:00:00Z", "2025-12-31T23:30:00Z"] {
            let t = at(text);
            assert_eq!(kolkata.local_ms(t) - t, 19_800_000);
            assert_eq!(utc.local_ms(t), t);
        }
    }

    #[test]
    fn a_zone_is_written_and_read_back_by_its_name_and_a_wrong_name_is_told() {
        let zone = Zone::named("Europe/Berlin").unwrap();
        let text = serde_json::to_string(&zone).unwrap();
        assert_eq!(text, "\"Europe/Berlin\"");
        assert_eq!(serde_json::from_str::<Zone>(&text).unwrap(), zone);
        let wrong = Zone::named("Europe/Berln").unwrap_err();
        assert!(
            wrong.contains("\"Europe/Berln\"") && wrong.contains("IANA"),
            "{wrong}"
        );
    }
}

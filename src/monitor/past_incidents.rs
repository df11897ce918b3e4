//! The incidents earlier sessions recorded in a log folder's `incidents.jsonl`: the
//! highest id, so a restarted session numbers its incidents on from it (an alert's
//! `Incident 3` and its `#incident-3` link name one incident of the folder, not one
//! per session), and the latest state of the recent ones, so the page lists them
//! again after a restart. An incident whose session stopped while it was open is
//! closed as it was last seen, so every incident in the file ends.

use std::path::Path;

use serde::Deserialize;

use super::logs::{read_tail, rotated};
use crate::detector::Incident;

/// Lines read from the end of each file per incident kept: an incident is told
/// when it opens, each time it grows worse and when it closes.
const LINES_PER_INCIDENT: usize = 8;

/// What earlier sessions left in the incidents file.
#[derive(Debug, Default, PartialEq)]
pub struct PastIncidents {
    /// The highest id among the incidents read (0 when there are none): this
    /// session's first incident is the next.
    pub last_id: u64,
    /// The latest state of each of the last incidents (at most the number asked
    /// for), oldest first, with the one left open closed.
    pub latest: Vec<Incident>,
    /// The incidents their session left open, now closed: to be told closed in
    /// the file, so that it tells their end.
    pub left_open: Vec<Incident>,
}

/// One line of the file, as [`super::record::incident_line`] writes it.
#[derive(Deserialize)]
struct Logged {
    change: String,
    #[serde(flatten)]
    incident: Incident,
}

/// Reads the end of the incidents file at `path` (and of the file it was last
/// rotated into, when the newest holds fewer than `keep` incidents). A missing
/// file is no incident; a line that is not an incident (cut short by a crash,
/// written by hand) is passed over.
pub fn past_incidents(path: &Path, keep: usize) -> std::io::Result<PastIncidents> {
    let lines = keep.saturating_mul(LINES_PER_INCIDENT).max(1);
    // Each file's incidents as its lines tell them, the newest file first.
    let mut told: Vec<Vec<(Incident, bool)>> = Vec::new();
    for file in [path.to_path_buf(), rotated(path)] {
        match read_tail(&file, 0, lines) {
            Ok(tail) => {
                // The file before is read on into only when this one was read whole:
                // a gap between the two would drop incidents from the list.
                let whole = std::fs::metadata(&file)?.len() <= tail.len() as u64;
                let lines = incidents_in(&tail);
                let mut ids: Vec<u64> = lines.iter().map(|(i, _)| i.id).collect();
                ids.sort_unstable();
                ids.dedup();
                told.push(lines);
                if ids.len() >= keep || !whole {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    // Oldest first: the rotated file's lines before the newest file's.
    let mut latest: Vec<(Incident, bool)> = Vec::new();
    for (logged, closed) in told.into_iter().rev().flatten() {
        let id = logged.id;
        match latest.iter_mut().find(|(i, _)| i.id == id) {
            Some(kept) => *kept = (logged, closed),
            None => latest.push((logged, closed)),
        }
    }
    let last_id = latest.iter().map(|(i, _)| i.id).max().unwrap_or(0);
    let first = latest.len().saturating_sub(keep);
    let mut left_open = Vec::new();
    let latest = latest
        .into_iter()
        .skip(first)
        .map(|(mut incident, closed)| {
            if !closed || incident.open {
                incident.open = false;
                left_open.push(incident.clone());
            }
            incident
        })
        .collect();
    Ok(PastIncidents {
        last_id,
        latest,
        left_open,
    })
}

/// The incidents the lines of `text` tell, in order, each with whether the line
/// closed it.
fn incidents_in(text: &[u8]) -> Vec<(Incident, bool)> {
    text.split(|&b| b == b'\n')
        .filter_map(|line| serde_json::from_slice::<Logged>(line).ok())
        .map(|l| (l.incident, l.change == "closed"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detector::{Change, Severity};
    use crate::monitor::record::incident_line;

    fn line(change: &str, id: u64, open: bool) -> String {
        let mut incident = Incident::sketch(
            id,
            id as i64 * 1000,
            id as i64 * 1000 + 500,
            Severity::High,
            "cpu_percent",
        );
        incident.open = open;
        let change = match change {
            "opened" => Change::Opened(incident),
            "updated" => Change::Updated(incident),
            _ => Change::Closed(incident),
        };
        incident_line(&change) + "\n"
    }

    #[test]
    fn a_folder_without_incidents_starts_from_one() {
        let dir = tempfile::tempdir().unwrap();
        let past = past_incidents(&dir.path().join("incidents.jsonl"), 100).unwrap();
        assert_eq!(past, PastIncidents::default());
    }

    #[test]
    fn ids_go_on_from_the_highest_and_the_latest_state_of_each_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("incidents.jsonl");
        let mut text = String::new();
        for id in 1..=5 {
            text += &line("opened", id, true);
            text += &line("closed", id, false);
        }
        // A torn last line of a crash, and a session of an older version that
        // numbered from 1 again.
        text += &line("opened", 2, true);
        text += &line("closed", 2, false);
        text += "{\"change\":\"opened\",\"id\":9";
        std::fs::write(&path, text).unwrap();
        let past = past_incidents(&path, 3).unwrap();
        assert_eq!(past.last_id, 5);
        let ids: Vec<u64> = past.latest.iter().map(|i| i.id).collect();
        assert_eq!(ids, [3, 4, 5], "the last three, oldest first");
        assert!(past.latest.iter().all(|i| !i.open));
        assert!(past.left_open.is_empty());
    }

    #[test]
    fn an_incident_left_open_by_a_stopped_session_is_closed_as_last_seen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("incidents.jsonl");
        let text = line("opened", 1, true)
            + &line("closed", 1, false)
            + &line("opened", 2, true)
            + &line("updated", 2, true);
        std::fs::write(&path, text).unwrap();
        let past = past_incidents(&path, 100).unwrap();
        assert_eq!(past.last_id, 2);
        assert_eq!(past.left_open.len(), 1);
        let closed = &past.left_open[0];
        assert_eq!((closed.id, closed.open), (2, false));
        assert_eq!(closed.end_ms, Some(2500), "it ends where it was last seen");
        assert!(
            incident_line(&Change::Closed(closed.clone()))
                .starts_with("{\"change\":\"closed\",\"id\":2,")
        );
        assert!(!past.latest[1].open);
    }

    #[test]
    fn a_file_rotated_since_the_last_incidents_is_read_on_into_the_one_before() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("incidents.jsonl");
        let old: String = (1..=4)
            .map(|id| line("opened", id, true) + &line("closed", id, false))
            .collect();
        std::fs::write(rotated(&path), old).unwrap();
        std::fs::write(&path, line("opened", 5, true) + &line("closed", 5, false)).unwrap();
        let past = past_incidents(&path, 3).unwrap();
        let ids: Vec<u64> = past.latest.iter().map(|i| i.id).collect();
        assert_eq!((past.last_id, ids), (5, vec![3, 4, 5]));
        // Stopped right after a rotation: the newest file is not begun.
        std::fs::remove_file(&path).unwrap();
        assert_eq!(past_incidents(&path, 3).unwrap().last_id, 4);
        // A newest file not read to its start (one long incident told many times,
        // more than the megabyte read at a time) is not joined to the one before,
        // across the lines between them.
        let long: String = std::iter::once(line("opened", 5, true))
            .chain((0..8000).map(|_| line("updated", 5, true)))
            .collect();
        assert!(long.len() > 1 << 20);
        std::fs::write(&path, long).unwrap();
        let past = past_incidents(&path, 3).unwrap();
        let ids: Vec<u64> = past.latest.iter().map(|i| i.id).collect();
        assert_eq!((past.last_id, ids), (5, vec![5]));
    }
}

//! Detection quality against ground truth: point-wise precision, recall and F1, the
//! share of labelled events caught at least once, and the threshold-free AUC-PR and
//! ROC-AUC of the scores.

use serde::Serialize;

/// How well flags and scores match the labels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Quality {
    /// Flagged rows that are labelled anomalous, over flagged rows.
    pub precision: f64,
    /// Labelled rows that were flagged, over labelled rows.
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// Labelled segments (runs of consecutive anomalous rows) with at least one flag,
    /// over all segments.
    pub event_recall: f64,
    /// Number of labelled segments.
    pub events: usize,
    /// Average precision of the scores (area under the precision-recall curve).
    pub auc_pr: f64,
    /// Area under the ROC curve of the scores.
    pub roc_auc: f64,
    /// Labelled anomalous rows.
    pub positives: usize,
}

/// Scores `flagged` and `scores` against `labels`; `None` when no row is labelled
/// anomalous (recall is then undefined).
pub fn evaluate(labels: &[bool], flagged: &[bool], scores: &[f64]) -> Option<Quality> {
    let positives = labels.iter().filter(|&&l| l).count();
    if positives == 0 {
        return None;
    }
    let tp = labels
        .iter()
        .zip(flagged)
        .filter(|&(&l, &f)| l && f)
        .count() as f64;
    let flagged_n = flagged.iter().filter(|&&f| f).count() as f64;
    let precision = if flagged_n > 0.0 { tp / flagged_n } else { 0.0 };
    let recall = tp / positives as f64;
    let f1 = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    let (events, caught) = events(labels, flagged);
    Some(Quality {
        precision,
        recall,
        f1,
        event_recall: caught as f64 / events as f64,
        events,
        auc_pr: average_precision(labels, scores),
        roc_auc: roc_auc(labels, scores),
        positives,
    })
}

/// Labelled segments and how many of them have a flag.
fn events(labels: &[bool], flagged: &[bool]) -> (usize, usize) {
    let (mut events, mut caught, mut inside, mut hit) = (0, 0, false, false);
    for (&l, &f) in labels.iter().zip(flagged) {
        if l {
            if !inside {
                events += 1;
                inside = true;
                hit = false;
            }
            if f && !hit {
                hit = true;
                caught += 1;
            }
        } else {
            inside = false;
        }
    }
    (events, caught)
}

/// Rows sorted by descending score, with ties kept together.
fn by_score(scores: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    order
}

/// Average precision as scikit-learn computes it: sum over distinct thresholds of
/// (recall step) x precision.
fn average_precision(labels: &[bool], scores: &[f64]) -> f64 {
    let positives = labels.iter().filter(|&&l| l).count() as f64;
    let order = by_score(scores);
    let (mut tp, mut seen, mut ap, mut last_recall) = (0.0, 0.0, 0.0, 0.0);
    let mut i = 0;
    while i < order.len() {
        let s = scores[order[i]];
        while i < order.len() && scores[order[i]] == s {
            seen += 1.0;
            if labels[order[i]] {
                tp += 1.0;
            }
            i += 1;
        }
        let recall = tp / positives;
        ap += (recall - last_recall) * (tp / seen);
        last_recall = recall;
    }
    ap
}

/// ROC-AUC by the rank-sum (Mann-Whitney) formula, ties counted as half.
fn roc_auc(labels: &[bool], scores: &[f64]) -> f64 {
    let order = by_score(scores);
    let n = order.len();
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < n {
        let s = scores[order[i]];
        let mut j = i;
        while j < n && scores[order[j]] == s {
            j += 1;
        }
        // Ascending rank of this tie group (1-based), averaged.
        let rank = (n - j + 1 + n - i) as f64 / 2.0;
        rank_sum += rank * order[i..j].iter().filter(|&&r| labels[r]).count() as f64;
        i = j;
    }
    let pos = labels.iter().filter(|&&l| l).count() as f64;
    let neg = n as f64 - pos;
    if neg == 0.0 {
        return 1.0;
    }
    (rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_points_and_events() {
        let labels = [false, true, true, false, true, false, true, true];
        let flagged = [true, false, true, false, false, false, false, false];
        let q = evaluate(&labels, &flagged, &[0.0; 8]).unwrap();
        assert_eq!(q.precision, 0.5);
        assert_eq!(q.recall, 0.2);
        assert_eq!(q.events, 3);
        assert!((q.event_recall - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn perfect_and_inverted_rankings() {
        let labels = [false, false, true, true];
        let q = evaluate(&labels, &[false; 4], &[0.1, 0.2, 0.8, 0.9]).unwrap();
        assert_eq!(q.roc_auc, 1.0);
        assert_eq!(q.auc_pr, 1.0);
        let q = evaluate(&labels, &[false; 4], &[0.9, 0.8, 0.2, 0.1]).unwrap();
        assert_eq!(q.roc_auc, 0.0);
        let q = evaluate(&labels, &[false; 4], &[0.5; 4]).unwrap();
        assert_eq!(q.roc_auc, 0.5);
        assert_eq!(q.auc_pr, 0.5);
    }

    #[test]
    fn no_positive_labels_gives_nothing() {
        assert!(evaluate(&[false, false], &[true, false], &[1.0, 0.0]).is_none());
    }
}

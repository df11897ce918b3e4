//! Detection quality on the labelled datasets in `../shared/datasets/` (NAB, ASD,
//! SMD): point-wise F1 of the fused verdict against the forest alone and the z-scores
//! alone, and how often `top_metric` is among the metrics experts named.
//! Run: `cargo bench --bench quality` (add a path to evaluate other folders).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use metrics::analysis::{FitRows, analyze};
use metrics::detector::{DetectorParams, Mode, RuleSet};
use metrics::evaluation::evaluate;
use metrics::io::input::{ReadOptions, read_table};
use metrics::io::text::CsvInput;
use metrics::timestamp;

struct Segment {
    first: i64,
    last: i64,
    metrics: Vec<String>,
}

fn interpretation(dir: &Path) -> HashMap<String, Vec<Segment>> {
    let mut map: HashMap<String, Vec<Segment>> = HashMap::new();
    let Ok(mut reader) = csv::Reader::from_path(dir.join("interpretation.csv")) else {
        return map;
    };
    for row in reader.records().flatten() {
        let (Some(first), Some(last)) = (timestamp::parse(&row[1]), timestamp::parse(&row[2]))
        else {
            continue;
        };
        map.entry(row[0].to_string()).or_default().push(Segment {
            first,
            last,
            metrics: row[3].split_whitespace().map(String::from).collect(),
        });
    }
    map
}

fn main() {
    let root = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("../shared/datasets"));
    if !root.is_dir() {
        eprintln!("quality: {} not found; nothing to measure", root.display());
        return;
    }
    let modes = [Mode::Fused, Mode::ForestOnly, Mode::ZScoresOnly];
    println!(
        "{:<48} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7}",
        "file", "F1", "forest", "z", "P", "R", "events", "AUC-PR"
    );
    let mut means: HashMap<(&str, usize), Vec<f64>> = HashMap::new();
    let (mut explained, mut explainable) = (0usize, 0usize);
    for family in ["nab", "asd", "smd"] {
        let dir = root.join(family);
        let segments = interpretation(&dir);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        files.retain(|p| {
            p.extension().is_some_and(|e| e == "csv") && !p.ends_with("interpretation.csv")
        });
        files.sort();
        for file in files {
            let options = ReadOptions {
                exclude: vec!["split".into()],
                ..ReadOptions::default()
            };
            let table = match read_table(&CsvInput::Path(file.clone()), &options) {
                Ok(t) => t,
                Err(e) => {
                    println!("{e}");
                    continue;
                }
            };
            let has_split = table.frame.text_names.iter().any(|n| n == "split");
            let fit = if has_split {
                FitRows::Where {
                    column: "split".into(),
                    value: "train".into(),
                }
            } else {
                FitRows::All
            };
            let eval_rows: Vec<usize> = if has_split {
                table.rows_where("split", "test").unwrap_or_default()
            } else {
                (0..table.frame.rows()).collect()
            };
            let Some(labels) = table.labels.as_ref() else {
                continue;
            };
            let labels: Vec<bool> = eval_rows.iter().map(|&r| labels[r]).collect();
            let mut f1s = Vec::new();
            let mut fused_quality = None;
            for (m, mode) in modes.iter().enumerate() {
                let params = DetectorParams {
                    mode: *mode,
                    ..DetectorParams::default()
                };
                let analysis = analyze(&table, &params, &fit, None, &RuleSet::default(), &|_| {})
                    .expect("analysis");
                let flagged: Vec<bool> = eval_rows
                    .iter()
                    .map(|&r| analysis.verdicts[r].is_anomaly)
                    .collect();
                let scores: Vec<f64> = eval_rows
                    .iter()
                    .map(|&r| analysis.verdicts[r].anomaly_score)
                    .collect();
                let Some(q) = evaluate(&labels, &flagged, &scores) else {
                    break;
                };
                f1s.push(q.f1);
                means.entry((family, m)).or_default().push(q.f1);
                if *mode == Mode::Fused {
                    fused_quality = Some(q);
                    let entity = file
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    let times = table.frame.times.as_deref().unwrap_or(&[]);
                    for seg in segments.get(&entity).into_iter().flatten() {
                        for (r, v) in analysis.verdicts.iter().enumerate() {
                            let t = times.get(r).copied().unwrap_or(i64::MIN);
                            if v.is_anomaly && t >= seg.first && t <= seg.last {
                                explainable += 1;
                                let top = v.top_metric_name(&analysis.model.metrics);
                                if top.is_some_and(|t| seg.metrics.iter().any(|m| m == t)) {
                                    explained += 1;
                                }
                            }
                        }
                    }
                }
            }
            let name = format!(
                "{family}/{}",
                file.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            );
            match fused_quality {
                Some(q) => println!(
                    "{name:<48} {:>7.3} {:>7.3} {:>7.3} {:>7.3} {:>7.3} {:>7.3} {:>7.3}",
                    f1s[0], f1s[1], f1s[2], q.precision, q.recall, q.event_recall, q.auc_pr
                ),
                None => println!("{name:<48} (no labelled anomalies)"),
            }
        }
    }
    println!();
    for (label, families) in [("NAB", vec!["nab"]), ("ASD + SMD", vec!["asd", "smd"])] {
        let mean = |m: usize| {
            let v: Vec<f64> = families
                .iter()
                .flat_map(|f| means.get(&(*f, m)).cloned().unwrap_or_default())
                .collect();
            v.iter().sum::<f64>() / v.len().max(1) as f64
        };
        println!(
            "mean F1 {label:<10} fused {:.3}  forest alone {:.3}  z-scores alone {:.3}",
            mean(0),
            mean(1),
            mean(2)
        );
    }
    if explainable > 0 {
        println!(
            "top_metric among the experts' metrics: {explained} of {explainable} flagged rows in labelled segments ({:.1} %)",
            100.0 * explained as f64 / explainable as f64
        );
    }
}

//! The in-process `analyze` pipeline (read, fit, score, write), held whole and
//! read in windows as `metrics analyze` reads a large file, and `datagen` row
//! generation, on files made by `datagen`. Run: `cargo bench --bench pipeline`.
//! The whole process, as users run it: see technical.md ("Measured speed").

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use metrics::analysis::windowed::{Plan, judge, prepare};
use metrics::analysis::{AnalysisError, FitRows, analyze};
use metrics::datagen::{AnomalyType, GenParams, Generator};
use metrics::detector::{DetectorParams, RuleSet};
use metrics::io::input::{ReadOptions, read_table};
use metrics::io::output::write_annotated;
use metrics::io::text::CsvInput;
use metrics::io::windows::Windows;

const ROWS: usize = 200_000;

fn params(rows: usize) -> GenParams {
    GenParams {
        rows,
        seed: 1,
        interval_s: 1.0,
        start_ms: 1_735_689_600_000,
        anomaly_rate: 0.03,
        types: AnomalyType::ALL.to_vec(),
        labels: false,
        zone: None,
    }
}

fn generate(rows: usize) -> String {
    let mut generator = Generator::new(params(rows));
    let mut out = generator.header();
    out.push('\n');
    while generator.next_row(&mut out) {}
    out
}

fn pipeline(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("metrics.csv");
    std::fs::write(&path, generate(ROWS)).expect("write the input");
    let mut group = c.benchmark_group("pipeline");
    group
        .sample_size(10)
        .throughput(Throughput::Elements(ROWS as u64));
    group.bench_function("analyze 200k rows: read, fit, score, write", |b| {
        b.iter(|| {
            let table = read_table(&CsvInput::Path(path.clone()), &ReadOptions::default())
                .expect("valid input");
            let analysis = analyze(
                &table,
                &DetectorParams::default(),
                &FitRows::All,
                None,
                &RuleSet::default(),
                &|_| {},
            )
            .expect("analysis");
            write_annotated(
                &table,
                0,
                &analysis.verdicts,
                &analysis.model.metrics,
                true,
                std::io::sink(),
            )
            .expect("write");
            black_box(analysis.verdicts.len())
        })
    });
    group.bench_function(
        "analyze 200k rows in 1 MB windows: read twice, fit, score, write",
        |b| {
            b.iter(|| {
                let mut windows =
                    Windows::open(CsvInput::Path(path.clone()), 1 << 20).expect("readable");
                let rules = RuleSet::default();
                let mut prepared = prepare(
                    &mut windows,
                    Plan {
                        params: &DetectorParams::default(),
                        fit: &FitRows::All,
                        model: None,
                        rules: &rules,
                        options: &ReadOptions::default(),
                    },
                    &|_| {},
                )
                .expect("valid input");
                let mut first = true;
                let mut rows = 0;
                judge(
                    &mut windows,
                    &mut prepared,
                    &rules,
                    &|_| {},
                    &mut |table, from, verdicts, model| {
                        write_annotated(
                            table,
                            from,
                            verdicts,
                            &model.metrics,
                            first,
                            std::io::sink(),
                        )
                        .map_err(AnalysisError::Write)?;
                        first = false;
                        rows += verdicts.len();
                        Ok(())
                    },
                )
                .expect("analysis");
                black_box(rows)
            })
        },
    );
    group.bench_function("datagen 200k rows", |b| {
        b.iter(|| black_box(generate(ROWS).len()))
    });
    group.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);

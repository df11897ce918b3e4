//! The in-process `analyze` pipeline (read, fit, score, write) and `datagen` row
//! generation, on files made by `datagen`. Run: `cargo bench --bench pipeline`.
//! The whole process, as users run it: see technical.md ("Measured speed").

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use metrics::analysis::{FitRows, analyze};
use metrics::datagen::{AnomalyType, GenParams, Generator};
use metrics::detector::{DetectorParams, RuleSet};
use metrics::io::input::{ReadOptions, read_table};
use metrics::io::output::write_annotated;
use metrics::io::text::CsvInput;

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
                &analysis.verdicts,
                &analysis.model.metrics,
                true,
                std::io::sink(),
            )
            .expect("write");
            black_box(analysis.verdicts.len())
        })
    });
    group.bench_function("datagen 200k rows", |b| {
        b.iter(|| black_box(generate(ROWS).len()))
    });
    group.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);

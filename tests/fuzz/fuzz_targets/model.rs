//! A saved model file: any text gives a model or an error, and a model that loads
//! judges rows without a panic or an out-of-bounds read.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use metrics::detector::{Model, RuleSet};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(model) = Model::from_json(text) else {
        return;
    };
    let metrics = model.metrics.len();
    let model = Arc::new(model);
    let mut stream = model.stream(&RuleSet::default(), &[]);
    for (i, value) in [1.0, 50.0, f64::NAN, 1e9, -3.0].into_iter().enumerate() {
        let values = vec![value; metrics];
        let _ = stream.judge(&values, &[], Some(1_700_000_000_000 + 1000 * i as i64));
    }
});

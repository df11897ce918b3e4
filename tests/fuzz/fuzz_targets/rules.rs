//! A rules TOML file: any text gives rules or a located error, and rules that load
//! check any row without a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use metrics::detector::RuleSet;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(rules) = RuleSet::with_file("fuzz.toml", text) {
        let numeric = [
            "cpu_percent",
            "memory_percent",
            "disk_read_mb",
            "temperature_c",
        ]
        .map(String::from);
        let bound = rules.bind(&numeric, &["status".to_string()]);
        for values in [
            [50.0, 95.0, 1.0, 80.0],
            [f64::NAN, -1.0, 1e300, f64::INFINITY],
        ] {
            for status in ["ok", "failed", ""] {
                let _ = bound.check(&values, &[status]);
            }
        }
    }
});

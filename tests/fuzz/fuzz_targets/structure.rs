//! The byte scan that checks a CSV's records and quotes before parsing, with each
//! delimiter: any bytes give a structure or a located error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use metrics::io::structure::scan_structure;
use metrics::io::text::check_text;

fuzz_target!(|data: &[u8]| {
    let Ok(bytes) = check_text(data.to_vec(), "fuzz.csv") else {
        return;
    };
    let width = bytes
        .split(|&b| b == b'\n')
        .next()
        .map_or(1, |line| line.iter().filter(|&&b| b == b',').count() + 1);
    for delimiter in [b',', b';', b'\t'] {
        if let Ok(structure) = scan_structure(&bytes, delimiter, width, "fuzz.csv") {
            assert!(structure.chunk_starts.iter().all(|&s| s <= bytes.len()));
        }
    }
});

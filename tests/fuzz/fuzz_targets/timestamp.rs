//! The timestamp parser: any text gives a time or none, and a time it gives is
//! written back as ISO 8601 text that parses to the same millisecond.
#![no_main]

use libfuzzer_sys::fuzz_target;
use metrics::timestamp::{parse, to_iso};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(ms) = parse(text) {
        // Years 0001-9999, the range ISO 8601 text can hold.
        if (-62_135_596_800_000..253_402_300_800_000).contains(&ms) {
            let iso = to_iso(ms);
            assert_eq!(parse(&iso), Some(ms), "{text:?} -> {iso}");
        }
    }
});

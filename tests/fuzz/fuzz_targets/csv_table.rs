//! A whole CSV read as `analyze` and the dashboard's upload read it: any bytes give
//! a table or an error, never a panic or a hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use metrics::io::input::{ReadOptions, read_table};
use metrics::io::text::CsvInput;

fuzz_target!(|data: &[u8]| {
    let input = CsvInput::Bytes {
        name: "upload.csv".into(),
        bytes: data.to_vec(),
    };
    if let Ok(table) = read_table(&input, &ReadOptions::default()) {
        // Every metric column the reader keeps has the table's rows and a reading.
        let rows = table.frame.rows();
        for column in &table.frame.columns {
            assert_eq!(column.len(), rows);
            assert!(column.iter().any(|v| v.is_finite()));
        }
    }
});

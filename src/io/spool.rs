//! Records kept on disk rather than in memory, in a temporary file (in TMPDIR),
//! to be written out at the end in an order chosen then: what a report listing
//! every flagged row of a file of any size needs, at 16 bytes of memory a record.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;

/// Records written to a temporary file as they come.
#[derive(Debug)]
pub struct Spool {
    file: BufWriter<File>,
    /// Where each record starts in the file, and its length.
    records: Vec<(u64, u32)>,
    /// Bytes written so far.
    written: u64,
    /// The first write that failed: the spool stops there and says so at the end.
    failed: Option<std::io::Error>,
}

impl Spool {
    /// An empty spool in a new temporary file, removed when the spool is dropped.
    pub fn new() -> std::io::Result<Spool> {
        Ok(Spool {
            file: BufWriter::with_capacity(1 << 20, tempfile::tempfile()?),
            records: Vec::new(),
            written: 0,
            failed: None,
        })
    }

    /// Keeps `record`: records are numbered from 0, in the order they are kept.
    pub fn push(&mut self, record: &[u8]) {
        if self.failed.is_some() {
            return;
        }
        let Ok(len) = u32::try_from(record.len()) else {
            self.failed = Some(std::io::Error::other("a record of over 4 GB"));
            return;
        };
        match self.file.write_all(record) {
            Ok(()) => {
                self.records.push((self.written, len));
                self.written += u64::from(len);
            }
            Err(e) => self.failed = Some(e),
        }
    }

    /// Writes the records numbered in `order` to `out`, each after `separator`
    /// but the first, which follows `first`; the first failed write, if any, is
    /// the error.
    pub fn write_in(
        &mut self,
        order: impl IntoIterator<Item = usize>,
        first: &[u8],
        separator: &[u8],
        out: &mut dyn Write,
    ) -> std::io::Result<()> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        self.file.flush()?;
        let file = self.file.get_ref();
        let mut buf = Vec::new();
        for (n, i) in order.into_iter().enumerate() {
            let (at, len) = self.records[i];
            buf.resize(len as usize, 0);
            file.read_exact_at(&mut buf, at)?;
            out.write_all(if n == 0 { first } else { separator })?;
            out.write_all(&buf)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_come_back_in_the_order_asked() {
        let mut spool = Spool::new().unwrap();
        for r in ["a", "bb", "", "ccc"] {
            spool.push(r.as_bytes());
        }
        let mut out = Vec::new();
        spool.write_in([3, 0, 2, 1], b"[", b",", &mut out).unwrap();
        assert_eq!(out, b"[ccc,a,,bb");
    }
}

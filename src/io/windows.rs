//! A CSV too large to hold, cut into windows of whole records: each window is the
//! header line followed by about a chosen number of bytes of records, so it reads
//! as a CSV of its own, and its errors are moved to the lines they have in the
//! file. Standard input is spooled to a temporary file first, so the file can be
//! read twice (once to learn the baseline, once to judge it).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use super::InputError;
use super::text::{CsvInput, open_file, read_error};

/// The smallest window: below it reading and judging stop paying for themselves.
pub const MIN_WINDOW_BYTES: usize = 1 << 16;

/// A file of up to this many windows is read as one: read once, not twice, at
/// less memory than holding a 10M-row file but more than one window's.
pub const WHOLE_WINDOWS: u64 = 4;

/// Where the bytes come from: anything that can be read from the start again.
trait Source: Read + Seek + Send {
    /// Reads up to `len` bytes from the current position onto the end of `buf` and
    /// returns how many came: fewer only where the input ends.
    fn read_onto(&mut self, buf: &mut Vec<u8>, len: usize) -> std::io::Result<usize> {
        read_plainly(self, buf, len)
    }
}

/// [`Source::read_onto`] by plain reads from the current position.
fn read_plainly(
    source: &mut (impl Read + ?Sized),
    buf: &mut Vec<u8>,
    len: usize,
) -> std::io::Result<usize> {
    source.take(len as u64).read_to_end(buf)
}

impl Source for std::io::Cursor<Vec<u8>> {}

impl Source for File {
    /// A large read is cut into pieces read at once, one per core (see
    /// [`read_in_pieces`]).
    #[cfg(unix)]
    fn read_onto(&mut self, buf: &mut Vec<u8>, len: usize) -> std::io::Result<usize> {
        if len < 2 * MIN_PIECE {
            return read_plainly(self, buf, len);
        }
        read_in_pieces(self, buf, len)
    }
}

/// The smallest piece of a read worth a core of its own.
const MIN_PIECE: usize = 4 << 20;

/// Reads up to `len` bytes of `file` from its position onto the end of `buf` in
/// pieces, one per core, each read where it lies in the file, and moves the
/// position past them. Copying a file's bytes out of the page cache, and the kernel
/// clearing the fresh pages they land on, took one core 0.16 s of the 1.27 s of
/// `analyze` on 1M rows (70 MB), before any other work could start.
#[cfg(unix)]
fn read_in_pieces(file: &mut File, buf: &mut Vec<u8>, len: usize) -> std::io::Result<usize> {
    use rayon::prelude::*;
    use std::os::fd::AsRawFd;
    buf.reserve(len);
    let start = file.stream_position()?;
    let fd = file.as_raw_fd();
    let pieces = rayon::current_num_threads().clamp(1, len / MIN_PIECE);
    let piece = len.div_ceil(pieces);
    let spare = &mut buf.spare_capacity_mut()[..len];
    let counts: Vec<std::io::Result<(usize, usize)>> = spare
        .par_chunks_mut(piece)
        .enumerate()
        .map(|(i, chunk)| {
            let wanted = chunk.len();
            read_at(fd, chunk, start + (i * piece) as u64).map(|n| (n, wanted))
        })
        .collect();
    // The bytes read run up to the first piece that came short (the file ended).
    let mut read = 0;
    for count in counts {
        let (n, wanted) = count?;
        read += n;
        if n < wanted {
            break;
        }
    }
    // SAFETY: the pieces up to `read` were written by the kernel, in order and
    // without a gap, and lie within the spare capacity.
    unsafe { buf.set_len(buf.len() + read) };
    file.seek(SeekFrom::Start(start + read as u64))?;
    Ok(read)
}

/// Reads into `chunk` from `offset` of the file `fd` until it is full or the file
/// ends; returns how many bytes came.
#[cfg(unix)]
fn read_at(
    fd: std::os::fd::RawFd,
    chunk: &mut [std::mem::MaybeUninit<u8>],
    offset: u64,
) -> std::io::Result<usize> {
    let mut done = 0;
    while done < chunk.len() {
        let at = libc::off_t::try_from(offset + done as u64)
            .map_err(|_| std::io::Error::other("read past the largest file offset"))?;
        let rest = &mut chunk[done..];
        // SAFETY: pread writes at most `rest.len()` bytes into `rest`, memory this
        // call holds exclusively, and the descriptor stays open while `file` is
        // borrowed by the caller.
        let n = unsafe { libc::pread(fd, rest.as_mut_ptr().cast(), rest.len(), at) };
        match n {
            0 => break,
            n if n > 0 => done += n as usize,
            _ => {
                let error = std::io::Error::last_os_error();
                if error.kind() != std::io::ErrorKind::Interrupted {
                    return Err(error);
                }
            }
        }
    }
    Ok(done)
}

/// A CSV read window by window, from its start as often as asked.
pub struct Windows {
    name: String,
    input: Box<dyn Source>,
    /// Bytes of records per window, about.
    target: usize,
    /// The header line, with its line break.
    header: Vec<u8>,
    /// Lines the header takes.
    header_lines: u64,
    /// Bytes read past the last window's end.
    pending: Vec<u8>,
    /// Whether the input has no more bytes than `pending`.
    eof: bool,
    /// The file line of the next window's first record.
    next_line: u64,
    /// Windows given since the start.
    given: usize,
    /// A window given back, to be given again next.
    held: Option<Window>,
    /// The input's size in bytes.
    size: u64,
    /// A buffer given back by [`Windows::recycle`], for the next window to fill.
    spare: Vec<u8>,
}

/// One window: a CSV of its own, the header and some of the file's records.
#[derive(Debug)]
pub struct Window {
    /// The header line and the records, as bytes.
    pub bytes: Vec<u8>,
    /// How many lines down the file its records are, against where they are in
    /// `bytes`: add it to a line of this window (past the header) to name the
    /// file's line.
    pub line_shift: u64,
    /// The first line of its records in `bytes`: errors at or after it are shifted.
    pub first_record_line: u64,
    /// Whether it is the first window of the file.
    pub first: bool,
    /// Where its records begin in `bytes`, past the header.
    pub records_start: usize,
    /// Line breaks among its records, counted as the window was cut.
    pub breaks: usize,
}

impl Window {
    /// Bytes of the file's records it holds.
    pub fn record_bytes(&self) -> usize {
        self.bytes.len() - self.records_start
    }

    /// How many records it holds, when every line is a record (no quote, no
    /// carriage return, no blank line): `None` otherwise, for a reader that follows
    /// quotes to count them.
    pub fn plain_records(&self) -> Option<usize> {
        let records = &self.bytes[self.records_start..];
        if records.is_empty()
            || records[0] == b'\n'
            || memchr::memchr2(b'"', b'\r', records).is_some()
            || memchr::memmem::find(records, b"\n\n").is_some()
        {
            return None;
        }
        Some(self.breaks + usize::from(records.last() != Some(&b'\n')))
    }

    /// A window of the records in `runs` (ranges of record indices, ascending) of a
    /// window whose every line is a record ([`Window::plain_records`]), under the
    /// same header. Only the line breaks before the last run's end are looked for.
    pub fn part(&self, runs: &[std::ops::Range<usize>]) -> Window {
        let mut bytes = self.bytes[..self.records_start].to_vec();
        let (mut at, mut record, mut breaks) = (self.records_start, 0, 0);
        for run in runs {
            let start = skip_lines(&self.bytes, at, run.start - record);
            at = skip_lines(&self.bytes, start, run.len());
            record = run.end;
            bytes.extend_from_slice(&self.bytes[start..at]);
            if bytes.last() != Some(&b'\n') {
                bytes.push(b'\n');
            }
            breaks += run.len();
        }
        Window {
            bytes,
            line_shift: 0,
            first_record_line: self.first_record_line,
            first: false,
            records_start: self.records_start,
            breaks,
        }
    }

    /// `error`, found in this window, placed at its line in the file.
    pub fn locate(&self, error: InputError) -> InputError {
        error.shifted(self.first_record_line, self.line_shift)
    }
}

impl Windows {
    /// Opens `source` to be read in windows of about `target` bytes of records, or
    /// in one when it is at most [`WHOLE_WINDOWS`] windows long.
    pub fn open(source: CsvInput, target: usize) -> Result<Windows, InputError> {
        let name = source.name();
        let mut input: Box<dyn Source> = match source {
            CsvInput::Path(path) => {
                let mut file = open_file(&path, &name)?;
                // A pipe (`<(...)`, /dev/stdin) cannot be read twice: spooled too.
                if file.seek(SeekFrom::End(0)).is_ok() {
                    Box::new(file)
                } else {
                    Box::new(spooled(&mut file, &name)?)
                }
            }
            CsvInput::Stdin => Box::new(spooled(&mut std::io::stdin().lock(), &name)?),
            CsvInput::Bytes { bytes, .. } => Box::new(std::io::Cursor::new(bytes)),
        };
        let size = input
            .seek(SeekFrom::End(0))
            .map_err(|e| read_error(&name, e))?;
        let target = target.max(MIN_WINDOW_BYTES);
        let target = if size <= WHOLE_WINDOWS * target as u64 {
            usize::try_from(size).unwrap_or(usize::MAX).max(target)
        } else {
            target
        };
        let mut windows = Windows {
            name,
            input,
            target,
            header: Vec::new(),
            header_lines: 0,
            pending: Vec::new(),
            eof: false,
            next_line: 1,
            given: 0,
            held: None,
            size,
            spare: Vec::new(),
        };
        windows.rewind()?;
        Ok(windows)
    }

    /// The input's size in bytes (of the spooled copy, for standard input).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// How errors name the input.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Goes back to the first window.
    pub fn rewind(&mut self) -> Result<(), InputError> {
        self.input
            .seek(SeekFrom::Start(0))
            .map_err(|e| read_error(&self.name, e))?;
        self.pending.clear();
        self.eof = false;
        self.given = 0;
        self.held = None;
        // The header is the first record: everything up to its end, read a little
        // at a time, so what follows it stays where it is.
        let end = loop {
            if let Some(end) = record_end(&self.pending, true) {
                break end;
            }
            if self.eof {
                break self.pending.len();
            }
            self.fill(MIN_WINDOW_BYTES)?;
        };
        let bom = if self.pending[..end].starts_with(&[0xEF, 0xBB, 0xBF]) {
            self.pending.drain(..3);
            3
        } else {
            0
        };
        let header = self.pending[..end - bom].to_vec();
        self.header_lines = memchr::memchr_iter(b'\n', &header).count() as u64;
        self.next_line = self.header_lines + 1;
        self.header = header;
        Ok(())
    }

    /// The next window, or `None` past the last. The first window is given even
    /// when the file has no records, so reading it says what is wrong.
    pub fn next_window(&mut self) -> Result<Option<Window>, InputError> {
        if let Some(window) = self.held.take() {
            return Ok(Some(window));
        }
        // `pending` holds the header, then the bytes read past the last window.
        let lead = self.header.len();
        loop {
            let read = self.pending.len() - lead;
            if !self.eof && read < self.target {
                self.fill(self.target - read)?;
            }
            // Whole records up to the window's size; one record longer than
            // that is read to its end.
            let data = &self.pending[lead..];
            let limit = self.target.min(data.len());
            let end = match record_end(&data[..limit], false).or_else(|| record_end(data, true)) {
                Some(end) => end,
                None if self.eof => data.len(),
                None => {
                    self.fill(self.target.max(data.len()))?;
                    continue;
                }
            };
            let records = &data[..end];
            let first = self.given == 0;
            if !first && records.iter().all(|b| b.is_ascii_whitespace()) {
                self.pending.drain(lead..lead + end);
                if self.eof && self.pending.len() == lead {
                    return Ok(None);
                }
                continue;
            }
            let breaks = memchr::memchr_iter(b'\n', records).count();
            let empty = records.is_empty();
            // The window takes the buffer over, its header already before its
            // records; what is left past them (less than a record) starts the
            // next one, after the header.
            let mut next = std::mem::take(&mut self.spare);
            next.clear();
            next.extend_from_slice(&self.header);
            next.extend_from_slice(&self.pending[lead + end..]);
            self.pending.truncate(lead + end);
            let mut bytes = std::mem::replace(&mut self.pending, next);
            // The header may lack a line break when the file is only a header.
            let gap = !self.header.ends_with(b"\n") && !empty;
            if gap {
                bytes.insert(lead, b'\n');
            }
            let first_record_line = self.header_lines.max(1) + 1;
            let window = Window {
                line_shift: self.next_line.max(first_record_line) - first_record_line,
                first_record_line,
                first,
                records_start: lead + usize::from(gap),
                breaks,
                bytes,
            };
            self.next_line += breaks as u64;
            self.given += 1;
            return Ok(Some(window));
        }
    }

    /// Takes back the bytes of a window done with, for a later window to be read
    /// into: its memory is then neither returned to the system nor asked for and
    /// cleared again, which cost a quarter of reading a large file.
    pub fn recycle(&mut self, bytes: Vec<u8>) {
        if bytes.capacity() > self.spare.capacity() {
            self.spare = bytes;
        }
    }

    /// Whether a window after the first has been given since the start.
    pub fn past_first(&self) -> bool {
        self.given > 1
    }

    /// Gives `window`, the last one given, back: the next call gives it again.
    pub fn put_back(&mut self, window: Window) {
        self.held = Some(window);
    }

    /// Reads up to `more` bytes onto `pending`, straight into its spare room
    /// (nothing is zeroed first: a file read whole is one window of its size).
    fn fill(&mut self, more: usize) -> Result<(), InputError> {
        // Room for a line break after the header too (see `next_window`).
        self.pending.reserve(more + 1);
        let read = self
            .input
            .read_onto(&mut self.pending, more)
            .map_err(|e| read_error(&self.name, e))?;
        if read < more {
            self.eof = true;
        }
        Ok(())
    }
}

/// All of `input` copied to a temporary file (in TMPDIR), so it can be read
/// twice. The file has no name (it is unlinked as it is made), so however the
/// command ends, even killed outright, it leaves nothing in TMPDIR.
fn spooled(input: &mut dyn Read, name: &str) -> Result<File, InputError> {
    let cannot = |what: &str, e: std::io::Error| {
        InputError::at(name, None, None, &format!("{what}: {e}"))
            .hint("set TMPDIR to a writable directory with room for the input")
    };
    let mut spool = tempfile::tempfile()
        .map_err(|e| cannot("cannot make a temporary file to hold the input", e))?;
    std::io::copy(input, &mut spool).map_err(|e| cannot("cannot spool the input", e))?;
    Ok(spool)
}

/// Where the line `lines` lines down from `at` (a line's start) starts in `bytes`,
/// or the end of `bytes`: the line breaks are counted a block at a time, and only
/// found one by one in the block where the line starts.
fn skip_lines(bytes: &[u8], mut at: usize, mut lines: usize) -> usize {
    const BLOCK: usize = 1 << 14;
    while lines > 0 && at < bytes.len() {
        let block = &bytes[at..(at + BLOCK).min(bytes.len())];
        let breaks = memchr::memchr_iter(b'\n', block).count();
        if breaks < lines {
            lines -= breaks;
            at += block.len();
            continue;
        }
        return match memchr::memchr_iter(b'\n', block).nth(lines - 1) {
            Some(i) => at + i + 1,
            None => bytes.len(),
        };
    }
    at
}

/// Where the first (`first`) or the last whole record in `bytes` ends, just past
/// its line break, reading `bytes` from a record's start: line breaks inside
/// quotes do not end a record.
fn record_end(bytes: &[u8], first: bool) -> Option<usize> {
    if memchr::memchr(b'"', bytes).is_none() {
        return if first {
            memchr::memchr(b'\n', bytes)
        } else {
            memchr::memrchr(b'\n', bytes)
        }
        .map(|i| i + 1);
    }
    let mut quoted = false;
    let mut last = None;
    for i in memchr::memchr2_iter(b'"', b'\n', bytes) {
        if bytes[i] == b'"' {
            quoted = !quoted;
        } else if !quoted {
            if first {
                return Some(i + 1);
            }
            last = Some(i + 1);
        }
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_large_read_in_pieces_gets_the_bytes_of_a_plain_read_and_moves_past_them() {
        use std::io::Write;
        let bytes: Vec<u8> = (0..(3 * MIN_PIECE + 12_345) as u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&bytes).unwrap();
        // From an offset, for less than the rest of the file; then past its end.
        file.seek(SeekFrom::Start(100)).unwrap();
        let mut buf = b"head".to_vec();
        let len = 2 * MIN_PIECE + 7;
        buf.reserve(len);
        assert_eq!(file.read_onto(&mut buf, len).unwrap(), len);
        assert_eq!(&buf[..4], b"head");
        assert_eq!(&buf[4..], &bytes[100..100 + len]);
        assert_eq!(file.stream_position().unwrap(), (100 + len) as u64);
        let rest = bytes.len() - 100 - len;
        let mut tail = Vec::with_capacity(4 * MIN_PIECE);
        assert_eq!(file.read_onto(&mut tail, 4 * MIN_PIECE).unwrap(), rest);
        assert_eq!(tail, &bytes[100 + len..]);
        assert_eq!(file.stream_position().unwrap(), bytes.len() as u64);
    }

    fn windows_of(text: &str, target: usize) -> Vec<Window> {
        let mut windows = Windows::open(
            CsvInput::Bytes {
                name: "in.csv".into(),
                bytes: text.as_bytes().to_vec(),
            },
            MIN_WINDOW_BYTES,
        )
        .unwrap();
        windows.target = target;
        let mut all = Vec::new();
        while let Some(w) = windows.next_window().unwrap() {
            all.push(w);
        }
        all
    }

    #[test]
    fn windows_hold_whole_records_each_under_the_header() {
        let text = "a,b\n1,\"x\ny\"\n2,z\n3,w\n";
        let windows = windows_of(text, 6);
        let bodies: Vec<String> = windows
            .iter()
            .map(|w| String::from_utf8(w.bytes.clone()).unwrap())
            .collect();
        assert_eq!(bodies, ["a,b\n1,\"x\ny\"\n", "a,b\n2,z\n", "a,b\n3,w\n"]);
        // Line 2 of the second window is line 4 of the file.
        assert_eq!(windows[1].line_shift + 2, 4);
        assert_eq!(windows[2].line_shift + 2, 5);
        assert!(windows[0].first && !windows[1].first);
    }

    #[test]
    fn an_error_in_a_later_window_names_the_files_line() {
        let windows = windows_of("a\n1\n2\n3\n", 2);
        let error = InputError::at("in.csv", Some(2), Some(1), "bad");
        assert_eq!(
            windows[2].locate(error).to_string(),
            "in.csv:4:1: bad; hint: "
        );
    }

    #[test]
    fn a_file_without_records_still_gives_its_header() {
        let windows = windows_of("a,b", 8);
        assert_eq!(windows.len(), 1);
        assert_eq!(windows[0].bytes, b"a,b");
    }

    #[test]
    fn a_part_holds_the_records_of_its_runs_under_the_header() {
        let mut text = String::from("a,b\n");
        for r in 0..40_000 {
            text.push_str(&format!("{r},{}\n", r * 3));
        }
        text.push_str("40000,120000");
        let window = Window {
            bytes: text.into_bytes(),
            line_shift: 0,
            first_record_line: 2,
            first: true,
            records_start: 4,
            breaks: 40_000,
        };
        assert_eq!(window.plain_records(), Some(40_001));
        let part = window.part(&[0..2, 7_000..7_003, 39_999..40_001]);
        assert_eq!(
            String::from_utf8(part.bytes).unwrap(),
            "a,b\n0,0\n1,3\n7000,21000\n7001,21003\n7002,21006\n39999,119997\n40000,120000\n"
        );
        assert_eq!(windows_of("a\n1\n\n2\n", 1 << 30)[0].plain_records(), None);
    }

    #[test]
    fn the_last_record_may_lack_a_line_break() {
        let windows = windows_of("a\n1\n2", 2);
        let last = windows.last().unwrap();
        assert_eq!(last.bytes, b"a\n2");
    }
}

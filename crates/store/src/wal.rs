//! WAL records (docs/FORMAT.md "wal/"): `[u32 len | END_OF_BATCH][u32 crc32c][payload]`.

use crate::error::{Result, StoreError};
use crate::segment::Segment;

/// Bytes before each payload.
pub const RECORD_OVERHEAD: usize = 8;
/// Set on the last record of every appended batch.
pub const END_OF_BATCH: u32 = 1 << 31;
/// Largest payload (the C2SP entry-bundle limit).
pub const MAX_PAYLOAD: usize = 65_535;

/// Appends the record for `payload` to `out`.
///
/// # Panics
/// If the payload exceeds [`MAX_PAYLOAD`] (callers validate first).
pub fn encode_record(payload: &[u8], end_of_batch: bool, out: &mut Vec<u8>) {
    assert!(
        payload.len() <= MAX_PAYLOAD,
        "WAL payload over 65,535 bytes"
    );
    let word = payload.len() as u32 | if end_of_batch { END_OF_BATCH } else { 0 };
    let wb = word.to_le_bytes();
    let crc = crc32c::crc32c_append(crc32c::crc32c(&wb), payload);
    out.extend_from_slice(&wb);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(payload);
}

/// Fills in the header (length word and CRC) of a record whose payload
/// follows `RECORD_OVERHEAD` reserved bytes and runs to the end of `record`.
pub fn fill_header(record: &mut [u8], end_of_batch: bool) {
    let payload_len = record.len() - RECORD_OVERHEAD;
    assert!(payload_len <= MAX_PAYLOAD, "WAL payload over 65,535 bytes");
    let word = payload_len as u32 | if end_of_batch { END_OF_BATCH } else { 0 };
    let wb = word.to_le_bytes();
    let crc = crc32c::crc32c_append(crc32c::crc32c(&wb), &record[RECORD_OVERHEAD..]);
    record[0..4].copy_from_slice(&wb);
    record[4..8].copy_from_slice(&crc.to_le_bytes());
}

/// Sets or clears `END_OF_BATCH` on an encoded record (its CRC covers the
/// header word, so it is recomputed).
pub fn set_end_of_batch(record: &mut [u8], end: bool) {
    let mut word = u32::from_le_bytes(record[0..4].try_into().expect("4 bytes"));
    word = if end {
        word | END_OF_BATCH
    } else {
        word & !END_OF_BATCH
    };
    record[0..4].copy_from_slice(&word.to_le_bytes());
    let crc = crc32c::crc32c_append(crc32c::crc32c(&record[0..4]), &record[RECORD_OVERHEAD..]);
    record[4..8].copy_from_slice(&crc.to_le_bytes());
}

/// One decoded record.
#[derive(Debug, Clone)]
pub struct Record {
    /// Offset of the record in its segment.
    pub offset: u64,
    /// Whether it ends a batch.
    pub end_of_batch: bool,
    /// The entry bytes.
    pub payload: Vec<u8>,
}

/// Why a record could not be read (recovery decides if that is a torn tail).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bad {
    /// Fewer bytes remain than a header or the declared payload.
    Truncated,
    /// The length is above the maximum.
    BadLength(u32),
    /// The checksum does not match.
    BadChecksum,
}

impl Bad {
    /// Human-readable reason.
    pub fn reason(&self) -> String {
        match self {
            Bad::Truncated => "record runs past the end of the data".into(),
            Bad::BadLength(n) => format!("record length {n} exceeds 65,535"),
            Bad::BadChecksum => "record checksum mismatch".into(),
        }
    }
}

/// Reads records sequentially from a segment with a large buffer.
pub struct Scanner<'a> {
    seg: &'a Segment,
    end: u64,
    buf: Vec<u8>,
    buf_off: u64,
    pos: u64,
    /// Bytes the next refill reads: starts small (a short read of a few
    /// entries stays cheap) and doubles up to [`SCAN_BUF`] for long scans.
    window: usize,
}

const SCAN_BUF: usize = 4 << 20;
const FIRST_WINDOW: usize = 64 << 10;

impl<'a> Scanner<'a> {
    /// Scans `seg` from byte `from` up to byte `end`.
    pub fn new(seg: &'a Segment, from: u64, end: u64) -> Scanner<'a> {
        Scanner {
            seg,
            end,
            buf: Vec::new(),
            buf_off: from,
            pos: from,
            window: FIRST_WINDOW,
        }
    }

    /// Current position (the offset of the next record).
    pub fn position(&self) -> u64 {
        self.pos
    }

    fn ensure(&mut self, need: usize) -> Result<bool> {
        let have_end = self.buf_off + self.buf.len() as u64;
        if self.pos + need as u64 <= have_end {
            return Ok(true);
        }
        if self.pos + need as u64 > self.end {
            return Ok(false);
        }
        let want = (need.max(self.window) as u64).min(self.end - self.pos) as usize;
        self.window = (self.window * 2).min(SCAN_BUF);
        self.buf.resize(want, 0);
        self.seg.read_at(&mut self.buf, self.pos)?;
        self.buf_off = self.pos;
        Ok(true)
    }

    /// The next record, `Ok(None)` at the end, or `Err(Ok(bad))` for a record
    /// that does not decode (positioned at its start).
    ///
    /// # Errors
    /// The outer `Err` is an I/O error.
    pub fn next_record(&mut self) -> Result<Option<std::result::Result<Record, Bad>>> {
        if self.pos >= self.end {
            return Ok(None);
        }
        if !self.ensure(RECORD_OVERHEAD)? {
            return Ok(Some(Err(Bad::Truncated)));
        }
        let i = (self.pos - self.buf_off) as usize;
        let word = u32::from_le_bytes(self.buf[i..i + 4].try_into().expect("4 bytes"));
        let crc = u32::from_le_bytes(self.buf[i + 4..i + 8].try_into().expect("4 bytes"));
        let len = (word & !END_OF_BATCH) as usize;
        if len > MAX_PAYLOAD {
            return Ok(Some(Err(Bad::BadLength(word & !END_OF_BATCH))));
        }
        if !self.ensure(RECORD_OVERHEAD + len)? {
            return Ok(Some(Err(Bad::Truncated)));
        }
        let i = (self.pos - self.buf_off) as usize;
        let payload = &self.buf[i + RECORD_OVERHEAD..i + RECORD_OVERHEAD + len];
        if crc32c::crc32c_append(crc32c::crc32c(&word.to_le_bytes()), payload) != crc {
            return Ok(Some(Err(Bad::BadChecksum)));
        }
        let rec = Record {
            offset: self.pos,
            end_of_batch: word & END_OF_BATCH != 0,
            payload: payload.to_vec(),
        };
        self.pos += (RECORD_OVERHEAD + len) as u64;
        Ok(Some(Ok(rec)))
    }

    /// Like [`Scanner::next_record`] but a bad record is `Corrupted`.
    ///
    /// # Errors
    /// `Corrupted` with file and offset; I/O errors.
    pub fn next_strict(&mut self) -> Result<Option<Record>> {
        match self.next_record()? {
            None => Ok(None),
            Some(Ok(r)) => Ok(Some(r)),
            Some(Err(bad)) => Err(StoreError::corrupted(
                &self.seg.path,
                self.pos,
                bad.reason(),
            )),
        }
    }
}

/// Where one record sits in a buffer (see [`frame`]).
#[derive(Clone, Copy, Debug)]
pub struct Span {
    /// Offset of the record header in the buffer.
    pub at: usize,
    /// Payload length.
    pub len: usize,
    /// `END_OF_BATCH` is set.
    pub end_of_batch: bool,
}

impl Span {
    /// The payload within `buf`.
    pub fn payload<'b>(&self, buf: &'b [u8]) -> &'b [u8] {
        &buf[self.at + RECORD_OVERHEAD..self.at + RECORD_OVERHEAD + self.len]
    }

    /// Whether the stored CRC matches.
    pub fn crc_ok(&self, buf: &[u8]) -> bool {
        let h = &buf[self.at..self.at + RECORD_OVERHEAD];
        let crc = u32::from_le_bytes(h[4..8].try_into().expect("4"));
        crc32c::crc32c_append(crc32c::crc32c(&h[0..4]), self.payload(buf)) == crc
    }
}

/// Finds record boundaries in `buf` from its headers alone (no checksums):
/// returns the spans of complete records and the bytes they take. A record
/// that does not fit is left for the next buffer; a bad length stops framing
/// (the caller reports it).
pub fn frame(buf: &[u8], spans: &mut Vec<Span>) -> (usize, Option<Bad>) {
    let mut pos = 0;
    while buf.len() - pos >= RECORD_OVERHEAD {
        let word = u32::from_le_bytes(buf[pos..pos + 4].try_into().expect("4"));
        let len = (word & !END_OF_BATCH) as usize;
        if len > MAX_PAYLOAD {
            return (pos, Some(Bad::BadLength(word & !END_OF_BATCH)));
        }
        if buf.len() - pos < RECORD_OVERHEAD + len {
            break;
        }
        spans.push(Span {
            at: pos,
            len,
            end_of_batch: word & END_OF_BATCH != 0,
        });
        pos += RECORD_OVERHEAD + len;
    }
    (pos, None)
}

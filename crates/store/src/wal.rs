//! WAL records (docs/FORMAT.md "wal/"): `[u32 len | END_OF_BATCH][u32 crc32c][payload]`:
//! encoding a batch ([`PreparedBatch`], off the sequencer, in the caller's
//! thread), and reading records back ([`Scanner`], [`frame`]).

use veritrail_core::hash::Hash;

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

/// A batch made ready off the sequencer: encoded WAL records and leaf hashes.
pub struct PreparedBatch {
    pub(crate) records: Vec<u8>,
    pub(crate) starts: Vec<u32>,
    pub(crate) leaf_hashes: Vec<Hash>,
}

impl PreparedBatch {
    /// Encodes entries (canonical event bytes) and hashes them. This is the
    /// expensive part of an append and runs in the caller's thread.
    ///
    /// # Errors
    /// `BadBatch` for an empty batch or an entry over 65,535 bytes (naming it).
    pub fn new<E: AsRef<[u8]> + Sync>(entries: &[E]) -> Result<PreparedBatch> {
        if entries.is_empty() {
            return Err(StoreError::BadBatch("empty batch".into()));
        }
        let total: usize = entries
            .iter()
            .map(|e| e.as_ref().len() + RECORD_OVERHEAD)
            .sum();
        let mut records = Vec::with_capacity(total);
        let mut starts = Vec::with_capacity(entries.len());
        for (i, e) in entries.iter().enumerate() {
            let e = e.as_ref();
            if e.len() > MAX_PAYLOAD {
                return Err(StoreError::BadBatch(format!(
                    "entry {i} is {} bytes; at most 65,535 are allowed",
                    e.len()
                )));
            }
            starts.push(records.len() as u32);
            encode_record(e, false, &mut records);
        }
        let last = *starts.last().expect("non-empty") as usize;
        set_end_of_batch(&mut records[last..], true);
        let leaf_hashes = veritrail_core::compact::hash_leaves(entries);
        Ok(PreparedBatch {
            records,
            starts,
            leaf_hashes,
        })
    }

    /// An empty batch to fill with [`PreparedBatch::push`] (capacity hints:
    /// entries and total entry bytes).
    pub fn builder(entries: usize, bytes: usize) -> PreparedBatch {
        PreparedBatch {
            records: Vec::with_capacity(bytes + entries * RECORD_OVERHEAD),
            starts: Vec::with_capacity(entries),
            leaf_hashes: Vec::with_capacity(entries),
        }
    }

    /// Adds one entry: encodes its WAL record and hashes it.
    ///
    /// # Errors
    /// `BadBatch` for an entry over 65,535 bytes.
    pub fn push(&mut self, entry: &[u8]) -> Result<()> {
        if entry.len() > MAX_PAYLOAD {
            return Err(StoreError::BadBatch(format!(
                "entry {} is {} bytes; at most 65,535 are allowed",
                self.starts.len(),
                entry.len()
            )));
        }
        // Entries added by push_with are hashed first, to keep the order.
        self.hash_pending();
        self.starts.push(self.records.len() as u32);
        encode_record(entry, false, &mut self.records);
        self.leaf_hashes.push(veritrail_core::leaf_hash(entry));
        Ok(())
    }

    /// Adds one entry that `write` appends straight into the batch's record
    /// buffer (no copy of the entry). Its leaf hash is computed by
    /// [`PreparedBatch::finish`], so a caller can validate many entries now
    /// and hash them later. If `write` fails, the batch is left as it was.
    ///
    /// # Errors
    /// The outer `BadBatch` if `write` appended more than 65,535 bytes (the
    /// entry is dropped); the inner error is `write`'s own.
    pub fn push_with<E>(
        &mut self,
        write: impl FnOnce(&mut Vec<u8>) -> std::result::Result<(), E>,
    ) -> Result<std::result::Result<(), E>> {
        let start = self.records.len();
        self.records.extend_from_slice(&[0; RECORD_OVERHEAD]);
        if let Err(e) = write(&mut self.records) {
            self.records.truncate(start);
            return Ok(Err(e));
        }
        let len = self.records.len() - start - RECORD_OVERHEAD;
        if len > MAX_PAYLOAD {
            self.records.truncate(start);
            return Err(StoreError::BadBatch(format!(
                "entry {} is {len} bytes; at most 65,535 are allowed",
                self.starts.len()
            )));
        }
        fill_header(&mut self.records[start..], false);
        self.starts.push(start as u32);
        Ok(Ok(()))
    }

    /// Appends the entries of `other` (an unfinished batch built the same
    /// way, e.g. on another core) after this one's, in order.
    pub fn extend(&mut self, mut other: PreparedBatch) {
        // The hashes cover a prefix of the entries; `other`'s continue it
        // only if all of this one's are done (else `finish` hashes them).
        if self.leaf_hashes.len() < self.starts.len() {
            other.leaf_hashes.clear();
        }
        let base = self.records.len() as u32;
        self.records.extend_from_slice(&other.records);
        self.starts.extend(other.starts.iter().map(|s| s + base));
        self.leaf_hashes.append(&mut other.leaf_hashes);
    }

    /// Marks the end of the batch and hashes, on all cores, the entries added
    /// by [`PreparedBatch::push_with`]; call after the last push.
    ///
    /// # Errors
    /// `BadBatch` if the batch is empty.
    pub fn finish(mut self) -> Result<PreparedBatch> {
        let Some(&last) = self.starts.last() else {
            return Err(StoreError::BadBatch("empty batch".into()));
        };
        set_end_of_batch(&mut self.records[last as usize..], true);
        self.hash_pending();
        Ok(self)
    }

    /// Hashes, on all cores, the entries added by `push_with` and not hashed yet.
    fn hash_pending(&mut self) {
        let hashed = self.leaf_hashes.len();
        if hashed == self.starts.len() {
            return;
        }
        let (records, starts) = (&self.records, &self.starts);
        let payloads: Vec<&[u8]> = (hashed..starts.len())
            .map(|k| {
                let from = starts[k] as usize + RECORD_OVERHEAD;
                let to = starts.get(k + 1).map_or(records.len(), |&s| s as usize);
                &records[from..to]
            })
            .collect();
        let mut rest = veritrail_core::compact::hash_leaves(&payloads);
        self.leaf_hashes.append(&mut rest);
    }

    /// Whether [`PreparedBatch::finish`] completed it: every entry hashed
    /// and the last record marked `END_OF_BATCH`.
    pub(crate) fn is_finished(&self) -> bool {
        self.starts.last().is_some_and(|&last| {
            let word = &self.records[last as usize..last as usize + 4];
            self.leaf_hashes.len() == self.starts.len()
                && u32::from_le_bytes(word.try_into().expect("4 bytes")) & END_OF_BATCH != 0
        })
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// Whether the batch is empty (never, once built).
    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// Encoded size.
    pub fn bytes(&self) -> usize {
        self.records.len()
    }

    /// The leaf hashes of the entries hashed so far (all, once finished).
    pub fn leaf_hashes(&self) -> &[Hash] {
        &self.leaf_hashes
    }

    /// The encoded WAL records.
    pub fn records(&self) -> &[u8] {
        &self.records
    }
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

/// Whether `tail` — the bytes of the live WAL segment from the first record
/// that does not decode to the end of the file — is what a crash leaves: a
/// record cut short (its header or payload runs past the end, or its last
/// byte and everything after it were never written and read as zeros), or
/// nothing but zeros. A complete record that fails its checksum is damage,
/// never a torn tail: recovery refuses it (the journald lesson,
/// CVE-2023-31438/31439: truncate-and-continue hides tampering).
pub fn crash_shaped(tail: &[u8]) -> bool {
    if tail.len() < RECORD_OVERHEAD {
        return true;
    }
    let word = u32::from_le_bytes(tail[0..4].try_into().expect("4 bytes"));
    let len = (word & !END_OF_BATCH) as usize;
    let last_nonzero = crate::segment::last_nonzero(tail);
    if len > MAX_PAYLOAD {
        // A length no writer writes, and zeros do not make.
        return last_nonzero.is_none();
    }
    if RECORD_OVERHEAD + len > tail.len() {
        return true;
    }
    // Complete on disk: torn only if its last byte (a payload always ends
    // with `}`) and all after it are zero — written, but not made durable.
    match last_nonzero {
        None => true,
        Some(z) => z + 1 < RECORD_OVERHEAD + len,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn entries() -> Vec<Vec<u8>> {
        (0..1000u32)
            .map(|i| {
                format!("{{\"n\":{i},\"pad\":\"{}\"}}", "x".repeat(i as usize % 300)).into_bytes()
            })
            .collect()
    }

    fn parts(b: &PreparedBatch) -> (&[u8], &[u32], &[Hash]) {
        (&b.records, &b.starts, &b.leaf_hashes)
    }

    /// Every way of building a batch gives the same records and leaf hashes.
    #[test]
    fn batches_built_apart_and_extended_are_the_batch_built_at_once() {
        let entries: Vec<Vec<u8>> = (0..10).map(|i| format!("entry {i}").into_bytes()).collect();
        let whole = PreparedBatch::new(&entries).unwrap();
        let part = |r: std::ops::Range<usize>, hashed: bool| {
            let mut b = PreparedBatch::builder(4, 64);
            for e in &entries[r] {
                if hashed {
                    b.push(e).unwrap();
                } else {
                    b.push_with(|out| {
                        out.extend_from_slice(e);
                        Ok::<(), ()>(())
                    })
                    .unwrap()
                    .unwrap();
                }
            }
            b
        };
        for (h1, h2, h3) in [
            (false, false, false),
            (true, false, true),
            (true, true, false),
            (false, true, true),
        ] {
            let mut b = part(0..3, h1);
            b.extend(part(3..7, h2));
            b.extend(part(7..10, h3));
            let b = b.finish().unwrap();
            assert_eq!(
                (&b.records, &b.starts, &b.leaf_hashes),
                (&whole.records, &whole.starts, &whole.leaf_hashes),
                "{h1} {h2} {h3}"
            );
        }
    }

    #[test]
    fn push_with_and_finish_build_the_same_batch_as_new() {
        let es = entries();
        let reference = PreparedBatch::new(&es).unwrap();

        let mut pushed = PreparedBatch::builder(10, 10);
        for e in &es {
            pushed.push(e).unwrap();
        }
        let pushed = pushed.finish().unwrap();
        assert_eq!(parts(&pushed), parts(&reference));

        let mut written = PreparedBatch::builder(10, 10);
        for (i, e) in es.iter().enumerate() {
            // Failed writes in between leave no trace.
            if i % 7 == 0 {
                let r = written.push_with(|out| {
                    out.extend_from_slice(b"half an entry");
                    Err("refused")
                });
                assert_eq!(r.unwrap(), Err("refused"));
            }
            written
                .push_with(|out| {
                    out.extend_from_slice(e);
                    Ok::<(), ()>(())
                })
                .unwrap()
                .unwrap();
        }
        assert_eq!(written.len(), es.len());
        let written = written.finish().unwrap();
        assert_eq!(parts(&written), parts(&reference));

        // Mixed: push after push_with keeps leaf hashes in entry order.
        let mut mixed = PreparedBatch::builder(10, 10);
        for (i, e) in es.iter().enumerate() {
            if i % 3 == 0 {
                mixed.push(e).unwrap();
            } else {
                mixed
                    .push_with(|out| {
                        out.extend_from_slice(e);
                        Ok::<(), ()>(())
                    })
                    .unwrap()
                    .unwrap();
            }
        }
        let mixed = mixed.finish().unwrap();
        assert_eq!(parts(&mixed), parts(&reference));
    }

    #[test]
    fn push_with_refuses_an_oversized_entry_and_keeps_the_batch() {
        let mut b = PreparedBatch::builder(1, 10);
        b.push(b"first").unwrap();
        let before = b.records.clone();
        let r = b.push_with(|out| {
            out.extend(std::iter::repeat_n(b'x', MAX_PAYLOAD + 1));
            Ok::<(), ()>(())
        });
        assert!(matches!(r, Err(StoreError::BadBatch(_))));
        assert_eq!(b.records, before);
        assert_eq!(b.len(), 1);
        assert!(PreparedBatch::builder(1, 1).finish().is_err());
    }
}

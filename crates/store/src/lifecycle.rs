//! `lifecycle/`: when a log was opened for writing and when it was closed
//! cleanly (docs/FORMAT.md "lifecycle/"). After a clean close, every entry
//! is covered by the final checkpoint, and the record says how many entries
//! and checkpoints there were; so `verify` can tell a log that was closed
//! cleanly and then cut back (its newest checkpoint records removed) from a
//! log that crashed before its checkpoint.
//!
//! Records are 32 bytes: `[u8 event (1 open, 2 close)][7 zero bytes]
//! [u64 entries][u64 checkpoint records][u32 zero][u32 crc32c of the 28
//! bytes before]`, little-endian, each made durable before the log goes on.

use std::path::Path;

use crate::env::Env;
use crate::error::{Result, StoreError};
use crate::segment::{fixed_tail_is_torn, Kind, Stream, HEADER_LEN};

/// Bytes per record.
pub const RECORD: u64 = 32;
/// The directory under a log's.
pub const DIR: &str = "lifecycle";

/// What a record says happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// The log was opened for writing (after recovery).
    Open,
    /// The log was closed cleanly: every entry covered by its final checkpoint.
    Close,
}

/// One record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    /// What happened.
    pub event: Event,
    /// Entries in the WAL then.
    pub entries: u64,
    /// Records in the checkpoint history then.
    pub checkpoints: u64,
}

impl Record {
    /// The 32 bytes.
    pub fn encode(&self) -> [u8; RECORD as usize] {
        let mut b = [0u8; RECORD as usize];
        b[0] = match self.event {
            Event::Open => 1,
            Event::Close => 2,
        };
        b[8..16].copy_from_slice(&self.entries.to_le_bytes());
        b[16..24].copy_from_slice(&self.checkpoints.to_le_bytes());
        let crc = crc32c::crc32c(&b[..28]);
        b[28..32].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Parses 32 bytes; `None` when they are not a record.
    pub fn decode(b: &[u8]) -> Option<Record> {
        if b.len() != RECORD as usize
            || crc32c::crc32c(&b[..28]) != u32::from_le_bytes(b[28..32].try_into().ok()?)
            || b[1..8] != [0; 7]
            || b[24..28] != [0; 4]
        {
            return None;
        }
        let event = match b[0] {
            1 => Event::Open,
            2 => Event::Close,
            _ => return None,
        };
        let u = |r: std::ops::Range<usize>| u64::from_le_bytes(b[r].try_into().expect("8 bytes"));
        Some(Record {
            event,
            entries: u(8..16),
            checkpoints: u(16..24),
        })
    }
}

/// Opens the lifecycle stream of the log in `dir` for writing, creating it
/// for a log written before it existed, and recovering its tail (a record a
/// crash cut short is discarded like any torn tail; a complete bad one is
/// damage).
///
/// # Errors
/// `Corrupted`; I/O errors.
pub(crate) fn open_for_writing(env: &Env, dir: &Path) -> Result<Stream> {
    let sdir = dir.join(DIR);
    if !env.vfs.is_dir(&sdir) || crate::layout::unborn(env.vfs.as_ref(), &sdir)?.is_some() {
        if env.vfs.is_dir(&sdir) {
            let tmps = crate::layout::unborn(env.vfs.as_ref(), &sdir)?.unwrap_or_default();
            crate::layout::remove_leftovers(env.vfs.as_ref(), &tmps)?;
        }
        return Stream::create(env, &sdir, Kind::Lifecycle, 0, 0);
    }
    let s = Stream::open(env, &sdir, Kind::Lifecycle, 0)?;
    crate::layout::remove_leftovers(env.vfs.as_ref(), s.leftovers())?;
    let last = s.last();
    let len = last.file.len().map_err(|e| StoreError::io(&last.path, e))?;
    let good = records(&s)?.len() as u64;
    let Some(within) = good.checked_sub(last.header.start) else {
        return Err(StoreError::corrupted(
            &last.path,
            0,
            "a lifecycle record before the newest segment fails its check",
        ));
    };
    let good_end = HEADER_LEN + within * RECORD;
    if good_end < len {
        let mut tail = vec![0u8; (len - good_end) as usize];
        last.read_at(&mut tail, good_end)?;
        if !fixed_tail_is_torn(&tail, RECORD as usize) {
            return Err(StoreError::corrupted(
                &last.path,
                good_end,
                "a lifecycle record fails its check and is not what a crash leaves",
            ));
        }
        s.recover_end(good_end, good)?;
    }
    Ok(s)
}

/// Every record of the stream that decodes, from the first, stopping at the
/// first that does not.
///
/// # Errors
/// I/O errors.
pub fn records(s: &Stream) -> Result<Vec<Record>> {
    let mut out = Vec::new();
    for seg in s.segments() {
        let n = (seg.valid_end().saturating_sub(HEADER_LEN)) / RECORD;
        let mut buf = vec![0u8; (n * RECORD) as usize];
        seg.read_at(&mut buf, HEADER_LEN)?;
        for r in buf.chunks_exact(RECORD as usize) {
            match Record::decode(r) {
                Some(rec) => out.push(rec),
                None => return Ok(out),
            }
        }
    }
    Ok(out)
}

/// Appends `record` and makes it durable.
///
/// # Errors
/// I/O errors.
pub(crate) fn append(s: &Stream, record: Record) -> Result<()> {
    let next = s.record_count(RECORD);
    s.append(&record.encode(), next)?;
    s.sync()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_damage_is_refused() {
        let r = Record {
            event: Event::Close,
            entries: 12_345,
            checkpoints: 67,
        };
        let b = r.encode();
        assert_eq!(Record::decode(&b), Some(r));
        for i in 0..32 {
            let mut bad = b;
            bad[i] ^= 1;
            assert_eq!(Record::decode(&bad), None, "byte {i} flipped");
        }
    }
}

//! The checkpoint history (docs/FORMAT.md "checkpoints/"):
//! `[u32 n][u32 crc32c][note][u32 n]` per signed checkpoint.

use crate::error::{Result, StoreError};
use crate::segment::{Segment, Stream, HEADER_LEN};

/// Bytes of framing around each note.
pub const OVERHEAD: usize = 12;
/// Largest note accepted back from disk.
pub const MAX_NOTE: usize = 64 * 1024;

/// Frames a signed checkpoint note.
pub fn encode(note: &[u8]) -> Vec<u8> {
    let n = (note.len() as u32).to_le_bytes();
    let crc = crc32c::crc32c_append(crc32c::crc32c(&n), note);
    let mut out = Vec::with_capacity(note.len() + OVERHEAD);
    out.extend_from_slice(&n);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(note);
    out.extend_from_slice(&n);
    out
}

/// One checkpoint record found on disk.
#[derive(Clone, Debug)]
pub struct Stored {
    /// Offset in its segment.
    pub offset: u64,
    /// The note bytes.
    pub note: Vec<u8>,
}

/// Whether `tail` — the bytes of the newest checkpoint segment from the
/// first record that does not decode to the end of the file — is what a
/// crash leaves: a record cut short (it runs past the end, or its note's
/// last byte and everything after were never written and read as zeros), or
/// nothing but zeros. A complete record that fails its checksum is damage:
/// recovery refuses it rather than dropping evidence.
pub fn crash_shaped(tail: &[u8]) -> bool {
    let last_nonzero = crate::segment::last_nonzero(tail);
    if tail.len() < OVERHEAD {
        return true;
    }
    let n = u32::from_le_bytes(tail[0..4].try_into().expect("4 bytes")) as usize;
    if n > MAX_NOTE {
        return last_nonzero.is_none();
    }
    if OVERHEAD + n > tail.len() {
        return true;
    }
    // A note ends with a newline: a zero there was never written.
    match last_nonzero {
        None => true,
        Some(z) => n == 0 || z + 1 < 8 + n,
    }
}

/// Whether the bytes of `seg` from `at` to `end` are the beginning of a
/// checkpoint record cut short by `end` (as a record being written looks to
/// a reader), rather than a damaged one.
///
/// # Errors
/// I/O errors.
pub fn is_cut_record(seg: &Segment, at: u64, end: u64) -> Result<bool> {
    let left = end - at;
    if left < OVERHEAD as u64 {
        return Ok(true);
    }
    let mut w = [0u8; 4];
    seg.read_at(&mut w, at)?;
    let n = u32::from_le_bytes(w) as usize;
    Ok(n <= MAX_NOTE && left < (OVERHEAD + n) as u64)
}

/// Reads every record of a segment up to `end`. Returns the records and the
/// end of the last good one; `Err` at the first bad one when `strict`.
///
/// # Errors
/// `Corrupted` (strict) or I/O errors.
pub fn scan_segment(seg: &Segment, end: u64, strict: bool) -> Result<(Vec<Stored>, u64)> {
    let len = (end - HEADER_LEN) as usize;
    let mut buf = vec![0u8; len];
    seg.read_at(&mut buf, HEADER_LEN)?;
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < len {
        let bad = |reason: &str| {
            StoreError::corrupted(
                &seg.path,
                HEADER_LEN + pos as u64,
                format!("checkpoint record: {reason}"),
            )
        };
        if len - pos < OVERHEAD {
            if strict {
                return Err(bad("truncated"));
            }
            break;
        }
        let n = u32::from_le_bytes(buf[pos..pos + 4].try_into().expect("4")) as usize;
        if n > MAX_NOTE || len - pos < OVERHEAD + n {
            if strict {
                return Err(bad("length out of range"));
            }
            break;
        }
        let crc = u32::from_le_bytes(buf[pos + 4..pos + 8].try_into().expect("4"));
        let note = &buf[pos + 8..pos + 8 + n];
        let trailer =
            u32::from_le_bytes(buf[pos + 8 + n..pos + 12 + n].try_into().expect("4")) as usize;
        if crc32c::crc32c_append(crc32c::crc32c(&buf[pos..pos + 4]), note) != crc || trailer != n {
            if strict {
                return Err(bad("checksum mismatch"));
            }
            break;
        }
        out.push(Stored {
            offset: HEADER_LEN + pos as u64,
            note: note.to_vec(),
        });
        pos += OVERHEAD + n;
    }
    Ok((out, HEADER_LEN + pos as u64))
}

/// The first record of a segment, if it has one (read without scanning
/// the rest), and where it ends.
///
/// # Errors
/// I/O errors.
pub fn scan_first(seg: &Segment) -> Result<(Option<Stored>, u64)> {
    let end = seg.valid_end();
    if end < HEADER_LEN + OVERHEAD as u64 {
        return Ok((None, HEADER_LEN));
    }
    let mut n = [0u8; 4];
    seg.read_at(&mut n, HEADER_LEN)?;
    let n = u32::from_le_bytes(n) as u64;
    let rec_end = (HEADER_LEN + OVERHEAD as u64 + n).min(end);
    let (recs, good) = scan_segment(seg, rec_end, false)?;
    Ok((recs.into_iter().next(), good))
}

/// The newest checkpoint in the stream and the number of records, scanning
/// only the last non-empty segment (segments are small).
///
/// # Errors
/// I/O errors.
pub fn latest(stream: &Stream) -> Result<(Option<Stored>, u64)> {
    let segs = stream.segments();
    for seg in segs.iter().rev() {
        let (recs, _) = scan_segment(seg, seg.valid_end(), true)?;
        if let Some(last) = recs.last() {
            return Ok((Some(last.clone()), seg.header.start + recs.len() as u64));
        }
    }
    Ok((None, 0))
}

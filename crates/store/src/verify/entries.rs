//! The WAL's pass: every entry re-hashed (three stages at once: read,
//! frame and hash on all cores, fold), its leaf compared with hash/0 and
//! its offset with the index, every hash of the levels above recomputed,
//! and every checkpoint's root checked at its size.

use std::path::Path;

use rayon::prelude::*;
use veritrail_core::compact::{CompactRange, VecSink};
use veritrail_core::hash::{leaf_hashes_to, Hash};

use super::checkpoints::Found;
use super::{being_written, check_torn, VerifyReport, RECOVERY_HINT};
use crate::error::{Result, StoreError};
use crate::segment::{Stream, HEADER_LEN};
use crate::vfs::SCAN_ALIGN;

/// Bytes of WAL read at a time (a multiple of [`SCAN_ALIGN`]). Up to five
/// windows are in flight between the three stages; 4 MiB keeps a cold 10 M
/// entry verification as fast as 8 MiB did (within noise) at 66 MiB of RSS
/// instead of ~100.
const WINDOW: usize = 4 << 20;
/// Room in front of a window for the record cut by the previous window's
/// end: more than the largest record, aligned.
const CARRY_ROOM: usize =
    (crate::wal::RECORD_OVERHEAD + crate::wal::MAX_PAYLOAD).next_multiple_of(SCAN_ALIGN);

/// One framed window of a WAL segment.
#[derive(Default)]
struct Window {
    /// The window's bytes are `mem[start..stop]`: what the reader read (at
    /// an aligned address `CARRY_ROOM` into the aligned part of `mem`),
    /// preceded by the bytes carried over from the window before.
    mem: Vec<u8>,
    start: usize,
    stop: usize,
    /// WAL offset of `mem[start]`.
    pos: u64,
    spans: Vec<crate::wal::Span>,
    used: usize,
    bad: Option<crate::wal::Bad>,
    /// Leaf hash of every span.
    leaves: Vec<Hash>,
    /// First span whose record checksum is wrong.
    crc_bad: Option<usize>,
}

impl Window {
    /// Where the reader puts what it reads: an aligned offset into `mem`,
    /// allocated on first use.
    fn data_start(&mut self) -> usize {
        if self.mem.is_empty() {
            self.mem = vec![0; SCAN_ALIGN + CARRY_ROOM + WINDOW];
        }
        self.mem.as_ptr().align_offset(SCAN_ALIGN) + CARRY_ROOM
    }
}

/// What the entry fold checks against.
pub(super) struct Ctx<'a> {
    pub levels: &'a [std::sync::Arc<Stream>],
    pub index: &'a Stream,
    pub l0_count: u64,
    pub idx_count: u64,
    pub checkpoints: &'a [Found],
}

/// The running state of the entry fold.
pub(super) struct Fold {
    pub tree: CompactRange,
    pub next_cp: usize,
    pub n: u64,
    /// Reused for the hash/0 records of each run.
    stored: Vec<u8>,
}

/// Checks a run of consecutive entries (their leaf hashes and WAL offsets)
/// against hash/0, the index, the higher levels and the checkpoints.
pub(super) fn fold(
    ctx: &Ctx<'_>,
    st: &mut Fold,
    leaves: &[Hash],
    offsets: &[u64],
    path: &Path,
) -> Result<()> {
    if leaves.is_empty() {
        return Ok(());
    }
    let first = st.n;
    let have0 = ctx.l0_count.saturating_sub(first).min(leaves.len() as u64);
    if have0 > 0 {
        ctx.levels[0].read_records_into(first, have0, 32, &mut st.stored)?;
        let stored = &st.stored;
        if let Some(k) = (0..have0 as usize).find(|&k| stored[k * 32..k * 32 + 32] != leaves[k].0) {
            let i = first + k as u64;
            return Err(StoreError::corrupted(
                path,
                offsets[k],
                format!("entry {i}: its bytes do not hash to the leaf hash stored in hash/0 (record {i})"),
            ));
        }
    }
    for (k, off) in offsets.iter().enumerate() {
        let i = first + k as u64;
        if i % 256 == 0 && i / 256 < ctx.idx_count {
            let rec = ctx.index.read_records(i / 256, 1, 8)?;
            if u64::from_le_bytes(rec[..8].try_into().expect("8")) != *off {
                return Err(StoreError::corrupted(
                    ctx.index.dir(),
                    HEADER_LEN + (i / 256) * 8,
                    format!(
                        "index record {} does not point at entry {i} ({}:{off})",
                        i / 256,
                        path.display()
                    ),
                ));
            }
        }
    }
    // Fold, splitting at checkpoint sizes so each root can be checked.
    let mut pos = 0usize;
    while pos < leaves.len() {
        while st.next_cp < ctx.checkpoints.len()
            && ctx.checkpoints[st.next_cp].size == st.tree.size().0
        {
            super::check_cp(&ctx.checkpoints[st.next_cp], &st.tree)?;
            st.next_cp += 1;
        }
        let stop = if st.next_cp < ctx.checkpoints.len() {
            ((ctx.checkpoints[st.next_cp].size - st.tree.size().0) as usize).min(leaves.len() - pos)
        } else {
            leaves.len() - pos
        };
        // Levels 8, 16, … only: level 0 was compared above.
        let mut sink = VecSink::new(&[8, 16, 24, 32, 40, 48, 56]);
        st.tree.extend(&leaves[pos..pos + stop], &mut sink);
        for (id, h) in &sink.nodes {
            let l = (id.level / 8) as usize;
            let Some(s) = ctx.levels.get(l) else { continue };
            if id.index < s.record_count(32) {
                let stored = s.read_records(id.index, 1, 32)?;
                if stored[..] != h.0 {
                    return Err(StoreError::corrupted(
                        s.dir(),
                        HEADER_LEN + id.index * 32,
                        format!(
                            "hash level {l} record {} is not the hash of the entries below it",
                            id.index
                        ),
                    ));
                }
            }
        }
        pos += stop;
    }
    st.n += leaves.len() as u64;
    Ok(())
}

/// Folds every entry of `wal` into a tree, checking it against `ctx` and
/// `report.checkpoint_size`; returns the fold's end state (entries counted,
/// checkpoints checked so far).
///
/// # Errors
/// `Corrupted` naming the first bad entry; I/O errors.
pub(super) fn pass(
    wal: &Stream,
    ctx: &Ctx<'_>,
    report: &mut VerifyReport,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Fold> {
    let total_hint = report.checkpoint_size.max(1);
    let mut st = Fold {
        tree: CompactRange::new(),
        next_cp: 0,
        n: 0,
        stored: Vec::new(),
    };
    let wal_segs = wal.segments();
    // Window buffers outlive each segment's reader thread: memory stays flat
    // however many segments the log has.
    let mut pool: Vec<Window> = Vec::new();
    let mut offsets: Vec<u64> = Vec::new();
    for (si, seg) in wal_segs.iter().enumerate() {
        let last = si + 1 == wal_segs.len();
        if seg.header.start != st.n {
            return Err(StoreError::corrupted(
                &seg.path,
                8,
                format!(
                    "segment starts at entry {} but the log has {} entries before it",
                    seg.header.start, st.n
                ),
            ));
        }
        let file_len = seg.file.len().map_err(|e| StoreError::io(&seg.path, e))?;
        let end = if last { file_len } else { seg.valid_end() };
        if !last && end < file_len {
            check_torn(&seg.path, end, file_len)?;
            report.torn_tails.push((seg.path.clone(), file_len - end));
        }
        let hint = |at: u64| {
            if last && at >= report.checkpoint_size {
                RECOVERY_HINT
            } else {
                ""
            }
        };
        let mut batch_end = HEADER_LEN;
        let mut open_batch = 0usize;
        // Bytes at the end that a running writer had not finished writing.
        let mut cut = 0u64;
        // Three stages run at once: a reader thread streams the segment in
        // large aligned windows; a framing thread finds the records of each
        // (the record cut by the window's end is carried into the next) and
        // checksums and leaf-hashes them on all cores; this thread folds the
        // previous window into the tree. Buffers go back to the reader for
        // reuse. Every record's CRC is checked, also where hash/0 covers the
        // entry: the CRC also covers the header word (length and
        // END_OF_BATCH), which no hash does.
        let (read_tx, read_rx) = std::sync::mpsc::sync_channel::<Result<Window>>(1);
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Window>>(1);
        let (back_tx, back_rx) = std::sync::mpsc::channel::<Window>();
        for w in pool.drain(..) {
            let _ = back_tx.send(w);
        }
        std::thread::scope(|scope| -> Result<()> {
            let reader = scope.spawn(move || {
                let mut off = HEADER_LEN / SCAN_ALIGN as u64 * SCAN_ALIGN as u64;
                while off < end {
                    let mut w = back_rx.try_recv().unwrap_or_default();
                    let want = (WINDOW as u64).min(end - off) as usize;
                    let data = w.data_start();
                    let read = want.next_multiple_of(SCAN_ALIGN);
                    match seg.file.scan_at(&mut w.mem[data..data + read], off) {
                        Ok(n) if n >= want => {}
                        r => {
                            let e = r.err().unwrap_or_else(|| {
                                std::io::Error::new(
                                    std::io::ErrorKind::UnexpectedEof,
                                    "the segment ended before the bytes it holds were read",
                                )
                            });
                            let _ = read_tx.send(Err(StoreError::io(&seg.path, e)));
                            return back_rx;
                        }
                    }
                    (w.start, w.stop, w.pos) = (data, data + want, off);
                    off += want as u64;
                    if read_tx.send(Ok(w)).is_err() {
                        return back_rx;
                    }
                }
                back_rx
            });
            scope.spawn(move || {
                // The end of the previous window that holds no whole record.
                let mut carry: Vec<u8> = Vec::new();
                for w in read_rx {
                    let mut w = match w {
                        Ok(w) => w,
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            return;
                        }
                    };
                    if w.pos < HEADER_LEN {
                        w.start += (HEADER_LEN - w.pos) as usize;
                        w.pos = HEADER_LEN;
                    }
                    // Room for any record: frame() leaves less than one behind.
                    debug_assert!(carry.len() <= CARRY_ROOM);
                    w.start -= carry.len();
                    w.pos -= carry.len() as u64;
                    w.mem[w.start..w.start + carry.len()].copy_from_slice(&carry);
                    let buf = &w.mem[w.start..w.stop];
                    w.spans.clear();
                    (w.used, w.bad) = crate::wal::frame(buf, &mut w.spans);
                    carry.clear();
                    carry.extend_from_slice(&buf[w.used..]);
                    let first_bad = std::sync::atomic::AtomicUsize::new(usize::MAX);
                    // CRCs checked and leaves hashed (two at a time,
                    // `leaf_hashes_to`), a part per task on all cores, into
                    // the window's reused vector.
                    const PART: usize = 1024;
                    w.leaves.clear();
                    w.leaves.resize(w.spans.len(), Hash::default());
                    w.leaves
                        .par_chunks_mut(PART)
                        .zip(w.spans.par_chunks(PART))
                        .enumerate()
                        .for_each(|(c, (out, part))| {
                            if let Some(k) = part.iter().position(|s| !s.crc_ok(buf)) {
                                first_bad
                                    .fetch_min(c * PART + k, std::sync::atomic::Ordering::Relaxed);
                            }
                            let payloads: Vec<&[u8]> =
                                part.iter().map(|s| s.payload(buf)).collect();
                            leaf_hashes_to(&payloads, out);
                        });
                    w.crc_bad = Some(first_bad.into_inner()).filter(|&k| k != usize::MAX);
                    if w.spans.is_empty() && w.bad.is_none() {
                        // Only at the end: all of it is carried.
                        continue;
                    }
                    let stop = w.bad.is_some();
                    if tx.send(Ok(w)).is_err() || stop {
                        return;
                    }
                }
                if !carry.is_empty() {
                    // What remains is not one whole record: it runs past the end.
                    let _ = tx.send(Ok(Window {
                        pos: end - carry.len() as u64,
                        ..Window::default()
                    }));
                }
            });
            for w in rx {
                let w = w?;
                let (spans, pos) = (&w.spans, w.pos);
                // Entries before a bad checksum are checked first, so the
                // first damage in log order is the one reported.
                let upto = w.crc_bad.unwrap_or(spans.len());
                offsets.clear();
                offsets.extend(spans[..upto].iter().map(|s| pos + s.at as u64));
                for s in &spans[..upto] {
                    if s.end_of_batch {
                        open_batch = 0;
                        batch_end = pos + (s.at + crate::wal::RECORD_OVERHEAD + s.len) as u64;
                    } else {
                        open_batch += 1;
                    }
                }
                fold(ctx, &mut st, &w.leaves[..upto], &offsets, &seg.path)?;
                progress(st.n, total_hint);
                if let Some(k) = w.crc_bad {
                    let at = st.n;
                    return Err(StoreError::corrupted(
                        &seg.path,
                        pos + spans[k].at as u64,
                        format!(
                            "entry {at}: {}{}",
                            crate::wal::Bad::BadChecksum.reason(),
                            hint(at)
                        ),
                    ));
                }
                if let Some(b) = w.bad {
                    let at = st.n;
                    return Err(StoreError::corrupted(
                        &seg.path,
                        pos + w.used as u64,
                        format!("entry {at}: {}{}", b.reason(), hint(at)),
                    ));
                }
                if w.used == 0 {
                    // Not even one record fits in what remains: it runs past
                    // the end. A running writer may be writing it right now.
                    if last && st.n >= report.checkpoint_size && being_written(seg, end) {
                        cut = end - pos;
                        continue;
                    }
                    let at = st.n;
                    return Err(StoreError::corrupted(
                        &seg.path,
                        pos,
                        format!(
                            "entry {at}: {}{}",
                            crate::wal::Bad::Truncated.reason(),
                            hint(at)
                        ),
                    ));
                }
                let _ = back_tx.send(w);
            }
            drop(back_tx);
            let back_rx = reader.join().expect("WAL reader thread panicked");
            pool.extend(back_rx.try_iter());
            Ok(())
        })?;
        if open_batch > 0
            && last
            && st.n - open_batch as u64 >= report.checkpoint_size
            && (cut > 0 || being_written(seg, end))
        {
            // The rest of this group is being written: not acknowledged yet,
            // so not part of what is verified.
            st.n -= open_batch as u64;
            cut = end - batch_end;
            open_batch = 0;
        }
        report.in_flight += cut;
        if open_batch > 0 {
            let at = st.n - open_batch as u64;
            return Err(StoreError::corrupted(
                &seg.path,
                batch_end,
                format!(
                    "entries from {at} on form a batch that never completed{}",
                    if last { RECOVERY_HINT } else { "" }
                ),
            ));
        }
    }
    Ok(st)
}

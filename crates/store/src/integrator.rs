//! The integrator: folds durable entries into the tree, appends the hash
//! levels and the sparse index, fsyncs them, then signs and records a
//! checkpoint. It runs off the ack path, at most `checkpoint_interval` after
//! new entries (sooner when a receipt is waiting), and once more on close.
//! Recovery calls the same [`integrate`] function.

use std::sync::Arc;
use std::time::{Duration, Instant};

use veritrail_core::checkpoint::{Checkpoint, Origin};
use veritrail_core::compact::{CompactRange, VecSink};
use veritrail_core::hash::Hash;
use veritrail_core::tree::TreeSize;

use crate::error::{Result, StoreError};
use crate::segment::Stream;
use crate::state::{Published, Shared};

pub(crate) fn run(shared: &Shared) {
    let mut tree = match crate::read::tree_at(shared, shared.published().size) {
        Ok(t) => t,
        Err(e) => {
            shared.poison(e);
            return;
        }
    };
    let signer = shared
        .signer
        .clone()
        .expect("only a log open for writing integrates");
    let mut last_sign = Instant::now();
    // The buffers handed back and forth with the sequencer: reusing them
    // spares regrowing (and page-faulting) a fresh one per checkpoint.
    let (mut spare_leaves, mut spare_offsets) = (Vec::new(), Vec::new());
    loop {
        let (mut leaves, mut offsets, closing) = {
            let mut p = shared.pending.lock().expect("pending lock");
            let take = loop {
                if shared.poisoned.load(std::sync::atomic::Ordering::Acquire) {
                    return;
                }
                let due = !p.leaves.is_empty()
                    && (p.closed
                        || last_sign.elapsed() >= shared.config.checkpoint_interval
                        || p.leaves.len() >= MAX_BACKLOG
                        || (p.wanted
                            && last_sign.elapsed() >= shared.config.min_checkpoint_interval));
                // How many of the waiting leaves can be integrated now: all
                // of them, but for a log adopting checkpoints signed
                // elsewhere (crate::adopt), only up to a size it holds one for.
                let integrated = tree.size().0;
                let take = if due {
                    signer
                        .signable(integrated, integrated + p.leaves.len() as u64)
                        .map_or(0, |s| s.saturating_sub(integrated) as usize)
                } else {
                    0
                };
                if take > 0 {
                    break take;
                }
                if p.closed {
                    // Closing with nothing (more) that can be signed: the
                    // rest waits for the next open (recovery).
                    return;
                }
                let wait = if due {
                    // Due, but no checkpoint to adopt yet at these sizes:
                    // an offer wakes this (Log::wait_for_checkpoint).
                    Duration::from_millis(200)
                } else if p.leaves.is_empty() {
                    Duration::from_secs(3600)
                } else if p.wanted {
                    shared
                        .config
                        .min_checkpoint_interval
                        .saturating_sub(last_sign.elapsed())
                } else {
                    shared
                        .config
                        .checkpoint_interval
                        .saturating_sub(last_sign.elapsed())
                };
                p = shared
                    .pending_cv
                    .wait_timeout(p, wait.max(Duration::from_millis(1)))
                    .expect("pending lock")
                    .0;
            };
            p.wanted = false;
            if take == p.leaves.len() {
                (
                    std::mem::replace(&mut p.leaves, std::mem::take(&mut spare_leaves)),
                    std::mem::replace(&mut p.index_offsets, std::mem::take(&mut spare_offsets)),
                    p.closed,
                )
            } else {
                // Only a prefix (adopted checkpoints): the rest stays.
                let end = tree.size().0 + take as u64;
                let rest = p.leaves.split_off(take);
                let split = p.index_offsets.partition_point(|(i, _)| *i < end);
                let rest_offsets = p.index_offsets.split_off(split);
                (
                    std::mem::replace(&mut p.leaves, rest),
                    std::mem::replace(&mut p.index_offsets, rest_offsets),
                    false,
                )
            }
        };
        if !leaves.is_empty() {
            if let Err(e) = integrate(shared, &mut tree, &leaves, &offsets) {
                shared.poison(e);
                return;
            }
            last_sign = Instant::now();
        }
        leaves.clear();
        offsets.clear();
        (spare_leaves, spare_offsets) = (leaves, offsets);
        if closing
            && shared
                .pending
                .lock()
                .expect("pending lock")
                .leaves
                .is_empty()
        {
            return;
        }
    }
}

/// Extends the tree by `leaves`, makes hash levels and index records durable,
/// then signs, records and publishes a checkpoint at the new size.
/// Under heavy ingest, integrate (and sign) as soon as this many leaves wait,
/// so the backlog held in memory stays small whatever the interval.
const MAX_BACKLOG: usize = 1 << 18;

/// Leaves folded per step of [`integrate`].
const SLICE: usize = 1 << 18;

pub(crate) fn integrate(
    shared: &Shared,
    tree: &mut CompactRange,
    leaves: &[Hash],
    index_offsets: &[(u64, u64)],
) -> Result<()> {
    let old_size = tree.size().0;
    let new_size = old_size + leaves.len() as u64;
    let mut touched: Vec<Arc<Stream>> = Vec::new();
    // Bounded slices keep the transient memory independent of how far the
    // integrator is behind.
    for (k, slice) in leaves.chunks(SLICE).enumerate() {
        let first = old_size + (k * SLICE) as u64;
        // Level 0 is the leaf hashes themselves.
        let bytes: Vec<u8> = slice.iter().flat_map(|h| h.0).collect();
        let l0 = shared.open_or_create_level(0)?;
        reconcile(&l0, first, &bytes, 32, new_size)?;
        // Levels 8, 16, …: the nodes that become complete.
        let mut sink = VecSink::new(&[8, 16, 24, 32, 40, 48, 56]);
        tree.extend(slice, &mut sink);
        let mut per_level: Vec<(u64, Vec<u8>)> = Vec::new();
        for (id, h) in &sink.nodes {
            let l = (id.level / 8) as usize;
            while per_level.len() <= l {
                per_level.push((u64::MAX, Vec::new()));
            }
            let (first, bytes) = &mut per_level[l];
            if *first == u64::MAX {
                *first = id.index;
            }
            debug_assert_eq!(
                *first + (bytes.len() / 32) as u64,
                id.index,
                "nodes out of order"
            );
            bytes.extend_from_slice(&h.0);
        }
        for (l, (first, bytes)) in per_level.iter().enumerate().skip(1) {
            if bytes.is_empty() {
                continue;
            }
            let s = shared.open_or_create_level(l as u8)?;
            reconcile(&s, *first, bytes, 32, new_size >> (8 * l))?;
            if !touched.iter().any(|t| Arc::ptr_eq(t, &s)) {
                touched.push(s);
            }
        }
        if !touched.iter().any(|t| Arc::ptr_eq(t, &l0)) {
            touched.push(l0);
        }
    }
    if !index_offsets.is_empty() {
        let first = index_offsets[0].0 / 256;
        let mut bytes = Vec::with_capacity(index_offsets.len() * 8);
        for (i, (idx, off)) in index_offsets.iter().enumerate() {
            debug_assert_eq!(*idx, (first + i as u64) * 256);
            bytes.extend_from_slice(&off.to_le_bytes());
        }
        reconcile(
            &shared.index,
            first,
            &bytes,
            8,
            first + index_offsets.len() as u64,
        )?;
        shared.index.sync()?;
    }
    for s in &touched {
        s.sync()?;
    }
    let size = tree.size().0;
    debug_assert!(size > old_size);
    sign_and_publish(shared, size, tree.root())
}

/// Signs a checkpoint at `size` with `root`, appends it to the history,
/// fsyncs, and publishes it.
pub(crate) fn sign_and_publish(shared: &Shared, size: u64, root: Hash) -> Result<()> {
    let origin = Origin::new(shared.verifier.name()).map_err(|e| StoreError::Key(e.to_string()))?;
    let cp = Checkpoint::new(origin, TreeSize(size), root);
    let signer = shared
        .signer
        .as_ref()
        .expect("only a log open for writing signs checkpoints");
    let note = signer
        .sign(&cp)
        .map_err(|e| StoreError::Key(format!("signing the checkpoint at size {size}: {e}")))?;
    let rec = crate::checkpoints::encode(note.as_bytes());
    let next = shared
        .checkpoint_records
        .load(std::sync::atomic::Ordering::Acquire);
    shared.checkpoints.append(&rec, next)?;
    shared.checkpoints.sync()?;
    shared
        .checkpoint_records
        .store(next + 1, std::sync::atomic::Ordering::Release);
    let published = Published {
        size,
        root,
        checkpoint: Arc::from(note.as_str()),
        signed_at: shared.env.now_nanos(),
    };
    *shared.published.write().expect("published lock") = published.clone();
    {
        let _g = shared.published_mx.lock().expect("published mutex");
        shared.published_cv.notify_all();
    }
    shared.publisher.offer(&published);
    Ok(())
}

/// Appends fixed-size records that must start at logical position `first`.
/// Records already present there (written before a crash) must equal what is
/// expected and are skipped; a mismatching or partial tail (torn by a crash)
/// is left in place, its segment closed, and writing continues in a new
/// segment. In steady state the stream ends exactly at `first`. `end` is the
/// record count the stream reaches once the whole integration is done: an
/// integration works in slices, so records past this slice but before `end`
/// are the later slices' (written before a crash), not damage.
pub(crate) fn reconcile(
    stream: &Stream,
    first: u64,
    expected: &[u8],
    rec: u64,
    end: u64,
) -> Result<()> {
    let n = expected.len() as u64 / rec;
    let count = stream.record_count(rec);
    if count < first {
        return Err(StoreError::corrupted(
            stream.dir(),
            0,
            format!(
                "stream holds {count} records, but record {first} is next: records are missing"
            ),
        ));
    }
    let overlap = (count - first).min(n);
    let mut keep = overlap;
    if overlap > 0 {
        let existing = stream.read_records(first, overlap, rec)?;
        if let Some(m) = (0..overlap).find(|&k| {
            let a = (k * rec) as usize;
            existing[a..a + rec as usize] != expected[a..a + rec as usize]
        }) {
            keep = m;
        }
    }
    let last = stream.last();
    let aligned_end = crate::segment::HEADER_LEN + (first + keep - last.header.start) * rec;
    let file_len = last.file.len().map_err(|e| StoreError::io(&last.path, e))?;
    debug_assert!(first + n <= end, "the slice lies within the integration");
    if keep < overlap || (first + keep == count && file_len > aligned_end) || count > end {
        if first + keep < last.header.start {
            return Err(StoreError::corrupted(
                &last.path,
                0,
                "derived records differ from the recomputation before the live segment",
            ));
        }
        // Derived records come only from durable entries, so after a crash
        // they match their recomputation — but for the end of the last
        // write, which a crash may have cut short or left unwritten (zeros).
        let mut tail = vec![0u8; (file_len - aligned_end) as usize];
        last.read_at(&mut tail, aligned_end)?;
        if !crate::segment::fixed_tail_is_torn(&tail, rec as usize) {
            return Err(StoreError::corrupted(
                &last.path,
                aligned_end,
                if count > end && keep == overlap {
                    "stream holds records beyond the durable log".to_owned()
                } else {
                    format!("record {} differs from its recomputation from the entries, and it is not what a crash leaves (cut short, or never written): the file was changed", first + keep)
                },
            ));
        }
        stream.recover_end(aligned_end, first + keep)?;
    }
    let rest = &expected[(keep * rec) as usize..];
    if !rest.is_empty() {
        stream.append(rest, first + keep)?;
    }
    Ok(())
}

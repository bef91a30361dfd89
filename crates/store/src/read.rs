//! Readers over published data: node hashes, entries, C2SP tiles, proofs and
//! checkpoints. Nothing beyond the latest signed checkpoint is served, and
//! every entry read is checked against the leaf hash the tree holds for it
//! (hash level 0) before it is returned: a changed entry is an error, never
//! an answer.
//!
//! A [`LogReader`] is either the reading side of an open [`crate::Log`] or a
//! read-only handle ([`crate::DataDir::open_log_read`]): no lock, no
//! recovery, no threads, a snapshot of what was signed when it was opened.

use veritrail_core::hash::{node_hash, Hash};
use veritrail_core::tile::{encode_entry_bundle, tile_width, Tile, TileKind};
use veritrail_core::tree::{
    prove_consistency, prove_inclusion, HashReader, LeafIndex, NodeId, TreeError, TreeSize,
};

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use veritrail_core::compact::CompactRange;
use veritrail_core::note::Verifier;

use crate::error::{Result, StoreError};
use crate::recent::{Block, Part};
use crate::segment::HEADER_LEN;
use crate::state::{Published, Shared};
use crate::wal::{frame, Bad, Span, MAX_PAYLOAD, RECORD_OVERHEAD};

/// Reads any complete node from the stored tile levels: a node of level `l`
/// is the root of `2^(l mod 8)` consecutive hashes of level stream `l / 8`.
pub(crate) struct StoreHashReader<'a>(pub &'a Shared);

impl HashReader for StoreHashReader<'_> {
    type Error = StoreError;
    fn read_hashes(&self, ids: &[NodeId]) -> Result<Vec<Hash>> {
        ids.iter()
            .map(|id| {
                let stream = self.0.level_stream(id.level / 8).ok_or_else(|| {
                    StoreError::OutOfRange(format!(
                        "hash level {} does not exist yet",
                        id.level / 8
                    ))
                })?;
                let r = u32::from(id.level % 8);
                let n = 1u64 << r;
                let raw = stream.read_records(id.index << r, n, 32)?;
                let mut row: Vec<Hash> = raw
                    .chunks_exact(32)
                    .map(|c| Hash::from_slice(c).expect("32"))
                    .collect();
                while row.len() > 1 {
                    let half = row.len() / 2;
                    for j in 0..half {
                        row[j] = node_hash(&row[2 * j], &row[2 * j + 1]);
                    }
                    row.truncate(half);
                }
                Ok(row[0])
            })
            .collect()
    }
}

/// The compact range at `size`, read from the hash levels.
///
/// # Errors
/// `Corrupted` when the levels do not hold what `size` needs; I/O errors.
pub(crate) fn tree_at(shared: &Shared, size: u64) -> Result<CompactRange> {
    CompactRange::from_reader(TreeSize(size), &StoreHashReader(shared)).map_err(|e| match e {
        TreeError::Read(e) => e,
        other => StoreError::corrupted(shared.dir.join("hash"), 0, other.to_string()),
    })
}

fn tree_err(e: TreeError<StoreError>) -> StoreError {
    match e {
        TreeError::Read(e) => e,
        other => StoreError::OutOfRange(other.to_string()),
    }
}

/// Reads `count` entries starting at `first` and checks each against its
/// leaf hash in hash level 0 (callers bound them by the integrated size,
/// which the index and level 0 cover).
///
/// # Errors
/// [`StoreError::EntryMismatch`] for an entry whose bytes do not hash to its
/// leaf (counted in the log's stats); `Corrupted`; I/O errors.
pub(crate) fn read_entries(shared: &Shared, first: u64, count: u64) -> Result<Vec<Vec<u8>>> {
    let parts = read_blocks(shared, first, count)?;
    Ok(parts
        .iter()
        .flat_map(|p| (p.from..p.to).map(|k| p.block.entry(k).to_vec()))
        .collect())
}

/// The first read of a range takes this many bytes of the WAL; each next
/// one twice as many, up to [`MAX_WINDOW`].
const FIRST_WINDOW: usize = 64 << 10;
const MAX_WINDOW: usize = 4 << 20;

/// Entries `first .. first + count` read back from the WAL in blocks (one
/// buffer per read), each entry checked against its stored leaf hash. The
/// leaf hash covers an entry's bytes, so records are framed without their
/// checksums; only an entry that fails its leaf hash has its checksum
/// looked at, to tell a damaged record (`Corrupted`) from a changed one
/// (`EntryMismatch`).
///
/// # Errors
/// As [`read_entries`].
pub(crate) fn read_blocks(shared: &Shared, first: u64, count: u64) -> Result<Vec<Part>> {
    let mut parts = Vec::new();
    if count == 0 {
        return Ok(parts);
    }
    let l0 = shared
        .level_stream(0)
        .ok_or_else(|| StoreError::OutOfRange("hash level 0 does not exist yet".into()))?;
    let stored = l0.read_records(first, count, 32)?;
    let k = first / 256;
    let rec = shared.index.read_records(k, 1, 8)?;
    let mut off = u64::from_le_bytes(rec[..8].try_into().expect("8"));
    let mut index = k * 256;
    let mut got: u64 = 0;
    let segs = shared.wal.segments();
    let mut si = segs
        .partition_point(|s| s.header.start <= index)
        .saturating_sub(1);
    let mut window = FIRST_WINDOW;
    let mut spans = Vec::new();
    while got < count {
        let seg = segs.get(si).ok_or_else(|| {
            StoreError::OutOfRange(format!("entry {index} is past the end of the WAL"))
        })?;
        let end = seg.valid_end();
        let mut pos = off;
        while got < count && pos < end {
            let want = (window as u64).min(end - pos) as usize;
            let mut buf = vec![0u8; want];
            seg.read_at(&mut buf, pos)?;
            spans.clear();
            let (used, bad) = frame(&buf, &mut spans);
            if spans.is_empty() {
                let bad = match bad {
                    Some(b) => b,
                    None if want as u64 == end - pos => Bad::Truncated,
                    // A record longer than the window: read it whole.
                    None => {
                        window = RECORD_OVERHEAD + MAX_PAYLOAD;
                        continue;
                    }
                };
                return Err(StoreError::corrupted(
                    &seg.path,
                    pos + used as u64,
                    bad.reason(),
                ));
            }
            window = (window * 2).min(MAX_WINDOW);
            let mut block = Block::default();
            for sp in &spans {
                if got == count {
                    break;
                }
                if index >= first {
                    block.starts.push(sp.at as u32);
                    got += 1;
                }
                index += 1;
            }
            block.records = buf;
            if block.len() > 0 {
                let at = index - first - block.len() as u64;
                check_leaves(
                    shared,
                    &seg.path,
                    pos,
                    first + at,
                    &mut block,
                    &stored[at as usize * 32..],
                )?;
                parts.push(Part::whole(block));
            }
            pos += used as u64;
        }
        si += 1;
        off = HEADER_LEN;
    }
    Ok(parts)
}

/// Hashes the entries of `block` (the first is entry `index`; the block
/// was read from `file` at `offset`) into its leaves and compares them
/// with `stored`.
fn check_leaves(
    shared: &Shared,
    file: &Path,
    offset: u64,
    index: u64,
    block: &mut Block,
    stored: &[u8],
) -> Result<()> {
    let entries: Vec<&[u8]> = (0..block.len()).map(|k| block.entry(k)).collect();
    let mut leaves = vec![Hash::default(); entries.len()];
    veritrail_core::hash::leaf_hashes_to(&entries, &mut leaves);
    let Some(k) = (0..leaves.len()).find(|&k| stored[k * 32..k * 32 + 32] != leaves[k].0) else {
        block.leaves = leaves;
        return Ok(());
    };
    let at = block.starts[k] as usize;
    let span = Span {
        at,
        len: entries[k].len(),
        end_of_batch: false,
    };
    if !span.crc_ok(&block.records) {
        return Err(StoreError::corrupted(
            file,
            offset + at as u64,
            Bad::BadChecksum.reason(),
        ));
    }
    let index = index + k as u64;
    shared
        .stats
        .integrity_errors
        .fetch_add(1, Ordering::Relaxed);
    tracing::error!(log = %shared.name, index, "an entry read back does not match its leaf hash: its stored bytes were changed");
    Err(StoreError::EntryMismatch {
        log: shared.name.clone(),
        index,
    })
}

/// Reads a log's published entries, tiles, proofs and checkpoints.
#[derive(Clone)]
pub struct LogReader {
    pub(crate) shared: Arc<Shared>,
}

impl LogReader {
    pub(crate) fn new(shared: Arc<Shared>) -> LogReader {
        LogReader { shared }
    }

    /// Log name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The verifier key of the log (its origin is the key name).
    pub fn verifier(&self) -> &Verifier {
        &self.shared.verifier
    }

    /// The log directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// The latest signed checkpoint and what it covers.
    pub fn published(&self) -> Published {
        self.shared.published()
    }

    /// Counters: entries, commit groups, fdatasync latency, batch sizes,
    /// publishing and integrity errors.
    pub fn stats(&self) -> &crate::stats::LogStats {
        &self.shared.stats
    }

    /// Waits (up to `timeout`) until a checkpoint covers `size` entries,
    /// without asking for one sooner than the regular interval. A read-only
    /// handle sees no new checkpoints: it answers at once or times out.
    ///
    /// # Errors
    /// `Poisoned`, or `OutOfRange` on timeout.
    pub fn wait_published(&self, size: u64, timeout: Duration) -> Result<Published> {
        let deadline = std::time::Instant::now() + timeout;
        let mut g = self.shared.published_mx.lock().expect("published mutex");
        loop {
            self.shared.check_poison()?;
            let p = self.shared.published();
            if p.size >= size {
                return Ok(p);
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                return Err(StoreError::OutOfRange(format!(
                    "no checkpoint covering {size} entries within {timeout:?}"
                )));
            }
            g = self
                .shared
                .published_cv
                .wait_timeout(g, deadline - now)
                .expect("published mutex")
                .0;
        }
    }

    fn bound(&self, end: u64, what: &str) -> Result<u64> {
        let size = self.shared.published().size;
        if end > size {
            return Err(StoreError::OutOfRange(format!(
                "{what} reaches {end}, but the log's latest checkpoint covers {size} entries"
            )));
        }
        Ok(size)
    }

    /// Entries `first .. first + count`, exactly as stored.
    ///
    /// # Errors
    /// `OutOfRange` beyond the latest checkpoint; `Corrupted`; I/O errors.
    pub fn entries(&self, first: u64, count: u64) -> Result<Vec<Vec<u8>>> {
        self.bound(first.saturating_add(count), "entry range")?;
        read_entries(&self.shared, first, count)
    }

    /// The same, in blocks with each entry's leaf hash: from the newest
    /// entries kept in memory when it can, else read back and checked.
    pub(crate) fn blocks(&self, first: u64, count: u64) -> Result<Vec<Part>> {
        self.bound(first.saturating_add(count), "entry range")?;
        if let Some(parts) = self.shared.recent.take(first, count) {
            return Ok(parts);
        }
        read_blocks(&self.shared, first, count)
    }

    /// The bytes of a C2SP tile (hash tile or entry bundle). A partial tile
    /// may be asked for any width up to what the latest checkpoint covers.
    ///
    /// # Errors
    /// `OutOfRange` for a tile or width the log does not have yet.
    pub fn tile(&self, tile: &Tile) -> Result<Vec<u8>> {
        let size = self.shared.published().size;
        let level = match tile.kind {
            TileKind::Hash { level } => level,
            TileKind::Entries => 0,
        };
        let avail = tile_width(level, tile.index, TreeSize(size)).unwrap_or(0);
        if avail < tile.width {
            return Err(StoreError::OutOfRange(format!(
                "tile {tile} is not available at tree size {size}"
            )));
        }
        let first = tile.index * 256;
        let width = u64::from(tile.width);
        match tile.kind {
            TileKind::Hash { level } => {
                let s = self
                    .shared
                    .level_stream(level)
                    .ok_or_else(|| StoreError::OutOfRange(format!("no hash level {level}")))?;
                s.read_records(first, width, 32)
            }
            TileKind::Entries => {
                let entries = read_entries(&self.shared, first, width)?;
                encode_entry_bundle(&entries).map_err(|e| StoreError::OutOfRange(e.to_string()))
            }
        }
    }

    /// Inclusion proof of `index` in the tree of `size` (≤ the latest checkpoint).
    ///
    /// # Errors
    /// `OutOfRange` for a bad index or size.
    pub fn prove_inclusion(&self, index: u64, size: u64) -> Result<Vec<Hash>> {
        self.bound(size, "tree size")?;
        prove_inclusion(
            LeafIndex(index),
            TreeSize(size),
            &StoreHashReader(&self.shared),
        )
        .map_err(tree_err)
    }

    /// Consistency proof from `old` to `new` (≤ the latest checkpoint).
    ///
    /// # Errors
    /// `OutOfRange` for bad sizes.
    pub fn prove_consistency(&self, old: u64, new: u64) -> Result<Vec<Hash>> {
        self.bound(new, "tree size")?;
        prove_consistency(TreeSize(old), TreeSize(new), &StoreHashReader(&self.shared))
            .map_err(tree_err)
    }

    /// The root of the tree of `size` entries (≤ the latest checkpoint).
    ///
    /// # Errors
    /// `OutOfRange`.
    pub fn root_at(&self, size: u64) -> Result<Hash> {
        self.bound(size, "tree size")?;
        veritrail_core::tree::tree_hash(TreeSize(size), &StoreHashReader(&self.shared))
            .map_err(tree_err)
    }

    /// The newest signed checkpoint with exactly `size` entries (at most the
    /// latest published one's): one segment of the history is scanned, the
    /// one whose first checkpoint is the last at or below `size`.
    ///
    /// # Errors
    /// I/O errors, `Corrupted`; `Ok(None)` if no checkpoint has that size.
    pub fn checkpoint_at(&self, size: u64) -> Result<Option<String>> {
        let p = self.shared.published();
        if p.size == size {
            // Empty before a copy recorded its first (crate::adopt).
            return Ok((!p.checkpoint.is_empty()).then(|| p.checkpoint.to_string()));
        }
        if size > p.size {
            return Ok(None);
        }
        let segs = self.checkpoint_segments_from(size)?;
        for seg in segs.iter().rev() {
            let (recs, _) = crate::checkpoints::scan_segment(seg, seg.valid_end(), true)?;
            for r in recs.iter().rev() {
                match note_size(&r.note) {
                    Some(s) if s == size => {
                        return Ok(Some(String::from_utf8_lossy(&r.note).into_owned()))
                    }
                    Some(s) if s < size => return Ok(None),
                    _ => {}
                }
            }
        }
        Ok(None)
    }

    /// The sizes of the signed checkpoints larger than `after` (each size
    /// once, oldest first), at most `limit` of them, up to the latest
    /// published checkpoint.
    ///
    /// # Errors
    /// I/O errors, `Corrupted`.
    pub fn checkpoint_sizes(&self, after: u64, limit: usize) -> Result<Vec<u64>> {
        let mut out: Vec<u64> = Vec::new();
        self.walk_history(after, |s, _| {
            if out.len() >= limit {
                return false;
            }
            if s > after && out.last() != Some(&s) {
                out.push(s);
            }
            true
        })?;
        Ok(out)
    }

    /// Signed checkpoints past `after`, about `step` entries apart, oldest
    /// first: the first whose size is at least `after + step`, then each
    /// next at least `step` past the one before, up to the latest published
    /// checkpoint. One pass over the history from `after` on.
    ///
    /// # Errors
    /// I/O errors, `Corrupted`.
    pub fn checkpoints_every(&self, after: u64, step: u64) -> Result<Vec<(u64, String)>> {
        let mut out = Vec::new();
        let mut last = after;
        self.walk_history(after, |s, note| {
            if s >= last.saturating_add(step) {
                out.push((s, String::from_utf8_lossy(note).into_owned()));
                last = s;
            }
            true
        })?;
        Ok(out)
    }

    /// Calls `f` with the size and note of each checkpoint in the history,
    /// oldest first, from the segment holding `after` on, up to the latest
    /// published checkpoint or until `f` says stop (`false`).
    fn walk_history(&self, after: u64, mut f: impl FnMut(u64, &[u8]) -> bool) -> Result<()> {
        let top = self.shared.published().size;
        for seg in self.checkpoint_segments_from(after)? {
            let (recs, _) = crate::checkpoints::scan_segment(&seg, seg.valid_end(), true)?;
            for r in &recs {
                let Some(s) = note_size(&r.note) else {
                    continue;
                };
                if s > top || !f(s, &r.note) {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// The checkpoint segments from the last one whose first checkpoint is
    /// at or below `size` (sizes never decrease along the history).
    fn checkpoint_segments_from(
        &self,
        size: u64,
    ) -> Result<Vec<std::sync::Arc<crate::segment::Segment>>> {
        let segs = self.shared.checkpoints.segments();
        let mut start = 0;
        for (i, seg) in segs.iter().enumerate() {
            let (recs, _) = crate::checkpoints::scan_first(seg)?;
            match recs.and_then(|r| note_size(&r.note)) {
                Some(s) if s <= size => start = i,
                Some(_) => break,
                None => {}
            }
        }
        Ok(segs[start..].to_vec())
    }
}

/// The tree size on a checkpoint note's second line.
fn note_size(note: &[u8]) -> Option<u64> {
    std::str::from_utf8(note).ok()?.lines().nth(1)?.parse().ok()
}

/// Many inclusion proofs to one tree size, for exports: node hashes are
/// memoized and stored levels are read 256 records at a time, so proofs for
/// nearby leaves (sorted indexes) cost little more than reading the leaves.
pub struct BatchProver<'a> {
    shared: &'a Shared,
    size: u64,
    memo: std::cell::RefCell<std::collections::HashMap<NodeId, Hash>>,
    chunks: std::cell::RefCell<Vec<(u64, Vec<u8>)>>,
}

/// Memo entries kept before the memo is cleared (≈ 100 MiB).
const MEMO_LIMIT: usize = 1 << 21;

impl BatchProver<'_> {
    fn stored(&self, stream_level: u8, record: u64) -> Result<Hash> {
        let mut chunks = self.chunks.borrow_mut();
        let slot = usize::from(stream_level);
        if chunks.len() <= slot {
            chunks.resize(slot + 1, (u64::MAX, Vec::new()));
        }
        let first = record & !255;
        if chunks[slot].0 != first {
            let stream = self.shared.level_stream(stream_level).ok_or_else(|| {
                StoreError::OutOfRange(format!("hash level {stream_level} does not exist yet"))
            })?;
            // Complete nodes of this level at the proven size.
            let have = self.size >> (8 * u32::from(stream_level));
            let n = 256.min(have.saturating_sub(first));
            chunks[slot] = (first, stream.read_records(first, n, 32)?);
        }
        let off = ((record - first) * 32) as usize;
        chunks[slot]
            .1
            .get(off..off + 32)
            .and_then(Hash::from_slice)
            .ok_or_else(|| {
                StoreError::OutOfRange(format!(
                    "node {record} of level {stream_level} is not complete"
                ))
            })
    }

    fn node(&self, id: NodeId) -> Result<Hash> {
        if id.level % 8 == 0 {
            return self.stored(id.level / 8, id.index);
        }
        if let Some(h) = self.memo.borrow().get(&id) {
            return Ok(*h);
        }
        let l = self.node(NodeId::new(id.level - 1, id.index * 2))?;
        let r = self.node(NodeId::new(id.level - 1, id.index * 2 + 1))?;
        let h = node_hash(&l, &r);
        let mut memo = self.memo.borrow_mut();
        if memo.len() >= MEMO_LIMIT {
            memo.clear();
        }
        memo.insert(id, h);
        Ok(h)
    }

    /// The inclusion proof of `index` in the tree of this prover's size.
    ///
    /// # Errors
    /// `OutOfRange` for an index not below the size; I/O errors.
    pub fn prove(&self, index: u64) -> Result<Vec<Hash>> {
        prove_inclusion(LeafIndex(index), TreeSize(self.size), self).map_err(tree_err)
    }
}

impl HashReader for BatchProver<'_> {
    type Error = StoreError;
    fn read_hashes(&self, ids: &[NodeId]) -> Result<Vec<Hash>> {
        ids.iter().map(|id| self.node(*id)).collect()
    }
}

impl LogReader {
    /// A prover for many inclusion proofs to tree `size` (≤ the latest
    /// checkpoint). Use one per thread; give it indexes in increasing order.
    ///
    /// # Errors
    /// `OutOfRange` for a size beyond the latest checkpoint.
    pub fn batch_prover(&self, size: u64) -> Result<BatchProver<'_>> {
        self.bound(size, "tree size")?;
        Ok(BatchProver {
            shared: &self.shared,
            size,
            memo: std::cell::RefCell::default(),
            chunks: std::cell::RefCell::default(),
        })
    }
}

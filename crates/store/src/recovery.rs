//! Opening a log: recovery is the normal path (docs/FORMAT.md "Recovery").
//! It checks the independent sources of truth against each other — the last
//! signed checkpoint, the hash levels, the WAL tail — reads only the tail of
//! each stream, discards only an interrupted final group, and then runs the
//! same integration code as steady state.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Condvar, Mutex, RwLock};

use veritrail_core::checkpoint::open_checkpoint;
use veritrail_core::compact::CompactRange;
use veritrail_core::hash::{leaf_hash, Hash};
use veritrail_core::note::{Signer, Verifier};
use veritrail_core::tree::TreeSize;

use crate::error::{Result, StoreError};
use crate::immutable::FlagReport;
use crate::log::{LogConfig, Pending, Published, Queue, Shared};
use crate::read::StoreHashReader;
use crate::segment::{Kind, LogStreams, Stream, HEADER_LEN};
use crate::vfs::Vfs;
use crate::wal::Scanner;

/// Creates the streams of a new, empty log. A stream that a crash left with
/// a complete first segment is kept; one left with nothing but a temporary
/// segment file is created again.
pub(crate) fn create_streams(
    vfs: &Arc<dyn Vfs>,
    dir: &Path,
    flags: &Arc<FlagReport>,
) -> Result<()> {
    for (sdir, kind) in [
        (dir.join("wal"), Kind::Wal),
        (dir.join("index"), Kind::Index),
        (dir.join("checkpoints"), Kind::Checkpoints),
        (Shared::level_dir(dir, 0), Kind::Hash),
    ] {
        if vfs.is_dir(&sdir) {
            match crate::segment::unborn(vfs.as_ref(), &sdir)? {
                None => continue,
                Some(tmps) => crate::segment::remove_leftovers(vfs.as_ref(), &tmps)?,
            }
        }
        Stream::create(vfs.clone(), &sdir, kind, 0, 0, flags.clone())?;
    }
    Ok(())
}

/// The compact range at `size`, read from the hash levels.
pub(crate) fn tree_at(shared: &Shared, size: u64) -> Result<CompactRange> {
    CompactRange::from_reader(TreeSize(size), &StoreHashReader(shared)).map_err(|e| match e {
        veritrail_core::tree::TreeError::Read(e) => e,
        other => StoreError::corrupted(shared.dir.join("hash"), 0, other.to_string()),
    })
}

fn corrupt_context(e: StoreError, file: &Path, what: &str) -> StoreError {
    match e {
        StoreError::OutOfRange(m) => StoreError::corrupted(file, 0, format!("{what}: {m}")),
        other => other,
    }
}

/// Opens and recovers a log.
#[allow(clippy::too_many_arguments)]
pub(crate) fn open(
    vfs: Arc<dyn Vfs>,
    dir: PathBuf,
    name: String,
    signer: Signer,
    verifier: Verifier,
    config: LogConfig,
    flags: Arc<FlagReport>,
) -> Result<Arc<Shared>> {
    let streams = LogStreams::open(
        &vfs,
        &dir,
        &flags,
        config.wal_segment_bytes,
        config.cache_keep,
    )?;
    // 0. Segment files whose creation a crash interrupted hold nothing.
    streams.discard_leftovers(vfs.as_ref())?;
    let LogStreams {
        mut wal,
        index,
        checkpoints,
        levels,
        ..
    } = streams;
    wal.set_sync_handles(config.syncs_in_flight.max(1));

    // 1. The newest signed checkpoint. Only its last record may be torn.
    let mut torn: Vec<(PathBuf, u64)> = Vec::new();
    let last_cp_seg = checkpoints.last();
    let cp_len = last_cp_seg
        .file
        .len()
        .map_err(|e| StoreError::io(&last_cp_seg.path, e))?;
    let (recs, good_end) = crate::checkpoints::scan_segment(&last_cp_seg, cp_len, false)?;
    if good_end < cp_len {
        if cp_len - good_end > (2 * crate::checkpoints::MAX_NOTE) as u64 {
            return Err(StoreError::corrupted(
                &last_cp_seg.path,
                good_end,
                "bad checkpoint record followed by more data",
            ));
        }
        torn.push((last_cp_seg.path.clone(), cp_len - good_end));
        let next = last_cp_seg.header.start + recs.len() as u64;
        checkpoints.recover_end(good_end, next)?;
    }
    let (latest, cp_count) = crate::checkpoints::latest(&checkpoints)?;
    let (cp_size, cp_root, cp_note) = match &latest {
        Some(stored) => {
            let opened = open_checkpoint(&stored.note, &verifier, &[]).map_err(|e| {
                StoreError::corrupted(
                    &checkpoints.last().path,
                    stored.offset,
                    format!("newest checkpoint does not verify: {e}"),
                )
            })?;
            (
                opened.checkpoint.size.0,
                opened.checkpoint.root,
                Some(String::from_utf8_lossy(&stored.note).into_owned()),
            )
        }
        None => (0, Hash::EMPTY_ROOT, None),
    };

    let shared = Arc::new(Shared {
        name,
        dir: dir.clone(),
        vfs: vfs.clone(),
        config,
        signer,
        verifier,
        flags,
        wal,
        levels: RwLock::new(levels),
        index,
        checkpoints,
        queue: Mutex::new(Queue::default()),
        queue_cv: Condvar::new(),
        pending: Mutex::new(Pending::default()),
        pending_cv: Condvar::new(),
        published: RwLock::new(Published {
            size: cp_size,
            root: cp_root,
            checkpoint: Arc::from(cp_note.clone().unwrap_or_default().as_str()),
            signed_at: crate::now_nanos(),
        }),
        published_cv: Condvar::new(),
        published_mx: Mutex::new(()),
        checkpoint_records: AtomicU64::new(cp_count),
        durable: AtomicU64::new(0),
        poison: Mutex::new(None),
        poisoned: AtomicBool::new(false),
        torn_tails: Mutex::new(Vec::new()),
        stats: crate::stats::LogStats::default(),
    });

    // 2. The hash levels must reproduce the signed root.
    let mut tree = tree_at(&shared, cp_size).map_err(|e| {
        corrupt_context(
            e,
            &dir.join("hash"),
            "hash levels do not cover the newest checkpoint",
        )
    })?;
    if tree.root() != cp_root {
        return Err(StoreError::corrupted(
            Shared::level_dir(&dir, 0),
            0,
            format!(
                "hash levels give a different root than the signed checkpoint at size {cp_size}"
            ),
        ));
    }

    // 3. Scan the WAL from the last indexed entry at or below the checkpoint.
    let scan = scan_wal_tail(&shared, cp_size)?;
    if let Some(t) = scan.torn {
        torn.push(t);
    }
    let durable = scan.next_index;
    if durable < cp_size {
        return Err(StoreError::corrupted(
            &scan.last_segment,
            scan.end,
            format!("the signed checkpoint covers {cp_size} entries but the WAL holds only {durable}: acknowledged entries are missing"),
        ));
    }
    shared
        .durable
        .store(durable, std::sync::atomic::Ordering::Release);

    // 4. Entries after the checkpoint: integrate them exactly as in steady state.
    if durable > cp_size || cp_note.is_none() {
        if durable > cp_size {
            crate::integrator::integrate(&shared, &mut tree, &scan.new_leaves, &scan.new_offsets)?;
        } else {
            crate::integrator::sign_and_publish(&shared, cp_size, cp_root)?;
        }
    }
    // 5. No derived stream may hold more than the tree does.
    check_derived_tails(&shared, durable)?;
    *shared.torn_tails.lock().expect("torn lock") = torn;
    Ok(shared)
}

fn check_derived_tails(shared: &Shared, size: u64) -> Result<()> {
    let levels: Vec<Arc<Stream>> = shared.levels.read().expect("levels lock").clone();
    let needed = (0..8u32).take_while(|l| size >> (8 * l) > 0).count().max(1);
    if levels.len() < needed {
        return Err(StoreError::corrupted(
            shared.dir.join("hash"),
            0,
            format!("hash level {} is missing for {size} entries", levels.len()),
        ));
    }
    for (l, s) in levels.iter().enumerate() {
        let want = size >> (8 * l as u32);
        crate::integrator::reconcile(s, want, &[], 32, want)?;
    }
    let records = size.div_ceil(256);
    crate::integrator::reconcile(&shared.index, records, &[], 8, records)?;
    Ok(())
}

struct TailScan {
    next_index: u64,
    new_leaves: Vec<Hash>,
    new_offsets: Vec<(u64, u64)>,
    torn: Option<(PathBuf, u64)>,
    last_segment: PathBuf,
    end: u64,
}

fn scan_wal_tail(shared: &Shared, cp_size: u64) -> Result<TailScan> {
    let wal = &shared.wal;
    let segs = wal.segments();
    // Where to start: the indexed entry at or below the checkpoint.
    let (e0, mut seg_i, mut off) = if cp_size == 0 {
        (0, 0, HEADER_LEN)
    } else {
        let k = (cp_size - 1) / 256;
        let rec = shared.index.read_records(k, 1, 8).map_err(|e| {
            corrupt_context(
                e,
                shared.index.dir(),
                "index does not cover the newest checkpoint",
            )
        })?;
        let off = u64::from_le_bytes(rec[..8].try_into().expect("8"));
        let e0 = k * 256;
        let i = segs.partition_point(|s| s.header.start <= e0);
        if i == 0 {
            return Err(StoreError::corrupted(
                wal.dir(),
                0,
                format!("no WAL segment holds entry {e0}"),
            ));
        }
        (e0, i - 1, off)
    };
    // Leaf hashes of checkpointed entries that we will see again, to cross-check.
    let checked: Vec<u8> = if cp_size > e0 {
        let l0 = shared.level_stream(0).expect("level 0");
        l0.read_records(e0, cp_size - e0, 32).map_err(|e| {
            corrupt_context(e, l0.dir(), "level 0 does not cover the newest checkpoint")
        })?
    } else {
        Vec::new()
    };
    let mut index = e0;
    let mut new_leaves = Vec::new();
    let mut new_offsets = Vec::new();
    let last_i = segs.len() - 1;
    loop {
        let seg = &segs[seg_i];
        let is_last = seg_i == last_i;
        if off == HEADER_LEN && seg.header.start != index {
            return Err(StoreError::corrupted(
                &seg.path,
                8,
                format!(
                    "segment starts at entry {} but the previous one ended at {index}",
                    seg.header.start
                ),
            ));
        }
        let end = if is_last {
            seg.file.len().map_err(|e| StoreError::io(&seg.path, e))?
        } else {
            seg.valid_end()
        };
        let mut sc = Scanner::new(seg, off, end);
        // End of the last complete batch seen in this segment.
        let (mut good_end, mut good_index, mut good_leaves, mut good_offsets) =
            (off, index, new_leaves.len(), new_offsets.len());
        let mut bad_at: Option<(u64, String)> = None;
        while let Some(r) = sc.next_record()? {
            let rec = match r {
                Ok(rec) => rec,
                Err(bad) => {
                    if index < cp_size {
                        // Signed entries were synced before signing: never torn.
                        return Err(StoreError::corrupted(
                            &seg.path,
                            sc.position(),
                            format!(
                                "entry {index}: {} (the entry is covered by a signed checkpoint)",
                                bad.reason()
                            ),
                        ));
                    }
                    bad_at = Some((sc.position(), bad.reason()));
                    break;
                }
            };
            let leaf = leaf_hash(&rec.payload);
            if index < cp_size {
                let a = ((index - e0) * 32) as usize;
                if checked[a..a + 32] != leaf.0 {
                    return Err(StoreError::corrupted(
                        &seg.path,
                        rec.offset,
                        format!("entry {index} does not match its leaf hash in hash level 0"),
                    ));
                }
            } else {
                new_leaves.push(leaf);
                if index % 256 == 0 {
                    new_offsets.push((index, rec.offset));
                }
            }
            index += 1;
            if rec.end_of_batch || index <= cp_size {
                good_end = sc.position();
                good_index = index;
                good_leaves = new_leaves.len();
                good_offsets = new_offsets.len();
            }
        }
        if !is_last {
            if let Some((at, why)) = bad_at {
                return Err(StoreError::corrupted(&seg.path, at, why));
            }
            if good_end != end {
                return Err(StoreError::corrupted(
                    &seg.path,
                    good_end,
                    "closed segment ends inside a batch",
                ));
            }
            seg_i += 1;
            off = HEADER_LEN;
            continue;
        }
        // The live segment: anything after the last complete batch is the
        // interrupted final group — if it fits in one group.
        let mut torn = None;
        if good_end < end {
            if end - good_end > shared.config.max_group_bytes as u64 + 4096 {
                let (at, why) = bad_at.unwrap_or((good_end, "incomplete batch".into()));
                return Err(StoreError::corrupted(
                    &seg.path,
                    at,
                    format!("{why}, followed by more than one commit group of data"),
                ));
            }
            torn = Some((seg.path.clone(), end - good_end));
            new_leaves.truncate(good_leaves);
            new_offsets.truncate(good_offsets);
            index = good_index;
            wal.recover_end(good_end, index)?;
        }
        return Ok(TailScan {
            next_index: index,
            new_leaves,
            new_offsets,
            torn,
            last_segment: seg.path.clone(),
            end: good_end,
        });
    }
}

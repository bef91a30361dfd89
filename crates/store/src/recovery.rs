//! Opening a log: recovery is the normal path (docs/FORMAT.md "Recovery").
//! It checks the independent sources of truth against each other — the last
//! signed checkpoint, the hash levels, the WAL tail — reads only the tail of
//! each stream, discards only an interrupted final group, and then runs the
//! same integration code as steady state.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Condvar, Mutex, RwLock};

use veritrail_core::checkpoint::open_checkpoint;
use veritrail_core::hash::{leaf_hash, Hash};
use veritrail_core::note::Verifier;

use crate::config::LogConfig;
use crate::env::Env;
use crate::error::{Result, StoreError};
use crate::layout::{level_dir, LogStreams};
use crate::read::tree_at;
use crate::segment::{Stream, HEADER_LEN};
use crate::signer::CheckpointSigner;
use crate::state::{Pending, Published, Queue, Shared};
use crate::wal::Scanner;

fn corrupt_context(e: StoreError, file: &Path, what: &str) -> StoreError {
    match e {
        StoreError::OutOfRange(m) => StoreError::corrupted(file, 0, format!("{what}: {m}")),
        other => other,
    }
}

/// Who a log is opened by, and for what.
pub(crate) struct Opening {
    pub env: Env,
    pub dir: PathBuf,
    pub name: String,
    pub verifier: Verifier,
    pub config: LogConfig,
}

/// Opens and recovers a log for writing with `signer`.
pub(crate) fn open(o: Opening, signer: Arc<dyn CheckpointSigner>) -> Result<Arc<Shared>> {
    let Opening {
        env,
        dir,
        name,
        verifier,
        config,
    } = o;
    let streams = LogStreams::open(&env, &dir, config.wal_segment_bytes, config.cache_keep)?;
    // 0. Segment files whose creation a crash interrupted hold nothing.
    streams.discard_leftovers(env.vfs.as_ref())?;
    let lifecycle = crate::lifecycle::open_for_writing(&env, &dir)?;
    // Closed cleanly and not opened since: nothing was written after the
    // close, so nothing may be torn, and the log must be exactly as the
    // close left it.
    let clean = crate::lifecycle::records(&lifecycle)?
        .last()
        .copied()
        .filter(|r| r.event == crate::lifecycle::Event::Close);
    let changed_after_close = |file: &Path, what: String| {
        StoreError::corrupted(
            file,
            0,
            format!("the log was closed cleanly and not opened since, but {what}: it was changed after the close"),
        )
    };
    let LogStreams {
        mut wal,
        index,
        checkpoints,
        levels,
        ..
    } = streams;
    wal.set_sync_handles(config.syncs_in_flight.max(1));

    // 1. The newest signed checkpoint. Only its last record may be torn,
    //    and only as a crash leaves it (cut short, or never written).
    let last_cp_seg = checkpoints.last();
    let cp_len = last_cp_seg
        .file
        .len()
        .map_err(|e| StoreError::io(&last_cp_seg.path, e))?;
    let (recs, good_end) = crate::checkpoints::scan_segment(&last_cp_seg, cp_len, false)?;
    if good_end < cp_len && clean.is_some() {
        return Err(changed_after_close(
            &last_cp_seg.path,
            format!("its checkpoint history ends in a damaged record at offset {good_end}"),
        ));
    }
    if good_end < cp_len {
        if cp_len - good_end > (2 * crate::checkpoints::MAX_NOTE) as u64 {
            return Err(StoreError::corrupted(
                &last_cp_seg.path,
                good_end,
                "bad checkpoint record followed by more data",
            ));
        }
        let mut tail = vec![0u8; (cp_len - good_end) as usize];
        last_cp_seg.read_at(&mut tail, good_end)?;
        if !crate::checkpoints::crash_shaped(&tail) {
            return Err(StoreError::corrupted(
                &last_cp_seg.path,
                good_end,
                "the newest checkpoint record is complete but fails its checksum: the file was changed, not cut short by a crash (recovery discards only a record a crash left incomplete)",
            ));
        }
        let next = last_cp_seg.header.start + recs.len() as u64;
        checkpoints.recover_end(good_end, next)?;
    }
    let newest = newest_checkpoint(&checkpoints, &verifier)?;
    if let Some(c) = clean {
        if newest.records != c.checkpoints {
            return Err(changed_after_close(
                checkpoints.dir(),
                format!(
                    "its history holds {} checkpoints where the close recorded {}",
                    newest.records, c.checkpoints
                ),
            ));
        }
    }
    let (cp_size, cp_root, cp_note) = (newest.size, newest.root, newest.note.clone());
    let shared = Arc::new(Shared::assemble(
        Opening {
            env,
            dir: dir.clone(),
            name,
            verifier,
            config,
        },
        Some(signer),
        crate::layout::LogStreams {
            wal,
            index,
            checkpoints,
            levels,
            unborn_level: Vec::new(),
        },
        newest,
        Some(lifecycle),
    ));

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
            level_dir(&dir, 0),
            0,
            format!(
                "hash levels give a different root than the signed checkpoint at size {cp_size}"
            ),
        ));
    }

    // 3. Scan the WAL from the last indexed entry at or below the checkpoint.
    let scan = scan_wal_tail(&shared, cp_size, clean.is_some())?;
    let durable = scan.next_index;
    if let Some(c) = clean {
        if durable != c.entries {
            return Err(changed_after_close(
                &scan.last_segment,
                format!(
                    "the WAL holds {durable} entries where the close recorded {}",
                    c.entries
                ),
            ));
        }
    }
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

    // 4. Entries after the checkpoint: integrate them exactly as in steady
    // state — all of them, but for a log adopting checkpoints signed
    // elsewhere (crate::adopt), only up to a size it holds one for; the
    // rest wait for the integrator.
    let signer = shared.signer.clone().expect("a log open for writing");
    let upto = signer.signable(cp_size, durable);
    let done = upto.filter(|&s| s > cp_size).unwrap_or(cp_size);
    let (k, split) = (
        (done - cp_size) as usize,
        scan.new_offsets.partition_point(|(i, _)| *i < done),
    );
    if done > cp_size {
        crate::integrator::integrate(
            &shared,
            &mut tree,
            &scan.new_leaves[..k],
            &scan.new_offsets[..split],
        )?;
    } else if cp_note.is_none() && upto == Some(cp_size) {
        crate::integrator::sign_and_publish(&shared, cp_size, cp_root)?;
    }
    if durable > done {
        let mut p = shared.pending.lock().expect("pending lock");
        p.leaves = scan.new_leaves[k..].to_vec();
        p.index_offsets = scan.new_offsets[split..].to_vec();
    }
    // 5. No derived stream may hold more than the integrated tree does.
    check_derived_tails(&shared, done, clean.is_some())?;
    // 6. Opened: recorded before anything new is written.
    crate::lifecycle::append(
        shared.lifecycle.as_ref().expect("a log open for writing"),
        crate::lifecycle::Record {
            event: crate::lifecycle::Event::Open,
            entries: durable,
            checkpoints: shared
                .checkpoint_records
                .load(std::sync::atomic::Ordering::Acquire),
        },
    )?;
    Ok(shared)
}

/// The newest signed checkpoint of a log, checked against its key.
pub(crate) struct Newest {
    pub size: u64,
    pub root: Hash,
    /// `None` before the first checkpoint was signed.
    pub note: Option<String>,
    /// Records in the checkpoint history.
    pub records: u64,
}

/// The newest checkpoint in `checkpoints` (whose last segment's valid end
/// recovery has set), its signature checked against `verifier`.
///
/// # Errors
/// `Corrupted` when it does not verify; I/O errors.
fn newest_checkpoint(checkpoints: &Stream, verifier: &Verifier) -> Result<Newest> {
    let (latest, records) = crate::checkpoints::latest(checkpoints)?;
    let Some(stored) = latest else {
        return Ok(Newest {
            size: 0,
            root: Hash::EMPTY_ROOT,
            note: None,
            records,
        });
    };
    let opened = open_checkpoint(&stored.note, verifier, &[]).map_err(|e| {
        StoreError::corrupted(
            &checkpoints.last().path,
            stored.offset,
            format!("newest checkpoint does not verify: {e}"),
        )
    })?;
    Ok(Newest {
        size: opened.checkpoint.size.0,
        root: opened.checkpoint.root,
        note: Some(String::from_utf8_lossy(&stored.note).into_owned()),
        records,
    })
}

impl Shared {
    /// The state of a log whose streams are open and whose newest
    /// checkpoint is `newest`; nothing durable yet beyond it.
    pub(crate) fn assemble(
        o: Opening,
        signer: Option<Arc<dyn CheckpointSigner>>,
        streams: crate::layout::LogStreams,
        newest: Newest,
        lifecycle: Option<Stream>,
    ) -> Shared {
        let signed_at = o.env.now_nanos();
        let recent = crate::recent::Recent::new(if lifecycle.is_some() {
            o.config.recent_bytes
        } else {
            0
        });
        Shared {
            name: o.name,
            dir: o.dir,
            env: o.env,
            config: o.config,
            signer,
            verifier: o.verifier,
            wal: streams.wal,
            levels: RwLock::new(streams.levels),
            index: streams.index,
            checkpoints: streams.checkpoints,
            queue: Mutex::new(Queue::default()),
            queue_cv: Condvar::new(),
            pending: Mutex::new(Pending::default()),
            pending_cv: Condvar::new(),
            published: RwLock::new(Published {
                size: newest.size,
                root: newest.root,
                checkpoint: Arc::from(newest.note.unwrap_or_default().as_str()),
                signed_at,
            }),
            published_cv: Condvar::new(),
            published_mx: Mutex::new(()),
            checkpoint_records: AtomicU64::new(newest.records),
            durable: AtomicU64::new(0),
            poison: Mutex::new(None),
            poisoned: AtomicBool::new(false),
            stats: crate::stats::LogStats::default(),
            publisher: crate::publish::Publisher::default(),
            closed: AtomicBool::new(lifecycle.is_none()),
            lifecycle,
            recent,
        }
    }
}

/// Opens a log for reading only: no lock, nothing written, no threads. It
/// serves what its newest complete checkpoint signed, once the hash levels
/// are found to reproduce that checkpoint's root; a record a writer is
/// still writing (or a crash cut short) after it is left alone.
///
/// # Errors
/// `Corrupted` when the newest checkpoint does not verify or the hash levels
/// do not reproduce it; I/O errors.
pub(crate) fn open_read_only(o: Opening) -> Result<Arc<Shared>> {
    let streams = LogStreams::open(&o.env, &o.dir, o.config.wal_segment_bytes, None)?;
    let last = streams.checkpoints.last();
    let len = last.file.len().map_err(|e| StoreError::io(&last.path, e))?;
    let (_, good_end) = crate::checkpoints::scan_segment(&last, len, false)?;
    // Only in this handle's view: the file is not touched.
    last.set_valid_end(good_end);
    let newest = newest_checkpoint(&streams.checkpoints, &o.verifier)?;
    let (size, root) = (newest.size, newest.root);
    let dir = o.dir.clone();
    let shared = Arc::new(Shared::assemble(o, None, streams, newest, None));
    let tree = tree_at(&shared, size).map_err(|e| {
        corrupt_context(
            e,
            &dir.join("hash"),
            "hash levels do not cover the newest checkpoint",
        )
    })?;
    if tree.root() != root {
        return Err(StoreError::corrupted(
            level_dir(&dir, 0),
            0,
            format!("hash levels give a different root than the signed checkpoint at size {size}"),
        ));
    }
    shared
        .durable
        .store(size, std::sync::atomic::Ordering::Release);
    Ok(shared)
}

/// No derived stream may hold more than the tree of `size` entries does; a
/// torn tail there is discarded like any other — but after a clean close
/// (`clean`) there can be none, and one is refused.
fn check_derived_tails(shared: &Shared, size: u64, clean: bool) -> Result<()> {
    let exact = |s: &Stream, records: u64, rec: u64| -> Result<()> {
        let last = s.last();
        let len = last.file.len().map_err(|e| StoreError::io(&last.path, e))?;
        let want = records
            .checked_sub(last.header.start)
            .map(|k| HEADER_LEN + k * rec);
        if clean && want != Some(len) {
            return Err(StoreError::corrupted(
                &last.path,
                0,
                format!("the log was closed cleanly and not opened since, but this stream does not end where {records} records end: it was changed after the close"),
            ));
        }
        Ok(())
    };
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
        exact(s, want, 32)?;
        crate::integrator::reconcile(s, want, &[], 32, want)?;
    }
    let records = size.div_ceil(256);
    exact(&shared.index, records, 8)?;
    crate::integrator::reconcile(&shared.index, records, &[], 8, records)?;
    Ok(())
}

struct TailScan {
    next_index: u64,
    new_leaves: Vec<Hash>,
    new_offsets: Vec<(u64, u64)>,
    last_segment: PathBuf,
    end: u64,
}

/// Scans the WAL from the last indexed entry at or below the checkpoint to
/// its end. A tail after the last complete batch is discarded if it is what
/// a crash leaves — unless the log was closed `clean`ly (nothing was
/// written after the close, so a tail there was put there).
fn scan_wal_tail(shared: &Shared, cp_size: u64, clean: bool) -> Result<TailScan> {
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
        if good_end < end {
            if clean {
                return Err(StoreError::corrupted(
                    &seg.path,
                    good_end,
                    "the log was closed cleanly and not opened since, but its WAL ends after its last complete batch: it was changed after the close",
                ));
            }
            if end - good_end > shared.config.max_group_bytes as u64 + 4096 {
                let (at, why) = bad_at.unwrap_or((good_end, "incomplete batch".into()));
                return Err(StoreError::corrupted(
                    &seg.path,
                    at,
                    format!("{why}, followed by more than one commit group of data"),
                ));
            }
            if let Some((at, why)) = &bad_at {
                let mut tail = vec![0u8; (end - at) as usize];
                seg.read_at(&mut tail, *at)?;
                if !crate::wal::crash_shaped(&tail) {
                    return Err(StoreError::corrupted(
                        &seg.path,
                        *at,
                        format!("{why}: a complete record at the end of the WAL fails its check — the file was changed, not cut short by a crash (recovery discards only what a crash leaves: an incomplete record, or bytes never written)"),
                    ));
                }
            }
            new_leaves.truncate(good_leaves);
            new_offsets.truncate(good_offsets);
            index = good_index;
            wal.recover_end(good_end, index)?;
        }
        return Ok(TailScan {
            next_index: index,
            new_leaves,
            new_offsets,
            last_segment: seg.path.clone(),
            end: good_end,
        });
    }
}

//! Full verification of a log directory, read-only and without trusting any
//! derived file: every entry is re-hashed, every stored hash (all levels) and
//! index record recomputed, every checkpoint's signature checked and its root
//! recomputed from the entries. The first discrepancy is reported with the
//! entry index or the file and offset.

use std::path::PathBuf;
use std::sync::Arc;

use rayon::prelude::*;
use veritrail_core::checkpoint::open_checkpoint;
use veritrail_core::compact::{CompactRange, VecSink};
use veritrail_core::hash::{leaf_hash, Hash};

use crate::datadir::DataDir;
use crate::error::{Result, StoreError};
use crate::segment::{Kind, Stream, HEADER_LEN};
use crate::wal::Scanner;

/// What a successful verification saw.
#[derive(Clone, Debug, Default)]
pub struct VerifyReport {
    /// Entries in the WAL.
    pub entries: u64,
    /// Signed checkpoints in the history.
    pub checkpoints: u64,
    /// Size of the newest checkpoint.
    pub checkpoint_size: u64,
    /// Its root.
    pub checkpoint_root: Hash,
    /// Origin of the log.
    pub origin: String,
    /// Torn tails found (discarded by recovery, or pending recovery).
    pub torn_tails: Vec<(PathBuf, u64)>,
}

const CHUNK: usize = 1 << 16;

/// Verifies log `name`. `progress(done, total)` is called as entries are checked.
///
/// # Errors
/// `Corrupted` naming the first bad entry, file or offset; I/O errors.
pub fn verify_log(
    dd: &DataDir,
    name: &str,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<VerifyReport> {
    let meta = dd.meta(name)?;
    let vfs = dd.vfs().clone();
    let dir = dd.log_dir(name);
    let flags = dd.flags().clone();
    let wal = Stream::open(vfs.clone(), &dir.join("wal"), Kind::Wal, 0, flags.clone())?;
    let index = Stream::open(
        vfs.clone(),
        &dir.join("index"),
        Kind::Index,
        0,
        flags.clone(),
    )?;
    let cps = Stream::open(
        vfs.clone(),
        &dir.join("checkpoints"),
        Kind::Checkpoints,
        0,
        flags.clone(),
    )?;
    let mut levels: Vec<Arc<Stream>> = Vec::new();
    loop {
        let d = dir.join("hash").join(levels.len().to_string());
        if !vfs.exists(&d) {
            break;
        }
        levels.push(Arc::new(Stream::open(
            vfs.clone(),
            &d,
            Kind::Hash,
            levels.len() as u8,
            flags.clone(),
        )?));
    }
    let mut report = VerifyReport {
        origin: meta.origin.clone(),
        ..VerifyReport::default()
    };

    // Checkpoints: every signature, sizes never decreasing.
    let mut checkpoints: Vec<(u64, Hash, PathBuf, u64)> = Vec::new();
    let cp_segs = cps.segments();
    for (i, seg) in cp_segs.iter().enumerate() {
        let file_len = seg.file.len().map_err(|e| StoreError::io(&seg.path, e))?;
        // Strict everywhere: only a tail that recovery already closed off (a
        // successor's prev_end) is tolerated, and reported.
        let (recs, _) = crate::checkpoints::scan_segment(seg, seg.valid_end(), true)
            .map_err(needs_recovery_hint(i + 1 == cp_segs.len()))?;
        if seg.valid_end() < file_len {
            report
                .torn_tails
                .push((seg.path.clone(), file_len - seg.valid_end()));
        }
        if seg.header.start != checkpoints.len() as u64 {
            return Err(StoreError::corrupted(
                &seg.path,
                8,
                "checkpoint segment does not continue its predecessor",
            ));
        }
        let opened: Vec<Result<(u64, Hash)>> = recs
            .par_iter()
            .map(|r| {
                let c = open_checkpoint(&r.note, &meta.verifier, &[]).map_err(|e| {
                    StoreError::corrupted(
                        &seg.path,
                        r.offset,
                        format!("checkpoint does not verify: {e}"),
                    )
                })?;
                Ok((c.checkpoint.size.0, c.checkpoint.root))
            })
            .collect();
        for (r, o) in recs.iter().zip(opened) {
            let (size, root) = o?;
            if let Some(prev) = checkpoints.last() {
                if size < prev.0 {
                    return Err(StoreError::corrupted(
                        &seg.path,
                        r.offset,
                        format!("checkpoint size {size} is smaller than the previous one ({}): the log was rolled back", prev.0),
                    ));
                }
            }
            checkpoints.push((size, root, seg.path.clone(), r.offset));
        }
    }
    report.checkpoints = checkpoints.len() as u64;
    if let Some(last) = checkpoints.last() {
        report.checkpoint_size = last.0;
        report.checkpoint_root = last.1;
    }
    let total_hint = report.checkpoint_size.max(1);

    // Entries: re-hash, compare with every stored level and the index, fold
    // into the tree, and check each checkpoint root at its size.
    let l0_count = levels.first().map_or(0, |s| s.record_count(32));
    let idx_count = index.record_count(8);
    let mut tree = CompactRange::new();
    let mut next_cp = 0usize;
    let mut n: u64 = 0;
    let wal_segs = wal.segments();
    let mut chunk: Vec<(Vec<u8>, PathBuf, u64)> = Vec::with_capacity(CHUNK);
    let check_chunk = |chunk: &mut Vec<(Vec<u8>, PathBuf, u64)>,
                       tree: &mut CompactRange,
                       n: &mut u64,
                       next_cp: &mut usize|
     -> Result<()> {
        if chunk.is_empty() {
            return Ok(());
        }
        let first = *n;
        let leaves: Vec<Hash> = chunk.par_iter().map(|(p, _, _)| leaf_hash(p)).collect();
        // Level 0 as stored.
        let have0 = l0_count.saturating_sub(first).min(leaves.len() as u64);
        if have0 > 0 {
            let stored = levels[0].read_records(first, have0, 32)?;
            for (k, h) in leaves.iter().take(have0 as usize).enumerate() {
                if stored[k * 32..k * 32 + 32] != h.0 {
                    let (_, path, off) = &chunk[k];
                    return Err(StoreError::corrupted(
                        path,
                        *off,
                        format!("entry {}: its bytes do not hash to the leaf hash stored in hash/0 (record {})", first + k as u64, first + k as u64),
                    ));
                }
            }
        }
        // Index records.
        for (k, (_, path, off)) in chunk.iter().enumerate() {
            let i = first + k as u64;
            if i % 256 == 0 && i / 256 < idx_count {
                let rec = index.read_records(i / 256, 1, 8)?;
                if u64::from_le_bytes(rec[..8].try_into().expect("8")) != *off {
                    return Err(StoreError::corrupted(
                        index.dir(),
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
            while *next_cp < checkpoints.len() && checkpoints[*next_cp].0 == tree.size().0 {
                check_cp(&checkpoints[*next_cp], tree)?;
                *next_cp += 1;
            }
            let stop = if *next_cp < checkpoints.len() {
                ((checkpoints[*next_cp].0 - tree.size().0) as usize).min(leaves.len() - pos)
            } else {
                leaves.len() - pos
            };
            let mut sink = VecSink::tile_levels();
            tree.extend(&leaves[pos..pos + stop], &mut sink);
            for (id, h) in &sink.nodes {
                let l = (id.level / 8) as usize;
                if l == 0 {
                    continue;
                }
                let Some(s) = levels.get(l) else { continue };
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
        *n += leaves.len() as u64;
        chunk.clear();
        Ok(())
    };
    for (si, seg) in wal_segs.iter().enumerate() {
        let last = si + 1 == wal_segs.len();
        check_chunk(&mut chunk, &mut tree, &mut n, &mut next_cp)?;
        if seg.header.start != n {
            return Err(StoreError::corrupted(
                &seg.path,
                8,
                format!(
                    "segment starts at entry {} but the log has {n} entries before it",
                    seg.header.start
                ),
            ));
        }
        let end = if last {
            seg.file.len().map_err(|e| StoreError::io(&seg.path, e))?
        } else {
            seg.valid_end()
        };
        if !last && end < seg.file.len().map_err(|e| StoreError::io(&seg.path, e))? {
            report.torn_tails.push((
                seg.path.clone(),
                seg.file.len().map_err(|e| StoreError::io(&seg.path, e))? - end,
            ));
        }
        let mut sc = Scanner::new(seg, HEADER_LEN, end);
        let mut batch_end = HEADER_LEN;
        let mut pending_in_batch = 0usize;
        loop {
            let r = match sc.next_record()? {
                None => break,
                Some(Ok(r)) => r,
                Some(Err(bad)) => {
                    let at = n + chunk.len() as u64;
                    let hint = if last && at >= report.checkpoint_size {
                        RECOVERY_HINT
                    } else {
                        ""
                    };
                    return Err(StoreError::corrupted(
                        &seg.path,
                        sc.position(),
                        format!("entry {at}: {}{hint}", bad.reason()),
                    ));
                }
            };
            if r.end_of_batch {
                batch_end = sc.position();
                pending_in_batch = 0;
            } else {
                pending_in_batch += 1;
            }
            chunk.push((r.payload, seg.path.clone(), r.offset));
            if chunk.len() >= CHUNK && pending_in_batch == 0 {
                check_chunk(&mut chunk, &mut tree, &mut n, &mut next_cp)?;
                progress(n, total_hint);
            }
        }
        if pending_in_batch > 0 {
            let at = n + (chunk.len() - pending_in_batch) as u64;
            let hint = if last { RECOVERY_HINT } else { "" };
            return Err(StoreError::corrupted(
                &seg.path,
                batch_end,
                format!("entries from {at} on form a batch that never completed{hint}"),
            ));
        }
    }
    check_chunk(&mut chunk, &mut tree, &mut n, &mut next_cp)?;
    while next_cp < checkpoints.len() && checkpoints[next_cp].0 == tree.size().0 {
        check_cp(&checkpoints[next_cp], &tree)?;
        next_cp += 1;
    }
    if next_cp < checkpoints.len() {
        let (size, _, path, off) = &checkpoints[next_cp];
        return Err(StoreError::corrupted(
            path,
            *off,
            format!(
                "checkpoint covers {size} entries but the WAL holds only {n}: entries were removed"
            ),
        ));
    }
    // Derived data may lag the WAL (integration is asynchronous) but never exceed it.
    if l0_count > n {
        return Err(StoreError::corrupted(
            levels[0].dir(),
            0,
            format!("hash/0 holds {l0_count} hashes for {n} entries"),
        ));
    }
    if l0_count < report.checkpoint_size {
        return Err(StoreError::corrupted(
            levels[0].dir(),
            HEADER_LEN + l0_count * 32,
            format!(
                "hash/0 holds {l0_count} hashes but the newest checkpoint covers {}",
                report.checkpoint_size
            ),
        ));
    }
    for (l, s) in levels.iter().enumerate().skip(1) {
        let max = n >> (8 * l as u32);
        if s.record_count(32) > max {
            return Err(StoreError::corrupted(
                s.dir(),
                0,
                format!("hash level {l} holds more hashes than the entries allow"),
            ));
        }
    }
    if idx_count > n.div_ceil(256) {
        return Err(StoreError::corrupted(
            index.dir(),
            0,
            "index holds records past the end of the WAL",
        ));
    }
    progress(n, n.max(1));
    report.entries = n;
    Ok(report)
}

const RECOVERY_HINT: &str = "; if the log crashed and has not been opened since, let recovery discard the torn tail first (open the log once, e.g. `veritrail checkpoint`), then verify again";

fn needs_recovery_hint(last: bool) -> impl Fn(StoreError) -> StoreError {
    move |e| match e {
        StoreError::Corrupted {
            file,
            offset,
            reason,
        } if last => StoreError::Corrupted {
            file,
            offset,
            reason: format!("{reason}{RECOVERY_HINT}"),
        },
        other => other,
    }
}

fn check_cp(cp: &(u64, Hash, PathBuf, u64), tree: &CompactRange) -> Result<()> {
    if tree.root() != cp.1 {
        return Err(StoreError::corrupted(
            &cp.2,
            cp.3,
            format!(
                "checkpoint at size {} signs a root that the entries do not produce",
                cp.0
            ),
        ));
    }
    Ok(())
}

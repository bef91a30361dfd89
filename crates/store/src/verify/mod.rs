//! Full verification of a log directory, read-only and without trusting any
//! derived file: every entry is re-hashed, every stored hash (all levels) and
//! index record recomputed, every checkpoint's signature checked and its root
//! recomputed from the entries. The first discrepancy is reported with the
//! entry index or the file and offset.

use std::path::PathBuf;

use veritrail_core::compact::CompactRange;
use veritrail_core::hash::Hash;

use crate::datadir::DataDir;
use crate::error::{Result, StoreError};
use crate::layout::LogStreams;

mod checkpoints;
mod derived;
mod entries;

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
    /// Temporary segment files of a creation a crash interrupted (pending
    /// recovery, which removes them; none holds any of the log).
    pub interrupted: Vec<PathBuf>,
    /// Bytes at the end of the WAL and checkpoint history that a running
    /// writer was still writing when they were read (left for the next run).
    pub in_flight: u64,
}

/// Verifies log `name`: the checkpoint history, then the entries against
/// everything derived from them, then the derived streams' extents (one pass
/// per stream, in `checkpoints`, `entries` and `derived`). `progress(done,
/// total)` is called as entries are checked.
///
/// # Errors
/// `Corrupted` naming the first bad entry, file or offset; I/O errors.
pub fn verify_log(
    dd: &DataDir,
    name: &str,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<VerifyReport> {
    let meta = dd.meta(name)?;
    let dir = dd.log_dir(name);
    let streams = LogStreams::open(dd.env(), &dir, crate::segment::DEFAULT_SEGMENT_LIMIT, None)?;
    let mut report = VerifyReport {
        origin: meta.origin.clone(),
        interrupted: streams.leftovers(),
        ..VerifyReport::default()
    };
    let LogStreams {
        wal,
        index,
        checkpoints: cps,
        levels,
        ..
    } = streams;
    let checkpoints = checkpoints::pass(&cps, &meta.verifier, &mut report)?;
    let ctx = entries::Ctx {
        levels: &levels,
        index: &index,
        l0_count: levels.first().map_or(0, |s| s.record_count(32)),
        idx_count: index.record_count(8),
        checkpoints: &checkpoints,
    };
    let fold = entries::pass(&wal, &ctx, &mut report, progress)?;
    let n = derived::pass(
        &dir,
        fold,
        &checkpoints,
        &levels,
        &index,
        report.checkpoint_size,
    )?;
    progress(n, n.max(1));
    report.entries = n;
    Ok(report)
}

/// Recovery only ever leaves one interrupted commit group after a segment's
/// valid end; more than that is not a torn tail.
pub(super) fn check_torn(path: &std::path::Path, valid_end: u64, file_len: u64) -> Result<()> {
    if file_len - valid_end > crate::config::LogConfig::default().max_group_bytes as u64 + 4096 {
        return Err(StoreError::corrupted(
            path,
            valid_end,
            format!(
                "{} bytes after the segment's recorded end: more than a crash can leave",
                file_len - valid_end
            ),
        ));
    }
    Ok(())
}

/// Whether a writer is still appending to `seg`: its length grows past
/// `end` within a second. A record that was cut short only because it was
/// being written is complete an instant later; a torn tail left by a crash
/// never grows.
pub(super) fn being_written(seg: &crate::segment::Segment, end: u64) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    loop {
        if seg.file.len().is_ok_and(|len| len > end) {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

pub(super) const RECOVERY_HINT: &str = "; if the log crashed and has not been opened since, let recovery discard the torn tail first (open the log once, e.g. `veritrail checkpoint`), then verify again";

pub(super) fn needs_recovery_hint(last: bool) -> impl Fn(StoreError) -> StoreError {
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

fn check_cp(cp: &checkpoints::Found, tree: &CompactRange) -> Result<()> {
    if tree.root() != cp.root {
        return Err(StoreError::corrupted(
            &cp.file,
            cp.offset,
            format!(
                "checkpoint at size {} signs a root that the entries do not produce",
                cp.size
            ),
        ));
    }
    Ok(())
}

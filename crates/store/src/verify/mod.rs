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
    /// Entries no checkpoint covers yet: after a crash (the next open signs
    /// one), or while a writer runs. After a clean close there are none.
    pub uncovered: u64,
    /// The last `lifecycle/` record: the log's last open, or its clean
    /// close (`None` for a log written before lifecycle records existed).
    pub lifecycle: Option<crate::lifecycle::Record>,
    /// Quarantine files: copies of tails recovery discarded.
    pub quarantined: Vec<PathBuf>,
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
        quarantined: streams.quarantined(),
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
    report.uncovered = n.saturating_sub(report.checkpoint_size);
    report.lifecycle = lifecycle_pass(dd, &dir, &report)?;
    Ok(report)
}

/// The `lifecycle/` records against what the other passes found: entries
/// and checkpoints never fewer than a record says there were, and after a
/// clean close exactly as many, with every entry covered by the newest
/// checkpoint. Cutting the newest checkpoint records away is found here.
fn lifecycle_pass(
    dd: &DataDir,
    dir: &std::path::Path,
    report: &VerifyReport,
) -> Result<Option<crate::lifecycle::Record>> {
    use crate::lifecycle::{Event, RECORD};
    let sdir = dir.join(crate::lifecycle::DIR);
    if !dd.vfs().is_dir(&sdir) {
        return Ok(None);
    }
    let s = crate::segment::Stream::open(dd.env(), &sdir, crate::segment::Kind::Lifecycle, 0)?;
    let records = crate::lifecycle::records(&s)?;
    let total = s.record_count(RECORD);
    let last_seg = s.last();
    if (records.len() as u64) < total {
        return Err(StoreError::corrupted(
            &last_seg.path,
            record_offset(records.len() as u64 - last_seg.header.start),
            "a lifecycle record fails its check",
        ));
    }
    let mut prev: Option<crate::lifecycle::Record> = None;
    for r in &records {
        if let Some(p) = prev {
            if r.entries < p.entries || r.checkpoints < p.checkpoints {
                return Err(StoreError::corrupted(
                    &last_seg.path,
                    0,
                    format!("lifecycle records go backwards ({} entries and {} checkpoints, then {} and {})", p.entries, p.checkpoints, r.entries, r.checkpoints),
                ));
            }
        }
        prev = Some(*r);
    }
    let Some(last) = prev else { return Ok(None) };
    if report.entries < last.entries || report.checkpoints < last.checkpoints {
        return Err(StoreError::corrupted(
            &last_seg.path,
            0,
            format!(
                "the log held {} entries and {} checkpoints when it was last {}, but now holds {} and {}: {} were removed",
                last.entries,
                last.checkpoints,
                if last.event == Event::Close { "closed cleanly" } else { "opened" },
                report.entries,
                report.checkpoints,
                if report.checkpoints < last.checkpoints { "checkpoint records" } else { "entries" },
            ),
        ));
    }
    if last.event == Event::Close
        && (report.entries != last.entries
            || report.checkpoints != last.checkpoints
            || report.uncovered > 0)
    {
        return Err(StoreError::corrupted(
            &last_seg.path,
            0,
            format!(
                "the log was closed cleanly with {} entries and {} checkpoints, all covered, and never opened again, but now holds {} entries ({} not covered by any checkpoint) and {} checkpoints",
                last.entries, last.checkpoints, report.entries, report.uncovered, report.checkpoints
            ),
        ));
    }
    Ok(Some(last))
}

/// Where the `k`-th record of a lifecycle segment begins.
fn record_offset(k: u64) -> u64 {
    crate::segment::HEADER_LEN + k * crate::lifecycle::RECORD
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

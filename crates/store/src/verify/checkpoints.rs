//! The checkpoint history's pass: every record read strictly, every
//! signature checked against the log's key, sizes never decreasing.

use std::path::PathBuf;

use rayon::prelude::*;
use veritrail_core::checkpoint::open_checkpoint;
use veritrail_core::hash::Hash;
use veritrail_core::note::Verifier;

use super::{being_written, check_torn, needs_recovery_hint, VerifyReport};
use crate::error::{Result, StoreError};
use crate::segment::{Stream, HEADER_LEN};

/// A checkpoint found in the history: its size and root, and where it is.
pub(super) struct Found {
    pub size: u64,
    pub root: Hash,
    pub file: PathBuf,
    pub offset: u64,
}

/// Reads and checks every checkpoint of `cps`, oldest first; records in
/// `report` a torn tail recovery closed off and a record a running writer
/// is still writing.
///
/// # Errors
/// `Corrupted` naming the record; I/O errors.
pub(super) fn pass(
    cps: &Stream,
    verifier: &Verifier,
    report: &mut VerifyReport,
) -> Result<Vec<Found>> {
    // Checkpoints: every signature, sizes never decreasing.
    let mut checkpoints: Vec<Found> = Vec::new();
    let cp_segs = cps.segments();
    for (i, seg) in cp_segs.iter().enumerate() {
        let file_len = seg.file.len().map_err(|e| StoreError::io(&seg.path, e))?;
        let last = i + 1 == cp_segs.len();
        // Strict everywhere: only a tail that recovery already closed off (a
        // successor's prev_end) is tolerated, and reported; and, at the end
        // of the newest segment, a record that a running writer is still
        // writing (cut short, never damaged, and the file grows).
        let recs = match crate::checkpoints::scan_segment(seg, seg.valid_end(), true) {
            Ok((recs, _)) => recs,
            Err(e) if last => {
                let (recs, good) = crate::checkpoints::scan_segment(seg, seg.valid_end(), false)?;
                if !crate::checkpoints::is_cut_record(seg, good, seg.valid_end())?
                    || !being_written(seg, seg.valid_end())
                {
                    return Err(needs_recovery_hint(true)(e));
                }
                report.in_flight += seg.valid_end() - good;
                recs
            }
            Err(e) => return Err(e),
        };
        if !last && seg.valid_end() < file_len {
            check_torn(&seg.path, seg.valid_end(), file_len)?;
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
                let c = open_checkpoint(&r.note, verifier, &[]).map_err(|e| {
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
                if size < prev.size {
                    return Err(StoreError::corrupted(
                        &seg.path,
                        r.offset,
                        format!("checkpoint size {size} is smaller than the previous one ({}): the log was rolled back", prev.size),
                    ));
                }
            }
            checkpoints.push(Found {
                size,
                root,
                file: seg.path.clone(),
                offset: r.offset,
            });
        }
    }
    // Creating a log signs the checkpoint of its empty tree.
    let Some(newest) = checkpoints.last() else {
        return Err(StoreError::corrupted(
            cps.dir(),
            HEADER_LEN,
            "the checkpoint history is empty, but every log keeps the checkpoint signed when it was created",
        ));
    };
    report.checkpoints = checkpoints.len() as u64;
    report.checkpoint_size = newest.size;
    report.checkpoint_root = newest.root;
    Ok(checkpoints)
}

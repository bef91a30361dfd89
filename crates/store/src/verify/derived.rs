//! What the entry pass leaves to check: every checkpoint was reached by the
//! entries, and the derived streams (hash levels, index) hold everything the
//! newest checkpoint covers and nothing beyond the entries.

use std::path::Path;
use std::sync::Arc;

use super::checkpoints::Found;
use super::entries::Fold;
use crate::error::{Result, StoreError};
use crate::segment::{Stream, HEADER_LEN};

/// Checks the checkpoints past the fold's end and the derived streams'
/// extents against the `n = fold.n` entries of the WAL; returns `n`.
///
/// # Errors
/// `Corrupted` naming the stream and what is missing or extra.
pub(super) fn pass(
    dir: &Path,
    fold: Fold,
    checkpoints: &[Found],
    levels: &[Arc<Stream>],
    index: &Stream,
    checkpoint_size: u64,
) -> Result<u64> {
    let l0_count = levels.first().map_or(0, |s| s.record_count(32));
    let idx_count = index.record_count(8);
    let Fold {
        tree,
        mut next_cp,
        n,
        ..
    } = fold;
    while next_cp < checkpoints.len() && checkpoints[next_cp].size == tree.size().0 {
        super::check_cp(&checkpoints[next_cp], &tree)?;
        next_cp += 1;
    }
    if next_cp < checkpoints.len() {
        let Found {
            size, file, offset, ..
        } = &checkpoints[next_cp];
        return Err(StoreError::corrupted(
            file,
            *offset,
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
    if l0_count < checkpoint_size {
        return Err(StoreError::corrupted(
            levels[0].dir(),
            HEADER_LEN + l0_count * 32,
            format!(
                "hash/0 holds {l0_count} hashes but the newest checkpoint covers {}",
                checkpoint_size
            ),
        ));
    }
    // Every hash of every level that the newest checkpoint covers was written
    // before it was signed, and tiles up to its size are served from them.
    for l in 1..8u32 {
        let need = checkpoint_size >> (8 * l);
        if need == 0 {
            break;
        }
        let have = levels.get(l as usize).map_or(0, |s| s.record_count(32));
        if have < need {
            let ldir = levels.get(l as usize).map_or_else(
                || dir.join("hash").join(l.to_string()),
                |s| s.dir().to_path_buf(),
            );
            return Err(StoreError::corrupted(
                ldir,
                HEADER_LEN + have * 32,
                format!(
                    "hash level {l} holds {have} hashes but the newest checkpoint covers {need}"
                ),
            ));
        }
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
    // Like the hash levels, the index is written before the checkpoint covering it.
    let idx_need = checkpoint_size.div_ceil(256);
    if idx_count < idx_need {
        return Err(StoreError::corrupted(
            index.dir(),
            HEADER_LEN + idx_count * 8,
            format!("index holds {idx_count} records but the newest checkpoint covers {idx_need}"),
        ));
    }
    if idx_count > n.div_ceil(256) {
        return Err(StoreError::corrupted(
            index.dir(),
            0,
            "index holds records past the end of the WAL",
        ));
    }
    Ok(n)
}

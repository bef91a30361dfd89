//! What a data directory says about its own integrity, for the server's
//! `GET /v1/integrity` and the console's Integrity page (docs/CONSOLE.md):
//! the result `veritrail verify` keeps of its last run, and per log the
//! recent checkpoints with what witnesses and timestamp authorities kept
//! for them.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::kept;
use crate::store::LogReader;

/// Where `veritrail verify` keeps the result of its last run.
pub fn last_verify_path(data: &Path) -> PathBuf {
    data.join("run").join("verify.json")
}

/// The last run of `veritrail verify` on `data`, as it wrote it; `None` if
/// it never ran (or its record cannot be read, which is said).
pub fn last_verify(data: &Path) -> Option<Value> {
    let path = last_verify_path(data);
    let bytes = std::fs::read(&path).ok()?;
    Some(serde_json::from_slice(&bytes).unwrap_or_else(
        |e| serde_json::json!({"ok": false, "unreadable": format!("{}: {e}", path.display())}),
    ))
}

/// One checkpoint of a log's recent history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// Its tree size.
    pub size: u64,
    /// Key names of the witnesses whose cosignatures are kept for it.
    pub cosigned_by: Vec<String>,
    /// Whether an RFC 3161 token is kept for it.
    pub timestamped: bool,
}

/// The newest `n` checkpoint sizes of `log` (ascending), looking back in
/// widening windows so a log with millions of checkpoints is not read whole.
///
/// # Errors
/// Reading the checkpoint history.
pub fn recent_sizes(
    log: &LogReader,
    latest: u64,
    n: usize,
) -> Result<Vec<u64>, crate::store::StoreError> {
    let mut back = 64u64;
    loop {
        let after = latest.saturating_sub(back);
        // `after` itself is excluded; from the start the empty tree counts.
        let mut sizes = log.checkpoint_sizes(after, usize::MAX)?;
        if after == 0 {
            sizes.insert(0, 0);
        }
        sizes.retain(|s| *s <= latest);
        if sizes.len() >= n || after == 0 {
            let skip = sizes.len().saturating_sub(n);
            return Ok(sizes.split_off(skip));
        }
        back = back.saturating_mul(16);
    }
}

/// The key names that signed a cosignature file's lines (`— name sig`).
pub fn cosigners(lines: &str) -> Vec<String> {
    lines
        .lines()
        .filter_map(|l| l.strip_prefix("— "))
        .filter_map(|l| l.split(' ').next())
        .map(str::to_owned)
        .collect()
}

/// `sizes` with what is kept for each in `data` for `log`.
pub fn history(data: &Path, log: &str, sizes: &[u64]) -> Vec<Checkpoint> {
    let stamped = kept::timestamp_sizes(data, log);
    sizes
        .iter()
        .map(|&size| Checkpoint {
            size,
            cosigned_by: cosigners(&kept::cosignatures(data, log, size)),
            timestamped: stamped.binary_search(&size).is_ok(),
        })
        .collect()
}

/// When the cosignatures for `log`'s checkpoint at `size` were kept (the
/// file's modification time, Unix nanoseconds).
pub fn cosigned_at(data: &Path, log: &str, size: u64) -> Option<i128> {
    let m = std::fs::metadata(kept::cosignatures_path(data, log, size))
        .and_then(|m| m.modified())
        .ok()?;
    let d = m.duration_since(std::time::UNIX_EPOCH).ok()?;
    Some(d.as_nanos() as i128)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosigners_are_the_names_of_signature_lines() {
        let lines = "— w1.example AAAA\n— w2.example BBBB\nnot a line\n";
        assert_eq!(cosigners(lines), ["w1.example", "w2.example"]);
        assert!(cosigners("").is_empty());
    }

    #[test]
    fn the_last_record_is_read_and_a_damaged_one_said() {
        let dir = tempfile::tempdir().unwrap();
        let p = last_verify_path(dir.path());
        assert_eq!(last_verify(dir.path()), None);
        crate::durable::replace(&p, br#"{"ok": false, "n": 2}"#).unwrap();
        assert_eq!(
            last_verify(dir.path()),
            Some(serde_json::json!({"ok": false, "n": 2}))
        );
        std::fs::write(&p, b"{half").unwrap();
        let v = last_verify(dir.path()).unwrap();
        assert_eq!(v["ok"], false);
        assert!(v["unreadable"].as_str().unwrap().contains("verify.json"));
    }
}

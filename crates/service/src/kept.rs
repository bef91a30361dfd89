//! What a server keeps beside a log's checkpoints in its data directory:
//! witnesses' cosignature lines (`cosignatures/<log>/<size>`) and RFC 3161
//! tokens (`timestamps/<log>/<size>.tst`), docs/TRUST.md.

use std::path::{Path, PathBuf};

fn dir(root: &Path, kind: &str, log: &str) -> PathBuf {
    root.join(kind).join(log)
}

/// Sizes with something kept under `kind`, ascending.
fn sizes(root: &Path, kind: &str, log: &str, suffix: &str) -> Vec<u64> {
    let mut out: Vec<u64> = std::fs::read_dir(dir(root, kind, log))
        .map(|d| {
            d.filter_map(|e| {
                e.ok()?
                    .file_name()
                    .to_str()?
                    .strip_suffix(suffix)?
                    .parse()
                    .ok()
            })
            .collect()
        })
        .unwrap_or_default();
    out.sort_unstable();
    out
}

/// Tree sizes of `log` whose checkpoints have cosignatures kept, ascending.
pub fn cosigned_sizes(root: &Path, log: &str) -> Vec<u64> {
    sizes(root, "cosignatures", log, "")
}

/// The cosignature lines kept for `log`'s checkpoint at `size` (empty if none).
pub fn cosignatures(root: &Path, log: &str, size: u64) -> String {
    std::fs::read_to_string(cosignatures_path(root, log, size)).unwrap_or_default()
}

/// Tree sizes of `log` whose checkpoints have a timestamp token, ascending.
pub fn timestamp_sizes(root: &Path, log: &str) -> Vec<u64> {
    sizes(root, "timestamps", log, ".tst")
}

/// The timestamp token (DER) kept for `log`'s checkpoint at `size`.
///
/// # Errors
/// Reading it.
pub fn timestamp(root: &Path, log: &str, size: u64) -> std::io::Result<Vec<u8>> {
    std::fs::read(timestamp_path(root, log, size))
}

/// Where the cosignature lines of `log`'s checkpoint at `size` are kept.
pub fn cosignatures_path(root: &Path, log: &str, size: u64) -> PathBuf {
    dir(root, "cosignatures", log).join(size.to_string())
}

/// Where the timestamp token of `log`'s checkpoint at `size` is kept.
pub fn timestamp_path(root: &Path, log: &str, size: u64) -> PathBuf {
    dir(root, "timestamps", log).join(format!("{size}.tst"))
}

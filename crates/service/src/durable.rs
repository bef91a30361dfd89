//! Replacing a small file of derived state (cursors, the rules' state,
//! kept cosignatures and timestamp tokens) atomically and durably: write
//! `<name>.tmp`, `fdatasync` it, rename it over the file, `fsync` the
//! directory. A crash leaves the old file or the new one, never a mix. (The
//! append-only log files have their own, create-only rules in the store.)

use std::io::Write as _;
use std::path::Path;

/// Replaces `path` with `bytes`, creating its directory if needed.
///
/// # Errors
/// I/O errors (the previous file stays).
pub fn replace(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().expect("a file has a directory");
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_data()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

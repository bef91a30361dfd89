//! Every durable file creation of the store, in one place (after sunlight's
//! `internal/durable` and tessera's `storage/posix/file_ops.go`). Files are
//! only ever created whole and then appended to; none is rewritten.
//!
//! The syscall order of [`create_new_file`], which everything here uses:
//! create `<name>.tmp` exclusively (`O_CREAT|O_EXCL`) → write → `fdatasync`
//! → rename to `<name>` with `RENAME_NOREPLACE` (never replacing a file) →
//! `fsync` the directory. A crash before the rename leaves only the
//! temporary file, which holds nothing that was ever part of the data: the
//! next attempt replaces it ([`write_new`]), or recovery removes it
//! (segments, docs/FORMAT.md "Segmented streams"). A file under its final
//! name is therefore always complete.

use std::path::{Path, PathBuf};

use crate::error::{Result, StoreError};
use crate::vfs::{AppendFile, Vfs};

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |e| StoreError::io(path, e)
}

/// `<path>.tmp`: where a file is written before it gets its name.
pub fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Creates `path` holding `bytes`, whole or not at all, in the order the
/// module documents. Refuses to replace an existing `path`. The temporary
/// file is kept open for appending and returned when `keep_open` is set (a
/// segment's first writer), else closed.
///
/// # Errors
/// `AlreadyExists` (as an I/O error) when `tmp` or `path` exists; other
/// I/O errors.
pub fn create_new_file(
    vfs: &dyn Vfs,
    tmp: &Path,
    path: &Path,
    bytes: &[u8],
    mode: u32,
) -> Result<()> {
    let f: Box<dyn AppendFile> = vfs.create_new(tmp, mode).map_err(io(tmp))?;
    f.append(bytes).map_err(io(tmp))?;
    f.sync_data().map_err(io(tmp))?;
    drop(f);
    vfs.rename_new(tmp, path).map_err(io(path))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    vfs.sync_dir(dir).map_err(io(dir))
}

/// Writes a new small file (a key, `meta`, the data directory's marker)
/// whole or not at all. A `<path>.tmp` left by a crash in an earlier attempt
/// is removed first: it was never under the final name, so it held nothing
/// anyone relied on.
///
/// # Errors
/// I/O errors; `AlreadyExists` when `path` exists.
pub fn write_new(vfs: &dyn Vfs, path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let tmp = tmp_path(path);
    if vfs.exists(&tmp) {
        vfs.remove_file(&tmp).map_err(io(&tmp))?;
    }
    create_new_file(vfs, &tmp, path, bytes, mode)
}

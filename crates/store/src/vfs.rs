//! The storage seam. Every durable file operation of the store goes through
//! [`Vfs`], so tests can substitute [`crate::memfs::MemFs`], which injects
//! failures and simulates crashes that keep only synced bytes.
//!
//! Durable creation order (see `durable.rs`): create exclusive → write →
//! fsync file → fsync directory. Files are only ever appended to.

use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::{FileExt as _, OpenOptionsExt as _};
use std::path::Path;
use std::sync::Arc;

/// An inode flag veritrail sets for storage-level immutability.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flag {
    /// `FS_APPEND_FL` (`chattr +a`): append only.
    AppendOnly,
    /// `FS_IMMUTABLE_FL` (`chattr +i`): no change at all.
    Immutable,
}

/// A file opened for appending. One thread appends; another may `fdatasync`
/// the same file meanwhile (the WAL's write of one group overlaps the sync of
/// the one before), so both take `&self`.
pub trait AppendFile: Send + Sync {
    /// Appends all of `data` (one or more `write` calls).
    ///
    /// # Errors
    /// The OS error; the caller must treat the file as unusable.
    fn append(&self, data: &[u8]) -> io::Result<()>;
    /// `fdatasync`: every byte appended before the call began is durable
    /// when it returns `Ok`.
    ///
    /// # Errors
    /// The OS error; the caller must poison the writer.
    fn sync_data(&self) -> io::Result<()>;
}

/// A file opened for positional reads.
#[allow(clippy::len_without_is_empty)]
pub trait ReadFile: Send + Sync {
    /// Reads exactly `buf.len()` bytes at `offset`.
    ///
    /// # Errors
    /// Short reads are `UnexpectedEof`.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// Current length.
    ///
    /// # Errors
    /// The OS error.
    fn len(&self) -> io::Result<u64>;
    /// A hint that `len` bytes at `offset` will be read soon, so the OS can
    /// start reading them from disk now. Best effort; does nothing by default.
    fn will_need(&self, _offset: u64, _len: u64) {}
}

/// File-system operations the store uses.
pub trait Vfs: Send + Sync + 'static {
    /// `mkdir -p`.
    ///
    /// # Errors
    /// The OS error.
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// File names in a directory (not recursive), unsorted.
    ///
    /// # Errors
    /// The OS error.
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// Whether a path exists.
    fn exists(&self, path: &Path) -> bool;
    /// Creates a new file exclusively (`O_CREAT|O_EXCL`) with `mode`, for appending.
    ///
    /// # Errors
    /// `AlreadyExists` or the OS error.
    fn create_new(&self, path: &Path, mode: u32) -> io::Result<Box<dyn AppendFile>>;
    /// Opens an existing file for appending (`O_APPEND`).
    ///
    /// # Errors
    /// The OS error.
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn AppendFile>>;
    /// Opens a file for reading.
    ///
    /// # Errors
    /// The OS error.
    fn open_read(&self, path: &Path) -> io::Result<Arc<dyn ReadFile>>;
    /// Renames `from` to `to`, refusing to replace an existing `to`
    /// (`renameat2(RENAME_NOREPLACE)`). Used once per segment: a segment is
    /// created under a temporary name and renamed once its header is durable.
    ///
    /// # Errors
    /// `AlreadyExists` when `to` exists; the OS error.
    fn rename_new(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes a file. Used only for a temporary segment file left by a crash
    /// during its creation, which never held any of the log.
    ///
    /// # Errors
    /// The OS error.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Makes directory entries durable (`fsync` on the directory).
    ///
    /// # Errors
    /// The OS error.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Sets an immutability flag (replacing `AppendOnly` by `Immutable` when
    /// sealing).
    ///
    /// # Errors
    /// `PermissionDenied` without `CAP_LINUX_IMMUTABLE`, `Unsupported` on file
    /// systems without the flags, or another OS error.
    fn set_flag(&self, path: &Path, flag: Flag) -> io::Result<()>;
    /// Takes an exclusive, non-blocking lock on `path` (created if missing),
    /// held until the returned guard is dropped.
    ///
    /// # Errors
    /// `WouldBlock` when another process holds it; other OS errors.
    fn lock(&self, path: &Path) -> io::Result<Box<dyn std::any::Any + Send + Sync>>;
    /// Reads the flags currently set: (append-only, immutable).
    ///
    /// # Errors
    /// The OS error.
    fn flags(&self, path: &Path) -> io::Result<(bool, bool)>;
    /// Whether `path` is a directory.
    fn is_dir(&self, path: &Path) -> bool;
    /// Last modification time, Unix nanoseconds.
    ///
    /// # Errors
    /// The OS error.
    fn modified_nanos(&self, path: &Path) -> io::Result<u64>;
}

/// The real file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealFs;

struct RealAppend(File);

impl AppendFile for RealAppend {
    fn append(&self, data: &[u8]) -> io::Result<()> {
        (&self.0).write_all(data)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.0.sync_data()
    }
}

struct RealRead(File);

impl ReadFile for RealRead {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.0.read_exact_at(buf, offset)
    }
    fn len(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }
    fn will_need(&self, offset: u64, len: u64) {
        // A hint only: an error changes nothing.
        let _ = rustix::fs::fadvise(
            &self.0,
            offset,
            std::num::NonZeroU64::new(len),
            rustix::fs::Advice::WillNeed,
        );
    }
}

impl Vfs for RealFs {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir_all(path)
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir)? {
            out.push(e?.file_name().to_string_lossy().into_owned());
        }
        Ok(out)
    }
    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }
    fn create_new(&self, path: &Path, mode: u32) -> io::Result<Box<dyn AppendFile>> {
        let f = OpenOptions::new()
            .append(true)
            .create_new(true)
            .mode(mode)
            .open(path)?;
        Ok(Box::new(RealAppend(f)))
    }
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn AppendFile>> {
        Ok(Box::new(RealAppend(
            OpenOptions::new().append(true).open(path)?,
        )))
    }
    fn open_read(&self, path: &Path) -> io::Result<Arc<dyn ReadFile>> {
        Ok(Arc::new(RealRead(File::open(path)?)))
    }
    fn rename_new(&self, from: &Path, to: &Path) -> io::Result<()> {
        use rustix::fs::{renameat_with, RenameFlags, CWD};
        match renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE) {
            Ok(()) => Ok(()),
            // File systems without RENAME_NOREPLACE: the single writer holds
            // the log's lock, so checking first is enough there.
            Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS) => {
                if to.exists() {
                    return Err(io::Error::from(io::ErrorKind::AlreadyExists));
                }
                std::fs::rename(from, to)
            }
            Err(e) => Err(e.into()),
        }
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
    fn set_flag(&self, path: &Path, flag: Flag) -> io::Result<()> {
        use rustix::fs::IFlags;
        let f = File::open(path)?;
        let cur = rustix::fs::ioctl_getflags(&f).map_err(io::Error::from)?;
        let new = match flag {
            Flag::AppendOnly => cur | IFlags::APPEND,
            Flag::Immutable => (cur - IFlags::APPEND) | IFlags::IMMUTABLE,
        };
        if new != cur {
            rustix::fs::ioctl_setflags(&f, new).map_err(io::Error::from)?;
        }
        Ok(())
    }
    fn lock(&self, path: &Path) -> io::Result<Box<dyn std::any::Any + Send + Sync>> {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .open(path)?;
        rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive)
            .map_err(io::Error::from)?;
        Ok(Box::new(f))
    }
    fn is_dir(&self, path: &Path) -> bool {
        path.is_dir()
    }
    fn modified_nanos(&self, path: &Path) -> io::Result<u64> {
        let t = std::fs::metadata(path)?.modified()?;
        Ok(t.duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64))
    }
    fn flags(&self, path: &Path) -> io::Result<(bool, bool)> {
        use rustix::fs::IFlags;
        let f = File::open(path)?;
        let cur = rustix::fs::ioctl_getflags(&f).map_err(io::Error::from)?;
        Ok((
            cur.contains(IFlags::APPEND),
            cur.contains(IFlags::IMMUTABLE),
        ))
    }
}

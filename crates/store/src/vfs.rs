//! The storage seam. Every durable file operation of the store goes through
//! [`Vfs`], so tests can substitute `memfs::MemFs` (feature `testing`), which injects
//! failures and simulates crashes that keep only synced bytes.
//!
//! Durable creation order (see `durable.rs`): create exclusive → write →
//! fsync file → fsync directory. Files are only ever appended to.

use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::os::fd::AsRawFd as _;
use std::os::unix::fs::{FileExt as _, MetadataExt as _, OpenOptionsExt as _};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

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
    /// Tells the OS that the `len` bytes at `offset`, already durable, will
    /// not be read again soon, so their page-cache pages can be reused for
    /// the bytes appended next (`posix_fadvise(POSIX_FADV_DONTNEED)`). A
    /// hint: the bytes stay in the file, and a later read fetches them from
    /// the device.
    ///
    /// # Errors
    /// The OS error; nothing has changed.
    fn release_cache(&self, offset: u64, len: u64) -> io::Result<()> {
        let _ = (offset, len);
        Ok(())
    }
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
    /// Reads up to `buf.len()` bytes at `offset` as part of one front-to-back
    /// pass over a large file (full verification) and returns how many: fewer
    /// only at the end of the file. `buf`'s address and length and `offset`
    /// are multiples of [`SCAN_ALIGN`].
    ///
    /// The real file system serves the pass from the page cache while the
    /// file is there, and from the first range that is not, straight from
    /// the device (`O_DIRECT`): one thread streaming large direct reads gets
    /// more of a disk than buffered reads with read-ahead, saves the copy
    /// out of the page cache, and does not evict what the cache holds.
    ///
    /// # Errors
    /// The OS error.
    fn scan_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let n = self.len()?.saturating_sub(offset).min(buf.len() as u64) as usize;
        self.read_exact_at(&mut buf[..n], offset)?;
        Ok(n)
    }
}

/// Alignment of [`ReadFile::scan_at`]'s buffer, offset and length: the
/// largest logical block size direct I/O asks for on common devices.
pub const SCAN_ALIGN: usize = 4096;

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
    fn release_cache(&self, offset: u64, len: u64) -> io::Result<()> {
        let Some(len) = std::num::NonZeroU64::new(len) else {
            return Ok(());
        };
        rustix::fs::fadvise(&self.0, offset, Some(len), rustix::fs::Advice::DontNeed)
            .map_err(io::Error::from)
    }
}

struct RealRead {
    file: File,
    /// How [`ReadFile::scan_at`] reads: decided by its first read.
    scan: Mutex<Scan>,
}

#[derive(Clone, Debug)]
enum Scan {
    /// From the page cache while all of each read is there.
    Cached,
    /// A second descriptor of the same file, opened with `O_DIRECT`.
    Direct(Arc<File>),
    /// Buffered reads: direct I/O is not available here.
    Buffered,
}

impl RealRead {
    /// The same file (not the same path: it may have been renamed) opened
    /// again with `O_DIRECT`, or `None` where the file system refuses it.
    fn open_direct(&self) -> Option<File> {
        use rustix::fs::{Mode, OFlags};
        let proc_path = format!("/proc/self/fd/{}", self.file.as_raw_fd());
        let fd = rustix::fs::open(
            proc_path.as_str(),
            OFlags::RDONLY | OFlags::DIRECT | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ok()?;
        let direct = File::from(fd);
        let (a, b) = (self.file.metadata().ok()?, direct.metadata().ok()?);
        (a.dev() == b.dev() && a.ino() == b.ino()).then_some(direct)
    }
}

/// Reads up to `buf.len()` bytes at `offset`, fewer only at the end of the
/// file. `direct`: `file` was opened with `O_DIRECT`, whose reads end short
/// and unaligned only at the end of the file (another read from there would
/// be refused as unaligned).
fn read_up_to(file: &File, buf: &mut [u8], offset: u64, direct: bool) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => {
                done += n;
                if direct && n % SCAN_ALIGN != 0 {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

impl ReadFile for RealRead {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.file.read_exact_at(buf, offset)
    }
    fn len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }
    fn scan_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        use rustix::io::{preadv2, ReadWriteFlags};
        debug_assert!(
            offset % SCAN_ALIGN as u64 == 0
                && buf.len() % SCAN_ALIGN == 0
                && buf.as_ptr().align_offset(SCAN_ALIGN) == 0
        );
        // The lock only guards the mode, never a read.
        let set = |m: Scan| *self.scan.lock().unwrap_or_else(PoisonError::into_inner) = m;
        let mut mode = self
            .scan
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Scan::Cached = mode {
            // RWF_NOWAIT: only what the page cache holds, without waiting.
            let want = self.len()?.saturating_sub(offset).min(buf.len() as u64) as usize;
            let got = preadv2(
                &self.file,
                &mut [io::IoSliceMut::new(&mut buf[..want])],
                offset,
                ReadWriteFlags::NOWAIT,
            );
            if got.is_ok_and(|n| n == want) {
                return Ok(want);
            }
            // Not all there: the rest of the pass comes from the device.
            mode = self
                .open_direct()
                .map_or(Scan::Buffered, |f| Scan::Direct(Arc::new(f)));
            set(mode.clone());
        }
        if let Scan::Direct(f) = mode {
            match read_up_to(&f, buf, offset, true) {
                // The device wants a larger alignment than SCAN_ALIGN.
                Err(e) if e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error()) => {
                    set(Scan::Buffered);
                }
                r => return r,
            }
        }
        read_up_to(&self.file, buf, offset, false)
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
        Ok(Arc::new(RealRead {
            file: File::open(path)?,
            scan: Mutex::new(Scan::Cached),
        }))
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

#[cfg(test)]
/// How many bytes of the file at `path` the page cache holds, by
/// util-linux's `fincore`; `None` where it cannot tell.
pub(crate) fn cached_bytes(path: &Path) -> Option<u64> {
    let out = std::process::Command::new("fincore")
        .args(["--bytes", "--noheadings", "--output", "RES"])
        .arg(path)
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    out.status.success().then_some(())?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An aligned slice of `len` bytes inside `mem`.
    fn aligned(mem: &mut [u8], len: usize) -> &mut [u8] {
        let at = mem.as_ptr().align_offset(SCAN_ALIGN);
        &mut mem[at..at + len]
    }

    #[test]
    fn scan_reads_the_same_bytes_from_the_cache_and_from_the_device() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("f");
        // Not a multiple of the alignment: the last read ends short.
        let bytes: Vec<u8> = (0..3 * SCAN_ALIGN * 100 + 123)
            .map(|i| (i * 31 % 251) as u8)
            .collect();
        std::fs::write(&path, &bytes).unwrap();
        let chunk = 64 * SCAN_ALIGN;
        let scan_all = |f: &Arc<dyn ReadFile>| {
            let mut mem = vec![0u8; chunk + SCAN_ALIGN];
            let mut out = Vec::new();
            let mut off = 0u64;
            loop {
                let n = f.scan_at(aligned(&mut mem, chunk), off).unwrap();
                out.extend_from_slice(&aligned(&mut mem, chunk)[..n]);
                off += n as u64;
                if n < chunk {
                    return out;
                }
            }
        };
        // Cached: written just now.
        let f = RealFs.open_read(&path).unwrap();
        assert_eq!(scan_all(&f), bytes);
        // Where direct I/O is refused: plain buffered reads.
        let buffered: Arc<dyn ReadFile> = Arc::new(RealRead {
            file: File::open(&path).unwrap(),
            scan: Mutex::new(Scan::Buffered),
        });
        assert_eq!(scan_all(&buffered), bytes);
        // Evicted from the page cache: the first read misses and the rest
        // comes straight from the device where the file system allows it.
        let file = File::open(&path).unwrap();
        file.sync_all().unwrap();
        rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed).unwrap();
        let real = RealRead {
            file,
            scan: Mutex::new(Scan::Cached),
        };
        let direct = real.open_direct();
        let direct_ok = direct.is_some();
        let f: Arc<dyn ReadFile> = Arc::new(real);
        assert_eq!(scan_all(&f), bytes);
        // Read with O_DIRECT from the first byte, whatever the cache holds.
        if let Some(d) = direct {
            let f: Arc<dyn ReadFile> = Arc::new(RealRead {
                file: File::open(&path).unwrap(),
                scan: Mutex::new(Scan::Direct(Arc::new(d))),
            });
            assert_eq!(scan_all(&f), bytes);
        }
        // The switch itself, on a file no buffered read has touched (so no
        // read-ahead is still in flight to refill the cache): where the file
        // system can drop it from the page cache (tmpfs cannot), a read that
        // misses switches the rest of the pass to O_DIRECT. The kernel may
        // answer a miss with read-ahead fast enough to serve the read after
        // all, so up to three windows far apart are tried, each after
        // dropping the file again; a scan that never switches fails.
        let cold = tmp.path().join("cold");
        let mut file = File::create(&cold).unwrap();
        file.write_all(&bytes).unwrap();
        file.sync_all().unwrap();
        let mut tried = Vec::new();
        let mut missed_without_switch = false;
        for at in [0, 2 * chunk, 4 * chunk] {
            if !direct_ok {
                break;
            }
            rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed).unwrap();
            let cached = cached_bytes(&cold);
            if cached != Some(0) {
                tried.push(format!(
                    "window at {at}: not dropped from the cache ({cached:?})"
                ));
                continue;
            }
            let real = RealRead {
                file: File::open(&cold).unwrap(),
                scan: Mutex::new(Scan::Cached),
            };
            let mut mem = vec![0u8; chunk + SCAN_ALIGN];
            let n = real.scan_at(aligned(&mut mem, chunk), at as u64).unwrap();
            assert_eq!(aligned(&mut mem, chunk)[..n], bytes[at..at + n]);
            let mode = real.scan.lock().unwrap().clone();
            if matches!(mode, Scan::Direct(_)) {
                return;
            }
            missed_without_switch = true;
            tried.push(format!(
                "window at {at}: {mode:?} after a read of a dropped file"
            ));
        }
        assert!(
            !missed_without_switch,
            "the scan never switched to direct reads: {tried:?}"
        );
        eprintln!(
            "switch to direct reads not checked (O_DIRECT {}): {tried:?}",
            if direct_ok { "allowed" } else { "refused" }
        );
    }
}

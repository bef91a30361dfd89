//! An in-memory [`Vfs`] for tests, with fault injection: fail a write or a
//! sync, fail a sync whose data was persisted anyway, and crash after the
//! N-th sync, keeping only the bytes that were synced (optionally plus a torn
//! prefix of the unsynced ones).
//!
//! A failed sync is reported as Linux reports a write-back error: once to
//! every handle of the file that was open when it happened (or opened
//! before anyone saw it), at that handle's next sync.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::vfs::{AppendFile, Flag, ReadFile, Vfs};

/// A planned fault, counted in calls to `sync_data` across all files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Fault {
    /// No fault.
    #[default]
    None,
    /// The `n`-th sync (1-based) fails and its data is lost at the next crash.
    FailSync(u64),
    /// The `n`-th sync fails, but the data reached the disk.
    FailSyncButPersisted(u64),
    /// Every append after the `n`-th sync fails (e.g. the disk filled up).
    FailWritesAfterSync(u64),
    /// Syncs up to the `n`-th succeed; the process goes on writing and dies
    /// at its next sync, whose data is therefore not synced. Every later
    /// operation fails; [`MemFs::crash`] then yields the surviving disk.
    CrashAfterSync(u64),
}

#[derive(Clone, Debug, Default)]
struct MemFile {
    data: Vec<u8>,
    synced: usize,
    append_only: bool,
    immutable: bool,
    /// Write-back errors so far (Linux's `errseq_t` for the file).
    errors: u64,
    /// Whether a handle has reported the latest of them.
    error_seen: bool,
    /// A failed sync lost the bytes from here on: a crash keeps none of
    /// them, whatever later syncs say (Linux marks the pages clean).
    lost_from: Option<usize>,
    /// Syncs of this file in progress now.
    syncing: usize,
}

#[derive(Debug, Default)]
struct State {
    files: BTreeMap<PathBuf, MemFile>,
    dirs: BTreeSet<PathBuf>,
    syncs: u64,
    fault: Fault,
    dead: bool,
    sync_delay: std::time::Duration,
    /// The most syncs of one file that were ever in progress at once.
    most_syncing: usize,
}

/// The in-memory file system. Cloning shares the same state.
#[derive(Clone, Debug, Default)]
pub struct MemFs {
    st: Arc<Mutex<State>>,
}

fn eio(what: &str) -> io::Error {
    io::Error::other(format!("injected fault: {what}"))
}

impl MemFs {
    /// An empty file system.
    pub fn new() -> MemFs {
        MemFs::default()
    }

    /// Arms a fault.
    pub fn set_fault(&self, fault: Fault) {
        let mut st = self.st.lock().unwrap();
        st.fault = fault;
        st.syncs = 0;
    }

    /// Makes every sync take from `delay` to three times `delay` (varying
    /// from one sync to the next, so that syncs in progress at once end in
    /// any order); each covers the bytes appended before it began.
    pub fn set_sync_delay(&self, delay: std::time::Duration) {
        self.st.lock().unwrap().sync_delay = delay;
    }

    /// The most syncs of one file that were ever in progress at the same
    /// time (with a sync delay; without one a sync is instantaneous).
    pub fn most_concurrent_syncs(&self) -> usize {
        self.st.lock().unwrap().most_syncing
    }

    /// Number of syncs so far (since the fault was armed).
    pub fn syncs(&self) -> u64 {
        self.st.lock().unwrap().syncs
    }

    /// The disk as a crash leaves it: every file cut back to its synced
    /// length, plus `torn` extra unsynced bytes of each file (0 for none),
    /// as a fresh, fault-free file system.
    pub fn crash(&self, torn: usize) -> MemFs {
        let st = self.st.lock().unwrap();
        let mut files = BTreeMap::new();
        for (p, f) in &st.files {
            let keep = (f.synced + torn)
                .min(f.data.len())
                .min(f.lost_from.unwrap_or(usize::MAX));
            files.insert(
                p.clone(),
                MemFile {
                    data: f.data[..keep].to_vec(),
                    synced: keep,
                    append_only: f.append_only,
                    immutable: f.immutable,
                    ..MemFile::default()
                },
            );
        }
        MemFs {
            st: Arc::new(Mutex::new(State {
                files,
                dirs: st.dirs.clone(),
                ..State::default()
            })),
        }
    }

    /// Overwrites bytes of a file, bypassing flags: for tamper tests.
    pub fn tamper(&self, path: &Path, offset: usize, bytes: &[u8]) {
        let mut st = self.st.lock().unwrap();
        let f = st.files.get_mut(path).expect("file exists");
        f.data[offset..offset + bytes.len()].copy_from_slice(bytes);
    }

    /// Appends bytes to a file, bypassing flags: for tamper tests.
    pub fn append_raw(&self, path: &Path, bytes: &[u8]) {
        let mut st = self.st.lock().unwrap();
        let f = st.files.get_mut(path).expect("file exists");
        f.data.extend_from_slice(bytes);
        f.synced = f.data.len();
    }

    /// Creates (or replaces) a file with `bytes`, synced, bypassing flags:
    /// for tamper tests.
    pub fn append_raw_new(&self, path: &Path, bytes: &[u8]) {
        let mut st = self.st.lock().unwrap();
        let f = st.files.entry(path.to_path_buf()).or_default();
        f.data = bytes.to_vec();
        f.synced = f.data.len();
    }

    /// Removes a file, bypassing flags: for tamper tests.
    pub fn remove_raw(&self, path: &Path) {
        self.st
            .lock()
            .unwrap()
            .files
            .remove(path)
            .expect("file exists");
    }

    /// The bytes of a file.
    pub fn contents(&self, path: &Path) -> Option<Vec<u8>> {
        self.st
            .lock()
            .unwrap()
            .files
            .get(path)
            .map(|f| f.data.clone())
    }
}

struct MemAppend {
    fs: MemFs,
    path: PathBuf,
    /// The file's write-back errors this handle has reported (sampled at
    /// open as Linux does: an error nobody has seen yet is still reported).
    seen: std::sync::atomic::AtomicU64,
}

impl MemAppend {
    fn new(fs: &MemFs, path: &Path, f: &MemFile) -> MemAppend {
        let seen = if f.error_seen { f.errors } else { 0 };
        MemAppend {
            fs: fs.clone(),
            path: path.to_path_buf(),
            seen: std::sync::atomic::AtomicU64::new(seen),
        }
    }

    /// Records a write-back error of the file, reported by this sync (so
    /// not again through this handle).
    fn fail(&self, f: &mut MemFile, what: &str) -> io::Error {
        f.errors += 1;
        f.error_seen = true;
        self.seen
            .store(f.errors, std::sync::atomic::Ordering::Release);
        eio(what)
    }

    /// Reports a write-back error this handle has not reported yet.
    fn check_errors(&self, f: &mut MemFile) -> io::Result<()> {
        use std::sync::atomic::Ordering;
        if self.seen.load(Ordering::Acquire) < f.errors {
            self.seen.store(f.errors, Ordering::Release);
            f.error_seen = true;
            return Err(eio(
                "write-back failed (reported by a sync of another handle)",
            ));
        }
        Ok(())
    }
}

impl AppendFile for MemAppend {
    fn append(&self, data: &[u8]) -> io::Result<()> {
        let mut st = self.fs.st.lock().unwrap();
        if st.dead {
            return Err(eio("process crashed"));
        }
        if let Fault::FailWritesAfterSync(n) = st.fault {
            if st.syncs >= n {
                return Err(io::Error::new(
                    io::ErrorKind::StorageFull,
                    "injected fault: no space left on device",
                ));
            }
        }
        let f = st
            .files
            .get_mut(&self.path)
            .ok_or_else(|| eio("file vanished"))?;
        if f.immutable {
            return Err(io::Error::from(io::ErrorKind::PermissionDenied));
        }
        f.data.extend_from_slice(data);
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        let mut st = self.fs.st.lock().unwrap();
        if st.dead {
            return Err(eio("process crashed"));
        }
        st.syncs += 1;
        let n = st.syncs;
        let fault = st.fault;
        let delay = st.sync_delay * (1 + (n % 3) as u32);
        let f = st
            .files
            .get_mut(&self.path)
            .ok_or_else(|| eio("file vanished"))?;
        match fault {
            Fault::CrashAfterSync(k) if n > k => {
                st.dead = true;
                return Err(eio("process crashed during fsync"));
            }
            Fault::FailSync(k) if k == n => {
                f.lost_from = Some(f.lost_from.unwrap_or(usize::MAX).min(f.synced));
                return Err(self.fail(f, "fsync failed"));
            }
            Fault::FailSyncButPersisted(k) if k == n => {
                f.synced = f.data.len();
                return Err(self.fail(f, "fsync failed (data persisted)"));
            }
            _ => {}
        }
        let len = f.data.len();
        if !delay.is_zero() {
            // A sync takes time, as a disk's does: appends made meanwhile may
            // or may not be covered (here: not), and a crash meanwhile
            // leaves the data unsynced.
            f.syncing += 1;
            let now = f.syncing;
            st.most_syncing = st.most_syncing.max(now);
            drop(st);
            std::thread::sleep(delay);
            st = self.fs.st.lock().unwrap();
            if let Some(f) = st.files.get_mut(&self.path) {
                f.syncing -= 1;
            }
            if st.dead {
                return Err(eio("process crashed during fsync"));
            }
        }
        let f = st
            .files
            .get_mut(&self.path)
            .ok_or_else(|| eio("file vanished"))?;
        // As Linux does, a write-back error of this file since this handle's
        // last sync fails this sync too, whichever handle's sync hit it.
        self.check_errors(f)?;
        f.synced = f.synced.max(len);
        Ok(())
    }
}

struct MemRead {
    fs: MemFs,
    path: PathBuf,
}

impl ReadFile for MemRead {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let st = self.fs.st.lock().unwrap();
        let f = st
            .files
            .get(&self.path)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        let off =
            usize::try_from(offset).map_err(|_| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        let end = off.checked_add(buf.len()).filter(|e| *e <= f.data.len());
        let Some(end) = end else {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
        };
        buf.copy_from_slice(&f.data[off..end]);
        Ok(())
    }
    fn len(&self) -> io::Result<u64> {
        let st = self.fs.st.lock().unwrap();
        Ok(st.files.get(&self.path).map_or(0, |f| f.data.len() as u64))
    }
}

impl Vfs for MemFs {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut st = self.st.lock().unwrap();
        for a in path.ancestors() {
            st.dirs.insert(a.to_path_buf());
        }
        Ok(())
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let st = self.st.lock().unwrap();
        if !st.dirs.contains(dir) {
            return Err(io::Error::from(io::ErrorKind::NotFound));
        }
        let mut out = BTreeSet::new();
        for p in st.files.keys().chain(st.dirs.iter()) {
            if p.parent() == Some(dir) {
                out.insert(p.file_name().unwrap().to_string_lossy().into_owned());
            }
        }
        Ok(out.into_iter().collect())
    }
    fn exists(&self, path: &Path) -> bool {
        let st = self.st.lock().unwrap();
        st.files.contains_key(path) || st.dirs.contains(path)
    }
    fn create_new(&self, path: &Path, _mode: u32) -> io::Result<Box<dyn AppendFile>> {
        let mut st = self.st.lock().unwrap();
        if st.dead {
            return Err(eio("process crashed"));
        }
        if st.files.contains_key(path) {
            return Err(io::Error::from(io::ErrorKind::AlreadyExists));
        }
        let f = MemFile::default();
        let handle = MemAppend::new(self, path, &f);
        st.files.insert(path.to_path_buf(), f);
        Ok(Box::new(handle))
    }
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn AppendFile>> {
        let st = self.st.lock().unwrap();
        let f = st
            .files
            .get(path)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        Ok(Box::new(MemAppend::new(self, path, f)))
    }
    fn open_read(&self, path: &Path) -> io::Result<Arc<dyn ReadFile>> {
        if !self.st.lock().unwrap().files.contains_key(path) {
            return Err(io::Error::from(io::ErrorKind::NotFound));
        }
        Ok(Arc::new(MemRead {
            fs: self.clone(),
            path: path.to_path_buf(),
        }))
    }
    fn rename_new(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut st = self.st.lock().unwrap();
        if st.dead {
            return Err(eio("process crashed"));
        }
        if st.files.contains_key(to) {
            return Err(io::Error::from(io::ErrorKind::AlreadyExists));
        }
        let f = st
            .files
            .remove(from)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        st.files.insert(to.to_path_buf(), f);
        Ok(())
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut st = self.st.lock().unwrap();
        if st.dead {
            return Err(eio("process crashed"));
        }
        let f = st
            .files
            .get(path)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        if f.append_only || f.immutable {
            return Err(io::Error::from(io::ErrorKind::PermissionDenied));
        }
        st.files.remove(path);
        Ok(())
    }
    fn sync_dir(&self, _dir: &Path) -> io::Result<()> {
        if self.st.lock().unwrap().dead {
            return Err(eio("process crashed"));
        }
        Ok(())
    }
    fn set_flag(&self, path: &Path, flag: Flag) -> io::Result<()> {
        let mut st = self.st.lock().unwrap();
        let f = st
            .files
            .get_mut(path)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        match flag {
            Flag::AppendOnly => f.append_only = true,
            Flag::Immutable => {
                f.append_only = false;
                f.immutable = true;
            }
        }
        Ok(())
    }
    fn is_dir(&self, path: &Path) -> bool {
        self.st.lock().unwrap().dirs.contains(path)
    }
    fn modified_nanos(&self, _path: &Path) -> io::Result<u64> {
        Ok(0)
    }
    fn lock(&self, _path: &Path) -> io::Result<Box<dyn std::any::Any + Send + Sync>> {
        Ok(Box::new(()))
    }
    fn flags(&self, path: &Path) -> io::Result<(bool, bool)> {
        let st = self.st.lock().unwrap();
        let f = st
            .files
            .get(path)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        Ok((f.append_only, f.immutable))
    }
}

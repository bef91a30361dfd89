//! Segmented append-only streams (docs/FORMAT.md "Segmented streams").
//!
//! A stream is a directory of segment files named by the logical position of
//! their first record. Only the last segment is ever appended to; it carries
//! `FS_APPEND_FL` where possible, closed segments `FS_IMMUTABLE_FL`. A torn
//! tail is never truncated: the segment is closed as it is, and its successor
//! records in `prev_end` where the valid data ended.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use crate::env::Env;
use crate::error::{Result, StoreError};
use crate::vfs::{AppendFile, Flag, ReadFile};

/// Length of every segment header.
pub const HEADER_LEN: u64 = 64;
/// Segments are closed once they reach this size.
pub const DEFAULT_SEGMENT_LIMIT: u64 = 1 << 30;
/// Granularity of the page cache, for releasing synced pages from it.
const PAGE: u64 = 4096;
/// The largest page-cache folio (a PMD: 2 MiB with 4 KiB pages on x86-64
/// and arm64).
pub(crate) const MAX_FOLIO: u64 = 2 << 20;
const MAGIC: &[u8; 4] = b"VTRL";
const VERSION: u8 = 1;

/// Suffix of the copy recovery makes of a tail it discards:
/// `<segment file>.torn-<offset>` holds the bytes of the segment from
/// `offset` (where its valid data ends) to the end of the file.
pub const QUARANTINE_INFIX: &str = ".torn-";

/// A tail that recovery discarded: where it was, what it held, and the
/// quarantine file with a copy of it. The bytes also stay in the segment,
/// past its recorded end (nothing is truncated).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Discarded {
    /// The segment.
    pub file: PathBuf,
    /// Where its valid data ends and the discarded bytes begin.
    pub offset: u64,
    /// How many bytes were discarded.
    pub length: u64,
    /// SHA-256 of those bytes.
    pub sha256: veritrail_core::hash::Hash,
    /// The copy of them.
    pub quarantine: PathBuf,
}

/// The quarantine file for the tail of `segment` from `offset`.
pub fn quarantine_path(segment: &Path, offset: u64) -> PathBuf {
    let mut name = segment.file_name().unwrap_or_default().to_os_string();
    name.push(format!("{QUARANTINE_INFIX}{offset}"));
    segment.with_file_name(name)
}

/// Whether `name` is a quarantine file of a segment of this stream.
fn is_quarantine(name: &str) -> bool {
    name.split_once(QUARANTINE_INFIX).is_some_and(|(seg, off)| {
        parse_seg_name(seg).is_some() && !off.is_empty() && off.bytes().all(|b| b.is_ascii_digit())
    })
}

/// The position of the last byte that is not zero, if any. A crash can
/// leave the end of a file zero-filled (its length was made durable, the
/// data written there was not); a record whose own last byte is zero, with
/// nothing but zeros after it, is such an unwritten end.
pub fn last_nonzero(bytes: &[u8]) -> Option<usize> {
    bytes.iter().rposition(|&b| b != 0)
}

/// Whether `tail` — the bytes of a fixed-size-record stream (hash levels,
/// index) from the first record that is not the expected one to the end of
/// the file — is what a crash leaves: nothing but zeros, or bytes only in a
/// record the crash cut short (incomplete, or its last byte unwritten). A
/// complete record that differs from what it must be, with its last byte
/// written, is damage.
pub fn fixed_tail_is_torn(tail: &[u8], rec: usize) -> bool {
    match last_nonzero(tail) {
        None => true,
        Some(z) => tail.len() < rec || z < rec - 1,
    }
}

/// What a stream holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Entries (the append log).
    Wal = 1,
    /// Hashes of one tile level.
    Hash = 2,
    /// Sparse entry index.
    Index = 3,
    /// Signed checkpoints.
    Checkpoints = 4,
    /// When the log was opened and closed cleanly ([`crate::lifecycle`]).
    Lifecycle = 5,
}

/// A decoded segment header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Stream kind.
    pub kind: Kind,
    /// Tile level for hash streams.
    pub level: u8,
    /// Logical position of the first record.
    pub start: u64,
    /// Valid byte length of the previous segment (0 for the first).
    pub prev_end: u64,
    /// Creation time, Unix nanoseconds.
    pub created: u64,
}

impl Header {
    /// The 64 header bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN as usize] {
        let mut b = [0u8; HEADER_LEN as usize];
        b[0..4].copy_from_slice(MAGIC);
        b[4] = self.kind as u8;
        b[5] = VERSION;
        b[6] = self.level;
        b[8..16].copy_from_slice(&self.start.to_le_bytes());
        b[16..24].copy_from_slice(&self.prev_end.to_le_bytes());
        b[24..32].copy_from_slice(&self.created.to_le_bytes());
        let crc = crc32c::crc32c(&b[..60]);
        b[60..64].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Parses and checks a header.
    ///
    /// # Errors
    /// `Corrupted` naming the file for a bad magic, version, kind or CRC.
    pub fn decode(
        b: &[u8; HEADER_LEN as usize],
        file: &Path,
        kind: Kind,
        level: u8,
    ) -> Result<Header> {
        let bad =
            |reason: &str| StoreError::corrupted(file, 0, format!("segment header: {reason}"));
        if &b[0..4] != MAGIC {
            return Err(bad("bad magic"));
        }
        let crc = u32::from_le_bytes(b[60..64].try_into().expect("4 bytes"));
        if crc32c::crc32c(&b[..60]) != crc {
            return Err(bad("checksum mismatch"));
        }
        if b[5] != VERSION {
            return Err(bad(&format!("unsupported format version {}", b[5])));
        }
        if b[4] != kind as u8 || b[6] != level {
            return Err(bad("segment of another stream"));
        }
        let u = |r: std::ops::Range<usize>| u64::from_le_bytes(b[r].try_into().expect("8 bytes"));
        Ok(Header {
            kind,
            level,
            start: u(8..16),
            prev_end: u(16..24),
            created: u(24..32),
        })
    }
}

/// One segment file.
pub struct Segment {
    /// Path of the file.
    pub path: PathBuf,
    /// Its header.
    pub header: Header,
    /// Read handle.
    pub file: Arc<dyn ReadFile>,
    /// End of valid data in bytes, header included.
    valid_end: AtomicU64,
    /// Bytes before this offset were released from the page cache
    /// (`release_behind`).
    released: AtomicU64,
}

impl Segment {
    /// End of valid data in bytes, header included.
    pub fn valid_end(&self) -> u64 {
        self.valid_end.load(Ordering::Acquire)
    }

    /// Sets where this handle's view of the segment's valid data ends (a
    /// read-only handle leaves a record being written out of its view).
    pub(crate) fn set_valid_end(&self, end: u64) {
        self.valid_end.store(end, Ordering::Release);
    }

    /// Reads `buf.len()` bytes at `offset` of this segment.
    ///
    /// # Errors
    /// I/O errors, with the path.
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        self.file
            .read_exact_at(buf, offset)
            .map_err(|e| StoreError::io(&self.path, e))
    }
}

/// Bytes appended to a segment and not yet made durable.
#[derive(Clone)]
pub struct Unsynced {
    file: Arc<dyn AppendFile>,
    /// The segment's extra handles for syncing (see [`Stream::set_sync_handles`]).
    syncs: Arc<[Box<dyn AppendFile>]>,
    segment: Arc<Segment>,
    offset: u64,
    end: u64,
    cache_keep: Option<u64>,
}

impl Unsynced {
    /// `fdatasync` of the file the bytes went to.
    ///
    /// # Errors
    /// I/O errors; the caller must poison.
    pub fn sync(&self) -> Result<()> {
        self.sync_via(self.file.as_ref())
    }

    /// Like [`Unsynced::sync`], through the segment's `slot`-th sync handle
    /// (modulo their number; the append handle when there are none). Each
    /// handle is an open file of its own, so several of these may be in
    /// progress at once, and a write-back error of the file is reported to
    /// each of them instead of only to whichever sync saw it first.
    ///
    /// # Errors
    /// I/O errors; the caller must poison.
    pub fn sync_through(&self, slot: usize) -> Result<()> {
        match self.syncs.len() {
            0 => self.sync(),
            n => self.sync_via(self.syncs[slot % n].as_ref()),
        }
    }

    /// `fdatasync` through `handle`, then the page-cache release behind it.
    fn sync_via(&self, handle: &dyn AppendFile) -> Result<()> {
        handle
            .sync_data()
            .map_err(|e| StoreError::io(&self.segment.path, e))?;
        release_behind(self.file.as_ref(), &self.segment, self.end, self.cache_keep);
        Ok(())
    }

    /// Whether `other` went to the same file.
    #[cfg(test)]
    pub fn same_file(&self, other: &Unsynced) -> bool {
        Arc::ptr_eq(&self.segment, &other.segment)
    }

    /// File offset in its segment where the bytes begin.
    pub fn offset(&self) -> u64 {
        self.offset
    }
}

/// Once the bytes of `segment` before `end` are durable: releases its
/// page-cache pages that lie more than `keep` bytes behind `end` (see
/// [`Stream::set_cache_keep`]), a quarter of `keep` at a time.
fn release_behind(file: &dyn AppendFile, segment: &Segment, end: u64, keep: Option<u64>) {
    let Some(keep) = keep else {
        return;
    };
    let step = (keep / 4).max(PAGE);
    let upto = end.saturating_sub(keep) / PAGE * PAGE;
    let from = segment.released.load(Ordering::Acquire);
    if upto < from + step {
        return;
    }
    // The kernel drops only whole folios inside the range, and the page
    // cache holds a file in folios of up to 2 MiB: one that straddled the
    // previous range's end is dropped by a later call whose range starts
    // before it.
    let from = from.saturating_sub(MAX_FOLIO);
    // Only a hint: where it fails, the pages stay cached as they would
    // without it, and the next sync tries again.
    match file.release_cache(from, upto - from) {
        Ok(()) => segment.released.store(upto, Ordering::Release),
        Err(e) => tracing::debug!(
            path = %segment.path.display(),
            error = %e,
            "could not release synced pages from the page cache"
        ),
    }
}

/// A segmented, append-only stream.
pub struct Stream {
    env: Env,
    dir: PathBuf,
    kind: Kind,
    level: u8,
    segment_limit: u64,
    /// Bytes of the live segment's tail left in the page cache after a sync;
    /// `None`: all of them.
    cache_keep: Option<u64>,
    segs: RwLock<Vec<Arc<Segment>>>,
    /// The live segment's handles, opened on first append.
    writer: Mutex<Option<Writer>>,
    /// Extra handles opened with each live segment's append handle, for
    /// concurrent syncs ([`Unsynced::sync_through`]).
    sync_handles: usize,
    /// The last segment was sealed (+i) by a roll-over that a crash cut
    /// short: the next append starts a new segment instead of writing to it.
    sealed_tail: AtomicBool,
    /// Temporary segment files found at open, left by a crash during their
    /// creation.
    leftovers: Vec<PathBuf>,
    /// Quarantine files found at open (tails an earlier recovery discarded).
    quarantined: Vec<PathBuf>,
    /// Tails this handle's recovery discarded.
    discarded: Mutex<Vec<Discarded>>,
}

/// The handles of the live segment: the one appends go through, and the
/// extra ones syncs go through. All are opened before this process appends
/// to the segment, so each of them is told of every write-back error of the
/// bytes appended.
#[derive(Clone)]
struct Writer {
    file: Arc<dyn AppendFile>,
    syncs: Arc<[Box<dyn AppendFile>]>,
}

/// Suffix of a segment file while its header is written: it is renamed to
/// its `.seg` name only once the header is durable, so a `.seg` file always
/// starts with a complete header.
pub(crate) const TMP_SUFFIX: &str = ".tmp";

/// `<start>.seg`, or `<start>.<gen>.seg` when a segment with that start
/// already exists (recovery closed one that held only a torn tail).
fn seg_name(start: u64, gen: u32) -> String {
    if gen == 0 {
        format!("{start:020}.seg")
    } else {
        format!("{start:020}.{gen}.seg")
    }
}

pub(crate) fn parse_seg_name(name: &str) -> Option<(u64, u32)> {
    let stem = name.strip_suffix(".seg")?;
    let (start, gen) = match stem.split_once('.') {
        Some((a, g)) => (
            a,
            g.parse::<u32>()
                .ok()
                .filter(|g| *g > 0 && !g.to_string().is_empty())?,
        ),
        None => (stem, 0),
    };
    if start.len() != 20 || !start.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((start.parse().ok()?, gen))
}

impl Stream {
    /// Creates the stream directory and its first segment starting at `start`.
    ///
    /// # Errors
    /// I/O errors.
    pub fn create(env: &Env, dir: &Path, kind: Kind, level: u8, start: u64) -> Result<Stream> {
        env.vfs
            .create_dir_all(dir)
            .map_err(|e| StoreError::io(dir, e))?;
        let s = Stream {
            env: env.clone(),
            dir: dir.to_path_buf(),
            kind,
            level,
            segment_limit: DEFAULT_SEGMENT_LIMIT,
            cache_keep: None,
            segs: RwLock::new(Vec::new()),
            writer: Mutex::new(None),
            sync_handles: 0,
            sealed_tail: AtomicBool::new(false),
            leftovers: Vec::new(),
            quarantined: Vec::new(),
            discarded: Mutex::new(Vec::new()),
        };
        s.new_segment(start, 0)?;
        if let Some(parent) = dir.parent() {
            s.env
                .vfs
                .sync_dir(parent)
                .map_err(|e| StoreError::io(parent, e))?;
        }
        Ok(s)
    }

    /// Opens an existing stream: lists and checks every segment header and
    /// the chain of `prev_end`s. The last segment's valid end is its file
    /// length until recovery says otherwise. Temporary files of an
    /// interrupted segment creation are set aside ([`Stream::leftovers`]).
    ///
    /// # Errors
    /// `Corrupted` for a bad header or broken chain, or a stream without a
    /// complete segment; I/O errors.
    pub fn open(env: &Env, dir: &Path, kind: Kind, level: u8) -> Result<Stream> {
        let vfs = &env.vfs;
        let mut names: Vec<((u64, u32), String)> = Vec::new();
        let mut leftovers = Vec::new();
        let mut quarantined = Vec::new();
        for n in vfs.list(dir).map_err(|e| StoreError::io(dir, e))? {
            // A segment's or a quarantine file's creation that a crash cut
            // short (durable.rs): it never held anything of the log.
            if n.strip_suffix(TMP_SUFFIX)
                .is_some_and(|t| parse_seg_name(t).is_some() || is_quarantine(t))
            {
                leftovers.push(dir.join(&n));
                continue;
            }
            if is_quarantine(&n) {
                quarantined.push(dir.join(&n));
                continue;
            }
            match parse_seg_name(&n) {
                Some(key) => names.push((key, n)),
                None => {
                    return Err(StoreError::corrupted(
                        dir.join(&n),
                        0,
                        "unexpected file in a stream directory",
                    ))
                }
            }
        }
        names.sort();
        leftovers.sort();
        if names.is_empty() {
            let why = if leftovers.is_empty() {
                "stream has no segments"
            } else {
                "stream has no complete segment (its creation was interrupted)"
            };
            return Err(StoreError::corrupted(dir, 0, why));
        }
        let mut segs: Vec<Arc<Segment>> = Vec::with_capacity(names.len());
        for ((start, _), name) in &names {
            let path = dir.join(name);
            let file = vfs.open_read(&path).map_err(|e| StoreError::io(&path, e))?;
            let len = file.len().map_err(|e| StoreError::io(&path, e))?;
            if len < HEADER_LEN {
                return Err(StoreError::corrupted(
                    &path,
                    0,
                    format!("segment of {len} bytes is shorter than its header"),
                ));
            }
            let mut hb = [0u8; HEADER_LEN as usize];
            file.read_exact_at(&mut hb, 0)
                .map_err(|e| StoreError::io(&path, e))?;
            let header = Header::decode(&hb, &path, kind, level)?;
            if *start != header.start {
                return Err(StoreError::corrupted(
                    &path,
                    8,
                    "file name does not match the header's start",
                ));
            }
            if let Some(prev) = segs.last() {
                let plen = prev.file.len().map_err(|e| StoreError::io(&prev.path, e))?;
                if header.prev_end < HEADER_LEN || header.prev_end > plen {
                    return Err(StoreError::corrupted(
                        &path,
                        16,
                        format!(
                            "prev_end {} outside the previous segment ({plen} bytes)",
                            header.prev_end
                        ),
                    ));
                }
                if header.start < prev.header.start {
                    return Err(StoreError::corrupted(
                        &path,
                        8,
                        "segment starts before its predecessor",
                    ));
                }
                prev.valid_end.store(header.prev_end, Ordering::Release);
            } else if header.prev_end != 0 {
                // Earlier segments were removed: a gap in the log.
                return Err(StoreError::corrupted(
                    &path,
                    16,
                    "first segment claims a predecessor that is missing",
                ));
            }
            segs.push(Arc::new(Segment {
                path,
                header,
                file,
                valid_end: AtomicU64::new(len),
                released: AtomicU64::new(0),
            }));
        }
        // Sealed (+i) yet last: a roll-over or recovery was cut short after
        // sealing it. Where flags cannot be read, appending is attempted and
        // any refusal poisons the log as usual.
        let last = segs.last().expect("at least one segment");
        let sealed = vfs.flags(&last.path).is_ok_and(|(_, immutable)| immutable);
        Ok(Stream {
            env: env.clone(),
            dir: dir.to_path_buf(),
            kind,
            level,
            segment_limit: DEFAULT_SEGMENT_LIMIT,
            cache_keep: None,
            segs: RwLock::new(segs),
            writer: Mutex::new(None),
            sync_handles: 0,
            sealed_tail: AtomicBool::new(sealed),
            leftovers,
            quarantined,
            discarded: Mutex::new(Vec::new()),
        })
    }

    /// Temporary segment files found at open: each is a segment creation a
    /// crash interrupted before its header was durable, so none holds any
    /// of the log.
    pub fn leftovers(&self) -> &[PathBuf] {
        &self.leftovers
    }

    /// Quarantine files found when the stream was opened: copies of tails
    /// that an earlier recovery discarded.
    pub fn quarantined(&self) -> &[PathBuf] {
        &self.quarantined
    }

    /// The tails this handle's recovery discarded ([`Stream::recover_end`]).
    pub fn discarded(&self) -> Vec<Discarded> {
        self.discarded.lock().expect("discarded lock").clone()
    }

    /// Sets the size at which segments are closed (tests use small ones).
    pub fn set_segment_limit(&mut self, limit: u64) {
        self.segment_limit = limit.max(HEADER_LEN + 1);
    }

    /// Once appended bytes are durable ([`Stream::sync`],
    /// [`Unsynced::sync`]), releases the segment's page-cache pages more
    /// than `keep` bytes behind them (`None`, the default: leaves every page
    /// to the kernel). A stream written far faster than it is read back then
    /// recycles a bounded set of pages instead of filling memory with fresh
    /// ones, while recent bytes (the tail readers follow) stay cached.
    pub fn set_cache_keep(&mut self, keep: Option<u64>) {
        self.cache_keep = keep;
    }

    /// Opens `n` extra handles with each live segment, so that up to `n`
    /// syncs of it can be in progress at once ([`Unsynced::sync_through`];
    /// 0, the default: syncs go through the append handle).
    pub fn set_sync_handles(&mut self, n: usize) {
        self.sync_handles = n;
    }

    /// The stream directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A snapshot of the segment list.
    pub fn segments(&self) -> Vec<Arc<Segment>> {
        self.segs.read().expect("segment list lock").clone()
    }

    /// The live (last) segment.
    pub fn last(&self) -> Arc<Segment> {
        self.segs
            .read()
            .expect("segment list lock")
            .last()
            .expect("stream has a segment")
            .clone()
    }

    /// The segment holding logical position `pos` (the last one starting at or before it).
    pub fn segment_for(&self, pos: u64) -> Option<Arc<Segment>> {
        let segs = self.segs.read().expect("segment list lock");
        let i = segs.partition_point(|s| s.header.start <= pos);
        (i > 0).then(|| segs[i - 1].clone())
    }

    fn new_segment(&self, start: u64, prev_end: u64) -> Result<()> {
        let vfs = self.env.vfs.as_ref();
        let mut gen = 0;
        while vfs.exists(&self.dir.join(seg_name(start, gen))) {
            gen += 1;
        }
        let path = self.dir.join(seg_name(start, gen));
        let tmp = self
            .dir
            .join(format!("{}{TMP_SUFFIX}", seg_name(start, gen)));
        let header = Header {
            kind: self.kind,
            level: self.level,
            start,
            prev_end,
            created: self.env.now_nanos(),
        };
        // The header is written as a new file (durable.rs: temporary name,
        // fdatasync, rename without replacing, fsync dir), then the segment
        // is marked append-only. A crash before the rename leaves only the
        // temporary file, which recovery removes; a `.seg` always has its
        // header.
        crate::durable::create_new_file(vfs, &tmp, &path, &header.encode(), 0o644)?;
        self.env.flags.apply(vfs, &path, Flag::AppendOnly);
        let file = self
            .env
            .vfs
            .open_read(&path)
            .map_err(|e| StoreError::io(&path, e))?;
        self.segs
            .write()
            .expect("segment list lock")
            .push(Arc::new(Segment {
                path,
                header,
                file,
                valid_end: AtomicU64::new(HEADER_LEN),
                released: AtomicU64::new(0),
            }));
        // Opened for appending on first use, under the final name.
        *self.writer.lock().expect("writer lock") = None;
        self.sealed_tail.store(false, Ordering::Release);
        Ok(())
    }

    /// Recovery: declares where the last segment's valid data ends. When that
    /// is before the end of the file (a torn tail, which the caller has found
    /// to be what a crash leaves), the tail is first copied to a quarantine
    /// file beside the segment ([`quarantine_path`]) and recorded
    /// ([`Stream::discarded`]); then the segment is closed as it is and a new
    /// one begins at logical position `next_start`. Nothing is truncated.
    ///
    /// # Errors
    /// I/O errors; `Corrupted` when a quarantine file of that name exists
    /// with other bytes.
    pub fn recover_end(&self, valid_end: u64, next_start: u64) -> Result<bool> {
        let last = self.last();
        let len = last.file.len().map_err(|e| StoreError::io(&last.path, e))?;
        last.valid_end.store(valid_end, Ordering::Release);
        if valid_end < len {
            let mut tail = vec![0u8; (len - valid_end) as usize];
            last.read_at(&mut tail, valid_end)?;
            let quarantine = quarantine_path(&last.path, valid_end);
            self.write_quarantine(&quarantine, &tail)?;
            let sha256 = veritrail_core::hash::Hash(veritrail_core::hash::sha256(&[&tail]));
            tracing::warn!(
                file = %last.path.display(),
                valid_end,
                discarded = len - valid_end,
                sha256 = %sha256.to_hex(),
                quarantine = %quarantine.display(),
                "discarding a torn tail left by a crash (copied to the quarantine file); continuing in a new segment"
            );
            self.discarded
                .lock()
                .expect("discarded lock")
                .push(Discarded {
                    file: last.path.clone(),
                    offset: valid_end,
                    length: len - valid_end,
                    sha256,
                    quarantine,
                });
            self.env
                .flags
                .apply(self.env.vfs.as_ref(), &last.path, Flag::Immutable);
            self.new_segment(next_start, valid_end)?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Writes the quarantine copy of a tail (whole or not at all; read-only,
    /// immutable where possible). One left by a recovery that a crash cut
    /// short is kept if it holds the same bytes.
    fn write_quarantine(&self, path: &Path, tail: &[u8]) -> Result<()> {
        let vfs = self.env.vfs.as_ref();
        if vfs.exists(path) {
            let f = vfs.open_read(path).map_err(|e| StoreError::io(path, e))?;
            let len = f.len().map_err(|e| StoreError::io(path, e))?;
            let mut have = vec![0u8; len as usize];
            f.read_exact_at(&mut have, 0)
                .map_err(|e| StoreError::io(path, e))?;
            if have == tail {
                return Ok(());
            }
            return Err(StoreError::corrupted(
                path,
                0,
                "a quarantine file of this name exists with other bytes than the tail it copies",
            ));
        }
        crate::durable::write_new(vfs, path, tail, 0o444)?;
        self.env.flags.apply(vfs, path, Flag::Immutable);
        Ok(())
    }

    /// Appends bytes to the live segment, first closing it and starting a
    /// new one at `next_start` if the bytes would take it past the limit.
    ///
    /// # Errors
    /// I/O errors; the caller must stop using the stream.
    pub fn append(&self, data: &[u8], next_start: u64) -> Result<()> {
        self.append_unsynced(data, next_start).map(drop)
    }

    /// Like [`Stream::append`], and returns the file the bytes went to, so
    /// that another thread can make them durable ([`Unsynced::sync`]) while
    /// this one goes on appending. A roll-over syncs the segment it closes.
    ///
    /// # Errors
    /// As [`Stream::append`].
    pub fn append_unsynced(&self, data: &[u8], next_start: u64) -> Result<Unsynced> {
        let len = data.len() as u64;
        let last = self.last();
        if self.sealed_tail.load(Ordering::Acquire)
            || (last.valid_end() > HEADER_LEN && last.valid_end() + len > self.segment_limit)
        {
            self.seal_and_roll(next_start)?;
        }
        let last = self.last();
        let mut w = self.writer.lock().expect("writer lock");
        let writer = match w.as_ref() {
            Some(h) => h.clone(),
            None => {
                let open = || {
                    self.env
                        .vfs
                        .open_append(&last.path)
                        .map_err(|e| StoreError::io(&last.path, e))
                };
                let file: Arc<dyn AppendFile> = Arc::from(open()?);
                let syncs = (0..self.sync_handles)
                    .map(|_| open())
                    .collect::<Result<Vec<_>>>()?;
                let h = Writer {
                    file,
                    syncs: syncs.into(),
                };
                *w = Some(h.clone());
                h
            }
        };
        // One thread appends to a stream: the lock guards the handle, not
        // the write, so it is not held across the I/O.
        drop(w);
        writer
            .file
            .append(data)
            .map_err(|e| StoreError::io(&last.path, e))?;
        let offset = last.valid_end.fetch_add(len, Ordering::AcqRel);
        Ok(Unsynced {
            file: writer.file,
            syncs: writer.syncs,
            segment: last,
            offset,
            end: offset + len,
            cache_keep: self.cache_keep,
        })
    }

    /// `fdatasync` of the live segment. The writer lock is not held during
    /// the sync, so appends go on meanwhile.
    ///
    /// # Errors
    /// I/O errors; the caller must poison.
    pub fn sync(&self) -> Result<()> {
        let w = self.writer.lock().expect("writer lock").clone();
        if let Some(Writer { file: w, .. }) = w {
            let last = self.last();
            // Written before the sync began, so durable once it returns.
            let end = last.valid_end();
            w.sync_data().map_err(|e| StoreError::io(&last.path, e))?;
            release_behind(w.as_ref(), &last, end, self.cache_keep);
        }
        Ok(())
    }

    fn seal_and_roll(&self, next_start: u64) -> Result<()> {
        self.sync()?;
        let last = self.last();
        *self.writer.lock().expect("writer lock") = None;
        self.env
            .flags
            .apply(self.env.vfs.as_ref(), &last.path, Flag::Immutable);
        self.new_segment(next_start, last.valid_end())
    }

    /// Fixed-size records: total number of valid records.
    pub fn record_count(&self, rec: u64) -> u64 {
        let last = self.last();
        last.header.start + (last.valid_end() - HEADER_LEN) / rec
    }

    /// Fixed-size records: reads `count` records of `rec` bytes from `first`.
    ///
    /// # Errors
    /// `OutOfRange` past the valid data; I/O errors.
    pub fn read_records(&self, first: u64, count: u64, rec: u64) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.read_records_into(first, count, rec, &mut out)?;
        Ok(out)
    }

    /// Like [`Stream::read_records`], into `out` (resized), so a caller
    /// reading many runs reuses one buffer.
    ///
    /// # Errors
    /// As [`Stream::read_records`].
    pub fn read_records_into(
        &self,
        first: u64,
        count: u64,
        rec: u64,
        out: &mut Vec<u8>,
    ) -> Result<()> {
        out.resize((count * rec) as usize, 0);
        let mut done = 0u64;
        while done < count {
            let pos = first + done;
            let seg = self.segment_for(pos).ok_or_else(|| {
                StoreError::OutOfRange(format!("record {pos} is before the stream"))
            })?;
            let seg_records = (seg.valid_end() - HEADER_LEN) / rec;
            let within = pos - seg.header.start;
            if within >= seg_records {
                return Err(StoreError::OutOfRange(format!(
                    "record {pos} of {} is past the end of its data",
                    self.dir.display()
                )));
            }
            let n = (seg_records - within).min(count - done);
            let off = HEADER_LEN + within * rec;
            seg.read_at(
                &mut out[(done * rec) as usize..((done + n) * rec) as usize],
                off,
            )?;
            done += n;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memfs::MemFs;

    /// The sequencer's syncer may sync only the newest segment's file after
    /// a roll-over, so the roll-over itself must make the closed segment
    /// durable: bytes appended to it and never synced through their
    /// [`Unsynced`] survive a crash right after the roll.
    #[test]
    fn a_roll_over_syncs_the_segment_it_closes() {
        let fs = MemFs::new();
        let dir = Path::new("/wal");
        let mut s = Stream::create(&Env::new(Arc::new(fs.clone())), dir, Kind::Wal, 0, 0).unwrap();
        s.set_segment_limit(HEADER_LEN + 100);
        let first = s.append_unsynced(&[1u8; 80], 0).unwrap();
        let second = s.append_unsynced(&[2u8; 80], 1).unwrap();
        assert!(!first.same_file(&second), "the second append rolled over");
        let closed = s.segments()[0].path.clone();
        let survived = fs.crash(0).contents(&closed).unwrap();
        assert_eq!(survived.len() as u64, HEADER_LEN + 80);
        assert_eq!(&survived[HEADER_LEN as usize..], &[1u8; 80]);
    }

    /// With a cache window, a stream written far past it keeps only about
    /// the window of its tail in the page cache, whether its bytes are made
    /// durable through [`Unsynced::sync`] (the WAL) or [`Stream::sync`]
    /// (hash levels); without one every written page stays. Measured with
    /// util-linux `fincore`, on a file system that drops pages on request
    /// (not tmpfs).
    #[test]
    fn synced_bytes_behind_the_cache_window_leave_the_page_cache() {
        use crate::vfs::{cached_bytes, RealFs};
        const KEEP: u64 = 1 << 20;
        const CHUNK: usize = 64 << 10;
        const TOTAL: u64 = 8 << 20;
        let tmp = tempfile::tempdir().unwrap();
        let write = |name: &str, keep: Option<u64>, unsynced: bool| {
            let mut s = Stream::create(
                &Env::new(Arc::new(RealFs)),
                &tmp.path().join(name),
                Kind::Wal,
                0,
                0,
            )
            .unwrap();
            s.set_cache_keep(keep);
            let mut at = 0;
            while at < TOTAL {
                let chunk: Vec<u8> = (0..CHUNK).map(|i| (i as u64 + at) as u8).collect();
                if unsynced {
                    s.append_unsynced(&chunk, 0).unwrap().sync().unwrap();
                } else {
                    s.append(&chunk, 0).unwrap();
                    s.sync().unwrap();
                }
                at += CHUNK as u64;
            }
            s.last().path.clone()
        };
        let unflag = || {
            let _ = std::process::Command::new("chattr")
                .args(["-R", "-a", "-i"])
                .arg(tmp.path())
                .status();
        };
        let plain = write("plain", None, true);
        let Some(kept) = cached_bytes(&plain) else {
            unflag();
            eprintln!("SKIP: util-linux fincore is not available");
            return;
        };
        let f = std::fs::File::open(&plain).unwrap();
        rustix::fs::fadvise(&f, 0, None, rustix::fs::Advice::DontNeed).unwrap();
        if kept < TOTAL - KEEP || cached_bytes(&plain) != Some(0) {
            unflag();
            eprintln!(
                "SKIP: this file system does not keep written pages cached ({kept} of {TOTAL} bytes) or does not drop them on request"
            );
            return;
        }
        let cached = [true, false].map(|unsynced| {
            let name = format!("windowed-{unsynced}");
            (
                name.clone(),
                cached_bytes(&write(&name, Some(KEEP), unsynced)).unwrap(),
            )
        });
        unflag();
        for (name, cached) in cached {
            // At most the window, the quarter window released at a time,
            // and the folio the window's edge falls in.
            assert!(
                cached <= KEEP + KEEP / 4 + MAX_FOLIO,
                "{name}: {cached} bytes of {TOTAL} still cached with a {KEEP}-byte window"
            );
            // The newest bytes stay (half the window, should the kernel
            // reclaim some on its own meanwhile).
            assert!(cached >= KEEP / 2, "{name}: only {cached} bytes cached");
        }
    }
}

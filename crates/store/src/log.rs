//! A named log: sequencer threads (group commit: one writer, then up to
//! `syncs_in_flight` syncers), an acker, one integrator thread (hash levels,
//! index, signed checkpoints), and readers over published data.
//! See docs/FORMAT.md "Life of an event".

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use veritrail_core::hash::Hash;
use veritrail_core::note::{Signer, Verifier};
use veritrail_core::tree::TreeSize;

use crate::error::{Result, StoreError};
use crate::immutable::FlagReport;
use crate::segment::{Kind, Stream};
use crate::vfs::Vfs;
use crate::wal::{encode_record, set_end_of_batch, MAX_PAYLOAD};

/// Tunables of a log. The defaults suit production.
#[derive(Clone, Debug)]
pub struct LogConfig {
    /// Longest delay between new entries and the checkpoint covering them.
    pub checkpoint_interval: Duration,
    /// Shortest delay between checkpoints signed on request (receipts).
    pub min_checkpoint_interval: Duration,
    /// Largest commit group, and so the largest torn tail recovery accepts.
    pub max_group_bytes: usize,
    /// WAL segments are closed at this size.
    pub wal_segment_bytes: u64,
    /// How long the sequencer may wait for a group to fill up to the size of
    /// the previous one (adaptive group commit; 0 disables).
    pub group_wait: Duration,
    /// How many of the WAL's newest bytes stay in the page cache once
    /// durable (of hash level 0, which grows with every entry too, an
    /// eighth: about as many entries); older pages are released as the
    /// writers move on, so ingest reuses them instead of taking fresh memory
    /// (`None`: the kernel keeps whatever it likes).
    pub cache_keep: Option<u64>,
    /// How many `fdatasync`s of the WAL may be in progress at once (each
    /// through its own handle, by its own thread); at least 1. A disk that
    /// writes back one group while it commits another makes more bytes
    /// durable per second with several in flight; acknowledgements stay in
    /// order either way.
    pub syncs_in_flight: usize,
}

/// The default [`LogConfig::cache_keep`]: several seconds of single-event
/// ingest at the highest rates measured, so the query indexer and readers of
/// recent entries find them in memory.
pub const DEFAULT_CACHE_KEEP: u64 = 64 << 20;

/// The default [`LogConfig::syncs_in_flight`].
pub const DEFAULT_SYNCS_IN_FLIGHT: usize = 4;

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            checkpoint_interval: Duration::from_secs(1),
            min_checkpoint_interval: Duration::from_millis(50),
            max_group_bytes: 64 << 20,
            wal_segment_bytes: crate::segment::DEFAULT_SEGMENT_LIMIT,
            group_wait: Duration::from_micros(150),
            cache_keep: Some(DEFAULT_CACHE_KEEP),
            syncs_in_flight: DEFAULT_SYNCS_IN_FLIGHT,
        }
    }
}

/// The answer to an append: where the entries went and their leaf hashes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Appended {
    /// Index of the first entry of the batch; the rest follow consecutively.
    pub first_index: u64,
    /// Leaf hash of each entry, in order.
    pub leaf_hashes: Vec<Hash>,
}

/// A batch made ready off the sequencer: encoded WAL records and leaf hashes.
pub struct PreparedBatch {
    pub(crate) records: Vec<u8>,
    pub(crate) starts: Vec<u32>,
    pub(crate) leaf_hashes: Vec<Hash>,
}

impl PreparedBatch {
    /// Encodes entries (canonical event bytes) and hashes them. This is the
    /// expensive part of an append and runs in the caller's thread.
    ///
    /// # Errors
    /// `BadBatch` for an empty batch or an entry over 65,535 bytes (naming it).
    pub fn new<E: AsRef<[u8]> + Sync>(entries: &[E]) -> Result<PreparedBatch> {
        if entries.is_empty() {
            return Err(StoreError::BadBatch("empty batch".into()));
        }
        let total: usize = entries
            .iter()
            .map(|e| e.as_ref().len() + crate::wal::RECORD_OVERHEAD)
            .sum();
        let mut records = Vec::with_capacity(total);
        let mut starts = Vec::with_capacity(entries.len());
        for (i, e) in entries.iter().enumerate() {
            let e = e.as_ref();
            if e.len() > MAX_PAYLOAD {
                return Err(StoreError::BadBatch(format!(
                    "entry {i} is {} bytes; at most 65,535 are allowed",
                    e.len()
                )));
            }
            starts.push(records.len() as u32);
            encode_record(e, false, &mut records);
        }
        let last = *starts.last().expect("non-empty") as usize;
        set_end_of_batch(&mut records[last..], true);
        let leaf_hashes = veritrail_core::compact::hash_leaves(entries);
        Ok(PreparedBatch {
            records,
            starts,
            leaf_hashes,
        })
    }

    /// An empty batch to fill with [`PreparedBatch::push`] (capacity hints:
    /// entries and total entry bytes).
    pub fn builder(entries: usize, bytes: usize) -> PreparedBatch {
        PreparedBatch {
            records: Vec::with_capacity(bytes + entries * crate::wal::RECORD_OVERHEAD),
            starts: Vec::with_capacity(entries),
            leaf_hashes: Vec::with_capacity(entries),
        }
    }

    /// Adds one entry: encodes its WAL record and hashes it.
    ///
    /// # Errors
    /// `BadBatch` for an entry over 65,535 bytes.
    pub fn push(&mut self, entry: &[u8]) -> Result<()> {
        if entry.len() > MAX_PAYLOAD {
            return Err(StoreError::BadBatch(format!(
                "entry {} is {} bytes; at most 65,535 are allowed",
                self.starts.len(),
                entry.len()
            )));
        }
        // Entries added by push_with are hashed first, to keep the order.
        self.hash_pending();
        self.starts.push(self.records.len() as u32);
        encode_record(entry, false, &mut self.records);
        self.leaf_hashes.push(veritrail_core::leaf_hash(entry));
        Ok(())
    }

    /// Adds one entry that `write` appends straight into the batch's record
    /// buffer (no copy of the entry). Its leaf hash is computed by
    /// [`PreparedBatch::finish`], so a caller can validate many entries now
    /// and hash them later. If `write` fails, the batch is left as it was.
    ///
    /// # Errors
    /// The outer `BadBatch` if `write` appended more than 65,535 bytes (the
    /// entry is dropped); the inner error is `write`'s own.
    pub fn push_with<E>(
        &mut self,
        write: impl FnOnce(&mut Vec<u8>) -> std::result::Result<(), E>,
    ) -> Result<std::result::Result<(), E>> {
        let start = self.records.len();
        self.records
            .extend_from_slice(&[0; crate::wal::RECORD_OVERHEAD]);
        if let Err(e) = write(&mut self.records) {
            self.records.truncate(start);
            return Ok(Err(e));
        }
        let len = self.records.len() - start - crate::wal::RECORD_OVERHEAD;
        if len > MAX_PAYLOAD {
            self.records.truncate(start);
            return Err(StoreError::BadBatch(format!(
                "entry {} is {len} bytes; at most 65,535 are allowed",
                self.starts.len()
            )));
        }
        crate::wal::fill_header(&mut self.records[start..], false);
        self.starts.push(start as u32);
        Ok(Ok(()))
    }

    /// Marks the end of the batch and hashes, on all cores, the entries added
    /// by [`PreparedBatch::push_with`]; call after the last push.
    ///
    /// # Errors
    /// `BadBatch` if the batch is empty.
    pub fn finish(mut self) -> Result<PreparedBatch> {
        let Some(&last) = self.starts.last() else {
            return Err(StoreError::BadBatch("empty batch".into()));
        };
        set_end_of_batch(&mut self.records[last as usize..], true);
        self.hash_pending();
        Ok(self)
    }

    /// Hashes, on all cores, the entries added by `push_with` and not hashed yet.
    fn hash_pending(&mut self) {
        let hashed = self.leaf_hashes.len();
        if hashed == self.starts.len() {
            return;
        }
        let (records, starts) = (&self.records, &self.starts);
        let payloads: Vec<&[u8]> = (hashed..starts.len())
            .map(|k| {
                let from = starts[k] as usize + crate::wal::RECORD_OVERHEAD;
                let to = starts.get(k + 1).map_or(records.len(), |&s| s as usize);
                &records[from..to]
            })
            .collect();
        let mut rest = veritrail_core::compact::hash_leaves(&payloads);
        self.leaf_hashes.append(&mut rest);
    }

    /// Whether [`PreparedBatch::finish`] completed it: every entry hashed
    /// and the last record marked `END_OF_BATCH`.
    fn is_finished(&self) -> bool {
        self.starts.last().is_some_and(|&last| {
            let word = &self.records[last as usize..last as usize + 4];
            self.leaf_hashes.len() == self.starts.len()
                && u32::from_le_bytes(word.try_into().expect("4 bytes")) & crate::wal::END_OF_BATCH
                    != 0
        })
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// Whether the batch is empty (never, once built).
    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// Encoded size.
    pub fn bytes(&self) -> usize {
        self.records.len()
    }
}

pub(crate) type Done = Box<dyn FnOnce(Result<Appended>) + Send>;

pub(crate) struct Job {
    pub batch: PreparedBatch,
    pub done: Done,
}

pub(crate) struct Queue {
    pub jobs: VecDeque<Job>,
    pub closed: bool,
    /// Jobs in the previous group: as many are expected back.
    pub hint: usize,
    /// Submitters wake the sequencer once this many jobs are queued.
    pub wake_at: usize,
    /// Bytes of the queued batches.
    pub bytes: usize,
    /// … or once this many bytes are.
    pub wake_bytes: usize,
}

impl Default for Queue {
    fn default() -> Self {
        Queue {
            jobs: VecDeque::new(),
            closed: false,
            hint: 1,
            wake_at: 1,
            bytes: 0,
            wake_bytes: usize::MAX,
        }
    }
}

/// What the sequencer hands to the integrator: durable but not yet integrated.
#[derive(Default)]
pub(crate) struct Pending {
    /// Leaf hashes of durable entries after the integrated size.
    pub leaves: Vec<Hash>,
    /// (entry index, WAL byte offset) for entries whose index is a multiple of 256.
    pub index_offsets: Vec<(u64, u64)>,
    /// A receipt is waiting for the next checkpoint.
    pub wanted: bool,
    pub closed: bool,
}

/// What readers may see: everything up to the latest signed checkpoint.
#[derive(Clone, Debug)]
pub struct Published {
    /// Tree size of the latest checkpoint.
    pub size: u64,
    /// Its root.
    pub root: Hash,
    /// The signed checkpoint note.
    pub checkpoint: Arc<str>,
    /// Unix nanoseconds when it was signed (by this process or found on open).
    pub signed_at: u64,
}

/// State shared by the log's threads and its readers.
pub(crate) struct Shared {
    pub name: String,
    pub dir: PathBuf,
    pub vfs: Arc<dyn Vfs>,
    pub config: LogConfig,
    pub signer: Signer,
    pub verifier: Verifier,
    pub flags: Arc<FlagReport>,
    pub wal: Stream,
    pub levels: RwLock<Vec<Arc<Stream>>>,
    pub index: Stream,
    pub checkpoints: Stream,
    pub queue: Mutex<Queue>,
    pub queue_cv: Condvar,
    pub pending: Mutex<Pending>,
    pub pending_cv: Condvar,
    pub published: RwLock<Published>,
    pub published_cv: Condvar,
    pub published_mx: Mutex<()>,
    /// Records in the checkpoint history.
    pub checkpoint_records: std::sync::atomic::AtomicU64,
    /// Durable entries (acknowledged or being acknowledged).
    pub durable: std::sync::atomic::AtomicU64,
    pub poison: Mutex<Option<String>>,
    pub poisoned: AtomicBool,
    /// Counters for metrics.
    pub stats: crate::stats::LogStats,
    /// Discarded torn tails found on open: (file, bytes).
    pub torn_tails: Mutex<Vec<(PathBuf, u64)>>,
}

impl Shared {
    pub fn poison(&self, cause: &StoreError) {
        let mut p = self.poison.lock().expect("poison lock");
        if p.is_none() {
            tracing::error!(log = %self.name, error = %cause, "log stopped after an I/O failure; reopen to recover");
            *p = Some(cause.to_string());
        }
        self.poisoned.store(true, Ordering::Release);
        // Wake everyone so that waiters fail instead of hanging.
        self.pending_cv.notify_all();
        self.published_cv.notify_all();
    }

    pub fn check_poison(&self) -> Result<()> {
        if self.poisoned.load(Ordering::Acquire) {
            let cause = self
                .poison
                .lock()
                .expect("poison lock")
                .clone()
                .unwrap_or_default();
            return Err(StoreError::Poisoned {
                log: self.name.clone(),
                cause,
            });
        }
        Ok(())
    }

    pub fn level_stream(&self, level: u8) -> Option<Arc<Stream>> {
        self.levels
            .read()
            .expect("levels lock")
            .get(level as usize)
            .cloned()
    }

    pub fn published(&self) -> Published {
        self.published.read().expect("published lock").clone()
    }

    pub fn level_dir(dir: &Path, level: u8) -> PathBuf {
        dir.join("hash").join(level.to_string())
    }

    pub fn open_or_create_level(&self, level: u8) -> Result<Arc<Stream>> {
        let mut levels = self.levels.write().expect("levels lock");
        while levels.len() <= level as usize {
            let l = levels.len() as u8;
            let d = Shared::level_dir(&self.dir, l);
            let s = Stream::create(self.vfs.clone(), &d, Kind::Hash, l, 0, self.flags.clone())?;
            levels.push(Arc::new(s));
        }
        Ok(levels[level as usize].clone())
    }
}

/// An open log. Dropping it (or [`Log::close`]) stops the threads after
/// integrating and signing what was appended.
pub struct Log {
    pub(crate) shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    _lock: Box<dyn std::any::Any + Send + Sync>,
}

impl Log {
    pub(crate) fn start(shared: Arc<Shared>, lock: Box<dyn std::any::Any + Send + Sync>) -> Log {
        let s2 = shared.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let ack = std::thread::Builder::new()
            .name(format!("vt-ack-{}", shared.name))
            .spawn(move || crate::sequencer::run_acker(&rx))
            .expect("spawn acker");
        let mut threads = crate::sequencer::spawn(&shared, &tx);
        drop(tx);
        let int = std::thread::Builder::new()
            .name(format!("vt-int-{}", shared.name))
            .spawn(move || crate::integrator::run(&s2))
            .expect("spawn integrator");
        threads.extend([ack, int]);
        Log {
            shared,
            threads: Mutex::new(threads),
            _lock: lock,
        }
    }

    /// Log name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The verifier key of the log (its origin is the key name).
    pub fn verifier(&self) -> &Verifier {
        &self.shared.verifier
    }

    /// The log directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Queues a prepared batch; `done` is called once it is durable (or
    /// failed). All entries of a batch are sequenced together or not at all.
    pub fn append_prepared(
        &self,
        batch: PreparedBatch,
        done: impl FnOnce(Result<Appended>) + Send + 'static,
    ) {
        if let Err(e) = self.shared.check_poison() {
            done(Err(e));
            return;
        }
        if !batch.is_finished() {
            // Unhashed entries or a batch without END_OF_BATCH would break
            // the tree and batch atomicity: refused before the queue.
            done(Err(StoreError::BadBatch(
                "the batch was not finished (PreparedBatch::finish)".into(),
            )));
            return;
        }
        if batch.bytes() > self.shared.config.max_group_bytes {
            done(Err(StoreError::BadBatch(format!(
                "batch of {} bytes exceeds the {}-byte commit group limit",
                batch.bytes(),
                self.shared.config.max_group_bytes
            ))));
            return;
        }
        let mut q = self.shared.queue.lock().expect("queue lock");
        if q.closed {
            drop(q);
            done(Err(StoreError::Closed(self.shared.name.clone())));
            return;
        }
        q.bytes += batch.bytes();
        q.jobs.push_back(Job {
            batch,
            done: Box::new(done),
        });
        let wake = q.jobs.len() >= q.wake_at || q.bytes >= q.wake_bytes;
        drop(q);
        if wake {
            self.shared.queue_cv.notify_one();
        }
    }

    /// Appends entries and returns once they are durable (fdatasync'd).
    ///
    /// # Errors
    /// `BadBatch`, `Poisoned`, `Closed`, or the I/O error that poisoned the log.
    pub fn append<E: AsRef<[u8]> + Sync>(&self, entries: &[E]) -> Result<Appended> {
        let batch = PreparedBatch::new(entries)?;
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.append_prepared(batch, move |r| {
            let _ = tx.send(r);
        });
        rx.recv()
            .map_err(|_| StoreError::Closed(self.shared.name.clone()))?
    }

    /// Number of durable entries.
    pub fn durable_size(&self) -> u64 {
        self.shared.durable.load(Ordering::Acquire)
    }

    /// The latest signed checkpoint and what it covers.
    pub fn published(&self) -> Published {
        self.shared.published()
    }

    /// Asks for a checkpoint covering `size` entries as soon as allowed and
    /// waits for it (up to `timeout`).
    ///
    /// # Errors
    /// `Poisoned`, `Closed`, or `OutOfRange` on timeout.
    pub fn wait_for_checkpoint(&self, size: u64, timeout: Duration) -> Result<Published> {
        {
            let mut p = self.shared.pending.lock().expect("pending lock");
            p.wanted = true;
        }
        self.shared.pending_cv.notify_all();
        self.wait_published(size, timeout)
    }

    /// Waits (up to `timeout`) until a checkpoint covers `size` entries,
    /// without asking for one sooner than the regular interval.
    ///
    /// # Errors
    /// `Poisoned`, or `OutOfRange` on timeout.
    pub fn wait_published(&self, size: u64, timeout: Duration) -> Result<Published> {
        let deadline = std::time::Instant::now() + timeout;
        let mut g = self.shared.published_mx.lock().expect("published mutex");
        loop {
            self.shared.check_poison()?;
            let p = self.shared.published();
            if p.size >= size {
                return Ok(p);
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                return Err(StoreError::OutOfRange(format!(
                    "no checkpoint covering {size} entries within {timeout:?}"
                )));
            }
            g = self
                .shared
                .published_cv
                .wait_timeout(g, deadline - now)
                .expect("published mutex")
                .0;
        }
    }

    /// Counters: entries, commit groups, fdatasync latency, batch sizes.
    pub fn stats(&self) -> &crate::stats::LogStats {
        &self.shared.stats
    }

    /// Whether an I/O failure stopped the log.
    pub fn poisoned(&self) -> Option<String> {
        self.shared.poison.lock().expect("poison lock").clone()
    }

    /// Why immutability flags could not be set, if they could not.
    pub fn flag_problem(&self) -> Option<String> {
        self.shared.flags.problem()
    }

    /// Torn tails that recovery discarded when this log was opened.
    pub fn torn_tails(&self) -> Vec<(PathBuf, u64)> {
        self.shared.torn_tails.lock().expect("torn lock").clone()
    }

    /// The tree size as a newtype.
    pub fn tree_size(&self) -> TreeSize {
        TreeSize(self.published().size)
    }

    /// Stops accepting appends, lets queued ones finish, integrates and signs
    /// a final checkpoint, and joins the threads.
    pub fn close(&self) {
        {
            let mut q = self.shared.queue.lock().expect("queue lock");
            q.closed = true;
            q.wake_at = 1;
        }
        self.shared.queue_cv.notify_all();
        let threads: Vec<JoinHandle<()>> =
            std::mem::take(&mut *self.threads.lock().expect("threads lock"));
        for t in threads {
            let _ = t.join();
        }
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries() -> Vec<Vec<u8>> {
        (0..1000u32)
            .map(|i| {
                format!("{{\"n\":{i},\"pad\":\"{}\"}}", "x".repeat(i as usize % 300)).into_bytes()
            })
            .collect()
    }

    fn parts(b: &PreparedBatch) -> (&[u8], &[u32], &[Hash]) {
        (&b.records, &b.starts, &b.leaf_hashes)
    }

    /// Every way of building a batch gives the same records and leaf hashes.
    #[test]
    fn push_with_and_finish_build_the_same_batch_as_new() {
        let es = entries();
        let reference = PreparedBatch::new(&es).unwrap();

        let mut pushed = PreparedBatch::builder(10, 10);
        for e in &es {
            pushed.push(e).unwrap();
        }
        let pushed = pushed.finish().unwrap();
        assert_eq!(parts(&pushed), parts(&reference));

        let mut written = PreparedBatch::builder(10, 10);
        for (i, e) in es.iter().enumerate() {
            // Failed writes in between leave no trace.
            if i % 7 == 0 {
                let r = written.push_with(|out| {
                    out.extend_from_slice(b"half an entry");
                    Err("refused")
                });
                assert_eq!(r.unwrap(), Err("refused"));
            }
            written
                .push_with(|out| {
                    out.extend_from_slice(e);
                    Ok::<(), ()>(())
                })
                .unwrap()
                .unwrap();
        }
        assert_eq!(written.len(), es.len());
        let written = written.finish().unwrap();
        assert_eq!(parts(&written), parts(&reference));

        // Mixed: push after push_with keeps leaf hashes in entry order.
        let mut mixed = PreparedBatch::builder(10, 10);
        for (i, e) in es.iter().enumerate() {
            if i % 3 == 0 {
                mixed.push(e).unwrap();
            } else {
                mixed
                    .push_with(|out| {
                        out.extend_from_slice(e);
                        Ok::<(), ()>(())
                    })
                    .unwrap()
                    .unwrap();
            }
        }
        let mixed = mixed.finish().unwrap();
        assert_eq!(parts(&mixed), parts(&reference));
    }

    #[test]
    fn push_with_refuses_an_oversized_entry_and_keeps_the_batch() {
        let mut b = PreparedBatch::builder(1, 10);
        b.push(b"first").unwrap();
        let before = b.records.clone();
        let r = b.push_with(|out| {
            out.extend(std::iter::repeat_n(b'x', MAX_PAYLOAD + 1));
            Ok::<(), ()>(())
        });
        assert!(matches!(r, Err(StoreError::BadBatch(_))));
        assert_eq!(b.records, before);
        assert_eq!(b.len(), 1);
        assert!(PreparedBatch::builder(1, 1).finish().is_err());
    }

    /// A log opened with a cache window releases the WAL's and hash level
    /// 0's synced pages behind it (level 0 with an eighth of the window):
    /// after 44 MB of entries, each keeps about its window cached. Skips
    /// where util-linux `fincore` is missing or the file system keeps the
    /// pages anyway (tmpfs).
    #[test]
    fn a_log_keeps_about_its_cache_window_of_the_wal_and_of_level_0() {
        use crate::vfs::cached_bytes;
        use crate::{DataDir, RealFs};
        const KEEP: u64 = 1 << 20;
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("d");
        let (dd, _) = DataDir::init(Arc::new(RealFs), &root, Some("cache.example")).unwrap();
        let config = LogConfig {
            checkpoint_interval: Duration::from_millis(20),
            cache_keep: Some(KEEP),
            ..LogConfig::default()
        };
        let log = dd.open_log("default", config).unwrap();
        let batch: Vec<Vec<u8>> = (0..1000)
            .map(|i| vec![b'a' + (i % 26) as u8; 100])
            .collect();
        for _ in 0..400 {
            log.append(&batch).unwrap();
        }
        log.close();
        let only_file = |dir: &str| {
            let mut v: Vec<_> = std::fs::read_dir(root.join("logs/default").join(dir))
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            assert_eq!(v.len(), 1, "one segment in {dir}");
            v.pop().unwrap()
        };
        let (wal, level0) = (only_file("wal"), only_file("hash/0"));
        let unflag = || {
            let _ = std::process::Command::new("chattr")
                .args(["-R", "-a", "-i"])
                .arg(&root)
                .status();
        };
        let (Some(w), Some(l)) = (cached_bytes(&wal), cached_bytes(&level0)) else {
            unflag();
            eprintln!("SKIP: util-linux fincore is not available");
            return;
        };
        let lens = (
            std::fs::metadata(&wal).unwrap().len(),
            std::fs::metadata(&level0).unwrap().len(),
        );
        // fincore counts whole pages: a file kept entirely is its length
        // rounded up to a page.
        let whole = |n: u64| n.div_ceil(4096) * 4096;
        if w >= whole(lens.0) && l >= whole(lens.1) {
            unflag();
            eprintln!("SKIP: this file system keeps every page cached ({w} and {l} bytes)");
            return;
        }
        unflag();
        // 43 MB of WAL, 12.8 MB of level 0.
        assert!(lens.0 > 40 * KEEP && lens.1 > 12 * KEEP, "{lens:?}");
        // At most the window, the quarter window released at a time, and
        // the folio the window's edge falls in.
        let bound = |keep: u64| keep + keep / 4 + crate::segment::MAX_FOLIO;
        assert!(w <= bound(KEEP), "WAL: {w} of {} bytes cached", lens.0);
        assert!(
            l <= bound(KEEP / 8),
            "level 0: {l} of {} bytes cached",
            lens.1
        );
    }
}

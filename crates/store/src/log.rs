//! A named log open for writing: sequencer threads (group commit: one
//! writer, then up to `syncs_in_flight` syncers), an acker, one integrator
//! thread (hash levels, index, signed checkpoints), the checkpoint
//! publisher, and a [`LogReader`] over what is published.
//! See docs/FORMAT.md "Life of an event".

use std::ops::Deref;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use veritrail_core::tree::TreeSize;

use crate::error::{Result, StoreError};
use crate::publish::PublishStep;
use crate::read::LogReader;
use crate::state::{Appended, Job, Published, Shared};
use crate::wal::PreparedBatch;

/// An open log. Dropping it (or [`Log::close`]) stops the threads after
/// integrating and signing what was appended.
///
/// A `Log` reads as its [`LogReader`] does (it dereferences to it): entries,
/// tiles, proofs and checkpoints up to the latest one signed.
pub struct Log {
    reader: LogReader,
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    _lock: Box<dyn std::any::Any + Send + Sync>,
    /// For a copy of a log written elsewhere: the writer's checkpoints it
    /// may record.
    pub(crate) adopted: Option<Arc<crate::adopt::Adopted>>,
}

impl Deref for Log {
    type Target = LogReader;
    fn deref(&self) -> &LogReader {
        &self.reader
    }
}

impl Log {
    pub(crate) fn start(shared: Arc<Shared>, lock: Box<dyn std::any::Any + Send + Sync>) -> Log {
        let s2 = shared.clone();
        let s3 = shared.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let ack = std::thread::Builder::new()
            .name(format!("vt-ack-{}", shared.name))
            .spawn(move || crate::sequencer::run_acker(&rx))
            .expect("spawn acker");
        let mut threads = crate::sequencer::spawn(&shared, &tx);
        drop(tx);
        let int = std::thread::Builder::new()
            .name(format!("vt-int-{}", shared.name))
            .spawn(move || {
                crate::integrator::run(&s2);
                s2.publisher.close();
            })
            .expect("spawn integrator");
        let publish = std::thread::Builder::new()
            .name(format!("vt-pub-{}", shared.name))
            .spawn(move || s3.publisher.run(&s3.name, &s3.stats))
            .expect("spawn publisher");
        threads.extend([ack, int, publish]);
        Log {
            reader: LogReader::new(shared.clone()),
            shared,
            threads: Mutex::new(threads),
            _lock: lock,
            adopted: None,
        }
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
        self.shared
            .durable
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// Asks for a checkpoint covering `size` entries as soon as allowed and
    /// waits for it (up to `timeout`).
    ///
    /// # Errors
    /// `Poisoned`, `Closed`, or `OutOfRange` on timeout.
    pub fn wait_for_checkpoint(&self, size: u64, timeout: Duration) -> Result<Published> {
        self.ask_for_checkpoint();
        self.reader.wait_published(size, timeout)
    }

    /// Asks for a checkpoint as soon as allowed, without waiting: over the
    /// entries waiting now, or else over the next ones to come (the request
    /// holds until a checkpoint is signed). A consumer that follows the log
    /// live asks before each wait, so that new entries reach it a minimum
    /// checkpoint interval late at most, not a checkpoint interval.
    pub fn ask_for_checkpoint(&self) {
        {
            let mut p = self.shared.pending.lock().expect("pending lock");
            p.wanted = true;
        }
        self.shared.pending_cv.notify_all();
    }

    /// For a copy of a log written elsewhere
    /// ([`crate::DataDir::create_adopting_log`]): where to hand the
    /// writer's checkpoints before appending the entries they cover.
    pub fn adopted(&self) -> Option<&Arc<crate::adopt::Adopted>> {
        self.adopted.as_ref()
    }

    /// Adds a checkpoint-publishing step ([`crate::publish`]): it runs for
    /// the current checkpoint, then for each new one.
    pub fn add_publish_step(&self, step: Arc<dyn PublishStep>) {
        self.shared.publisher.add(step, self.shared.published());
    }

    /// The reading side of the log, to hand to consumers that outlive this
    /// borrow (it shares the log's state, not a copy).
    pub fn reader(&self) -> LogReader {
        self.reader.clone()
    }

    /// The failure that stopped the log, if one did.
    pub fn poisoned(&self) -> Option<Arc<StoreError>> {
        self.shared.poison.lock().expect("poison lock").clone()
    }

    /// Why immutability flags could not be set, if they could not.
    pub fn flag_problem(&self) -> Option<String> {
        self.shared.env.flags.problem()
    }

    /// The tails recovery discarded when this log was opened (each copied
    /// to a quarantine file first): the caller records them in `_system`.
    pub fn discarded(&self) -> Vec<crate::segment::Discarded> {
        self.shared.discarded()
    }

    /// The tree size as a newtype.
    pub fn tree_size(&self) -> TreeSize {
        TreeSize(self.published().size)
    }

    /// Stops accepting appends, lets queued ones finish, integrates and signs
    /// a final checkpoint, joins the threads, and records the clean close
    /// (`lifecycle/`: every entry is covered by the final checkpoint).
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
        if self.shared.closed.swap(true, Ordering::AcqRel) || self.shared.check_poison().is_err() {
            return;
        }
        let entries = self.shared.durable.load(Ordering::Acquire);
        if self.shared.published().size != entries {
            tracing::warn!(log = %self.shared.name, "closed without a checkpoint covering every entry; no clean close is recorded");
            return;
        }
        let record = crate::lifecycle::Record {
            event: crate::lifecycle::Event::Close,
            entries,
            checkpoints: self.shared.checkpoint_records.load(Ordering::Acquire),
        };
        if let Some(s) = &self.shared.lifecycle {
            if let Err(e) = crate::lifecycle::append(s, record) {
                tracing::error!(log = %self.shared.name, error = %e, "could not record the clean close");
            }
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
    use crate::LogConfig;

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

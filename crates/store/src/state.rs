//! The state a log's threads and its readers share, and the types they
//! hand each other: the queue of batches waiting for the sequencer, what the
//! sequencer hands the integrator ([`Pending`]), and what readers may see
//! ([`Published`]). The bottom of the log's modules: it imports none of
//! them but the files it holds.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};

use veritrail_core::hash::Hash;
use veritrail_core::note::Verifier;

use crate::config::LogConfig;
use crate::env::Env;
use crate::error::{Result, StoreError};
use crate::publish::Publisher;
pub use crate::published::Published;
use crate::segment::{Kind, Stream};
use crate::signer::CheckpointSigner;
use crate::wal::PreparedBatch;

/// The answer to an append: where the entries went and their leaf hashes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Appended {
    /// Index of the first entry of the batch; the rest follow consecutively.
    pub first_index: u64,
    /// Leaf hash of each entry, in order.
    pub leaf_hashes: Vec<Hash>,
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

/// State shared by the log's threads and its readers.
pub(crate) struct Shared {
    pub name: String,
    pub dir: PathBuf,
    pub env: Env,
    pub config: LogConfig,
    /// `None` for a read-only handle ([`crate::LogReader`]).
    pub signer: Option<Arc<dyn CheckpointSigner>>,
    pub verifier: Verifier,
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
    /// The failure that stopped the log.
    pub poison: Mutex<Option<Arc<StoreError>>>,
    pub poisoned: AtomicBool,
    /// Counters for metrics.
    pub stats: crate::stats::LogStats,
    /// The checkpoint-publishing steps.
    pub publisher: Publisher,
    /// When the log was opened and closed cleanly (`None` for a read-only
    /// handle).
    pub lifecycle: Option<Stream>,
    /// A clean close was recorded (or the log is read-only).
    pub closed: AtomicBool,
    /// The newest durable entries, for followers.
    pub recent: crate::recent::Recent,
}

impl Shared {
    /// Stops the log after `cause` (an I/O failure): every later append and
    /// wait fails with [`StoreError::Poisoned`] naming it.
    pub fn poison(&self, cause: StoreError) {
        let mut p = self.poison.lock().expect("poison lock");
        if p.is_none() {
            tracing::error!(log = %self.name, error = %cause, "log stopped after an I/O failure; reopen to recover");
            *p = Some(Arc::new(cause));
        }
        self.poisoned.store(true, Ordering::Release);
        drop(p);
        // Wake everyone so that waiters fail instead of hanging.
        self.pending_cv.notify_all();
        self.published_cv.notify_all();
        self.recent.wake();
    }

    /// The error to fail work with once the log is stopped.
    pub fn poisoned_error(&self) -> StoreError {
        let cause = self
            .poison
            .lock()
            .expect("poison lock")
            .clone()
            .expect("the log was poisoned with a cause");
        StoreError::Poisoned {
            log: self.name.clone(),
            cause,
        }
    }

    pub fn check_poison(&self) -> Result<()> {
        if self.poisoned.load(Ordering::Acquire) {
            return Err(self.poisoned_error());
        }
        Ok(())
    }

    /// Every tail recovery discarded when this log was opened, in every
    /// stream.
    pub fn discarded(&self) -> Vec<crate::segment::Discarded> {
        let mut out = self.wal.discarded();
        out.extend(self.checkpoints.discarded());
        out.extend(self.index.discarded());
        for l in self.levels.read().expect("levels lock").iter() {
            out.extend(l.discarded());
        }
        out
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

    pub fn open_or_create_level(&self, level: u8) -> Result<Arc<Stream>> {
        let mut levels = self.levels.write().expect("levels lock");
        while levels.len() <= level as usize {
            let l = levels.len() as u8;
            let d = crate::layout::level_dir(&self.dir, l);
            let s = Stream::create(&self.env, &d, Kind::Hash, l, 0)?;
            levels.push(Arc::new(s));
        }
        Ok(levels[level as usize].clone())
    }
}

//! The drainer: copies each log's signed checkpoints, and the tiles and
//! entry bundles they cover, into the bucket as a C2SP tlog-tiles tree
//! under `PREFIX/<log>/`, so the bucket is a verifiable log at every
//! instant:
//!
//! 1. tiles and entry bundles first, each create-only (`If-None-Match: *`;
//!    one already there with the same bytes is an upload repeated after a
//!    restart, one with other bytes stops the log);
//! 2. then the checkpoint, by compare-and-swap on the ETag of the one it
//!    replaces (`If-Match`), so two writers can never both advance it. A
//!    lost swap stops uploading for that log and makes it refuse writes,
//!    unless the bucket holds, byte for byte, a checkpoint this node sent
//!    earlier whose answer it never got (a timeout or a cut connection
//!    after the store had committed it): that one is adopted.
//!
//! A backlog (uploads slower than ingest for a while, or a restart far
//! behind) goes up in rounds of about [`ROUND_ENTRIES`] entries, each
//! ending with a swap to a checkpoint the log published on the way (kept
//! as a waypoint when offered, or found in the log's checkpoint history
//! when the way to the next one is longer than two rounds), so the
//! bucket's checkpoint keeps advancing. Every round is read from the log a
//! chunk of objects at a time: what it holds stays small however far
//! behind the bucket is.
//!
//! On its first upload for a log the drainer reads the bucket's checkpoint
//! and checks that it is this log's (its key), no larger than what this
//! node holds, and the same tree (root at that size): anything else means
//! another writer, a lost disk, or a fork, and stops the log.
//!
//! The drainer runs on a thread of its own, fed by a publishing step per
//! log ([`Drainer::attach`]): nothing here is on the ack path, except for
//! `--durability object`, whose acks wait for [`Drainer::wait_uploaded`].
//! Failures are retried with backoff (1 s doubling to 60 s); a store that
//! refuses (403, 4xx) makes the log refuse writes until an upload works
//! again. Every `scan` interval it lists the object versions under each
//! log's prefix and reports delete markers and rewritten write-once objects
//! ([`crate::worm::tampering`]).

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use veritrail_core::tile::tiles_added;
use veritrail_core::tree::TreeSize;
use veritrail_store::{LogReader, PublishStep, Published};

use crate::bucket::{Bucket, Swapped, Version};
use crate::error::BucketError;

/// Why a log's uploads are not keeping up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// The store failed for a while; uploads are retried.
    Retrying(String),
    /// The store refuses uploads (permissions, a bucket setting): the log
    /// refuses writes until an upload works again.
    Refused(String),
    /// The bucket holds something this node did not write (another
    /// writer, a fork, a changed object): uploads stop for good and the
    /// log refuses writes; an operator must look.
    Stopped(String),
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Retrying(m) => write!(f, "retrying: {m}"),
            Problem::Refused(m) => write!(f, "refused: {m}"),
            Problem::Stopped(m) => write!(f, "stopped: {m}"),
        }
    }
}

/// What happened that people must hear about (recorded in `_system` and
/// raised as alerts by the server).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    /// Uploads of the log stopped (see [`Problem::Stopped`]).
    Stopped(String),
    /// The bucket shows deletion or rewriting of stored objects.
    Tampered(Vec<String>),
}

/// Called with each [`Notice`] and the log it concerns.
pub type NoticeHook = Box<dyn Fn(&str, &Notice) + Send + Sync>;

/// Whether this node may upload a log now (it holds the log's lease; see
/// [`crate::lease`]). Asked before each upload and right before each
/// checkpoint swap.
pub type Fence = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// One log's uploads, for `status` and `/metrics`.
#[derive(Clone, Debug)]
pub struct LogStatus {
    /// The log.
    pub log: String,
    /// Size of the checkpoint the bucket holds (that this node stored or
    /// found there).
    pub uploaded: u64,
    /// Size of the newest checkpoint waiting to be uploaded.
    pub pending: u64,
    /// What is wrong, if anything.
    pub problem: Option<Problem>,
    /// Tampering found by the last scan.
    pub tampered: Vec<String>,
}

/// Counters over all logs.
#[derive(Debug, Default)]
pub struct DrainStats {
    /// Objects created (new ones; repeats not counted).
    pub objects: AtomicU64,
    /// Bytes of the objects created.
    pub bytes: AtomicU64,
    /// Checkpoints stored.
    pub checkpoints: AtomicU64,
    /// Failed attempts.
    pub errors: AtomicU64,
}

struct LogDrain {
    reader: LogReader,
    /// Where in the bucket: `PREFIX/<dir>/`.
    dir: String,
    pending: Option<Published>,
    /// Checkpoints published since the bucket's, about [`ROUND_ENTRIES`] entries
    /// apart (oldest first): a backlog is uploaded one of them at a time.
    waypoints: VecDeque<Waypoint>,
    /// Size and version of the bucket's checkpoint, once read.
    stored: Option<Stored>,
    problem: Option<Problem>,
    retry_at: Option<Instant>,
    backoff: Duration,
    scanned: Option<Instant>,
    tampered: Vec<String>,
}

#[derive(Default)]
struct State {
    logs: BTreeMap<String, LogDrain>,
    closed: bool,
}

/// Uploads logs to a bucket (see the module documentation).
pub struct Drainer {
    bucket: Arc<Bucket>,
    state: Mutex<State>,
    cv: Condvar,
    scan: Option<Duration>,
    hook: NoticeHook,
    fence: Mutex<Option<Fence>>,
    /// Per log, the checkpoints sent whose swap was not settled by an
    /// answer (oldest first, at most [`UNSURE_KEPT`]): the store may have
    /// committed them.
    unsure: Mutex<BTreeMap<String, Vec<Bytes>>>,
    /// Counters.
    pub stats: DrainStats,
}

/// How many unsettled checkpoint swaps are remembered per log.
const UNSURE_KEPT: usize = 32;

/// A backlog is uploaded in rounds of about this many entries (256 entry
/// bundles and their hash tiles), each ending with a checkpoint swap: the
/// bucket's checkpoint advances every round, and a round reads only what
/// it uploads, however far behind the bucket is.
pub const ROUND_ENTRIES: u64 = 1 << 16;

/// Objects read from the log and uploaded at once within a round.
const CHUNK: usize = 256;

/// A signed checkpoint to upload up to.
#[derive(Clone)]
struct Waypoint {
    size: u64,
    checkpoint: Arc<str>,
}

impl From<&Published> for Waypoint {
    fn from(p: &Published) -> Waypoint {
        Waypoint {
            size: p.size,
            checkpoint: p.checkpoint.clone(),
        }
    }
}

/// Size and version of the checkpoint the bucket holds.
type Stored = (u64, Option<Version>);
/// An upload's outcome: what the bucket holds now, or why not (with what
/// it was found to hold, if it was read).
type Outcome = Result<Stored, (Option<Stored>, Failure)>;

enum Failure {
    /// This node may not upload the log now (no lease).
    Fenced,
    Transient(String),
    Refused(String),
    Stopped(String),
}

impl From<BucketError> for Failure {
    fn from(e: BucketError) -> Failure {
        match e {
            BucketError::Unreachable(m) => Failure::Transient(m),
            e @ BucketError::Changed { .. } => Failure::Stopped(e.to_string()),
            e => Failure::Refused(e.to_string()),
        }
    }
}

impl Drainer {
    /// Starts the drainer thread. `scan` is how often to look for deleted
    /// or rewritten objects (`None`: never); `hook` hears what went wrong;
    /// `background` puts the thread (uploads run on it) below the ack path
    /// ([`veritrail_store::priority`]), for when acks do not wait for it.
    pub fn start(
        bucket: Arc<Bucket>,
        scan: Option<Duration>,
        hook: NoticeHook,
        background: bool,
    ) -> Arc<Drainer> {
        let d = Arc::new(Drainer {
            bucket,
            state: Mutex::new(State::default()),
            cv: Condvar::new(),
            scan,
            hook,
            fence: Mutex::new(None),
            unsure: Mutex::new(BTreeMap::new()),
            stats: DrainStats::default(),
        });
        let d2 = d.clone();
        std::thread::Builder::new()
            .name("veritrail-drain".into())
            .spawn(move || {
                if background {
                    veritrail_store::priority::below_ack_path();
                }
                d2.run();
            })
            .expect("spawning the drainer thread");
        d
    }

    /// The bucket.
    pub fn bucket(&self) -> &Arc<Bucket> {
        &self.bucket
    }

    /// Registers log `name` (read through `reader`) and returns the
    /// publishing step to add to it.
    pub fn attach(self: &Arc<Drainer>, name: &str, reader: LogReader) -> Arc<dyn PublishStep> {
        self.attach_as(name, name, reader)
    }

    /// As [`Drainer::attach`], stored under `PREFIX/<dir>/` instead of
    /// `PREFIX/<name>/` (a node's own `_system` when nodes share a prefix).
    pub fn attach_as(
        self: &Arc<Drainer>,
        name: &str,
        dir: &str,
        reader: LogReader,
    ) -> Arc<dyn PublishStep> {
        let mut s = self.state.lock().expect("drain state");
        s.logs.entry(name.to_owned()).or_insert(LogDrain {
            reader,
            dir: dir.to_owned(),
            pending: None,
            waypoints: VecDeque::new(),
            stored: None,
            problem: None,
            retry_at: None,
            backoff: Duration::ZERO,
            scanned: None,
            tampered: Vec::new(),
        });
        Arc::new(Step(self.clone()))
    }

    /// Installs the fence: from now on a log is uploaded only while it
    /// says so.
    pub fn set_fence(&self, fence: Fence) {
        *self.fence.lock().expect("fence lock") = Some(fence);
        self.cv.notify_all();
    }

    fn allowed(&self, log: &str) -> bool {
        let f = self.fence.lock().expect("fence lock").clone();
        f.is_none_or(|f| f(log))
    }

    /// Forgets what the bucket was found to hold of `log` and any problem:
    /// the next upload reads the bucket's checkpoint again (after another
    /// node wrote the log, when this node takes it over).
    pub fn reset(&self, log: &str) {
        let mut s = self.state.lock().expect("drain state");
        if let Some(l) = s.logs.get_mut(log) {
            l.stored = None;
            l.problem = None;
            l.retry_at = None;
            l.backoff = Duration::ZERO;
        }
        drop(s);
        self.unsure.lock().expect("unsure lock").remove(log);
        self.cv.notify_all();
    }

    /// Size of the checkpoint of `log` the bucket holds.
    pub fn uploaded(&self, log: &str) -> u64 {
        let s = self.state.lock().expect("drain state");
        s.logs
            .get(log)
            .and_then(|l| l.stored.as_ref())
            .map_or(0, |x| x.0)
    }

    /// Why `log` must refuse writes now, if it must.
    pub fn refuses(&self, log: &str) -> Option<String> {
        let s = self.state.lock().expect("drain state");
        match s.logs.get(log)?.problem.as_ref()? {
            Problem::Retrying(_) => None,
            p => Some(format!("object storage: {p}")),
        }
    }

    /// Waits until the bucket holds a checkpoint of `log` covering `size`
    /// entries.
    ///
    /// # Errors
    /// Why not, after `timeout` (or at once when the log's uploads stopped).
    pub fn wait_uploaded(&self, log: &str, size: u64, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let mut s = self.state.lock().expect("drain state");
        loop {
            let Some(l) = s.logs.get(log) else {
                return Err(format!("{log} is not uploaded to object storage"));
            };
            if l.stored.as_ref().is_some_and(|x| x.0 >= size) {
                return Ok(());
            }
            if let Some(p @ Problem::Stopped(_)) = &l.problem {
                return Err(format!("object storage: {p}"));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(match &l.problem {
                    Some(p) => format!("not yet in object storage after {timeout:?}: {p}"),
                    None => format!("not yet in object storage after {timeout:?}"),
                });
            }
            s = self
                .cv
                .wait_timeout(s, deadline - now)
                .expect("drain state")
                .0;
        }
    }

    /// Every log's uploads.
    pub fn status(&self) -> Vec<LogStatus> {
        let s = self.state.lock().expect("drain state");
        s.logs
            .iter()
            .map(|(n, l)| LogStatus {
                log: n.clone(),
                uploaded: l.stored.as_ref().map_or(0, |x| x.0),
                pending: l.pending.as_ref().map_or(0, |p| p.size),
                problem: l.problem.clone(),
                tampered: l.tampered.clone(),
            })
            .collect()
    }

    /// Stops the thread once every pending checkpoint is uploaded, or after
    /// `grace`.
    pub fn close(&self, grace: Duration) {
        let deadline = Instant::now() + grace;
        let mut s = self.state.lock().expect("drain state");
        while Instant::now() < deadline
            && s.logs.iter().any(|(n, l)| {
                self.allowed(n)
                    && !matches!(l.problem, Some(Problem::Stopped(_)))
                    && l.pending
                        .as_ref()
                        .is_some_and(|p| l.stored.as_ref().is_none_or(|x| x.0 < p.size))
            })
        {
            s = self
                .cv
                .wait_timeout(s, Duration::from_millis(50))
                .expect("drain state")
                .0;
        }
        s.closed = true;
        drop(s);
        self.cv.notify_all();
    }

    fn offer(&self, log: &str, p: &Published) {
        let mut s = self.state.lock().expect("drain state");
        if let Some(l) = s.logs.get_mut(log) {
            if l.pending.as_ref().is_none_or(|q| q.size < p.size) {
                // Until the bucket's checkpoint is known, the first round
                // goes to `pending` (cut up from the history if far).
                let last = l
                    .waypoints
                    .back()
                    .map(|w| w.size)
                    .or(l.stored.as_ref().map(|x| x.0));
                if last.is_some_and(|last| p.size >= last.saturating_add(ROUND_ENTRIES)) {
                    l.waypoints.push_back(Waypoint::from(p));
                }
                l.pending = Some(p.clone());
            }
        }
        drop(s);
        self.cv.notify_all();
    }

    fn run(&self) {
        let mut s = self.state.lock().expect("drain state");
        loop {
            if s.closed {
                return;
            }
            let now = Instant::now();
            let mut next_wake = now + Duration::from_secs(1);
            let mut job = None;
            for (name, l) in &s.logs {
                if matches!(l.problem, Some(Problem::Stopped(_))) || !self.allowed(name) {
                    continue;
                }
                if let Some(t) = l.retry_at.filter(|t| *t > now) {
                    next_wake = next_wake.min(t);
                    continue;
                }
                let behind = l
                    .pending
                    .as_ref()
                    .is_some_and(|p| l.stored.as_ref().is_none_or(|x| x.0 < p.size));
                if behind {
                    job = Some((name.clone(), Job::Upload));
                    break;
                }
                if let Some(every) = self.scan {
                    if l.stored.is_some() && l.scanned.is_none_or(|t| now >= t + every) {
                        job = Some((name.clone(), Job::Scan));
                        break;
                    }
                }
            }
            let Some((name, job)) = job else {
                let wait = next_wake.saturating_duration_since(now);
                s = self.cv.wait_timeout(s, wait).expect("drain state").0;
                continue;
            };
            let l = s.logs.get_mut(&name).expect("present");
            let reader = l.reader.clone();
            match job {
                Job::Upload => {
                    // The oldest waypoint past the bucket's checkpoint, or
                    // the newest checkpoint.
                    let from = l.stored.as_ref().map_or(0, |x| x.0);
                    while l.waypoints.front().is_some_and(|w| w.size <= from) {
                        l.waypoints.pop_front();
                    }
                    let target = match l.waypoints.front() {
                        Some(w) => w.clone(),
                        None => Waypoint::from(l.pending.as_ref().expect("behind")),
                    };
                    let stored = l.stored.clone();
                    let dir = l.dir.clone();
                    drop(s);
                    // Between uploads, not under the state lock.
                    veritrail_store::priority::keep_from_starving();
                    let (r, later) = self.round(&name, &dir, &reader, stored, target);
                    s = self.state.lock().expect("drain state");
                    if !later.is_empty() {
                        let l = s.logs.get_mut(&name).expect("present");
                        let mut all: Vec<Waypoint> =
                            later.into_iter().chain(l.waypoints.drain(..)).collect();
                        all.sort_by_key(|w| w.size);
                        all.dedup_by_key(|w| w.size);
                        l.waypoints = all.into();
                    }
                    let notice = self.settle(&mut s, &name, r);
                    drop(s);
                    self.cv.notify_all();
                    if let Some(n) = notice {
                        (self.hook)(&name, &n);
                    }
                    s = self.state.lock().expect("drain state");
                }
                Job::Scan => {
                    let l = s.logs.get_mut(&name).expect("present");
                    l.scanned = Some(now);
                    let prefix = format!("{}/", self.bucket.location().key(&l.dir));
                    drop(s);
                    let found = self.bucket.versions(&prefix);
                    s = self.state.lock().expect("drain state");
                    match found {
                        Ok(v) => {
                            let t: Vec<String> = crate::worm::tampering(&v)
                                .iter()
                                .map(ToString::to_string)
                                .collect();
                            let l = s.logs.get_mut(&name).expect("present");
                            let new: Vec<String> = t
                                .iter()
                                .filter(|x| !l.tampered.contains(x))
                                .cloned()
                                .collect();
                            l.tampered = t;
                            if !new.is_empty() {
                                drop(s);
                                (self.hook)(&name, &Notice::Tampered(new));
                                s = self.state.lock().expect("drain state");
                            }
                        }
                        Err(e) => {
                            self.stats.errors.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(log = %name, error = %e, "listing object versions failed");
                        }
                    }
                }
            }
        }
    }

    /// Records the outcome of an upload; returns what to tell people.
    fn settle(&self, s: &mut State, name: &str, r: Outcome) -> Option<Notice> {
        let l = s.logs.get_mut(name).expect("present");
        match r {
            Ok(stored) => {
                l.stored = Some(stored);
                l.problem = None;
                l.retry_at = None;
                l.backoff = Duration::ZERO;
                None
            }
            Err((_, Failure::Fenced)) => {
                // Not ours now: read the bucket again when it is.
                l.stored = None;
                None
            }
            Err((stored, f)) => {
                if stored.is_some() {
                    l.stored = stored;
                }
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                l.backoff = (l.backoff * 2).clamp(Duration::from_secs(1), Duration::from_secs(60));
                l.retry_at = Some(Instant::now() + l.backoff);
                match f {
                    Failure::Transient(m) => {
                        tracing::warn!(log = name, error = %m, retry_in = ?l.backoff, "uploading to object storage failed; retrying");
                        l.problem = Some(Problem::Retrying(m));
                        None
                    }
                    Failure::Refused(m) => {
                        tracing::error!(log = name, error = %m, "object storage refuses uploads; the log refuses writes until an upload works");
                        l.problem = Some(Problem::Refused(m));
                        None
                    }
                    Failure::Fenced => unreachable!("handled above"),
                    Failure::Stopped(m) => {
                        tracing::error!(log = name, error = %m, "uploads to object storage stopped; the log refuses writes");
                        l.problem = Some(Problem::Stopped(m.clone()));
                        Some(Notice::Stopped(m))
                    }
                }
            }
        }
    }

    /// Whether `body` is a checkpoint of `log` this node sent and got no
    /// answer for.
    fn sent_unanswered(&self, log: &str, body: &[u8]) -> bool {
        let u = self.unsure.lock().expect("unsure lock");
        u.get(log)
            .is_some_and(|sent| sent.iter().any(|b| b == body))
    }

    /// Reads the bucket's checkpoint of `dir` and checks it is ours.
    fn open(&self, dir: &str, reader: &LogReader) -> Result<Stored, Failure> {
        let key = self.bucket.location().log(dir).key("checkpoint");
        let Some((bytes, version)) = self.bucket.get(&key)? else {
            return Ok((0, None));
        };
        let cp = veritrail_core::open_checkpoint(&bytes, reader.verifier(), &[]).map_err(|e| {
            Failure::Stopped(format!(
                "{key} is not a checkpoint of this log (its key {}): {e}",
                reader.verifier().name()
            ))
        })?;
        let size = cp.checkpoint.size.0;
        let local = reader.published().size;
        if size > local {
            return Err(Failure::Stopped(format!(
                "{key} covers {size} entries, this node only {local}: another node writes this log, or this node lost entries it had acknowledged"
            )));
        }
        let root = reader
            .root_at(size)
            .map_err(|e| Failure::Transient(format!("reading the local tree: {e}")))?;
        if root != cp.checkpoint.root {
            return Err(Failure::Stopped(format!(
                "{key} at size {size} has root {}, this node's tree {}: the bucket holds a different history",
                cp.checkpoint.root.to_hex(),
                root.to_hex()
            )));
        }
        Ok((size, Some(version)))
    }

    /// One round: reads the bucket's checkpoint if not known yet, then
    /// uploads up to `target` — or, when that is more than two rounds away,
    /// up to the first of the checkpoints about a round apart in the log's
    /// history, which it also returns (the later ones) for the next rounds.
    /// Offered checkpoints are kept as waypoints only once the bucket's is
    /// known, so this is what cuts the first catch-up after a restart (and
    /// what was published during it) into rounds.
    fn round(
        &self,
        name: &str,
        dir_name: &str,
        reader: &LogReader,
        stored: Option<Stored>,
        target: Waypoint,
    ) -> (Outcome, Vec<Waypoint>) {
        let stored = match stored {
            Some(s) => s,
            None => match self.open(dir_name, reader) {
                Ok(s) => s,
                Err(f) => return (Err((None, f)), Vec::new()),
            },
        };
        let mut later = Vec::new();
        let mut target = target;
        if target.size.saturating_sub(stored.0) > 2 * ROUND_ENTRIES {
            match reader.checkpoints_every(stored.0, ROUND_ENTRIES) {
                Ok(found) => {
                    later = found
                        .into_iter()
                        .filter(|(size, _)| *size < target.size)
                        .map(|(size, note)| Waypoint {
                            size,
                            checkpoint: note.into(),
                        })
                        .collect();
                    if !later.is_empty() {
                        target = later.remove(0);
                    }
                }
                Err(e) => {
                    tracing::warn!(log = name, error = %e, "reading the checkpoint history failed; catching up in one round");
                }
            }
        }
        (self.upload(name, dir_name, reader, stored, &target), later)
    }

    /// Uploads what `target` adds to what the bucket holds (`stored`), then
    /// swaps the checkpoint. On failure, also returns what the bucket was
    /// found to hold.
    fn upload(
        &self,
        name: &str,
        dir_name: &str,
        reader: &LogReader,
        stored: Stored,
        target: &Waypoint,
    ) -> Outcome {
        let (from, version) = stored;
        let opened = Some((from, version.clone()));
        if from >= target.size {
            return Ok((from, version));
        }
        let fail = |f: Failure| (opened.clone(), f);
        let dir = self.bucket.location().log(dir_name);
        // A chunk at a time: a round holds at most CHUNK objects in memory.
        for chunk in tiles_added(TreeSize(from), TreeSize(target.size)).chunks(CHUNK) {
            if !self.allowed(name) {
                return Err(fail(Failure::Fenced));
            }
            let mut objects = Vec::with_capacity(chunk.len());
            for t in chunk {
                let bytes = reader.tile(t).map_err(|e| {
                    fail(Failure::Transient(format!(
                        "reading tile {}: {e}",
                        t.path()
                    )))
                })?;
                objects.push((dir.key(&t.path()), Bytes::from(bytes)));
            }
            let total: u64 = objects.iter().map(|o| o.1.len() as u64).sum();
            let new = self
                .bucket
                .create_all(objects)
                .map_err(|e| fail(e.into()))?;
            self.stats.objects.fetch_add(new as u64, Ordering::Relaxed);
            self.stats.bytes.fetch_add(total, Ordering::Relaxed);
        }
        let key = dir.key("checkpoint");
        let body = Bytes::copy_from_slice(target.checkpoint.as_bytes());
        // The fence: only while this node holds the log's lease.
        if !self.allowed(name) {
            return Err(fail(Failure::Fenced));
        }
        // Remembered until an answer settles it: without one, the store
        // may have committed it all the same.
        {
            let mut u = self.unsure.lock().expect("unsure lock");
            let sent = u.entry(name.to_owned()).or_default();
            if sent.len() == UNSURE_KEPT {
                sent.remove(0);
            }
            sent.push(body.clone());
        }
        match self
            .bucket
            .swap(&key, body.clone(), version.as_ref())
            .map_err(|e| fail(e.into()))?
        {
            Swapped::Done(v) => {
                self.stats.checkpoints.fetch_add(1, Ordering::Relaxed);
                self.unsure.lock().expect("unsure lock").remove(name);
                Ok((target.size, Some(v)))
            }
            Swapped::Lost => {
                // Ours after all (a retried request that had worked)?
                match self.bucket.get(&key).map_err(|e| fail(e.into()))? {
                    Some((b, v)) if b == body => {
                        self.stats.checkpoints.fetch_add(1, Ordering::Relaxed);
                        self.unsure.lock().expect("unsure lock").remove(name);
                        Ok((target.size, Some(v)))
                    }
                    Some((b, v)) if self.sent_unanswered(name, &b) => {
                        // One this node sent earlier and never heard back
                        // about: adopt it; the next round goes on from it.
                        let size = veritrail_core::open_checkpoint(&b, reader.verifier(), &[])
                            .map_err(|e| fail(Failure::Stopped(format!("{key}: {e}"))))?
                            .checkpoint
                            .size
                            .0;
                        self.unsure.lock().expect("unsure lock").remove(name);
                        tracing::info!(log = name, size, "the bucket holds a checkpoint this node sent without hearing back; adopted");
                        Ok((size, Some(v)))
                    }
                    Some((b, _)) => {
                        let theirs = veritrail_core::open_checkpoint(&b, reader.verifier(), &[])
                            .map(|c| format!("a checkpoint of size {}", c.checkpoint.size.0))
                            .unwrap_or_else(|e| format!("something that is not our checkpoint ({e})"));
                        Err(fail(Failure::Stopped(format!(
                            "{key} was replaced by another writer with {theirs} while this node held size {from}: this node stops writing the log"
                        ))))
                    }
                    None => Err(fail(Failure::Stopped(format!(
                        "{key} disappeared from the bucket (deleted?) while this node held size {from}"
                    )))),
                }
            }
        }
    }
}

enum Job {
    Upload,
    Scan,
}

struct Step(Arc<Drainer>);

impl PublishStep for Step {
    fn name(&self) -> &str {
        "object-storage"
    }

    fn publish(
        &self,
        log: &str,
        checkpoint: &Published,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.0.offer(log, checkpoint);
        Ok(())
    }
}

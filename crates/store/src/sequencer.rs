//! The sequencer: the single writer of a log's WAL and its syncers. The
//! writer takes every batch waiting in the queue as one group and appends it
//! with one `write`; a syncer makes everything written so far durable with
//! one `fdatasync` and only then acknowledges. While syncs are in progress
//! the next group is written once 64 KiB are queued, so the copy into the
//! page cache overlaps the disk's sync latency; a smaller group waits for the
//! syncs in progress and, with none in progress, the writer syncs it itself.
//! Up to [`LogConfig::syncs_in_flight`](crate::LogConfig::syncs_in_flight)
//! syncs are in progress at once, each through a handle of its own, so the
//! disk writes back one group while it commits the one before. No lock is
//! held across the I/O: callers keep queueing meanwhile.
//!
//! The durability rule: a batch is acknowledged only after an `fdatasync`
//! of the file holding it that began after its `write` returned. Groups are
//! settled (handed to the integrator, acknowledged) in the order written,
//! whichever sync ends first: a sync that ends settles every group written
//! before it began. At most `max_group_bytes` are ever written and not yet
//! synced, so a crash leaves no more than that after the last durable byte
//! (recovery's torn-tail bound).

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use crate::error::StoreError;
use crate::segment::Unsynced;
use crate::state::{Appended, Done, Job, Queue, Shared};

/// Acknowledgements computed after a sync (by a syncer, or by the writer
/// for a group it synced itself), delivered by the acker thread so that the
/// next write and sync overlap with waking callers.
pub(crate) type Acks = Vec<(Done, crate::error::Result<Appended>)>;

/// A group written to the WAL, waiting for its sync.
struct Written {
    jobs: Vec<Job>,
    /// Index of its first entry.
    first: u64,
    /// Index after its last entry.
    end: u64,
    /// Where its bytes went.
    at: Unsynced,
    bytes: usize,
}

/// While a sync is in progress, the writer takes the next group only once
/// this many bytes are queued.
const PIPELINE_MIN_BYTES: usize = 64 << 10;

/// Bytes written and not yet synced.
#[derive(Default)]
struct InFlight {
    bytes: Mutex<usize>,
    cv: Condvar,
}

impl InFlight {
    /// Waits until `n` more bytes keep the unsynced total within `limit`
    /// (a group alone may always go), then counts them.
    fn reserve(&self, n: usize, limit: usize) {
        let mut b = self.bytes.lock().expect("in-flight lock");
        while *b > 0 && *b + n > limit {
            b = self.cv.wait(b).expect("in-flight lock");
        }
        *b += n;
    }

    fn idle(&self) -> bool {
        *self.bytes.lock().expect("in-flight lock") == 0
    }

    /// Counts `n` bytes synced (or failed) and wakes a writer waiting for
    /// room.
    fn release(&self, n: usize) {
        *self.bytes.lock().expect("in-flight lock") -= n;
        self.cv.notify_all();
    }
}

/// The groups between the writer and the syncers.
#[derive(Default)]
struct Handover {
    st: Mutex<Handed>,
    /// Wakes a syncer: a group was written, or the writer stopped.
    cv: Condvar,
}

#[derive(Default)]
struct Handed {
    /// Written and not yet settled or failed, in the order written.
    written: VecDeque<Written>,
    /// Entries before this index are covered by a sync that has begun.
    claimed: u64,
    /// The writer has stopped: no group will come.
    stopped: bool,
    /// Syncer threads still running.
    syncers: usize,
}

/// What the writer and the syncers of a log share.
#[derive(Clone)]
struct Ctx {
    shared: Arc<Shared>,
    handover: Arc<Handover>,
    inflight: Arc<InFlight>,
    acker: Sender<Acks>,
}

/// Starts the writer and syncer threads of a log.
pub(crate) fn spawn(shared: &Arc<Shared>, acker: &Sender<Acks>) -> Vec<JoinHandle<()>> {
    let n = shared.config.syncs_in_flight.max(1);
    let handover = Arc::new(Handover::default());
    handover.st.lock().expect("handover lock").syncers = n;
    let ctx = Ctx {
        shared: shared.clone(),
        handover,
        inflight: Arc::new(InFlight::default()),
        acker: acker.clone(),
    };
    let start = |name: String, run: Box<dyn FnOnce(&Ctx) + Send>| {
        let c = ctx.clone();
        std::thread::Builder::new()
            .name(name)
            .spawn(move || run(&c))
            .expect("spawn a sequencer thread")
    };
    let mut threads = vec![start(
        format!("vt-seq-{}", shared.name),
        Box::new(|c| write_groups(&c.shared, &c.handover, &c.acker, &c.inflight)),
    )];
    threads.extend((0..n).map(|slot| {
        start(
            format!("vt-sync{slot}-{}", shared.name),
            Box::new(move |c| sync_groups(&c.shared, &c.handover, slot, &c.acker, &c.inflight)),
        )
    }));
    threads
}

fn write_groups(shared: &Shared, handover: &Handover, acker: &Sender<Acks>, inflight: &InFlight) {
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
    let mut next = shared.durable.load(Ordering::Acquire);
    while let Some(jobs) = take_group(shared, inflight) {
        if let Err(e) = shared.check_poison() {
            fail_all(jobs, &e);
            continue;
        }
        buf.clear();
        for j in &jobs {
            buf.extend_from_slice(&j.batch.records);
        }
        // A small group with no sync in progress is synced right here: the
        // hand-over to a syncer would only add a thread wake-up to its
        // latency. Nothing else can be in flight meanwhile (only this thread
        // adds to it), so groups are still settled in order.
        let inline = buf.len() < PIPELINE_MIN_BYTES && inflight.idle();
        if !inline {
            inflight.reserve(buf.len(), shared.config.max_group_bytes);
        }
        match shared.wal.append_unsynced(&buf, next) {
            Ok(at) => {
                let first = next;
                next += jobs.iter().map(|j| j.batch.len() as u64).sum::<u64>();
                let w = Written {
                    jobs,
                    first,
                    end: next,
                    at,
                    bytes: buf.len(),
                };
                if inline {
                    sync_and_ack(shared, w, acker);
                } else {
                    let mut h = handover.st.lock().expect("handover lock");
                    h.written.push_back(w);
                    drop(h);
                    handover.cv.notify_one();
                }
            }
            Err(e) => {
                if !inline {
                    inflight.release(buf.len());
                }
                shared.poison(e);
                fail_all(jobs, &shared.poisoned_error());
            }
        }
    }
    handover.st.lock().expect("handover lock").stopped = true;
    handover.cv.notify_all();
}

/// One syncer: claims everything written and not yet covered by a sync in
/// progress, syncs it through its own handle (`slot`), and settles in order
/// every group written before that sync began. The last syncer to stop
/// hands over to the integrator for the final checkpoint.
///
/// One `fdatasync` of the file of the newest group covers the groups before
/// it in older segments too: the writer synced each of those segments
/// (through its own handle) when it rolled over to the next, after their
/// last write and before writing to the next — a failure there poisons the
/// log, and no later group is written.
fn sync_groups(
    shared: &Shared,
    handover: &Handover,
    slot: usize,
    acker: &Sender<Acks>,
    inflight: &InFlight,
) {
    let mut h = handover.st.lock().expect("handover lock");
    loop {
        let (end, at) = match h.written.back() {
            Some(w) if w.end > h.claimed => (w.end, w.at.clone()),
            _ if h.stopped => break,
            _ => {
                h = handover.cv.wait(h).expect("handover lock");
                continue;
            }
        };
        h.claimed = end;
        drop(h);
        let t = std::time::Instant::now();
        let res = shared.check_poison().and_then(|()| at.sync_through(slot));
        let synced = t.elapsed();
        drop(at);
        h = handover.st.lock().expect("handover lock");
        let bytes = settle_or_fail(shared, &mut h.written, end, res, synced, acker);
        drop(h);
        // Released only once settled, so that a group the writer then syncs
        // itself is settled after these.
        inflight.release(bytes);
        // Wake a writer waiting in `take_group` for the syncs to end. Taking
        // the queue lock orders this after its check of `idle` under it.
        drop(shared.queue.lock().expect("queue lock"));
        shared.queue_cv.notify_all();
        h = handover.st.lock().expect("handover lock");
    }
    h.syncers -= 1;
    let last = h.syncers == 0;
    drop(h);
    if last {
        let mut p = shared.pending.lock().expect("pending lock");
        p.closed = true;
        drop(p);
        shared.pending_cv.notify_all();
    }
}

/// After a sync that covered the entries before `end`: settles and
/// acknowledges the groups it covered that no other sync settled first, or,
/// if it failed (or the log was poisoned meanwhile), poisons the log and
/// fails every group written and not settled. Called under the hand-over
/// lock, so groups are settled in order. Returns the bytes of the groups
/// taken off `written`.
fn settle_or_fail(
    shared: &Shared,
    written: &mut VecDeque<Written>,
    end: u64,
    res: crate::error::Result<()>,
    synced: std::time::Duration,
    acker: &Sender<Acks>,
) -> usize {
    // A sync that ended after the log was poisoned acknowledges nothing.
    if let Err(e) = res.and_then(|()| shared.check_poison()) {
        let p = poison_with(shared, e);
        let mut bytes = 0;
        for g in written.drain(..) {
            bytes += g.bytes;
            fail_all(g.jobs, &p);
        }
        return bytes;
    }
    let n = written.iter().take_while(|g| g.end <= end).count();
    if n == 0 {
        return 0;
    }
    let groups: Vec<Written> = written.drain(..n).collect();
    let bytes = groups.iter().map(|g| g.bytes).sum();
    send_acks(acker, settle(shared, groups, synced));
    bytes
}

/// Makes a group the writer kept for itself durable (through the append
/// handle) and acknowledges it, or fails it (and poisons the log).
fn sync_and_ack(shared: &Shared, group: Written, acker: &Sender<Acks>) {
    let t = std::time::Instant::now();
    let res = shared.check_poison().and_then(|()| group.at.sync());
    let synced = t.elapsed();
    match res {
        Ok(()) => send_acks(acker, settle(shared, vec![group], synced)),
        Err(e) => fail_all(group.jobs, &poison_with(shared, e)),
    }
}

/// Poisons the log with `e` (unless `e` is the poison itself) and returns
/// the error to fail callers with.
fn poison_with(shared: &Shared, e: StoreError) -> StoreError {
    match e {
        p @ StoreError::Poisoned { .. } => p,
        e => {
            shared.poison(e);
            shared.poisoned_error()
        }
    }
}

fn send_acks(acker: &Sender<Acks>, acks: Acks) {
    if let Err(std::sync::mpsc::SendError(acks)) = acker.send(acks) {
        for (done, r) in acks {
            done(r);
        }
    }
}

/// Waits for work; returns every queued job up to the group limit, or `None`
/// once closed and drained. While a sync is in progress it waits for it to
/// end unless 64 KiB or more are queued: a small group gains nothing from
/// overlapping a sync (its write is cheap), and taking it early would split
/// the group that the sync's callers are about to send.
fn take_group(shared: &Shared, inflight: &InFlight) -> Option<Vec<Job>> {
    let mut q = shared.queue.lock().expect("queue lock");
    loop {
        if q.jobs.is_empty() {
            if q.closed {
                return None;
            }
            q.wake_at = 1;
        } else if q.closed || q.bytes >= PIPELINE_MIN_BYTES || inflight.idle() {
            break;
        } else {
            // Woken by the syncer (see `InFlight::release`) or a backlog.
            q.wake_at = usize::MAX;
            q.wake_bytes = PIPELINE_MIN_BYTES;
        }
        q = shared.queue_cv.wait(q).expect("queue lock");
    }
    q.wake_bytes = usize::MAX;
    // Adaptive group commit: the callers of the previous group are likely
    // about to send again; give them a bounded moment so one fsync covers all.
    let wait = shared.config.group_wait;
    if !wait.is_zero() && q.jobs.len() < q.hint && !q.closed {
        let deadline = std::time::Instant::now() + wait;
        while q.jobs.len() < q.hint && !q.closed {
            let now = std::time::Instant::now();
            if now >= deadline {
                break;
            }
            q.wake_at = q.hint;
            q = shared
                .queue_cv
                .wait_timeout(q, deadline - now)
                .expect("queue lock")
                .0;
        }
    }
    q.wake_at = 1;
    let mut jobs = Vec::new();
    move_queued(shared, &mut q, &mut jobs);
    Some(jobs)
}

/// Moves queued jobs to `jobs` while the group stays within its limit (a
/// first job always goes), and remembers the group's size as the hint.
fn move_queued(shared: &Shared, q: &mut Queue, jobs: &mut Vec<Job>) {
    let mut bytes: usize = jobs.iter().map(|j| j.batch.bytes()).sum();
    while let Some(j) = q.jobs.front() {
        let b = j.batch.bytes();
        if !jobs.is_empty() && bytes + b > shared.config.max_group_bytes {
            break;
        }
        bytes += b;
        q.bytes -= b;
        jobs.push(q.jobs.pop_front().expect("front exists"));
    }
    q.hint = jobs.len().max(1);
}

/// Fails every job with `e`, the log's [`StoreError::Poisoned`] (which
/// carries the failure that stopped the log, whole).
fn fail_all(jobs: Vec<Job>, e: &StoreError) {
    let StoreError::Poisoned { log, cause } = e else {
        unreachable!("jobs are failed only with the log's poison, not {e}");
    };
    for j in jobs {
        (j.done)(Err(StoreError::Poisoned {
            log: log.clone(),
            cause: cause.clone(),
        }));
    }
}

/// Runs acknowledgement callbacks until the sequencer stops.
pub(crate) fn run_acker(rx: &std::sync::mpsc::Receiver<Acks>) {
    while let Ok(acks) = rx.recv() {
        for (done, r) in acks {
            done(r);
        }
    }
}

/// The groups are durable: hands their leaves and index offsets to the
/// integrator, advances the durable size and builds the acknowledgements.
fn settle(shared: &Shared, groups: Vec<Written>, synced: std::time::Duration) -> Acks {
    let mut acks = Vec::with_capacity(groups.iter().map(|g| g.jobs.len()).sum());
    let mut index = groups[0].first;
    {
        let mut p = shared.pending.lock().expect("pending lock");
        for g in &groups {
            debug_assert_eq!(g.first, index, "groups are synced in the order written");
            let mut batch_base = g.at.offset();
            for j in &g.jobs {
                for (k, start) in j.batch.starts.iter().enumerate() {
                    let i = index + k as u64;
                    if i % 256 == 0 {
                        p.index_offsets.push((i, batch_base + u64::from(*start)));
                    }
                }
                p.leaves.extend_from_slice(&j.batch.leaf_hashes);
                index += j.batch.len() as u64;
                batch_base += j.batch.records.len() as u64;
            }
        }
    }
    shared.durable.store(index, Ordering::Release);
    shared.stats.record_group(
        synced,
        groups
            .iter()
            .flat_map(|g| g.jobs.iter().map(|j| j.batch.len())),
    );
    shared.pending_cv.notify_all();
    let mut index = groups[0].first;
    for g in groups {
        for mut j in g.jobs {
            let n = j.batch.len() as u64;
            // The bytes written stay in memory a while for the followers.
            shared.recent.push(
                index,
                crate::recent::Block {
                    records: std::mem::take(&mut j.batch.records),
                    starts: std::mem::take(&mut j.batch.starts),
                    leaves: j.batch.leaf_hashes.clone(),
                },
            );
            let r = Appended {
                first_index: index,
                leaf_hashes: j.batch.leaf_hashes,
            };
            index += n;
            acks.push((j.done, Ok(r)));
        }
    }
    acks
}

#[cfg(test)]
mod tests {
    use super::InFlight;
    use std::sync::Arc;
    use std::time::Duration;

    /// The writer waits while more than the limit would be unsynced, and a
    /// group alone always goes.
    #[test]
    fn in_flight_bytes_stay_within_the_limit() {
        let f = Arc::new(InFlight::default());
        f.reserve(100, 50); // alone: over the limit, still allowed
        f.release(100);
        f.reserve(30, 50);
        let f2 = f.clone();
        let t = std::thread::spawn(move || {
            f2.reserve(30, 50); // 60 > 50: waits for the release below
            *f2.bytes.lock().unwrap()
        });
        std::thread::sleep(Duration::from_millis(50));
        assert!(!t.is_finished(), "reserve did not wait");
        f.release(30);
        assert_eq!(t.join().unwrap(), 30);
    }
}

//! The sequencer: the single writer of a log's WAL, in two threads. The
//! writer takes every batch waiting in the queue as one group and appends it
//! with one `write`; the syncer makes everything written so far durable with
//! one `fdatasync` and only then acknowledges. While one group is being
//! synced the next is being written once 64 KiB are queued, so the copy into
//! the page cache overlaps the disk's sync latency; a smaller group waits for
//! the sync in progress and, with none in progress, the writer syncs it
//! itself. No lock is held across the I/O: callers keep queueing meanwhile.
//!
//! The durability rule: a batch is acknowledged only after an `fdatasync`
//! of the file holding it that began after its `write` returned. At most
//! `max_group_bytes` are ever written and not yet synced, so a crash leaves
//! no more than that after the last durable byte (recovery's torn-tail bound).

use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use crate::error::StoreError;
use crate::log::{Appended, Job, Shared};
use crate::segment::Unsynced;

/// Acknowledgements computed after a sync (by the syncer, or by the writer
/// for a group it synced itself), delivered by the acker thread so that the
/// next write and sync overlap with waking callers.
pub(crate) type Acks = Vec<(crate::log::Done, crate::error::Result<Appended>)>;

/// A group written to the WAL, waiting for its sync.
struct Written {
    jobs: Vec<Job>,
    /// Index of its first entry.
    first: u64,
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

/// Starts the writer and syncer threads of a log.
pub(crate) fn spawn(shared: &Arc<Shared>, acker: Sender<Acks>) -> [JoinHandle<()>; 2] {
    let (tx, rx) = std::sync::mpsc::channel();
    let inflight = Arc::new(InFlight::default());
    let (s1, s2) = (shared.clone(), shared.clone());
    let (f1, f2) = (inflight.clone(), inflight);
    let acker2 = acker.clone();
    let writer = std::thread::Builder::new()
        .name(format!("vt-seq-{}", shared.name))
        .spawn(move || write_groups(&s1, &tx, &acker2, &f1))
        .expect("spawn sequencer");
    let syncer = std::thread::Builder::new()
        .name(format!("vt-sync-{}", shared.name))
        .spawn(move || sync_groups(&s2, &rx, &acker, &f2))
        .expect("spawn syncer");
    [writer, syncer]
}

fn write_groups(shared: &Shared, tx: &Sender<Written>, acker: &Sender<Acks>, inflight: &InFlight) {
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
        // hand-over to the syncer would only add a thread wake-up to its
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
                    at,
                    bytes: buf.len(),
                };
                if inline {
                    sync_and_ack(shared, vec![w], acker);
                } else if let Err(std::sync::mpsc::SendError(w)) = tx.send(w) {
                    // The syncer is gone (it only stops when this sender is
                    // dropped); never acknowledge what was not synced.
                    inflight.release(w.bytes);
                    fail_all(w.jobs, &closed(shared));
                }
            }
            Err(e) => {
                if !inline {
                    inflight.release(buf.len());
                }
                shared.poison(&e);
                fail_all(jobs, &poisoned(shared, &e));
            }
        }
    }
}

/// Syncs every group the writer handed over in one go, then acknowledges
/// them in order. Once the writer stops, hands over to the integrator for
/// the final checkpoint.
fn sync_groups(shared: &Shared, rx: &Receiver<Written>, acker: &Sender<Acks>, inflight: &InFlight) {
    while let Ok(w) = rx.recv() {
        let mut groups = vec![w];
        groups.extend(rx.try_iter());
        let bytes = groups.iter().map(|g| g.bytes).sum();
        sync_and_ack(shared, groups, acker);
        // Released only once settled, so that a group the writer then syncs
        // itself is settled after these.
        inflight.release(bytes);
        // Wake a writer waiting in `take_group` for the syncs to end. Taking
        // the queue lock orders this after its check of `idle` under it.
        drop(shared.queue.lock().expect("queue lock"));
        shared.queue_cv.notify_all();
    }
    let mut p = shared.pending.lock().expect("pending lock");
    p.closed = true;
    drop(p);
    shared.pending_cv.notify_all();
}

/// Makes the groups durable and acknowledges them, or fails them all (and
/// poisons the log) if the sync fails.
fn sync_and_ack(shared: &Shared, groups: Vec<Written>, acker: &Sender<Acks>) {
    let t = std::time::Instant::now();
    let res = shared.check_poison().and_then(|()| sync_files(&groups));
    let synced = t.elapsed();
    if let Err(e) = res {
        let p = match e {
            p @ StoreError::Poisoned { .. } => p,
            e => {
                shared.poison(&e);
                poisoned(shared, &e)
            }
        };
        for g in groups {
            fail_all(g.jobs, &p);
        }
        return;
    }
    let acks = settle(shared, groups, synced);
    if let Err(std::sync::mpsc::SendError(acks)) = acker.send(acks) {
        for (done, r) in acks {
            done(r);
        }
    }
}

/// One `fdatasync` per file the groups went to (a roll-over between them
/// already synced the segment it closed; syncing it again costs nothing).
fn sync_files(groups: &[Written]) -> crate::error::Result<()> {
    let mut prev: Option<&Unsynced> = None;
    for g in groups {
        if prev.is_none_or(|p| !p.same_file(&g.at)) {
            g.at.sync()?;
        }
        prev = Some(&g.at);
    }
    Ok(())
}

fn poisoned(shared: &Shared, e: &StoreError) -> StoreError {
    StoreError::Poisoned {
        log: shared.name.clone(),
        cause: e.to_string(),
    }
}

fn closed(shared: &Shared) -> StoreError {
    StoreError::Closed(shared.name.clone())
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
fn move_queued(shared: &Shared, q: &mut crate::log::Queue, jobs: &mut Vec<Job>) {
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

fn fail_all(jobs: Vec<Job>, e: &StoreError) {
    for j in jobs {
        (j.done)(Err(match e {
            StoreError::Poisoned { log, cause } => StoreError::Poisoned {
                log: log.clone(),
                cause: cause.clone(),
            },
            other => StoreError::Poisoned {
                log: String::new(),
                cause: other.to_string(),
            },
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
        for j in g.jobs {
            let n = j.batch.len() as u64;
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

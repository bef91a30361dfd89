//! The sequencer: the single writer of a log's WAL. It takes every batch
//! waiting in the queue as one group, writes the group with one `write` and
//! one `fdatasync`, and only then acknowledges each batch. No lock is held
//! across the I/O: callers keep queueing while a group is being synced.

use std::sync::atomic::Ordering;

use crate::error::StoreError;
use crate::log::{Appended, Job, Shared};

/// Acknowledgements computed by the sequencer, delivered by the acker thread
/// so that the next group's write and fsync overlap with waking callers.
pub(crate) type Acks = Vec<(crate::log::Done, crate::error::Result<Appended>)>;

pub(crate) fn run(shared: &Shared, acker: std::sync::mpsc::Sender<Acks>) {
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
    loop {
        let jobs = take_group(shared);
        let Some(jobs) = jobs else { break };
        if let Err(e) = shared.check_poison() {
            fail_all(jobs, &e);
            continue;
        }
        if let Some(acks) = commit(shared, jobs, &mut buf) {
            if let Err(std::sync::mpsc::SendError(acks)) = acker.send(acks) {
                for (done, r) in acks {
                    done(r);
                }
            }
        }
    }
    drop(acker);
    // Hand over to the integrator for the final checkpoint.
    let mut p = shared.pending.lock().expect("pending lock");
    p.closed = true;
    drop(p);
    shared.pending_cv.notify_all();
}

/// Waits for work; returns every queued job up to the group limit, or `None`
/// once closed and drained.
fn take_group(shared: &Shared) -> Option<Vec<Job>> {
    let mut q = shared.queue.lock().expect("queue lock");
    while q.jobs.is_empty() {
        if q.closed {
            return None;
        }
        q.wake_at = 1;
        q = shared.queue_cv.wait(q).expect("queue lock");
    }
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
    let mut bytes = 0usize;
    let mut jobs = Vec::new();
    while let Some(j) = q.jobs.front() {
        let b = j.batch.bytes();
        if !jobs.is_empty() && bytes + b > shared.config.max_group_bytes {
            break;
        }
        bytes += b;
        jobs.push(q.jobs.pop_front().expect("front exists"));
    }
    q.hint = jobs.len().max(1);
    Some(jobs)
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

fn commit(shared: &Shared, jobs: Vec<Job>, buf: &mut Vec<u8>) -> Option<Acks> {
    buf.clear();
    for j in &jobs {
        buf.extend_from_slice(&j.batch.records);
    }
    let first = shared.durable.load(Ordering::Acquire);
    // One write, one fdatasync for the whole group.
    let mut synced = std::time::Duration::ZERO;
    let res = shared.wal.append(buf, first).and_then(|()| {
        let t = std::time::Instant::now();
        let r = shared.wal.sync();
        synced = t.elapsed();
        r
    });
    if let Err(e) = res {
        shared.poison(&e);
        let p = StoreError::Poisoned {
            log: shared.name.clone(),
            cause: e.to_string(),
        };
        fail_all(jobs, &p);
        return None;
    }
    // The group sits at the end of the live segment.
    let group_base = shared.wal.last().valid_end() - buf.len() as u64;
    let mut index = first;
    let mut batch_base = group_base;
    let mut results = Vec::with_capacity(jobs.len());
    {
        let mut p = shared.pending.lock().expect("pending lock");
        for j in &jobs {
            for (k, start) in j.batch.starts.iter().enumerate() {
                let i = index + k as u64;
                if i % 256 == 0 {
                    p.index_offsets.push((i, batch_base + u64::from(*start)));
                }
            }
            p.leaves.extend_from_slice(&j.batch.leaf_hashes);
            results.push(Appended {
                first_index: index,
                leaf_hashes: j.batch.leaf_hashes.clone(),
            });
            index += j.batch.len() as u64;
            batch_base += j.batch.records.len() as u64;
        }
    }
    shared.durable.store(index, Ordering::Release);
    shared
        .stats
        .record_group(synced, jobs.iter().map(|j| j.batch.len()));
    shared.pending_cv.notify_all();
    Some(
        jobs.into_iter()
            .zip(results)
            .map(|(j, r)| (j.done, Ok(r)))
            .collect(),
    )
}

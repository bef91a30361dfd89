//! The sequencer: the single writer of a log's WAL. It takes every batch
//! waiting in the queue as one group, writes the group with one `write` and
//! one `fdatasync`, and only then acknowledges each batch. No lock is held
//! across the I/O: callers keep queueing while a group is being synced.

use std::sync::atomic::Ordering;

use crate::error::StoreError;
use crate::log::{Appended, Job, Shared};

pub(crate) fn run(shared: &Shared) {
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
    loop {
        let jobs = take_group(shared);
        let Some(jobs) = jobs else { break };
        if let Err(e) = shared.check_poison() {
            fail_all(jobs, &e);
            continue;
        }
        commit(shared, jobs, &mut buf);
    }
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
        q = shared.queue_cv.wait(q).expect("queue lock");
    }
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

fn commit(shared: &Shared, jobs: Vec<Job>, buf: &mut Vec<u8>) {
    buf.clear();
    for j in &jobs {
        buf.extend_from_slice(&j.batch.records);
    }
    let first = shared.durable.load(Ordering::Acquire);
    // One write, one fdatasync for the whole group.
    let res = shared
        .wal
        .append(buf, first)
        .and_then(|()| shared.wal.sync());
    if let Err(e) = res {
        shared.poison(&e);
        let p = StoreError::Poisoned {
            log: shared.name.clone(),
            cause: e.to_string(),
        };
        fail_all(jobs, &p);
        return;
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
    shared.pending_cv.notify_all();
    for (j, r) in jobs.into_iter().zip(results) {
        (j.done)(Ok(r));
    }
}

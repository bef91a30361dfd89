//! Keeping an index up with its log, as a subscriber of the log
//! ([`veritrail_store::subscribe`]): [`catch_up`] indexes what is published
//! now (the command line's `reindex` and `query`), a [`Follower`] thread
//! keeps indexing as checkpoints are published (the server). The index's
//! position is `indexed_through`, stored in the same SQLite transaction as
//! the rows, so a restart resumes exactly where the last commit ended.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use veritrail_store::LogReader;

use crate::error::{IndexError, Result};
use crate::row::{rows_of, Row};
use crate::QueryIndex;

/// Entries read from the log per step.
const CHUNK: u64 = 20_000;

/// The index's position in `log`, refused when it is past the log's end.
fn position(log: &LogReader, qi: &QueryIndex) -> Result<u64> {
    let size = log.published().size;
    let from = qi.indexed_through()?;
    if from > size {
        return Err(IndexError::AheadOfLog {
            path: qi.path().to_path_buf(),
            have: from,
            size,
        });
    }
    Ok(from)
}

/// Indexes the published entries of `log` from where `qi` ends up to the
/// latest checkpoint. The next chunk is read and parsed while the current
/// one is inserted. Returns the new `indexed_through`.
///
/// Another process may index the same log at the same time (a server's
/// follower while `veritrail query` reads the directory): rows are only
/// ever appended at the index's end, in one transaction each, so when the
/// other went first this one starts again from the new end.
///
/// # Errors
/// Store and SQLite errors; `AheadOfLog`.
pub fn catch_up(
    log: &LogReader,
    qi: &QueryIndex,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<u64> {
    let mut attempts = 0;
    loop {
        match catch_up_once(log, qi, progress) {
            Err(IndexError::Gap { .. }) if attempts < 100 => attempts += 1,
            r => return r,
        }
    }
}

fn catch_up_once(
    log: &LogReader,
    qi: &QueryIndex,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<u64> {
    let size = log.published().size;
    let mut from = position(log, qi)?;
    let mut sub = log.subscribe(from).with_chunk(CHUNK);
    let (tx, rx) = std::sync::mpsc::sync_channel::<Result<(u64, Vec<Row>)>>(1);
    std::thread::scope(|scope| -> Result<()> {
        scope.spawn(move || {
            while sub.position() < size {
                let r = match sub.next(Duration::ZERO) {
                    Ok(Some(d)) => Ok((d.first, rows_of(&d.entries))),
                    Ok(None) => return,
                    Err(e) => Err(IndexError::from(e)),
                };
                let stop = r.is_err();
                if tx.send(r).is_err() || stop {
                    return;
                }
            }
        });
        for r in rx {
            let (at, rows) = r?;
            qi.add_rows(at, &rows)?;
            from = at + rows.len() as u64;
            progress(from, size);
        }
        Ok(())
    })?;
    Ok(from)
}

/// The indexing thread's nice value: below the threads that ingest.
pub const INDEX_NICE: i32 = 10;

/// A thread that keeps a log's index up with its checkpoints until stopped.
pub struct Follower {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// How often a waiting follower looks whether it was stopped.
const STOP_POLL: Duration = Duration::from_millis(250);

impl Follower {
    /// Starts following `log` into `qi` from where `qi` ends, in a thread
    /// of lower priority (nice [`INDEX_NICE`]). A failure
    /// stops the follower and is logged (queries on the log then lag; the
    /// log itself is unaffected, and `veritrail reindex` rebuilds).
    ///
    /// # Errors
    /// The thread could not be started.
    pub fn spawn(log: LogReader, qi: Arc<QueryIndex>) -> std::io::Result<Follower> {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::Builder::new()
            .name(format!("vt-idx-{}", log.name()))
            .spawn(move || {
                // Off the ack path in CPU too: when ingest and indexing
                // compete for the cores, ingest wins and the index lags
                // (and catches up when the load eases).
                let _ = rustix::process::setpriority_process(Some(rustix::thread::gettid()), INDEX_NICE);
                if let Err(e) = follow(&log, &qi, &s) {
                    tracing::error!(log = %log.name(), error = %e,
                        "query index stopped; queries on this log may lag; rebuild with `veritrail reindex`");
                }
            })?;
        Ok(Follower {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops the thread and waits for it (it finishes the chunk in hand).
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.stop();
    }
}

fn follow(log: &LogReader, qi: &QueryIndex, stop: &AtomicBool) -> Result<()> {
    let mut sub = log.subscribe(position(log, qi)?).with_chunk(CHUNK);
    while !stop.load(Ordering::Acquire) {
        if let Some(d) = sub.next(STOP_POLL)? {
            qi.add_rows(d.first, &rows_of(&d.entries))?;
        }
    }
    Ok(())
}

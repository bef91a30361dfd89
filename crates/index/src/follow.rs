//! Keeping an index up with its log, as a subscriber of the log
//! ([`veritrail_store::subscribe`]): [`catch_up`] indexes what is published
//! now (the command line's `reindex` and `query`), a [`Follower`] thread
//! keeps indexing as checkpoints are published (the server). The index's
//! position is `indexed_through`, stored in the same SQLite transaction as
//! the rows, so a restart resumes exactly where the last commit ended.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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
                    Ok(Some(d)) => Ok((d.first, rows_of(&d.entries().collect::<Vec<_>>()))),
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

/// Work more urgent than indexing that has fallen behind — a rules runner
/// lagging under a load that takes every core. While any holds a
/// [`UrgentGuard`], followers index in steps of [`STEP`] rows with a pause
/// of [`PAUSE`] before each (about a fifth of a core at most), leaving
/// the rest to it; queries see new entries later, and the index catches
/// up once nothing urgent is behind. Running below the ack path does not do
/// this alone: the runner is below it too, and the indexer took as much of
/// what the ack path left as the runner.
#[derive(Clone, Debug, Default)]
pub struct Urgent(Arc<AtomicUsize>);

/// Holds [`Urgent`] while alive.
#[derive(Debug)]
pub struct UrgentGuard(Arc<AtomicUsize>);

impl Urgent {
    /// Says urgent work is behind, until the guard is dropped.
    pub fn hold(&self) -> UrgentGuard {
        self.0.fetch_add(1, Ordering::AcqRel);
        UrgentGuard(self.0.clone())
    }

    /// Whether any urgent work is behind.
    pub fn active(&self) -> bool {
        self.0.load(Ordering::Acquire) > 0
    }
}

impl Drop for UrgentGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Rows indexed between pauses while [`Urgent`] is held.
pub const STEP: usize = 2_000;
/// The pause before each step while [`Urgent`] is held.
pub const PAUSE: Duration = Duration::from_millis(80);

/// A thread that keeps a log's index up with its checkpoints until stopped.
pub struct Follower {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// How often a waiting follower looks whether it was stopped.
const STOP_POLL: Duration = Duration::from_millis(250);

impl Follower {
    /// Starts following `log` into `qi` from where `qi` ends, in a thread
    /// below the ack path ([`veritrail_store::priority`]). A failure
    /// stops the follower and is logged (queries on the log then lag; the
    /// log itself is unaffected, and `veritrail reindex` rebuilds).
    ///
    /// # Errors
    /// The thread could not be started.
    pub fn spawn(log: LogReader, qi: Arc<QueryIndex>, urgent: Urgent) -> std::io::Result<Follower> {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::Builder::new()
            .name(format!("vt-idx-{}", log.name()))
            .spawn(move || {
                // Off the ack path in CPU too: when ingest and indexing
                // compete for the cores, ingest wins and the index lags
                // (and catches up when the load eases).
                veritrail_store::priority::below_ack_path();
                if let Err(e) = follow(&log, &qi, &s, &urgent) {
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

fn follow(log: &LogReader, qi: &QueryIndex, stop: &AtomicBool, urgent: &Urgent) -> Result<()> {
    let mut sub = log.subscribe(position(log, qi)?).with_chunk(CHUNK);
    while !stop.load(Ordering::Acquire) {
        if let Some(d) = sub.next(STOP_POLL)? {
            let mut at = d.first;
            let entries: Vec<&[u8]> = d.entries().collect();
            for step in entries.chunks(STEP) {
                veritrail_store::priority::keep_from_starving();
                if urgent.active() && !stop.load(Ordering::Acquire) {
                    std::thread::sleep(PAUSE);
                }
                qi.add_rows(at, &rows_of(step))?;
                at += step.len() as u64;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use veritrail_store::{DataDir, LogConfig, RealFs};

    use super::*;

    /// While urgent work is behind, a follower still indexes everything —
    /// in steps with pauses, never stalled — and the guards count.
    #[test]
    fn a_follower_steps_aside_for_urgent_work_but_keeps_going() {
        let tmp = tempfile::tempdir().unwrap();
        let (dd, _) =
            DataDir::init(Arc::new(RealFs), &tmp.path().join("d"), Some("t.example")).unwrap();
        let config = LogConfig {
            checkpoint_interval: Duration::from_millis(20),
            ..LogConfig::default()
        };
        let log = dd.open_log("default", config).unwrap();
        let n = 3 * STEP as u64 + 17;
        let entries: Vec<Vec<u8>> = (0..n)
            .map(|i| {
                format!(r#"{{"action":"auth.login","actor":{{"id":"u{i}"}},"received_at":"2026-12-03T06:00:00.000000000Z"}}"#)
                    .into_bytes()
            })
            .collect();
        log.append(&entries).unwrap();
        log.wait_for_checkpoint(n, Duration::from_secs(10)).unwrap();
        let urgent = Urgent::default();
        assert!(!urgent.active());
        let a = urgent.hold();
        let b = urgent.hold();
        drop(a);
        assert!(urgent.active(), "one guard still held");
        let qi = Arc::new(QueryIndex::open(&tmp.path().join("q.sqlite")).unwrap());
        let mut f = Follower::spawn(log.reader(), qi.clone(), urgent.clone()).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while qi.indexed_through().unwrap() < n {
            assert!(std::time::Instant::now() < deadline, "the follower stalled");
            std::thread::sleep(Duration::from_millis(20));
        }
        drop(b);
        assert!(!urgent.active());
        f.stop();
        assert_eq!(qi.indexed_through().unwrap(), n);
    }
}

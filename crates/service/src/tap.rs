//! A shared reader of one log for many live consumers (streams): the
//! log's newly published entries are read once, with their leaf hashes,
//! into a window of recent chunks that every [`TapReader`] takes from. A
//! reader that starts before the window (a replay) reads the log on its own
//! subscription until it reaches the window, then takes from it — by
//! index, so there is no gap and no duplicate at the switch. Readers never
//! slow the tap: one that falls behind the window reads the log itself.
//!
//! The tap's thread runs while it has readers (and a few seconds more),
//! and asks for the next checkpoint before each wait (the request holds
//! until one is signed), so live readers are not a checkpoint interval late.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use veritrail_core::Hash;
use veritrail_store::{Log, Subscription};

use crate::error::{Result, ServiceError};

/// Entries the window keeps (the oldest chunks are dropped past this).
pub const WINDOW_ENTRIES: usize = 65_536;
/// How long the thread outlives its last reader.
const LINGER: Duration = Duration::from_secs(5);

/// Entries of the log with their leaf hashes.
#[derive(Debug)]
pub struct Chunk {
    delivery: veritrail_store::Delivery,
}

impl Chunk {
    fn new(delivery: veritrail_store::Delivery) -> Chunk {
        Chunk { delivery }
    }

    /// Index of the first entry.
    pub fn first(&self) -> u64 {
        self.delivery.first
    }

    /// How many entries it holds.
    pub fn len(&self) -> usize {
        self.delivery.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.delivery.is_empty()
    }

    /// The index after the last entry.
    pub fn end(&self) -> u64 {
        self.delivery.end()
    }

    /// The entries as stored from the `off`-th on, with their indices and
    /// leaf hashes.
    pub fn entries_from(&self, off: usize) -> impl Iterator<Item = (u64, &[u8], &Hash)> + '_ {
        self.delivery.iter_from(off)
    }
}

#[derive(Default)]
struct Window {
    chunks: VecDeque<Arc<Chunk>>,
    held: usize,
    /// Where the tap's subscription is (the window ends here).
    end: u64,
    readers: usize,
    running: bool,
    last_reader: Option<Instant>,
    error: Option<String>,
}

/// The shared reader of one log.
pub struct Tap {
    log: Arc<Log>,
    window_entries: usize,
    window: Mutex<Window>,
    cv: Condvar,
    stop: AtomicBool,
}

impl Tap {
    /// A tap on `log` (its thread starts with the first reader).
    pub fn new(log: Arc<Log>) -> Arc<Tap> {
        Tap::with_window(log, WINDOW_ENTRIES)
    }

    /// A tap whose window keeps about `entries` entries.
    pub fn with_window(log: Arc<Log>, entries: usize) -> Arc<Tap> {
        Arc::new(Tap {
            log,
            window_entries: entries,
            window: Mutex::new(Window::default()),
            cv: Condvar::new(),
            stop: AtomicBool::new(false),
        })
    }

    /// A reader from entry `from`.
    pub fn reader(self: &Arc<Tap>, from: u64) -> TapReader {
        let mut w = self.window.lock().expect("tap lock");
        w.readers += 1;
        if !w.running {
            w.running = true;
            w.chunks.clear();
            w.held = 0;
            w.error = None;
            w.end = self.log.published().size;
            let start = w.end;
            let tap = self.clone();
            std::thread::Builder::new()
                .name(format!("tap-{}", self.log.name()))
                .spawn(move || tap.run(start))
                .expect("spawn a tap thread");
        }
        TapReader {
            tap: self.clone(),
            next: from,
            own: None,
        }
    }

    /// Stops the thread (the service is closing).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        self.cv.notify_all();
    }

    fn run(self: Arc<Tap>, start: u64) {
        let mut sub = self.log.subscribe(start).with_chunk(4096);
        loop {
            {
                let mut w = self.window.lock().expect("tap lock");
                let idle = w.readers == 0 && w.last_reader.is_some_and(|t| t.elapsed() > LINGER);
                if idle || self.stop.load(Ordering::Acquire) {
                    w.running = false;
                    return;
                }
            }
            self.log.ask_for_checkpoint();
            match sub.next(Duration::from_millis(100)) {
                Ok(Some(d)) => {
                    let c = Arc::new(Chunk::new(d));
                    let mut w = self.window.lock().expect("tap lock");
                    w.end = c.end();
                    w.held += c.len();
                    w.chunks.push_back(c);
                    while w.held > self.window_entries && w.chunks.len() > 1 {
                        let old = w.chunks.pop_front().expect("not empty");
                        w.held -= old.len();
                    }
                    drop(w);
                    self.cv.notify_all();
                }
                Ok(None) => {}
                Err(e) => {
                    let mut w = self.window.lock().expect("tap lock");
                    w.error = Some(e.to_string());
                    w.running = false;
                    drop(w);
                    self.cv.notify_all();
                    return;
                }
            }
        }
    }
}

/// One consumer's place.
pub struct TapReader {
    tap: Arc<Tap>,
    next: u64,
    own: Option<Subscription>,
}

impl Drop for TapReader {
    fn drop(&mut self) {
        let mut w = self.tap.window.lock().expect("tap lock");
        w.readers -= 1;
        w.last_reader = Some(Instant::now());
    }
}

impl TapReader {
    /// The index of the next entry this reader delivers.
    pub fn position(&self) -> u64 {
        self.next
    }

    /// The next entries: a chunk and the offset of the reader's next entry
    /// in it, or `None` when nothing came within `timeout`.
    ///
    /// # Errors
    /// `Tap` when the shared reader stopped; the log's errors when this
    /// reader reads the log itself.
    pub fn next(&mut self, timeout: Duration) -> Result<Option<(Arc<Chunk>, usize)>> {
        let deadline = Instant::now() + timeout;
        let mut w = self.tap.window.lock().expect("tap lock");
        loop {
            if let Some(e) = &w.error {
                return Err(ServiceError::Tap {
                    log: self.tap.log.name().to_owned(),
                    reason: e.clone(),
                });
            }
            let oldest = w.chunks.front().map_or(w.end, |c| c.first());
            if self.next < oldest {
                // Before the window: read the log itself.
                drop(w);
                let sub = self
                    .own
                    .get_or_insert_with(|| self.tap.log.subscribe(self.next).with_chunk(4096));
                return match sub.next(timeout)? {
                    Some(d) => {
                        let c = Arc::new(Chunk::new(d));
                        self.next = c.end();
                        Ok(Some((c, 0)))
                    }
                    None => Ok(None),
                };
            }
            self.own = None;
            if let Some(c) = w
                .chunks
                .iter()
                .find(|c| c.first() <= self.next && self.next < c.end())
            {
                let c = c.clone();
                let off = (self.next - c.first()) as usize;
                self.next = c.end();
                return Ok(Some((c, off)));
            }
            if self.next > w.end && !w.running {
                return Ok(None);
            }
            let now = Instant::now();
            if now >= deadline || self.tap.stop.load(Ordering::Acquire) {
                return Ok(None);
            }
            w = self
                .tap
                .cv
                .wait_timeout(w, deadline - now)
                .expect("tap lock")
                .0;
        }
    }
}

#[cfg(test)]
mod tests {
    use veritrail_store::{DataDir, LogConfig, RealFs};

    use super::*;

    /// Readers that start in the past (before the window), in the window
    /// and live each get every entry from their start once, in order,
    /// while writers append; the window stays bounded.
    #[test]
    fn readers_switch_from_replay_to_the_window_without_gap_or_repeat() {
        let tmp = tempfile::tempdir().unwrap();
        let (dd, _) =
            DataDir::init(Arc::new(RealFs), &tmp.path().join("d"), Some("t.example")).unwrap();
        let config = LogConfig {
            checkpoint_interval: Duration::from_millis(20),
            ..LogConfig::default()
        };
        let log = Arc::new(dd.open_log("default", config).unwrap());
        let batch = |r: u32| -> Vec<Vec<u8>> {
            (0..100)
                .map(|k| format!("{{\"r\":{r},\"k\":{k}}}").into_bytes())
                .collect()
        };
        for r in 0..20 {
            log.append(&batch(r)).unwrap();
        }
        let tap = Tap::with_window(log.clone(), 300);
        let total: u64 = 60 * 100;
        let starts = [0u64, 1500, 1999];
        let readers: Vec<_> = starts
            .iter()
            .map(|&from| {
                let mut r = tap.reader(from);
                std::thread::spawn(move || {
                    let mut got: Vec<(u64, Hash)> = Vec::new();
                    while r.position() < total {
                        if let Some((c, off)) = r.next(Duration::from_secs(5)).unwrap() {
                            got.extend(c.entries_from(off).map(|(i, _, h)| (i, *h)));
                        }
                    }
                    got
                })
            })
            .collect();
        for r in 20..60 {
            log.append(&batch(r)).unwrap();
            std::thread::sleep(Duration::from_millis(2));
        }
        for (h, &from) in readers.into_iter().zip(&starts) {
            let got = h.join().unwrap();
            let idx: Vec<u64> = got.iter().map(|(i, _)| *i).collect();
            assert_eq!(idx, (from..total).collect::<Vec<_>>(), "from {from}");
            let _ = log.wait_for_checkpoint(total, Duration::from_secs(5));
            let entries = log.entries(from, total - from).unwrap();
            for ((_, leaf), e) in got.iter().zip(&entries) {
                assert_eq!(*leaf, veritrail_core::leaf_hash(e));
            }
        }
        assert!(
            tap.window.lock().unwrap().held <= 300 + 4096,
            "the window is bounded"
        );
        tap.stop();
        log.close();
        let _ = std::process::Command::new("chattr")
            .args(["-R", "-a", "-i"])
            .arg(tmp.path())
            .status();
    }
}

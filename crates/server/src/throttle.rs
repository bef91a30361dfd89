//! Slowing down token guessing: recent authentication failures per client
//! address, and how long to delay the next answer to that address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Recent authentication failures per client address.
#[derive(Default)]
pub struct Failures {
    map: std::sync::Mutex<HashMap<Option<IpAddr>, Entry>>,
}

struct Entry {
    /// Failures in the last [`FORGET`] (for the delay).
    recent: u32,
    last: Instant,
    /// The `_system` aggregation window open for this address.
    window: Option<Window>,
}

/// Failures after the first in a window, recorded as one `auth.failure`
/// with their count when the window closes.
struct Window {
    start: Instant,
    repeats: u64,
}

/// What a closed window of an address held.
#[derive(Debug, PartialEq, Eq)]
pub struct Repeats {
    /// The address.
    pub ip: Option<IpAddr>,
    /// Failures after the first, in the window.
    pub count: u64,
}

/// Failures are forgotten after this long without another.
const FORGET: Duration = Duration::from_secs(600);
/// The longest delay.
const MAX_DELAY: Duration = Duration::from_secs(5);
/// How long the failures of one address after its first are gathered into
/// one `_system` record.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Addresses tracked at most; past this, the quietest are forgotten.
const MAX_ADDRESSES: usize = 100_000;

impl Failures {
    /// Records a failure from `ip` at `now`. Returns how long to delay the
    /// answer (100 ms, doubling with each failure in the last 10 minutes, at
    /// most 5 s) and whether to record it in `_system` now: the first
    /// failure of an address is recorded at once; the ones after it in the
    /// next [`WINDOW`] are counted and recorded together
    /// ([`Failures::close_windows`]), so a flood cannot fill the disk
    /// through the audit trail.
    pub fn record_at(&self, ip: Option<IpAddr>, now: Instant) -> (Duration, bool) {
        let mut m = self.map.lock().expect("failures lock");
        if m.len() >= MAX_ADDRESSES {
            m.retain(|_, e| {
                now.duration_since(e.last) < FORGET
                    || e.window.as_ref().is_some_and(|w| w.repeats > 0)
            });
        }
        let e = m.entry(ip).or_insert(Entry {
            recent: 0,
            last: now,
            window: None,
        });
        if now.duration_since(e.last) >= FORGET {
            e.recent = 0;
        }
        e.recent = e.recent.saturating_add(1);
        e.last = now;
        let exp = (e.recent - 1).min(16);
        let delay = (Duration::from_millis(100) * 2u32.pow(exp)).min(MAX_DELAY);
        let first = match &mut e.window {
            Some(w) if now.duration_since(w.start) < WINDOW => {
                w.repeats += 1;
                false
            }
            // A window that should have closed: its repeats are left for
            // `close_windows`, which takes them before a new one opens.
            Some(w) if w.repeats > 0 => {
                w.repeats += 1;
                false
            }
            _ => {
                e.window = Some(Window {
                    start: now,
                    repeats: 0,
                });
                true
            }
        };
        (delay, first)
    }

    /// [`Failures::record_at`] now.
    pub fn record(&self, ip: Option<IpAddr>) -> (Duration, bool) {
        self.record_at(ip, Instant::now())
    }

    /// Closes the windows older than [`WINDOW`] at `now` (all of them with
    /// `all`), returning the repeats each held, to be recorded.
    pub fn close_windows(&self, now: Instant, all: bool) -> Vec<Repeats> {
        let mut out = Vec::new();
        let mut m = self.map.lock().expect("failures lock");
        for (ip, e) in m.iter_mut() {
            let due = e
                .window
                .as_ref()
                .is_some_and(|w| all || now.duration_since(w.start) >= WINDOW);
            if due {
                let w = e.window.take().expect("due means open");
                if w.repeats > 0 {
                    out.push(Repeats {
                        ip: *ip,
                        count: w.repeats,
                    });
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_doubles_per_address_and_is_capped() {
        let f = Failures::default();
        let a = Some("192.0.2.1".parse().unwrap());
        let b = Some("192.0.2.2".parse().unwrap());
        let ms: Vec<u128> = (0..8).map(|_| f.record(a).0.as_millis()).collect();
        assert_eq!(ms, vec![100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        assert_eq!(
            f.record(b).0.as_millis(),
            100,
            "another address is not slowed down"
        );
    }

    /// Issue 18: 300 bad-token requests from one address made 300 records.
    /// Now: the first at once, the rest as one record per window, counted.
    #[test]
    fn repeated_failures_are_gathered_per_address_and_window() {
        let f = Failures::default();
        let a = Some("192.0.2.1".parse().unwrap());
        let b = Some("192.0.2.2".parse().unwrap());
        let t0 = Instant::now();
        let firsts = (0..300)
            .filter(|k| f.record_at(a, t0 + Duration::from_millis(*k)).1)
            .count();
        assert_eq!(firsts, 1, "only the first failure is recorded at once");
        assert!(f.record_at(b, t0).1, "another address is recorded at once");
        assert!(
            f.close_windows(t0 + Duration::from_secs(1), false)
                .is_empty(),
            "windows still open"
        );
        let closed = f.close_windows(t0 + WINDOW, false);
        assert_eq!(
            closed,
            vec![Repeats { ip: a, count: 299 }],
            "b had no repeats"
        );
        // After its window closed, the next failure of `a` is recorded at once.
        assert!(f.record_at(a, t0 + WINDOW + Duration::from_secs(1)).1);
        f.record_at(a, t0 + WINDOW + Duration::from_secs(2));
        assert_eq!(
            f.close_windows(t0 + WINDOW + Duration::from_secs(3), true),
            vec![Repeats { ip: a, count: 1 }],
            "closing all flushes open windows (shutdown)"
        );
    }
}

//! Lock-free counters of a log, for `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the fdatasync latency histogram buckets.
pub const FSYNC_BUCKETS: [f64; 12] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
];
/// Upper bounds of the batch-size histogram buckets (entries per append call).
pub const BATCH_BUCKETS: [f64; 6] = [1.0, 10.0, 100.0, 1_000.0, 10_000.0, 100_000.0];

/// A histogram with fixed buckets.
#[derive(Debug)]
pub struct Histogram<const N: usize> {
    buckets: [AtomicU64; N],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl<const N: usize> Default for Histogram<N> {
    fn default() -> Self {
        Histogram {
            buckets: core::array::from_fn(|_| AtomicU64::new(0)),
            count: AtomicU64::new(0),
            sum_nanos: AtomicU64::new(0),
        }
    }
}

impl<const N: usize> Histogram<N> {
    fn observe(&self, value: f64, bounds: &[f64; N], sum_nanos: u64) {
        if let Some(i) = bounds.iter().position(|b| value <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(sum_nanos, Ordering::Relaxed);
    }

    /// Cumulative bucket counts, total count, and sum (in the unit observed; nanoseconds for times).
    pub fn snapshot(&self) -> ([u64; N], u64, u64) {
        let mut cum = [0u64; N];
        let mut acc = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            acc += b.load(Ordering::Relaxed);
            cum[i] = acc;
        }
        (
            cum,
            self.count.load(Ordering::Relaxed),
            self.sum_nanos.load(Ordering::Relaxed),
        )
    }
}

/// Counters of one log.
#[derive(Debug, Default)]
pub struct LogStats {
    /// Entries made durable.
    pub entries: AtomicU64,
    /// Commit groups (one write + one fdatasync each).
    pub groups: AtomicU64,
    /// fdatasync latency.
    pub fsync: Histogram<12>,
    /// Entries per append call.
    pub batches: Histogram<6>,
    /// Checkpoint publishing steps that failed ([`crate::publish`]).
    pub publish_errors: AtomicU64,
    /// Entries read back whose bytes did not hash to the leaf hash the tree
    /// holds for them (refused, never served).
    pub integrity_errors: AtomicU64,
}

impl LogStats {
    pub(crate) fn record_group(&self, fsync: Duration, batch_sizes: impl Iterator<Item = usize>) {
        self.groups.fetch_add(1, Ordering::Relaxed);
        let ns = fsync.as_nanos() as u64;
        self.fsync.observe(fsync.as_secs_f64(), &FSYNC_BUCKETS, ns);
        for n in batch_sizes {
            self.entries.fetch_add(n as u64, Ordering::Relaxed);
            self.batches.observe(n as f64, &BATCH_BUCKETS, n as u64);
        }
    }
}

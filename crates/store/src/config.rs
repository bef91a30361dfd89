//! A log's tunables ([`LogConfig`]). The defaults suit production.

use std::time::Duration;

/// Tunables of a log. The defaults suit production.
#[derive(Clone, Debug)]
pub struct LogConfig {
    /// Longest delay between new entries and the checkpoint covering them.
    pub checkpoint_interval: Duration,
    /// Shortest delay between checkpoints signed on request (receipts).
    pub min_checkpoint_interval: Duration,
    /// Largest commit group, and so the largest torn tail recovery accepts.
    pub max_group_bytes: usize,
    /// WAL segments are closed at this size.
    pub wal_segment_bytes: u64,
    /// How long the sequencer may wait for a group to fill up to the size of
    /// the previous one (adaptive group commit; 0 disables).
    pub group_wait: Duration,
    /// How many of the WAL's newest bytes stay in the page cache once
    /// durable (of hash level 0, which grows with every entry too, an
    /// eighth: about as many entries); older pages are released as the
    /// writers move on, so ingest reuses them instead of taking fresh memory
    /// (`None`: the kernel keeps whatever it likes).
    pub cache_keep: Option<u64>,
    /// How many `fdatasync`s of the WAL may be in progress at once (each
    /// through its own handle, by its own thread); at least 1. A disk that
    /// writes back one group while it commits another makes more bytes
    /// durable per second with several in flight; acknowledgements stay in
    /// order either way.
    pub syncs_in_flight: usize,
    /// How many bytes of the newest durable entries stay in memory for the
    /// log's followers (the rules, live streams, the query indexer) to take
    /// without reading them back ([`crate::subscribe`]); 0 keeps none.
    pub recent_bytes: usize,
}

/// The default [`LogConfig::cache_keep`]: several seconds of single-event
/// ingest at the highest rates measured, so the query indexer and readers of
/// recent entries find them in memory.
pub const DEFAULT_CACHE_KEEP: u64 = 64 << 20;

/// The default [`LogConfig::recent_bytes`]: about a second of batched
/// ingest at the highest rates measured on the reference machine.
pub const DEFAULT_RECENT_BYTES: usize = 128 << 20;

/// The default [`LogConfig::syncs_in_flight`].
pub const DEFAULT_SYNCS_IN_FLIGHT: usize = 4;

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            checkpoint_interval: Duration::from_secs(1),
            min_checkpoint_interval: Duration::from_millis(50),
            max_group_bytes: 64 << 20,
            wal_segment_bytes: crate::segment::DEFAULT_SEGMENT_LIMIT,
            group_wait: Duration::from_micros(150),
            cache_keep: Some(DEFAULT_CACHE_KEEP),
            syncs_in_flight: DEFAULT_SYNCS_IN_FLIGHT,
            recent_bytes: DEFAULT_RECENT_BYTES,
        }
    }
}

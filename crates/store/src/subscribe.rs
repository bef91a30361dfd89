//! Following a log. A [`Subscription`] hands its consumer every published
//! entry from the index the consumer chose, in order and exactly once per
//! subscription, in chunks, each with the signed checkpoint that covers it.
//! The query indexer is one consumer; live streams, alert rules, witnesses
//! and uploaders follow logs the same way.
//!
//! It is pulled, not pushed: the consumer takes entries when it asks — from
//! the newest ones the log keeps in memory (`LogConfig::recent_bytes`)
//! while it is close behind, else read back from the log (checked against
//! their leaf hashes, as every read is) — so a slow consumer falls behind
//! on its own and never slows ingest or the other consumers. Its position
//! is [`Subscription::position`]; a consumer that persists it (with what
//! it made of the entries, ideally in one transaction) resumes after a
//! restart with [`crate::LogReader::subscribe`] from there, and sees
//! nothing twice and nothing missed.
//!
//! A subscription waits for a checkpoint over its entries, so what it
//! delivers can be proved at once. One made [`Subscription::durable`]
//! takes entries as soon as they are durable (acknowledged) and memory
//! holds them, without waiting for the checkpoint interval: for consumers
//! that act on events (the alert rules) rather than prove them. Entries
//! that memory no longer holds it reads back once a checkpoint covers them.

use std::time::Duration;

use crate::error::{Result, StoreError};
use veritrail_core::Hash;

use crate::read::LogReader;
use crate::recent::{Part, Taken};
use crate::state::Published;

/// Entries per delivery unless [`Subscription::with_chunk`] says otherwise.
pub const DEFAULT_CHUNK: u64 = 20_000;

/// Entries `first ..` of the log, with the newest checkpoint.
#[derive(Clone, Debug)]
pub struct Delivery {
    /// Index of the first entry.
    pub first: u64,
    /// The newest checkpoint when the entries were read. It covers them,
    /// unless the subscription is [`Subscription::durable`] (then entries
    /// may lie past it).
    pub checkpoint: Published,
    parts: Vec<Part>,
    len: usize,
}

impl Delivery {
    fn new(first: u64, checkpoint: Published, parts: Vec<Part>) -> Delivery {
        let len = parts.iter().map(Part::len).sum();
        Delivery {
            first,
            checkpoint,
            parts,
            len,
        }
    }

    /// How many entries it holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The index after the last entry: the subscription's next position.
    pub fn end(&self) -> u64 {
        self.first + self.len as u64
    }

    /// Whether this delivery ends at its checkpoint's size (the consumer
    /// has seen everything the checkpoint covers).
    pub fn reaches_checkpoint(&self) -> bool {
        self.end() == self.checkpoint.size
    }

    /// The entries exactly as stored (canonical event bytes), in order,
    /// with their indices and leaf hashes (each entry hashes to its own).
    pub fn iter(&self) -> impl Iterator<Item = (u64, &[u8], &Hash)> + '_ {
        self.iter_from(0)
    }

    /// The same from the `skip`-th entry on.
    pub fn iter_from(&self, mut skip: usize) -> impl Iterator<Item = (u64, &[u8], &Hash)> + '_ {
        let mut index = self.first;
        self.parts.iter().flat_map(move |p| {
            let from = p.from + skip.min(p.len());
            skip -= skip.min(p.len());
            let at = index + (from - p.from) as u64;
            index += p.len() as u64;
            (from..p.to)
                .map(move |k| (at + (k - from) as u64, p.block.entry(k), &p.block.leaves[k]))
        })
    }

    /// The entries alone.
    pub fn entries(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.iter().map(|(_, e, _)| e)
    }
}

impl LogReader {
    /// Follows the log from entry `from`.
    pub fn subscribe(&self, from: u64) -> Subscription {
        Subscription {
            reader: self.clone(),
            next: from,
            chunk: DEFAULT_CHUNK,
            durable: false,
        }
    }
}

/// A consumer's place in a log.
pub struct Subscription {
    reader: LogReader,
    next: u64,
    chunk: u64,
    durable: bool,
}

impl Subscription {
    /// Delivers at most `n` entries at a time (at least 1).
    #[must_use]
    pub fn with_chunk(mut self, n: u64) -> Subscription {
        self.chunk = n.max(1);
        self
    }

    /// Delivers entries once durable, before a checkpoint covers them, as
    /// long as the log still holds them in memory
    /// (`LogConfig::recent_bytes`; with none, this changes nothing).
    #[must_use]
    pub fn durable(mut self) -> Subscription {
        self.durable = true;
        self
    }

    /// The index of the next entry this subscription delivers.
    pub fn position(&self) -> u64 {
        self.next
    }

    /// The next entries, once published (or, for a durable subscription,
    /// once durable): waits up to `timeout` for them (`Ok(None)` if none
    /// came).
    ///
    /// # Errors
    /// `OutOfRange` when the position is beyond every entry the log holds
    /// (a consumer that remembers more than the log has: the log was
    /// replaced, or the consumer's state belongs to another log);
    /// `EntryMismatch` for a changed entry; `Poisoned`; I/O errors.
    pub fn next(&mut self, timeout: Duration) -> Result<Option<Delivery>> {
        let shared = &self.reader.shared;
        let durable = shared
            .durable
            .load(std::sync::atomic::Ordering::Acquire)
            .max(shared.published().size);
        if self.next > durable {
            return Err(StoreError::OutOfRange(format!(
                "subscription to log {:?} at entry {}, but the log holds {durable} entries",
                shared.name, self.next
            )));
        }
        let deadline = std::time::Instant::now() + timeout;
        if self.durable && shared.recent.enabled() {
            match shared
                .recent
                .take_from(self.next, self.chunk, deadline, &shared.poisoned, || {
                    shared.published().size
                }) {
                Taken::Parts(parts) => {
                    let d = Delivery::new(self.next, shared.published(), parts);
                    self.next = d.end();
                    return Ok(Some(d));
                }
                Taken::TimedOut => {
                    shared.check_poison()?;
                    return Ok(None);
                }
                // Read back below, once a checkpoint covers it.
                Taken::NotHeld => {}
            }
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let checkpoint = match self.reader.wait_published(self.next + 1, left) {
            Ok(p) => p,
            Err(StoreError::OutOfRange(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let n = (checkpoint.size - self.next).min(self.chunk);
        let parts = self.reader.blocks(self.next, n)?;
        let d = Delivery::new(self.next, checkpoint, parts);
        self.next = d.end();
        Ok(Some(d))
    }
}

//! Entries in memory, as their followers take them: [`Block`]s of WAL
//! records with their leaf hashes, and the log's newest durable blocks
//! ([`Recent`]).
//!
//! A follower close behind the log (the rules, live streams) takes what
//! it has not seen from the batches the sequencer made durable, kept here
//! up to [`crate::LogConfig::recent_bytes`] — the bytes that were hashed
//! into the leaves and written to the WAL, not a copy read back — and from
//! the disk only what memory no longer holds. Reading back was a third of
//! a rules runner's work; worse, a follower that fell further behind than
//! the page cache keeps read from the disk, slowed down, and so fell
//! further behind. What is read back comes in the same [`Block`]s: one
//! buffer per read instead of one allocation per entry.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use veritrail_core::Hash;

use crate::wal::{END_OF_BATCH, RECORD_OVERHEAD};

/// Consecutive entries as WAL records in one buffer, with their leaf
/// hashes.
#[derive(Debug, Default)]
pub(crate) struct Block {
    /// WAL records (`[u32 len | END_OF_BATCH][u32 crc32c][payload]`),
    /// possibly with other bytes between them.
    pub records: Vec<u8>,
    /// Where each entry's record starts in `records`.
    pub starts: Vec<u32>,
    /// Each entry's leaf hash.
    pub leaves: Vec<Hash>,
}

impl Block {
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// The payload of entry `k`.
    pub fn entry(&self, k: usize) -> &[u8] {
        let at = self.starts[k] as usize;
        let word = u32::from_le_bytes(self.records[at..at + 4].try_into().expect("4 bytes"));
        let len = (word & !END_OF_BATCH) as usize;
        &self.records[at + RECORD_OVERHEAD..at + RECORD_OVERHEAD + len]
    }

    /// The memory it holds.
    fn bytes(&self) -> usize {
        self.records.capacity() + self.starts.capacity() * 4 + self.leaves.capacity() * 32
    }
}

/// Entries `from .. to` of a shared block.
#[derive(Clone, Debug)]
pub(crate) struct Part {
    pub block: Arc<Block>,
    pub from: usize,
    pub to: usize,
}

impl Part {
    pub fn whole(block: Block) -> Part {
        let to = block.len();
        Part {
            block: Arc::new(block),
            from: 0,
            to,
        }
    }

    pub fn len(&self) -> usize {
        self.to - self.from
    }
}

/// The newest durable blocks of a log, oldest first, without a gap, within
/// a memory limit.
pub(crate) struct Recent {
    ring: Mutex<Ring>,
    /// Signalled when a block comes (and when the log stops).
    grown: Condvar,
    limit: usize,
}

/// What [`Recent::take_from`] found.
pub(crate) enum Taken {
    /// Entries from the index asked for on.
    Parts(Vec<Part>),
    /// Memory no longer holds (or never held) that index: read it back.
    NotHeld,
    /// Nothing past that index came in time.
    TimedOut,
}

#[derive(Default)]
struct Ring {
    /// (index of the first entry, block).
    blocks: VecDeque<(u64, Arc<Block>)>,
    /// The index after the newest block's last entry.
    end: u64,
    bytes: usize,
}

impl Recent {
    /// Keeps up to `limit` bytes (0: nothing).
    pub fn new(limit: usize) -> Recent {
        Recent {
            ring: Mutex::new(Ring::default()),
            grown: Condvar::new(),
            limit,
        }
    }

    /// Whether it keeps anything at all.
    pub fn enabled(&self) -> bool {
        self.limit > 0
    }

    /// Wakes the followers waiting in [`Recent::take_from`] (the log
    /// stopped).
    pub fn wake(&self) {
        let _r = self.ring.lock().expect("recent lock");
        self.grown.notify_all();
    }

    /// Adds the durable block of entries `first ..`, dropping the oldest
    /// beyond the limit. A block that does not follow the newest one
    /// starts the ring afresh (it never holds a gap).
    pub fn push(&self, first: u64, block: Block) {
        if self.limit == 0 || block.len() == 0 {
            return;
        }
        let n = block.bytes();
        let mut r = self.ring.lock().expect("recent lock");
        if r.end != first {
            r.blocks.clear();
            r.bytes = 0;
        }
        r.end = first + block.len() as u64;
        r.bytes += n;
        r.blocks.push_back((first, Arc::new(block)));
        while r.bytes > self.limit && r.blocks.len() > 1 {
            let (_, old) = r.blocks.pop_front().expect("more than one block");
            r.bytes -= old.bytes();
        }
        drop(r);
        self.grown.notify_all();
    }

    /// Up to `max` entries from `from` on, as many as it holds, waiting
    /// until `deadline` for the first of them to come (unless `stop` is
    /// set: the log stopped). Entries it does not hold but `published`
    /// (the size the latest checkpoint covers) says exist are `NotHeld`.
    pub fn take_from(
        &self,
        from: u64,
        max: u64,
        deadline: Instant,
        stop: &AtomicBool,
        published: impl Fn() -> u64,
    ) -> Taken {
        let mut r = self.ring.lock().expect("recent lock");
        loop {
            if stop.load(Ordering::Acquire) {
                return Taken::TimedOut;
            }
            match r.blocks.front() {
                Some((oldest, _)) if from < *oldest => return Taken::NotHeld,
                Some(_) if from < r.end => {
                    let count = (r.end - from).min(max);
                    return r.parts(from, count).map_or(Taken::NotHeld, Taken::Parts);
                }
                // Published before memory held it (recovered at open).
                _ if published() > from => return Taken::NotHeld,
                // Nothing past `from` yet: wait for it.
                _ => {}
            }
            let now = Instant::now();
            if now >= deadline {
                return Taken::TimedOut;
            }
            r = self
                .grown
                .wait_timeout(r, deadline - now)
                .expect("recent lock")
                .0;
        }
    }

    /// Entries `from .. from + count` if every one is still held.
    pub fn take(&self, from: u64, count: u64) -> Option<Vec<Part>> {
        self.ring.lock().expect("recent lock").parts(from, count)
    }
}

impl Ring {
    fn parts(&self, from: u64, count: u64) -> Option<Vec<Part>> {
        let to = from.checked_add(count)?;
        let oldest = self.blocks.front()?.0;
        if from < oldest || to > self.end || count == 0 {
            return None;
        }
        // The block holding `from`: the last starting at or before it.
        let mut i = self.blocks.partition_point(|(f, _)| *f <= from) - 1;
        let mut at = from;
        let mut parts = Vec::new();
        while at < to {
            let (first, b) = &self.blocks[i];
            let lo = (at - first) as usize;
            let hi = ((to - first) as usize).min(b.len());
            parts.push(Part {
                block: Arc::clone(b),
                from: lo,
                to: hi,
            });
            at = first + hi as u64;
            i += 1;
        }
        Some(parts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wal::PreparedBatch;

    fn block(first: u64, n: u64) -> Block {
        let entries: Vec<Vec<u8>> = (first..first + n)
            .map(|i| format!("entry {i}").into_bytes())
            .collect();
        let b = PreparedBatch::new(&entries).unwrap();
        Block {
            records: b.records,
            starts: b.starts,
            leaves: b.leaf_hashes,
        }
    }

    fn entries(parts: &[Part]) -> Vec<String> {
        parts
            .iter()
            .flat_map(|p| {
                (p.from..p.to).map(|k| String::from_utf8(p.block.entry(k).to_vec()).unwrap())
            })
            .collect()
    }

    /// Ranges across blocks come back whole and in order; ranges reaching
    /// outside what is held do not come back at all.
    #[test]
    fn takes_only_what_it_holds_whole() {
        let r = Recent::new(1 << 20);
        r.push(10, block(10, 5));
        r.push(15, block(15, 5));
        let want: Vec<String> = (12..18).map(|i| format!("entry {i}")).collect();
        assert_eq!(entries(&r.take(12, 6).unwrap()), want);
        assert_eq!(entries(&r.take(15, 5).unwrap()).len(), 5);
        assert!(r.take(9, 2).is_none(), "entry 9 was never held");
        assert!(r.take(18, 3).is_none(), "entry 20 is not durable yet");
        assert!(r.take(12, 0).is_none());
        // A block after a gap starts afresh.
        r.push(30, block(30, 2));
        assert!(r.take(12, 1).is_none());
        assert_eq!(entries(&r.take(30, 2).unwrap()), ["entry 30", "entry 31"]);
    }

    /// The oldest blocks go once the limit is passed; the newest always
    /// stays; a limit of 0 keeps nothing.
    #[test]
    fn keeps_within_its_limit() {
        // Room for two of the (longest) last blocks, not three.
        let one = block(900, 100).bytes();
        let r = Recent::new(one * 2 + one / 2);
        for k in 0..10 {
            r.push(k * 100, block(k * 100, 100));
        }
        assert!(r.take(700, 1).is_none());
        assert_eq!(entries(&r.take(800, 200).unwrap()).len(), 200);
        let none = Recent::new(0);
        none.push(0, block(0, 3));
        assert!(none.take(0, 1).is_none());
    }
}

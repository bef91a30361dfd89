//! What the work no design can skip costs on this machine: for every 300-byte
//! event, the WAL record (length word, CRC32C, payload copied into the group
//! buffer), the RFC 9162 leaf hash, and its share of interior node hashes (one
//! per leaf). No parsing, no I/O, no locks: the functions `veritrail append`
//! runs, in a tight loop, first on one core and then on all of them.
//!
//! Dividing the cores by the per-event cost gives the most events per second
//! the CPU allows before anything else happens (`bench/ceiling.sh` prints it
//! beside the disk's and HTTP's ceilings).
//!
//! ```sh
//! target/release/work_floor --events 2000000
//! ```

use std::time::Instant;

use clap::Parser;
use rayon::prelude::*;
use veritrail_core::compact::{CompactRange, NoSink};
use veritrail_core::hash::leaf_hashes_into;
use veritrail_core::Hash;
use veritrail_store::wal::encode_record;

#[derive(Parser)]
#[command(about = "Per-event CPU floor: WAL record + CRC32C + RFC 9162 hashing, no I/O")]
struct Args {
    /// Events per measurement.
    #[arg(long, default_value_t = 2_000_000)]
    events: usize,
    /// Event size in bytes.
    #[arg(long, default_value_t = 300)]
    size: usize,
    /// Events per batch (one group buffer and one subtree per batch).
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Measurements of each kind; the best is reported.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
}

/// Which part of the per-event work a measurement runs.
#[derive(Clone, Copy, PartialEq)]
enum Part {
    /// Everything below.
    All,
    /// The WAL record: header, CRC32C, payload copied into the group buffer.
    Record,
    /// The leaf hash and the interior nodes above it.
    Hash,
}

/// Encodes and/or hashes one batch; returns a byte of the results so the
/// work cannot be optimised away.
fn one_batch(events: &[Vec<u8>], scratch: &mut (Vec<u8>, Vec<Hash>), part: Part) -> u8 {
    let (buf, leaves) = scratch;
    buf.clear();
    leaves.clear();
    if part != Part::Hash {
        for (k, e) in events.iter().enumerate() {
            encode_record(e, k + 1 == events.len(), buf);
        }
    }
    // As the store hashes a batch (`hash_leaves`) and the integrator folds
    // it into the tree (`CompactRange::extend`), on this thread.
    let mut tree = CompactRange::new();
    if part != Part::Record {
        leaf_hashes_into(events, leaves);
        tree.extend(leaves, &mut NoSink);
    }
    tree.root().0[0] ^ buf.last().copied().unwrap_or(0)
}

fn main() {
    let a = Args::parse();
    let batch = a.batch.max(1);
    // Distinct printable bytes per event, as JSON would be; the cost does
    // not depend on the content.
    let events: Vec<Vec<u8>> = (0..batch)
        .map(|i| {
            (0..a.size)
                .map(|j| b' ' + ((i * 31 + j * 7) % 94) as u8)
                .collect()
        })
        .collect();
    let batches = a.events.div_ceil(batch);
    let total = batches * batch;
    let threads = rayon::current_num_threads();

    let mut one_core = [f64::INFINITY; 3];
    let mut all_cores = f64::INFINITY;
    let mut sink = 0u8;
    let scratch = || {
        (
            Vec::with_capacity(batch * (a.size + 8)),
            Vec::with_capacity(batch),
        )
    };
    let mut buf = scratch();
    for _ in 0..a.rounds.max(1) {
        for (best, part) in one_core
            .iter_mut()
            .zip([Part::All, Part::Record, Part::Hash])
        {
            let t = Instant::now();
            for _ in 0..batches {
                sink ^= one_batch(&events, &mut buf, part);
            }
            *best = best.min(t.elapsed().as_secs_f64());
        }

        let t = Instant::now();
        sink ^= (0..batches)
            .into_par_iter()
            .map_init(scratch, |s, _| one_batch(&events, s, Part::All))
            .reduce(|| 0, |x, y| x ^ y);
        all_cores = all_cores.min(t.elapsed().as_secs_f64());
    }
    let ns = one_core.map(|s| s * 1e9 / total as f64);
    println!(
        "work floor: {} events of {} B in batches of {batch} (WAL record + CRC32C + leaf hash + node hashes; no I/O)",
        total, a.size
    );
    println!(
        "one core: {:.0} ns per event ({:.2} M events/s); the WAL record alone {:.0} ns, the hashes alone {:.0} ns",
        ns[0],
        1e3 / ns[0],
        ns[1],
        ns[2]
    );
    println!(
        "all {threads} cores: {:.2} M events/s (best of {})",
        total as f64 / all_cores / 1e6,
        a.rounds.max(1)
    );
    // Printed so that the compiler keeps every hash.
    eprintln!("checksum {sink}");
}

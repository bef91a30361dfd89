//! Appending N 300-byte events to a Merkle tree and taking the root:
//! veritrail-core (1 and 2 threads) against ct-merkle and tlog_tiles, with the
//! raw SHA-256 cost of the same leaf bytes as the floor. Also inclusion proof
//! verification at tree size 2^30.
//!
//! `VERITRAIL_BENCH_N` sets N (default 10,000,000).
//! Run: `cargo bench -p veritrail-bench --bench merkle_compare`

use std::time::Duration;

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use veritrail_bench::Events;
use veritrail_core::hash::{leaf_hash, Hash};
use veritrail_core::proof::verify_inclusion;
use veritrail_core::tree::{prove_inclusion, HashReader, LeafIndex, NodeId, TreeSize};
use veritrail_core::{CompactRange, NoSink};

fn n() -> usize {
    std::env::var("VERITRAIL_BENCH_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000_000)
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
}

/// tlog_tiles keeps every stored hash, like Go's tlog.
struct Stored(Vec<tlog_tiles::tlog::Hash>);
impl tlog_tiles::tlog::HashReader for Stored {
    fn read_hashes(
        &self,
        idx: &[u64],
    ) -> Result<Vec<tlog_tiles::tlog::Hash>, tlog_tiles::tlog::Error> {
        Ok(idx.iter().map(|i| self.0[*i as usize]).collect())
    }
}

fn append_and_root(c: &mut Criterion) {
    let n = n();
    let events = Events::new(n, 300);
    let slices = events.slices();
    let mut g = c.benchmark_group(format!("append_{n}_events_300B_and_root"));
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(20));
    g.throughput(Throughput::Elements(n as u64));

    for threads in [1usize, 2] {
        let p = pool(threads);
        g.bench_function(
            BenchmarkId::new("raw_sha256_of_leaves", format!("{threads}t")),
            |b| {
                b.iter(|| {
                    p.install(|| {
                        use rayon::prelude::*;
                        let x = slices
                            .par_iter()
                            .with_min_len(4096)
                            .map(|e| leaf_hash(e).0[0])
                            .reduce(|| 0u8, |a, b| a ^ b);
                        black_box(x)
                    })
                })
            },
        );
        // The same SHA-256 work a tree does: every leaf plus one 65-byte node
        // message per leaf (a tree of n leaves has n-1 interior nodes).
        g.bench_function(
            BenchmarkId::new("raw_sha256_of_leaf_and_node_bytes", format!("{threads}t")),
            |b| {
                b.iter(|| {
                    p.install(|| {
                        use rayon::prelude::*;
                        let x = slices
                            .par_iter()
                            .with_min_len(4096)
                            .map(|e| {
                                let l = leaf_hash(e);
                                veritrail_core::node_hash(&l, &l).0[0]
                            })
                            .reduce(|| 0u8, |a, b| a ^ b);
                        black_box(x)
                    })
                })
            },
        );
        g.bench_function(
            BenchmarkId::new("veritrail_core", format!("{threads}t")),
            |b| {
                b.iter(|| {
                    p.install(|| {
                        let mut c = CompactRange::new();
                        c.extend_entries(&slices, &mut NoSink);
                        black_box(c.root())
                    })
                })
            },
        );
    }
    g.bench_function(BenchmarkId::new("ct_merkle", "1t"), |b| {
        b.iter(|| {
            let mut t =
                ct_merkle::mem_backed_tree::MemoryBackedTree::<sha2_011::Sha256, &[u8]>::new();
            for e in &slices {
                t.push(*e);
            }
            black_box(t.root())
        })
    });
    g.bench_function(BenchmarkId::new("tlog_tiles", "1t"), |b| {
        b.iter(|| {
            let mut s = Stored(Vec::with_capacity(2 * n));
            for (i, e) in slices.iter().enumerate() {
                let hs = tlog_tiles::tlog::stored_hashes(i as u64, e, &s).unwrap();
                s.0.extend(hs);
            }
            black_box(tlog_tiles::tlog::tree_hash(n as u64, &s).unwrap())
        })
    });
    g.finish();
}

/// Deterministic stand-in hashes for a tree too large to build: a proof's
/// cost depends only on its length.
struct Virtual;
impl HashReader for Virtual {
    type Error = ();
    fn read_hashes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, ()> {
        Ok(ids
            .iter()
            .map(|id| leaf_hash(&[&[id.level][..], &id.index.to_le_bytes()].concat()))
            .collect())
    }
}

fn verify_at_2_30(c: &mut Criterion) {
    let size = TreeSize(1 << 30);
    let idx = LeafIndex(123_456_789);
    let leaf = leaf_hash(b"the leaf");
    let proof = prove_inclusion(idx, size, &Virtual).unwrap();
    // The root those siblings imply (computed by the RFC 9162 recursion).
    let mut r = leaf;
    let mut i = idx.0;
    for p in &proof {
        r = if i & 1 == 1 {
            veritrail_core::node_hash(p, &r)
        } else {
            veritrail_core::node_hash(&r, p)
        };
        i >>= 1;
    }
    verify_inclusion(&leaf, idx, size, &proof, &r).unwrap();
    c.bench_function("verify_inclusion_tree_size_2^30", |b| {
        b.iter(|| verify_inclusion(black_box(&leaf), idx, size, black_box(&proof), &r).unwrap())
    });
}

criterion_group!(benches, verify_at_2_30, append_and_root);
criterion_main!(benches);

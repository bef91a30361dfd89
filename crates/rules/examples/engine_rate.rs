//! How fast the engine evaluates events: `cargo run --release -p
//! veritrail-rules --example engine_rate RULES.toml EVENTS.ndjson [RUNS]`
//! (one stored event per line, with `received_at`). Each run evaluates
//! every event with a fresh engine; the best run is reported too (the
//! least disturbed by whatever else the machine did), with a digest of
//! what fired, so that a faster engine can be shown to fire the same.
use std::sync::Arc;
use std::time::Instant;

use sha2::{Digest, Sha256};
use veritrail_rules::{Engine, Observed, RuleSet};

// The server's allocator, so that the figures are the server's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let text = std::fs::read_to_string(&a[1]).unwrap();
    let set = Arc::new(RuleSet::parse(&a[1], &text, &|_| Err("none".into())).unwrap());
    let events: Vec<Vec<u8>> = std::fs::read_to_string(&a[2])
        .unwrap()
        .lines()
        .map(|l| l.as_bytes().to_vec())
        .collect();
    let runs: usize = a.get(3).map_or(1, |r| r.parse().expect("RUNS: a number"));
    let mut best = f64::MAX;
    for _ in 0..runs {
        let mut e = Engine::new(Arc::clone(&set));
        let t = Instant::now();
        let mut alerts = Vec::new();
        for (i, ev) in events.iter().enumerate() {
            alerts.extend(e.observe(Observed {
                log: "default",
                index: i as u64,
                leaf_hash: [0; 32],
                entry: ev,
            }));
        }
        let s = t.elapsed().as_secs_f64();
        best = best.min(s);
        let mut digest = Sha256::new();
        for a in &alerts {
            digest.update(format!(
                "{:?} {} {} {}\n",
                a.key(),
                a.fired_at_ns,
                a.trigger_count,
                a.suppressed
            ));
        }
        println!(
            "{} events, {} rules: {:.2} µs/event ({:.0}/s on one core), {} alerts (digest {})",
            events.len(),
            set.rules.len(),
            s * 1e6 / events.len() as f64,
            events.len() as f64 / s,
            alerts.len(),
            hex(&digest.finalize()[..8])
        );
    }
    if runs > 1 {
        println!(
            "best of {runs}: {:.2} µs/event ({:.0}/s on one core)",
            best * 1e6 / events.len() as f64,
            events.len() as f64 / best
        );
    }
}

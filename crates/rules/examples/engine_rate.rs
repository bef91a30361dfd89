//! How fast the engine evaluates events: `cargo run --release -p
//! veritrail-rules --example engine_rate RULES.toml EVENTS.ndjson` (one
//! stored event per line, with `received_at`).
use std::sync::Arc;
use std::time::Instant;

use veritrail_rules::{Engine, Observed, RuleSet};

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let text = std::fs::read_to_string(&a[1]).unwrap();
    let set = Arc::new(RuleSet::parse(&a[1], &text, &|_| Err("none".into())).unwrap());
    let events: Vec<Vec<u8>> = std::fs::read_to_string(&a[2])
        .unwrap()
        .lines()
        .map(|l| l.as_bytes().to_vec())
        .collect();
    let mut e = Engine::new(set);
    let t = Instant::now();
    let mut fired = 0;
    for (i, ev) in events.iter().enumerate() {
        fired += e
            .observe(Observed {
                log: "default",
                index: i as u64,
                leaf_hash: [0; 32],
                entry: ev,
            })
            .len();
    }
    let s = t.elapsed().as_secs_f64();
    println!(
        "{} events, {} rules: {:.2} µs/event ({:.0}/s on one core), {fired} alerts",
        events.len(),
        e.rules().rules.len(),
        s * 1e6 / events.len() as f64,
        events.len() as f64 / s
    );
}

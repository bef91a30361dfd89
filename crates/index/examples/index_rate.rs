//! How fast the query index takes entries: `cargo run --release -p
//! veritrail-index --example index_rate [N]` (N month-like events, added
//! in batches of 4,096 as the follower does).
use std::time::Instant;

use veritrail_index::QueryIndex;

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    let dir = std::env::temp_dir().join(format!("index-rate-{}", std::process::id()));
    let qi = QueryIndex::open(&dir.join("i.sqlite")).expect("open");
    let entries: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            format!(
                r#"{{"action":"{}","actor":{{"id":"user{}","ip":"10.0.{}.{}"}},"message":"event {i}","outcome":"{}","received_at":"2026-12-01T{:02}:{:02}:00.000000000Z","source":{{"app":"sshd","host":"web-{}"}},"target":{{"id":"/srv/app/{}"}}}}"#,
                ["auth.login", "privilege.sudo", "api.call", "file.modify"][(i % 4) as usize],
                i * 7 % 2000,
                i % 256,
                i * 13 % 256,
                if i % 7 == 0 { "failure" } else { "success" },
                (i * 24 / n) % 24,
                i % 60,
                i % 200,
                i % 5000
            )
            .into_bytes()
        })
        .collect();
    let t = Instant::now();
    let mut at = 0;
    for chunk in entries.chunks(4096) {
        qi.add(at, chunk).expect("add");
        at += chunk.len() as u64;
    }
    let s = t.elapsed().as_secs_f64();
    println!(
        "{n} entries: {:.1} µs/entry ({:.0}/s)",
        s * 1e6 / n as f64,
        n as f64 / s
    );
    let _ = std::fs::remove_dir_all(&dir);
}

//! How fast a follower reads a log back (entries checked against their
//! leaf hashes), the page cache warm: `cargo run --release -p
//! veritrail-store --example read_rate [ENTRIES] [CHUNK] [ROUNDS]
//! [RECENT_MIB]`.
//! Writes a log of ENTRIES (default 2,000,000) 300-byte events in a
//! temporary directory, then reads it through a subscription ROUNDS times;
//! with RECENT_MIB (default 0) of the newest entries kept in memory
//! (`LogConfig::recent_bytes`), the rest read back.
use std::sync::Arc;
use std::time::{Duration, Instant};

use veritrail_store::{DataDir, LogConfig, RealFs};

// The server's allocator: what a read costs depends on how freed buffers
// are reused.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let n: u64 = a.get(1).map_or(2_000_000, |x| x.parse().expect("ENTRIES"));
    let chunk: u64 = a.get(2).map_or(20_000, |x| x.parse().expect("CHUNK"));
    let rounds: usize = a.get(3).map_or(5, |x| x.parse().expect("ROUNDS"));
    let recent: usize = a.get(4).map_or(0, |x| x.parse().expect("RECENT_MIB"));
    let tmp = tempfile::tempdir().expect("tempdir");
    let (dd, _) =
        DataDir::init(Arc::new(RealFs), &tmp.path().join("d"), Some("t.example")).expect("init");
    let config = LogConfig {
        checkpoint_interval: Duration::from_millis(20),
        recent_bytes: recent << 20,
        ..LogConfig::default()
    };
    let log = dd.open_log("default", config).expect("open");
    let pad = "x".repeat(200);
    for b in 0..n / 10_000 {
        let batch: Vec<Vec<u8>> = (0..10_000)
            .map(|i| {
                format!(
                    r#"{{"action":"auth.login","actor":{{"id":"u{}"}},"message":"{pad}","received_at":"2026-12-03T06:00:00.000000000Z"}}"#,
                    b * 10_000 + i
                )
                .into_bytes()
            })
            .collect();
        log.append(&batch).expect("append");
    }
    let reader = log.reader();
    let mut best = f64::MAX;
    for _ in 0..rounds {
        let mut sub = reader.subscribe(0).with_chunk(chunk);
        let t = Instant::now();
        let mut got = 0u64;
        let mut bytes = 0usize;
        while got < n {
            let d = sub
                .next(Duration::from_secs(10))
                .expect("read")
                .expect("published");
            got += d.len() as u64;
            bytes += d.entries().map(<[u8]>::len).sum::<usize>();
        }
        let s = t.elapsed().as_secs_f64();
        best = best.min(s);
        println!(
            "{got} entries ({} B each) in {s:.3} s: {:.3} µs/entry",
            bytes / got as usize,
            s * 1e6 / got as f64
        );
    }
    println!("best: {:.3} µs/entry", best * 1e6 / n as f64);
    log.close();
}

//! `veritrail bench append`: durable append throughput and ack latency.

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use veritrail_store::{DataDir, LogConfig, RealFs};

use super::store_err;
use crate::exit::Exit;

fn event(i: u64, size: usize) -> Vec<u8> {
    let mut e = format!(
        r#"{{"action":"user.login","actor":{{"id":"user-{}","ip":"192.0.2.{}"}},"outcome":"success","received_at":"2026-11-26T07:52:01.{:09}Z","message":""#,
        i % 10_000,
        i % 250,
        i % 1_000_000_000
    )
    .into_bytes();
    while e.len() < size.saturating_sub(2) {
        e.push(b'x');
    }
    e.extend_from_slice(b"\"}");
    e.truncate(size);
    e
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

pub fn append(
    events: u64,
    batch: usize,
    writers: usize,
    event_bytes: usize,
    dir: Option<&std::path::Path>,
) -> anyhow::Result<ExitCode> {
    if batch == 0 || writers == 0 || !(16..=65_535).contains(&event_bytes) {
        return Err(Exit::usage(
            "--batch and --writers must be ≥ 1 and --event-bytes 16..=65535",
        ));
    }
    let base = dir.map_or_else(std::env::temp_dir, std::path::Path::to_path_buf);
    let tmp = base.join(format!(
        "veritrail-bench-{}-{}",
        std::process::id(),
        veritrail_store::now_nanos()
    ));
    let (dd, _) =
        DataDir::init(Arc::new(RealFs), &tmp, Some("bench.invalid")).map_err(store_err)?;
    let log = Arc::new(
        dd.open_log("default", LogConfig::default())
            .map_err(store_err)?,
    );
    // Pre-build one batch per writer so the measurement is the store alone.
    let batches: Vec<Arc<Vec<Vec<u8>>>> = (0..writers)
        .map(|w| {
            Arc::new(
                (0..batch)
                    .map(|i| event((w * batch + i) as u64, event_bytes))
                    .collect(),
            )
        })
        .collect();
    let next = Arc::new(AtomicU64::new(0));
    let calls = events.div_ceil(batch as u64);
    eprintln!(
        "bench: {events} events of {event_bytes} B in batches of {batch} from {writers} writers into {}",
        tmp.display()
    );
    let started = Instant::now();
    let handles: Vec<_> = (0..writers)
        .map(|w| {
            let log = log.clone();
            let next = next.clone();
            let b = batches[w].clone();
            std::thread::spawn(move || -> anyhow::Result<Vec<Duration>> {
                let mut lat = Vec::new();
                while next.fetch_add(1, Ordering::Relaxed) < calls {
                    let t = Instant::now();
                    log.append(&b).map_err(store_err)?;
                    lat.push(t.elapsed());
                }
                Ok(lat)
            })
        })
        .collect();
    let mut lat = Vec::new();
    for h in handles {
        lat.extend(h.join().map_err(|_| anyhow::anyhow!("writer panicked"))??);
    }
    let secs = started.elapsed().as_secs_f64();
    let total = log.durable_size();
    log.close();
    lat.sort_unstable();
    println!(
        "events/s: {:.0}\nMB/s: {:.1}\nappend calls: {}\nack latency p50: {:?}  p99: {:?}  p999: {:?}  max: {:?}\nevents: {total} in {secs:.2}s",
        total as f64 / secs,
        total as f64 * event_bytes as f64 / secs / 1e6,
        lat.len(),
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        pct(&lat, 0.999),
        lat.last().copied().unwrap_or_default(),
    );
    // The bench directory holds +a/+i files: clear the flags before removing it.
    let _ = std::process::Command::new("chattr")
        .args(["-R", "-a", "-i"])
        .arg(&tmp)
        .status();
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(ExitCode::SUCCESS)
}

//! `veritrail bench append`: durable append throughput and ack latency.

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
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

fn threaded(
    log: &Arc<veritrail_store::Log>,
    batches: &[Arc<Vec<Vec<u8>>>],
    next: &Arc<AtomicU64>,
    calls: u64,
) -> anyhow::Result<Vec<Duration>> {
    let handles: Vec<_> = batches
        .iter()
        .map(|b| {
            let (log, next, b) = (log.clone(), next.clone(), b.clone());
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
    Ok(lat)
}

struct Writer {
    log: Arc<veritrail_store::Log>,
    batch: Arc<Vec<Vec<u8>>>,
    next: Arc<AtomicU64>,
    calls: u64,
    lat: Arc<Mutex<Vec<Duration>>>,
    done: std::sync::mpsc::Sender<Result<(), String>>,
}

/// Sends the writer's next batch; its ack callback sends the one after.
fn submit(w: Arc<Writer>) {
    if w.next.fetch_add(1, Ordering::Relaxed) >= w.calls {
        let _ = w.done.send(Ok(()));
        return;
    }
    let prepared = match veritrail_store::PreparedBatch::new(&w.batch) {
        Ok(p) => p,
        Err(e) => {
            let _ = w.done.send(Err(e.to_string()));
            return;
        }
    };
    let t = Instant::now();
    let w2 = w.clone();
    w.log.append_prepared(prepared, move |r| match r {
        Ok(_) => {
            w2.lat.lock().expect("latency lock").push(t.elapsed());
            submit(w2);
        }
        Err(e) => {
            let _ = w2.done.send(Err(e.to_string()));
        }
    });
}

fn callbacks(
    log: &Arc<veritrail_store::Log>,
    batches: &[Arc<Vec<Vec<u8>>>],
    next: &Arc<AtomicU64>,
    calls: u64,
) -> anyhow::Result<Vec<Duration>> {
    let lat = Arc::new(Mutex::new(Vec::with_capacity(calls as usize)));
    let (tx, rx) = std::sync::mpsc::channel();
    for b in batches {
        submit(Arc::new(Writer {
            log: log.clone(),
            batch: b.clone(),
            next: next.clone(),
            calls,
            lat: lat.clone(),
            done: tx.clone(),
        }));
    }
    drop(tx);
    for r in rx {
        r.map_err(|e| anyhow::anyhow!("append failed: {e}"))?;
    }
    let v = std::mem::take(&mut *lat.lock().expect("latency lock"));
    Ok(v)
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[allow(clippy::too_many_arguments)]
pub fn append(
    events: u64,
    batch: usize,
    writers: usize,
    threads: bool,
    event_bytes: usize,
    dir: Option<&std::path::Path>,
    data: Option<&std::path::Path>,
    syncs_in_flight: Option<usize>,
) -> anyhow::Result<ExitCode> {
    if batch == 0 || writers == 0 || !(16..=65_535).contains(&event_bytes) {
        return Err(Exit::usage(
            "--batch and --writers must be ≥ 1 and --event-bytes 16..=65535",
        ));
    }
    let base = dir.map_or_else(std::env::temp_dir, std::path::Path::to_path_buf);
    let (tmp, keep) = match data {
        Some(d) => (d.to_path_buf(), true),
        None => (
            base.join(format!(
                "veritrail-bench-{}-{}",
                std::process::id(),
                veritrail_store::now_nanos()
            )),
            false,
        ),
    };
    let dd = if keep && tmp.join("veritrail.data").exists() {
        DataDir::open(Arc::new(RealFs), &tmp).map_err(store_err)?
    } else {
        DataDir::init(Arc::new(RealFs), &tmp, Some("bench.invalid"))
            .map_err(store_err)?
            .0
    };
    let mut config = LogConfig::default();
    if let Some(n) = syncs_in_flight {
        config.syncs_in_flight = n;
    }
    let log = Arc::new(dd.open_log("default", config).map_err(store_err)?);
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
        "bench: {events} events of {event_bytes} B in batches of {batch} from {writers} {} writers into {}",
        if threads { "thread" } else { "callback-driven" },
        tmp.display()
    );
    let started = Instant::now();
    let mut lat = if threads {
        threaded(&log, &batches, &next, calls)?
    } else {
        callbacks(&log, &batches, &next, calls)?
    };
    let secs = started.elapsed().as_secs_f64();
    let total = log.durable_size();
    let (_, syncs, sync_nanos) = log.stats().fsync.snapshot();
    log.close();
    lat.sort_unstable();
    println!(
        "events/s: {:.0}\nMB/s: {:.1}\nappend calls: {}\nack latency p50: {:?}  p99: {:?}  p999: {:?}  max: {:?}\nevents: {total} in {secs:.2}s\ncommit groups: {syncs} ({:.1} events each, one every {:.0} µs; fdatasync mean {:.0} µs)",
        total as f64 / secs,
        total as f64 * event_bytes as f64 / secs / 1e6,
        lat.len(),
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        pct(&lat, 0.999),
        lat.last().copied().unwrap_or_default(),
        total as f64 / syncs.max(1) as f64,
        secs * 1e6 / syncs.max(1) as f64,
        sync_nanos as f64 / 1e3 / syncs.max(1) as f64,
    );
    if !keep {
        // The bench directory holds +a/+i files: clear the flags before removing it.
        let _ = std::process::Command::new("chattr")
            .args(["-R", "-a", "-i"])
            .arg(&tmp)
            .status();
        let _ = std::fs::remove_dir_all(&tmp);
    }
    Ok(ExitCode::SUCCESS)
}

/// Appends batches of 1..=40 events from `writers` callback-driven writers
/// forever, printing every acknowledged entry as `index base64(leaf)`, flushed
/// per batch, so a test can kill the process at any moment and know exactly
/// what was acknowledged.
pub fn crash_writer(
    args: &crate::args::LogArgs,
    writers: usize,
    wal_segment_bytes: Option<u64>,
) -> anyhow::Result<ExitCode> {
    use std::io::Write as _;
    let mut config = veritrail_store::LogConfig::default();
    if let Some(b) = wal_segment_bytes {
        config.wal_segment_bytes = b;
    }
    let log = Arc::new(super::open_log_with(args, config)?);
    let out = Arc::new(Mutex::new(std::io::stdout()));
    let counter = Arc::new(AtomicU64::new(veritrail_store::now_nanos()));
    fn go(
        log: Arc<veritrail_store::Log>,
        out: Arc<Mutex<std::io::Stdout>>,
        counter: Arc<AtomicU64>,
    ) {
        let c = counter.fetch_add(1, Ordering::Relaxed);
        let n = (c % 40 + 1) as usize;
        let batch: Vec<Vec<u8>> = (0..n)
            .map(|k| {
                event(
                    c.wrapping_mul(41).wrapping_add(k as u64),
                    64 + (c % 200) as usize,
                )
            })
            .collect();
        let Ok(prepared) = veritrail_store::PreparedBatch::new(&batch) else {
            return;
        };
        let l2 = log.clone();
        log.append_prepared(prepared, move |r| {
            let Ok(r) = r else { return };
            {
                let mut o = out.lock().expect("stdout lock");
                let mut s = String::new();
                for (k, h) in r.leaf_hashes.iter().enumerate() {
                    s.push_str(&format!("{} {}\n", r.first_index + k as u64, h.to_base64()));
                }
                let _ = o.write_all(s.as_bytes());
                let _ = o.flush();
            }
            go(l2, out, counter);
        });
    }
    for _ in 0..writers {
        go(log.clone(), out.clone(), counter.clone());
    }
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

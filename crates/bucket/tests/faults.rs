//! The drainer through a small fault-injecting proxy in front of
//! `moto_server`: 503 answers, slow answers, the store gone (every
//! connection cut), and answers lost after the store committed. moto keeps its data in memory, so a restart would lose
//! the bucket; cutting every connection at the proxy is the outage here.
//! Nothing acknowledged may be lost, nothing written twice, and the
//! drainer must resume on its own.

use std::io::{Read as _, Write as _};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use veritrail_bucket::testing::Moto;
use veritrail_bucket::worm::tampering;
use veritrail_bucket::{Bucket, Drainer, Location, Problem, Settings};
use veritrail_core::tile::tiles_added;
use veritrail_core::tree::TreeSize;
use veritrail_store::memfs::MemFs;
use veritrail_store::{DataDir, LogConfig};

const PASS: u8 = 0;
const FAIL_503: u8 = 1;
const SLOW: u8 = 2;
const DOWN: u8 = 3;
/// Checkpoint swaps reach the store, their answers never come back (the
/// connection is cut instead): the store commits what the client thinks
/// failed.
const MUTE: u8 = 4;

/// Forwards to `upstream`, or injects the current fault.
struct Proxy {
    port: u16,
    mode: Arc<AtomicU8>,
    open: Arc<Mutex<Vec<TcpStream>>>,
    injected: Arc<AtomicU64>,
}

impl Proxy {
    fn start(upstream: u16) -> Proxy {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let mode = Arc::new(AtomicU8::new(PASS));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let injected = Arc::new(AtomicU64::new(0));
        let (m, o, inj) = (mode.clone(), open.clone(), injected.clone());
        std::thread::spawn(move || {
            for c in l.incoming() {
                let Ok(c) = c else { continue };
                match m.load(Ordering::SeqCst) {
                    DOWN => {
                        inj.fetch_add(1, Ordering::Relaxed);
                        let _ = c.shutdown(Shutdown::Both);
                    }
                    FAIL_503 => {
                        inj.fetch_add(1, Ordering::Relaxed);
                        std::thread::spawn(move || answer_503(c));
                    }
                    mode => {
                        if mode == SLOW {
                            inj.fetch_add(1, Ordering::Relaxed);
                            std::thread::sleep(Duration::from_millis(300));
                        }
                        let Ok(u) = TcpStream::connect(("127.0.0.1", upstream)) else {
                            continue;
                        };
                        let mut list = o.lock().unwrap();
                        list.push(c.try_clone().unwrap());
                        list.push(u.try_clone().unwrap());
                        drop(list);
                        let (c2, u2) = (c.try_clone().unwrap(), u.try_clone().unwrap());
                        let mute = Mute {
                            mode: m.clone(),
                            armed: Arc::default(),
                            injected: inj.clone(),
                        };
                        let mute2 = mute.clone();
                        std::thread::spawn(move || pipe(c, u, &mute, false));
                        std::thread::spawn(move || pipe(u2, c2, &mute2, true));
                    }
                }
            }
        });
        Proxy {
            port,
            mode,
            open,
            injected,
        }
    }

    /// Switches the fault; any fault also cuts the connections open now
    /// (the client keeps connections alive between requests).
    fn set(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
        if mode != PASS {
            for s in self.open.lock().unwrap().drain(..) {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
    }
}

/// One proxied connection's [`MUTE`] state: armed by a checkpoint swap
/// (`PUT …/checkpoint`) going up, its answer is then cut.
#[derive(Clone)]
struct Mute {
    mode: Arc<AtomicU8>,
    armed: Arc<std::sync::atomic::AtomicBool>,
    injected: Arc<AtomicU64>,
}

/// Copies `from` to `to`: requests when `answers` is false, otherwise
/// answers, cut instead of relayed when [`Mute`] is armed.
fn pipe(mut from: TcpStream, mut to: TcpStream, mute: &Mute, answers: bool) {
    let mut buf = [0u8; 16384];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) if !answers && mute.mode.load(Ordering::SeqCst) == MUTE => {
                let head = String::from_utf8_lossy(&buf[..n.min(512)]).into_owned();
                if head.starts_with("PUT ") && head.contains("/checkpoint HTTP/") {
                    mute.armed.store(true, Ordering::SeqCst);
                }
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Ok(_) if answers && mute.armed.load(Ordering::SeqCst) => {
                mute.injected.fetch_add(1, Ordering::Relaxed);
                let _ = to.shutdown(Shutdown::Both);
                let _ = from.shutdown(Shutdown::Both);
                return;
            }
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// Reads one request (headers and body) and answers 503.
fn answer_503(mut c: TcpStream) {
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 16384];
    loop {
        let Ok(n) = c.read(&mut buf) else { return };
        if n == 0 {
            return;
        }
        got.extend_from_slice(&buf[..n]);
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if got.len() >= end + 4 + len {
                break;
            }
        }
    }
    let body = "<Error><Code>SlowDown</Code><Message>injected</Message></Error>";
    let _ = write!(
        c,
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

#[test]
fn outages_503s_lost_and_slow_answers_lose_nothing_and_write_nothing_twice() {
    let m = Moto::start();
    m.locked_bucket("faulty", 1);
    let proxy = Proxy::start(m.port);
    let settings = Settings {
        endpoint: Some(format!("http://127.0.0.1:{}", proxy.port)),
        ..m.settings()
    };
    let bucket = Bucket::open(&Location::parse("s3://faulty/x").unwrap(), &settings).unwrap();
    let d = Drainer::start(bucket, None, Box::new(|_, _| {}), false);
    let fs = MemFs::new();
    let (dd, _) = DataDir::init(Arc::new(fs), Path::new("/data"), Some("faults.test")).unwrap();
    let log = dd
        .open_log(
            "default",
            LogConfig {
                checkpoint_interval: Duration::from_millis(20),
                min_checkpoint_interval: Duration::from_millis(1),
                ..LogConfig::default()
            },
        )
        .unwrap();
    log.add_publish_step(d.attach("default", log.reader()));
    let mut n = 0u64;
    let mut append = |k: u64| {
        for _ in 0..k {
            let batch: Vec<Vec<u8>> = (0..29)
                .map(|i| {
                    format!("{{\"action\":\"t.e\",\"actor\":\"a\",\"n\":{}}}", n + i).into_bytes()
                })
                .collect();
            log.append(&batch).unwrap();
            n += 29;
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    append(10);
    let wait_until = |what: &str, ok: &dyn Fn() -> bool| {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !ok() {
            assert!(
                std::time::Instant::now() < deadline,
                "{what}: {:?}",
                d.status()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    for (mode, what) in [
        (FAIL_503, "503"),
        (MUTE, "answers lost"),
        (DOWN, "down"),
        (SLOW, "slow"),
    ] {
        let before = proxy.injected.load(Ordering::Relaxed);
        proxy.set(mode);
        append(30);
        if mode != SLOW {
            // Past the client's own quick retries, it shows: the log's
            // uploads are being retried.
            wait_until(what, &|| {
                matches!(d.status()[0].problem, Some(Problem::Retrying(_)))
            });
        }
        append(30);
        let injected = proxy.injected.load(Ordering::Relaxed) - before;
        eprintln!("{what}: {injected} faults injected");
        assert!(injected > 0, "{what}: no fault was injected");
        proxy.set(PASS);
        append(10);
        let size = log.tree_size().0;
        log.wait_for_checkpoint(size, Duration::from_secs(10))
            .unwrap();
        // It recovers on its own.
        wait_until(what, &|| {
            d.status()[0].problem.is_none() && d.uploaded("default") >= size
        });
    }
    log.wait_for_checkpoint(n, Duration::from_secs(10)).unwrap();
    d.wait_uploaded("default", n, Duration::from_secs(120))
        .unwrap_or_else(|e| panic!("{e}; {:?}", d.status()));
    // Straight to moto: every tile is there, with our bytes, once.
    let direct = Bucket::open(&Location::parse("s3://faulty/x").unwrap(), &m.settings()).unwrap();
    let (cp, _) = direct.get("x/default/checkpoint").unwrap().unwrap();
    assert_eq!(&cp[..], log.published().checkpoint.as_bytes());
    let r = log.reader();
    for t in tiles_added(TreeSize(0), TreeSize(n)) {
        let (b, _) = direct
            .get(&format!("x/default/{}", t.path()))
            .unwrap()
            .unwrap();
        assert_eq!(&b[..], &r.tile(&t).unwrap()[..], "{}", t.path());
    }
    let v = direct.versions("x/").unwrap();
    assert!(tampering(&v).is_empty(), "{:?}", tampering(&v));
    d.close(Duration::from_secs(5));
}

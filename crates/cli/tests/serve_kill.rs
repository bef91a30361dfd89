//! The server over real TCP, killed with SIGKILL during concurrent ingest:
//! after a restart every 201-acknowledged entry is present with its leaf
//! hash, and `veritrail verify` passes.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_veritrail")
}

/// One HTTP/1.1 POST with `Connection: close`; returns (status, body).
fn post(addr: &str, path: &str, token: &str, body: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)?;
    let status = resp.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = resp.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    Ok((status, body))
}

fn start(data: &std::path::Path, port: u16) -> (std::process::Child, Option<String>) {
    let mut child = Command::new(bin())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data"])
        .arg(data)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut admin = None;
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let Some(Ok(l)) = lines.next() else { break };
        if l.starts_with("vt_") {
            admin = Some(l.clone());
        }
        if l.contains("serving") {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    (child, admin)
}

#[test]
fn sigkill_during_http_ingest_keeps_every_201() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let port = 17_000 + (std::process::id() % 20_000) as u16;
    let addr = format!("127.0.0.1:{port}");
    let (mut child, admin) = start(&data, port);
    let admin = admin.expect("first start prints an admin token");
    let (s, b) = post(
        &addr,
        "/v1/tokens",
        &admin,
        r#"{"role":"writer","logs":["default"],"name":"load"}"#,
    )
    .unwrap();
    assert_eq!(s, 201, "{b}");
    let writer = serde_json::from_str::<serde_json::Value>(&b).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let acked: Arc<Mutex<Vec<(u64, String)>>> = Arc::default();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let (addr, writer, acked) = (addr.clone(), writer.clone(), acked.clone());
            std::thread::spawn(move || {
                for i in 0..100_000 {
                    let body = format!(r#"[{{"action":"load.test","actor":"w{t}","message":"{i}"}},{{"action":"load.test","actor":"w{t}","message":"{i}b"}}]"#);
                    match post(&addr, "/v1/logs/default/events", &writer, &body) {
                        Ok((201, b)) => {
                            let v: serde_json::Value = serde_json::from_str(&b).unwrap();
                            for e in v["entries"].as_array().unwrap() {
                                acked.lock().unwrap().push((e["index"].as_u64().unwrap(), e["leaf_hash"].as_str().unwrap().to_owned()));
                            }
                        }
                        _ => return,
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    for t in threads {
        t.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 100,
        "too few acknowledged appends to test anything: {}",
        acked.len()
    );
    // Restart: recovery runs; every acknowledged entry must be there.
    let (mut child, _) = start(&data, port);
    child.kill().unwrap();
    child.wait().unwrap();
    let dd = veritrail_store::DataDir::open(Arc::new(veritrail_store::RealFs), &data).unwrap();
    let log = dd
        .open_log("default", veritrail_store::LogConfig::default())
        .unwrap();
    let size = log.published().size;
    let entries = log.entries(0, size).unwrap();
    let mut seen = std::collections::HashSet::new();
    for (i, h) in &acked {
        assert!(seen.insert(*i), "index {i} acknowledged twice");
        assert!(*i < size, "acknowledged entry {i} missing (log has {size})");
        assert_eq!(
            &veritrail_core::leaf_hash(&entries[*i as usize]).to_base64(),
            h,
            "entry {i} changed"
        );
    }
    drop(log);
    let v = Command::new(bin())
        .args(["verify", "--quiet", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        v.status.success(),
        "{}{}",
        String::from_utf8_lossy(&v.stdout),
        String::from_utf8_lossy(&v.stderr)
    );
    let _ = Command::new("chattr")
        .args(["-R", "-a", "-i"])
        .arg(tmp.path())
        .status();
}

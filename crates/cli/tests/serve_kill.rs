//! The server over real TCP, killed with SIGKILL during concurrent ingest:
//! after a restart every 201-acknowledged entry is present with its leaf
//! hash, and `veritrail verify` passes.

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod common;
use common::{post, start, token};

#[test]
fn sigkill_during_http_ingest_keeps_every_201() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let common::Server {
        mut child,
        admin,
        addr,
        ..
    } = start(&data);
    let admin = admin.expect("first start prints an admin token");
    let writer = token(
        &addr,
        &admin,
        r#"{"role":"writer","logs":["default"],"name":"load"}"#,
    );
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
    let mut child = start(&data).child;
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
    let v = Command::new(common::bin())
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

//! Real crashes: a process appending from many writers is killed with SIGKILL
//! at pseudo-random moments, 30 rounds on one data directory. After every
//! kill, every index it acknowledged must be present with the same leaf hash,
//! no index may have been acknowledged twice, and `veritrail verify` passes.
//! (After tessera's integration/fault tests.)

use std::collections::BTreeMap;
use std::io::Read as _;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use veritrail_core::hash::{leaf_hash, Hash};
use veritrail_store::{DataDir, LogConfig, RealFs};

mod common;
use common::bin;

/// `VERITRAIL_CRASH_ROUNDS` (default 30) and `VERITRAIL_CRASH_MAX_MS`, the
/// longest a writer runs before its kill (default 220). A soak run by hand,
/// e.g. 40 rounds of up to 2.5 s, lets integrations grow past one slice
/// (2^18 entries) before the kill, which the default rounds never reach.
fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

#[test]
fn sigkill_during_concurrent_appends_loses_nothing_acknowledged() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let st = Command::new(bin())
        .args(["init", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let mut acked: BTreeMap<u64, Hash> = BTreeMap::new();
    let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;
    let max_ms = env_or("VERITRAIL_CRASH_MAX_MS", 220).max(21);
    for round in 0..env_or("VERITRAIL_CRASH_ROUNDS", 30) {
        let mut child = Command::new(bin())
            .args(["bench", "crash-writer", "--writers", "16"])
            // Every other round rolls WAL segments every 256 KiB, so kills
            // also land inside segment creation and sealing.
            .args(if round % 2 == 1 {
                &["--wal-segment-bytes", "262144"][..]
            } else {
                &[][..]
            })
            .arg("--data")
            .arg(&data)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        // Read the acks while the writer runs: a full pipe would stall it,
        // and the kill would then land on an idle process.
        let mut stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut out = String::new();
            stdout.read_to_string(&mut out).unwrap();
            out
        });
        std::thread::sleep(Duration::from_millis(20 + rng % (max_ms - 20)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let out = reader.join().unwrap();
        let mut new = 0;
        let (mut lo, mut hi) = (u64::MAX, 0);
        for line in out.lines() {
            let Some((i, h)) = line.split_once(' ') else {
                continue;
            };
            let (Ok(i), Some(h)) = (i.parse::<u64>(), Hash::from_base64(h)) else {
                continue;
            };
            if let Some(prev) = acked.insert(i, h) {
                assert_eq!(
                    prev, h,
                    "round {round}: index {i} acknowledged twice with different entries"
                );
                panic!("round {round}: index {i} acknowledged twice (reused)");
            }
            new += 1;
            lo = lo.min(i);
            hi = hi.max(i + 1);
        }
        // Recover in this process; this round's acks are compared entry by
        // entry (earlier rounds' are covered by `verify` and the final check).
        // (Through the service: what recovery discards is recorded in
        // `_system`, checked at the end.)
        let dd = DataDir::open(Arc::new(RealFs), &data).unwrap();
        let log = veritrail_service::open::open_log(
            &dd,
            "default",
            LogConfig {
                wal_segment_bytes: 262_144,
                ..LogConfig::default()
            },
            "crash-test",
        )
        .unwrap_or_else(|e| panic!("round {round}: recovery failed: {e}"));
        let size = log.published().size;
        let max = acked.keys().next_back().map_or(0, |m| m + 1);
        assert!(
            size >= max,
            "round {round}: log has {size} entries, {max} were acknowledged"
        );
        if lo < hi {
            check_acked(&log, &acked, lo, hi, &format!("round {round}"));
        }
        drop(log);
        let v = Command::new(bin())
            .args(["verify", "--quiet", "--data"])
            .arg(&data)
            .output()
            .unwrap();
        assert!(
            v.status.success(),
            "round {round}: verify failed: {}{}",
            String::from_utf8_lossy(&v.stdout),
            String::from_utf8_lossy(&v.stderr)
        );
        eprintln!("round {round}: {new} new acks, log size {size}");
    }
    // Every ack of every round, once more, against the final log.
    let dd = DataDir::open(Arc::new(RealFs), &data).unwrap();
    let log = dd.open_log("default", LogConfig::default()).unwrap();
    let max = acked.keys().next_back().map_or(0, |m| m + 1);
    for lo in (0..max).step_by(1 << 16) {
        check_acked(&log, &acked, lo, (lo + (1 << 16)).min(max), "at the end");
    }
    drop(log);
    // Every tail recovery discarded was copied to a quarantine file and
    // recorded in `_system` with its SHA-256 (issue 18.3).
    let mut quarantined = Vec::new();
    let mut stack = vec![data.join("logs")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().contains(".seg.torn-") {
                quarantined.push(p);
            }
        }
    }
    // (A kill leaves every completed write in the page cache, so torn tails
    // are rare here; `_system` exists once one was recorded.)
    let records: Vec<serde_json::Value> = match dd.open_log_read("_system") {
        Ok(sys) => sys
            .entries(0, sys.published().size)
            .unwrap()
            .iter()
            .map(|e| serde_json::from_slice::<serde_json::Value>(e).unwrap())
            .filter(|v| v["action"] == "recovery.discarded")
            .collect(),
        Err(_) => Vec::new(),
    };
    for q in &quarantined {
        let rel = q.strip_prefix(&data).unwrap().display().to_string();
        let sha = Hash(veritrail_core::hash::sha256(&[&std::fs::read(q).unwrap()])).to_hex();
        assert!(
            records
                .iter()
                .any(|r| r["metadata"]["quarantine"] == rel.as_str()
                    && r["metadata"]["sha256"] == sha.as_str()),
            "{rel} has no recovery.discarded record with its SHA-256"
        );
    }
    assert_eq!(
        records.len(),
        quarantined.len(),
        "one record per discarded tail"
    );
    eprintln!(
        "{} torn tails discarded, quarantined and recorded",
        quarantined.len()
    );
    assert!(
        acked.len() > 1000,
        "the writer acknowledged too little to test anything: {}",
        acked.len()
    );
}

/// Every acknowledged index in `lo..hi` holds the entry whose leaf hash was acknowledged.
fn check_acked(
    log: &veritrail_store::Log,
    acked: &BTreeMap<u64, Hash>,
    lo: u64,
    hi: u64,
    when: &str,
) {
    let entries = log.entries(lo, hi - lo).unwrap();
    for (i, h) in acked.range(lo..hi) {
        assert_eq!(
            leaf_hash(&entries[(i - lo) as usize]),
            *h,
            "{when}: entry {i} differs from its ack"
        );
    }
}

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

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_veritrail")
}

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
        let dd = DataDir::open(Arc::new(RealFs), &data).unwrap();
        let log = dd
            .open_log(
                "default",
                LogConfig {
                    wal_segment_bytes: 262_144,
                    ..LogConfig::default()
                },
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

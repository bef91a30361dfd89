//! `veritrail verify` on a log that a running process keeps appending to (as
//! a daily cron job meets a live server): every run must pass. It takes no
//! lock, so it must not mistake a group still being written, or hash levels,
//! index and checkpoints written after it looked at the WAL, for damage.

use std::process::{Command, Stdio};
use std::time::Duration;

mod common;
use common::bin;

#[test]
fn verify_passes_on_a_log_being_written() {
    let tmp = tempfile::tempdir().unwrap();
    let data = common::init_data(tmp.path());
    let d = data.to_str().unwrap();
    let mut writer = Command::new(bin())
        .args(["bench", "crash-writer", "--writers", "16", "--data"])
        .arg(&data)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let mut failures = Vec::new();
    let mut sizes = Vec::new();
    for run in 0..30 {
        let o = common::run(&["verify", "--quiet", "--data", d, "--log", "default"], "");
        // "OK: log "default" (…): N entries, …"
        let out = String::from_utf8_lossy(&o.stdout);
        if let Some(n) = out
            .split("): ")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .and_then(|n| n.parse::<u64>().ok())
        {
            sizes.push(n);
        }
        if !o.status.success() {
            failures.push(format!(
                "run {run}: {}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ));
        }
    }
    writer.kill().unwrap();
    writer.wait().unwrap();
    common::unflag(tmp.path());
    assert!(
        failures.is_empty(),
        "verify failed on a live log:\n{}",
        failures.join("\n")
    );
    // The writer really wrote while verify ran: the log grew across the
    // runs (without this, a writer that never started would pass).
    assert_eq!(sizes.len(), 30, "every run reported its entries: {sizes:?}");
    assert!(
        sizes.windows(2).all(|w| w[0] <= w[1]) && sizes[29] > sizes[0],
        "the log must grow across the runs: {sizes:?}"
    );
}

//! `veritrail verify` on a log that a running process keeps appending to (as
//! a daily cron job meets a live server): every run must pass. It takes no
//! lock, so it must not mistake a group still being written, or hash levels,
//! index and checkpoints written after it looked at the WAL, for damage.

use std::process::{Command, Stdio};
use std::time::Duration;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_veritrail")
}

#[test]
fn verify_passes_on_a_log_being_written() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let st = Command::new(bin())
        .args(["init", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(st.status.success());
    let mut writer = Command::new(bin())
        .args(["bench", "crash-writer", "--writers", "16", "--data"])
        .arg(&data)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let mut failures = Vec::new();
    for run in 0..30 {
        let o = Command::new(bin())
            .args(["verify", "--quiet", "--data"])
            .arg(&data)
            .output()
            .unwrap();
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
    let _ = Command::new("chattr")
        .args(["-R", "-a", "-i"])
        .arg(tmp.path())
        .status();
    assert!(
        failures.is_empty(),
        "verify failed on a live log:\n{}",
        failures.join("\n")
    );
}

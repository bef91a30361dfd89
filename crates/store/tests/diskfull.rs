//! Disk full, for real: a data directory on a 1 MiB tmpfs. Appends fail with
//! a clear "no space" error, nothing acknowledged is lost, and once space is
//! freed (the tmpfs grown) the log reopens, recovers and continues.
//! Needs root (mount); skips with a message otherwise.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use veritrail_core::hash::{leaf_hash, Hash};
use veritrail_store::verify::verify_log;
use veritrail_store::{DataDir, LogConfig, RealFs};

fn mount(dir: &Path, size: &str, remount: bool) -> bool {
    let opts = if remount {
        format!("remount,size={size}")
    } else {
        format!("size={size}")
    };
    Command::new("mount")
        .args(["-t", "tmpfs", "-o", &opts, "tmpfs"])
        .arg(dir)
        .output()
        .is_ok_and(|o| o.status.success())
}

struct Unmount<'a>(&'a Path);
impl Drop for Unmount<'_> {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0).status();
    }
}

#[test]
fn disk_full_fails_clearly_loses_nothing_and_recovers_after_space_is_freed() {
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    if !mount(&mnt, "1m", false) {
        eprintln!("SKIP: cannot mount a tmpfs here (needs root)");
        return;
    }
    let _guard = Unmount(&mnt);
    let data = mnt.join("data");
    let (dd, _) = DataDir::init(Arc::new(RealFs), &data, Some("diskfull.test")).unwrap();
    let log = dd.open_log("default", LogConfig::default()).unwrap();
    let mut acked: Vec<(u64, Hash)> = Vec::new();
    let mut err = None;
    for i in 0..100_000u64 {
        let batch: Vec<Vec<u8>> = (0..20)
            .map(|k| {
                format!("{{\"n\":{i},\"k\":{k},\"pad\":\"{}\"}}", "x".repeat(200)).into_bytes()
            })
            .collect();
        match log.append(&batch) {
            Ok(r) => acked.extend(
                r.leaf_hashes
                    .iter()
                    .enumerate()
                    .map(|(k, h)| (r.first_index + k as u64, *h)),
            ),
            Err(e) => {
                err = Some(e);
                break;
            }
        }
    }
    let err = err.expect("a 1 MiB file system must fill up");
    let msg = format!("{err}");
    assert!(
        msg.contains("No space left on device") || msg.contains("stopped after an I/O failure"),
        "unclear error: {msg}"
    );
    // The log stays stopped: no guessing after an I/O error.
    assert!(log.append(&[b"more".to_vec()]).is_err());
    drop(log);
    assert!(acked.len() > 100, "too little was written to test anything");

    // Free space and reopen: recovery keeps every acknowledged entry.
    assert!(mount(&mnt, "16m", true), "remount failed");
    let dd = DataDir::open(Arc::new(RealFs), &data).unwrap();
    let log = dd.open_log("default", LogConfig::default()).unwrap();
    let size = log.published().size;
    assert!(
        size >= acked.len() as u64,
        "lost acknowledged entries: {size} < {}",
        acked.len()
    );
    let entries = log.entries(0, acked.len() as u64).unwrap();
    for ((i, h), e) in acked.iter().zip(&entries) {
        assert_eq!(leaf_hash(e), *h, "entry {i} changed");
    }
    let r = log.append(&[b"after the disk was freed".to_vec()]).unwrap();
    assert_eq!(r.first_index, size, "an index was reused");
    drop(log);
    verify_log(&dd, "default", &mut |_, _| {}).unwrap();
}

//! A log that copies another (a read replica): it records only the writer's
//! checkpoints, integrates only up to their sizes, keeps entries appended
//! past them for later (across a restart too), and stops when its copy
//! differs from what the writer signed.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use veritrail_store::memfs::MemFs;
use veritrail_store::verify::verify_log;
use veritrail_store::{DataDir, LogConfig, StoreError};

fn cfg() -> LogConfig {
    LogConfig {
        checkpoint_interval: Duration::from_millis(10),
        min_checkpoint_interval: Duration::from_millis(1),
        ..LogConfig::default()
    }
}

fn entry(i: u64) -> Vec<u8> {
    format!("{{\"action\":\"test.event\",\"actor\":\"a\",\"n\":{i}}}").into_bytes()
}

/// A writer with `n` entries and the notes of its checkpoints, by size.
fn writer(fs: &MemFs, n: u64) -> (DataDir, Vec<(u64, String)>) {
    let (dd, _) = DataDir::init(
        Arc::new(fs.clone()),
        &PathBuf::from("/writer"),
        Some("w.example"),
    )
    .unwrap();
    let log = dd.open_log("default", cfg()).unwrap();
    let mut notes = Vec::new();
    let mut i = 0;
    while i < n {
        let k = (n - i).min(700);
        let batch: Vec<Vec<u8>> = (i..i + k).map(entry).collect();
        log.append(&batch).unwrap();
        i += k;
        let p = log.wait_for_checkpoint(i, Duration::from_secs(10)).unwrap();
        notes.push((p.size, p.checkpoint.to_string()));
    }
    log.close();
    (dd, notes)
}

fn replica(fs: &MemFs) -> DataDir {
    DataDir::init_replica(
        Arc::new(fs.clone()),
        &PathBuf::from("/replica"),
        Some("r.example"),
    )
    .unwrap()
    .0
}

#[test]
fn a_copy_records_only_the_writers_checkpoints_and_keeps_the_rest_for_later() {
    let fs = MemFs::new();
    let (w, notes) = writer(&fs, 3000);
    let wmeta = w.meta("default").unwrap();
    let r = replica(&fs);
    // The replica has no default log of its own: it can copy the writer's.
    assert_eq!(r.list_logs().unwrap(), vec!["_system".to_owned()]);
    r.create_adopting_log("default", &wmeta.verifier, "s3://b/p/default")
        .unwrap();
    assert_eq!(r.adopts("default").as_deref(), Some("s3://b/p/default"));
    let log = r.open_log("default", cfg()).unwrap();
    let adopted = log.adopted().expect("a copy").clone();
    assert_eq!(log.published().size, 0);
    // Up to the writer's second checkpoint, in pieces the integrator may
    // see at any point: only that size is published.
    let (s2, n2) = notes[1].clone();
    adopted.offer(n2.as_bytes()).unwrap();
    for i in (0..s2).step_by(256) {
        let batch: Vec<Vec<u8>> = (i..(i + 256).min(s2)).map(entry).collect();
        log.append(&batch).unwrap();
    }
    let p = log
        .wait_for_checkpoint(s2, Duration::from_secs(10))
        .unwrap();
    assert_eq!(p.size, s2);
    assert_eq!(
        &*p.checkpoint,
        n2.as_str(),
        "the writer's note, byte for byte"
    );
    // More entries without a note: durable, not published.
    let batch: Vec<Vec<u8>> = (s2..s2 + 500).map(entry).collect();
    log.append(&batch).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(log.published().size, s2);
    assert_eq!(log.durable_size(), s2 + 500);
    log.close();
    drop(log);
    // Reopened: they wait, then the next note covers them and more.
    let r = DataDir::open(Arc::new(fs.clone()), &PathBuf::from("/replica")).unwrap();
    let log = r.open_log("default", cfg()).unwrap();
    assert_eq!(log.published().size, s2);
    assert_eq!(log.durable_size(), s2 + 500);
    let (s3, n3) = notes.last().unwrap().clone();
    log.adopted().unwrap().offer(n3.as_bytes()).unwrap();
    let batch: Vec<Vec<u8>> = (s2 + 500..s3).map(entry).collect();
    log.append(&batch).unwrap();
    let p = log
        .wait_for_checkpoint(s3, Duration::from_secs(10))
        .unwrap();
    assert_eq!((p.size, &*p.checkpoint), (s3, n3.as_str()));
    assert_eq!(
        log.root_at(s3).unwrap(),
        w.open_log_read("default").unwrap().root_at(s3).unwrap()
    );
    log.close();
    drop(log);
    let report = verify_log(&r, "default", &mut |_, _| {}).unwrap();
    assert_eq!(report.entries, s3);
    let notes = r.check_small_files().unwrap();
    assert!(
        notes
            .iter()
            .any(|n| n.contains("is a copy of s3://b/p/default")),
        "{notes:?}"
    );
}

#[test]
fn a_copy_that_differs_from_what_the_writer_signed_stops() {
    let fs = MemFs::new();
    let (w, notes) = writer(&fs, 700);
    let r = replica(&fs);
    r.create_adopting_log("default", &w.meta("default").unwrap().verifier, "elsewhere")
        .unwrap();
    let log = r.open_log("default", cfg()).unwrap();
    let (s, n) = notes[0].clone();
    log.adopted().unwrap().offer(n.as_bytes()).unwrap();
    let mut batch: Vec<Vec<u8>> = (0..s).map(entry).collect();
    batch[5] = b"{\"action\":\"forged\",\"actor\":\"x\"}".to_vec();
    log.append(&batch).unwrap();
    let e = log
        .wait_for_checkpoint(s, Duration::from_secs(10))
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("differs from what the writer signed"),
        "{e}"
    );
    assert_eq!(log.published().size, 0);
    assert!(matches!(
        log.append(&[entry(1)]),
        Err(StoreError::Poisoned { .. })
    ));
}

#[test]
fn a_directory_that_writes_a_log_cannot_copy_it() {
    let fs = MemFs::new();
    let (w, _) = writer(&fs, 10);
    let v = w.meta("default").unwrap().verifier;
    let e = w.create_adopting_log("default", &v, "x").unwrap_err();
    assert!(matches!(e, StoreError::LogExists(_)), "{e}");
    // A key left by a creation a crash interrupted: this directory writes
    // that log, it cannot copy it.
    fs.append_raw_new(&PathBuf::from("/writer/keys/mine.key"), b"k");
    let e = w.create_adopting_log("mine", &v, "x").unwrap_err();
    assert!(e.to_string().contains("writes log \"mine\" itself"), "{e}");
}

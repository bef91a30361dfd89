//! The drainer against a real S3 API: `moto_server` with an Object Lock
//! bucket in COMPLIANCE mode (PyPI `moto[server]`), and boto3 through
//! `tools/s3ctl.py` as the third party.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use veritrail_bucket::drain::ROUND_ENTRIES;
use veritrail_bucket::testing::Moto;
use veritrail_bucket::{Bucket, Drainer, Location, Notice, Problem};
use veritrail_core::tile::tiles_added;
use veritrail_core::tree::TreeSize;
use veritrail_store::memfs::MemFs;
use veritrail_store::{DataDir, Log, LogConfig};

fn cfg() -> LogConfig {
    LogConfig {
        checkpoint_interval: Duration::from_millis(20),
        min_checkpoint_interval: Duration::from_millis(1),
        ..LogConfig::default()
    }
}

fn entry(tag: &str, i: u64) -> Vec<u8> {
    format!("{{\"action\":\"test.event\",\"actor\":\"{tag}\",\"n\":{i}}}").into_bytes()
}

fn append(log: &Log, tag: &str, n: u64) -> u64 {
    append_in(log, tag, n, 37)
}

fn append_in(log: &Log, tag: &str, n: u64, batch: usize) -> u64 {
    let start = log.tree_size().0;
    for chunk in (start..start + n).collect::<Vec<_>>().chunks(batch) {
        let batch: Vec<Vec<u8>> = chunk.iter().map(|i| entry(tag, *i)).collect();
        log.append(&batch).unwrap();
    }
    let end = start + n;
    log.wait_for_checkpoint(end, Duration::from_secs(10))
        .unwrap();
    end
}

type Notices = Arc<Mutex<Vec<(String, Notice)>>>;

fn drainer(m: &Moto, url: &str, scan: Option<Duration>) -> (Arc<Drainer>, Notices) {
    let b = Bucket::open(&Location::parse(url).unwrap(), &m.settings()).unwrap();
    let seen: Notices = Arc::default();
    let s2 = seen.clone();
    let d = Drainer::start(
        b,
        scan,
        Box::new(move |log, n| s2.lock().unwrap().push((log.to_owned(), n.clone()))),
        false,
    );
    (d, seen)
}

fn attach(d: &Arc<Drainer>, log: &Log, name: &str) {
    log.add_publish_step(d.attach(name, log.reader()));
}

#[test]
fn a_drained_log_is_a_tlog_tiles_tree_in_a_locked_bucket_and_deletion_is_caught() {
    let m = Moto::start();
    m.locked_bucket("evidence", 1);
    let fs = MemFs::new();
    let (dd, _) =
        DataDir::init(Arc::new(fs.clone()), Path::new("/data"), Some("drain.test")).unwrap();
    let log = dd.open_log("default", cfg()).unwrap();
    append(&log, "a", 700);
    let (d, seen) = drainer(&m, "s3://evidence/prod", Some(Duration::from_millis(300)));
    attach(&d, &log, "default");
    d.wait_uploaded("default", 700, Duration::from_secs(60))
        .unwrap();
    // Grows in steps; every step leaves a complete tree behind its checkpoint.
    for n in [1, 255, 300, 2000] {
        let size = append(&log, "a", n);
        d.wait_uploaded("default", size, Duration::from_secs(60))
            .unwrap();
    }
    let p = log.published();
    let b = d.bucket().clone();
    let (cp, _) = b.get("prod/default/checkpoint").unwrap().unwrap();
    assert_eq!(&cp[..], p.checkpoint.as_bytes());
    let r = log.reader();
    for t in tiles_added(TreeSize(0), TreeSize(p.size)) {
        let (got, _) = b
            .get(&format!("prod/default/{}", t.path()))
            .unwrap()
            .unwrap_or_else(|| panic!("{} missing", t.path()));
        assert_eq!(&got[..], &r.tile(&t).unwrap()[..], "{}", t.path());
    }
    let st = d.status();
    assert_eq!(st[0].uploaded, p.size);
    assert!(
        st[0].problem.is_none() && st[0].tampered.is_empty(),
        "{st:?}"
    );

    // The bucket is WORM: a locked version cannot be deleted, not even by
    // an S3 client holding the credentials.
    let (rc, out) = m.s3ctl(&[
        "delete-version",
        "evidence",
        "prod/default/tile/entries/000",
    ]);
    assert_eq!(rc, 3, "deleting a locked version must be refused: {out}");
    assert!(out.contains("AccessDenied"), "{out}");
    // A delete marker is allowed by S3 (the data stays), but hides the
    // object and makes a create-only key creatable again: the scan reports it.
    let (rc, out) = m.s3ctl(&["delete", "evidence", "prod/default/tile/entries/001"]);
    assert_eq!(rc, 0, "{out}");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let n = seen.lock().unwrap().clone();
        if let Some((l, Notice::Tampered(what))) = n.first() {
            assert_eq!(l, "default");
            assert!(
                what.iter()
                    .any(|w| w.contains("prod/default/tile/entries/001: a delete marker")),
                "{what:?}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the delete marker was not reported"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!d.status()[0].tampered.is_empty());
    d.close(Duration::from_secs(5));
}

/// The sizes of every checkpoint version the bucket kept of `log`, each
/// checked to be on the log's chain, smallest first.
fn checkpoint_versions(b: &Bucket, log: &Log) -> Vec<u64> {
    let mut sizes = Vec::new();
    for v in b.versions("default/checkpoint").unwrap() {
        let body = b
            .get_version("default/checkpoint", &v.version_id)
            .unwrap()
            .unwrap();
        let c = veritrail_core::open_checkpoint(&body, log.reader().verifier(), &[]).unwrap();
        assert_eq!(
            c.checkpoint.root,
            log.reader().root_at(c.checkpoint.size.0).unwrap()
        );
        sizes.push(c.checkpoint.size.0);
    }
    sizes.sort_unstable();
    sizes
}

/// Uploads a backlog of several rounds, the drainer attached before
/// (`live`: it sees the checkpoints as they are published) or after the
/// entries were appended (as after a restart: only the latest is offered);
/// checks that each checkpoint swap moved the bucket by about a round and
/// that every object of the final tree is there.
fn backlog_in_rounds(bucket: &str, live: bool) {
    let m = Moto::start();
    m.locked_bucket(bucket, 1);
    let fs = MemFs::new();
    let (dd, _) = DataDir::init(
        Arc::new(fs.clone()),
        Path::new("/data"),
        Some("rounds.test"),
    )
    .unwrap();
    let log = dd.open_log("default", cfg()).unwrap();
    let (d, _) = drainer(&m, &format!("s3://{bucket}"), None);
    if live {
        attach(&d, &log, "default");
    }
    // Several rounds' worth, appended faster than moto stores objects,
    // with a checkpoint at least every 8,192 entries (a round can only end
    // at one).
    let mut size = 0;
    for n in [8192; 32].into_iter().chain([1234]) {
        size = append_in(&log, "r", n, 1000);
    }
    assert_eq!(size, 4 * ROUND_ENTRIES + 1234);
    if !live {
        attach(&d, &log, "default");
    }
    d.wait_uploaded("default", size, Duration::from_secs(180))
        .unwrap();
    let sizes = checkpoint_versions(d.bucket(), &log);
    assert_eq!(sizes.last(), Some(&size), "{sizes:?}");
    // Each swap moved the bucket by a round or so: a waypoint is the first
    // checkpoint a round past the one before, and the way to one is cut
    // again when longer than two rounds.
    assert!(sizes[0] <= 2 * ROUND_ENTRIES, "{sizes:?}");
    for w in sizes.windows(2) {
        assert!(w[1] - w[0] <= 2 * ROUND_ENTRIES, "{sizes:?}");
    }
    assert!(sizes.len() >= 4, "{sizes:?}");
    let keys: Vec<String> = tiles_added(TreeSize(0), TreeSize(size))
        .iter()
        .map(|t| format!("default/{}", t.path()))
        .collect();
    let got = d.bucket().get_all(&keys).unwrap();
    for (k, g) in keys.iter().zip(&got) {
        assert!(g.is_some(), "{k} missing");
    }
    d.close(Duration::from_secs(5));
}

#[test]
fn a_backlog_goes_up_in_rounds_each_ending_with_a_published_checkpoint() {
    backlog_in_rounds("rounds", true);
}

#[test]
fn after_a_restart_far_behind_the_history_cuts_the_catch_up_into_rounds() {
    backlog_in_rounds("restart", false);
}

#[test]
fn two_writers_of_one_log_never_fork_the_bucket() {
    let m = Moto::start();
    m.locked_bucket("shared", 1);
    // Two nodes holding the same log (a restored backup started twice).
    let fs1 = MemFs::new();
    let (dd1, _) =
        DataDir::init(Arc::new(fs1.clone()), Path::new("/data"), Some("fork.test")).unwrap();
    let log1 = dd1.open_log("default", cfg()).unwrap();
    append(&log1, "common", 300);
    log1.close();
    drop(log1);
    let fs2 = fs1.crash(0);
    let log1 = DataDir::open(Arc::new(fs1.clone()), Path::new("/data"))
        .unwrap()
        .open_log("default", cfg())
        .unwrap();
    let log2 = DataDir::open(Arc::new(fs2.clone()), Path::new("/data"))
        .unwrap()
        .open_log("default", cfg())
        .unwrap();
    let (d1, _) = drainer(&m, "s3://shared", None);
    let (d2, seen2) = drainer(&m, "s3://shared", None);
    attach(&d1, &log1, "default");
    d1.wait_uploaded("default", 300, Duration::from_secs(30))
        .unwrap();
    attach(&d2, &log2, "default");
    d2.wait_uploaded("default", 300, Duration::from_secs(30))
        .unwrap();
    // Node 1 moves on; node 2 writes a different history from the same
    // point. Its checkpoint swap must fail, and it must stop.
    append(&log1, "one", 100);
    d1.wait_uploaded("default", 400, Duration::from_secs(30))
        .unwrap();
    // (In one batch, so that no partial tile of node 2 has the name of
    // one of node 1's: the checkpoint swap is what stops it.)
    append_in(&log2, "two", 50, 50);
    let e = d2
        .wait_uploaded("default", 350, Duration::from_secs(30))
        .unwrap_err();
    assert!(e.contains("another writer"), "{e}");
    assert!(matches!(d2.status()[0].problem, Some(Problem::Stopped(_))));
    assert!(d2.refuses("default").is_some());
    // The hook hears it too (right after the waiters do).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while seen2.lock().unwrap().is_empty() {
        assert!(std::time::Instant::now() < deadline, "no notice");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(matches!(&seen2.lock().unwrap()[0].1, Notice::Stopped(_)));
    // A node that starts later with the forked history is refused at once:
    // while it holds less than the bucket…
    let (d3, _) = drainer(&m, "s3://shared", None);
    attach(&d3, &log2, "default");
    let e = d3
        .wait_uploaded("default", 350, Duration::from_secs(30))
        .unwrap_err();
    assert!(e.contains("another node writes this log"), "{e}");
    // …and once it holds more.
    let size2 = append(&log2, "two", 100);
    let (d4, _) = drainer(&m, "s3://shared", None);
    attach(&d4, &log2, "default");
    let e = d4
        .wait_uploaded("default", size2, Duration::from_secs(30))
        .unwrap_err();
    assert!(e.contains("different history"), "{e}");
    // Node 1 still writes; every checkpoint version the bucket kept is a
    // checkpoint of node 1's one chain.
    let size = append(&log1, "one", 10);
    d1.wait_uploaded("default", size, Duration::from_secs(30))
        .unwrap();
    let (rc, out) = m.s3ctl(&["versions", "shared", "default/checkpoint"]);
    assert_eq!(rc, 0);
    let mut sizes = Vec::new();
    for line in out.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(v.get("delete_marker").is_none());
        let (rc, body) = m.s3ctl(&[
            "get-version",
            "shared",
            "default/checkpoint",
            v["version"].as_str().unwrap(),
        ]);
        assert_eq!(rc, 0);
        let c = veritrail_core::open_checkpoint(body.as_bytes(), log1.reader().verifier(), &[])
            .unwrap();
        assert_eq!(
            c.checkpoint.root,
            log1.reader().root_at(c.checkpoint.size.0).unwrap(),
            "checkpoint version at {} is not on node 1's chain",
            c.checkpoint.size.0
        );
        sizes.push(c.checkpoint.size.0);
    }
    assert!(
        sizes.contains(&300) && sizes.contains(&400) && sizes.contains(&size),
        "{sizes:?}"
    );
    assert!(!sizes.contains(&350));
}

//! Store behaviour on the in-memory, fault-injecting backend: round trips,
//! proofs, tiles, rollover, concurrency, failed syncs, and crashes that keep
//! only synced bytes (plus torn fragments), checked against a reference model.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use veritrail_core::hash::{leaf_hash, Hash};
use veritrail_core::proof::{verify_consistency, verify_inclusion};
use veritrail_core::tile::Tile;
use veritrail_core::tree::{HashReader, LeafIndex, MemoryTree, NodeId, TreeSize};
use veritrail_store::memfs::{Fault, MemFs};
use veritrail_store::verify::verify_log;
use veritrail_store::{Appended, DataDir, LogConfig, StoreError};

fn root() -> PathBuf {
    PathBuf::from("/data")
}

fn cfg() -> LogConfig {
    LogConfig {
        checkpoint_interval: Duration::from_millis(20),
        min_checkpoint_interval: Duration::from_millis(1),
        ..LogConfig::default()
    }
}

fn init(fs: &MemFs) -> DataDir {
    DataDir::init(Arc::new(fs.clone()), &root(), Some("test.example"))
        .unwrap()
        .0
}

fn reopen(fs: &MemFs) -> DataDir {
    DataDir::open(Arc::new(fs.clone()), &root()).unwrap()
}

fn entry(i: u64) -> Vec<u8> {
    format!("{{\"action\":\"test.event\",\"actor\":\"a\",\"n\":{i}}}").into_bytes()
}

#[test]
fn append_reopen_prove_tiles_and_verify() {
    let fs = MemFs::new();
    let dd = init(&fs);
    let log = dd.open_log("default", cfg()).unwrap();
    let mut model = MemoryTree::new();
    let mut next = 0u64;
    for b in 0..300u64 {
        let batch: Vec<Vec<u8>> = (0..(b % 17 + 1)).map(|k| entry(next + k)).collect();
        let r = log.append(&batch).unwrap();
        assert_eq!(r.first_index, next);
        for (k, e) in batch.iter().enumerate() {
            assert_eq!(r.leaf_hashes[k], leaf_hash(e));
            model.push(leaf_hash(e));
        }
        next += batch.len() as u64;
    }
    log.close();
    drop(log);
    let dd = reopen(&fs);
    let log = dd.open_log("default", cfg()).unwrap();
    let p = log.published();
    assert_eq!(p.size, next);
    assert_eq!(p.root, model.root());
    assert_eq!(log.entries(0, next).unwrap().len() as u64, next);
    assert_eq!(
        log.entries(1000, 3).unwrap(),
        vec![entry(1000), entry(1001), entry(1002)]
    );
    for i in [0, 1, 255, 256, 1000, next - 1] {
        let proof = log.prove_inclusion(i, next).unwrap();
        verify_inclusion(
            &leaf_hash(&entry(i)),
            LeafIndex(i),
            TreeSize(next),
            &proof,
            &p.root,
        )
        .unwrap();
    }
    for old in [1, 255, 256, 257, next / 2] {
        let proof = log.prove_consistency(old, next).unwrap();
        verify_consistency(
            TreeSize(old),
            TreeSize(next),
            &proof,
            &model_root(&model, old),
            &p.root,
        )
        .unwrap();
    }
    // Hash tiles are the stored levels, byte for byte.
    let w = (next % 256) as u16;
    let t = log.tile(&Tile::hash(0, next / 256, w)).unwrap();
    let ids: Vec<NodeId> = (0..u64::from(w))
        .map(|j| NodeId::new(0, next / 256 * 256 + j))
        .collect();
    let want: Vec<u8> = model
        .read_hashes(&ids)
        .unwrap()
        .iter()
        .flat_map(|h| h.0)
        .collect();
    assert_eq!(t, want);
    let full = log.tile(&Tile::hash(0, 0, 256)).unwrap();
    assert_eq!(full.len(), 8192);
    let bundle = log.tile(&Tile::entries(0, 256)).unwrap();
    let parsed = veritrail_core::tile::parse_entry_bundle(&bundle, Some(256)).unwrap();
    assert_eq!(parsed[7], &entry(7)[..]);
    assert!(matches!(
        log.tile(&Tile::hash(0, 99, 256)),
        Err(StoreError::OutOfRange(_))
    ));
    log.close();
    let report = verify_log(&dd, "default", &mut |_, _| {}).unwrap();
    assert_eq!(report.entries, next);
}

fn model_root(m: &MemoryTree, size: u64) -> Hash {
    veritrail_core::tree::tree_hash(TreeSize(size), m).unwrap()
}

#[test]
fn many_small_segments_roll_over_and_verify() {
    let fs = MemFs::new();
    let dd = init(&fs);
    let config = LogConfig {
        wal_segment_bytes: 4096,
        ..cfg()
    };
    let log = dd.open_log("default", config.clone()).unwrap();
    for i in 0..400 {
        log.append(&[entry(i), entry(i + 1000)]).unwrap();
    }
    drop(log);
    let segs = fs_list(&fs, &root().join("logs/default/wal"));
    assert!(
        segs.len() >= 8,
        "expected many WAL segments, got {}",
        segs.len()
    );
    let dd = reopen(&fs);
    let log = dd.open_log("default", config).unwrap();
    assert_eq!(log.published().size, 800);
    assert_eq!(log.entries(790, 2).unwrap(), vec![entry(395), entry(1395)]);
    drop(log);
    verify_log(&dd, "default", &mut |_, _| {}).unwrap();
    // Bytes after a closed segment's recorded end are tolerated only as the
    // remains of one interrupted commit group, never more.
    let mut names = fs_list(&fs, &root().join("logs/default/wal"));
    names.sort();
    let first = root().join("logs/default/wal").join(&names[0]);
    fs.append_raw(&first, &vec![0u8; (64 << 20) + 8192]);
    let e = verify_log(&reopen(&fs), "default", &mut |_, _| {}).unwrap_err();
    assert!(e.to_string().contains("more than a crash can leave"), "{e}");
}

fn fs_list(fs: &MemFs, dir: &Path) -> Vec<String> {
    use veritrail_store::Vfs as _;
    fs.list(dir).unwrap()
}

#[test]
fn concurrent_writers_get_unique_contiguous_indexes() {
    let fs = MemFs::new();
    let dd = init(&fs);
    let log = Arc::new(dd.open_log("default", cfg()).unwrap());
    let handles: Vec<_> = (0..8u64)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                (0..200u64)
                    .map(|i| log.append(&[entry(t * 1000 + i)]).unwrap().first_index)
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut all: Vec<u64> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    all.sort_unstable();
    assert_eq!(all, (0..1600).collect::<Vec<_>>());
    let p = log
        .wait_for_checkpoint(1600, Duration::from_secs(5))
        .unwrap();
    assert_eq!(p.size, 1600);
}

#[test]
fn bad_batches_are_refused_whole() {
    let fs = MemFs::new();
    let dd = init(&fs);
    let log = dd.open_log("default", cfg()).unwrap();
    let empty: Vec<Vec<u8>> = vec![];
    assert!(matches!(log.append(&empty), Err(StoreError::BadBatch(_))));
    let too_big = vec![entry(0), vec![b'x'; 65_536]];
    let e = log.append(&too_big).unwrap_err();
    assert!(e.to_string().contains("entry 1"), "{e}");
    assert_eq!(log.append(&[entry(0)]).unwrap().first_index, 0);
}

/// (index, leaf hash) of each entry an append acknowledged.
fn acks(r: &Appended) -> impl Iterator<Item = (u64, Hash)> + '_ {
    (r.first_index..).zip(r.leaf_hashes.iter().copied())
}

/// Appends single-entry and multi-entry batches until the store fails,
/// returning what was acknowledged.
fn append_until_failure(dd: &DataDir) -> (Vec<(u64, Hash)>, Option<StoreError>) {
    append_until_failure_with(dd, cfg())
}

fn append_until_failure_with(
    dd: &DataDir,
    config: LogConfig,
) -> (Vec<(u64, Hash)>, Option<StoreError>) {
    let log = match dd.open_log("default", config) {
        Ok(l) => l,
        Err(e) => return (vec![], Some(e)),
    };
    let mut acked = Vec::new();
    for i in 0..400u64 {
        let batch: Vec<Vec<u8>> = (0..(i % 4 + 1)).map(|k| entry(i * 10 + k)).collect();
        match log.append(&batch) {
            Ok(r) => acked.extend(acks(&r)),
            Err(e) => return (acked, Some(e)),
        }
    }
    (acked, None)
}

fn check_survivors(fs: &MemFs, acked: &[(u64, Hash)]) -> u64 {
    check_survivors_with(fs, acked, cfg())
}

fn check_survivors_with(fs: &MemFs, acked: &[(u64, Hash)], config: LogConfig) -> u64 {
    let dd = reopen(fs);
    let log = dd
        .open_log("default", config)
        .expect("recovery must succeed after a crash");
    let size = log.published().size;
    // Acknowledged indexes need not be contiguous (concurrent writers).
    let need = acked.iter().map(|(i, _)| i + 1).max().unwrap_or(0);
    assert!(
        size >= need,
        "acknowledged entries lost: the log holds {size}, entry {} was acknowledged",
        need.saturating_sub(1)
    );
    if need > 0 {
        let entries = log.entries(0, need).unwrap();
        for (i, h) in acked {
            assert_eq!(leaf_hash(&entries[*i as usize]), *h, "entry {i} changed");
        }
    }
    // No index is reused: the next append lands after everything that survived.
    let r = log.append(&[b"after crash".to_vec()]).unwrap();
    assert_eq!(r.first_index, size);
    drop(log);
    verify_log(&dd, "default", &mut |_, _| {}).expect("verify after recovery");
    size
}

#[test]
fn failed_fsync_poisons_the_log_until_reopened() {
    let fs = MemFs::new();
    let dd = init(&fs);
    fs.set_fault(Fault::FailSync(30));
    let (acked, err) = append_until_failure(&dd);
    assert!(err.is_some(), "the injected sync failure must surface");
    // (That later calls on the same log fail too is `poisoned_log_refuses_work`.)
    let crashed = fs.crash(0);
    check_survivors(&crashed, &acked);
}

#[test]
fn poisoned_log_refuses_work() {
    let fs = MemFs::new();
    let dd = init(&fs);
    let log = dd.open_log("default", cfg()).unwrap();
    log.append(&[entry(0)]).unwrap();
    fs.set_fault(Fault::FailSync(1));
    assert!(log.append(&[entry(1)]).is_err());
    fs.set_fault(Fault::None);
    let e = log.append(&[entry(2)]).unwrap_err();
    assert!(matches!(e, StoreError::Poisoned { .. }), "{e}");
    assert!(log.poisoned().is_some());
}

#[test]
fn fsync_error_with_persisted_data_never_reuses_an_index() {
    let fs = MemFs::new();
    let dd = init(&fs);
    fs.set_fault(Fault::FailSyncButPersisted(25));
    let (acked, err) = append_until_failure(&dd);
    assert!(err.is_some());
    let size = check_survivors(&fs.crash(0), &acked);
    // The unacknowledged group reached the disk, so it may survive: fine, as
    // long as nothing acknowledged is lost and indexes stay unique.
    assert!(size >= acked.len() as u64);
}

#[test]
fn disk_full_fails_appends_and_loses_nothing() {
    let fs = MemFs::new();
    let dd = init(&fs);
    fs.set_fault(Fault::FailWritesAfterSync(40));
    let (acked, err) = append_until_failure(&dd);
    let err = err.expect("writes fail once the disk is full");
    assert!(err.to_string().contains("no space"), "{err}");
    fs.set_fault(Fault::None);
    check_survivors(&fs.crash(0), &acked);
}

/// Crash right after the N-th sync, for many N, keeping only synced bytes plus
/// a torn fragment of what followed. Guards: torn-tail handling in recovery
/// (without it reopening fails) and END_OF_BATCH (without it a half-written
/// batch would survive, breaking batch atomicity).
#[test]
fn crash_after_every_sync_keeps_every_acknowledged_entry() {
    for n in (1..120).step_by(7) {
        for torn in [0usize, 3, 9, 21, 200] {
            let fs = MemFs::new();
            let dd = init(&fs);
            fs.set_fault(Fault::CrashAfterSync(n));
            let (acked, _) = append_until_failure(&dd);
            let crashed = fs.crash(torn);
            let size = check_survivors(&crashed, &acked);
            // Batch atomicity: the survivors end on a batch boundary of the
            // workload (batch i has i % 4 + 1 entries).
            let mut boundary = 0u64;
            let mut boundaries = vec![0u64];
            for i in 0..400u64 {
                boundary += i % 4 + 1;
                boundaries.push(boundary);
            }
            assert!(
                boundaries.contains(&size),
                "n={n} torn={torn}: {size} is inside a batch"
            );
        }
    }
}

/// Twelve writers append at once; eight send batches of 27–81 KB, so the
/// sequencer writes groups while earlier ones are being synced (it overlaps
/// them from 64 KiB queued), and four send small ones, which it syncs itself
/// when no sync is in progress. Returns what was acknowledged.
fn twelve_writers(log: &veritrail_store::Log) -> Vec<(u64, Hash)> {
    let acked = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for w in 0..12u64 {
            let acked = &acked;
            s.spawn(move || {
                for i in 0..40u64 {
                    let (count, pad) = if w % 3 != 0 {
                        ((i % 3 + 1) * 3, 9000)
                    } else {
                        (i % 3 + 1, 0)
                    };
                    let batch: Vec<Vec<u8>> = (0..count)
                        .map(|k| {
                            let mut e = entry(w * 100_000 + i * 10 + k);
                            e.truncate(e.len() - 1);
                            e.extend_from_slice(b",\"pad\":\"");
                            e.resize(e.len() + pad, b'x');
                            e.extend_from_slice(b"\"}");
                            e
                        })
                        .collect();
                    let Ok(r) = log.append(&batch) else { break };
                    acked.lock().unwrap().extend(acks(&r));
                }
            });
        }
    });
    acked.into_inner().unwrap()
}

/// The twelve writers on a fresh file system whose syncs take 1–3 ms, with
/// `fault` armed: the file system, the log and what was acknowledged.
fn twelve_writers_on(
    fault: Fault,
    config: &LogConfig,
) -> (MemFs, veritrail_store::Log, Vec<(u64, Hash)>) {
    let fs = MemFs::new();
    let dd = init(&fs);
    fs.set_fault(fault);
    fs.set_sync_delay(Duration::from_millis(1));
    let log = dd.open_log("default", config.clone()).unwrap();
    let acked = twelve_writers(&log);
    (fs, log, acked)
}

/// The configurations the sync pipeline is tested in: one sync in flight
/// and several, each with WAL segments of the default size and of 100 KiB
/// (roll-overs among groups in flight).
fn pipelines() -> Vec<LogConfig> {
    let mut out = Vec::new();
    for syncs_in_flight in [1, 4] {
        for wal_segment_bytes in [LogConfig::default().wal_segment_bytes, 100 << 10] {
            out.push(LogConfig {
                syncs_in_flight,
                wal_segment_bytes,
                ..cfg()
            });
        }
    }
    out
}

/// The twelve writers append while every sync takes 1–3 ms (so syncs in
/// progress at once end in any order), and the process crashes at one sync
/// after another. Guards the write/sync pipeline: a batch is acknowledged
/// only after a sync that began after its write (acknowledging the groups
/// written during a sync, or those a sync still in progress covers when a
/// later one ends, loses acknowledged entries here). That a roll-over syncs
/// the segment it closes is
/// `segment::tests::a_roll_over_syncs_the_segment_it_closes`.
#[test]
fn concurrent_writers_crashing_at_any_sync_lose_nothing() {
    for config in pipelines() {
        let mut most = 0;
        for n in (1..200).step_by(7) {
            let (fs, log, acked) = twelve_writers_on(Fault::CrashAfterSync(n), &config);
            drop(log);
            most = most.max(fs.most_concurrent_syncs());
            for torn in [0usize, 10, 5000] {
                check_survivors_with(&fs.crash(torn), &acked, config.clone());
            }
        }
        // The configuration did what it says: several syncs of the WAL were
        // in progress at once.
        if config.syncs_in_flight > 1 {
            assert!(most >= 2, "{config:?}: at most {most} sync in flight");
        }
    }
}

/// A sync fails while others of the same file are in progress: as Linux
/// does, the failure loses the bytes it was writing back (a crash keeps none
/// of them, whatever a later sync says) and is reported to every handle of
/// the file at its next sync. Guards that each sync in flight goes through a
/// handle of its own: through one shared handle only the first sync to look
/// is told, another then succeeds and acknowledges lost entries.
#[test]
fn a_sync_failing_among_several_in_flight_acknowledges_nothing_it_lost() {
    for config in pipelines() {
        for n in (2..120).step_by(9) {
            let (fs, log, acked) = twelve_writers_on(Fault::FailSync(n), &config);
            if fs.syncs() < n {
                // The workload took fewer syncs: so will it for a larger n.
                assert!(n > 30, "{config:?}: only {} syncs", fs.syncs());
                break;
            }
            assert!(
                log.poisoned().is_some(),
                "{config:?} n={n}: the failure must surface"
            );
            drop(log);
            fs.set_fault(Fault::None);
            for torn in [0usize, 5000] {
                check_survivors_with(&fs.crash(torn), &acked, config.clone());
            }
        }
    }
}

/// One integration of more than 2^18 leaves (the integrator's slice) is cut
/// short by a kill (every byte written survives, nothing more is synced) at
/// each of its syncs: hash level 0 may then hold leaves of a later slice
/// beyond the newest checkpoint. Recovery must take them for what they are.
/// Guards `reconcile`'s bound (it compared the stream with the slice, not
/// with the whole integration, and refused to open such a log: "stream holds
/// records beyond the durable log"; found by `bench/run.sh`'s recovery runs).
#[test]
fn a_kill_inside_a_large_integration_loses_nothing() {
    let config = LogConfig {
        checkpoint_interval: Duration::from_secs(3600),
        ..cfg()
    };
    let batch: Vec<Vec<u8>> = (0..300_000u64)
        .map(|i| i.to_string().into_bytes())
        .collect();
    for k in 1..12 {
        let fs = MemFs::new();
        let dd = init(&fs);
        let log = dd.open_log("default", config.clone()).unwrap();
        // Only the WAL sync of this append and k - 1 syncs of the
        // integration that follows succeed.
        fs.set_fault(Fault::CrashAfterSync(k));
        let r = log.append(&batch).unwrap();
        let acked: Vec<(u64, Hash)> = acks(&r).collect();
        drop(log);
        let killed = fs.crash(1 << 40);
        let size = check_survivors_with(&killed, &acked, config.clone());
        assert_eq!(size, 300_000, "k={k}");
    }
}

/// WAL segments of 2 KiB, so the workload rolls over every few appends.
fn small_wal_segments() -> LogConfig {
    LogConfig {
        wal_segment_bytes: 2048,
        ..cfg()
    }
}

/// A fresh data directory, `fault` armed, appends until the store fails.
fn faulted_run(fault: Fault, config: &LogConfig) -> (MemFs, Vec<(u64, Hash)>, Option<StoreError>) {
    let fs = MemFs::new();
    let dd = init(&fs);
    fs.set_fault(fault);
    let (acked, err) = append_until_failure_with(&dd, config.clone());
    (fs, acked, err)
}

/// Crash at every sync while WAL segments roll over every 2 KiB, so some
/// crashes land inside a segment's creation (the file exists, its header is
/// not durable yet), and crash again inside the recovery that follows (which
/// itself creates a segment after a torn tail). Guards: segments are created
/// under a temporary name and renamed once their header is durable, and
/// recovery removes such leftovers (without it a crash there made the log
/// refuse to open: "segment of 0 bytes is shorter than its header"); a
/// sealed segment that is last again after such a crash is not appended to.
#[test]
fn a_crash_while_a_segment_is_created_loses_nothing() {
    let config = small_wal_segments();
    for n in 1..160 {
        let (fs, acked, _) = faulted_run(Fault::CrashAfterSync(n), &config);
        for torn in [0usize, 10, 64] {
            for k in [0u64, 1, 2, 3] {
                let crashed = fs.crash(torn);
                let crashed = if k == 0 {
                    crashed
                } else {
                    // Recovery dies at its k-th sync; what it left is crashed again.
                    crashed.set_fault(Fault::CrashAfterSync(k));
                    if let Ok(dd) = DataDir::open(Arc::new(crashed.clone()), &root()) {
                        drop(dd.open_log("default", config.clone()));
                    }
                    crashed.crash(torn)
                };
                check_survivors_with(&crashed, &acked, config.clone());
            }
        }
    }
}

/// The disk fills up at every possible moment while WAL segments roll over
/// every 2 KiB, so some failures hit a segment's creation (its temporary
/// file exists, its header could not be written). After space is freed the
/// log reopens, in the same state (no crash) or after one, with every
/// acknowledged entry.
#[test]
fn a_full_disk_during_a_segment_roll_loses_nothing() {
    let config = small_wal_segments();
    for n in 1..120 {
        let (fs, acked, err) = faulted_run(Fault::FailWritesAfterSync(n), &config);
        assert!(err.is_some(), "n={n}: the full disk must surface");
        fs.set_fault(Fault::None);
        check_survivors_with(&fs.crash(0), &acked, config.clone());
        check_survivors_with(&fs, &acked, config.clone());
    }
}

/// A crash at any point of `create_log`: afterwards the log is either
/// absent from the list and can be created again (which finishes the
/// interrupted creation, keeping its key if the key was complete), or
/// complete — never half there, refusing to open. Guards: atomic key and
/// meta files, listing only logs with meta, resuming a creation.
#[test]
fn a_crash_while_a_log_is_created_leaves_it_absent_or_whole() {
    let mut outcomes = [0usize; 2];
    for n in 1..40 {
        for torn in [0usize, 5] {
            let fs = MemFs::new();
            let dd = init(&fs);
            fs.set_fault(Fault::CrashAfterSync(n));
            let created = dd.create_log("audit").is_ok();
            drop(dd);
            let crashed = fs.crash(torn);
            let dd = reopen(&crashed);
            let listed = dd.list_logs().unwrap().contains(&"audit".to_owned());
            if !listed {
                assert!(!created, "n={n}: a created log must be listed");
                let finished = match dd.open_log("audit", cfg()) {
                    // As the server does at start.
                    Err(StoreError::UnfinishedLog(_)) if torn == 0 => {
                        let done = dd.finish_unfinished_logs().unwrap();
                        assert_eq!(done, vec!["audit".to_owned()], "n={n}");
                        true
                    }
                    Err(StoreError::UnfinishedLog(_) | StoreError::NoSuchLog(_)) => false,
                    Err(e) => panic!("n={n}: an unfinished log must say so: {e}"),
                    Ok(_) => panic!("n={n}: an unlisted log opened"),
                };
                if !finished {
                    dd.create_log("audit")
                        .unwrap_or_else(|e| panic!("n={n} torn={torn}: creating again: {e}"));
                }
            }
            outcomes[usize::from(listed)] += 1;
            let log = dd
                .open_log("audit", cfg())
                .unwrap_or_else(|e| panic!("n={n} torn={torn}: opening: {e}"));
            assert_eq!(log.append(&[entry(1)]).unwrap().first_index, 0);
            drop(log);
            verify_log(&dd, "audit", &mut |_, _| {}).unwrap();
        }
    }
    assert!(
        outcomes[0] > 0 && outcomes[1] > 0,
        "crashes must land both inside and after the creation: {outcomes:?}"
    );
}

/// A crash at any point of `DataDir::init` (the server's first start runs
/// it): afterwards either the data directory opens with a usable `default`
/// log, or it does not open and `init` runs again on what is left. Guards:
/// the marker written last, and init accepting (only) the remains of an
/// interrupted init.
#[test]
fn a_crash_during_init_leaves_a_directory_that_init_or_open_completes() {
    let mut outcomes = [0usize; 2];
    for n in 1..30 {
        let fs = MemFs::new();
        fs.set_fault(Fault::CrashAfterSync(n));
        let _ = DataDir::init(Arc::new(fs.clone()), &root(), Some("test.example"));
        let crashed = fs.crash(3);
        let dd = match DataDir::open(Arc::new(crashed.clone()), &root()) {
            Ok(dd) => {
                outcomes[1] += 1;
                dd
            }
            Err(_) => {
                outcomes[0] += 1;
                DataDir::init(Arc::new(crashed.clone()), &root(), Some("test.example"))
                    .unwrap_or_else(|e| panic!("n={n}: init again: {e}"))
                    .0
            }
        };
        assert_eq!(dd.list_logs().unwrap(), vec!["default".to_owned()], "n={n}");
        let log = dd.open_log("default", cfg()).unwrap();
        assert_eq!(log.append(&[entry(1)]).unwrap().first_index, 0);
        drop(log);
        verify_log(&dd, "default", &mut |_, _| {}).unwrap();
    }
    assert!(outcomes[0] > 0 && outcomes[1] > 0, "{outcomes:?}");
}

/// Removing the meta file of a log that holds data is damage, not an
/// interrupted creation: the log stays listed, refuses to open, and is
/// never "finished" (which would write a new meta over the evidence).
#[test]
fn a_log_whose_meta_was_removed_is_corrupted_not_unfinished() {
    let fs = MemFs::new();
    let dd = init(&fs);
    dd.create_log("audit").unwrap();
    let log = dd.open_log("audit", cfg()).unwrap();
    log.append(&[entry(1), entry(2)]).unwrap();
    drop(log);
    fs.remove_raw(&root().join("logs/audit/meta"));
    let dd = reopen(&fs);
    assert!(dd.list_logs().unwrap().contains(&"audit".to_owned()));
    let corrupted = |r: Result<(), StoreError>, what: &str| match r {
        Err(StoreError::Corrupted { reason, .. }) => {
            assert!(reason.contains("meta is missing"), "{what}: {reason}");
        }
        other => panic!("{what}: expected Corrupted, got {other:?}"),
    };
    corrupted(dd.open_log("audit", cfg()).map(drop), "open");
    corrupted(dd.create_log("audit").map(drop), "create again");
    corrupted(dd.finish_unfinished_logs().map(drop), "finish");
    assert!(fs.contents(&root().join("logs/audit/meta")).is_none());
}

/// A temporary segment file next to a log (what a crash during a segment's
/// creation leaves): `verify` passes and names it, recovery removes it.
#[test]
fn verify_reports_an_interrupted_segment_creation_and_recovery_removes_it() {
    use veritrail_store::Vfs as _;
    let fs = MemFs::new();
    let dd = init(&fs);
    let log = dd.open_log("default", cfg()).unwrap();
    log.append(&[entry(1), entry(2)]).unwrap();
    drop(log);
    let tmp = root().join("logs/default/wal/00000000000000000002.seg.tmp");
    drop(fs.create_new(&tmp, 0o644).unwrap());
    let report = verify_log(&reopen(&fs), "default", &mut |_, _| {}).unwrap();
    assert_eq!(report.interrupted, vec![tmp.clone()]);
    assert_eq!(report.entries, 2);
    drop(reopen(&fs).open_log("default", cfg()).unwrap());
    assert!(fs.contents(&tmp).is_none(), "recovery removes the leftover");
    let report = verify_log(&reopen(&fs), "default", &mut |_, _| {}).unwrap();
    assert!(report.interrupted.is_empty());
}

#[test]
fn recovery_rejects_a_bad_record_followed_by_good_data() {
    let fs = MemFs::new();
    let dd = init(&fs);
    let log = dd.open_log("default", cfg()).unwrap();
    for i in 0..50 {
        log.append(&[entry(i)]).unwrap();
    }
    drop(log);
    // Flip a byte in the middle of the checkpointed WAL.
    let seg = root().join("logs/default/wal/00000000000000000000.seg");
    fs.tamper(&seg, 64 + 8 + 5, b"#");
    let e = match reopen(&fs).open_log("default", cfg()) {
        Err(e) => e,
        Ok(_) => panic!("tampered log opened"),
    };
    assert!(matches!(e, StoreError::Corrupted { .. }), "{e}");
    let e = verify_log(&reopen(&fs), "default", &mut |_, _| {}).unwrap_err();
    assert!(e.to_string().contains("entry 0"), "{e}");
}

#[test]
fn batch_prover_matches_single_proofs_at_every_size() {
    let fs = MemFs::new();
    let dd = init(&fs);
    let log = dd.open_log("default", cfg()).unwrap();
    let n = 70_000u64; // > 256² so level stream 2 is used as well as 0 and 1
    let batch: Vec<Vec<u8>> = (0..n).map(entry).collect();
    log.append(&batch).unwrap();
    log.wait_for_checkpoint(n, Duration::from_secs(10)).unwrap();
    let mut model = MemoryTree::new();
    batch.iter().for_each(|e| model.push(leaf_hash(e)));
    for size in [1, 2, 255, 256, 257, 65_535, 65_536, 65_537, n] {
        let prover = log.batch_prover(size).unwrap();
        let picks: Vec<u64> = (0..size)
            .step_by((size as usize / 500).max(1))
            .chain([size - 1])
            .collect();
        for i in picks {
            let p = prover.prove(i).unwrap();
            assert_eq!(
                p,
                log.prove_inclusion(i, size).unwrap(),
                "index {i} size {size}"
            );
            verify_inclusion(
                &leaf_hash(&batch[i as usize]),
                LeafIndex(i),
                TreeSize(size),
                &p,
                &model_root(&model, size),
            )
            .unwrap();
        }
        assert!(prover.prove(size).is_err());
    }
    assert!(log.batch_prover(n + 1).is_err());
}

/// Entries the integrator has not hashed yet (hash/0 ends before them) are
/// protected by their record checksums alone; verify must still check those.
#[test]
fn verify_checks_entries_that_hash_levels_do_not_cover_yet() {
    let fs = MemFs::new();
    let dd = init(&fs);
    let slow = LogConfig {
        checkpoint_interval: Duration::from_secs(3600),
        ..cfg()
    };
    let log = dd.open_log("default", slow).unwrap();
    for i in 0..30 {
        log.append(&[entry(i)]).unwrap();
    }
    // The process dies before the integrator ran: only the WAL is durable.
    let crashed = fs.crash(0);
    drop(log);
    let hash0 = root().join("logs/default/hash/0/00000000000000000000.seg");
    assert!(
        crashed.contents(&hash0).map_or(0, |b| b.len()) <= 64,
        "the integrator ran; this test needs entries beyond hash/0"
    );
    verify_log(&reopen(&crashed), "default", &mut |_, _| {}).unwrap();
    let at: usize = 64 + (0..10).map(|i| 8 + entry(i).len()).sum::<usize>();
    let seg = root().join("logs/default/wal/00000000000000000000.seg");
    crashed.tamper(&seg, at + 8 + 3, b"#");
    let e = verify_log(&reopen(&crashed), "default", &mut |_, _| {}).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("entry 10: record checksum mismatch"), "{msg}");
}

/// A batch that was never finished (unhashed entries, no END_OF_BATCH) is
/// refused before it reaches the WAL, and the log carries on.
#[test]
fn an_unfinished_batch_is_refused_and_changes_nothing() {
    let fs = MemFs::new();
    let dd = init(&fs);
    let log = dd.open_log("default", cfg()).unwrap();
    let mut b = veritrail_store::PreparedBatch::builder(1, 64);
    b.push_with(|out| {
        out.extend_from_slice(&entry(0));
        Ok::<(), ()>(())
    })
    .unwrap()
    .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    log.append_prepared(b, move |r| tx.send(r).unwrap());
    let r = rx.recv().unwrap();
    assert!(matches!(r, Err(StoreError::BadBatch(_))), "{r:?}");
    let ok = log.append(&[entry(1)]).unwrap();
    assert_eq!(ok.first_index, 0, "the refused batch took an index");
    drop(log);
    verify_log(&reopen(&fs), "default", &mut |_, _| {}).unwrap();
}

fn only_seg(fs: &MemFs, dir: &str) -> PathBuf {
    let d = root().join("logs/default").join(dir);
    let mut v: Vec<String> = fs_list(fs, &d)
        .into_iter()
        .filter(|n| n.ends_with(".seg"))
        .collect();
    v.sort();
    d.join(v.pop().unwrap())
}

/// A log that crashed (opened, written, never closed), with `tail` appended
/// to the end of `stream`'s live segment as the crash left it.
fn crashed_with(stream: &str, tail: &[u8]) -> MemFs {
    let fs = MemFs::new();
    let dd = init(&fs);
    let log = dd.open_log("default", cfg()).unwrap();
    let batch: Vec<Vec<u8>> = (0..10).map(entry).collect();
    log.append(&batch).unwrap();
    log.wait_for_checkpoint(10, Duration::from_secs(5)).unwrap();
    let crashed = fs.crash(0);
    drop(log);
    crashed.append_raw(&only_seg(&crashed, stream), tail);
    crashed
}

/// Issue 18.3: recovery drops only what a crash leaves — a record cut
/// short, or bytes never written (zeros) — and copies it to a quarantine
/// file first; a complete record that fails its checksum is damage and the
/// log refuses to open.
#[test]
fn recovery_discards_only_what_a_crash_leaves_and_quarantines_it() {
    let mut rec = Vec::new();
    veritrail_store::wal::encode_record(&entry(99), true, &mut rec);
    let mut cut_end = rec.clone();
    let n = cut_end.len();
    cut_end[n - 10..].fill(0);
    let mut bad_crc = rec.clone();
    bad_crc[5] ^= 1;
    let mut then_more = rec[..rec.len() - 3].to_vec();
    then_more.extend_from_slice(&[0; 40]);
    then_more.push(b'x');
    let note = b"test.example/default\n11\nAAAA\n\n\xe2\x80\x94 sig\n";
    let mut cp = veritrail_store::checkpoints::encode(note);
    let mut cp_bad = cp.clone();
    cp_bad[20] ^= 1;
    cp.truncate(cp.len() - 7);
    type Case<'a> = (&'a str, &'a str, Vec<u8>, bool);
    let cases: Vec<Case<'_>> = vec![
        (
            "a WAL record cut short",
            "wal",
            rec[..rec.len() - 7].to_vec(),
            true,
        ),
        ("a WAL header cut short", "wal", rec[..5].to_vec(), true),
        ("zeros after the WAL", "wal", vec![0; 700], true),
        (
            "a WAL record whose end was never written",
            "wal",
            cut_end,
            true,
        ),
        (
            "a complete WAL record with a bad checksum",
            "wal",
            bad_crc,
            false,
        ),
        (
            "a cut WAL record followed by more data",
            "wal",
            then_more,
            false,
        ),
        ("a checkpoint record cut short", "checkpoints", cp, true),
        (
            "a complete checkpoint record with a bad checksum",
            "checkpoints",
            cp_bad,
            false,
        ),
        ("a hash record cut short", "hash/0", vec![7; 20], true),
        ("zeros after hash/0", "hash/0", vec![0; 96], true),
        (
            "a complete hash record that is not the tree's",
            "hash/0",
            vec![7; 32],
            false,
        ),
    ];
    for (what, stream, tail, recovers) in cases {
        let fs = crashed_with(stream, &tail);
        let seg = only_seg(&fs, stream);
        match reopen(&fs).open_log("default", cfg()) {
            Ok(log) => {
                assert!(recovers, "{what}: opened, but it is damage");
                let d = log.discarded();
                assert_eq!(d.len(), 1, "{what}: {d:?}");
                assert_eq!(
                    (d[0].file.clone(), d[0].length),
                    (seg.clone(), tail.len() as u64),
                    "{what}"
                );
                assert_eq!(
                    fs.contents(&d[0].quarantine).unwrap(),
                    tail,
                    "{what}: the quarantine copy"
                );
                assert_eq!(d[0].sha256, Hash(veritrail_core::hash::sha256(&[&tail])));
                assert_eq!(log.durable_size(), 10, "{what}: no acknowledged entry lost");
                log.close();
                let r = verify_log(&reopen(&fs), "default", &mut |_, _| {}).unwrap();
                assert_eq!(r.quarantined, vec![d[0].quarantine.clone()], "{what}");
            }
            Err(e) => {
                assert!(!recovers, "{what}: refused: {e}");
                assert!(
                    matches!(&e, StoreError::Corrupted { file, .. } if *file == seg),
                    "{what}: {e}"
                );
                // Refusing changed nothing: it refuses again.
                assert!(reopen(&fs).open_log("default", cfg()).is_err(), "{what}");
            }
        }
    }
}

/// Issue 18.5: after a clean close, nothing may be torn and nothing may be
/// missing — a tail added or the newest checkpoint record removed is
/// refused at open and found by verify, where a crash would be recovered.
#[test]
fn a_log_changed_after_its_clean_close_is_refused() {
    let mut rec = Vec::new();
    veritrail_store::wal::encode_record(&entry(99), true, &mut rec);
    let fixture = || {
        let fs = MemFs::new();
        let dd = init(&fs);
        let log = dd.open_log("default", cfg()).unwrap();
        for k in 0..3 {
            log.append(&[entry(k)]).unwrap();
            log.wait_for_checkpoint(k + 1, Duration::from_secs(5))
                .unwrap();
        }
        log.close();
        fs
    };
    // A torn-looking WAL tail after the close.
    let fs = fixture();
    fs.append_raw(&only_seg(&fs, "wal"), &rec[..rec.len() - 7]);
    let Err(e) = reopen(&fs).open_log("default", cfg()) else {
        panic!("opened a log changed after its clean close")
    };
    assert!(e.to_string().contains("closed cleanly"), "{e}");
    // The newest checkpoint record removed whole.
    let fs = fixture();
    let cps = only_seg(&fs, "checkpoints");
    let bytes = fs.contents(&cps).unwrap();
    let n = u32::from_le_bytes(bytes[bytes.len() - 4..].try_into().unwrap()) as usize;
    let cut = bytes[..bytes.len() - (12 + n)].to_vec();
    // Rewrite the file shorter (a tamperer with root can).
    fs.append_raw_new(&cps, &cut);
    let Err(e) = reopen(&fs).open_log("default", cfg()) else {
        panic!("opened a log changed after its clean close")
    };
    assert!(e.to_string().contains("closed cleanly"), "{e}");
    let e = verify_log(&reopen(&fs), "default", &mut |_, _| {}).unwrap_err();
    assert!(e.to_string().contains("removed"), "{e}");
}

#[test]
fn a_checkpoint_asked_for_ahead_covers_the_next_entries_and_deliveries_carry_leaf_hashes() {
    let fs = MemFs::new();
    let dd = init(&fs);
    let slow = LogConfig {
        checkpoint_interval: Duration::from_secs(3600),
        min_checkpoint_interval: Duration::from_millis(1),
        ..LogConfig::default()
    };
    let log = dd.open_log("default", slow).unwrap();
    let mut sub = log.reader().subscribe(0);
    // Asked before anything waits: the request holds until the entries come.
    log.ask_for_checkpoint();
    log.append(&[entry(0), entry(1)]).unwrap();
    let d = sub
        .next(Duration::from_secs(10))
        .unwrap()
        .expect("checkpointed at once");
    assert_eq!((d.first, d.len()), (0, 2));
    for (_, e, h) in d.iter() {
        assert_eq!(*h, leaf_hash(e));
    }
    // Not asked: the next entry waits for the (hour-long) interval.
    log.append(&[entry(2)]).unwrap();
    assert!(sub.next(Duration::from_millis(300)).unwrap().is_none());
    log.ask_for_checkpoint();
    let d = sub.next(Duration::from_secs(10)).unwrap().expect("asked");
    let leaves: Vec<Hash> = d.iter().map(|(_, _, h)| *h).collect();
    assert_eq!((d.first, leaves), (2, vec![leaf_hash(&entry(2))]));
    log.close();
}

/// A durable subscription takes entries once they are acknowledged, before
/// any checkpoint covers them; without memory to take them from, or for
/// entries memory no longer holds, it waits for the checkpoint as any
/// subscription does; entries recovered at open come at once.
#[test]
fn a_durable_subscription_does_not_wait_for_the_checkpoint() {
    let hour = |recent_bytes| LogConfig {
        checkpoint_interval: Duration::from_secs(3600),
        min_checkpoint_interval: Duration::from_millis(1),
        recent_bytes,
        ..LogConfig::default()
    };
    let fs = MemFs::new();
    let dd = init(&fs);
    let log = dd.open_log("default", hour(64 << 20)).unwrap();
    let mut live = log.reader().subscribe(0).durable();
    let mut proved = log.reader().subscribe(0);
    log.append(&[entry(0), entry(1)]).unwrap();
    let d = live
        .next(Duration::from_secs(10))
        .unwrap()
        .expect("durable, not yet checkpointed");
    assert_eq!((d.first, d.len(), d.checkpoint.size), (0, 2, 0));
    let got: Vec<(u64, Vec<u8>, Hash)> = d.iter().map(|(i, e, h)| (i, e.to_vec(), *h)).collect();
    assert_eq!(
        got,
        vec![
            (0, entry(0), leaf_hash(&entry(0))),
            (1, entry(1), leaf_hash(&entry(1)))
        ]
    );
    // Nothing more: it waits (and times out) without delivering twice.
    assert!(live.next(Duration::from_millis(100)).unwrap().is_none());
    // The ordinary subscription still waits for the checkpoint.
    assert!(proved.next(Duration::from_millis(100)).unwrap().is_none());
    // A writer while it waits wakes it.
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(50));
            log.append(&[entry(2)]).unwrap();
        });
        let d = live.next(Duration::from_secs(10)).unwrap().expect("woken");
        assert_eq!((d.first, d.len()), (2, 1));
    });
    log.close();

    // Reopened: recovery checkpointed all three; a durable subscription
    // from 0 reads them back at once.
    let dd = reopen(&fs);
    let log = dd.open_log("default", hour(64 << 20)).unwrap();
    let mut again = log.reader().subscribe(0).durable();
    let d = again
        .next(Duration::from_secs(10))
        .unwrap()
        .expect("recovered");
    assert_eq!((d.first, d.len()), (0, 3));
    log.close();

    // No memory kept: a durable subscription is an ordinary one.
    let dd = reopen(&fs);
    let log = dd.open_log("default", hour(0)).unwrap();
    let mut none = log.reader().subscribe(3).durable();
    log.append(&[entry(3)]).unwrap();
    assert!(none.next(Duration::from_millis(100)).unwrap().is_none());
    log.ask_for_checkpoint();
    let d = none
        .next(Duration::from_secs(10))
        .unwrap()
        .expect("checkpointed");
    assert_eq!((d.first, d.len()), (3, 1));
    log.close();
}

/// A durable subscription behind what memory still holds reads those
/// entries back (once published) and takes the rest from memory: the
/// same entries, leaf hashes and order as an ordinary subscription.
#[test]
fn a_durable_subscription_behind_memory_reads_back_the_same_entries() {
    let fs = MemFs::new();
    let log = log_keeping(&fs, 40_000);
    let mut next = 0;
    for b in 0..200u64 {
        let batch: Vec<Vec<u8>> = (0..(b % 23 + 1)).map(|k| entry(next + k)).collect();
        next += batch.len() as u64;
        log.append(&batch).unwrap();
    }
    let want: Vec<(u64, Vec<u8>, Hash)> = (0..next)
        .map(|i| (i, entry(i), leaf_hash(&entry(i))))
        .collect();
    // From 0 at once: the oldest entries are no longer in memory and wait
    // for their checkpoint (20 ms here); the newest come from memory.
    let mut sub = log.reader().subscribe(0).with_chunk(1000).durable();
    let mut got = Vec::new();
    while sub.position() < next {
        let d = sub
            .next(Duration::from_secs(10))
            .unwrap()
            .expect("held or published");
        got.extend(d.iter().map(|(i, e, h)| (i, e.to_vec(), *h)));
    }
    assert_eq!(got, want);
    log.close();
}

/// Everything a subscription delivered, as (index, entry, leaf hash).
fn follow_all(log: &veritrail_store::Log, from: u64, chunk: u64) -> Vec<(u64, Vec<u8>, Hash)> {
    let size = log.published().size;
    let mut sub = log.reader().subscribe(from).with_chunk(chunk);
    let mut out = Vec::new();
    while sub.position() < size {
        let d = sub
            .next(Duration::from_secs(10))
            .unwrap()
            .expect("published");
        assert_eq!(d.first + d.len() as u64, d.end());
        out.extend(d.iter().map(|(i, e, h)| (i, e.to_vec(), *h)));
    }
    out
}

/// A log of the test data directory that keeps `recent_bytes` of its
/// newest entries in memory.
fn log_keeping(fs: &MemFs, recent_bytes: usize) -> veritrail_store::Log {
    init(fs)
        .open_log(
            "default",
            LogConfig {
                recent_bytes,
                ..cfg()
            },
        )
        .unwrap()
}

/// Followers get the same entries and leaf hashes whether the log still
/// holds them in memory, holds only the newest, or none (read back from
/// the WAL), in any chunking and from any start; a delivery that begins
/// before what memory holds is read back whole.
#[test]
fn deliveries_from_memory_and_from_disk_are_the_same() {
    let mut want = Vec::new();
    for recent_bytes in [0, 40_000, 64 << 20] {
        let fs = MemFs::new();
        let log = log_keeping(&fs, recent_bytes);
        let mut next = 0;
        for b in 0..200u64 {
            let batch: Vec<Vec<u8>> = (0..(b % 23 + 1)).map(|k| entry(next + k)).collect();
            next += batch.len() as u64;
            log.append(&batch).unwrap();
        }
        log.wait_published(next, Duration::from_secs(10)).unwrap();
        if want.is_empty() {
            want = (0..next)
                .map(|i| (i, entry(i), leaf_hash(&entry(i))))
                .collect();
        }
        for (from, chunk) in [(0, 1), (0, 97), (1000, 20_000), (next - 5, 3)] {
            let got = follow_all(&log, from, chunk);
            assert_eq!(
                got,
                want[from as usize..],
                "recent_bytes {recent_bytes}, from {from}, chunk {chunk}"
            );
        }
        log.close();
    }
}

/// Read back from the WAL (nothing held in memory), an entry whose bytes
/// changed fails: with its record checksum left as it was, as a damaged
/// record (file and offset); with the checksum recomputed, as a changed
/// entry that only the tree could tell. A follower close behind is handed
/// the bytes that were logged and hashed, from memory, whatever the disk
/// now holds (`verify` and every read back still find the change).
#[test]
fn a_changed_entry_read_back_is_corrupted_or_mismatched() {
    for (recompute, recent_bytes) in [(false, 0), (true, 0), (true, 64 << 20)] {
        let fs = MemFs::new();
        let log = log_keeping(&fs, recent_bytes);
        let batch: Vec<Vec<u8>> = (0..10).map(entry).collect();
        log.append(&batch).unwrap();
        log.wait_published(10, Duration::from_secs(10)).unwrap();
        let seg = root().join("logs/default/wal/00000000000000000000.seg");
        let bytes = fs.contents(&seg).unwrap();
        let text = entry(6);
        let at = bytes.windows(text.len()).position(|w| w == text).unwrap();
        fs.tamper(&seg, at + text.len() - 2, b"9");
        if recompute {
            let start = at - 8;
            let mut changed = entry(6);
            let n = changed.len();
            changed[n - 2] = b'9';
            let crc = crc32c::crc32c_append(crc32c::crc32c(&bytes[start..start + 4]), &changed);
            fs.tamper(&seg, start + 4, &crc.to_le_bytes());
        }
        if recent_bytes > 0 {
            let d = log
                .reader()
                .subscribe(0)
                .next(Duration::from_secs(10))
                .unwrap()
                .unwrap();
            let got: Vec<Vec<u8>> = d.entries().map(<[u8]>::to_vec).collect();
            assert_eq!(got, batch, "memory holds what was logged");
            assert!(matches!(
                log.entries(6, 1),
                Err(StoreError::EntryMismatch { .. })
            ));
            log.close();
            continue;
        }
        let e = follow(&log);
        match (recompute, &e) {
            (false, StoreError::Corrupted { offset, .. }) => assert_eq!(*offset, (at - 8) as u64),
            (true, StoreError::EntryMismatch { index, .. }) => assert_eq!(*index, 6),
            _ => panic!("recompute {recompute}: {e}"),
        }
        // Entries before it still read.
        assert_eq!(log.entries(0, 6).unwrap(), batch[..6]);
        log.close();
    }

    fn follow(log: &veritrail_store::Log) -> StoreError {
        log.reader()
            .subscribe(0)
            .next(Duration::from_secs(10))
            .unwrap_err()
    }
}

#[test]
fn checkpoints_every_step_come_from_the_history_in_order() {
    let fs = MemFs::new();
    let dd = init(&fs);
    let log = dd.open_log("default", cfg()).unwrap();
    // A checkpoint at every 100 entries, 100 … 3,000.
    for b in 0..30u64 {
        let batch: Vec<Vec<u8>> = (0..100).map(|k| entry(b * 100 + k)).collect();
        log.append(&batch).unwrap();
        log.wait_for_checkpoint((b + 1) * 100, Duration::from_secs(10))
            .unwrap();
    }
    let r = log.reader();
    let sizes = |after, step| -> Vec<u64> {
        r.checkpoints_every(after, step)
            .unwrap()
            .iter()
            .map(|(s, note)| {
                // The note is the log's own checkpoint of that size.
                assert_eq!(r.checkpoint_at(*s).unwrap().as_deref(), Some(&note[..]));
                *s
            })
            .collect()
    };
    assert_eq!(sizes(250, 1000), vec![1300, 2300]);
    assert_eq!(sizes(0, 1), (1..=30).map(|k| k * 100).collect::<Vec<_>>());
    assert_eq!(sizes(0, 5000), Vec::<u64>::new());
    assert_eq!(sizes(3000, 1), Vec::<u64>::new());
}

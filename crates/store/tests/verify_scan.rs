//! Full verification on the real file system of a WAL several read windows
//! long, with records of every size cut by the windows' ends: read from the
//! page cache and, after the cache is dropped for the files, straight from
//! the device. Damage past the first window is found and named in both.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use veritrail_store::verify::verify_log;
use veritrail_store::{DataDir, LogConfig, RealFs};

/// Entry sizes cycle through these (the largest is the largest entry), so
/// records of every size straddle the window boundaries.
const SIZES: [usize; 7] = [65_535, 300, 17, 40_000, 1, 9_999, 65_000];
const ENTRIES: usize = 1_200;

fn entry(i: usize) -> Vec<u8> {
    let len = SIZES[i % SIZES.len()];
    (0..len).map(|k| b'a' + ((i * 7 + k) % 26) as u8).collect()
}

/// Offset of each entry's payload in the (single) WAL segment, for entries
/// `0..=n`: a 64-byte header, then per record an 8-byte header and the
/// payload.
fn payload_offsets(n: usize) -> Vec<u64> {
    let mut at = 64;
    let mut out = Vec::with_capacity(n + 1);
    for j in 0..=n {
        out.push(at + 8);
        at += 8 + entry(j).len() as u64;
    }
    out
}

fn wal_segment(data: &Path) -> PathBuf {
    let dir = data.join("logs/default/wal");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(v.len(), 1, "one WAL segment expected");
    v.pop().unwrap()
}

/// Drops the page cache of every file under `dir` (no root needed).
fn uncache(dir: &Path) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            uncache(&p);
        } else {
            let f = std::fs::File::open(&p).unwrap();
            f.sync_all().unwrap();
            rustix::fs::fadvise(&f, 0, None, rustix::fs::Advice::DontNeed).unwrap();
        }
    }
}

fn verify(data: &Path) -> Result<(u64, String), String> {
    let dd = DataDir::open(Arc::new(RealFs), data).unwrap();
    verify_log(&dd, "default", &mut |_, _| {})
        .map(|r| (r.entries, format!("{:?}", r.checkpoint_root)))
        .map_err(|e| e.to_string())
}

#[test]
fn verify_reads_many_windows_cached_and_direct_and_finds_damage_past_the_first() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("orig");
    let dd = DataDir::init(Arc::new(RealFs), &data, Some("scan.example"))
        .unwrap()
        .0;
    let log = dd.open_log("default", LogConfig::default()).unwrap();
    for start in (0..ENTRIES).step_by(50) {
        let batch: Vec<Vec<u8>> = (start..(start + 50).min(ENTRIES)).map(entry).collect();
        log.append(&batch).unwrap();
    }
    log.close();
    let wal = wal_segment(&data);
    let len = std::fs::metadata(&wal).unwrap().len();
    let off = payload_offsets(ENTRIES);
    let payload_offset = |i: usize| off[i];
    assert_eq!(len, payload_offset(ENTRIES) - 8, "layout as computed");
    assert!(len > 7 * (4 << 20), "several windows: {len} bytes");

    let cached = verify(&data).unwrap();
    assert_eq!(cached.0, ENTRIES as u64);
    uncache(&data);
    assert_eq!(verify(&data).unwrap(), cached, "direct reads verify alike");

    // Entries whose payload or header straddles a window's end (the
    // verifier reads 4 MiB windows; every multiple of 4 MiB is cut), and one
    // well inside the last window.
    let window = 4u64 << 20;
    let mut targets = Vec::new();
    for w in 1..=6u64 {
        let cutting = (0..ENTRIES)
            .find(|&i| payload_offset(i + 1) - 8 > w * window)
            .unwrap();
        targets.push((cutting, payload_offset(cutting) + 3));
        targets.push((cutting, payload_offset(cutting) - 8)); // its header
    }
    targets.push((ENTRIES - 3, payload_offset(ENTRIES - 3) + 1));
    for (k, (i, at)) in targets.into_iter().enumerate() {
        let copy = tmp.path().join(format!("copy{k}"));
        let st = Command::new("cp").arg("-r").arg(&data).arg(&copy).status();
        assert!(st.unwrap().success());
        let seg = wal_segment(&copy);
        let mut b = std::fs::read(&seg).unwrap();
        b[at as usize] ^= 0x01;
        std::fs::write(&seg, b).unwrap();
        // The record's offset and its index are named.
        let want = format!("at byte offset {}: entry {i}:", payload_offset(i) - 8);
        for cold in [false, true] {
            if cold {
                uncache(&copy);
            }
            let e = verify(&copy).expect_err("damaged WAL must not verify");
            assert!(
                e.contains(&want),
                "byte {at} flipped (entry {i}, cold {cold}): {e}"
            );
        }
    }
}

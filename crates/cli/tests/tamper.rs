//! Tampering with any stored byte is detected by `veritrail verify`, which
//! exits 1 and names the place: one flipped byte in each kind of file, a cut
//! tail, two swapped entries. And the kernel flags really stop root.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

use common::run_on as run;

/// A data directory with 600 fixed-size events (two level-1 hashes).
fn fixture(root: &Path) -> PathBuf {
    let data = root.join("orig");
    assert_eq!(run(&["init"], &data, None).0, 0);
    let events: String = (0..600)
        .map(|i| format!("{{\"action\":\"user.login\",\"actor\":\"user-{i:05}\",\"message\":\"fixed size\"}}\n"))
        .collect();
    let (code, out) = run(&["append"], &data, Some(&events));
    assert_eq!(code, 0, "{out}");
    let (code, out) = run(&["verify"], &data, None);
    assert_eq!(code, 0, "{out}");
    data
}

/// A flag-free copy of the fixture to damage.
fn copy(src: &Path, root: &Path, name: &str) -> PathBuf {
    let dst = root.join(name);
    common::copy_dir(src, &dst);
    dst
}

fn seg(data: &Path, stream: &str) -> PathBuf {
    let dir = data.join("logs/default").join(stream);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v.pop().unwrap()
}

/// Removes the last `n` bytes of a file.
fn cut(path: &Path, n: u64) {
    let len = std::fs::metadata(path).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len - n)
        .unwrap();
}

fn flip(path: &Path, offset: usize) {
    let mut b = std::fs::read(path).unwrap();
    b[offset] ^= 0x20;
    std::fs::write(path, b).unwrap();
}

#[test]
fn any_flipped_byte_cut_tail_or_swap_fails_verify_naming_the_place() {
    let tmp = tempfile::tempdir().unwrap();
    let orig = fixture(tmp.path());
    type Damage = Box<dyn Fn(&Path)>;
    let cases: Vec<(&str, &str, Damage, &str)> = vec![
        (
            "entry bytes",
            "wal",
            Box::new(|p: &Path| flip(p, 64 + 8 + 10)),
            "entry 0",
        ),
        (
            "a record checksum (the entry bytes untouched)",
            "wal",
            Box::new(|p: &Path| flip(p, 64 + 4)),
            "entry 0: record checksum mismatch",
        ),
        (
            "the END_OF_BATCH flag of a record inside a batch",
            "wal",
            Box::new(|p: &Path| {
                let mut b = std::fs::read(p).unwrap();
                let w = u32::from_le_bytes(b[64..68].try_into().unwrap()) & 0x7fff_ffff;
                let rec = 8 + w as usize;
                b[64 + 5 * rec + 3] ^= 0x80;
                std::fs::write(p, b).unwrap();
            }),
            "entry 5: record checksum mismatch",
        ),
        (
            "an entry in the middle",
            "wal",
            Box::new(|p: &Path| {
                let len = std::fs::metadata(p).unwrap().len() as usize;
                flip(p, len / 2);
            }),
            "entry ",
        ),
        (
            "a leaf hash",
            "hash/0",
            Box::new(|p: &Path| flip(p, 64 + 32 * 77 + 3)),
            "entry 77",
        ),
        (
            "a level-1 hash",
            "hash/1",
            Box::new(|p: &Path| flip(p, 64 + 32 + 1)),
            "hash level 1 record 1",
        ),
        (
            "an index record",
            "index",
            Box::new(|p: &Path| flip(p, 64 + 8 + 1)),
            "index record 1",
        ),
        (
            "the newest checkpoint",
            "checkpoints",
            Box::new(|p: &Path| {
                let len = std::fs::metadata(p).unwrap().len() as usize;
                flip(p, len - 30);
            }),
            "checkpoints",
        ),
        (
            "the first checkpoint",
            "checkpoints",
            Box::new(|p: &Path| flip(p, 64 + 8 + 2)),
            "checkpoints",
        ),
        (
            "a segment header",
            "wal",
            Box::new(|p: &Path| flip(p, 9)),
            "segment header",
        ),
        (
            "the WAL tail (cut)",
            "wal",
            Box::new(|p: &Path| cut(p, 500)),
            "runs past the end",
        ),
        (
            "the hash/0 tail (cut)",
            "hash/0",
            Box::new(|p: &Path| cut(p, 64)),
            "hash/0",
        ),
        (
            "the hash/1 tail (cut)",
            "hash/1",
            Box::new(|p: &Path| cut(p, 32)),
            "hash level 1",
        ),
        (
            "the hash/1 segment (removed)",
            "hash/1",
            Box::new(|p: &Path| std::fs::remove_file(p).unwrap()),
            "hash level 1",
        ),
        (
            "the index tail (cut)",
            "index",
            Box::new(|p: &Path| cut(p, 8)),
            "index holds",
        ),
        (
            "the checkpoint history (emptied)",
            "checkpoints",
            Box::new(|p: &Path| {
                let len = std::fs::metadata(p).unwrap().len();
                cut(p, len - 64);
            }),
            "checkpoint history is empty",
        ),
        (
            "two swapped entries",
            "wal",
            Box::new(|p: &Path| {
                // All records have the same length: swap records 3 and 4.
                let mut b = std::fs::read(p).unwrap();
                let rec = {
                    let w = u32::from_le_bytes(b[64..68].try_into().unwrap()) & 0x7fff_ffff;
                    8 + w as usize
                };
                let a = 64 + 3 * rec;
                let tmp: Vec<u8> = b[a..a + rec].to_vec();
                b.copy_within(a + rec..a + 2 * rec, a);
                b[a + rec..a + 2 * rec].copy_from_slice(&tmp);
                std::fs::write(p, b).unwrap();
            }),
            "entry 3",
        ),
    ];
    for (i, (what, stream, damage, expect)) in cases.iter().enumerate() {
        let d = copy(&orig, tmp.path(), &format!("case{i}"));
        damage(&seg(&d, stream));
        let (code, out) = run(&["verify"], &d, None);
        assert_eq!(
            code, 1,
            "tampering with {what} must fail verify with exit 1, got {code}: {out}"
        );
        assert!(
            out.contains(expect),
            "verify output for {what} should name {expect:?}: {out}"
        );
    }
}

fn flags_supported(path: &Path) -> bool {
    let out = Command::new("lsattr").arg("-d").arg(path).output();
    matches!(out, Ok(o) if o.status.success() && String::from_utf8_lossy(&o.stdout).split(' ').next().is_some_and(|f| f.contains('a') || f.contains('i')))
}

#[test]
fn immutable_and_append_only_files_resist_even_root() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    assert_eq!(run(&["init"], &data, None).0, 0);
    let meta = data.join("logs/default/meta");
    let live = seg(&data, "wal");
    if !flags_supported(&meta) {
        eprintln!("SKIP: chattr flags are not available here (not root, or no support in this file system)");
        return;
    }
    // meta is +i: no write, no append, no delete, no rename.
    assert!(
        std::fs::OpenOptions::new().write(true).open(&meta).is_err(),
        "+i file opened for writing"
    );
    assert!(
        std::fs::OpenOptions::new()
            .append(true)
            .open(&meta)
            .is_err(),
        "+i file opened for appending"
    );
    assert!(std::fs::remove_file(&meta).is_err(), "+i file deleted");
    assert!(
        std::fs::rename(&meta, data.join("x")).is_err(),
        "+i file renamed"
    );
    // The live WAL segment is +a: appending works, rewriting and truncating do not.
    assert!(
        std::fs::OpenOptions::new().write(true).open(&live).is_err(),
        "+a file opened for overwriting"
    );
    let f = std::fs::OpenOptions::new()
        .append(true)
        .open(&live)
        .unwrap();
    assert!(f.set_len(10).is_err(), "+a file truncated");
    assert!(std::fs::remove_file(&live).is_err(), "+a file deleted");
    // Clean up for tempdir removal.
    let _ = Command::new("chattr")
        .args(["-R", "-a", "-i"])
        .arg(&data)
        .status();
}

#[test]
fn verify_with_a_pinned_key_detects_a_replaced_key() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let (code, out) = run(&["init"], &data, None);
    assert_eq!(code, 0);
    let published = out
        .lines()
        .find(|l| l.contains('+'))
        .unwrap()
        .trim()
        .to_owned();
    let (code, out) = run(&["verify", "--key", &published], &data, None);
    assert_eq!(code, 0, "{out}");
    let other = Command::new(common::bin())
        .args(["keygen", "--origin", "evil.example/default", "--out"])
        .arg(tmp.path().join("k"))
        .output()
        .unwrap();
    let other = String::from_utf8_lossy(&other.stdout).trim().to_owned();
    let (code, out) = run(&["verify", "--key", &other], &data, None);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("replaced"), "{out}");
    let _ = Command::new("chattr")
        .args(["-R", "-a", "-i"])
        .arg(tmp.path())
        .status();
}

/// The last segment file of `stream` of `log`.
fn seg_of(data: &Path, log: &str, stream: &str) -> PathBuf {
    let dir = data.join("logs").join(log).join(stream);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    v.sort();
    v.pop().unwrap()
}

/// Replaces `from` by `to` (same length) in a text file.
fn edit(path: &Path, from: &str, to: &str) {
    let t = std::fs::read_to_string(path).unwrap();
    assert!(t.contains(from), "{} holds {from:?}", path.display());
    std::fs::write(path, t.replacen(from, to, 1)).unwrap();
}

/// Issue 18.2 and 18.5: a plain `verify` checks every log (`_system`
/// included, each named), the small files that matter (the marker, each
/// log's meta, the keys' public halves), and after a clean close finds the
/// newest checkpoint record cut away.
#[test]
fn plain_verify_checks_every_log_the_small_files_and_cut_checkpoints() {
    let tmp = tempfile::tempdir().unwrap();
    let orig = fixture(tmp.path());
    // The fixture's token commands wrote to _system; make sure it has entries.
    let (code, out) = run(&["token", "create", "--role", "auditor"], &orig, None);
    assert_eq!(code, 0, "{out}");
    let (code, out) = run(&["verify"], &orig, None);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("OK: log \"default\"") && out.contains("OK: log \"_system\""),
        "every log is named: {out}"
    );
    type Damage = Box<dyn Fn(&Path)>;
    let cases: Vec<(&str, Damage, &str)> = vec![
        (
            "a byte of _system's WAL",
            Box::new(|d: &Path| flip(&seg_of(d, "_system", "wal"), 64 + 8 + 10)),
            "FAILED: log \"_system\"",
        ),
        (
            "the newest checkpoint record, removed whole after a clean close",
            Box::new(|d: &Path| {
                let p = seg_of(d, "default", "checkpoints");
                let b = std::fs::read(&p).unwrap();
                let n = u32::from_le_bytes(b[b.len() - 4..].try_into().unwrap()) as u64;
                cut(&p, 12 + n);
            }),
            "checkpoint records were removed",
        ),
        (
            "veritrail.data",
            Box::new(|d: &Path| {
                edit(
                    &d.join("veritrail.data"),
                    "veritrail.local/",
                    "veritrail.locaL/",
                )
            }),
            "veritrail.data",
        ),
        (
            "the created line of meta",
            Box::new(|d: &Path| edit(&d.join("logs/default/meta"), "created 2", "created 1")),
            "meta",
        ),
        (
            "_system's meta",
            Box::new(|d: &Path| edit(&d.join("logs/_system/meta"), "created 2", "created 1")),
            "meta",
        ),
        (
            "a key replaced by another",
            Box::new(|d: &Path| {
                std::fs::copy(d.join("keys/_system.key"), d.join("keys/default.key")).unwrap();
            }),
            "default.key",
        ),
    ];
    for (i, (what, damage, expect)) in cases.iter().enumerate() {
        let d = copy(&orig, tmp.path(), &format!("small{i}"));
        damage(&d);
        let (code, out) = run(&["verify"], &d, None);
        assert_eq!(
            code, 1,
            "{what} must fail a plain verify with exit 1, got {code}: {out}"
        );
        assert!(
            out.contains(expect),
            "verify output for {what} should name {expect:?}: {out}"
        );
    }
}

/// Issue 18.3: the newest checkpoint record made complete-but-wrong is not
/// a "torn tail": opening the log (`veritrail checkpoint`, which verify's
/// hint suggests) refuses it instead of discarding it and signing anew, so
/// verify still fails afterwards.
#[test]
fn opening_refuses_a_damaged_newest_checkpoint_instead_of_resigning() {
    let tmp = tempfile::tempdir().unwrap();
    let orig = fixture(tmp.path());
    let d = copy(&orig, tmp.path(), "cp");
    let p = seg_of(&d, "default", "checkpoints");
    let len = std::fs::metadata(&p).unwrap().len() as usize;
    flip(&p, len - 30);
    let (code, out) = run(&["checkpoint"], &d, None);
    assert_eq!(code, 1, "opening must refuse: {out}");
    let (code, out) = run(&["verify", "--log", "default"], &d, None);
    assert_eq!(code, 1, "verify still fails: {out}");
    assert_eq!(
        std::fs::metadata(&p).unwrap().len() as usize,
        len,
        "nothing was changed"
    );
}

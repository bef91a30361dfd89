//! The witness against the C2SP tlog-witness rules: a log's checkpoints
//! cosigned in order with consistency proofs; every bad request refused
//! with the spec's status and the state unchanged; a fork and a rewritten
//! history refused with the evidence kept; the state surviving a restart.

use veritrail_core::checkpoint::{Checkpoint, Origin};
use veritrail_core::note::{open_note, SigType, Signer};
use veritrail_core::tree::{prove_consistency, tree_hash, MemoryTree, TreeSize};
use veritrail_core::{leaf_hash, Hash};
use veritrail_witness::protocol::AddCheckpoint;
use veritrail_witness::Witness;

const ORIGIN: &str = "example.com/audit";

/// A log in memory: its leaves, checkpoints and proofs.
struct Log {
    leaves: Vec<Hash>,
    key: Signer,
}

impl Log {
    fn new(seed: u8) -> Log {
        Log {
            leaves: Vec::new(),
            key: Signer::from_seed(ORIGIN, SigType::Ed25519, [seed; 32]).unwrap(),
        }
    }
    fn append(&mut self, n: usize, tag: &str) {
        for k in 0..n {
            self.leaves.push(leaf_hash(
                format!("{tag}{}-{k}", self.leaves.len()).as_bytes(),
            ));
        }
    }
    fn tree(&self) -> MemoryTree {
        let mut t = MemoryTree::new();
        for l in &self.leaves {
            t.push(*l);
        }
        t
    }
    fn root(&self, size: u64) -> Hash {
        tree_hash(TreeSize(size), &self.tree()).unwrap()
    }
    fn note(&self, size: u64) -> String {
        Checkpoint::new(
            Origin::new(ORIGIN).unwrap(),
            TreeSize(size),
            self.root(size),
        )
        .sign(&self.key)
        .unwrap()
    }
    fn proof(&self, old: u64, new: u64) -> Vec<Hash> {
        if old == 0 || old == new {
            return Vec::new();
        }
        prove_consistency(TreeSize(old), TreeSize(new), &self.tree()).unwrap()
    }
    fn request(&self, old: u64, new: u64) -> Vec<u8> {
        AddCheckpoint {
            old,
            proof: self.proof(old, new),
            note: self.note(new),
        }
        .to_body()
        .into_bytes()
    }
}

fn witness(dir: &std::path::Path, log: &Log) -> Witness {
    if !dir.join("witness.key").exists() {
        Witness::init(dir, "witness.example/w1").unwrap();
    }
    Witness::open(dir, vec![log.key.verifier()]).unwrap()
}

#[test]
fn cosigns_in_order_and_refuses_what_the_spec_refuses() {
    let tmp = tempfile::tempdir().unwrap();
    let mut log = Log::new(1);
    log.append(10, "a");
    let w = witness(tmp.path(), &log);
    let a = w.add_checkpoint(&log.request(0, 10), 1_800_000_000);
    assert_eq!(a.status, 200, "{}", a.body);
    // The answer is a cosignature/v1 line over the checkpoint text.
    let signed = format!("{}{}", log.note(10), a.body);
    let opened = open_note(signed.as_bytes(), &[w.verifier()]).unwrap();
    assert_eq!(opened.verified[0].ty, SigType::CosignatureV1);
    assert_eq!(opened.verified[0].timestamp, 1_800_000_000);
    log.append(7, "b");
    assert_eq!(w.add_checkpoint(&log.request(10, 17), 1).status, 200);
    // The same checkpoint again: cosigned again (same size, same root).
    assert_eq!(w.add_checkpoint(&log.request(17, 17), 2).status, 200);
    let before = w.latest();
    // Stale old size: 409 with the witness's size as text/x.tlog.size.
    log.append(5, "c");
    let a = w.add_checkpoint(&log.request(10, 22), 3);
    assert_eq!(
        (a.status, a.content_type, a.body.as_str()),
        (409, "text/x.tlog.size", "17\n")
    );
    // Bad requests, each with its status; the state does not move.
    let other = Log::new(2);
    let unknown_key = Signer::from_seed("other.example/log", SigType::Ed25519, [3; 32]).unwrap();
    let unknown = AddCheckpoint {
        old: 0,
        proof: vec![],
        note: Checkpoint::new(
            Origin::new("other.example/log").unwrap(),
            TreeSize(22),
            log.root(22),
        )
        .sign(&unknown_key)
        .unwrap(),
    }
    .to_body()
    .into_bytes();
    let mut bad_proof = AddCheckpoint::parse(&log.request(17, 22)).unwrap();
    bad_proof.proof[0] = Hash([9; 32]);
    let mut long_proof = AddCheckpoint::parse(&log.request(17, 22)).unwrap();
    long_proof.proof.push(Hash([1; 32]));
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("garbage", b"\x00\x01 not a request".to_vec(), 400),
        ("no empty line", b"old 17\n".to_vec(), 400),
        (
            "leading zero",
            format!("old 017\n\n{}", log.note(22)).into_bytes(),
            400,
        ),
        ("unknown origin", unknown, 404),
        (
            "signed by an unknown key",
            other_key_note(&other, &log, 22),
            403,
        ),
        (
            "old above new",
            AddCheckpoint {
                old: 30,
                proof: vec![],
                note: log.note(22),
            }
            .to_body()
            .into_bytes(),
            400,
        ),
        ("bad proof", bad_proof.to_body().into_bytes(), 422),
        (
            "proof of the wrong length",
            long_proof.to_body().into_bytes(),
            422,
        ),
        ("huge body", vec![b'a'; 100_000], 413),
        (
            "64 proof lines",
            format!(
                "old 17\n{}\n{}",
                "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n".repeat(64),
                log.note(22)
            )
            .into_bytes(),
            400,
        ),
        (
            "not a checkpoint",
            AddCheckpoint {
                old: 17,
                proof: vec![],
                note: log
                    .key
                    .sign_note(&format!("{ORIGIN}\nnot a size\n"))
                    .unwrap(),
            }
            .to_body()
            .into_bytes(),
            400,
        ),
    ];
    for (name, body, status) in cases {
        let a = w.add_checkpoint(&body, 4);
        assert_eq!(a.status, status, "{name}: {}", a.body);
        assert_eq!(w.latest(), before, "{name} changed nothing");
    }
    assert!(
        w.evidence().len() == 2,
        "the bad proofs are evidence: {:?}",
        w.evidence()
    );
    assert_eq!(w.add_checkpoint(&log.request(17, 22), 5).status, 200);
}

fn other_key_note(other: &Log, log: &Log, size: u64) -> Vec<u8> {
    let note = Checkpoint::new(Origin::new(ORIGIN).unwrap(), TreeSize(size), log.root(size))
        .sign(&other.key)
        .unwrap();
    AddCheckpoint {
        old: 17,
        proof: log.proof(17, size),
        note,
    }
    .to_body()
    .into_bytes()
}

/// The insider: the same key, an edited history. The witness refuses both
/// a fork at a cosigned size and an extension of the edited tree, keeps
/// the evidence, and the state survives a restart.
#[test]
fn a_rewritten_history_is_refused_and_the_evidence_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let mut log = Log::new(1);
    log.append(20, "a");
    {
        let w = witness(tmp.path(), &log);
        assert_eq!(w.add_checkpoint(&log.request(0, 20), 1).status, 200);
    }
    // Restart: the state is on disk.
    let w = witness(tmp.path(), &log);
    assert_eq!(w.latest()[ORIGIN].0, 20);
    let mut edited = Log::new(1);
    edited.append(20, "edited");
    let a = w.add_checkpoint(&edited.request(20, 20), 2);
    assert_eq!(a.status, 409, "another root at a cosigned size: {}", a.body);
    edited.append(5, "more");
    let a = w.add_checkpoint(&edited.request(20, 25), 3);
    assert_eq!(
        a.status, 422,
        "the edited tree does not extend the cosigned one: {}",
        a.body
    );
    let ev = w.evidence();
    assert_eq!(ev.len(), 2);
    let text = std::fs::read_to_string(&ev[1]).unwrap();
    assert!(
        text.contains("does not verify") && text.contains(&log.note(20)),
        "{text}"
    );
    assert_eq!(w.latest()[ORIGIN].0, 20, "never moved");
    assert!(
        Witness::init(tmp.path(), "again").is_err(),
        "the key is never replaced"
    );
}

//! Known-answer tests from public vectors (see testdata/vectors/SOURCE.md).

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::Value;
use veritrail_core::checkpoint::{open_checkpoint, Checkpoint};
use veritrail_core::hash::{leaf_hash, node_hash, Hash};
use veritrail_core::note::{open_note, Note, NoteError, SigType, Signer, Verifier};
use veritrail_core::proof::{verify_consistency, verify_inclusion};
use veritrail_core::tree::{prove_consistency, prove_inclusion, LeafIndex, MemoryTree, TreeSize};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/vectors")
}

fn load(name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(dir().join(name)).unwrap()).unwrap()
}

fn hx(v: &Value) -> Hash {
    Hash::from_hex(v.as_str().unwrap()).unwrap()
}

fn rfc_tree() -> (MemoryTree, Value) {
    let v = load("rfc6962_vectors.json");
    let mut t = MemoryTree::new();
    for l in v["leaves_hex"].as_array().unwrap() {
        t.push(leaf_hash(&hex::decode(l.as_str().unwrap()).unwrap()));
    }
    (t, v)
}

#[test]
fn rfc6962_roots_nodes_and_hasher() {
    let (_, v) = rfc_tree();
    let leaves: Vec<Vec<u8>> = v["leaves_hex"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| hex::decode(l.as_str().unwrap()).unwrap())
        .collect();
    let mut t = MemoryTree::new();
    assert_eq!(t.root(), hx(&v["roots_by_size"]["0"]["hex"]));
    for (i, l) in leaves.iter().enumerate() {
        t.push(leaf_hash(l));
        assert_eq!(
            t.root(),
            hx(&v["roots_by_size"][(i + 1).to_string()]["hex"]),
            "size {}",
            i + 1
        );
    }
    let kats = v["hasher_kats"].as_array().unwrap();
    assert_eq!(Hash::EMPTY_ROOT, hx(&kats[0]["hex"]));
    assert_eq!(leaf_hash(b""), hx(&kats[1]["hex"]));
    assert_eq!(leaf_hash(b"L123456"), hx(&kats[2]["hex"]));
    // node_hash takes 32-byte children; the upstream KAT uses short ones, so
    // recompute that one with plain SHA-256.
    let d = veritrail_core::hash::sha256(&[&[1], b"N123", b"N456"]);
    assert_eq!(Hash(d), hx(&kats[3]["hex"]));
    let _ = node_hash;
    for (lvl, row) in v["node_hashes_by_level"]["levels"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        for (i, h) in row.as_array().unwrap().iter().enumerate() {
            let ids = [veritrail_core::NodeId::new(lvl as u8, i as u64)];
            use veritrail_core::HashReader;
            assert_eq!(t.read_hashes(&ids).unwrap()[0], hx(h));
        }
    }
}

#[test]
fn rfc6962_reference_proofs_are_produced_and_verified() {
    let (t, v) = rfc_tree();
    let mut n = 0;
    for p in v["inclusion_proofs"].as_array().unwrap() {
        let idx = LeafIndex(p["leaf_index"].as_u64().unwrap());
        let size = TreeSize(p["tree_size"].as_u64().unwrap());
        let want: Vec<Hash> = p["proof_hex"].as_array().unwrap().iter().map(hx).collect();
        let mut sub = MemoryTree::new();
        for i in 0..size.0 {
            use veritrail_core::HashReader;
            sub.push(t.read_hashes(&[veritrail_core::NodeId::new(0, i)]).unwrap()[0]);
        }
        assert_eq!(prove_inclusion(idx, size, &sub).unwrap(), want);
        verify_inclusion(
            &hx(&p["leaf_hash_hex"]),
            idx,
            size,
            &want,
            &hx(&p["root_hex"]),
        )
        .unwrap();
        n += 1;
    }
    for p in v["consistency_proofs"].as_array().unwrap() {
        let (a, b) = (
            TreeSize(p["size1"].as_u64().unwrap()),
            TreeSize(p["size2"].as_u64().unwrap()),
        );
        let want: Vec<Hash> = p["proof_hex"].as_array().unwrap().iter().map(hx).collect();
        let mut sub = MemoryTree::new();
        for i in 0..b.0 {
            use veritrail_core::HashReader;
            sub.push(t.read_hashes(&[veritrail_core::NodeId::new(0, i)]).unwrap()[0]);
        }
        assert_eq!(prove_consistency(a, b, &sub).unwrap(), want, "{a:?}->{b:?}");
        verify_consistency(a, b, &want, &hx(&p["root1_hex"]), &hx(&p["root2_hex"])).unwrap();
        n += 1;
    }
    assert!(n >= 10, "expected the reference proofs, found {n}");
}

fn b64(v: &Value) -> Option<Hash> {
    let s = v.as_str().unwrap_or("");
    let raw = B64.decode(s).ok()?;
    Hash::from_slice(&raw)
}

fn probe_files(sub: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir().join("transparency-dev-merkle").join(sub)];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "json") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Every transparency-dev probe: valid proofs pass, every mutation fails.
#[test]
fn transparency_dev_inclusion_probes() {
    let files = probe_files("inclusion");
    assert!(files.len() > 80);
    for f in files {
        let v: Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
        let want_err = v["wantErr"].as_bool().unwrap();
        let proof: Option<Vec<Hash>> = v["proof"]
            .as_array()
            .map_or(Some(vec![]), |a| a.iter().map(b64).collect());
        let res = match (b64(&v["leafHash"]), b64(&v["root"]), proof) {
            (Some(leaf), Some(root), Some(proof)) => verify_inclusion(
                &leaf,
                LeafIndex(v["leafIdx"].as_u64().unwrap()),
                TreeSize(v["treeSize"].as_u64().unwrap()),
                &proof,
                &root,
            )
            .is_ok(),
            // Hashes that are not 32 bytes cannot even be expressed.
            _ => false,
        };
        assert_eq!(res, !want_err, "{}", f.display());
    }
}

#[test]
fn transparency_dev_consistency_probes() {
    let files = probe_files("consistency");
    assert!(files.len() > 90);
    let mut stricter = 0;
    for f in files {
        let v: Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
        let want_err = v["wantErr"].as_bool().unwrap();
        let proof: Option<Vec<Hash>> = v["proof"]
            .as_array()
            .map_or(Some(vec![]), |a| a.iter().map(b64).collect());
        let res = match (b64(&v["root1"]), b64(&v["root2"]), proof) {
            (Some(r1), Some(r2), Some(proof)) => verify_consistency(
                TreeSize(v["size1"].as_u64().unwrap()),
                TreeSize(v["size2"].as_u64().unwrap()),
                &proof,
                &r1,
                &r2,
            )
            .is_ok(),
            // Upstream's "don't care" roots are 12 bytes. Our `Hash` cannot hold
            // them: such input is refused when parsed, before verification, which
            // is stricter than upstream for the one probe that expects success
            // with equal 12-byte roots.
            _ => {
                let name = f.file_name().unwrap().to_string_lossy();
                assert!(
                    want_err || name == "sizes-are-equal-one-and-proof-is-empty.json",
                    "{}",
                    f.display()
                );
                stricter += usize::from(!want_err);
                continue;
            }
        };
        assert_eq!(res, !want_err, "{}", f.display());
    }
    assert_eq!(stricter, 1);
}

fn note_vector(id: &str) -> Value {
    let v = load("note_vectors.json");
    v["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == id)
        .unwrap()
        .clone()
}

#[test]
fn signed_note_vectors() {
    // C2SP example verifies.
    let v = note_vector("c2sp-signed-note-example");
    let key = Verifier::parse(v["vkey"].as_str().unwrap()).unwrap();
    let opened = open_note(v["signed_note"].as_str().unwrap().as_bytes(), &[key]).unwrap();
    assert_eq!(opened.text, "This is an example message.\n");

    // x/mod: deterministic Ed25519 reproduces the signature line byte for byte.
    let v = note_vector("xmod-peterneumann");
    let signer = Signer::parse(v["skey"].as_str().unwrap()).unwrap();
    assert_eq!(signer.verifier().to_vkey(), v["vkey"].as_str().unwrap());
    assert_eq!(signer.to_skey(), v["skey"].as_str().unwrap());
    let line = signer.sign_line(v["text"].as_str().unwrap(), 0).unwrap();
    assert_eq!(line, v["expected_sig_line"].as_str().unwrap());

    // Doubly signed: with one key the other signature is merely unverified.
    let v = note_vector("xmod-doubly-signed");
    let keys: Vec<Verifier> = v["vkeys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| Verifier::parse(k.as_str().unwrap()).unwrap())
        .collect();
    let msg = v["signed_note"].as_str().unwrap().as_bytes();
    assert_eq!(open_note(msg, &keys).unwrap().verified.len(), 2);
    let one = open_note(msg, &keys[..1]).unwrap();
    assert_eq!((one.verified.len(), one.unverified.len()), (1, 1));
    // Tampering one byte of the text fails with the known key.
    let tampered = String::from_utf8(msg.to_vec())
        .unwrap()
        .replacen("answer", "answeR", 1);
    assert!(matches!(
        open_note(tampered.as_bytes(), &keys),
        Err(NoteError::InvalidSignature { .. })
    ));
}

#[test]
fn checkpoint_vectors() {
    let v = note_vector("real-sum.golang.org-checkpoint");
    let key = Verifier::parse(v["vkey"].as_str().unwrap()).unwrap();
    let msg = v["signed_note"].as_str().unwrap();
    let opened = open_note(msg.as_bytes(), &[key]).unwrap();
    let cp = Checkpoint::parse_text(&opened.text).unwrap();
    assert_eq!(cp.origin.as_str(), v["parsed"]["origin"].as_str().unwrap());
    assert_eq!(cp.size.0, v["parsed"]["size"].as_u64().unwrap());
    assert_eq!(cp.root.to_hex(), v["parsed"]["root_hex"].as_str().unwrap());

    // Deterministic checkpoints re-sign byte-identically with our signer.
    let v8 = note_vector("deterministic-checkpoint-size8");
    let signer = Signer::parse(v8["skey"].as_str().unwrap()).unwrap();
    let seed: [u8; 32] = hex::decode(v8["ed25519_seed_hex"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let from_seed =
        Signer::from_seed("example.com/audit-log/test", SigType::Ed25519, seed).unwrap();
    assert_eq!(from_seed.to_skey(), signer.to_skey());
    for id in [
        "deterministic-checkpoint-size8",
        "deterministic-checkpoint-size6-extension",
    ] {
        let v = note_vector(id);
        let msg = v["signed_note"].as_str().unwrap();
        let vk = Verifier::parse(v["vkey"].as_str().unwrap()).unwrap();
        let opened = open_checkpoint(msg.as_bytes(), &vk, &[]).unwrap();
        assert_eq!(opened.checkpoint.sign(&signer).unwrap(), msg, "{id}");
    }
    // The size-8 checkpoint carries the RFC 6962 8-leaf root.
    let (t, _) = rfc_tree();
    let cp = open_checkpoint(
        v8["signed_note"].as_str().unwrap().as_bytes(),
        &signer.verifier(),
        &[],
    )
    .unwrap();
    assert_eq!(cp.checkpoint.root, t.root());

    // The C2SP example parses as a note and checkpoint (no keys are published).
    let ex = note_vector("c2sp-tlog-checkpoint-example");
    let n = Note::parse(ex["signed_note"].as_str().unwrap().as_bytes()).unwrap();
    assert_eq!(n.signatures.len(), 2);
    assert_eq!(n.signatures[1].id, 0x8d66cf3f);
    assert_eq!(
        u64::from_be_bytes(n.signatures[1].sig[..8].try_into().unwrap()),
        1_679_315_147
    );
    assert_eq!(Checkpoint::parse_text(&n.text).unwrap().size.0, 20_852_163);
}

#[test]
fn cosignature_vectors() {
    let v = note_vector("self-made-cosignature-v1");
    let witness = Verifier::parse(v["cosigner_vkey"].as_str().unwrap()).unwrap();
    assert_eq!(witness.sig_type(), SigType::CosignatureV1);
    let log = Verifier::parse(v["log_vkey"].as_str().unwrap()).unwrap();
    let msg = v["signed_note"].as_str().unwrap();
    let cp = open_checkpoint(msg.as_bytes(), &log, std::slice::from_ref(&witness)).unwrap();
    let w = cp
        .note
        .verified
        .iter()
        .find(|s| s.ty == SigType::CosignatureV1)
        .unwrap();
    assert_eq!(w.timestamp, 1_679_315_147);
    // Our cosigner reproduces the line from the witness seed 0x20..0x3f.
    let seed: [u8; 32] = core::array::from_fn(|i| 0x20 + i as u8);
    let cosigner = Signer::from_seed("witness.example/w1", SigType::CosignatureV1, seed).unwrap();
    assert_eq!(cosigner.verifier(), witness);
    let line = cosigner.sign_line(&cp.note.text, 1_679_315_147).unwrap();
    assert!(msg.contains(&line));
    // A cosignature with a changed timestamp fails.
    let mut note = Note::parse(msg.as_bytes()).unwrap();
    note.signatures[1].sig[7] ^= 1;
    assert!(open_checkpoint(note.to_text().as_bytes(), &log, &[witness]).is_err());

    // transparency-dev: the signature decodes as key ID + timestamp + 64 bytes.
    let t = note_vector("tdev-cosig-timestamp");
    let raw = B64.decode(t["signature_b64"].as_str().unwrap()).unwrap();
    assert_eq!(raw.len(), 4 + 8 + 64);
    assert_eq!(u32::from_be_bytes(raw[..4].try_into().unwrap()), 0x646846b9);
    assert_eq!(
        u64::from_be_bytes(raw[4..12].try_into().unwrap()),
        1_727_964_367
    );
}

#[test]
fn tdev_keypairs_match() {
    let v = note_vector("tdev-test-keypairs");
    for p in v["pairs"].as_array().unwrap() {
        let s = Signer::parse(p["skey"].as_str().unwrap()).unwrap();
        assert_eq!(s.verifier().to_vkey(), p["vkey"].as_str().unwrap());
    }
}

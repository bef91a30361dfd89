//! Cross-implementation check with golang.org/x/mod/sumdb (see interop/go).
//!
//! `interop emit` prints JSON with our roots, proofs, hash tiles and signed
//! notes for Go to check; `interop check FILE` verifies what Go produced.
//! Both directions must agree or the process exits non-zero.

use std::process::ExitCode;

use serde_json::{json, Value};
use veritrail_core::checkpoint::{open_checkpoint, Checkpoint, Origin};
use veritrail_core::hash::{leaf_hash, Hash};
use veritrail_core::note::{open_note, SigType, Signer, Verifier};
use veritrail_core::proof::{verify_consistency, verify_inclusion};
use veritrail_core::tree::{
    prove_consistency, prove_inclusion, tree_hash, LeafIndex, MemoryTree, NodeId, TreeSize,
};
use veritrail_core::HashReader;

const N: u64 = 70_000;

fn entry(i: u64) -> Vec<u8> {
    format!("entry {i}\n").into_bytes()
}

fn b64s(p: &[Hash]) -> Vec<String> {
    p.iter().map(Hash::to_base64).collect()
}

fn emit() -> Value {
    let mut t = MemoryTree::new();
    for i in 0..N {
        t.push(leaf_hash(&entry(i)));
    }
    let sizes: Vec<u64> = (1..=300)
        .chain([511, 512, 513, 65_535, 65_536, 65_537, N])
        .collect();
    let roots: Vec<Value> = sizes
        .iter()
        .map(|&s| json!({"size": s, "root": tree_hash(TreeSize(s), &t).unwrap().to_base64()}))
        .collect();
    let mut inclusion = Vec::new();
    let mut consistency = Vec::new();
    for &s in &sizes {
        let idxs: Vec<u64> = if s <= 64 {
            (0..s).collect()
        } else {
            vec![0, 1, s / 3, s / 2, s - 2, s - 1]
        };
        for i in idxs {
            let p = prove_inclusion(LeafIndex(i), TreeSize(s), &t).unwrap();
            inclusion.push(json!({"index": i, "size": s, "proof": b64s(&p)}));
        }
        let olds: Vec<u64> = if s <= 64 {
            (1..=s).collect()
        } else {
            vec![1, 2, s / 3, s / 2, s - 1, s]
        };
        for o in olds {
            let p = prove_consistency(TreeSize(o), TreeSize(s), &t).unwrap();
            consistency.push(json!({"old": o, "new": s, "proof": b64s(&p)}));
        }
    }
    // Every hash tile of the tree at sizes 300 and N, in C2SP paths.
    let mut tiles = Vec::new();
    for size in [300u64, N] {
        for level in 0..3u8 {
            let count = size >> (8 * u32::from(level));
            for idx in 0..count.div_ceil(256) {
                let w = (count - idx * 256).min(256) as u16;
                let ids: Vec<NodeId> = (0..u64::from(w))
                    .map(|j| NodeId::new(level * 8, idx * 256 + j))
                    .collect();
                let data: Vec<u8> = t
                    .read_hashes(&ids)
                    .unwrap()
                    .iter()
                    .flat_map(|h| h.0)
                    .collect();
                let tile = veritrail_core::Tile::hash(level, idx, w);
                tiles
                    .push(json!({"size": size, "path": tile.path(), "data": base64_encode(&data)}));
            }
        }
    }
    let signer = Signer::from_seed("interop.example/rust", SigType::Ed25519, [42; 32]).unwrap();
    let cp = Checkpoint::new(
        Origin::new("interop.example/rust").unwrap(),
        TreeSize(N),
        t.root(),
    );
    let notes = vec![
        cp.sign(&signer).unwrap(),
        signer
            .sign_note("free text\n\nwith a blank line and unicode — ✓\n")
            .unwrap(),
    ];
    json!({
        "entries": N,
        "entry_format": "entry {i}\\n",
        "roots": roots,
        "inclusion": inclusion,
        "consistency": consistency,
        "tiles": tiles,
        "vkey": signer.verifier().to_vkey(),
        "notes": notes,
    })
}

fn base64_encode(d: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(d)
}

fn h(v: &Value) -> Hash {
    Hash::from_base64(v.as_str().expect("string")).expect("32-byte base64")
}

fn hs(v: &Value) -> Vec<Hash> {
    v.as_array().expect("array").iter().map(h).collect()
}

fn check(doc: &Value) -> Result<usize, String> {
    let mut n = 0;
    for p in doc["inclusion"].as_array().ok_or("no inclusion")? {
        let (i, s) = (p["index"].as_u64().unwrap(), p["size"].as_u64().unwrap());
        let proof = hs(&p["proof"]);
        let leaf = leaf_hash(&entry(i));
        verify_inclusion(&leaf, LeafIndex(i), TreeSize(s), &proof, &h(&p["root"]))
            .map_err(|e| format!("Go inclusion proof {i}@{s}: {e}"))?;
        if let Some(first) = proof.first() {
            let mut bad = proof.clone();
            bad[0].0[0] ^= 1;
            let _ = first;
            if verify_inclusion(&leaf, LeafIndex(i), TreeSize(s), &bad, &h(&p["root"])).is_ok() {
                return Err(format!("tampered Go inclusion proof {i}@{s} accepted"));
            }
        }
        n += 1;
    }
    for p in doc["consistency"].as_array().ok_or("no consistency")? {
        let (o, s) = (p["old"].as_u64().unwrap(), p["new"].as_u64().unwrap());
        verify_consistency(
            TreeSize(o),
            TreeSize(s),
            &hs(&p["proof"]),
            &h(&p["old_root"]),
            &h(&p["new_root"]),
        )
        .map_err(|e| format!("Go consistency proof {o}->{s}: {e}"))?;
        n += 1;
    }
    let vkey =
        Verifier::parse(doc["vkey"].as_str().ok_or("no vkey")?).map_err(|e| e.to_string())?;
    for note in doc["notes"].as_array().ok_or("no notes")? {
        let msg = note.as_str().unwrap().as_bytes();
        open_note(msg, std::slice::from_ref(&vkey)).map_err(|e| format!("Go note: {e}"))?;
        n += 1;
    }
    let cp = doc["checkpoint"].as_str().ok_or("no checkpoint")?;
    let opened =
        open_checkpoint(cp.as_bytes(), &vkey, &[]).map_err(|e| format!("Go checkpoint: {e}"))?;
    let mut t = MemoryTree::new();
    for i in 0..opened.checkpoint.size.0 {
        t.push(leaf_hash(&entry(i)));
    }
    if t.root() != opened.checkpoint.root {
        return Err("Go checkpoint root differs from ours".into());
    }
    // Go's tree hashes for the same entries.
    for r in doc["roots"].as_array().ok_or("no roots")? {
        let s = r["size"].as_u64().unwrap();
        if tree_hash(TreeSize(s), &t).map_err(|e| e.to_string())? != h(&r["root"]) {
            return Err(format!("root at size {s} differs from Go's"));
        }
        n += 1;
    }
    Ok(n)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("emit") => {
            println!("{}", emit());
            ExitCode::SUCCESS
        }
        Some("check") => {
            let doc: Value =
                serde_json::from_slice(&std::fs::read(&args[2]).expect("read")).expect("json");
            match check(&doc) {
                Ok(n) => {
                    println!("rust: verified {n} Go-produced items");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("rust: FAIL: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        _ => {
            eprintln!("usage: interop emit | interop check FILE");
            ExitCode::from(2)
        }
    }
}

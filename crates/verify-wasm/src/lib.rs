//! veritrail-core's entry verifier, compiled to `wasm32-unknown-unknown` for
//! the console (docs/CONSOLE.md "Proof in the browser"): the same code the
//! server and `veritrail verify` run checks an entry's leaf hash, its
//! inclusion proof and the log's signature on the checkpoint, beside the
//! console's independent WebCrypto verifier.
//!
//! The module needs no JavaScript glue. The caller asks for an input buffer
//! of `len` bytes ([`input`]), writes a JSON request into the module's
//! memory there, calls [`verify`] and reads the JSON answer at
//! [`output_ptr`] / [`output_len`]:
//!
//! ```text
//! request: {"index": 5, "entry": "<base64 of the stored bytes>", "leaf_hash": "<base64>",
//!           "tree_size": 61, "proof": ["<base64>", …], "checkpoint": "<signed note>",
//!           "key": "<the log's verifier key>"}
//! answer:  {"ok": true, "origin": "…", "size": 61, "root": "<base64>", "leaf_hash": "<base64>",
//!           "other_signatures": ["w1.example", …]}
//!       or {"ok": false, "error": "what failed"}
//! ```
//!
//! The pure part, [`check`], is what the tests exercise natively.

// `#[no_mangle]` is the one thing here the `unsafe_code` lint counts: it
// names the exported functions. No pointer is dereferenced in this crate.
#![deny(unsafe_code)]

use std::cell::RefCell;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};
use veritrail_core::{
    leaf_hash, open_checkpoint, verify_inclusion, Hash, LeafIndex, TreeSize, Verifier,
};

thread_local! {
    static INPUT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    static OUTPUT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// A buffer of `len` bytes for the next request; its address in memory.
#[allow(unsafe_code)]
#[no_mangle]
pub extern "C" fn input(len: usize) -> *mut u8 {
    INPUT.with(|b| {
        let mut b = b.borrow_mut();
        b.clear();
        b.resize(len, 0);
        b.as_mut_ptr()
    })
}

/// Checks the request in the input buffer; 1 if it verified, 0 if not (the
/// answer says why).
#[allow(unsafe_code)]
#[no_mangle]
pub extern "C" fn verify() -> u32 {
    let answer = INPUT.with(|b| answer(&b.borrow()));
    let ok = u32::from(answer["ok"] == true);
    OUTPUT.with(|o| *o.borrow_mut() = answer.to_string().into_bytes());
    ok
}

/// Where the last answer is.
#[allow(unsafe_code)]
#[no_mangle]
pub extern "C" fn output_ptr() -> *const u8 {
    OUTPUT.with(|o| o.borrow().as_ptr())
}

/// How long the last answer is.
#[allow(unsafe_code)]
#[no_mangle]
pub extern "C" fn output_len() -> usize {
    OUTPUT.with(|o| o.borrow().len())
}

/// The answer (JSON) to a request (JSON bytes).
pub fn answer(request: &[u8]) -> Value {
    match check(request) {
        Ok(v) => v,
        Err(e) => json!({"ok": false, "error": e}),
    }
}

/// A checked entry, or what failed.
///
/// # Errors
/// A message naming the first check that failed.
pub fn check(request: &[u8]) -> Result<Value, String> {
    let r: Value = serde_json::from_slice(request).map_err(|e| format!("bad request: {e}"))?;
    let field = |k: &str| r.get(k).ok_or_else(|| format!("bad request: no {k}"));
    let text = |k: &str| {
        field(k)?
            .as_str()
            .ok_or_else(|| format!("bad request: {k} is not a string"))
    };
    let number = |k: &str| {
        field(k)?
            .as_u64()
            .ok_or_else(|| format!("bad request: {k} is not a whole number"))
    };
    let hash = |s: &str, what: &str| {
        Hash::from_base64(s).ok_or_else(|| format!("{what} is not a base64 SHA-256 hash"))
    };
    let entry = STANDARD
        .decode(text("entry")?)
        .map_err(|e| format!("bad request: entry is not base64: {e}"))?;
    let index = number("index")?;
    let size = number("tree_size")?;
    let key = Verifier::parse(text("key")?).map_err(|e| format!("the log key: {e}"))?;
    let proof = field("proof")?
        .as_array()
        .ok_or("bad request: proof is not a list")?
        .iter()
        .enumerate()
        .map(|(i, h)| hash(h.as_str().unwrap_or(""), &format!("proof hash {i}")))
        .collect::<Result<Vec<_>, _>>()?;
    // 1. The stored bytes hash to the leaf hash the server states.
    let leaf = leaf_hash(&entry);
    if let Some(stated) = r.get("leaf_hash").and_then(Value::as_str) {
        if hash(stated, "the stated leaf hash")? != leaf {
            return Err(format!(
                "the entry's bytes hash to {}, not to the leaf hash the server states ({stated}): the entry was changed",
                leaf.to_base64()
            ));
        }
    }
    // 2. The checkpoint is signed by the log's key.
    let signed = open_checkpoint(text("checkpoint")?.as_bytes(), &key, &[])
        .map_err(|e| format!("the checkpoint: {e}"))?;
    let cp = &signed.checkpoint;
    if cp.size.0 != size {
        return Err(format!(
            "the proof is for tree size {size}, the checkpoint for {}",
            cp.size.0
        ));
    }
    // 3. The proof leads from the leaf to the checkpoint's root.
    verify_inclusion(&leaf, LeafIndex(index), TreeSize(size), &proof, &cp.root)
        .map_err(|e| format!("the inclusion proof of entry {index}: {e}"))?;
    Ok(json!({
        "ok": true,
        "origin": cp.origin.as_str(),
        "size": size,
        "root": cp.root.to_base64(),
        "leaf_hash": leaf.to_base64(),
        "other_signatures": signed.note.unverified.iter().map(|s| s.name.clone()).collect::<Vec<_>>(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use veritrail_core::tree::prove_inclusion;
    use veritrail_core::{Checkpoint, MemoryTree, Origin, SigType, Signer};

    /// A log of `n` entries, its key, a signed checkpoint, and a request
    /// for entry `i`.
    fn request(n: u64, i: u64) -> (Value, Vec<Vec<u8>>) {
        let signer = Signer::from_seed("example.com/log", SigType::Ed25519, [n as u8; 32]).unwrap();
        let entries: Vec<Vec<u8>> = (0..n)
            .map(|k| format!("{{\"n\":{k}}}").into_bytes())
            .collect();
        let mut tree = MemoryTree::new();
        for e in &entries {
            tree.push(leaf_hash(e));
        }
        let size = TreeSize(n);
        let root = tree.root();
        let cp = Checkpoint::new(Origin::new("example.com/log").unwrap(), size, root)
            .sign(&signer)
            .unwrap();
        let proof = prove_inclusion(LeafIndex(i), size, &tree).unwrap();
        let req = json!({
            "index": i, "entry": STANDARD.encode(&entries[i as usize]),
            "leaf_hash": leaf_hash(&entries[i as usize]).to_base64(), "tree_size": n,
            "proof": proof.iter().map(Hash::to_base64).collect::<Vec<_>>(),
            "checkpoint": cp, "key": signer.verifier().to_vkey(),
        });
        (req, entries)
    }

    fn run(req: &Value) -> Value {
        let bytes = req.to_string().into_bytes();
        let p = input(bytes.len());
        INPUT.with(|b| {
            assert_eq!(b.borrow().as_ptr(), p as *const u8);
            b.borrow_mut().copy_from_slice(&bytes);
        });
        let ok = verify();
        let out = OUTPUT.with(|o| o.borrow().clone());
        assert_eq!(output_len(), out.len());
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(ok == 1, v["ok"] == true);
        v
    }

    #[test]
    fn a_true_entry_verifies_and_every_change_is_refused() {
        for (n, i) in [(1, 0), (7, 3), (61, 60), (64, 0)] {
            let (req, _) = request(n, i);
            let v = run(&req);
            assert_eq!(v["ok"], true, "{n}/{i}: {v}");
            assert_eq!(v["size"], n);
        }
        let (req, _) = request(13, 5);
        // A flipped byte of the entry.
        let mut bad = req.clone();
        let mut e = STANDARD.decode(req["entry"].as_str().unwrap()).unwrap();
        e[2] ^= 1;
        bad["entry"] = json!(STANDARD.encode(&e));
        let v = run(&bad);
        assert!(
            v["error"]
                .as_str()
                .unwrap()
                .contains("the entry was changed"),
            "{v}"
        );
        // The same, with the leaf hash recomputed to match: the proof fails.
        bad["leaf_hash"] = json!(leaf_hash(&e).to_base64());
        let v = run(&bad);
        assert!(
            v["error"].as_str().unwrap().contains("inclusion proof"),
            "{v}"
        );
        // Another index, a proof hash changed, another tree size.
        for (k, val) in [
            ("index", json!(6)),
            (
                "proof",
                json!([
                    Hash::from_base64("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
                        .unwrap()
                        .to_base64()
                ]),
            ),
            ("tree_size", json!(14)),
        ] {
            let mut b = req.clone();
            b[k] = val;
            assert_eq!(run(&b)["ok"], false, "{k}");
        }
        // A checkpoint signed by another key, or edited.
        let (other, _) = request(12, 5);
        let mut b = req.clone();
        b["checkpoint"] = other["checkpoint"].clone();
        assert!(run(&b)["error"].as_str().unwrap().contains("checkpoint"));
        let mut b = req.clone();
        b["checkpoint"] = json!(req["checkpoint"]
            .as_str()
            .unwrap()
            .replacen("13\n", "12\n", 1));
        assert_eq!(run(&b)["ok"], false);
        // Not a request.
        for junk in [&b""[..], b"[]", b"{\"index\":1}", b"\xff"] {
            let v = answer(junk);
            assert_eq!(v["ok"], false);
            assert!(
                v["error"].as_str().unwrap().starts_with("bad request"),
                "{v}"
            );
        }
    }
}

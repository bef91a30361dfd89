//! `veritrail verify-receipt`: checks a `?wait=proof` receipt with
//! veritrail-core alone.

use std::io::Read as _;
use std::path::Path;
use std::process::ExitCode;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::Value;
use veritrail_core::checkpoint::open_checkpoint;
use veritrail_core::hash::Hash;
use veritrail_core::note::Verifier;
use veritrail_core::proof::verify_inclusion;
use veritrail_core::tree::LeafIndex;

use crate::exit::Exit;

fn field<'a>(v: &'a Value, name: &str) -> anyhow::Result<&'a Value> {
    v.get(name).ok_or_else(|| {
        Exit::usage(format!(
            "receipt has no {name:?}; was the append made with ?wait=proof?"
        ))
    })
}

pub fn run(
    file: &Path,
    key: Option<&str>,
    policy: Option<&veritrail_core::note::policy::WitnessPolicy>,
) -> anyhow::Result<ExitCode> {
    let mut text = String::new();
    if file == Path::new("-") {
        std::io::stdin().read_to_string(&mut text)?;
    } else {
        text = std::fs::read_to_string(file)
            .map_err(|e| Exit::usage(format!("{}: {e}", file.display())))?;
    }
    let r: Value = serde_json::from_str(&text)
        .map_err(|e| Exit::usage(format!("receipt is not JSON: {e}")))?;
    let vkey = match key {
        Some(k) => k.to_owned(),
        None => {
            eprintln!("veritrail: warning: no --key given; using the key inside the receipt, which proves only that the receipt is self-consistent. Pass the log's verifier key from a channel you trust.");
            field(&r, "verifier_key")?
                .as_str()
                .unwrap_or_default()
                .to_owned()
        }
    };
    let verifier = Verifier::parse(&vkey).map_err(|e| Exit::usage(format!("verifier key: {e}")))?;
    let note = field(&r, "checkpoint")?.as_str().unwrap_or_default();
    let cp = open_checkpoint(note.as_bytes(), &verifier, &[])
        .map_err(|e| {
            Exit::verify(format!(
                "the checkpoint does not verify with {}: {e}",
                verifier.name()
            ))
        })?
        .checkpoint;
    let entries = field(&r, "entries")?
        .as_array()
        .ok_or_else(|| Exit::usage("entries is not an array"))?;
    for (k, e) in entries.iter().enumerate() {
        let index = e["index"]
            .as_u64()
            .ok_or_else(|| Exit::usage(format!("entry {k}: no index")))?;
        let leaf = e["leaf_hash"]
            .as_str()
            .and_then(|s| B64.decode(s).ok())
            .and_then(|b| Hash::from_slice(&b))
            .ok_or_else(|| {
                Exit::usage(format!("entry {k}: leaf_hash is not base64 of 32 bytes"))
            })?;
        let proof: Vec<Hash> = e["inclusion_proof"]
            .as_array()
            .ok_or_else(|| Exit::usage(format!("entry {k}: no inclusion_proof")))?
            .iter()
            .map(|h| h.as_str().and_then(Hash::from_base64))
            .collect::<Option<_>>()
            .ok_or_else(|| {
                Exit::usage(format!("entry {k}: a proof hash is not base64 of 32 bytes"))
            })?;
        verify_inclusion(&leaf, LeafIndex(index), cp.size, &proof, &cp.root).map_err(|err| {
            Exit::verify(format!(
                "entry {index}: inclusion proof does not verify: {err}"
            ))
        })?;
    }
    let witnessed = match policy {
        Some(p) => {
            let ok = p.check_log(&verifier, note.as_bytes()).map_err(|e| {
                Exit::verify(format!("the receipt's checkpoint is not witnessed: {e}"))
            })?;
            format!("; cosigned by {}", ok.join(", "))
        }
        None => String::new(),
    };
    println!(
        "OK: {} entr{} included in {} at tree size {} (root {}), checkpoint signed by {}{witnessed}",
        entries.len(),
        if entries.len() == 1 { "y" } else { "ies" },
        cp.origin,
        cp.size.0,
        cp.root.to_base64(),
        verifier.to_vkey()
    );
    Ok(ExitCode::SUCCESS)
}

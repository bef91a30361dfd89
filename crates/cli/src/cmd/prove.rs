//! `veritrail prove`.

use std::process::ExitCode;

use serde_json::json;
use veritrail_core::Hash;

use super::store_err;
use crate::exit::Exit;

fn b64(p: &[Hash]) -> Vec<String> {
    p.iter().map(Hash::to_base64).collect()
}

pub fn run(
    args: &crate::args::LogArgs,
    index: Option<u64>,
    tree_size: Option<u64>,
    range: Option<(u64, u64)>,
) -> anyhow::Result<ExitCode> {
    let log = super::open_log_read(args)?;
    let latest = log.published();
    let out = match (index, range) {
        (Some(i), None) => {
            let size = tree_size.unwrap_or(latest.size);
            let proof = log.prove_inclusion(i, size).map_err(store_err)?;
            let entry = log.entries(i, 1).map_err(store_err)?.remove(0);
            json!({
                "type": "inclusion",
                "log": args.log,
                "index": i,
                "tree_size": size,
                "leaf_hash": veritrail_core::leaf_hash(&entry).to_base64(),
                "root": log.root_at(size).map_err(store_err)?.to_base64(),
                "proof": b64(&proof),
                "checkpoint": log.checkpoint_at(size).map_err(store_err)?,
            })
        }
        (None, Some((a, b))) => {
            let proof = log.prove_consistency(a, b).map_err(store_err)?;
            json!({
                "type": "consistency",
                "log": args.log,
                "from": a,
                "to": b,
                "from_root": log.root_at(a).map_err(store_err)?.to_base64(),
                "to_root": log.root_at(b).map_err(store_err)?.to_base64(),
                "proof": b64(&proof),
                "from_checkpoint": log.checkpoint_at(a).map_err(store_err)?,
                "to_checkpoint": log.checkpoint_at(b).map_err(store_err)?,
            })
        }
        _ => {
            return Err(Exit::usage(
                "give --index I [--tree-size N], or --from A --to B",
            ))
        }
    };
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(ExitCode::SUCCESS)
}

//! `veritrail export`: an evidence bundle (docs/BUNDLE.md) of the entries a
//! query selects, each with its inclusion proof to the latest checkpoint,
//! closed by the `_system` record of the export and its proof.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use rayon::prelude::*;
use veritrail_core::bundle::{
    self, BundleWriter, Header, Since, SystemRecord, Timestamped, Trailer,
};
use veritrail_core::checkpoint::open_checkpoint;
use veritrail_core::proof::verify_consistency;
use veritrail_core::tlog_proof::TlogProof;
use veritrail_core::tree::LeafIndex;
use veritrail_store::datadir::SYSTEM_LOG;
use veritrail_store::LogReader;

use super::query::{matching_indexes, open_log_for_read, read_sorted, store_filter};
use crate::args::{FilterArgs, LogArgs};
use crate::exit::Exit;

/// Entries read, proven and formatted per step (then written in order).
const STEP: usize = 65_536;
/// Entries per parallel task (one prover each).
const TASK: usize = 2048;

fn since_section(
    log: &LogReader,
    file: &Path,
    size: u64,
    root: &veritrail_core::Hash,
) -> anyhow::Result<Since> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| Exit::usage(format!("--since-checkpoint {}: {e}", file.display())))?;
    let old = open_checkpoint(text.as_bytes(), log.verifier(), &[])
        .map_err(|e| {
            Exit::verify(format!(
                "--since-checkpoint {}: not a checkpoint of this log signed by its key: {e}",
                file.display()
            ))
        })?
        .checkpoint;
    if old.size.0 > size {
        return Err(Exit::verify(format!(
            "the pinned checkpoint has {} entries but this log's latest has {size}: the log was rolled back or truncated",
            old.size.0
        )));
    }
    let proof = if old.size.0 == size {
        if old.root != *root {
            return Err(Exit::verify(format!(
                "the pinned checkpoint and this log disagree on the root at size {size}: the log forked"
            )));
        }
        Vec::new()
    } else {
        let p = log
            .prove_consistency(old.size.0, size)
            .map_err(super::store_err)?;
        verify_consistency(old.size, veritrail_core::TreeSize(size), &p, &old.root, root)
            .map_err(|e| {
                Exit::verify(format!(
                    "this log is not consistent with the pinned checkpoint (size {}): history was rewritten: {e}",
                    old.size.0
                ))
            })?;
        p
    };
    Ok(Since {
        checkpoint: text,
        consistency: proof.iter().map(veritrail_core::Hash::to_base64).collect(),
    })
}

/// The newest RFC 3161 token kept for a checkpoint no larger than `size`,
/// with that checkpoint and the consistency proof from it to `size`.
fn timestamped(
    log: &LogReader,
    root: &Path,
    name: &str,
    size: u64,
) -> anyhow::Result<Option<Timestamped>> {
    let Some(t) = super::kept::timestamp_sizes(root, name)
        .into_iter()
        .rev()
        .find(|t| *t > 0 && *t <= size)
    else {
        return Ok(None);
    };
    let Some(note) = log.checkpoint_at(t).map_err(super::store_err)? else {
        return Ok(None);
    };
    let token = super::kept::timestamp(root, name, t)?;
    let consistency = if t == size {
        Vec::new()
    } else {
        log.prove_consistency(t, size).map_err(super::store_err)?
    };
    Ok(Some(Timestamped {
        checkpoint: note,
        token: base64::Engine::encode(&base64::engine::general_purpose::STANDARD, token),
        consistency: consistency
            .iter()
            .map(veritrail_core::Hash::to_base64)
            .collect(),
    }))
}

fn partial_path(output: &Path) -> PathBuf {
    let mut s = output.as_os_str().to_owned();
    s.push(".partial");
    PathBuf::from(s)
}

pub fn run(
    args: &LogArgs,
    filter: &FilterArgs,
    output: &Path,
    since: Option<&Path>,
    witnessed: bool,
) -> anyhow::Result<ExitCode> {
    if output.exists() {
        return Err(Exit::usage(format!(
            "{} exists; evidence bundles are never overwritten",
            output.display()
        )));
    }
    let started = Instant::now();
    let f = store_filter(filter)?;
    let dd = super::open_data(&args.data.data)?;
    // The export is recorded in `_system`, which takes its lock (a server
    // running on this directory refuses it); the exported log is only read.
    let sys = &super::system::open(&dd, "a server is running on this data directory")?;
    let log = if args.log == SYSTEM_LOG {
        sys.reader()
    } else {
        open_log_for_read(&dd, &args.log)?
    };
    let published = log.published();
    if published.size == 0 {
        return Err(Exit::usage(format!(
            "log {:?} has no signed checkpoint with entries yet",
            args.log
        )));
    }
    let root_dir = dd.root().to_path_buf();
    let cosigned = super::kept::cosigned_sizes(&root_dir, &args.log);
    let (size, root, note) = if witnessed {
        // The newest checkpoint the witnesses cosigned.
        let size = cosigned
            .iter()
            .rev()
            .copied()
            .find(|s| *s > 0 && *s <= published.size)
            .ok_or_else(|| {
                Exit::usage(format!(
                    "--witnessed: log {:?} has no cosigned checkpoint kept (cosignatures/{}/)",
                    args.log, args.log
                ))
            })?;
        let note = log
            .checkpoint_at(size)
            .map_err(super::store_err)?
            .ok_or_else(|| {
                Exit::verify(format!(
                    "the witnesses cosigned the checkpoint at size {size}, but the log keeps none of that size"
                ))
            })?;
        (size, log.root_at(size).map_err(super::store_err)?, note)
    } else {
        if !cosigned.is_empty() && !cosigned.contains(&published.size) {
            eprintln!(
                "veritrail: note: the latest checkpoint ({}) is not cosigned yet; --witnessed exports against the newest cosigned one ({})",
                published.size,
                cosigned.last().copied().unwrap_or(0)
            );
        }
        (
            published.size,
            published.root,
            published.checkpoint.to_string(),
        )
    };
    // The checkpoint with the witnesses' cosignature lines kept for it.
    let checkpoint = format!(
        "{note}{}",
        super::kept::cosignatures(&root_dir, &args.log, size)
    );
    let since = since
        .map(|p| since_section(&log, p, size, &root))
        .transpose()?;
    let timestamp = timestamped(&log, &root_dir, &args.log, size)?;
    let mut indexes = matching_indexes(&dd, &log, &args.log, &f, None)?;
    indexes.retain(|i| *i < size);
    let header = Header {
        format: bundle::FORMAT.into(),
        version: bundle::version_for(timestamp.is_some()),
        log: args.log.clone(),
        origin: log.verifier().name().to_owned(),
        key: log.verifier().to_vkey(),
        checkpoint: checkpoint.clone(),
        query: super::query::filter_pairs(filter),
        exported_at: super::append::now().to_rfc3339_nanos(),
        exported_by: super::system::who(),
        entries: indexes.len() as u64,
        since,
        timestamp,
    };
    let tmp = partial_path(output);
    let file = std::fs::File::options()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(|e| Exit::usage(format!("{}: {e}", tmp.display())))?;
    let mut w = BundleWriter::new(std::io::BufWriter::with_capacity(8 << 20, file), &header)?;
    let pb = super::progress::bar(indexes.len() as u64, "exporting");
    for step in indexes.chunks(STEP) {
        let entries = read_sorted(&log, step)?;
        let parts: Vec<Vec<u8>> = step
            .par_chunks(TASK)
            .zip(entries.par_chunks(TASK))
            .map(|(ix, es)| -> anyhow::Result<Vec<u8>> {
                let prover = log.batch_prover(size).map_err(super::store_err)?;
                let mut buf = Vec::with_capacity(ix.len() * 1600);
                for (i, e) in ix.iter().zip(es) {
                    let proof = prover.prove(*i).map_err(super::store_err)?;
                    bundle::write_entry_line(&mut buf, *i, e, &proof, &checkpoint)?;
                }
                Ok(buf)
            })
            .collect::<anyhow::Result<_>>()?;
        for p in &parts {
            w.write_lines(p)?;
        }
        pb.inc(step.len() as u64);
    }
    pb.finish_and_clear();
    let manifest = w.manifest();
    let metadata = serde_json::json!({
        "bundle_sha256": manifest.to_base64(),
        "entries": indexes.len(),
        "tree_size": size,
        "origin": log.verifier().name(),
        "query": header.query,
        "file": output.display().to_string(),
    });
    let (sys_index, sys_entry) =
        super::system::record(sys, bundle::EXPORT_ACTION, Some(&args.log), metadata)?;
    let sys_pub = sys
        .wait_for_checkpoint(sys_index + 1, Duration::from_secs(30))
        .map_err(super::store_err)?;
    let sys_proof = sys
        .prove_inclusion(sys_index, sys_pub.size)
        .map_err(super::store_err)?;
    let mut proof_text = String::new();
    TlogProof::write_text(
        &mut proof_text,
        LeafIndex(sys_index),
        &sys_proof,
        &sys_pub.checkpoint,
        None,
    );
    let trailer = Trailer {
        manifest: manifest.to_base64(),
        system: SystemRecord {
            origin: sys.verifier().name().to_owned(),
            key: sys.verifier().to_vkey(),
            entry: String::from_utf8(sys_entry)?,
            proof: proof_text,
        },
    };
    let bytes = w.bytes();
    let mut out = w.finish(&trailer)?;
    out.flush()?;
    let file = out.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    std::fs::rename(&tmp, output)?;
    if let Some(dir) = output.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    let range = match (indexes.first(), indexes.last()) {
        (Some(a), Some(b)) => format!(" (index {a}..={b})"),
        _ => String::new(),
    };
    println!(
        "exported {} entries of log {:?}{range} proven in its checkpoint at size {size} to {} ({:.1} MB, {:.2}s); recorded in {SYSTEM_LOG} at index {sys_index}",
        indexes.len(),
        args.log,
        output.display(),
        bytes as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    if sys.verifier().name() != log.verifier().name() {
        println!(
            "verify with: veritrail verify-bundle {} --key {} --system-key {}",
            output.display(),
            log.verifier().to_vkey(),
            sys.verifier().to_vkey()
        );
    }
    sys.close();
    Ok(ExitCode::SUCCESS)
}

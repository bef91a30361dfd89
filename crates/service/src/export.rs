//! Evidence bundles (docs/BUNDLE.md): the one builder behind `veritrail
//! export` and the server's `GET /v1/logs/{log}/export`.
//!
//! [`prepare`] picks the checkpoint the bundle proves against (the latest,
//! or the newest the witnesses cosigned), with the cosignature lines, a
//! pinned older checkpoint's consistency proof and an RFC 3161 token kept
//! for it; [`write_entries`] writes each selected entry with its inclusion
//! proof; the caller records the export in `_system` and closes the bundle
//! with [`BundleWriter::finish`].

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use rayon::prelude::*;
use veritrail_core::bundle::{self, BundleWriter, Header, Since, SystemRecord, Timestamped};
use veritrail_core::checkpoint::open_checkpoint;
use veritrail_core::proof::verify_consistency;
use veritrail_core::tlog_proof::TlogProof;
use veritrail_core::tree::LeafIndex;
use veritrail_core::{Hash, TreeSize};
use veritrail_store::{Log, LogReader, StoreError};

use crate::kept;

/// Entries read, proven and formatted per step (then written in order).
const STEP: usize = 65_536;
/// Entries per parallel task (one prover each).
const TASK: usize = 2048;

/// Why a bundle could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The request cannot be met as asked (nothing signed yet, nothing
    /// cosigned).
    #[error("{0}")]
    Refused(String),
    /// The log disagrees with a pinned checkpoint (rolled back, forked, or
    /// not this log's), or with what its witnesses cosigned.
    #[error("{0}")]
    Inconsistent(String),
    /// Reading the log.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing the bundle.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// What to export.
#[derive(Debug, Clone)]
pub struct Request {
    /// The log's name.
    pub log: String,
    /// Indexes of the entries the query selected, ascending (those past
    /// the chosen checkpoint are left out).
    pub indexes: Vec<u64>,
    /// The query that selected them (filter name to value).
    pub query: BTreeMap<String, String>,
    /// Who asks (`user@host`, or a token's id and name).
    pub exported_by: String,
    /// When (RFC 3339).
    pub exported_at: String,
    /// Prove against the newest checkpoint the witnesses cosigned.
    pub witnessed: bool,
    /// An older signed checkpoint of this log to prove consistency from.
    pub since: Option<String>,
}

/// A bundle ready to be written.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Its first line.
    pub header: Header,
    /// The tree size every proof leads to.
    pub size: u64,
    /// The entries it holds, ascending.
    pub indexes: Vec<u64>,
    /// The latest checkpoint when it was not cosigned yet and the newest
    /// cosigned one (a hint for `witnessed`), when witnesses cosign.
    pub not_cosigned: Option<(u64, u64)>,
}

fn since_section(
    log: &LogReader,
    text: String,
    size: u64,
    root: &Hash,
) -> Result<Since, ExportError> {
    let old = open_checkpoint(text.as_bytes(), log.verifier(), &[])
        .map_err(|e| {
            ExportError::Inconsistent(format!(
                "the pinned checkpoint is not a checkpoint of this log signed by its key: {e}"
            ))
        })?
        .checkpoint;
    if old.size.0 > size {
        return Err(ExportError::Inconsistent(format!(
            "the pinned checkpoint has {} entries but this log's latest has {size}: the log was rolled back or truncated",
            old.size.0
        )));
    }
    let proof = if old.size.0 == size {
        if old.root != *root {
            return Err(ExportError::Inconsistent(format!(
                "the pinned checkpoint and this log disagree on the root at size {size}: the log forked"
            )));
        }
        Vec::new()
    } else {
        let p = log.prove_consistency(old.size.0, size)?;
        verify_consistency(old.size, TreeSize(size), &p, &old.root, root).map_err(|e| {
            ExportError::Inconsistent(format!(
                "this log is not consistent with the pinned checkpoint (size {}): history was rewritten: {e}",
                old.size.0
            ))
        })?;
        p
    };
    Ok(Since {
        checkpoint: text,
        consistency: proof.iter().map(Hash::to_base64).collect(),
    })
}

/// The newest RFC 3161 token kept for a checkpoint no larger than `size`,
/// with that checkpoint and the consistency proof from it to `size`.
fn timestamped(
    log: &LogReader,
    root: &Path,
    name: &str,
    size: u64,
) -> Result<Option<Timestamped>, ExportError> {
    let Some(t) = kept::timestamp_sizes(root, name)
        .into_iter()
        .rev()
        .find(|t| *t > 0 && *t <= size)
    else {
        return Ok(None);
    };
    let Some(note) = log.checkpoint_at(t)? else {
        return Ok(None);
    };
    let token = kept::timestamp(root, name, t)?;
    let consistency = if t == size {
        Vec::new()
    } else {
        log.prove_consistency(t, size)?
    };
    Ok(Some(Timestamped {
        checkpoint: note,
        token: base64::Engine::encode(&base64::engine::general_purpose::STANDARD, token),
        consistency: consistency.iter().map(Hash::to_base64).collect(),
    }))
}

/// Chooses the checkpoint and assembles the header; `root` is the data
/// directory (where cosignatures and tokens are kept).
///
/// # Errors
/// [`ExportError::Refused`] when the log has no signed entries yet or,
/// with `witnessed`, no cosigned checkpoint; [`ExportError::Inconsistent`]
/// when the log contradicts the pinned checkpoint; store errors.
pub fn prepare(log: &LogReader, root: &Path, req: Request) -> Result<Prepared, ExportError> {
    let published = log.published();
    if published.size == 0 {
        return Err(ExportError::Refused(format!(
            "log {:?} has no signed checkpoint with entries yet",
            req.log
        )));
    }
    let cosigned = kept::cosigned_sizes(root, &req.log);
    let mut not_cosigned = None;
    let (size, tree_root, note) = if req.witnessed {
        let size = cosigned
            .iter()
            .rev()
            .copied()
            .find(|s| *s > 0 && *s <= published.size)
            .ok_or_else(|| {
                ExportError::Refused(format!(
                    "log {:?} has no checkpoint cosigned by its witnesses yet",
                    req.log
                ))
            })?;
        let note = log.checkpoint_at(size)?.ok_or_else(|| {
            ExportError::Inconsistent(format!(
                "the witnesses cosigned the checkpoint at size {size}, but the log keeps none of that size"
            ))
        })?;
        (size, log.root_at(size)?, note)
    } else {
        if !cosigned.is_empty() && !cosigned.contains(&published.size) {
            not_cosigned = Some((published.size, cosigned.last().copied().unwrap_or(0)));
        }
        (
            published.size,
            published.root,
            published.checkpoint.to_string(),
        )
    };
    let checkpoint = format!("{note}{}", kept::cosignatures(root, &req.log, size));
    let since = req
        .since
        .map(|t| since_section(log, t, size, &tree_root))
        .transpose()?;
    let timestamp = timestamped(log, root, &req.log, size)?;
    let mut indexes = req.indexes;
    indexes.retain(|i| *i < size);
    let header = Header {
        format: bundle::FORMAT.into(),
        version: bundle::version_for(timestamp.is_some()),
        log: req.log,
        origin: log.verifier().name().to_owned(),
        key: log.verifier().to_vkey(),
        checkpoint,
        query: req.query,
        exported_at: req.exported_at,
        exported_by: req.exported_by,
        entries: indexes.len() as u64,
        since,
        timestamp,
    };
    Ok(Prepared {
        header,
        size,
        indexes,
        not_cosigned,
    })
}

/// Reads the entries at sorted `indexes`, one read per run of consecutive
/// ones.
///
/// # Errors
/// Store errors.
pub fn read_sorted(log: &LogReader, indexes: &[u64]) -> Result<Vec<Vec<u8>>, StoreError> {
    let mut out = Vec::with_capacity(indexes.len());
    let mut k = 0;
    while k < indexes.len() {
        let mut j = k + 1;
        while j < indexes.len() && indexes[j] == indexes[j - 1] + 1 {
            j += 1;
        }
        out.extend(log.entries(indexes[k], (j - k) as u64)?);
        k = j;
    }
    Ok(out)
}

/// Writes the header and every entry line, proofs computed in parallel;
/// `progress` hears how many entries each step wrote.
///
/// # Errors
/// Store and I/O errors.
pub fn write_entries<W: Write>(
    log: &LogReader,
    p: &Prepared,
    out: W,
    progress: &dyn Fn(u64),
) -> Result<BundleWriter<W>, ExportError> {
    let mut w = BundleWriter::new(out, &p.header)?;
    for step in p.indexes.chunks(STEP) {
        let entries = read_sorted(log, step)?;
        let parts: Vec<Vec<u8>> = step
            .par_chunks(TASK)
            .zip(entries.par_chunks(TASK))
            .map(|(ix, es)| -> Result<Vec<u8>, ExportError> {
                let prover = log.batch_prover(p.size)?;
                let mut buf = Vec::with_capacity(ix.len() * 1600);
                for (i, e) in ix.iter().zip(es) {
                    let proof = prover.prove(*i)?;
                    bundle::write_entry_line(&mut buf, *i, e, &proof, &p.header.checkpoint)?;
                }
                Ok(buf)
            })
            .collect::<Result<_, _>>()?;
        for part in &parts {
            w.write_lines(part)?;
        }
        progress(step.len() as u64);
    }
    Ok(w)
}

/// The metadata of the `_system` record of an export.
pub fn record_metadata(p: &Prepared, manifest: &Hash, file: Option<&str>) -> serde_json::Value {
    let mut m = serde_json::json!({
        "bundle_sha256": manifest.to_base64(),
        "entries": p.indexes.len(),
        "tree_size": p.size,
        "origin": p.header.origin,
        "query": p.header.query,
    });
    if let Some(f) = file {
        m["file"] = serde_json::json!(f);
    }
    m
}

/// The trailer's `_system` section: the export's record at `index`, read
/// back once a `_system` checkpoint covers it (waited for up to
/// `timeout`), with its inclusion proof to that checkpoint.
///
/// # Errors
/// Store errors, and `OutOfRange` when no checkpoint came in time.
pub fn system_record(
    sys: &Log,
    index: u64,
    timeout: Duration,
) -> Result<SystemRecord, ExportError> {
    let published = sys.wait_for_checkpoint(index + 1, timeout)?;
    let entry = sys.entries(index, 1)?.remove(0);
    let proof = sys.prove_inclusion(index, published.size)?;
    let mut text = String::new();
    TlogProof::write_text(
        &mut text,
        LeafIndex(index),
        &proof,
        &published.checkpoint,
        None,
    );
    Ok(SystemRecord {
        origin: sys.verifier().name().to_owned(),
        key: sys.verifier().to_vkey(),
        entry: String::from_utf8(entry)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?,
        proof: text,
    })
}

//! Evidence bundles (`docs/BUNDLE.md`): a single JSON-lines file carrying
//! selected entries exactly as stored, each with a C2SP `tlog-proof` to one
//! signed checkpoint, an optional consistency proof from a checkpoint the
//! auditor pinned, and a trailer whose SHA-256 of everything before it is
//! recorded in the data directory's `_system` log — with that record's own
//! `tlog-proof` — so that dropping, adding or reordering entries is caught
//! even when the header is rewritten to match.
//!
//! This module writes the lines and verifies whole bundles; it needs nothing
//! but this crate.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::event::time::Timestamp;
use crate::note::checkpoint::{open_checkpoint, Checkpoint};
use crate::note::policy::WitnessPolicy;
use crate::note::Verifier;
use crate::tlog::hash::{leaf_hash, Hash};
use crate::tlog::proof::{verify_consistency, InclusionVerifier};
use crate::tlog::tlog_proof::{TlogProof, TlogProofRef};
use crate::tlog::tree::LeafIndex;

/// The `format` value of every bundle header.
pub const FORMAT: &str = "veritrail-bundle";
/// The newest bundle version this code writes and reads: 2 adds the
/// optional `timestamp` field; a bundle without one is written as version 1,
/// which older readers accept.
pub const VERSION: u32 = 2;

/// The version a bundle with this header is written as.
pub fn version_for(timestamped: bool) -> u32 {
    if timestamped {
        2
    } else {
        1
    }
}
/// The `_system` action that records an export.
pub const EXPORT_ACTION: &str = "evidence.export";

/// First line: what the bundle claims. Every field is covered by the
/// manifest hash, and the checkpoint by its signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// Always [`FORMAT`].
    pub format: String,
    /// 1, or 2 when `timestamp` is present ([`version_for`]).
    pub version: u32,
    /// Log name in its data directory.
    pub log: String,
    /// Log origin (the checkpoint's first line and the key's name).
    pub origin: String,
    /// The log's verifier key, for convenience; auditors should pin their own.
    pub key: String,
    /// The signed checkpoint every entry proof leads to.
    pub checkpoint: String,
    /// The query that selected the entries (filter name to value).
    pub query: BTreeMap<String, String>,
    /// When the bundle was made (RFC 3339).
    pub exported_at: String,
    /// Who made it (`user@host`).
    pub exported_by: String,
    /// Number of entry lines that follow.
    pub entries: u64,
    /// Consistency from a checkpoint the exporter was asked to pin.
    pub since: Option<Since>,
    /// An RFC 3161 timestamp over a checkpoint of the log, when the
    /// exporter had one (absent from bundles without it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Timestamped>,
}

/// An RFC 3161 timestamp token over a signed checkpoint no larger than the
/// bundle's, and the consistency proof from it to the bundle's: every entry
/// below its size existed when the token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timestamped {
    /// The signed checkpoint note the token's imprint covers (exact bytes).
    pub checkpoint: String,
    /// The token: base64 of the DER `ContentInfo`.
    pub token: String,
    /// RFC 9162 consistency proof from it to the bundle's checkpoint.
    pub consistency: Vec<String>,
}

/// A pinned older checkpoint and the consistency proof to the bundle's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Since {
    /// The older signed checkpoint.
    pub checkpoint: String,
    /// RFC 9162 consistency proof (base64 hashes).
    pub consistency: Vec<String>,
}

/// One entry line.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryLine<'a> {
    /// Index in the log.
    pub index: u64,
    /// The entry's stored bytes (UTF-8 canonical JSON) as a string.
    #[serde(borrow)]
    pub entry: std::borrow::Cow<'a, str>,
    /// C2SP tlog-proof text to the header's checkpoint.
    #[serde(borrow)]
    pub proof: std::borrow::Cow<'a, str>,
}

/// Last line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trailer {
    /// Base64 SHA-256 of every byte before this line.
    pub manifest: String,
    /// The `_system` record of this export.
    pub system: SystemRecord,
}

/// The `_system` entry that records the export, with its proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemRecord {
    /// `_system` log origin.
    pub origin: String,
    /// `_system` verifier key (convenience; pin your own).
    pub key: String,
    /// The stored `_system` entry.
    pub entry: String,
    /// Its tlog-proof.
    pub proof: String,
}

/// Appends one entry line (with its newline) to `out`.
///
/// # Errors
/// `InvalidData` if the entry is not UTF-8 (stored entries always are).
pub fn write_entry_line(
    out: &mut Vec<u8>,
    index: u64,
    entry: &[u8],
    proof: &[Hash],
    checkpoint: &str,
) -> io::Result<()> {
    let entry = std::str::from_utf8(entry).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("entry {index} is not UTF-8"),
        )
    })?;
    let mut text = String::with_capacity(64 + 45 * proof.len() + checkpoint.len());
    TlogProof::write_text(&mut text, LeafIndex(index), proof, checkpoint, None);
    serde_json::to_writer(
        &mut *out,
        &EntryLine {
            index,
            entry: entry.into(),
            proof: text.into(),
        },
    )?;
    out.push(b'\n');
    Ok(())
}

/// Writes a bundle, hashing every byte for the manifest.
pub struct BundleWriter<W: Write> {
    out: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> BundleWriter<W> {
    /// Starts a bundle with its header line.
    ///
    /// # Errors
    /// Write errors.
    pub fn new(out: W, header: &Header) -> io::Result<Self> {
        let mut w = BundleWriter {
            out,
            hasher: Sha256::new(),
            bytes: 0,
        };
        let mut line = serde_json::to_vec(header)?;
        line.push(b'\n');
        w.write_lines(&line)?;
        Ok(w)
    }

    /// Writes complete lines (from [`write_entry_line`]).
    ///
    /// # Errors
    /// Write errors.
    pub fn write_lines(&mut self, lines: &[u8]) -> io::Result<()> {
        self.hasher.update(lines);
        self.bytes += lines.len() as u64;
        self.out.write_all(lines)
    }

    /// SHA-256 of everything written so far: what `_system` must record.
    pub fn manifest(&self) -> Hash {
        Hash(self.hasher.clone().finalize().into())
    }

    /// Bytes written so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Writes the trailer and returns the output.
    ///
    /// # Errors
    /// Write errors.
    pub fn finish(mut self, trailer: &Trailer) -> io::Result<W> {
        let mut line = serde_json::to_vec(trailer)?;
        line.push(b'\n');
        self.out.write_all(&line)?;
        Ok(self.out)
    }
}

/// What the auditor trusts, from outside the bundle.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// The log's verifier key. Without it the bundle's own key is used,
    /// which proves only self-consistency.
    pub log_key: Option<Verifier>,
    /// The `_system` log's verifier key (same caveat).
    pub system_key: Option<Verifier>,
    /// A checkpoint the auditor pinned earlier: the bundle must carry a
    /// consistency proof from exactly this tree head.
    pub since_checkpoint: Option<String>,
    /// The bundle's checkpoint must meet this witness policy.
    pub witnesses: Option<WitnessPolicy>,
}

/// What a verified bundle shows.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The header as verified.
    pub header: Header,
    /// The checkpoint every entry is proven in.
    pub checkpoint: Checkpoint,
    /// The key that signed it (`name+id`).
    pub signer: String,
    /// Whether the log key came from the bundle rather than the caller.
    pub log_key_from_bundle: bool,
    /// Whether the `_system` key came from the bundle rather than the caller.
    pub system_key_from_bundle: bool,
    /// Number of entries.
    pub entries: u64,
    /// Lowest and highest entry index.
    pub index_range: Option<(u64, u64)>,
    /// Earliest and latest `received_at` among the entries.
    pub time_range: Option<(Timestamp, Timestamp)>,
    /// Tree size of the pinned older checkpoint, when present.
    pub since_size: Option<u64>,
    /// `_system` origin and index of the export record.
    pub system_record: (String, u64),
    /// The policy witnesses whose cosignatures on the checkpoint verify
    /// (empty without a policy).
    pub witnessed_by: Vec<String>,
    /// The timestamped checkpoint (its signature and consistency with the
    /// bundle's checked; the token itself is for an RFC 3161 verifier):
    /// its tree size, the note's bytes and the DER token.
    pub timestamp: Option<(u64, String, Vec<u8>)>,
}

/// A bundle that failed verification, naming the first failing item.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line} ({item}): {reason}")]
pub struct BundleError {
    /// 1-based line of the bundle.
    pub line: usize,
    /// `header`, `entry 1234`, `trailer`, …
    pub item: String,
    /// Why.
    pub reason: String,
}

fn err(line: usize, item: impl Into<String>, reason: impl Into<String>) -> BundleError {
    BundleError {
        line,
        item: item.into(),
        reason: reason.into(),
    }
}

fn parse_header(line: &[u8]) -> Result<Header, BundleError> {
    let v: serde_json::Value =
        serde_json::from_slice(line).map_err(|e| err(1, "header", format!("not JSON: {e}")))?;
    if v.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
        return Err(err(
            1,
            "header",
            format!("not a {FORMAT} file (format field)"),
        ));
    }
    match v.get("version").and_then(serde_json::Value::as_u64) {
        Some(1) if v.get("timestamp").is_some() => {
            return Err(err(
                1,
                "header",
                "a version 1 bundle has no timestamp field",
            ))
        }
        Some(n) if (1..=u64::from(VERSION)).contains(&n) => {}
        Some(n) => {
            return Err(err(
                1,
                "header",
                format!(
                "bundle version {n} is not supported (this verifier reads versions 1 to {VERSION})"
            ),
            ))
        }
        None => return Err(err(1, "header", "no version")),
    }
    serde_json::from_value(v).map_err(|e| err(1, "header", e.to_string()))
}

fn key_or_bundled(
    given: &Option<Verifier>,
    bundled: &str,
    line: usize,
    item: &str,
) -> Result<(Verifier, bool), BundleError> {
    match given {
        Some(k) => Ok((k.clone(), false)),
        None => Verifier::parse(bundled)
            .map(|k| (k, true))
            .map_err(|e| err(line, item, format!("key: {e}"))),
    }
}

/// One verified entry line: its index and `received_at`.
type EntryCheck = Result<(u64, Option<Timestamp>), BundleError>;

fn check_entry(
    line_no: usize,
    line: &[u8],
    header: &Header,
    verifier: &mut InclusionVerifier,
) -> EntryCheck {
    let item = || format!("entry line {}", line_no - 1);
    let e: EntryLine<'_> = serde_json::from_slice(line)
        .map_err(|x| err(line_no, item(), format!("not an entry line: {x}")))?;
    let item = format!("entry {}", e.index);
    let proof = TlogProofRef::parse(&e.proof).map_err(|x| err(line_no, &item, x.to_string()))?;
    if proof.index.0 != e.index {
        return Err(err(
            line_no,
            &item,
            format!("the proof is for index {}, not {}", proof.index.0, e.index),
        ));
    }
    if proof.checkpoint != header.checkpoint {
        return Err(err(
            line_no,
            &item,
            "the proof's checkpoint is not the bundle's checkpoint",
        ));
    }
    verifier
        .verify(&leaf_hash(e.entry.as_bytes()), proof.index, &proof.hashes)
        .map_err(|x| {
            err(
                line_no,
                &item,
                format!("the entry is not in the checkpointed log: inclusion proof: {x}"),
            )
        })?;
    // Only `received_at` is needed: everything else is skipped unparsed.
    #[derive(Deserialize)]
    struct Received<'a> {
        #[serde(borrow, default)]
        received_at: Option<std::borrow::Cow<'a, str>>,
    }
    let received = serde_json::from_str::<Received<'_>>(&e.entry)
        .ok()
        .and_then(|r| r.received_at)
        .and_then(|t| Timestamp::parse_rfc3339(&t).ok());
    Ok((e.index, received))
}

fn check_entries(
    lines: &[&[u8]],
    first_line: usize,
    header: &Header,
    cp: &Checkpoint,
) -> Vec<EntryCheck> {
    let fresh = || InclusionVerifier::new(cp.size, cp.root);
    #[cfg(feature = "parallel")]
    {
        use rayon::prelude::*;
        lines
            .par_iter()
            .enumerate()
            .with_min_len(4096)
            .map_init(fresh, |v, (k, l)| check_entry(first_line + k, l, header, v))
            .collect()
    }
    #[cfg(not(feature = "parallel"))]
    {
        let mut v = fresh();
        lines
            .iter()
            .enumerate()
            .map(|(k, l)| check_entry(first_line + k, l, header, &mut v))
            .collect()
    }
}

fn check_since(
    header: &Header,
    key: &Verifier,
    cp: &Checkpoint,
    pinned: Option<&str>,
) -> Result<Option<u64>, BundleError> {
    let Some(since) = &header.since else {
        if pinned.is_some() {
            return Err(err(
                1,
                "header",
                "you pinned a checkpoint but the bundle has no consistency proof (`since`)",
            ));
        }
        return Ok(None);
    };
    let bad = |r: String| err(1, "header.since", r);
    let old = open_checkpoint(since.checkpoint.as_bytes(), key, &[])
        .map_err(|e| bad(format!("the older checkpoint does not verify: {e}")))?
        .checkpoint;
    if let Some(p) = pinned {
        let pinned = open_checkpoint(p.as_bytes(), key, &[])
            .map_err(|e| bad(format!("your pinned checkpoint does not verify: {e}")))?
            .checkpoint;
        if pinned.size != old.size || pinned.root != old.root {
            return Err(bad(format!(
                "the bundle proves consistency from tree size {} but you pinned size {}",
                old.size.0, pinned.size.0
            )));
        }
    }
    extends(&old, cp, &since.consistency, "the pinned checkpoint").map_err(bad)?;
    Ok(Some(old.size.0))
}

/// Checks that `cp` extends the older checkpoint `old` with the consistency
/// proof `hashes` (equal sizes need equal roots and an empty proof); `what`
/// names the older one in the reason.
fn extends(old: &Checkpoint, cp: &Checkpoint, hashes: &[String], what: &str) -> Result<(), String> {
    let proof = consistency_hashes(hashes)
        .ok_or_else(|| "a consistency hash is not canonical base64 of 32 bytes".to_owned())?;
    if old.size.0 > cp.size.0 {
        return Err(format!(
            "{what} (size {}) is newer than the bundle's (size {}): the log was rolled back",
            old.size.0, cp.size.0
        ));
    }
    if old.size == cp.size {
        if old.root != cp.root || !proof.is_empty() {
            return Err(format!(
                "{what} has the bundle's tree size and another root: the log forked"
            ));
        }
        return Ok(());
    }
    verify_consistency(old.size, cp.size, &proof, &old.root, &cp.root).map_err(|e| {
        format!("the bundle's checkpoint is not consistent with {what} (history rewritten?): {e}")
    })
}

fn consistency_hashes(hashes: &[String]) -> Option<Vec<Hash>> {
    hashes
        .iter()
        .map(|h| Hash::from_base64(h).filter(|x| x.to_base64() == *h))
        .collect()
}

/// Checks the timestamped checkpoint's signature and its consistency with
/// the bundle's checkpoint.
fn check_timestamp(
    header: &Header,
    key: &Verifier,
    cp: &Checkpoint,
) -> Result<Option<(u64, String, Vec<u8>)>, BundleError> {
    let Some(t) = &header.timestamp else {
        return Ok(None);
    };
    let bad = |r: String| err(1, "header.timestamp", r);
    let old = open_checkpoint(t.checkpoint.as_bytes(), key, &[])
        .map_err(|e| bad(format!("the timestamped checkpoint does not verify: {e}")))?
        .checkpoint;
    let token = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &t.token)
        .map_err(|e| bad(format!("the token is not base64: {e}")))?;
    extends(&old, cp, &t.consistency, "the timestamped checkpoint").map_err(bad)?;
    Ok(Some((old.size.0, t.checkpoint.clone(), token)))
}

fn check_trailer(
    line_no: usize,
    line: &[u8],
    manifest: &Hash,
    header: &Header,
    cp: &Checkpoint,
    opts: &VerifyOptions,
) -> Result<(String, u64, bool), BundleError> {
    let t: Trailer = serde_json::from_slice(line)
        .map_err(|e| err(line_no, "trailer", format!("not a trailer line: {e}")))?;
    if t.manifest != manifest.to_base64() {
        return Err(err(
            line_no,
            "trailer",
            "the manifest hash does not match the bundle's contents: lines were edited, added, dropped or reordered",
        ));
    }
    // Exports of `_system` itself are recorded with the log's own key.
    let given = opts
        .system_key
        .clone()
        .or_else(|| opts.log_key.clone().filter(|k| k.name() == t.system.origin));
    let (key, from_bundle) = key_or_bundled(&given, &t.system.key, line_no, "trailer")?;
    let bad = |r: String| err(line_no, "trailer.system", r);
    let proof = TlogProof::parse(&t.system.proof).map_err(|e| bad(e.to_string()))?;
    let scp = proof
        .verify(t.system.entry.as_bytes(), &key)
        .map_err(|e| bad(format!("the export record is not proven in _system: {e}")))?;
    let rec: serde_json::Value = serde_json::from_str(&t.system.entry)
        .map_err(|e| bad(format!("the export record is not JSON: {e}")))?;
    let m = &rec["metadata"];
    let checks: [(&str, bool); 6] = [
        ("action", rec["action"] == EXPORT_ACTION),
        ("target.id", rec["target"]["id"] == header.log.as_str()),
        (
            "metadata.bundle_sha256",
            m["bundle_sha256"] == manifest.to_base64().as_str(),
        ),
        ("metadata.entries", m["entries"] == header.entries),
        ("metadata.tree_size", m["tree_size"] == cp.size.0),
        ("metadata.origin", m["origin"] == header.origin.as_str()),
    ];
    if let Some((field, _)) = checks.iter().find(|(_, ok)| !ok) {
        return Err(bad(format!(
            "the _system export record does not describe this bundle ({field} differs)"
        )));
    }
    Ok((
        scp.checkpoint.origin.as_str().to_owned(),
        proof.index.0,
        from_bundle,
    ))
}

/// Why a bundle could not be verified.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The bundle is wrong: the first failing item.
    #[error(transparent)]
    Invalid(#[from] BundleError),
    /// It could not be read.
    #[error("reading the bundle: {0}")]
    Io(#[from] io::Error),
}

/// Bytes read per step while streaming a bundle.
const READ_STEP: usize = 16 << 20;

/// Appends up to [`READ_STEP`] bytes; `true` at end of input.
#[cfg(not(feature = "parallel"))]
fn fill(r: &mut dyn Read, buf: &mut Vec<u8>) -> io::Result<bool> {
    let n = r.take(READ_STEP as u64).read_to_end(buf)?;
    Ok(n < READ_STEP)
}

fn find_nl(b: &[u8]) -> Option<usize> {
    b.iter().position(|c| *c == b'\n')
}

fn rfind_nl(b: &[u8]) -> Option<usize> {
    b.iter().rposition(|c| *c == b'\n')
}

/// Running checks over the entry lines.
struct EntryRun {
    line_no: usize,
    count: u64,
    first: Option<u64>,
    prev: Option<u64>,
    time_range: Option<(Timestamp, Timestamp)>,
}

impl EntryRun {
    fn absorb(&mut self, checked: Vec<EntryCheck>) -> Result<(), BundleError> {
        for r in checked {
            let line = self.line_no;
            self.line_no += 1;
            self.count += 1;
            let (index, received) = r?;
            if let Some(p) = self.prev.filter(|p| index <= *p) {
                return Err(err(
                    line,
                    format!("entry {index}"),
                    format!("entries must be in increasing index order; {index} follows {p}"),
                ));
            }
            self.first.get_or_insert(index);
            self.prev = Some(index);
            if let Some(t) = received {
                self.time_range = Some(match self.time_range {
                    None => (t, t),
                    Some((a, b)) => (a.min(t), b.max(t)),
                });
            }
        }
        Ok(())
    }
}

/// Verifies a whole bundle held in memory.
///
/// # Errors
/// The first failing item, in file order.
pub fn verify(bundle: &[u8], opts: &VerifyOptions) -> Result<Summary, BundleError> {
    let mut r = bundle;
    match verify_reader(&mut r, opts) {
        Ok(s) => Ok(s),
        Err(VerifyError::Invalid(e)) => Err(e),
        Err(VerifyError::Io(e)) => Err(err(0, "file", e.to_string())),
    }
}

/// Verifies a bundle streamed from `r`, in bounded memory: entry lines are
/// checked in parallel a few megabytes at a time while the manifest hash is
/// computed alongside.
///
/// # Errors
/// [`VerifyError::Invalid`] with the first failing item in file order, or
/// [`VerifyError::Io`].
pub fn verify_reader(
    r: &mut (dyn Read + Send),
    opts: &VerifyOptions,
) -> Result<Summary, VerifyError> {
    // With threads, a reader thread fetches the next step while this one
    // verifies the current one.
    #[cfg(feature = "parallel")]
    {
        let (tx, rx) = std::sync::mpsc::sync_channel::<io::Result<Vec<u8>>>(2);
        std::thread::scope(|s| {
            s.spawn(move || loop {
                let mut chunk = Vec::with_capacity(READ_STEP);
                match r.take(READ_STEP as u64).read_to_end(&mut chunk) {
                    Ok(n) => {
                        if tx.send(Ok(chunk)).is_err() || n < READ_STEP {
                            return;
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                }
            });
            let mut next = move |buf: &mut Vec<u8>| -> io::Result<bool> {
                match rx.recv() {
                    Ok(Ok(chunk)) => {
                        buf.extend_from_slice(&chunk);
                        Ok(chunk.len() < READ_STEP)
                    }
                    Ok(Err(e)) => Err(e),
                    Err(_) => Ok(true),
                }
            };
            let result = verify_with(&mut next, opts);
            // Dropping the receiver stops a reader still waiting to send.
            drop(next);
            result
        })
    }
    #[cfg(not(feature = "parallel"))]
    verify_with(&mut |buf: &mut Vec<u8>| fill(r, buf), opts)
}

/// [`verify_reader`] over a source that appends the next step to a buffer
/// and says whether the input has ended.
fn verify_with(
    fill: &mut dyn FnMut(&mut Vec<u8>) -> io::Result<bool>,
    opts: &VerifyOptions,
) -> Result<Summary, VerifyError> {
    let mut buf: Vec<u8> = Vec::new();
    let mut eof = false;
    let mut hasher = Sha256::new();
    // The header line.
    let nl = loop {
        if let Some(p) = find_nl(&buf) {
            break p;
        }
        if eof {
            return Err(if buf.is_empty() {
                err(1, "header", "the file is empty")
            } else {
                err(
                    1,
                    "header",
                    "the file has a single unterminated line: truncated?",
                )
            }
            .into());
        }
        eof = fill(&mut buf)?;
    };
    let header = parse_header(&buf[..nl])?;
    hasher.update(&buf[..=nl]);
    buf.drain(..=nl);
    let (key, log_key_from_bundle) = key_or_bundled(&opts.log_key, &header.key, 1, "header")?;
    let cp = open_checkpoint(header.checkpoint.as_bytes(), &key, &[])
        .map_err(|e| {
            err(
                1,
                "header.checkpoint",
                format!("does not verify with {}: {e}", key.name()),
            )
        })?
        .checkpoint;
    if cp.origin.as_str() != header.origin {
        return Err(err(1, "header.origin", "differs from the checkpoint's origin").into());
    }
    let since_size = check_since(&header, &key, &cp, opts.since_checkpoint.as_deref())?;
    let witnessed_by = match &opts.witnesses {
        Some(p) => p
            .check_log(&key, header.checkpoint.as_bytes())
            .map_err(|e| err(1, "header.checkpoint", format!("not witnessed: {e}")))?,
        None => Vec::new(),
    };
    let timestamp = check_timestamp(&header, &key, &cp)?;
    let mut run = EntryRun {
        line_no: 2,
        count: 0,
        first: None,
        prev: None,
        time_range: None,
    };
    // Entry lines, keeping the last complete line back: it may be the trailer.
    let trailer = loop {
        if !eof {
            eof = fill(&mut buf)?;
        }
        let Some(last_nl) = rfind_nl(&buf) else {
            if eof {
                return Err(err(
                    run.line_no,
                    "trailer",
                    if buf.is_empty() {
                        "missing: the bundle is truncated"
                    } else {
                        "the file does not end with a newline: truncated?"
                    },
                )
                .into());
            }
            continue;
        };
        if eof && last_nl + 1 != buf.len() {
            return Err(err(
                run.line_no + buf[..last_nl].iter().filter(|c| **c == b'\n').count() + 1,
                "trailer",
                "the file does not end with a newline: truncated?",
            )
            .into());
        }
        let last_start = rfind_nl(&buf[..last_nl]).map_or(0, |p| p + 1);
        if last_start > 0 {
            let region = &buf[..last_start];
            let lines: Vec<&[u8]> = region[..region.len() - 1].split(|c| *c == b'\n').collect();
            let start_line = run.line_no;
            #[cfg(feature = "parallel")]
            let checked = rayon::join(
                || check_entries(&lines, start_line, &header, &cp),
                || hasher.update(region),
            )
            .0;
            #[cfg(not(feature = "parallel"))]
            let checked = {
                hasher.update(region);
                check_entries(&lines, start_line, &header, &cp)
            };
            run.absorb(checked)?;
            buf.drain(..last_start);
        }
        if eof {
            buf.truncate(buf.len() - 1);
            break buf;
        }
    };
    if run.count != header.entries {
        return Err(err(
            run.line_no,
            "trailer",
            format!(
                "the header announces {} entries but {} are present",
                header.entries, run.count
            ),
        )
        .into());
    }
    let manifest = Hash(hasher.finalize().into());
    let (sys_origin, sys_index, system_key_from_bundle) =
        check_trailer(run.line_no, &trailer, &manifest, &header, &cp, opts)?;
    Ok(Summary {
        signer: format!("{}+{:08x}", key.name(), key.key_id()),
        checkpoint: cp,
        header,
        log_key_from_bundle,
        system_key_from_bundle,
        entries: run.count,
        index_range: run.first.zip(run.prev),
        time_range: run.time_range,
        since_size,
        system_record: (sys_origin, sys_index),
        witnessed_by,
        timestamp,
    })
}

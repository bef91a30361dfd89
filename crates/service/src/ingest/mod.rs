//! One ingest API for every transport: HTTP, the command line, and the
//! collectors that come (syslog, forwarder). [`crate::Service::ingest`]
//! takes a body or a list of events, validates and canonicalizes every item
//! before anything is stored (a batch is atomic), honours an idempotency
//! key, appends, answers once the entries are durable, and with
//! [`Wait::Proof`] waits for the checkpoint covering them and proves each.
//!
//! The pure part — bytes to a batch — is in [`prepare`] and, for a stream
//! of NDJSON read in blocks, [`stream`].

pub mod prepare;
pub mod stream;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Value};
use veritrail_core::hash::Hash;
use veritrail_core::EventError;
use veritrail_store::{Appended, Published, StoreError};

use crate::error::ServiceError;

/// Most events per request (or per batch of a collector).
pub const MAX_EVENTS: usize = 10_000;
/// Bodies larger than this are prepared off the async workers.
const INLINE_PREPARE: usize = 64 * 1024;

/// How a body holds its events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One JSON event object, or a JSON array of them.
    Json,
    /// One event per line (blank lines skipped).
    Ndjson,
}

impl Format {
    /// The format a `Content-Type` names: `application/json` (or none),
    /// `application/x-ndjson` or `application/jsonl`; `None` for any other.
    pub fn from_media_type(media_type: &str) -> Option<Format> {
        match media_type {
            "application/json" | "" => Some(Format::Json),
            "application/x-ndjson" | "application/jsonl" => Some(Format::Ndjson),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Ndjson => "ndjson",
        }
    }
}

/// What to ingest.
#[derive(Clone, Debug)]
pub enum Input {
    /// A request body.
    Body {
        /// the bytes
        bytes: bytes::Bytes,
        /// what they hold
        format: Format,
    },
    /// Events one by one, each the JSON of one event.
    Events(Vec<Vec<u8>>),
}

/// When the answer is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Wait {
    /// Once the entries are durable (fdatasync'd).
    #[default]
    Durable,
    /// Once a signed checkpoint covers them, with an inclusion proof of
    /// each: a receipt verifiable offline.
    Proof,
}

impl Wait {
    /// `proof`, or `none`/absent for [`Wait::Durable`].
    pub fn parse(s: Option<&str>) -> Option<Wait> {
        match s {
            None | Some("none") => Some(Wait::Durable),
            Some("proof") => Some(Wait::Proof),
            Some(_) => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Wait::Durable => "",
            Wait::Proof => "proof",
        }
    }
}

/// An `Idempotency-Key` and whose it is: a retried request with the same
/// key (per scope, for 24 hours) gets the first answer and appends nothing.
#[derive(Clone, Debug)]
pub struct IdempotencyKey {
    /// Whose keys these are (a token ID).
    pub scope: String,
    /// The key: 1-255 visible ASCII characters.
    pub key: String,
}

impl IdempotencyKey {
    /// Checks a key.
    ///
    /// # Errors
    /// [`IngestError::BadIdempotencyKey`].
    pub fn new(scope: &str, key: &str) -> Result<IdempotencyKey, IngestError> {
        if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(IngestError::BadIdempotencyKey);
        }
        Ok(IdempotencyKey {
            scope: scope.to_owned(),
            key: key.to_owned(),
        })
    }
}

/// How to ingest.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// When to answer.
    pub wait: Wait,
    /// Replay protection.
    pub idempotency: Option<IdempotencyKey>,
}

/// The answer to an ingest: where the entries went, and with
/// [`Wait::Proof`] the checkpoint and a proof of each.
#[derive(Clone, Debug)]
pub struct Receipt {
    /// Index of the first entry; the rest follow.
    pub first_index: u64,
    /// Leaf hash of each entry.
    pub leaf_hashes: Vec<Hash>,
    /// The checkpoint covering them and each entry's inclusion proof.
    pub proofs: Option<(Published, Vec<Vec<Hash>>)>,
    /// The log's verifier key.
    pub verifier_key: String,
}

impl Receipt {
    /// The JSON answer (docs/API.md "Append events").
    pub fn to_json(&self) -> Value {
        let mut entries: Vec<Value> = self
            .leaf_hashes
            .iter()
            .enumerate()
            .map(|(k, h)| json!({"index": self.first_index + k as u64, "leaf_hash": B64.encode(h.0)}))
            .collect();
        let Some((p, proofs)) = &self.proofs else {
            return json!({ "entries": entries });
        };
        for (e, proof) in entries.iter_mut().zip(proofs) {
            e["inclusion_proof"] = json!(proof.iter().map(Hash::to_base64).collect::<Vec<_>>());
        }
        json!({
            "entries": entries,
            "tree_size": p.size,
            "checkpoint": p.checkpoint.as_ref(),
            "verifier_key": self.verifier_key,
        })
    }
}

/// What an ingest answers.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// Appended now.
    Appended(Receipt),
    /// The first answer to this idempotency key, replayed (its JSON):
    /// nothing was appended.
    Replayed(String),
}

/// The answer without proofs, `{"entries":[{"index":…,"leaf_hash":…},…]}`,
/// written directly (a batch of 10,000 is 10,000 entries): the same bytes
/// [`Receipt::to_json`] gives.
fn entries_answer(first_index: u64, leaf_hashes: &[Hash]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(16 + leaf_hashes.len() * 72);
    out.push_str("{\"entries\":[");
    for (k, h) in leaf_hashes.iter().enumerate() {
        if k > 0 {
            out.push(',');
        }
        let _ = write!(
            out,
            "{{\"index\":{},\"leaf_hash\":\"",
            first_index + k as u64
        );
        B64.encode_string(h.0, &mut out);
        out.push_str("\"}");
    }
    out.push_str("]}");
    out
}

impl Outcome {
    /// The JSON text of the answer.
    pub fn body(&self) -> String {
        match self {
            Outcome::Appended(r) if r.proofs.is_none() => {
                entries_answer(r.first_index, &r.leaf_hashes)
            }
            Outcome::Appended(r) => r.to_json().to_string(),
            Outcome::Replayed(b) => b.clone(),
        }
    }
}

/// Why an ingest stored nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// An event is invalid (which item, which field, why).
    #[error("item {item}: {error}")]
    Event {
        /// 0-based position in the request
        item: usize,
        /// what is wrong
        error: EventError,
    },
    /// More events than one request may carry.
    #[error("{0}")]
    TooManyEvents(String),
    /// The body is not JSON.
    #[error("{0}")]
    InvalidJson(String),
    /// The body is JSON but neither an event nor an array of events.
    #[error("{0}")]
    InvalidBody(String),
    /// No events at all.
    #[error("no events in the request body")]
    Empty,
    /// The idempotency key is malformed.
    #[error("Idempotency-Key must be 1-255 visible ASCII characters")]
    BadIdempotencyKey,
    /// A request with this key is still being processed.
    #[error("a request with this Idempotency-Key is still being processed")]
    IdempotencyInProgress,
    /// The key was used with another request.
    #[error("this Idempotency-Key was already used with a different request")]
    IdempotencyKeyReused,
    /// The log takes no appends now (its ack gate says why: e.g. object
    /// storage refuses uploads). Nothing was stored.
    #[error("log {log} takes no events now: {why}")]
    Unavailable {
        /// the log
        log: String,
        /// why
        why: String,
    },
    /// The events are durable on this node but the ack gate's condition
    /// did not come true in time (e.g. not yet in object storage). A retry
    /// without the same Idempotency-Key may store them twice.
    #[error("the {count} events are durable on this node (first index {first_index}) but not acknowledged: {why}")]
    NotAcknowledged {
        /// index of the first
        first_index: u64,
        /// how many
        count: u64,
        /// why
        why: String,
    },
    /// Appending or proving failed.
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<StoreError> for IngestError {
    fn from(e: StoreError) -> IngestError {
        IngestError::Service(ServiceError::Store(e))
    }
}

/// The SHA-256 that identifies a request for its idempotency key.
fn request_hash(log: &str, wait: Wait, input: &Input) -> String {
    let mut parts: Vec<&[u8]> = vec![log.as_bytes(), b"\0", wait.name().as_bytes(), b"\0"];
    match input {
        Input::Body { bytes, format } => {
            parts.extend([format.name().as_bytes(), b"\0", &bytes[..]]);
        }
        Input::Events(evs) => {
            parts.push(b"events\0");
            for e in evs {
                parts.extend([&e[..], b"\n"]);
            }
        }
    }
    Hash(veritrail_core::hash::sha256(&parts)).to_hex()
}

impl crate::Service {
    /// Ingests into log `log` (which must exist; authorization is the
    /// edge's).
    ///
    /// # Errors
    /// [`IngestError`]: nothing was stored (for `Wait::Proof`, a timeout
    /// waiting for the checkpoint comes after the entries are durable).
    pub async fn ingest(
        &self,
        log_name: &str,
        input: Input,
        options: Options,
    ) -> Result<Outcome, IngestError> {
        let log = self.log(log_name)?;
        let gate = self.ack_gate().cloned();
        if let Some(why) = gate.as_ref().and_then(|g| g.refuses(log_name)) {
            return Err(IngestError::Unavailable {
                log: log_name.to_owned(),
                why,
            });
        }
        // Claim the key, then replay a remembered answer if there is one.
        let mut claimed = None;
        if let Some(k) = &options.idempotency {
            let request = request_hash(log_name, options.wait, &input);
            let guard = self
                .idempotency
                .begin(&k.scope, &k.key)
                .ok_or(IngestError::IdempotencyInProgress)?;
            let (store, scope, key) = (self.idempotency.clone(), k.scope.clone(), k.key.clone());
            let stored =
                crate::error::blocking(move || store.get(&scope, &key).map_err(ServiceError::from))
                    .await?;
            if let Some(stored) = stored {
                if stored.request != request {
                    return Err(IngestError::IdempotencyKeyReused);
                }
                let body = self.answer_again(&log, stored.body).await?;
                return Ok(Outcome::Replayed(body));
            }
            claimed = Some((guard, request));
        }
        let stamp = crate::audit::now().to_rfc3339_nanos();
        let batch = match input {
            Input::Body { bytes, format } if bytes.len() > INLINE_PREPARE => {
                tokio::task::spawn_blocking(move || prepare::prepare_body(&bytes, format, &stamp))
                    .await
                    .map_err(|e| ServiceError::Task(e.to_string()))??
            }
            Input::Body { bytes, format } => prepare::prepare_body(&bytes, format, &stamp)?,
            Input::Events(evs) => prepare::prepare_events(&evs, &stamp)?,
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        log.append_prepared(batch, move |r| {
            let _ = tx.send(r);
        });
        let Appended {
            first_index,
            leaf_hashes,
        } = rx
            .await
            .map_err(|_| StoreError::Closed(log_name.to_owned()))??;
        if let Some(g) = gate.filter(|g| g.waits()) {
            let end = first_index + leaf_hashes.len() as u64;
            let name = log_name.to_owned();
            let waited = tokio::task::spawn_blocking(move || g.wait(&name, end))
                .await
                .map_err(|e| ServiceError::Task(e.to_string()))?;
            if let Err(why) = waited {
                return Err(IngestError::NotAcknowledged {
                    first_index,
                    count: leaf_hashes.len() as u64,
                    why,
                });
            }
        }
        let mut receipt = Receipt {
            first_index,
            leaf_hashes,
            proofs: None,
            verifier_key: log.verifier().to_vkey(),
        };
        if options.wait == Wait::Proof {
            // A receipt: wait for a checkpoint covering the batch, then
            // prove each entry.
            let end = first_index + receipt.leaf_hashes.len() as u64;
            let n = receipt.leaf_hashes.len() as u64;
            let timeout = self.config.receipt_timeout;
            let log2 = log.clone();
            receipt.proofs = Some(
                crate::error::blocking(move || {
                    let p = log2.wait_for_checkpoint(end, timeout)?;
                    let proofs = (0..n)
                        .map(|k| log2.prove_inclusion(first_index + k, p.size))
                        .collect::<Result<Vec<_>, _>>()?;
                    Ok::<_, ServiceError>((p, proofs))
                })
                .await?,
            );
        }
        let outcome = Outcome::Appended(receipt);
        if let (Some(k), Some((_guard, request))) = (&options.idempotency, claimed) {
            // Remembered before the answer is given: a retry after this
            // point replays it. (A crash between the append and here loses
            // the record, and a retry appends again: a duplicate, never a
            // loss.)
            let (store, scope, key, body) = (
                self.idempotency.clone(),
                k.scope.clone(),
                k.key.clone(),
                remembered(&outcome),
            );
            crate::error::blocking(move || {
                store
                    .put(&scope, &key, &request, &body)
                    .map_err(ServiceError::from)
            })
            .await?;
        }
        Ok(outcome)
    }

    /// The answer to give again for a remembered one: as remembered, or,
    /// for a range (see [`remembered`]), made again from the entries the
    /// log holds — the same bytes as the first time.
    async fn answer_again(
        &self,
        log: &std::sync::Arc<veritrail_store::Log>,
        stored: String,
    ) -> Result<String, IngestError> {
        let Some((first_index, count)) = range_of(&stored) else {
            return Ok(stored);
        };
        let (log, timeout) = (log.clone(), self.config.receipt_timeout);
        crate::error::blocking(move || {
            // Entries are read back once a checkpoint covers them (a retry
            // comes after the first answer, so they are durable).
            log.wait_for_checkpoint(first_index + count, timeout)?;
            let entries = log.reader().entries(first_index, count)?;
            let mut hashes = vec![Hash([0; 32]); entries.len()];
            veritrail_core::hash::leaf_hashes_to(&entries, &mut hashes);
            Ok::<_, ServiceError>(entries_answer(first_index, &hashes))
        })
        .await
        .map_err(IngestError::from)
    }
}

/// What the idempotency store keeps of an answer: one without proofs as
/// the range of entries it names, `@<first index>+<count>` (the log holds
/// their hashes; kept whole, the answer to a batch of 10,000 would occupy
/// ~720 KB for the 24 hours answers are kept), any other whole.
fn remembered(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Appended(r) if r.proofs.is_none() => {
            format!("@{}+{}", r.first_index, r.leaf_hashes.len())
        }
        o => o.body(),
    }
}

/// The range a remembered answer names (see [`remembered`]), or `None`
/// for an answer kept whole (JSON).
fn range_of(stored: &str) -> Option<(u64, u64)> {
    let (first, count) = stored.strip_prefix('@')?.split_once('+')?;
    Some((first.parse().ok()?, count.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_without_proofs_is_remembered_as_its_range() {
        let r = Receipt {
            first_index: 41,
            leaf_hashes: vec![Hash([1; 32]), Hash([2; 32])],
            proofs: None,
            verifier_key: "k".into(),
        };
        let kept = remembered(&Outcome::Appended(r));
        assert_eq!(kept, "@41+2");
        assert_eq!(range_of(&kept), Some((41, 2)));
        // An answer kept whole (JSON, as older servers kept every one)
        // is given as it is.
        assert_eq!(range_of("{\"entries\":[]}"), None);
        assert_eq!(range_of("@x+1"), None);
    }

    #[test]
    fn the_direct_answer_is_the_json_answer_byte_for_byte() {
        let r = Receipt {
            first_index: 41,
            leaf_hashes: (0u8..3).map(|i| Hash([i; 32])).collect(),
            proofs: None,
            verifier_key: String::new(),
        };
        let want = r.to_json().to_string();
        assert_eq!(Outcome::Appended(r).body(), want);
    }
}

//! `POST /v1/logs/{log}/events`: a JSON object, a JSON array, or NDJSON.
//! Atomic: every item is validated before any is appended; 201 only after the
//! entries are durable; `?wait=proof` adds a signed checkpoint and inclusion
//! proofs (a receipt verifiable offline).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::json;
use veritrail_core::json::Json;
use veritrail_core::{Event, EventError};
use veritrail_store::datadir::SYSTEM_LOG;
use veritrail_store::PreparedBatch;

use crate::auth::{required, ClientIp};
use crate::error::AppError;
use crate::state::{blocking, now, AppState};

/// Largest request body.
pub const MAX_BODY: usize = 16 << 20;
/// Most events per request.
pub const MAX_EVENTS: usize = 10_000;

/// Query string of an ingest.
#[derive(Debug, Deserialize)]
pub struct IngestQuery {
    /// `proof` to wait for a receipt.
    pub wait: Option<String>,
}

fn event_error(item: usize, e: EventError) -> AppError {
    let status = if matches!(e, EventError::TooLarge(_) | EventError::InputTooLarge(_)) {
        StatusCode::PAYLOAD_TOO_LARGE
    } else {
        StatusCode::BAD_REQUEST
    };
    AppError::new(status, e.code(), format!("item {item}: {e}"))
        .at_item(item)
        .at_field(e.field())
}

/// Validates and canonicalizes the whole body into one batch.
fn prepare(body: &[u8], ndjson: bool) -> Result<PreparedBatch, AppError> {
    let stamp = now().to_rfc3339_nanos();
    let mut batch = PreparedBatch::builder(16, body.len() + 64);
    let mut buf = Vec::with_capacity(1024);
    let mut add = |item: usize, ev: Result<Event<'_>, EventError>| -> Result<(), AppError> {
        if item >= MAX_EVENTS {
            return Err(AppError::too_large(format!(
                "more than {MAX_EVENTS} events in one request"
            )));
        }
        ev.and_then(|e| e.write_canonical_at(&stamp, &mut buf))
            .map_err(|e| event_error(item, e))?;
        batch.push(&buf).map_err(AppError::from)
    };
    if ndjson {
        let lines = body
            .split(|b| *b == b'\n')
            .filter(|l| !l.iter().all(u8::is_ascii_whitespace));
        for (item, line) in lines.enumerate() {
            add(item, Event::parse(line))?;
        }
    } else {
        let v = Json::parse(body)
            .map_err(|e| AppError::bad_request("invalid_json", format!("invalid JSON: {e}")))?;
        match v {
            Json::Array(items) => {
                if items.len() > MAX_EVENTS {
                    return Err(AppError::too_large(format!(
                        "{} events; at most {MAX_EVENTS} per request",
                        items.len()
                    )));
                }
                for (item, v) in items.into_iter().enumerate() {
                    add(item, Event::from_json(v))?;
                }
            }
            v @ Json::Object(_) => add(0, Event::from_json(v))?,
            other => {
                return Err(AppError::bad_request(
                    "invalid_body",
                    format!(
                        "the body must be an event object, an array of events, or NDJSON; got {}",
                        other.type_name()
                    ),
                ))
            }
        }
    }
    if batch.is_empty() {
        return Err(AppError::bad_request(
            "empty",
            "no events in the request body",
        ));
    }
    batch.finish().map_err(AppError::from)
}

/// The handler.
pub async fn post_events(
    State(st): State<Arc<AppState>>,
    Path(log_name): Path<String>,
    Query(q): Query<IngestQuery>,
    ip: ClientIp,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, AppError> {
    let token = required(&st, &headers, ip).await?;
    if log_name == SYSTEM_LOG || !token.can_write(&log_name) {
        st.log(&log_name)?;
        return Err(AppError::forbidden(&format!("append to log {log_name:?}")));
    }
    let log = st.log(&log_name)?;
    let body = body.map_err(|_| {
        AppError::too_large(format!("the request body exceeds {} MiB", MAX_BODY >> 20))
    })?;
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let ndjson = match ct.split(';').next().unwrap_or("").trim() {
        "application/x-ndjson" | "application/jsonl" => true,
        "application/json" | "" => false,
        other => {
            return Err(AppError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!("Content-Type {other:?}: use application/json or application/x-ndjson"),
            ))
        }
    };
    let batch = if body.len() > 64 * 1024 {
        tokio::task::spawn_blocking(move || prepare(&body, ndjson))
            .await
            .map_err(|e| AppError::internal(&e))??
    } else {
        prepare(&body, ndjson)?
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    log.append_prepared(batch, move |r| {
        let _ = tx.send(r);
    });
    let appended = rx.await.map_err(|_| AppError::internal(&"log closed"))??;
    let entries: Vec<_> = appended
        .leaf_hashes
        .iter()
        .enumerate()
        .map(|(k, h)| json!({"index": appended.first_index + k as u64, "leaf_hash": B64.encode(h.0)}))
        .collect();
    if q.wait.as_deref() != Some("proof") {
        return Ok((
            StatusCode::CREATED,
            axum::Json(json!({ "entries": entries })),
        )
            .into_response());
    }
    // A receipt: wait for a checkpoint covering the batch, then prove each entry.
    let last = appended.first_index + appended.leaf_hashes.len() as u64;
    let timeout = st.config.receipt_timeout;
    let log2 = log.clone();
    let receipt = blocking(move || {
        let p = log2.wait_for_checkpoint(last, timeout)?;
        let mut proofs = Vec::with_capacity(appended.leaf_hashes.len());
        for k in 0..appended.leaf_hashes.len() as u64 {
            proofs.push(log2.prove_inclusion(appended.first_index + k, p.size)?);
        }
        Ok((p, proofs))
    })
    .await?;
    let (p, proofs) = receipt;
    let entries: Vec<_> = entries
        .into_iter()
        .zip(proofs)
        .map(|(mut e, proof)| {
            e["inclusion_proof"] = json!(proof.iter().map(|h| h.to_base64()).collect::<Vec<_>>());
            e
        })
        .collect();
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({
            "entries": entries,
            "tree_size": p.size,
            "checkpoint": p.checkpoint.as_ref(),
            "verifier_key": log.verifier().to_vkey(),
        })),
    )
        .into_response())
}

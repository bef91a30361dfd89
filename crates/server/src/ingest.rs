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
    // Each event is canonicalized straight into its WAL record; the leaf
    // hashes are computed by `finish`.
    let mut add = |item: usize, ev: Result<Event<'_>, EventError>| -> Result<(), AppError> {
        if item >= MAX_EVENTS {
            return Err(AppError::too_large(format!(
                "more than {MAX_EVENTS} events in one request"
            )));
        }
        let e = ev.map_err(|e| event_error(item, e))?;
        batch
            .push_with(|out| e.append_canonical_at(&stamp, out))
            .map_err(AppError::from)?
            .map_err(|e| event_error(item, e))
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
    // Idempotency-Key: claim it, then replay a remembered answer if any.
    let idem = match headers.get("idempotency-key") {
        None => None,
        Some(v) => {
            let key = v
                .to_str()
                .ok()
                .filter(|k| {
                    !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic())
                })
                .ok_or_else(|| {
                    AppError::bad_request(
                        "bad_idempotency_key",
                        "Idempotency-Key must be 1-255 visible ASCII characters",
                    )
                })?
                .to_owned();
            let request = veritrail_core::hash::Hash(veritrail_core::hash::sha256(&[
                log_name.as_bytes(),
                b"\0",
                q.wait.as_deref().unwrap_or("").as_bytes(),
                b"\0",
                ct.as_bytes(),
                b"\0",
                &body,
            ]))
            .to_hex();
            let guard = st.idempotency.begin(&token.id, &key).ok_or_else(|| {
                AppError::new(
                    StatusCode::CONFLICT,
                    "idempotency_in_progress",
                    "a request with this Idempotency-Key is still being processed",
                )
            })?;
            let idem2 = st.idempotency.clone();
            let (tid, k2) = (token.id.clone(), key.clone());
            let stored = tokio::task::spawn_blocking(move || idem2.get(&tid, &k2))
                .await
                .map_err(|e| AppError::internal(&e))?
                .map_err(|e| AppError::internal(&e))?;
            if let Some(stored) = stored {
                if stored.request != request {
                    return Err(AppError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "idempotency_key_reused",
                        "this Idempotency-Key was already used with a different request",
                    ));
                }
                let mut resp = (
                    StatusCode::CREATED,
                    [(header::CONTENT_TYPE, "application/json")],
                    stored.body,
                )
                    .into_response();
                resp.headers_mut().insert(
                    "idempotent-replayed",
                    axum::http::HeaderValue::from_static("true"),
                );
                return Ok(resp);
            }
            Some(Idem {
                token: token.id.clone(),
                key,
                request,
                _guard: guard,
            })
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
        return answer(&st, idem.as_ref(), json!({ "entries": entries })).await;
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
    answer(
        &st,
        idem.as_ref(),
        json!({
            "entries": entries,
            "tree_size": p.size,
            "checkpoint": p.checkpoint.as_ref(),
            "verifier_key": log.verifier().to_vkey(),
        }),
    )
    .await
}

/// A claimed Idempotency-Key.
struct Idem {
    token: String,
    key: String,
    request: String,
    _guard: crate::idempotency::InFlight,
}

/// Sends the 201, remembering it first when an Idempotency-Key was given.
async fn answer(
    st: &Arc<AppState>,
    idem: Option<&Idem>,
    body: serde_json::Value,
) -> Result<Response, AppError> {
    let text = body.to_string();
    if let Some(i) = idem {
        let (store, t, k, r, b) = (
            st.idempotency.clone(),
            i.token.clone(),
            i.key.clone(),
            i.request.clone(),
            text.clone(),
        );
        tokio::task::spawn_blocking(move || store.put(&t, &k, &r, &b))
            .await
            .map_err(|e| AppError::internal(&e))?
            .map_err(|e| AppError::internal(&e))?;
    }
    Ok((
        StatusCode::CREATED,
        [(header::CONTENT_TYPE, "application/json")],
        text,
    )
        .into_response())
}

//! `POST /v1/logs/{log}/events`: a JSON object, a JSON array, or NDJSON,
//! handed to the service's one ingest API ([`veritrail_service::ingest`]):
//! atomic, 201 only after the entries are durable, `?wait=proof` for a
//! receipt verifiable offline, `Idempotency-Key` for safe retries. This
//! module only maps HTTP onto it.

use std::sync::Arc;

use std::io::Read as _;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use veritrail_service::ingest::IdempotencyKey;
use veritrail_service::store::datadir::SYSTEM_LOG;
use veritrail_service::{Format, Input, Options, Outcome, Wait};

use crate::auth::{required, ClientIp};
use crate::error::{shown, AppError};
use crate::params::Params;
use crate::state::AppState;

/// Largest request body.
pub const MAX_BODY: usize = 16 << 20;
/// Most events per request.
pub const MAX_EVENTS: usize = veritrail_service::ingest::MAX_EVENTS;

/// Decodes a body sent with `Content-Encoding` (gzip or zstd; identity or
/// none as it is), never to more than [`MAX_BODY`] bytes: a compressed bomb
/// is refused once its output passes the limit, without holding more.
///
/// # Errors
/// 415 for another encoding, 400 for a body that does not decode, 413 past
/// the limit.
pub fn decode_body(headers: &HeaderMap, body: Bytes) -> Result<Bytes, AppError> {
    let Some(enc) = headers.get(header::CONTENT_ENCODING) else {
        return Ok(body);
    };
    let enc = enc.to_str().unwrap_or("").trim().to_ascii_lowercase();
    let reader: Box<dyn std::io::Read> = match enc.as_str() {
        "identity" | "" => return Ok(body),
        "gzip" | "x-gzip" => Box::new(flate2::read::MultiGzDecoder::new(&body[..])),
        "zstd" => Box::new(
            ruzstd::decoding::StreamingDecoder::new(&body[..]).map_err(|e| {
                AppError::bad_request("bad_encoding", format!("the body is not zstd data: {e}"))
            })?,
        ),
        other => {
            return Err(AppError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_encoding",
                format!(
                    "Content-Encoding {}: use gzip, zstd or identity",
                    shown(other)
                ),
            ))
        }
    };
    let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(MAX_BODY));
    let n = reader
        .take(MAX_BODY as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| {
            AppError::bad_request(
                "bad_encoding",
                format!("the body does not decode as {enc}: {e}"),
            )
        })?;
    if n > MAX_BODY {
        return Err(AppError::too_large(format!(
            "the decoded request body exceeds {} MiB",
            MAX_BODY >> 20
        )));
    }
    Ok(Bytes::from(out))
}

/// The handler.
pub async fn post_events(
    State(st): State<Arc<AppState>>,
    Path(log_name): Path<String>,
    params: Params,
    ip: ClientIp,
    headers: HeaderMap,
    crate::TimedBody(body): crate::TimedBody,
) -> Result<Response, AppError> {
    let params = params.only(&["wait"])?;
    let asked = params.one_of("wait", &["proof", "witnessed", "none"])?;
    let witnessed = asked == Some("witnessed");
    let wait = match asked {
        Some("proof") => Wait::Proof,
        _ => Wait::Durable,
    };
    let witnessing = if witnessed {
        let w = st.witnessing.lock().expect("witnessing lock").clone();
        Some(w.ok_or_else(|| {
            AppError::bad_request(
                "no_witnesses",
                "wait=witnessed: this server has no witnesses configured (--witness)",
            )
        })?)
    } else {
        None
    };
    let token = required(&st, &headers, ip).await?;
    if log_name == SYSTEM_LOG || !token.can_write(&log_name) {
        st.log(&log_name)?;
        return Err(AppError::forbidden(&format!("append to log {log_name:?}")));
    }
    // A read replica sends the writer to the node that writes the log,
    // when the writers share the bucket with leases; else refuses.
    let replica_owner = match st.replica.get().cloned() {
        Some(r) => {
            let name = log_name.clone();
            let owner = tokio::task::spawn_blocking(move || r.writer_of(&name))
                .await
                .map_err(|e| AppError::internal(&e))?;
            if owner.is_none() {
                st.writable("append events")?;
            }
            owner
        }
        None => None,
    };
    // Another node writes this log now: send the writer there (307 keeps
    // the method and the body).
    let os = st
        .object_storage
        .lock()
        .expect("object storage lock")
        .clone();
    let cluster = os.as_ref().and_then(|o| o.cluster.get());
    if let Some(c) = cluster {
        if !c.writes(&log_name) && c.owner(&log_name).is_none() && c.competes(&log_name) {
            // The cluster writes this log, but this node has not yet seen
            // which node holds it (a lease round runs every third of the TTL).
            let mut resp = AppError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "log_unavailable",
                format!(
                    "no node of this cluster is known to write log {log_name:?} yet; retry shortly"
                ),
            )
            .into_response();
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return Ok(resp);
        }
    }
    if let Some(owner) =
        replica_owner.or_else(|| cluster.and_then(|c| c.owner_elsewhere(&log_name)))
    {
        let mut to = format!(
            "{}/v1/logs/{log_name}/events",
            owner.url.trim_end_matches('/')
        );
        if let Some(w) = asked {
            to.push_str(&format!("?wait={w}"));
        }
        let mut resp = AppError::new(
            StatusCode::TEMPORARY_REDIRECT,
            "other_node",
            format!("node {} writes log {log_name:?} now", owner.owner),
        )
        .into_response();
        if let Ok(v) = HeaderValue::from_str(&to) {
            resp.headers_mut().insert(header::LOCATION, v);
        }
        return Ok(resp);
    }
    st.log(&log_name)?;
    const ACCEPTED: &str = "application/json or application/x-ndjson";
    let media = crate::media_type(&headers, ACCEPTED)?;
    let format = Format::from_media_type(&media)
        .filter(|_| !media.is_empty())
        .ok_or_else(|| {
            AppError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!("Content-Type {}: use {ACCEPTED}", shown(&media)),
            )
        })?;
    let body = decode_body(&headers, body)?;
    let idempotency = headers
        .get("idempotency-key")
        .map(|v| {
            IdempotencyKey::new(
                &token.id,
                v.to_str()
                    .map_err(|_| veritrail_service::IngestError::BadIdempotencyKey)?,
            )
        })
        .transpose()?;
    let outcome = st
        .ingest(
            &log_name,
            Input::Body {
                bytes: body,
                format,
            },
            Options { wait, idempotency },
        )
        .await?;
    let replayed = matches!(outcome, Outcome::Replayed(_));
    let body = match (&outcome, witnessing) {
        (Outcome::Appended(r), Some(w)) => witnessed_receipt(&st, &log_name, r, w).await?,
        _ => outcome.body(),
    };
    let mut resp = (
        StatusCode::CREATED,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response();
    if replayed {
        resp.headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(resp)
}

/// `?wait=witnessed`: waits until a checkpoint covering the batch is
/// cosigned by the witnesses' quorum, then answers with each entry's
/// inclusion proof to it and the checkpoint with its cosignatures.
async fn witnessed_receipt(
    st: &Arc<AppState>,
    log_name: &str,
    r: &veritrail_service::Receipt,
    w: Arc<crate::witnessing::Witnessing>,
) -> Result<String, AppError> {
    let end = r.first_index + r.leaf_hashes.len() as u64;
    let log = st.log(log_name)?;
    let timeout = st.config.receipt_timeout;
    let name = log_name.to_owned();
    let (first, n) = (r.first_index, r.leaf_hashes.len() as u64);
    let st2 = st.clone();
    let (size, note, proofs) = veritrail_service::blocking(move || {
        // Ask for a checkpoint soon, then for the witnesses.
        let _ = log.wait_for_checkpoint(end, timeout);
        let size = w.wait(&name, end, timeout).ok_or_else(|| {
            AppError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "not_witnessed",
                format!("the entries are durable, but no checkpoint covering them was cosigned by enough witnesses within {timeout:?}"),
            )
        })?;
        let text = log
            .checkpoint_at(size)
            .map_err(veritrail_service::ServiceError::from)?
            .ok_or_else(|| AppError::internal(&"a witnessed checkpoint is missing"))?;
        let note = crate::read::with_cosignatures(&st2, &name, size, &text);
        let mut proofs = Vec::with_capacity(n as usize);
        for i in first..first + n {
            proofs.push(log.prove_inclusion(i, size).map_err(veritrail_service::ServiceError::from)?);
        }
        Ok::<_, AppError>((size, note, proofs))
    })
    .await?;
    let entries: Vec<serde_json::Value> = r
        .leaf_hashes
        .iter()
        .zip(&proofs)
        .enumerate()
        .map(|(k, (h, p))| {
            serde_json::json!({
                "index": r.first_index + k as u64,
                "leaf_hash": h.to_base64(),
                "inclusion_proof": p.iter().map(veritrail_core::Hash::to_base64).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(serde_json::to_string(&serde_json::json!({
        "entries": entries,
        "tree_size": size,
        "checkpoint": note,
        "verifier_key": r.verifier_key,
        "witnessed": true,
    }))
    .expect("JSON"))
}

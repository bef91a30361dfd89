//! `POST /v1/logs/{log}/events`: a JSON object, a JSON array, or NDJSON,
//! handed to the service's one ingest API ([`veritrail_service::ingest`]):
//! atomic, 201 only after the entries are durable, `?wait=proof` for a
//! receipt verifiable offline, `Idempotency-Key` for safe retries. This
//! module only maps HTTP onto it.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use veritrail_service::ingest::IdempotencyKey;
use veritrail_service::{Format, Input, Options, Outcome, Wait};
use veritrail_store::datadir::SYSTEM_LOG;

use crate::auth::{required, ClientIp};
use crate::error::AppError;
use crate::state::AppState;

/// Largest request body.
pub const MAX_BODY: usize = 16 << 20;
/// Most events per request.
pub const MAX_EVENTS: usize = veritrail_service::ingest::MAX_EVENTS;

/// Query string of an ingest.
#[derive(Debug, Deserialize)]
pub struct IngestQuery {
    /// `proof` to wait for a receipt.
    pub wait: Option<String>,
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
    st.log(&log_name)?;
    let body = body.map_err(|_| {
        AppError::too_large(format!("the request body exceeds {} MiB", MAX_BODY >> 20))
    })?;
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = ct.split(';').next().unwrap_or("").trim();
    let format = Format::from_media_type(media).ok_or_else(|| {
        AppError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("Content-Type {media:?}: use application/json or application/x-ndjson"),
        )
    })?;
    let wait = Wait::parse(q.wait.as_deref()).unwrap_or(Wait::Durable);
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
    let mut resp = (
        StatusCode::CREATED,
        [(header::CONTENT_TYPE, "application/json")],
        outcome.body(),
    )
        .into_response();
    if replayed {
        resp.headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(resp)
}

//! The HTTP error type: a stable JSON body
//! `{"error":{"code":"…","message":"…"[,"item":K][,"field":"…"]}}`, never
//! internals (I/O details are logged, not returned).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use veritrail_core::EventError;
use veritrail_service::store::StoreError;
use veritrail_service::{IngestError, ServiceError};

/// An error answered to a client.
#[derive(Debug)]
pub struct AppError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// Human-readable message (safe to show).
    pub message: String,
    /// Index of the offending item in a batch.
    pub item: Option<usize>,
    /// Path of the offending field.
    pub field: Option<String>,
    /// A damaged entry was refused: recorded in `_system` after the answer.
    pub integrity: Option<IntegrityFailure>,
}

/// Which entry failed its leaf-hash check (a response extension that the
/// server's middleware records in `_system`).
#[derive(Clone, Debug)]
pub struct IntegrityFailure {
    /// The log.
    pub log: String,
    /// The entry.
    pub index: u64,
}

impl AppError {
    /// A plain error.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> AppError {
        AppError {
            status,
            code,
            message: message.into(),
            item: None,
            field: None,
            integrity: None,
        }
    }
    /// 400 for bad input.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::BAD_REQUEST, code, message)
    }
    /// 401.
    pub fn unauthorized() -> AppError {
        AppError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid bearer token is required",
        )
    }
    /// 403.
    pub fn forbidden(what: &str) -> AppError {
        AppError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("this token may not {what}"),
        )
    }
    /// 404.
    pub fn not_found(what: impl Into<String>) -> AppError {
        AppError::new(StatusCode::NOT_FOUND, "not_found", what)
    }
    /// 413.
    pub fn too_large(message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", message)
    }
    /// 500 `integrity_error`: stored data failed its check and is not served.
    pub fn integrity(message: String) -> AppError {
        AppError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "integrity_error",
            message,
        )
    }
    /// Internal failure: logged in full, answered without detail.
    pub fn internal(e: &dyn std::fmt::Display) -> AppError {
        tracing::error!(error = %e, "internal error");
        AppError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; the server log has details",
        )
    }
    /// Adds the batch item index.
    pub fn at_item(mut self, item: usize) -> AppError {
        self.item = Some(item);
        self
    }
    /// Adds the field path.
    pub fn at_field(mut self, field: Option<&str>) -> AppError {
        self.field = field.map(str::to_owned);
        self
    }
}

/// At most this many characters of a client's input are echoed back.
const ECHO: usize = 64;

/// `s` quoted for a message, cut to its first 64 characters (a client's
/// input is echoed only as far as it helps to recognise it).
pub fn shown(s: &str) -> String {
    match s.char_indices().nth(ECHO) {
        Some((i, _)) => format!("{:?}… ({} bytes)", &s[..i], s.len()),
        None => format!("{s:?}"),
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> AppError {
        match e {
            StoreError::NoSuchLog(n) | StoreError::UnfinishedLog(n) => {
                AppError::not_found(format!("no log named {}", shown(&n)))
            }
            StoreError::EntryMismatch { log, index } => {
                tracing::error!(log = %log, index, "an entry does not match its leaf hash; it is not served");
                let mut e = AppError::integrity(format!(
                    "entry {index} of log {} does not match its leaf hash in the tree: its stored bytes were changed; it is not served",
                    shown(&log)
                ));
                e.integrity = Some(IntegrityFailure { log, index });
                e
            }
            e @ StoreError::Corrupted { .. } => {
                tracing::error!(error = %e, "damaged log data");
                AppError::integrity(
                    "the log's stored data is damaged; the server log has details".into(),
                )
            }
            StoreError::OutOfRange(m) => AppError::bad_request("out_of_range", m),
            StoreError::BadBatch(m) => AppError::bad_request("bad_batch", m),
            StoreError::Poisoned { .. } | StoreError::Closed(_) => {
                tracing::error!(error = %e, "log unavailable");
                AppError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the log is not accepting writes; see the server log",
                )
            }
            other => AppError::internal(&other),
        }
    }
}

impl From<ServiceError> for AppError {
    fn from(e: ServiceError) -> AppError {
        match e {
            ServiceError::Store(e) => AppError::from(e),
            ServiceError::Damaged(log) => AppError::integrity(format!(
                "log {} is damaged and was not opened; see /healthz",
                shown(&log)
            )),
            other => AppError::internal(&other),
        }
    }
}

impl From<IngestError> for AppError {
    fn from(e: IngestError) -> AppError {
        match e {
            IngestError::Event { item, error } => {
                let status = if matches!(
                    error,
                    EventError::TooLarge(_) | EventError::InputTooLarge(_)
                ) {
                    StatusCode::PAYLOAD_TOO_LARGE
                } else {
                    StatusCode::BAD_REQUEST
                };
                AppError::new(status, error.code(), format!("item {item}: {error}"))
                    .at_item(item)
                    .at_field(error.field())
            }
            IngestError::TooManyEvents(m) => AppError::too_large(m),
            IngestError::InvalidJson(m) => AppError::bad_request("invalid_json", m),
            IngestError::InvalidBody(m) => AppError::bad_request("invalid_body", m),
            e @ IngestError::Empty => AppError::bad_request("empty", e.to_string()),
            e @ IngestError::BadIdempotencyKey => {
                AppError::bad_request("bad_idempotency_key", e.to_string())
            }
            e @ IngestError::IdempotencyInProgress => AppError::new(
                StatusCode::CONFLICT,
                "idempotency_in_progress",
                e.to_string(),
            ),
            e @ IngestError::IdempotencyKeyReused => AppError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                e.to_string(),
            ),
            e @ IngestError::Unavailable { .. } => AppError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "log_unavailable",
                e.to_string(),
            ),
            e @ IngestError::NotAcknowledged { .. } => AppError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_acknowledged",
                format!("{e}; retry with the same Idempotency-Key"),
            ),
            IngestError::Service(e) => AppError::from(e),
            other => AppError::internal(&other),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let mut err = json!({"code": self.code, "message": self.message});
        if let Some(i) = self.item {
            err["item"] = json!(i);
        }
        if let Some(f) = self.field {
            err["field"] = json!(f);
        }
        let mut resp = (self.status, axum::Json(json!({ "error": err }))).into_response();
        if let Some(i) = self.integrity {
            resp.extensions_mut().insert(i);
        }
        resp
    }
}

//! The HTTP error type: a stable JSON body
//! `{"error":{"code":"…","message":"…"[,"item":K][,"field":"…"]}}`, never
//! internals (I/O details are logged, not returned).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use veritrail_store::StoreError;

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

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> AppError {
        match e {
            StoreError::NoSuchLog(n) | StoreError::UnfinishedLog(n) => {
                AppError::not_found(format!("no log named {n:?}"))
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

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let mut err = json!({"code": self.code, "message": self.message});
        if let Some(i) = self.item {
            err["item"] = json!(i);
        }
        if let Some(f) = self.field {
            err["field"] = json!(f);
        }
        (self.status, axum::Json(json!({ "error": err }))).into_response()
    }
}

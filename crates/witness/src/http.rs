//! The witness's HTTP interface: `POST /add-checkpoint` (C2SP
//! `tlog-witness`), and `GET /` with what it last cosigned per log.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::protocol::MAX_BODY;
use crate::state::Witness;

/// The router.
pub fn app(w: Arc<Witness>) -> Router {
    Router::new()
        .route("/add-checkpoint", post(add))
        .route("/", get(status))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(w)
}

async fn add(State(w): State<Arc<Witness>>, body: Bytes) -> Response {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let a = tokio::task::spawn_blocking(move || w.add_checkpoint(&body, now))
        .await
        .expect("the witness task");
    (
        StatusCode::from_u16(a.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [(header::CONTENT_TYPE, a.content_type)],
        a.body,
    )
        .into_response()
}

async fn status(State(w): State<Arc<Witness>>) -> Response {
    let logs: serde_json::Map<String, serde_json::Value> = w
        .latest()
        .into_iter()
        .map(|(o, (size, root))| (o, serde_json::json!({"size": size, "root": root})))
        .collect();
    axum::Json(serde_json::json!({"witness": w.verifier().to_vkey(), "logs": logs, "evidence": w.evidence().len()})).into_response()
}

/// Serves the witness on `listener` until `shutdown` resolves.
///
/// # Errors
/// Socket errors.
pub async fn serve(
    listener: tokio::net::TcpListener,
    w: Arc<Witness>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(w))
        .with_graceful_shutdown(shutdown)
        .await
}

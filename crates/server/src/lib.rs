//! veritrail-server: the HTTP API over `veritrail-store` logs.
//!
//! [`app`] builds the router (tests drive it with `tower::ServiceExt::oneshot`);
//! [`serve`] runs it on a socket with graceful shutdown: stop accepting, finish
//! in-flight requests, record the stop in `_system`, sign final checkpoints.

#![forbid(unsafe_code)]

pub mod admin;
pub mod auth;
pub mod error;
pub mod ingest;
pub mod metrics;
pub mod openapi;
pub mod params;
pub mod read;
pub mod state;
pub mod throttle;
pub mod tls;

/// Tokens and roles live in the service; re-exported for the edges.
pub use veritrail_service::tokens;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};
use axum::Router;

pub use error::AppError;
pub use state::{AppState, ServerConfig};

/// The router.
pub fn app(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics::metrics))
        .route(
            "/v1/openapi.json",
            get(|| async { axum::Json(openapi::document()) }),
        )
        .route("/v1/logs", get(read::list_logs).post(admin::create_log))
        .route(
            "/v1/logs/{log}/events",
            post(ingest::post_events).get(read::query),
        )
        .route("/v1/logs/{log}/events/{index}", get(read::event))
        .route("/v1/logs/{log}/checkpoint", get(read::checkpoint))
        .route("/v1/logs/{log}/tile/{*path}", get(read::tile))
        .route("/v1/logs/{log}/proof/inclusion", get(read::inclusion))
        .route("/v1/logs/{log}/proof/consistency", get(read::consistency))
        .route("/v1/tokens", post(admin::create).get(admin::list))
        .route("/v1/tokens/{id}", delete(admin::revoke))
        .layer(DefaultBodyLimit::max(ingest::MAX_BODY))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::count_status,
        ))
        .with_state(state)
}

/// Records the server's start in `_system`.
async fn record_start(state: &AppState, addr: SocketAddr, tls: bool) -> std::io::Result<()> {
    state
        .audit(
            "system.start",
            None,
            None,
            None,
            serde_json::json!({"listen": addr.to_string(), "tls": tls}),
        )
        .await
        .map_err(|e| std::io::Error::other(e.message))
}

/// Serves `state` on `listener` until `shutdown` resolves, then closes the
/// logs (final checkpoints).
///
/// # Errors
/// Socket errors.
pub async fn serve(
    state: Arc<AppState>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    record_start(&state, listener.local_addr()?, false).await?;
    let router = app(state.clone());
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    state.close().await;
    Ok(())
}

/// Like [`serve`] but over TLS (rustls), with optional client certificates.
///
/// # Errors
/// Socket and TLS configuration errors.
pub async fn serve_tls(
    state: Arc<AppState>,
    listener: std::net::TcpListener,
    files: &tls::TlsFiles,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let cfg = tls::server_config(files).map_err(std::io::Error::other)?;
    record_start(&state, listener.local_addr()?, true).await?;
    let handle = axum_server::Handle::new();
    let h2 = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        h2.graceful_shutdown(Some(std::time::Duration::from_secs(30)));
    });
    let router = app(state.clone());
    axum_server::from_tcp_rustls(
        listener,
        axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(cfg)),
    )
    .handle(handle)
    .serve(router.into_make_service_with_connect_info::<SocketAddr>())
    .await?;
    state.close().await;
    Ok(())
}

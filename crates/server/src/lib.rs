//! veritrail-server: the HTTP API, a thin edge over `veritrail-service`.
//!
//! [`app`] builds the router (tests drive it with `tower::ServiceExt::oneshot`);
//! [`serve`] runs it on a socket ([`listen`]: header and body deadlines, a
//! connection cap per address) with graceful shutdown: stop accepting,
//! finish in-flight requests, record the stop in `_system`, sign final
//! checkpoints. Every error, from every layer, is a JSON body
//! `{"error":{"code","message"}}` ([`error::AppError`]).

#![forbid(unsafe_code)]

pub mod acks;
pub mod admin;
pub mod alerts;
pub mod auth;
pub mod cluster;
pub mod console;
pub mod error;
pub mod export;
pub mod ingest;
pub mod integrity;
pub mod listen;
pub mod memory;
pub mod metrics;
pub mod openapi;
pub mod params;
pub mod read;
pub mod replica;
pub mod report;
pub mod reviews;
pub mod state;
pub mod stats;
pub mod storage;
pub mod stream;
pub mod syslog;
pub mod syslog_state;
pub mod throttle;
pub mod timestamping;
pub mod tls;
pub mod witnessing;

/// Tokens and roles live in the service; re-exported for the edges.
pub use veritrail_service::tokens;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Router;
use serde_json::json;

pub use error::AppError;
pub use state::{AppState, ServerConfig};

/// Longest request URI (path and query) accepted.
pub const MAX_URI: usize = 8 * 1024;

/// The router.
pub fn app(state: Arc<AppState>) -> Router {
    let inner = Router::new()
        .route("/healthz", get(healthz))
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
        .route("/v1/logs/{log}/events/{index}/raw", get(read::event_raw))
        .route("/v1/logs/{log}/checkpoint", get(read::checkpoint))
        .route("/v1/logs/{log}/checkpoints", get(read::checkpoints))
        .route(
            "/v1/logs/{log}/checkpoints/{size}",
            get(read::checkpoint_at),
        )
        .route("/v1/logs/{log}/tile/{*path}", get(read::tile))
        .route("/v1/logs/{log}/proof/inclusion", get(read::inclusion))
        .route("/v1/logs/{log}/proof/consistency", get(read::consistency))
        .route("/v1/logs/{log}/stream", get(stream::stream))
        .route("/v1/logs/{log}/timestamps/{size}", get(read::timestamp))
        .route("/v1/integrity", get(integrity::integrity))
        .route("/v1/alerts", get(acks::alerts))
        .route("/v1/alerts/{index}/ack", post(acks::acknowledge))
        .route("/v1/logs/{log}/reviews", post(reviews::create))
        .route("/v1/logs/{log}/stats", get(stats::stats))
        .route("/v1/logs/{log}/export", get(export::export))
        .route("/v1/logs/{log}/report", get(report::report))
        .route("/v1/reviews", get(reviews::coverage))
        .route("/v1/tokens", post(admin::create).get(admin::list))
        .route("/v1/tokens/{id}", delete(admin::revoke))
        .merge(console::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state.clone());
    // One middleware around everything, before routing (so that it can
    // rewrite the path): a bounded URI, `//` read as `/` (a tlog-tiles
    // client given a prefix with a trailing slash asks for `…//checkpoint`),
    // responses counted by status, and a refused damaged entry recorded.
    Router::new()
        .fallback_service(inner)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            console::csrf,
        ))
        .layer(axum::middleware::from_fn_with_state(state, edge))
}

/// `GET /healthz`: `ok` once every log has been recovered and opened and
/// none was found damaged; otherwise 503 naming the damaged logs.
async fn healthz(State(st): State<Arc<AppState>>) -> Response {
    let damaged = st.damaged();
    if damaged.is_empty() {
        return "ok\n".into_response();
    }
    let logs: Vec<_> = damaged
        .iter()
        .map(|(n, why)| json!({"log": n, "problem": why}))
        .collect();
    (
        StatusCode::SERVICE_UNAVAILABLE,
        axum::Json(json!({
            "error": {"code": "integrity_error", "message": format!("{} log(s) damaged; run `veritrail verify`", damaged.len())},
            "damaged": logs,
        })),
    )
        .into_response()
}

async fn not_found(uri: Uri) -> AppError {
    AppError::not_found(format!(
        "no such endpoint: {} (the API is described at /v1/openapi.json)",
        error::shown(uri.path())
    ))
}

async fn method_not_allowed(req: Request) -> AppError {
    AppError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "{} is not allowed on {} (see /v1/openapi.json)",
            req.method(),
            error::shown(req.uri().path())
        ),
    )
}

/// The middleware every request goes through (see [`app`]).
async fn edge(State(st): State<Arc<AppState>>, mut req: Request, next: Next) -> Response {
    let uri = req.uri();
    let len = uri.path().len() + uri.query().map_or(0, |q| q.len() + 1);
    let resp = if len > MAX_URI {
        AppError::new(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            format!("the request URI is {len} bytes; at most {MAX_URI} are accepted"),
        )
        .into_response()
    } else {
        if uri.path().contains("//") {
            collapse_slashes(&mut req);
        }
        next.run(req).await
    };
    let mut resp = resp;
    console::harden(&mut resp);
    if let Some(c) = st.http_status.get(resp.status().as_u16() as usize) {
        c.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    if let Some(f) = resp.extensions().get::<error::IntegrityFailure>().cloned() {
        // A refused damaged entry is evidence too.
        if let Err(e) = st
            .audit(
                "integrity.error",
                None,
                None,
                Some(&f.log),
                json!({"index": f.index, "problem": "the entry read back does not match its leaf hash"}),
            )
            .await
        {
            tracing::error!(error = %e.message, "could not record an integrity error in _system");
        }
    }
    resp
}

fn collapse_slashes(req: &mut Request) {
    let uri = req.uri();
    let mut path = String::with_capacity(uri.path().len());
    for c in uri.path().chars() {
        if !(c == '/' && path.ends_with('/')) {
            path.push(c);
        }
    }
    let pq = match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path,
    };
    if let Ok(p) = pq.parse::<axum::http::uri::PathAndQuery>() {
        let mut parts = uri.clone().into_parts();
        parts.path_and_query = Some(p);
        if let Ok(u) = Uri::from_parts(parts) {
            *req.uri_mut() = u;
        }
    }
}

/// A request body read whole within the body timeout and the size limit
/// before the handler uses it: a client that trickles its body is cut off
/// (408), one that sends too much is refused (413). The extractor of the
/// handlers that take bodies.
pub struct TimedBody(pub axum::body::Bytes);

impl axum::extract::FromRequest<Arc<AppState>> for TimedBody {
    type Rejection = AppError;
    async fn from_request(req: Request, st: &Arc<AppState>) -> Result<Self, AppError> {
        let limit = st.config.limits.body_timeout;
        match tokio::time::timeout(
            limit,
            axum::body::to_bytes(req.into_body(), ingest::MAX_BODY),
        )
        .await
        {
            Err(_) => Err(AppError::new(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                format!("the request body did not arrive within {limit:?}"),
            )),
            Ok(Err(e)) => {
                let too_large = std::error::Error::source(&e)
                    .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
                Err(if too_large {
                    AppError::too_large(format!(
                        "the request body exceeds {} MiB",
                        ingest::MAX_BODY >> 20
                    ))
                } else {
                    AppError::bad_request("bad_body", "the request body could not be read")
                })
            }
            Ok(Ok(b)) => Ok(TimedBody(b)),
        }
    }
}

/// Records the server's start in `_system`.
async fn record_start(state: &AppState, addr: SocketAddr, tls: bool) -> std::io::Result<()> {
    state
        .audit(
            "system.start",
            None,
            None,
            None,
            json!({"listen": addr.to_string(), "tls": tls}),
        )
        .await
        .map_err(|e| std::io::Error::other(e.message))
}

/// Serves `state` on `listener` (over TLS with `tls`) until `shutdown`
/// resolves, then closes the logs (final checkpoints).
///
/// # Errors
/// Socket and TLS configuration errors.
pub async fn serve(
    state: Arc<AppState>,
    listener: tokio::net::TcpListener,
    tls: Option<&tls::TlsFiles>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let acceptor = match tls {
        Some(files) => {
            let cfg = tls::server_config(files).map_err(std::io::Error::other)?;
            Some(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))
        }
        None => None,
    };
    record_start(&state, listener.local_addr()?, acceptor.is_some()).await?;
    let flusher = {
        let st = state.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                st.flush_auth_failures(false).await;
            }
        })
    };
    let limits = state.config.limits;
    // Live streams end when stopping begins, so that in-flight requests
    // can finish.
    let st = state.clone();
    let shutdown = async move {
        shutdown.await;
        st.stopping
            .store(true, std::sync::atomic::Ordering::Release);
    };
    listen::run(listener, acceptor, app(state.clone()), limits, shutdown).await?;
    flusher.abort();
    state.close().await;
    Ok(())
}

/// The media type of a `Content-Type` value, checked: none, or a charset
/// other than UTF-8, is refused (415).
///
/// # Errors
/// 415 naming what is wrong.
pub fn media_type(headers: &axum::http::HeaderMap, accepted: &str) -> Result<String, AppError> {
    let unsupported = |m: String| {
        AppError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            m,
        )
    };
    let Some(v) = headers.get(header::CONTENT_TYPE) else {
        return Err(unsupported(format!("Content-Type is required: {accepted}")));
    };
    let v = v
        .to_str()
        .map_err(|_| unsupported("Content-Type is not ASCII".into()))?;
    let mut parts = v.split(';');
    let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    for p in parts {
        let (k, val) = p.split_once('=').unwrap_or((p, ""));
        let (k, val) = (
            k.trim().to_ascii_lowercase(),
            val.trim().trim_matches('"').to_ascii_lowercase(),
        );
        if k == "charset" && (val == "utf-8" || val == "utf8") {
            continue;
        }
        return Err(unsupported(format!(
            "Content-Type parameter {}: only charset=utf-8 is accepted ({accepted})",
            error::shown(p.trim())
        )));
    }
    Ok(media)
}

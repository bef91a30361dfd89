//! The web console (docs/CONSOLE.md): a page served at `/` whose assets are
//! compiled into the binary (no CDN; it works offline), under a strict
//! Content-Security-Policy, signed in with a session cookie
//! ([`session`]). The page uses the same HTTP API as every other client;
//! the session stands in for the bearer token, so every read it makes is
//! recorded in `_system` as reads are.

pub mod session;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::json;

use crate::auth::ClientIp;
use crate::error::AppError;
use crate::state::AppState;
use crate::tokens::{Role, Token};

use session::{cookie, same, COOKIE, CSRF_HEADER, IDLE};

/// What the console's pages may load and run: only this server's own
/// scripts, styles and connections; no inline script, no frames, no forms
/// posted elsewhere. `wasm-unsafe-eval` lets the verifier compiled to
/// WebAssembly run (it allows WebAssembly only, not `eval`).
pub const CSP: &str = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The console's files, compiled in: path, content type, bytes.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "/console/app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../console/app.js"),
    ),
    (
        "/console/verify.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../console/verify.js"),
    ),
    (
        "/console/core.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../console/core.js"),
    ),
    // veritrail-core's verifier in WebAssembly (crates/verify-wasm, built
    // by scripts/build-wasm.sh).
    (
        "/console/verify_core.wasm",
        "application/wasm",
        include_bytes!("../../console/verify_core.wasm"),
    ),
    (
        "/console/app.css",
        "text/css; charset=utf-8",
        include_bytes!("../../console/app.css"),
    ),
    // uPlot 1.6.32 (MIT, console/vendor/uPlot.LICENSE), the charts.
    (
        "/console/vendor/uPlot.iife.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../console/vendor/uPlot.iife.min.js"),
    ),
    (
        "/console/vendor/uPlot.min.css",
        "text/css; charset=utf-8",
        include_bytes!("../../console/vendor/uPlot.min.css"),
    ),
];

const INDEX: &[u8] = include_bytes!("../../console/index.html");

/// The console's routes (merged into the API router).
pub fn routes() -> Router<Arc<AppState>> {
    let mut r = Router::new()
        .route(
            "/",
            get(|| async { page("text/html; charset=utf-8", INDEX) }),
        )
        .route(
            "/console/session",
            get(whoami).post(sign_in).delete(sign_out),
        );
    for (path, ty, bytes) in ASSETS {
        r = r.route(path, get(move || async move { page(ty, bytes) }));
    }
    r
}

fn page(content_type: &'static str, bytes: &'static [u8]) -> Response {
    let mut resp = bytes.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// Headers every response gets: the console's pages are never framed or
/// sniffed, and never send a Referer.
pub fn harden(resp: &mut Response) {
    let h = resp.headers_mut();
    // A page that set its own (stricter) policy keeps it: a report's
    // HTML has no scripts at all.
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

/// CSRF protection, before routing: a request that authenticates with the
/// session cookie (no `Authorization` header) and may change something
/// (any method but GET, HEAD, OPTIONS) must carry the session's CSRF token
/// in `X-CSRF-Token`; otherwise it is refused with 403 `csrf` and nothing
/// runs. Signing in (which has no session yet) must come from this origin.
pub async fn csrf(State(st): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe && !req.headers().contains_key(header::AUTHORIZATION) {
        if req.uri().path() == "/console/session" && req.method() == Method::POST {
            if !same_origin(req.headers()) {
                return refuse("sign-in from another site is refused");
            }
        } else if let Some(id) = cookie(req.headers()) {
            let ok = st.sessions.get(&id).is_some_and(|s| {
                req.headers()
                    .get(CSRF_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| same(v, &s.csrf))
            });
            if !ok {
                return refuse("a request with the console's session must carry its X-CSRF-Token");
            }
        }
    }
    next.run(req).await
}

fn refuse(why: &str) -> Response {
    AppError::new(StatusCode::FORBIDDEN, "csrf", why.to_owned()).into_response()
}

/// Whether `Origin` (when the browser sends one) names this server.
fn same_origin(h: &HeaderMap) -> bool {
    let Some(origin) = h.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = h.get(header::HOST).and_then(|v| v.to_str().ok());
    let bare = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    matches!((bare, host), (Some(o), Some(h)) if o == h)
}

fn role_name(r: Role) -> &'static str {
    match r {
        Role::Writer => "writer",
        Role::Reader => "reader",
        Role::Auditor => "auditor",
        Role::Admin => "admin",
    }
}

fn me(t: &Token, csrf: &str) -> serde_json::Value {
    json!({
        "token_id": t.id,
        "name": t.name,
        "role": role_name(t.role),
        "logs": t.logs,
        "csrf": csrf,
    })
}

fn set_cookie(st: &AppState, value: &str, max_age: u64) -> HeaderValue {
    let secure = if st.config.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .expect("a valid cookie")
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SignIn {
    token: String,
}

/// `POST /console/session` `{"token": "…"}`: a session for that token.
async fn sign_in(
    State(st): State<Arc<AppState>>,
    ip: ClientIp,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    let req: SignIn = serde_json::from_slice(&body).map_err(|e| {
        AppError::bad_request(
            "invalid_body",
            format!("expected {{\"token\": \"…\"}}: {e}"),
        )
    })?;
    let Some(t) = st.tokens.authenticate(req.token.trim()) else {
        return Err(crate::auth::refused(&st, ip).await);
    };
    if t.role == Role::Writer {
        return Err(AppError::forbidden(
            "use the console: writer tokens only append (sign in with a reader, auditor or admin token)",
        ));
    }
    let (id, s) = st.sessions.create(&t.id);
    st.audit(
        "console.sign_in",
        Some(&t),
        ip.0,
        None,
        json!({"role": role_name(t.role)}),
    )
    .await?;
    let mut resp = axum::Json(me(&t, &s.csrf)).into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, set_cookie(&st, &id, IDLE.as_secs()));
    Ok(resp)
}

/// `GET /console/session`: who this browser is signed in as (401 if not).
async fn whoami(State(st): State<Arc<AppState>>, headers: HeaderMap) -> Result<Response, AppError> {
    let s = cookie(&headers)
        .and_then(|id| st.sessions.get(&id))
        .ok_or_else(AppError::unauthorized)?;
    let t = st
        .tokens
        .active(&s.token_id)
        .ok_or_else(AppError::unauthorized)?;
    Ok(axum::Json(me(&t, &s.csrf)).into_response())
}

/// `DELETE /console/session`: signs out.
async fn sign_out(
    State(st): State<Arc<AppState>>,
    ip: ClientIp,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    if let Some(id) = cookie(&headers) {
        if let Some(s) = st.sessions.get(&id) {
            st.sessions.remove(&id);
            let t = st.tokens.active(&s.token_id);
            st.audit("console.sign_out", t.as_ref(), ip.0, None, json!({}))
                .await?;
        }
    }
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, set_cookie(&st, "", 0));
    Ok(resp)
}

//! Who is calling: the bearer token (if any) and the client address.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use serde_json::json;

use crate::error::AppError;
use crate::state::AppState;
use crate::tokens::Token;

/// The client's address, when the server knows it.
#[derive(Clone, Copy, Debug)]
pub struct ClientIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

/// The caller's token: `None` without an Authorization header. A header with
/// an unknown, revoked or expired token is a 401, recorded in `_system`
/// (repeats from one address gathered per minute).
///
/// # Errors
/// 401.
pub async fn caller(
    st: &AppState,
    parts_headers: &axum::http::HeaderMap,
    ip: ClientIp,
) -> Result<Option<Token>, AppError> {
    let Some(h) = parts_headers.get(axum::http::header::AUTHORIZATION) else {
        // A console session (its CSRF token was checked at the edge for
        // requests that change something).
        return Ok(crate::console::session::cookie(parts_headers)
            .and_then(|id| st.sessions.get(&id))
            .and_then(|s| st.tokens.active(&s.token_id)));
    };
    let secret = h
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match secret.and_then(|s| st.tokens.authenticate(s)) {
        Some(t) => Ok(Some(t)),
        None => Err(refused(st, ip).await),
    }
}

/// A wrong, revoked or expired token: recorded in `_system` (repeats from
/// one address gathered per minute), answered after a growing delay.
pub async fn refused(st: &AppState, ip: ClientIp) -> AppError {
    let (delay, record_now) = st.failures.record(ip.0);
    // The first failure of an address is recorded at once; the ones after
    // it within a minute are counted and recorded together
    // (`AppState::flush_auth_failures`).
    if record_now {
        if let Err(e) = st
            .audit(
                "auth.failure",
                None,
                ip.0,
                None,
                json!({"delay_ms": delay.as_millis() as u64}),
            )
            .await
        {
            return e;
        }
    }
    // Slow down guessing from this address: the delay doubles with each
    // recent failure.
    tokio::time::sleep(delay).await;
    AppError::unauthorized()
}

/// Like [`caller`] but a token is required.
///
/// # Errors
/// 401.
pub async fn required(
    st: &AppState,
    headers: &axum::http::HeaderMap,
    ip: ClientIp,
) -> Result<Token, AppError> {
    caller(st, headers, ip)
        .await?
        .ok_or_else(AppError::unauthorized)
}

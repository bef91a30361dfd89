//! Token administration over HTTP (admin role). Every change is recorded in
//! `_system`. There is no endpoint that changes or deletes an entry.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::auth::{required, ClientIp};
use crate::error::AppError;
use crate::state::AppState;
use crate::tokens::{Role, Token, TokenError};

fn admin(t: &Token) -> Result<(), AppError> {
    if t.role == Role::Admin {
        Ok(())
    } else {
        Err(AppError::forbidden("manage tokens"))
    }
}

fn token_err(e: TokenError) -> AppError {
    match e {
        TokenError::NotFound(id) => AppError::not_found(format!("no token {id:?}")),
        TokenError::Invalid(m) => AppError::bad_request("invalid_token_request", m),
        other => AppError::internal(&other),
    }
}

fn public(t: &Token) -> serde_json::Value {
    json!({"id": t.id, "name": t.name, "role": t.role, "logs": t.logs, "created": t.created, "expires": t.expires, "revoked": t.revoked})
}

/// Body of `POST /v1/tokens`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    role: String,
    #[serde(default)]
    logs: Vec<String>,
    #[serde(default)]
    name: String,
    expires_in_secs: Option<u64>,
}

/// `POST /v1/tokens`.
pub async fn create(
    State(st): State<Arc<AppState>>,
    ip: ClientIp,
    headers: HeaderMap,
    body: Result<axum::Json<CreateToken>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, AppError> {
    let t = required(&st, &headers, ip).await?;
    admin(&t)?;
    let axum::Json(req) = body.map_err(|e| AppError::bad_request("invalid_json", e.body_text()))?;
    let role = Role::parse(&req.role).ok_or_else(|| {
        AppError::bad_request(
            "invalid_role",
            "role must be writer, reader, auditor or admin",
        )
    })?;
    for l in &req.logs {
        st.log(l)?;
    }
    let (secret, rec) = st
        .tokens
        .create(role, req.logs, &req.name, req.expires_in_secs)
        .map_err(token_err)?;
    st.audit(
        "token.create",
        Some(&t),
        ip.0,
        None,
        json!({"token": rec.id, "role": req.role}),
    )
    .await?;
    let mut body = public(&rec);
    body["token"] = json!(secret);
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

/// `GET /v1/tokens`.
pub async fn list(
    State(st): State<Arc<AppState>>,
    ip: ClientIp,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let t = required(&st, &headers, ip).await?;
    admin(&t)?;
    Ok(
        axum::Json(json!({"tokens": st.tokens.list().iter().map(public).collect::<Vec<_>>()}))
            .into_response(),
    )
}

/// `DELETE /v1/tokens/{id}`: revokes (the record stays, marked revoked).
pub async fn revoke(
    State(st): State<Arc<AppState>>,
    Path(id): Path<String>,
    ip: ClientIp,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let t = required(&st, &headers, ip).await?;
    admin(&t)?;
    let rec = st.tokens.revoke(&id).map_err(token_err)?;
    st.audit(
        "token.revoke",
        Some(&t),
        ip.0,
        None,
        json!({"token": rec.id}),
    )
    .await?;
    Ok(axum::Json(public(&rec)).into_response())
}

/// Body of `POST /v1/logs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateLog {
    name: String,
}

/// `POST /v1/logs` (admin): creates a log with its own signing key.
pub async fn create_log(
    State(st): State<Arc<AppState>>,
    ip: ClientIp,
    headers: HeaderMap,
    body: Result<axum::Json<CreateLog>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, AppError> {
    let t = required(&st, &headers, ip).await?;
    if t.role != Role::Admin {
        return Err(AppError::forbidden("create logs"));
    }
    let axum::Json(req) = body.map_err(|e| AppError::bad_request("invalid_json", e.body_text()))?;
    let st2 = st.clone();
    let name = req.name.clone();
    let v = tokio::task::spawn_blocking(move || st2.create_log(&name))
        .await
        .map_err(|e| AppError::internal(&e))??;
    st.audit(
        "log.create",
        Some(&t),
        ip.0,
        Some(&req.name),
        json!({"verifier_key": v.to_vkey()}),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({"name": req.name, "origin": v.name(), "verifier_key": v.to_vkey()})),
    )
        .into_response())
}

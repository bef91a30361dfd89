//! Token administration over HTTP (admin role). Every change is recorded in
//! `_system`. There is no endpoint that changes or deletes an entry.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use crate::auth::{required, ClientIp};
use crate::error::{shown, AppError};
use crate::params::Params;
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
        TokenError::NotFound(id) => AppError::not_found(format!("no token {}", shown(&id))),
        TokenError::Invalid(m) => AppError::bad_request("invalid_token_request", m),
        other => AppError::internal(&other),
    }
}

fn public(t: &Token) -> serde_json::Value {
    json!({"id": t.id, "name": t.name, "role": t.role, "logs": t.logs, "created": t.created, "expires": t.expires, "revoked": t.revoked})
}

/// A JSON object body, its fields checked against `allowed` (in our words:
/// which field, what was expected).
fn object_body(
    headers: &HeaderMap,
    body: &Bytes,
    allowed: &[&str],
) -> Result<Map<String, Value>, AppError> {
    let media = crate::media_type(headers, "application/json")?;
    if media != "application/json" {
        return Err(AppError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("Content-Type {}: use application/json", shown(&media)),
        ));
    }
    let v: Value = serde_json::from_slice(body)
        .map_err(|_| AppError::bad_request("invalid_json", "the body is not JSON"))?;
    let Value::Object(m) = v else {
        return Err(AppError::bad_request(
            "invalid_body",
            "the body must be a JSON object",
        ));
    };
    if let Some(k) = m.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(AppError::bad_request(
            "invalid_field",
            format!(
                "unknown field {}: expected {}",
                shown(k),
                allowed.join(", ")
            ),
        )
        .at_field(Some(k)));
    }
    Ok(m)
}

fn field_error(field: &str, why: &str) -> AppError {
    AppError::bad_request("invalid_field", format!("field `{field}`: {why}")).at_field(Some(field))
}

/// `POST /v1/tokens` with `{"role","logs","name","expires_in_secs"}`.
pub async fn create(
    State(st): State<Arc<AppState>>,
    params: Params,
    ip: ClientIp,
    headers: HeaderMap,
    crate::TimedBody(body): crate::TimedBody,
) -> Result<Response, AppError> {
    params.only(&[])?;
    let t = required(&st, &headers, ip).await?;
    admin(&t)?;
    let m = object_body(
        &headers,
        &body,
        &["role", "logs", "name", "expires_in_secs"],
    )?;
    let role_text = match m.get("role") {
        Some(Value::String(r)) => r.clone(),
        Some(_) => return Err(field_error("role", "must be a string")),
        None => {
            return Err(field_error(
                "role",
                "is required: writer, reader, auditor or admin",
            ))
        }
    };
    let role = Role::parse(&role_text).ok_or_else(|| {
        AppError::bad_request(
            "invalid_role",
            "role must be writer, reader, auditor or admin",
        )
        .at_field(Some("role"))
    })?;
    let logs: Vec<String> = match m.get("logs") {
        None => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or_else(|| field_error("logs", "must be an array of log names"))?,
        Some(_) => return Err(field_error("logs", "must be an array of log names")),
    };
    let name = match m.get("name") {
        None => String::new(),
        Some(Value::String(n)) if n.len() <= 256 => n.clone(),
        Some(_) => return Err(field_error("name", "must be a string of at most 256 bytes")),
    };
    let ttl = match m.get("expires_in_secs") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .filter(|t| (1..=crate::tokens::MAX_TTL_SECS).contains(t))
                .ok_or_else(|| {
                    field_error(
                        "expires_in_secs",
                        &format!(
                            "must be a whole number of seconds from 1 to {} (10 years)",
                            crate::tokens::MAX_TTL_SECS
                        ),
                    )
                })?,
        ),
    };
    for l in &logs {
        // A log this node may take over (it holds the key; docs/SCALE.md)
        // may be named before it exists here.
        let may_take_over = veritrail_service::store::datadir::valid_log_name(l)
            && st.root().join("keys").join(format!("{l}.key")).exists();
        if !may_take_over {
            st.log(l)?;
        }
    }
    let (secret, rec) = st
        .tokens
        .create(role, logs, &name, ttl)
        .map_err(token_err)?;
    st.audit(
        "token.create",
        Some(&t),
        ip.0,
        None,
        json!({"token": rec.id, "role": role_text}),
    )
    .await?;
    let mut body = public(&rec);
    body["token"] = json!(secret);
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

/// `GET /v1/tokens`.
pub async fn list(
    State(st): State<Arc<AppState>>,
    params: Params,
    ip: ClientIp,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    params.only(&[])?;
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
    params: Params,
    ip: ClientIp,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    params.only(&[])?;
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

/// `POST /v1/logs` with `{"name"}` (admin): creates a log with its own
/// signing key.
pub async fn create_log(
    State(st): State<Arc<AppState>>,
    params: Params,
    ip: ClientIp,
    headers: HeaderMap,
    crate::TimedBody(body): crate::TimedBody,
) -> Result<Response, AppError> {
    params.only(&[])?;
    let t = required(&st, &headers, ip).await?;
    if t.role != Role::Admin {
        return Err(AppError::forbidden("create logs"));
    }
    st.writable("create logs")?;
    let m = object_body(&headers, &body, &["name"])?;
    let name = match m.get("name") {
        Some(Value::String(n)) => n.clone(),
        Some(_) => return Err(field_error("name", "must be a string")),
        None => return Err(field_error("name", "is required")),
    };
    struct Req {
        name: String,
    }
    let req = Req { name };
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

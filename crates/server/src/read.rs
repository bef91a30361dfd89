//! Reads: log list, checkpoint, C2SP tiles, single entries, proofs.
//! Checkpoints, hash tiles and proofs reveal only hashes and are public unless
//! `private_checkpoints`; entries and entry bundles need a reader or auditor
//! token, and every such read is recorded in `_system`.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use veritrail_core::tile::{Tile, TileKind};
use veritrail_store::datadir::SYSTEM_LOG;

use veritrail_service::ServiceError;

use crate::auth::{caller, required, ClientIp};
use crate::error::AppError;
use crate::state::{blocking, AppState};
use crate::tokens::Token;

async fn public_or_token(
    st: &AppState,
    headers: &HeaderMap,
    ip: ClientIp,
    log: &str,
) -> Result<Option<Token>, AppError> {
    let t = caller(st, headers, ip).await?;
    if st.config.private_checkpoints || log == SYSTEM_LOG {
        match &t {
            Some(t) if t.can_see(log) => {}
            Some(_) => return Err(AppError::forbidden(&format!("see log {log:?}"))),
            None => return Err(AppError::unauthorized()),
        }
    }
    Ok(t)
}

fn reader(t: &Token, log: &str) -> Result<(), AppError> {
    if t.can_read(log) {
        Ok(())
    } else {
        Err(AppError::forbidden(&format!("read entries of log {log:?}")))
    }
}

/// `GET /v1/logs`.
pub async fn list_logs(
    State(st): State<Arc<AppState>>,
    ip: ClientIp,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let t = required(&st, &headers, ip).await?;
    let logs: Vec<_> = st
        .logs()
        .iter()
        .filter(|(n, _)| t.can_see(n))
        .map(|(n, l)| {
            let p = l.published();
            json!({"name": n, "size": p.size, "origin": l.verifier().name(), "verifier_key": l.verifier().to_vkey()})
        })
        .collect();
    Ok(axum::Json(json!({ "logs": logs })).into_response())
}

/// `GET /v1/logs/{log}/checkpoint` (text/plain signed note).
pub async fn checkpoint(
    State(st): State<Arc<AppState>>,
    Path(name): Path<String>,
    ip: ClientIp,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let log = st.log(&name)?;
    public_or_token(&st, &headers, ip, &name).await?;
    let p = log.published();
    Ok((
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        p.checkpoint.to_string(),
    )
        .into_response())
}

/// `GET /v1/logs/{log}/tile/{*path}`: the C2SP tlog-tiles API.
pub async fn tile(
    State(st): State<Arc<AppState>>,
    Path((name, rest)): Path<(String, String)>,
    ip: ClientIp,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let log = st.log(&name)?;
    let t = Tile::parse(&format!("tile/{rest}"))
        .map_err(|e| AppError::bad_request("bad_tile_path", e.to_string()))?;
    let token = public_or_token(&st, &headers, ip, &name).await?;
    if t.kind == TileKind::Entries {
        let token = token.ok_or_else(AppError::unauthorized)?;
        reader(&token, &name)?;
        st.audit(
            "evidence.read",
            Some(&token),
            ip.0,
            Some(&name),
            json!({"tile": t.path()}),
        )
        .await?;
    }
    let log2 = log.clone();
    let data = tokio::task::spawn_blocking(move || log2.tile(&t))
        .await
        .map_err(|e| AppError::internal(&e))?;
    let data = data.map_err(|e| match e {
        veritrail_store::StoreError::OutOfRange(m) => AppError::not_found(m),
        other => AppError::from(other),
    })?;
    let mut resp = (StatusCode::OK, data).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if t.is_full() {
        resp.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=31536000, immutable"),
        );
    }
    Ok(resp)
}

/// `GET /v1/logs/{log}/events/{index}`: the stored event bytes, exactly.
pub async fn event(
    State(st): State<Arc<AppState>>,
    Path((name, index)): Path<(String, String)>,
    ip: ClientIp,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let log = st.log(&name)?;
    let index: u64 = index.parse().map_err(|_| {
        AppError::bad_request("bad_index", format!("{index:?} is not an entry index"))
    })?;
    let token = required(&st, &headers, ip).await?;
    reader(&token, &name)?;
    let size = log.published().size;
    if index >= size {
        return Err(AppError::not_found(format!(
            "entry {index} is not covered by the latest checkpoint (size {size})"
        )));
    }
    st.audit(
        "evidence.read",
        Some(&token),
        ip.0,
        Some(&name),
        json!({"index": index}),
    )
    .await?;
    let log2 = log.clone();
    let entry = blocking(move || log2.entries(index, 1)).await?.remove(0);
    let leaf = veritrail_core::leaf_hash(&entry).to_base64();
    // The stored canonical JSON is embedded byte for byte.
    let mut body = format!("{{\"index\":{index},\"leaf_hash\":\"{leaf}\",\"event\":").into_bytes();
    body.extend_from_slice(&entry);
    body.push(b'}');
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// Query of `proof/inclusion`.
#[derive(Debug, Deserialize)]
pub struct InclusionQuery {
    index: Option<u64>,
    tree_size: Option<u64>,
}

/// `GET /v1/logs/{log}/proof/inclusion?index=&tree_size=`.
pub async fn inclusion(
    State(st): State<Arc<AppState>>,
    Path(name): Path<String>,
    q: Result<Query<InclusionQuery>, axum::extract::rejection::QueryRejection>,
    ip: ClientIp,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let log = st.log(&name)?;
    public_or_token(&st, &headers, ip, &name).await?;
    let Query(q) = q.map_err(|e| AppError::bad_request("bad_query", e.body_text()))?;
    let index = q
        .index
        .ok_or_else(|| AppError::bad_request("bad_query", "index is required"))?;
    let size = q.tree_size.unwrap_or_else(|| log.published().size);
    let log2 = log.clone();
    let proof = blocking(move || log2.prove_inclusion(index, size)).await?;
    Ok(axum::Json(json!({"index": index, "tree_size": size, "proof": proof.iter().map(|h| h.to_base64()).collect::<Vec<_>>()})).into_response())
}

/// Query of `proof/consistency`.
#[derive(Debug, Deserialize)]
pub struct ConsistencyQuery {
    from: Option<u64>,
    to: Option<u64>,
}

/// `GET /v1/logs/{log}/proof/consistency?from=&to=`.
pub async fn consistency(
    State(st): State<Arc<AppState>>,
    Path(name): Path<String>,
    q: Result<Query<ConsistencyQuery>, axum::extract::rejection::QueryRejection>,
    ip: ClientIp,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let log = st.log(&name)?;
    public_or_token(&st, &headers, ip, &name).await?;
    let Query(q) = q.map_err(|e| AppError::bad_request("bad_query", e.body_text()))?;
    let (Some(from), Some(to)) = (q.from, q.to) else {
        return Err(AppError::bad_request(
            "bad_query",
            "from and to are required",
        ));
    };
    let log2 = log.clone();
    let proof = blocking(move || log2.prove_consistency(from, to)).await?;
    Ok(axum::Json(json!({"from": from, "to": to, "proof": proof.iter().map(|h| h.to_base64()).collect::<Vec<_>>()})).into_response())
}

/// Query string of `GET /v1/logs/{log}/events`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct QueryParams {
    actor: Option<String>,
    action: Option<String>,
    outcome: Option<String>,
    target: Option<String>,
    source: Option<String>,
    since: Option<String>,
    until: Option<String>,
    q: Option<String>,
    limit: Option<u32>,
    cursor: Option<u64>,
}

fn time_param(
    name: &str,
    v: &Option<String>,
) -> Result<Option<veritrail_core::Timestamp>, AppError> {
    v.as_deref()
        .map(|t| {
            veritrail_core::Timestamp::parse_rfc3339(t)
                .map_err(|e| AppError::bad_request("bad_query", format!("{name}: {e}")))
        })
        .transpose()
}

/// `GET /v1/logs/{log}/events?actor=&action=&outcome=&target=&source=&since=&until=&q=&limit=&cursor=`:
/// matching entries in index order, read from the log itself (the index only
/// finds them), with how far the index has caught up.
pub async fn query(
    State(st): State<Arc<AppState>>,
    Path(name): Path<String>,
    q: Result<Query<QueryParams>, axum::extract::rejection::QueryRejection>,
    ip: ClientIp,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let log = st.log(&name)?;
    let token = required(&st, &headers, ip).await?;
    reader(&token, &name)?;
    let Query(p) = q.map_err(|e| AppError::bad_request("bad_query", e.body_text()))?;
    if p.limit == Some(0) || p.limit.is_some_and(|l| l > veritrail_index::MAX_LIMIT) {
        return Err(AppError::bad_request(
            "bad_query",
            format!("limit must be 1..={}", veritrail_index::MAX_LIMIT),
        ));
    }
    let filter = veritrail_index::Filter {
        since: time_param("since", &p.since)?,
        until: time_param("until", &p.until)?,
        actor: p.actor.clone(),
        action: p.action.clone(),
        outcome: p.outcome.clone(),
        target: p.target.clone(),
        source: p.source.clone(),
        q: p.q.clone(),
        limit: p.limit.unwrap_or(100),
        cursor: p.cursor,
    };
    let qi = st.index(&name)?;
    st.audit(
        "evidence.query",
        Some(&token),
        ip.0,
        Some(&name),
        json!({"query": format!("{p:?}")}),
    )
    .await?;
    let (hits, next, through, entries) = veritrail_service::blocking(move || {
        let through = qi.indexed_through().map_err(ServiceError::from)?;
        let (hits, next) = qi.query(&filter).map_err(ServiceError::from)?;
        let mut entries = Vec::with_capacity(hits.len());
        for i in &hits {
            entries.push(log.entries(*i, 1).map_err(ServiceError::from)?.remove(0));
        }
        Ok::<_, AppError>((hits, next, through, entries))
    })
    .await?;
    let mut events = Vec::with_capacity(hits.len());
    for (i, e) in hits.iter().zip(entries) {
        let leaf = veritrail_core::leaf_hash(&e).to_base64();
        let raw = serde_json::value::RawValue::from_string(
            String::from_utf8(e).map_err(|e| AppError::internal(&e))?,
        )
        .map_err(|e| AppError::internal(&e))?;
        events.push(json!({"index": i, "leaf_hash": leaf, "event": raw}));
    }
    Ok(
        axum::Json(json!({"events": events, "next_cursor": next, "indexed_through": through}))
            .into_response(),
    )
}

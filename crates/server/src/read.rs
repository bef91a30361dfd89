//! Reads: log list, checkpoint, C2SP tiles, single entries, proofs.
//! Checkpoints, hash tiles and proofs reveal only hashes and are public unless
//! `private_checkpoints`; entries and entry bundles need a reader or auditor
//! token, and every such read is recorded in `_system`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use veritrail_core::hash::Hash;
use veritrail_core::tile::{Tile, TileKind};
use veritrail_service::store::datadir::SYSTEM_LOG;

use veritrail_service::ServiceError;

use crate::auth::{caller, required, ClientIp};
use crate::error::{shown, AppError};
use crate::params::Params;
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
            Some(_) => return Err(AppError::forbidden(&format!("see log {}", shown(log)))),
            None => return Err(AppError::unauthorized()),
        }
    }
    Ok(t)
}

pub(crate) fn reader(t: &Token, log: &str) -> Result<(), AppError> {
    if t.can_read(log) {
        Ok(())
    } else {
        Err(AppError::forbidden(&format!(
            "read entries of log {}",
            shown(log)
        )))
    }
}

/// `GET /v1/logs`.
pub async fn list_logs(
    State(st): State<Arc<AppState>>,
    params: Params,
    ip: ClientIp,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    params.only(&[])?;
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

fn note(text: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        text,
    )
        .into_response()
}

/// `GET /v1/logs/{log}/checkpoint` (text/plain signed note).
pub async fn checkpoint(
    State(st): State<Arc<AppState>>,
    Path(name): Path<String>,
    params: Params,
    ip: ClientIp,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    params.only(&[])?;
    let log = st.log(&name)?;
    public_or_token(&st, &headers, ip, &name).await?;
    let p = log.published();
    if p.checkpoint.is_empty() {
        // A replica's copy before the first checkpoint it copied.
        return Err(AppError::not_found(format!(
            "log {} has no checkpoint yet",
            shown(&name)
        )));
    }
    Ok(note(with_cosignatures(&st, &name, p.size, &p.checkpoint)))
}

/// A checkpoint note with the witnesses' cosignatures kept for its size.
pub fn with_cosignatures(st: &AppState, log: &str, size: u64, note: &str) -> String {
    let lines = crate::witnessing::cosignatures(st.root(), log, size);
    format!("{note}{lines}")
}

/// Most sizes one `GET …/checkpoints` lists.
pub const MAX_CHECKPOINTS: u64 = 1000;

/// `GET /v1/logs/{log}/checkpoints?after=&limit=`: the sizes of the signed
/// checkpoints after `after`, oldest first, each fetched with
/// `…/checkpoints/{size}`.
pub async fn checkpoints(
    State(st): State<Arc<AppState>>,
    Path(name): Path<String>,
    params: Params,
    ip: ClientIp,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let params = params.only(&["after", "limit"])?;
    let log = st.log(&name)?;
    public_or_token(&st, &headers, ip, &name).await?;
    let after = params.u64("after")?;
    let limit = params.u64("limit")?.unwrap_or(100);
    if !(1..=MAX_CHECKPOINTS).contains(&limit) {
        return Err(AppError::bad_request(
            "bad_query",
            format!("limit must be 1..={MAX_CHECKPOINTS}"),
        ));
    }
    let sizes = blocking(move || {
        log.checkpoint_sizes(after.map_or(0, |a| a), limit as usize + 1)
            .and_then(|mut v| {
                // Without `after`, the empty tree's checkpoint comes first
                // (a replica's copy may start later: no checkpoint at 0).
                if after.is_none() && log.checkpoint_at(0)?.is_some() {
                    v.insert(0, 0);
                }
                Ok(v)
            })
    })
    .await?;
    let more = sizes.len() > limit as usize;
    let sizes: Vec<u64> = sizes.into_iter().take(limit as usize).collect();
    let next = if more { sizes.last().copied() } else { None };
    Ok(axum::Json(json!({"sizes": sizes, "next_after": next})).into_response())
}

/// A tree size from a path segment (400 `bad_size` otherwise).
fn tree_size(s: &str) -> Result<u64, AppError> {
    s.parse()
        .map_err(|_| AppError::bad_request("bad_size", format!("{} is not a tree size", shown(s))))
}

/// `GET /v1/logs/{log}/checkpoints/{size}`: the newest signed checkpoint of
/// that size (text/plain signed note).
pub async fn checkpoint_at(
    State(st): State<Arc<AppState>>,
    Path((name, size)): Path<(String, String)>,
    params: Params,
    ip: ClientIp,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    params.only(&[])?;
    let log = st.log(&name)?;
    let size = tree_size(&size)?;
    public_or_token(&st, &headers, ip, &name).await?;
    match blocking(move || log.checkpoint_at(size)).await? {
        Some(text) => Ok(note(with_cosignatures(&st, &name, size, &text))),
        None => Err(no_checkpoint(size)),
    }
}

/// 400 for a tree size beyond the latest checkpoint (not signed yet).
fn beyond_latest(log: &veritrail_service::store::Log, size: Option<u64>) -> Result<(), AppError> {
    let latest = log.published().size;
    match size {
        Some(s) if s > latest => Err(AppError::bad_request(
            "out_of_range",
            format!("tree size {s} is beyond the latest checkpoint ({latest})"),
        )),
        _ => Ok(()),
    }
}

fn no_checkpoint(size: u64) -> AppError {
    AppError::not_found(format!(
        "no checkpoint was signed at tree size {size} (the signed sizes: GET …/checkpoints)"
    ))
}

/// `GET /v1/logs/{log}/tile/{*path}`: the C2SP tlog-tiles API.
pub async fn tile(
    State(st): State<Arc<AppState>>,
    Path((name, rest)): Path<(String, String)>,
    params: Params,
    ip: ClientIp,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    params.only(&[])?;
    let log = st.log(&name)?;
    let t = Tile::parse(&format!("tile/{rest}")).map_err(|e| {
        AppError::bad_request("bad_tile_path", format!("tile/{}: {e}", shown(&rest)))
    })?;
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
        veritrail_service::store::StoreError::OutOfRange(m) => AppError::not_found(m),
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

/// Reads entry `index` for a reader, recording the read in `_system`.
async fn read_entry(
    st: &Arc<AppState>,
    name: &str,
    index: &str,
    ip: ClientIp,
    headers: &HeaderMap,
) -> Result<(u64, Vec<u8>), AppError> {
    let log = st.log(name)?;
    let index: u64 = index.parse().map_err(|_| {
        AppError::bad_request(
            "bad_index",
            format!("{} is not an entry index", shown(index)),
        )
    })?;
    let token = required(st, headers, ip).await?;
    reader(&token, name)?;
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
        Some(name),
        json!({"index": index}),
    )
    .await?;
    let entry = blocking(move || log.entries(index, 1)).await?.remove(0);
    Ok((index, entry))
}

fn raw(entry: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/octet-stream")], entry).into_response()
}

/// `GET /v1/logs/{log}/events/{index}`: the stored event bytes, exactly,
/// in JSON (`{"index","leaf_hash","event"}`), or alone with `Accept:
/// application/octet-stream`.
pub async fn event(
    State(st): State<Arc<AppState>>,
    Path((name, index)): Path<(String, String)>,
    params: Params,
    ip: ClientIp,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    params.only(&[])?;
    let (index, entry) = read_entry(&st, &name, &index, ip, &headers).await?;
    let wants_raw = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| {
            a.split(',')
                .any(|m| m.trim().starts_with("application/octet-stream"))
        });
    if wants_raw {
        return Ok(raw(entry));
    }
    let leaf = veritrail_core::leaf_hash(&entry).to_base64();
    // The stored canonical JSON is embedded byte for byte.
    let mut body = format!("{{\"index\":{index},\"leaf_hash\":\"{leaf}\",\"event\":").into_bytes();
    body.extend_from_slice(&entry);
    body.push(b'}');
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// `GET /v1/logs/{log}/events/{index}/raw`: the stored bytes alone — the
/// Merkle leaf is SHA-256(0x00 ‖ these bytes).
pub async fn event_raw(
    State(st): State<Arc<AppState>>,
    Path((name, index)): Path<(String, String)>,
    params: Params,
    ip: ClientIp,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    params.only(&[])?;
    let (_, entry) = read_entry(&st, &name, &index, ip, &headers).await?;
    Ok(raw(entry))
}

fn b64(proof: &[Hash]) -> Vec<String> {
    proof.iter().map(Hash::to_base64).collect()
}

/// `GET /v1/logs/{log}/proof/inclusion?index=&tree_size=`: the proof to a
/// signed checkpoint (the latest without `tree_size`), with that checkpoint.
pub async fn inclusion(
    State(st): State<Arc<AppState>>,
    Path(name): Path<String>,
    params: Params,
    ip: ClientIp,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let params = params.only(&["index", "tree_size"])?;
    let log = st.log(&name)?;
    public_or_token(&st, &headers, ip, &name).await?;
    let index = params.required_u64("index")?;
    let size = params.u64("tree_size")?;
    beyond_latest(&log, size)?;
    let (size, checkpoint, proof) = blocking(move || {
        let (size, cp) = match size {
            None => {
                let p = log.published();
                (p.size, Some(p.checkpoint.to_string()))
            }
            Some(s) => (s, log.checkpoint_at(s)?),
        };
        let Some(cp) = cp else {
            return Ok((size, None, Vec::new()));
        };
        let proof = log.prove_inclusion(index, size)?;
        Ok((size, Some(cp), proof))
    })
    .await?;
    let checkpoint = checkpoint.ok_or_else(|| no_checkpoint(size))?;
    Ok(axum::Json(
        json!({"index": index, "tree_size": size, "proof": b64(&proof), "checkpoint": checkpoint}),
    )
    .into_response())
}

/// `GET /v1/logs/{log}/proof/consistency?from=&to=`: between two signed
/// checkpoints, with both.
pub async fn consistency(
    State(st): State<Arc<AppState>>,
    Path(name): Path<String>,
    params: Params,
    ip: ClientIp,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let params = params.only(&["from", "to"])?;
    let log = st.log(&name)?;
    public_or_token(&st, &headers, ip, &name).await?;
    let from = params.required_u64("from")?;
    let to = params.required_u64("to")?;
    beyond_latest(&log, Some(to))?;
    let r = blocking(move || {
        let (a, b) = (log.checkpoint_at(from)?, log.checkpoint_at(to)?);
        match (a, b) {
            (Some(a), Some(b)) => Ok(Ok((log.prove_consistency(from, to)?, a, b))),
            (None, _) => Ok(Err(from)),
            (_, None) => Ok(Err(to)),
        }
    })
    .await?;
    let (proof, a, b) = r.map_err(no_checkpoint)?;
    Ok(axum::Json(json!({"from": from, "to": to, "proof": b64(&proof), "from_checkpoint": a, "to_checkpoint": b})).into_response())
}

pub(crate) fn time_param(
    p: &Params,
    name: &str,
) -> Result<Option<veritrail_core::Timestamp>, AppError> {
    p.str(name)
        .map(|t| {
            veritrail_core::Timestamp::parse_rfc3339(t)
                .map_err(|e| AppError::bad_request("bad_query", format!("{name}: {e}")))
        })
        .transpose()
}

/// The parameters of a query.
const QUERY_PARAMS: [&str; 10] = [
    "actor", "action", "outcome", "target", "source", "since", "until", "q", "limit", "cursor",
];

/// The filters a query and a live stream share: actor, action, outcome,
/// target, source, since, until, q (limit and cursor left to the caller).
pub fn filter_of(p: &Params) -> Result<veritrail_service::index::Filter, AppError> {
    let text = |k: &str| p.str(k).map(str::to_owned);
    Ok(veritrail_service::index::Filter {
        since: time_param(p, "since")?,
        until: time_param(p, "until")?,
        actor: text("actor"),
        action: text("action"),
        outcome: text("outcome"),
        target: text("target"),
        source: text("source"),
        q: text("q"),
        limit: 0,
        cursor: None,
    })
}

/// Waits (up to `wait`) until `log`'s query index covers its first `size`
/// entries, so that a count or an export over the index leaves out nothing
/// the checkpoint holds; **503** `index_behind` if it does not.
pub(crate) async fn index_covers(
    st: &AppState,
    log: &str,
    size: u64,
    wait: std::time::Duration,
) -> Result<(), AppError> {
    let qi = st.index(log)?;
    let deadline = std::time::Instant::now() + wait;
    loop {
        let q = qi.clone();
        let through =
            veritrail_service::blocking(move || q.indexed_through().map_err(ServiceError::from))
                .await?;
        if through >= size {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            return Err(AppError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "index_behind",
                format!(
                    "the query index of {} covers {through} of {size} entries; try again shortly",
                    shown(log)
                ),
            ));
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The index's hits for `filter` on `log`, each entry read from the log
/// itself (checked against its leaf hash), with the next cursor and how far
/// the index has caught up.
pub(crate) async fn hits_of(
    st: &AppState,
    name: &str,
    filter: veritrail_service::index::Filter,
) -> Result<(Vec<(u64, Vec<u8>)>, Option<u64>, u64), AppError> {
    let log = st.log(name)?;
    let qi = st.index(name)?;
    veritrail_service::blocking(move || {
        let through = qi.indexed_through().map_err(ServiceError::from)?;
        let (hits, next) = qi.query(&filter).map_err(ServiceError::from)?;
        let mut out = Vec::with_capacity(hits.len());
        for i in hits {
            out.push((i, log.entries(i, 1).map_err(ServiceError::from)?.remove(0)));
        }
        Ok::<_, AppError>((out, next, through))
    })
    .await
}

/// `GET /v1/logs/{log}/events?actor=&action=&outcome=&target=&source=&since=&until=&q=&limit=&cursor=`:
/// matching entries in index order, read from the log itself (the index only
/// finds them), with how far the index has caught up.
pub async fn query(
    State(st): State<Arc<AppState>>,
    Path(name): Path<String>,
    params: Params,
    ip: ClientIp,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    st.log(&name)?;
    let token = required(&st, &headers, ip).await?;
    reader(&token, &name)?;
    let p = params.only(&QUERY_PARAMS)?;
    let limit = p.u64("limit")?;
    if limit == Some(0) || limit.is_some_and(|l| l > u64::from(veritrail_service::index::MAX_LIMIT))
    {
        return Err(AppError::bad_request(
            "bad_query",
            format!("limit must be 1..={}", veritrail_service::index::MAX_LIMIT),
        ));
    }
    let filter = veritrail_service::index::Filter {
        limit: limit.map_or(100, |l| l as u32),
        cursor: p.u64("cursor")?,
        ..filter_of(&p)?
    };
    let asked: serde_json::Map<String, serde_json::Value> = QUERY_PARAMS
        .iter()
        .filter_map(|k| p.str(k).map(|v| ((*k).to_owned(), json!(v))))
        .collect();
    st.audit(
        "evidence.query",
        Some(&token),
        ip.0,
        Some(&name),
        json!({"query": asked}),
    )
    .await?;
    let (hits, next, through) = hits_of(&st, &name, filter).await?;
    let mut events = Vec::with_capacity(hits.len());
    for (i, e) in hits {
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

/// `GET /v1/logs/{log}/timestamps/{size}`: the RFC 3161 token kept for the
/// checkpoint signed at `size` (DER `ContentInfo`), public like the
/// checkpoints; 404 when none was kept for that size.
pub async fn timestamp(
    State(st): State<Arc<AppState>>,
    Path((name, size)): Path<(String, String)>,
    params: Params,
    ip: ClientIp,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    params.only(&[])?;
    st.log(&name)?;
    let size = tree_size(&size)?;
    public_or_token(&st, &headers, ip, &name).await?;
    match std::fs::read(crate::timestamping::token_path(st.root(), &name, size)) {
        Ok(t) => Ok((
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/timestamp-token"),
            )],
            t,
        )
            .into_response()),
        Err(_) => Err(AppError::not_found(format!(
            "no timestamp token for size {size} of log {}",
            shown(&name)
        ))),
    }
}

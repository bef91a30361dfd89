//! Fired alerts as the API lists them (`GET /v1/alerts`), and
//! acknowledging them (docs/ALERTS.md "Acknowledging"): an auditor
//! states that a fired alert was seen and what was done about it. The
//! acknowledgement is an `alert.acknowledged` record in `_system` naming
//! the alert's `_system` index and leaf hash, the auditor's token and the
//! note — evidence like the alert itself. An alert is acknowledged once.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use veritrail_service::store::datadir::SYSTEM_LOG;
use veritrail_service::ServiceError;

use crate::auth::{required, ClientIp};
use crate::error::AppError;
use crate::params::Params;
use crate::read::{hits_of, reader, time_param};
use crate::state::AppState;
use crate::tokens::Role;

/// The `_system` action of an acknowledgement.
pub const ACTION: &str = "alert.acknowledged";

/// Longest note, in bytes.
const MAX_NOTE: usize = 4096;

/// The `target` of an acknowledgement of the alert at `_system` index `i`
/// (what a query for it filters on).
pub fn target(i: u64) -> String {
    format!("alert/{i}")
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NewAck {
    note: String,
}

/// The acknowledgement of each alert in `indexes` that has one: what it
/// says, with its own `_system` index.
pub async fn of(st: &AppState, indexes: &[u64]) -> Result<BTreeMap<u64, Value>, AppError> {
    let mut out = BTreeMap::new();
    for i in indexes {
        if let Some(v) = st.recent_acks.get(*i) {
            out.insert(*i, v);
            continue;
        }
        let filter = veritrail_service::index::Filter {
            action: Some(ACTION.into()),
            target: Some(target(*i)),
            limit: 1,
            ..veritrail_service::index::Filter::default()
        };
        let (hits, _, _) = hits_of(st, SYSTEM_LOG, filter).await?;
        if let Some((at, e)) = hits.into_iter().next() {
            let v: Value = serde_json::from_slice(&e).map_err(|e| AppError::internal(&e))?;
            out.insert(*i, summary(at, &v));
        }
    }
    Ok(out)
}

fn summary(at: u64, record: &Value) -> Value {
    let m = &record["metadata"];
    json!({
        "system_index": at,
        "by": m["by"],
        "note": m["note"],
        "at": record["received_at"],
    })
}

/// `GET /v1/alerts?rule=&since=&until=&limit=&cursor=`: recent alerts,
/// each the `alert.fired` record in `_system` with its index and leaf hash
/// (provable with an inclusion proof of `_system`). For tokens that can
/// read `_system` (auditors, admins); the read is recorded.
pub async fn alerts(
    State(st): State<Arc<AppState>>,
    params: Params,
    ip: ClientIp,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let token = required(&st, &headers, ip).await?;
    reader(&token, SYSTEM_LOG)?;
    let p = params.only(&["rule", "since", "until", "limit", "cursor"])?;
    let limit = p.u64("limit")?.unwrap_or(100);
    if limit == 0 || limit > u64::from(veritrail_service::index::MAX_LIMIT) {
        return Err(AppError::bad_request(
            "bad_query",
            format!("limit must be 1..={}", veritrail_service::index::MAX_LIMIT),
        ));
    }
    let filter = veritrail_service::index::Filter {
        action: Some("alert.fired".into()),
        target: p.str("rule").map(str::to_owned),
        since: time_param(&p, "since")?,
        until: time_param(&p, "until")?,
        limit: limit as u32,
        cursor: p.u64("cursor")?,
        ..veritrail_service::index::Filter::default()
    };
    st.audit("alerts.read", Some(&token), ip.0, None, json!({}))
        .await?;
    let (hits, next, through) = hits_of(&st, SYSTEM_LOG, filter).await?;
    let indexes: Vec<u64> = hits.iter().map(|(i, _)| *i).collect();
    let mut acks = of(&st, &indexes).await?;
    let mut out = Vec::with_capacity(hits.len());
    for (i, e) in hits {
        let leaf = veritrail_core::leaf_hash(&e).to_base64();
        let v: serde_json::Value =
            serde_json::from_slice(&e).map_err(|e| AppError::internal(&e))?;
        let m = &v["metadata"];
        out.push(json!({
            "system_index": i,
            "leaf_hash": leaf,
            "rule": m["rule"],
            "severity": m["severity"],
            "summary": v["message"],
            "group": m["group"],
            "fired_at": m["fired_at"],
            "rules_version": m["rules_version"],
            "triggers": m["triggers"],
            "trigger_count": m["trigger_count"],
            "acknowledged": acks.remove(&i),
        }));
    }
    Ok(
        axum::Json(json!({"alerts": out, "next_cursor": next, "indexed_through": through}))
            .into_response(),
    )
}

/// `POST /v1/alerts/{index}/ack` with `{"note": "…"}` (auditors).
pub async fn acknowledge(
    State(st): State<Arc<AppState>>,
    Path(index): Path<String>,
    ip: ClientIp,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    let token = required(&st, &headers, ip).await?;
    if token.role != Role::Auditor {
        return Err(AppError::forbidden(
            "acknowledge alerts (auditor tokens do)",
        ));
    }
    let index: u64 = index.parse().map_err(|_| {
        AppError::bad_request(
            "bad_path",
            "the alert is named by its _system index, a number",
        )
    })?;
    let req: NewAck = serde_json::from_slice(&body).map_err(|e| {
        AppError::bad_request(
            "invalid_body",
            format!("expected {{\"note\": \"what was done about it\"}}: {e}"),
        )
    })?;
    let note = req.note.trim().to_owned();
    if note.is_empty() || note.len() > MAX_NOTE {
        return Err(AppError::bad_request(
            "invalid_field",
            format!("note: 1 to {MAX_NOTE} bytes saying what was done about the alert"),
        )
        .at_field(Some("note")));
    }
    // The alert, read from `_system` itself.
    let sys = st.log(SYSTEM_LOG)?;
    let size = sys.durable_size();
    let not_alert = || AppError::not_found(format!("no alert at _system index {index}"));
    if index >= size {
        return Err(not_alert());
    }
    let entry = veritrail_service::blocking(move || {
        sys.entries(index, 1)
            .map(|mut v| v.remove(0))
            .map_err(ServiceError::from)
    })
    .await
    .map_err(AppError::from)?;
    let alert: Value = serde_json::from_slice(&entry).map_err(|e| AppError::internal(&e))?;
    if alert["action"] != "alert.fired" {
        return Err(not_alert());
    }
    if let Some(prior) = of(&st, &[index]).await?.remove(&index) {
        return Err(AppError::new(
            StatusCode::CONFLICT,
            "already_acknowledged",
            format!(
                "alert {index} was acknowledged already (by {}, at {}; _system index {})",
                prior["by"]["name"], prior["at"], prior["system_index"]
            ),
        ));
    }
    let by = json!({"token": token.id, "name": token.name});
    // Claimed before it is recorded, so a concurrent second one is refused.
    let pending = json!({"system_index": null, "by": by, "note": note, "at": null});
    if !st.recent_acks.claim(index, pending) {
        return Err(AppError::new(
            StatusCode::CONFLICT,
            "already_acknowledged",
            format!("alert {index} is being acknowledged by another request"),
        ));
    }
    let metadata = json!({
        "alert": index,
        "alert_leaf_hash": veritrail_core::leaf_hash(&entry).to_base64(),
        "rule": alert["metadata"]["rule"],
        "fired_at": alert["metadata"]["fired_at"],
        "note": note,
        "by": by,
    });
    let at = match st
        .audit_at(ACTION, Some(&token), ip.0, Some(&target(index)), metadata)
        .await
    {
        Ok(at) => at,
        Err(e) => {
            st.recent_acks.release(index);
            return Err(e);
        }
    };
    let now = veritrail_service::audit::now().to_rfc3339_nanos();
    let done = json!({"system_index": at, "by": by, "note": note, "at": now});
    st.recent_acks.done(index, done.clone());
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({"alert": index, "acknowledgement": done})),
    )
        .into_response())
}

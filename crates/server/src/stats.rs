//! `GET /v1/logs/{log}/stats?…`: counts for the console's charts (and
//! reports): matching entries per hour and outcome, failed logins by
//! source, and the most active actors — each with the query that produced
//! it and the tree size it was counted against, so anyone can recount.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use veritrail_service::index::stats::Column;
use veritrail_service::index::Filter;
use veritrail_service::ServiceError;

use crate::auth::{required, ClientIp};
use crate::error::AppError;
use crate::params::Params;
use crate::read::{filter_of, reader};
use crate::state::AppState;

/// The filters `stats` takes, and `top`.
const PARAMS: [&str; 9] = [
    "actor", "action", "outcome", "target", "source", "since", "until", "q", "top",
];

/// Counted values as `{"value", "count"}` rows.
pub(crate) fn rows(r: &[(String, u64)]) -> Vec<serde_json::Value> {
    r.iter()
        .map(|(v, n)| json!({"value": v, "count": n}))
        .collect()
}

/// The query parameters a filter stands for (what a reader re-runs).
pub(crate) fn query_of(f: &Filter) -> serde_json::Value {
    let mut q = serde_json::Map::new();
    let mut put = |k: &str, v: &Option<String>| {
        if let Some(v) = v {
            q.insert(k.into(), json!(v));
        }
    };
    put("actor", &f.actor);
    put("action", &f.action);
    put("outcome", &f.outcome);
    put("target", &f.target);
    put("source", &f.source);
    put("q", &f.q);
    if let Some(t) = &f.since {
        q.insert("since".into(), json!(t.to_rfc3339_nanos()));
    }
    if let Some(t) = &f.until {
        q.insert("until".into(), json!(t.to_rfc3339_nanos()));
    }
    serde_json::Value::Object(q)
}

/// `GET /v1/logs/{log}/stats`.
pub async fn stats(
    State(st): State<Arc<AppState>>,
    Path(name): Path<String>,
    params: Params,
    ip: ClientIp,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let log = st.log(&name)?;
    let token = required(&st, &headers, ip).await?;
    reader(&token, &name)?;
    let p = params.only(&PARAMS)?;
    let top = p.u64("top")?.unwrap_or(10);
    if !(1..=100).contains(&top) {
        return Err(AppError::bad_request("bad_query", "top must be 1..=100"));
    }
    let filter = filter_of(&p)?;
    let failed = Filter {
        action: Some("auth.*".into()),
        outcome: Some("failure".into()),
        ..filter.clone()
    };
    st.audit(
        "evidence.query",
        Some(&token),
        ip.0,
        Some(&name),
        json!({"query": query_of(&filter), "stats": true}),
    )
    .await?;
    let qi = st.index(&name)?;
    let size = log.published().size;
    let out = veritrail_service::blocking(move || {
        let through = qi.indexed_through().map_err(ServiceError::from)?;
        let hours = qi.per_hour(&filter).map_err(ServiceError::from)?;
        let (by_source, failed_total) = qi
            .top(&failed, Column::Source, top as u32)
            .map_err(ServiceError::from)?;
        let (actors, total) = qi
            .top(&filter, Column::Actor, top as u32)
            .map_err(ServiceError::from)?;
        let per_hour: Vec<_> = hours
            .iter()
            .map(|(h, o, n)| {
                json!({
                    "hour": veritrail_core::Timestamp::from_unix_nanos(i128::from(*h)).to_rfc3339_nanos(),
                    "outcome": o,
                    "count": n,
                })
            })
            .collect();
        Ok::<_, AppError>(json!({
            "log": name,
            "tree_size": size,
            "indexed_through": through,
            "total": total,
            "per_hour": {"query": query_of(&filter), "rows": per_hour},
            "failed_logins_by_source": {"query": query_of(&failed), "total": failed_total, "rows": rows(&by_source)},
            "top_actors": {"query": query_of(&filter), "total": total, "rows": rows(&actors)},
        }))
    })
    .await?;
    Ok(axum::Json(out).into_response())
}

//! Review cycles (docs/CONSOLE.md "Reviews"): a reviewer marks a range of a
//! log, up to one of its signed checkpoints, as reviewed, with a note and
//! findings. The review is a `review.completed` record in `_system` carrying
//! the reviewer's token, the range, the checkpoint and the note — so the
//! review is itself provable. Coverage (which ranges of which logs were
//! reviewed, by whom, and the gaps) is computed from those records.
//!
//! `POST /v1/logs/{log}/reviews` and `GET /v1/reviews` (auditors).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use veritrail_core::checkpoint::open_checkpoint;
use veritrail_service::store::datadir::SYSTEM_LOG;

use crate::auth::{required, ClientIp};
use crate::error::{shown, AppError};
use crate::params::Params;
use crate::state::AppState;
use crate::tokens::{Role, Token};

/// The `_system` action of a review.
pub const ACTION: &str = "review.completed";
/// Longest note accepted.
pub const MAX_NOTE: usize = 8192;

/// One recorded review.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Review {
    /// The log.
    pub log: String,
    /// First entry reviewed.
    pub from: u64,
    /// Entries below this were reviewed (the checkpoint's size).
    pub to: u64,
    /// The reviewer's token id.
    pub reviewer: String,
    /// Its name, when it has one.
    pub reviewer_name: String,
    /// When it was recorded (RFC 3339, the `_system` entry's `received_at`).
    pub at: String,
    /// The note.
    pub note: String,
    /// `_system` index of the record.
    pub system_index: u64,
}

/// Ranges of `[0, size)` that no review covers, in order.
pub fn gaps(reviews: &[(u64, u64)], size: u64) -> Vec<(u64, u64)> {
    let mut r: Vec<(u64, u64)> = reviews.iter().copied().filter(|(a, b)| a < b).collect();
    r.sort_unstable();
    let mut out = Vec::new();
    let mut at = 0u64;
    for (a, b) in r {
        if a > at && at < size {
            out.push((at, a.min(size)));
        }
        at = at.max(b);
    }
    if at < size {
        out.push((at, size));
    }
    out
}

fn auditor(t: &Token) -> Result<(), AppError> {
    if t.role == Role::Auditor {
        Ok(())
    } else {
        Err(AppError::forbidden(
            "record or read reviews (auditor tokens do)",
        ))
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NewReview {
    /// A signed checkpoint of the log (default: the latest).
    checkpoint: Option<String>,
    /// First entry reviewed (default: where the last review of the log ended).
    from: Option<u64>,
    note: String,
    #[serde(default)]
    findings: Vec<String>,
}

/// `POST /v1/logs/{log}/reviews`.
pub async fn create(
    State(st): State<Arc<AppState>>,
    Path(log): Path<String>,
    ip: ClientIp,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    let reader = st.log(&log)?.reader();
    let token = required(&st, &headers, ip).await?;
    auditor(&token)?;
    st.writable("record reviews")?;
    let req: NewReview = serde_json::from_slice(&body).map_err(|e| {
        AppError::bad_request(
            "invalid_body",
            format!("expected {{\"note\": \"…\", \"checkpoint\"?, \"from\"?, \"findings\"?: [\"…\"]}}: {e}"),
        )
    })?;
    let note = req.note.trim();
    if note.is_empty() || note.len() > MAX_NOTE {
        return Err(AppError::bad_request(
            "invalid_field",
            format!("note: 1 to {MAX_NOTE} bytes of text saying what was reviewed"),
        )
        .at_field(Some("note")));
    }
    let text = match req.checkpoint {
        Some(t) => t,
        None => reader.published().checkpoint.to_string(),
    };
    let cp = open_checkpoint(text.as_bytes(), reader.verifier(), &[])
        .map_err(|e| {
            AppError::bad_request(
                "invalid_field",
                format!(
                    "checkpoint: not a checkpoint of log {} signed by its key: {e}",
                    shown(&log)
                ),
            )
            .at_field(Some("checkpoint"))
        })?
        .checkpoint;
    let size = cp.size.0;
    let published = reader.published().size;
    let ours = if size <= published {
        reader.root_at(size).ok()
    } else {
        None
    };
    if ours != Some(cp.root) {
        return Err(AppError::bad_request(
            "invalid_field",
            format!("checkpoint: size {size} with that root is not in this log's history (it has {published} entries)"),
        )
        .at_field(Some("checkpoint")));
    }
    let from = match req.from {
        Some(f) => f,
        None => st.last_reviews.get(&log).map_or(0, |(to, _)| to.min(size)),
    };
    if from > size {
        return Err(AppError::bad_request(
            "invalid_field",
            format!("from {from} is beyond the checkpoint's {size} entries"),
        )
        .at_field(Some("from")));
    }
    st.audit(
        ACTION,
        Some(&token),
        ip.0,
        Some(&log),
        json!({
            "from": from,
            "to": size,
            "checkpoint": text,
            "root": cp.root.to_base64(),
            "note": note,
            "findings": req.findings,
            "reviewer": {"token": token.id, "name": token.name},
        }),
    )
    .await?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128);
    st.last_reviews.note(&log, size, now);
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({"log": log, "from": from, "to": size, "reviewer": token.id})),
    )
        .into_response())
}

/// Every `review.completed` record in `_system` (oldest first), and how far
/// the `_system` index has caught up.
pub async fn all(st: &AppState) -> Result<(Vec<Review>, u64), AppError> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let filter = veritrail_service::index::Filter {
            action: Some(ACTION.into()),
            limit: veritrail_service::index::MAX_LIMIT,
            cursor,
            ..veritrail_service::index::Filter::default()
        };
        let (hits, next, through) = crate::read::hits_of(st, SYSTEM_LOG, filter).await?;
        for (i, e) in hits {
            let v: serde_json::Value =
                serde_json::from_slice(&e).map_err(|e| AppError::internal(&e))?;
            let m = &v["metadata"];
            let (Some(from), Some(to)) = (m["from"].as_u64(), m["to"].as_u64()) else {
                continue;
            };
            out.push(Review {
                log: v["target"]["id"].as_str().unwrap_or("").to_owned(),
                from,
                to,
                reviewer: m["reviewer"]["token"].as_str().unwrap_or("").to_owned(),
                reviewer_name: m["reviewer"]["name"].as_str().unwrap_or("").to_owned(),
                at: v["received_at"].as_str().unwrap_or("").to_owned(),
                note: m["note"].as_str().unwrap_or("").to_owned(),
                system_index: i,
            });
        }
        match next {
            Some(n) => cursor = Some(n),
            None => return Ok((out, through)),
        }
    }
}

/// `GET /v1/reviews[?log=L]`: per log, its reviews, the entries they cover
/// and the gaps (up to the log's latest checkpoint).
pub async fn coverage(
    State(st): State<Arc<AppState>>,
    params: Params,
    ip: ClientIp,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let token = required(&st, &headers, ip).await?;
    auditor(&token)?;
    let p = params.only(&["log"])?;
    let only = p.str("log").map(str::to_owned);
    if let Some(l) = &only {
        st.log(l)?;
    }
    st.audit(
        "reviews.read",
        Some(&token),
        ip.0,
        only.as_deref(),
        json!({}),
    )
    .await?;
    let (reviews, through) = all(&st).await?;
    let mut logs = Vec::new();
    for (name, log) in st.service.logs() {
        if only.as_ref().is_some_and(|o| *o != name) {
            continue;
        }
        let size = log.published().size;
        let mine: Vec<&Review> = reviews.iter().filter(|r| r.log == name).collect();
        let ranges: Vec<(u64, u64)> = mine.iter().map(|r| (r.from, r.to)).collect();
        let g = gaps(&ranges, size);
        let uncovered: u64 = g.iter().map(|(a, b)| b - a).sum();
        logs.push(json!({
            "log": name,
            "size": size,
            "reviewed_entries": size - uncovered,
            "gaps": g.iter().map(|(a, b)| json!({"from": a, "to": b})).collect::<Vec<_>>(),
            "last_review": mine.last().map(|r| r.at.clone()),
            "reviews": mine,
        }));
    }
    Ok(axum::Json(json!({"logs": logs, "indexed_through": through})).into_response())
}

/// At start: the last review of each log, from `_system` (once its index
/// has caught up with what `_system` held at start).
pub async fn load(st: Arc<AppState>) {
    let want = st
        .service
        .log(SYSTEM_LOG)
        .map(|l| l.published().size)
        .unwrap_or(0);
    for _ in 0..600 {
        match all(&st).await {
            Ok((reviews, through)) if through >= want => {
                for r in reviews {
                    let at = veritrail_core::Timestamp::parse_rfc3339(&r.at)
                        .map(|t| t.unix_nanos())
                        .unwrap_or(0);
                    st.last_reviews.note(&r.log, r.to, at);
                }
                return;
            }
            _ => tokio::time::sleep(std::time::Duration::from_secs(1)).await,
        }
    }
    tracing::warn!("the _system index did not catch up in 10 minutes: review coverage for alert rules starts empty");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_between_reviews() {
        assert_eq!(gaps(&[], 10), vec![(0, 10)]);
        assert_eq!(gaps(&[(0, 10)], 10), vec![]);
        assert_eq!(gaps(&[(0, 4), (6, 8)], 10), vec![(4, 6), (8, 10)]);
        assert_eq!(gaps(&[(6, 8), (0, 7)], 8), vec![]);
        assert_eq!(gaps(&[(2, 3)], 2), vec![(0, 2)]);
        assert_eq!(gaps(&[(0, 0)], 0), vec![]);
        assert_eq!(gaps(&[(3, 3), (5, 9)], 12), vec![(0, 5), (9, 12)]);
    }
}

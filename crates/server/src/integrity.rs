//! `GET /v1/integrity`: what the console's Integrity page shows
//! (docs/CONSOLE.md) — per log its recent checkpoints with the witness
//! cosignatures and timestamp tokens kept for them, how far the witnesses
//! and the timestamp authority lag behind the latest checkpoint, the
//! immutability flags of its files and its storage; for the server, the
//! damaged logs, the object-storage tier and the last `veritrail verify`.
//!
//! It reads no entries (nothing is recorded in `_system`); readers see the
//! logs their token names, auditors and admins every log and the
//! server-wide parts.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use veritrail_service::integrity;
use veritrail_service::kept;

use crate::auth::{required, ClientIp};
use crate::error::AppError;
use crate::params::Params;
use crate::state::{blocking, AppState};
use crate::timestamping::Tsa;
use crate::tokens::Role;

/// How many of each log's newest checkpoints are listed by default.
const HISTORY: u64 = 20;

/// `GET /v1/integrity?history=N`.
pub async fn integrity(
    State(st): State<Arc<AppState>>,
    params: Params,
    ip: ClientIp,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let p = params.only(&["history"])?;
    let token = required(&st, &headers, ip).await?;
    if token.role == Role::Writer {
        return Err(AppError::forbidden(
            "read integrity (a writer token appends; reader, auditor and admin tokens see it)",
        ));
    }
    let history = p.u64("history")?.unwrap_or(HISTORY);
    if !(1..=1000).contains(&history) {
        return Err(AppError::bad_request(
            "bad_query",
            "history must be 1..=1000",
        ));
    }
    let whole = matches!(token.role, Role::Auditor | Role::Admin);
    let witnessing = st.witnessing.lock().expect("witnessing lock").clone();
    let tsa = st.tsa.lock().expect("tsa lock").clone();
    let storage = st.object_storage.lock().expect("storage lock").clone();
    let logs: Vec<_> = st
        .logs()
        .into_iter()
        .filter(|(n, _)| token.can_see(n))
        .collect();
    let st2 = st.clone();
    let per_log = blocking(move || {
        let root = st2.root().to_path_buf();
        let now = veritrail_service::audit::now().unix_nanos();
        let wstatus = witnessing.as_ref().map(|w| w.status());
        let uploads = storage.as_ref().map(|s| s.status_json());
        let mut out = Vec::new();
        for (name, log) in logs {
            let reader = log.reader();
            let published = log.published();
            let latest = published.size;
            let sizes = integrity::recent_sizes(&reader, latest, history as usize)?;
            let recent = integrity::history(&root, &name, &sizes);
            let status = st2.data().status(&name)?;
            // Witnesses: what each last cosigned, as far as the log knows,
            // and the newest cosignatures kept on disk.
            let cosigned = kept::cosigned_sizes(&root, &name);
            let newest_cosigned = cosigned.last().copied();
            let witnesses = wstatus.as_ref().map(|(peers, quorum, per)| {
                let (witnessed, states) = per.get(&name).cloned().unwrap_or_default();
                json!({
                    "quorum": quorum,
                    "witnessed_size": witnessed,
                    "lag_entries": latest.saturating_sub(witnessed),
                    "peers": peers.iter().enumerate().map(|(i, p)| {
                        let s = states.get(i).cloned().unwrap_or_default();
                        json!({"name": p.key.name(), "cosigned_size": s.cosigned,
                               "lag_entries": latest.saturating_sub(s.cosigned),
                               "last_error": s.last_error})
                    }).collect::<Vec<_>>(),
                })
            });
            let cosigned_at = newest_cosigned.and_then(|s| integrity::cosigned_at(&root, &name, s));
            let stamped = kept::timestamp_sizes(&root, &name);
            let newest_token = match stamped.last() {
                None => Value::Null,
                Some(&size) => json!({"size": size, "lag_entries": latest.saturating_sub(size),
                    "check": check_token(&root, &name, size, &reader, tsa.as_deref())?}),
            };
            let upload = uploads.as_ref().and_then(|u| {
                u["logs"].as_array().and_then(|l| l.iter().find(|x| x["log"] == name.as_str())).cloned()
            });
            out.push(json!({
                "log": name,
                "origin": log.verifier().name(),
                "key": log.verifier().to_vkey(),
                "size": latest,
                "checkpoint_age_seconds": status.checkpoint_time.map(|t| (now - i128::from(t)).max(0) as f64 / 1e9),
                "checkpoints": recent.iter().map(|c| json!({"size": c.size, "cosigned_by": c.cosigned_by, "timestamped": c.timestamped})).collect::<Vec<_>>(),
                "witnesses": witnesses,
                "cosignatures": {
                    "kept": cosigned.len(),
                    "newest_size": newest_cosigned,
                    "lag_entries": newest_cosigned.map(|s| latest.saturating_sub(s)),
                    "newest_kept_seconds_ago": cosigned_at.map(|t| (now - t).max(0) as f64 / 1e9),
                },
                "timestamps": {"kept": stamped.len(), "newest": newest_token,
                               "authority": tsa.as_ref().map(|t| t.url().to_owned())},
                "immutability": {
                    "append_only_files": status.append_only,
                    "immutable_files": status.immutable,
                    "unflagged_files": status.unflagged,
                    "note": (!status.flag_note.is_empty()).then_some(status.flag_note.clone()),
                },
                "disk": {"bytes": status.disk_bytes, "files": status.files},
                "object_storage": upload,
            }));
        }
        Ok((out, uploads))
    })
    .await?;
    let (logs, uploads) = per_log;
    let mut body = json!({"logs": logs});
    if whole {
        let root = st.root().to_path_buf();
        body["damaged"] = st
            .damaged()
            .into_iter()
            .map(|(n, why)| json!({"log": n, "problem": why}))
            .collect();
        body["last_verify"] = tokio::task::spawn_blocking(move || integrity::last_verify(&root))
            .await
            .map_err(|e| AppError::internal(&e))?
            .unwrap_or(Value::Null);
        body["object_storage"] = uploads.map_or(Value::Null, |mut u| {
            // Per log it is shown beside each log.
            u.as_object_mut().map(|o| o.remove("logs"));
            u
        });
    }
    Ok(axum::Json(body).into_response())
}

/// The newest timestamp token of `log` (at `size`), checked again now
/// against the server's authority roots when it has an authority.
///
/// # Errors
/// Reading the checkpoint history.
fn check_token(
    root: &std::path::Path,
    log: &str,
    size: u64,
    reader: &veritrail_service::store::LogReader,
    tsa: Option<&Tsa>,
) -> Result<Value, veritrail_service::store::StoreError> {
    let Some(cp) = reader.checkpoint_at(size)? else {
        return Ok(
            json!({"ok": false, "problem": format!("no checkpoint of size {size} for the kept token")}),
        );
    };
    let Some(tsa) = tsa else {
        return Ok(
            json!({"ok": null, "problem": "the server has no timestamp authority configured to check it against"}),
        );
    };
    let checked = kept::timestamp(root, log, size)
        .map_err(|e| e.to_string())
        .and_then(|tok| tsa.check(&tok, cp.as_bytes()).map_err(|e| e.to_string()));
    Ok(match checked {
        Ok(s) => json!({"ok": true, "tsa": s.tsa,
            "time": veritrail_core::Timestamp::from_unix_nanos(i128::from(s.time) * 1_000_000_000).to_rfc3339_nanos()}),
        Err(e) => json!({"ok": false, "problem": e}),
    })
}

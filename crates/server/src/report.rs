//! `GET /v1/logs/{log}/report?from=&to=&format=json|html`: a period report
//! for compliance reviews (docs/COMPLIANCE.md "Period reports") — events by
//! action and outcome, authentication failures by source, privileged and
//! account changes, file-integrity events, alerts fired and acknowledged,
//! review coverage, witness and timestamp status, and the integrity checks
//! made. Every figure carries the query that reproduces it (through
//! `GET /v1/logs/{log}/events` or `veritrail query`) and the tree size of
//! the signed checkpoint it was counted against, which the report includes.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use veritrail_core::checkpoint::open_checkpoint;
use veritrail_service::index::stats::Column;
use veritrail_service::index::Filter;
use veritrail_service::store::datadir::SYSTEM_LOG;
use veritrail_service::ServiceError;

use crate::auth::{required, ClientIp};
use crate::error::AppError;
use crate::params::Params;
use crate::read::{index_covers, time_param};
use crate::state::AppState;
use crate::stats::{query_of, rows};
use crate::tokens::Role;

/// The report's format name.
pub const FORMAT: &str = "veritrail-report/v1";

/// The policy of a report's HTML: its own inline styles, nothing else —
/// no scripts, no requests.
pub const HTML_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Rows kept per table.
const TOP: u32 = 50;

/// How long the query indexes may take to reach the checkpoints counted.
const INDEX_WAIT: Duration = Duration::from_secs(30);

/// `GET /v1/logs/{log}/report`.
pub async fn report(
    State(st): State<Arc<AppState>>,
    Path(name): Path<String>,
    params: Params,
    ip: ClientIp,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let log = st.log(&name)?;
    let token = required(&st, &headers, ip).await?;
    if token.role != Role::Auditor {
        return Err(AppError::forbidden(
            "make reports (auditor tokens do: a report reads the log and _system)",
        ));
    }
    let p = params.only(&["from", "to", "format"])?;
    let html = match p.str("format") {
        None | Some("json") => false,
        Some("html") => true,
        Some(_) => {
            return Err(AppError::bad_request(
                "bad_query",
                "format must be json or html",
            ))
        }
    };
    let from = time_param(&p, "from")?;
    let to = time_param(&p, "to")?;
    if let (Some(a), Some(b)) = (&from, &to) {
        if a >= b {
            return Err(AppError::bad_request("bad_query", "from must be before to"));
        }
    }
    // Everything recorded before the request is counted: a checkpoint of
    // each log covering it is asked for and waited for.
    let sys = st.log(SYSTEM_LOG)?;
    let (l2, s2) = (log.clone(), sys.clone());
    let (published, sys_published) = veritrail_service::blocking(move || {
        let wait = Duration::from_secs(10);
        Ok::<_, ServiceError>((
            l2.wait_for_checkpoint(l2.durable_size(), wait)?,
            s2.wait_for_checkpoint(s2.durable_size(), wait)?,
        ))
    })
    .await?;
    index_covers(&st, &name, published.size, INDEX_WAIT).await?;
    index_covers(&st, SYSTEM_LOG, sys_published.size, INDEX_WAIT).await?;
    st.audit(
        "report.generated",
        Some(&token),
        ip.0,
        Some(&name),
        json!({"from": from.as_ref().map(|t| t.to_rfc3339_nanos()), "to": to.as_ref().map(|t| t.to_rfc3339_nanos()), "tree_size": published.size}),
    )
    .await?;
    let period = Filter {
        since: from,
        until: to,
        ..Filter::default()
    };
    let qi = st.index(&name)?;
    let sqi = st.index(SYSTEM_LOG)?;
    let (root, n2, p2) = (st.root().to_path_buf(), name.clone(), period.clone());
    let verifier = log.verifier().clone();
    let checkpoint_text =
        crate::read::with_cosignatures(&st, &name, published.size, published.checkpoint.as_ref());
    let cp2 = checkpoint_text.clone();
    let reader = log.reader();
    let mut out = veritrail_service::blocking(move || {
        let e = |e: veritrail_service::index::IndexError| AppError::from(ServiceError::from(e));
        let with = |action: &str| Filter {
            action: Some(action.into()),
            ..p2.clone()
        };
        let total = qi.top(&p2, Column::Action, 1).map_err(e)?.1;
        let by_action = qi
            .pairs(&p2, Column::Action, Column::Outcome, TOP)
            .map_err(e)?;
        let failed = Filter {
            outcome: Some("failure".into()),
            ..with("auth.*")
        };
        let (by_source, failed_total) = qi.top(&failed, Column::Source, TOP).map_err(e)?;
        let mut sections = vec![
            json!({"id": "events", "title": "Events by action and outcome", "log": n2, "query": query_of(&p2), "total": total,
                   "rows": by_action.into_iter().map(|(a, o, n)| json!({"action": a, "outcome": o, "count": n})).collect::<Vec<_>>()}),
            json!({"id": "auth_failures", "title": "Authentication failures by source", "log": n2, "query": query_of(&failed), "total": failed_total, "rows": rows(&by_source)}),
        ];
        for (id, title, action, col) in [
            ("privileged", "Privileged commands by actor", "privilege.*", Column::Actor),
            ("accounts", "Account changes by action", "account.*", Column::Action),
            ("files", "File-integrity events by action", "file.*", Column::Action),
        ] {
            let f = with(action);
            let (r, n) = qi.top(&f, col, TOP).map_err(e)?;
            sections.push(json!({"id": id, "title": title, "log": n2, "query": query_of(&f), "total": n, "rows": rows(&r)}));
        }
        // Alerts: in `_system`, by rule, with how many were acknowledged.
        let fired = with("alert.fired");
        let (by_rule, fired_total) = sqi.top(&fired, Column::Target, TOP).map_err(e)?;
        let mut acked_total = 0u64;
        let mut alert_rows = Vec::new();
        for (rule, n) in by_rule {
            let f = Filter {
                target: Some(rule.clone()),
                ..fired.clone()
            };
            // The alerts first, then their acknowledgements: `for_each`
            // holds the index's connection while it runs.
            let mut alerts = Vec::new();
            sqi.for_each(&f, &mut |i| {
                alerts.push(i);
                Ok::<bool, veritrail_service::index::IndexError>(true)
            })
            .map_err(e)?;
            let mut acked = 0u64;
            for i in alerts {
                let a = Filter {
                    action: Some(crate::acks::ACTION.into()),
                    target: Some(crate::acks::target(i)),
                    limit: 1,
                    ..Filter::default()
                };
                if !sqi.query(&a).map_err(e)?.0.is_empty() {
                    acked += 1;
                }
            }
            acked_total += acked;
            alert_rows.push(json!({"value": rule, "count": n, "acknowledged": acked}));
        }
        sections.push(json!({"id": "alerts", "title": "Alerts fired and acknowledged, by rule", "log": SYSTEM_LOG, "query": query_of(&fired),
            "total": fired_total, "acknowledged": acked_total, "rows": alert_rows}));
        // Witnesses and timestamps kept for the checkpoint.
        let cosigned = veritrail_service::kept::cosigned_sizes(&root, &n2);
        let stamped = veritrail_service::kept::timestamp_sizes(&root, &n2);
        // Signature lines by keys other than the log's: the witnesses'.
        let cosigs = veritrail_core::Note::parse(cp2.as_bytes()).map_or(0, |n| {
            n.signatures
                .iter()
                .filter(|s| s.name != verifier.name())
                .count()
        });
        sections.push(json!({"id": "trust", "title": "Witnesses and timestamps",
            "cosignatures": cosigs,
            "latest_cosigned_size": cosigned.last(),
            "latest_timestamped_size": stamped.last(),
            "cosigned_checkpoints": cosigned.len(),
            "timestamped_checkpoints": stamped.len()}));
        // The integrity checks a report makes.
        let mut checks = Vec::new();
        let signed = open_checkpoint(cp2.as_bytes(), &verifier, &[]);
        checks.push(json!({"check": "the checkpoint counted against is signed by the log's key", "ok": signed.is_ok()}));
        let size = signed.as_ref().map_or(0, |c| c.checkpoint.size.0);
        for (what, sizes) in [("cosigned", &cosigned), ("timestamped", &stamped)] {
            if let Some(&old) = sizes.iter().rev().find(|s| **s > 0 && **s <= size) {
                let ok = (|| -> Result<bool, veritrail_service::store::StoreError> {
                    let a = reader.root_at(old)?;
                    let b = reader.root_at(size)?;
                    let proof = reader.prove_consistency(old, size)?;
                    Ok(old == size && a == b
                        || veritrail_core::proof::verify_consistency(
                            veritrail_core::TreeSize(old),
                            veritrail_core::TreeSize(size),
                            &proof,
                            &a,
                            &b,
                        )
                        .is_ok())
                })()
                .unwrap_or(false);
                checks.push(json!({"check": format!("the latest {what} checkpoint (size {old}) is consistent with it"), "ok": ok}));
            }
        }
        let span = qi.span(&p2).map_err(e)?;
        Ok::<_, AppError>((sections, checks, span))
    })
    .await?;
    // Reviews of this log that cover the period's entries.
    let (reviews, _) = crate::reviews::all(&st).await?;
    let mine: Vec<&crate::reviews::Review> = reviews.iter().filter(|r| r.log == name).collect();
    let (sections, checks, span) = (&mut out.0, &mut out.1, out.2);
    let (lo, hi) = span.map_or((0, 0), |(a, b)| (a, b + 1));
    let ranges: Vec<(u64, u64)> = mine
        .iter()
        .map(|r| (r.from.max(lo), r.to.min(hi)))
        .filter(|(a, b)| a < b)
        .collect();
    let gaps: Vec<(u64, u64)> = crate::reviews::gaps(&ranges, hi)
        .into_iter()
        .filter(|(_, b)| *b > lo)
        .map(|(a, b)| (a.max(lo), b))
        .collect();
    let unreviewed: u64 = gaps.iter().map(|(a, b)| b - a).sum();
    sections.push(json!({"id": "reviews", "title": "Review coverage of the period's entries", "log": SYSTEM_LOG,
        "query": {"action": crate::reviews::ACTION},
        "entries": {"from": lo, "to": hi}, "unreviewed_entries": unreviewed,
        "gaps": gaps.iter().map(|(a, b)| json!({"from": a, "to": b})).collect::<Vec<_>>(),
        "rows": mine.iter().map(|r| json!({"from": r.from, "to": r.to, "by": r.reviewer_name, "token": r.reviewer, "at": r.at, "note": r.note, "system_index": r.system_index})).collect::<Vec<_>>()}));
    let damaged = st.damaged();
    checks
        .push(json!({"check": "no log of the server is marked damaged", "ok": damaged.is_empty()}));
    let verdict = if checks.iter().all(|c| c["ok"] == true) {
        "ok"
    } else {
        "failed"
    };
    let report = json!({
        "format": FORMAT,
        "log": name,
        "origin": log.verifier().name(),
        "key": log.verifier().to_vkey(),
        "period": {"from": from.map(|t| t.to_rfc3339_nanos()), "to": to.map(|t| t.to_rfc3339_nanos())},
        "generated_at": veritrail_service::audit::now().to_rfc3339_nanos(),
        "generated_by": {"token": token.id, "name": token.name},
        "tree_size": published.size,
        "checkpoint": checkpoint_text,
        "system_tree_size": sys_published.size,
        "system_checkpoint": sys_published.checkpoint.to_string(),
        "sections": sections,
        "integrity": {"verdict": verdict, "checks": checks},
    });
    if html {
        let mut r = render_html(&report).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        r.headers_mut().insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(HTML_CSP),
        );
        return Ok(r);
    }
    Ok(axum::Json(report).into_response())
}

/// Text for HTML: every character that could open markup escaped.
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        v => v.to_string(),
    }
}

fn query_text(q: &Value) -> String {
    q.as_object().map_or_else(String::new, |m| {
        m.iter()
            .map(|(k, v)| format!("{k}={}", text(v)))
            .collect::<Vec<_>>()
            .join("&")
    })
}

/// The report as a self-contained HTML page (no scripts; every value
/// escaped), printable to PDF.
pub fn render_html(r: &Value) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>veritrail report: {log}</title><style>\
body{{font:13px/1.45 system-ui,sans-serif;margin:2em;color:#111}}h1{{font-size:20px}}h2{{font-size:15px;margin-top:1.6em;border-bottom:1px solid #ccc}}\
table{{border-collapse:collapse;margin:.4em 0}}td,th{{border:1px solid #ccc;padding:2px 8px;text-align:left}}td.n{{text-align:right}}\
.q,pre{{font:11px ui-monospace,monospace;color:#444}}pre{{white-space:pre-wrap;background:#f6f6f6;padding:.5em}}.ok{{color:#0a7d32}}.bad{{color:#b3261e;font-weight:bold}}\
@media print{{h2{{break-after:avoid}}table{{break-inside:avoid}}}}</style></head><body>",
        log = esc(&text(&r["log"]))
    );
    let period = &r["period"];
    let _ = write!(
        h,
        "<h1>Audit log report: {log}</h1><p>Period: {from} to {to}<br>Counted against the signed checkpoint of {size} entries (below); \
generated {at} by {by}.<br>Integrity verdict: <b class=\"{cls}\">{verdict}</b></p>",
        log = esc(&text(&r["log"])),
        from = esc(&period["from"].as_str().map_or("the start".into(), str::to_owned)),
        to = esc(&period["to"].as_str().map_or("now".into(), str::to_owned)),
        size = esc(&text(&r["tree_size"])),
        at = esc(&text(&r["generated_at"])),
        by = esc(&text(&r["generated_by"]["name"])),
        cls = if r["integrity"]["verdict"] == "ok" { "ok" } else { "bad" },
        verdict = esc(&text(&r["integrity"]["verdict"])),
    );
    for s in r["sections"].as_array().into_iter().flatten() {
        let _ = write!(
            h,
            "<h2 id=\"{}\">{}</h2>",
            esc(&text(&s["id"])),
            esc(&text(&s["title"]))
        );
        if s["query"].is_null() {
            // Sections without a query (trust) say what they read.
        } else if s["total"].is_null() {
            let _ = write!(
                h,
                "<p class=\"q\">log {} · query {}</p>",
                esc(&text(&s["log"])),
                esc(&query_text(&s["query"])),
            );
        } else {
            let _ = write!(
                h,
                "<p class=\"q\">log {} · query {} · {} matching</p>",
                esc(&text(&s["log"])),
                esc(&query_text(&s["query"])),
                esc(&text(&s["total"])),
            );
        }
        match s["id"].as_str() {
            Some("events") => {
                h.push_str("<table><tr><th>action</th><th>outcome</th><th>count</th></tr>");
                for row in s["rows"].as_array().into_iter().flatten() {
                    let _ = write!(
                        h,
                        "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td></tr>",
                        esc(&text(&row["action"])),
                        esc(&text(&row["outcome"])),
                        esc(&text(&row["count"]))
                    );
                }
                h.push_str("</table>");
            }
            Some("trust") => {
                let _ = write!(
                    h,
                    "<p>Witness cosignatures on the checkpoint: {} · newest cosigned checkpoint: {} · newest timestamped checkpoint: {}</p>",
                    esc(&text(&s["cosignatures"])),
                    esc(&s["latest_cosigned_size"].as_u64().map_or("none".into(), |n| format!("size {n}"))),
                    esc(&s["latest_timestamped_size"].as_u64().map_or("none".into(), |n| format!("size {n}"))),
                );
            }
            Some("reviews") => {
                let _ = write!(
                    h,
                    "<p>The period's entries {}..{}: {} not covered by a review.</p>",
                    esc(&text(&s["entries"]["from"])),
                    esc(&text(&s["entries"]["to"])),
                    esc(&text(&s["unreviewed_entries"]))
                );
                h.push_str("<table><tr><th>entries</th><th>by</th><th>at</th><th>note</th></tr>");
                for row in s["rows"].as_array().into_iter().flatten() {
                    let _ = write!(
                        h,
                        "<tr><td>{}..{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                        esc(&text(&row["from"])),
                        esc(&text(&row["to"])),
                        esc(&text(&row["by"])),
                        esc(&text(&row["at"])),
                        esc(&text(&row["note"]))
                    );
                }
                h.push_str("</table>");
            }
            _ => {
                let acked = s["id"] == "alerts";
                let _ = write!(
                    h,
                    "<table><tr><th>value</th><th>count</th>{}</tr>",
                    if acked { "<th>acknowledged</th>" } else { "" }
                );
                for row in s["rows"].as_array().into_iter().flatten() {
                    let _ = write!(
                        h,
                        "<tr><td>{}</td><td class=\"n\">{}</td>",
                        esc(&text(&row["value"])),
                        esc(&text(&row["count"]))
                    );
                    if acked {
                        let _ = write!(
                            h,
                            "<td class=\"n\">{}</td>",
                            esc(&text(&row["acknowledged"]))
                        );
                    }
                    h.push_str("</tr>");
                }
                h.push_str("</table>");
            }
        }
    }
    h.push_str("<h2 id=\"integrity\">Integrity checks</h2><ul>");
    for c in r["integrity"]["checks"].as_array().into_iter().flatten() {
        let ok = c["ok"] == true;
        let _ = write!(
            h,
            "<li class=\"{}\">{} {}</li>",
            if ok { "ok" } else { "bad" },
            if ok { "✔" } else { "✘" },
            esc(&text(&c["check"]))
        );
    }
    let _ = write!(
        h,
        "</ul><h2>The checkpoint</h2><p>Log key: <span class=\"q\">{}</span></p><pre>{}</pre>\
<p>Recount any figure with <span class=\"q\">veritrail query --server … --log LOG [query]</span>; prove the entries with an evidence bundle of the same query (<span class=\"q\">veritrail export</span>, or the console's Export).</p></body></html>",
        esc(&text(&r["key"])),
        esc(&text(&r["checkpoint"]))
    );
    h
}

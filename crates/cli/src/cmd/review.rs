//! `veritrail review`: records a review cycle (`POST /v1/logs/{log}/reviews`)
//! or shows review coverage (`GET /v1/reviews`), docs/CONSOLE.md "Reviews".

use std::process::ExitCode;

use serde_json::{json, Value};

use crate::args::{ReviewArgs, ReviewCommand};
use crate::exit::Exit;

fn call(req: ureq::Request, body: Option<Value>) -> anyhow::Result<Value> {
    let url = req.url().to_owned();
    let r = match body {
        Some(b) => req.send_json(b),
        None => req.call(),
    };
    match r {
        Ok(r) => Ok(r.into_json()?),
        Err(ureq::Error::Status(code, r)) => {
            let body: Value = r.into_json().unwrap_or_default();
            let msg = body["error"]["message"]
                .as_str()
                .map_or_else(|| body.to_string(), str::to_owned);
            Err(Exit::usage(format!("the server answered {code}: {msg}")))
        }
        Err(e) => Err(anyhow::anyhow!(e).context(url)),
    }
}

pub fn run(a: &ReviewArgs) -> anyhow::Result<ExitCode> {
    if let Some(ReviewCommand::Status {
        server,
        token,
        log,
        format,
    }) = &a.command
    {
        return status(server, token, log.as_deref(), format);
    }
    let server = a
        .server
        .as_deref()
        .ok_or_else(|| Exit::usage("review needs --server (or VERITRAIL_SERVER)"))?;
    let token = a.token.as_deref().ok_or_else(|| {
        Exit::usage("review needs --token (or VERITRAIL_TOKEN): an auditor token, which the review record names")
    })?;
    let note = a
        .note
        .as_deref()
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| Exit::usage("review needs --note: what was reviewed and concluded"))?;
    let mut body = json!({"note": note, "findings": a.findings});
    if let Some(p) = &a.to_checkpoint {
        let text = std::fs::read_to_string(p)
            .map_err(|e| Exit::usage(format!("--to-checkpoint {}: {e}", p.display())))?;
        body["checkpoint"] = json!(text);
    }
    if let Some(f) = a.from {
        body["from"] = json!(f);
    }
    let url = format!("{}/v1/logs/{}/reviews", server.trim_end_matches('/'), a.log);
    let v = call(
        ureq::post(&url).set("Authorization", &format!("Bearer {token}")),
        Some(body),
    )?;
    println!(
        "OK: review of log {:?} entries {}..{} recorded in _system as review.completed (reviewer {})",
        a.log, v["from"], v["to"], v["reviewer"].as_str().unwrap_or("?")
    );
    Ok(ExitCode::SUCCESS)
}

fn status(server: &str, token: &str, log: Option<&str>, format: &str) -> anyhow::Result<ExitCode> {
    if format != "table" && format != "json" {
        return Err(Exit::usage("--format is table or json"));
    }
    let mut url = format!("{}/v1/reviews", server.trim_end_matches('/'));
    if let Some(l) = log {
        url.push_str(&format!("?log={l}"));
    }
    let v = call(
        ureq::get(&url).set("Authorization", &format!("Bearer {token}")),
        None,
    )?;
    if format == "json" {
        println!("{v}");
        return Ok(ExitCode::SUCCESS);
    }
    for l in v["logs"].as_array().into_iter().flatten() {
        let gaps: Vec<String> = l["gaps"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|g| format!("{}..{}", g["from"], g["to"]))
            .collect();
        println!(
            "{}: {} of {} entries reviewed; last review {}; gaps: {}",
            l["log"].as_str().unwrap_or("?"),
            l["reviewed_entries"],
            l["size"],
            l["last_review"].as_str().unwrap_or("never"),
            if gaps.is_empty() {
                "none".to_owned()
            } else {
                gaps.join(", ")
            }
        );
        for r in l["reviews"].as_array().into_iter().flatten() {
            println!(
                "  {}..{} by {}{} at {}: {}",
                r["from"],
                r["to"],
                r["reviewer"].as_str().unwrap_or("?"),
                r["reviewer_name"]
                    .as_str()
                    .filter(|n| !n.is_empty())
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default(),
                r["at"].as_str().unwrap_or("?"),
                r["note"].as_str().unwrap_or("")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

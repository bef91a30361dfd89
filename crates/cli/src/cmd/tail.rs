//! `veritrail tail`: a log's newest events, one line each, and with `-f`
//! the ones that follow — from a server's live stream (SSE), or from a data
//! directory read again each second.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::process::ExitCode;
use std::time::Duration;

use serde_json::Value;

use crate::args::{FilterArgs, SourceArgs};
use crate::exit::Exit;

/// Events shown when no --from is given.
const NEWEST: u64 = 10;

fn line(index: u64, ev: &Value, colour: bool) -> String {
    let s = |p: &str| ev.pointer(p).and_then(Value::as_str).unwrap_or("");
    let actor = match &ev["actor"] {
        Value::String(a) => a.clone(),
        a => a["id"].as_str().unwrap_or("").to_owned(),
    };
    let mut out = format!("{} #{index} {} {}", s("/received_at"), s("/action"), actor);
    for (k, p) in [
        ("outcome", "/outcome"),
        ("ip", "/actor/ip"),
        ("target", "/target/id"),
        ("host", "/source/host"),
        ("app", "/source/app"),
    ] {
        if !s(p).is_empty() {
            out.push_str(&format!(" {k}={}", s(p)));
        }
    }
    if !s("/message").is_empty() {
        out.push_str(&format!(" {:?}", s("/message")));
    }
    if colour && s("/outcome") == "failure" {
        format!("\x1b[31m{out}\x1b[0m")
    } else {
        out
    }
}

pub fn run(
    source: &SourceArgs,
    filter: &FilterArgs,
    follow: bool,
    from: Option<u64>,
    format: &str,
) -> anyhow::Result<ExitCode> {
    if format != "table" && format != "ndjson" {
        return Err(Exit::usage("--format is table or ndjson"));
    }
    let colour = format == "table" && std::io::stdout().is_terminal();
    let mut out = std::io::stdout().lock();
    let mut print = |index: u64, leaf: &str, ev: &Value| -> std::io::Result<()> {
        if format == "ndjson" {
            writeln!(
                out,
                "{}",
                serde_json::json!({"index": index, "leaf_hash": leaf, "event": ev})
            )
        } else {
            writeln!(out, "{}", line(index, ev, colour))
        }
    };
    let name = &source.log.log;
    match &source.server {
        Some(url) => {
            let token = source
                .token
                .as_deref()
                .ok_or_else(|| Exit::usage("--server needs --token"))?;
            let base = url.trim_end_matches('/');
            let auth = format!("Bearer {token}");
            let size: u64 = ureq::get(&format!("{base}/v1/logs/{name}/checkpoint"))
                .set("Authorization", &auth)
                .call()?
                .into_string()?
                .lines()
                .nth(1)
                .and_then(|l| l.parse().ok())
                .ok_or_else(|| anyhow::anyhow!("the server's checkpoint has no size"))?;
            let start = from.unwrap_or(size.saturating_sub(NEWEST));
            if !follow && start >= size {
                return Ok(ExitCode::SUCCESS);
            }
            let mut q = vec![format!("from={start}")];
            for (k, v) in super::query::filter_pairs(filter) {
                q.push(format!("{k}={}", url_escape(&v)));
            }
            let u = format!("{base}/v1/logs/{name}/stream?{}", q.join("&"));
            let agent = ureq::AgentBuilder::new()
                .timeout_connect(Duration::from_secs(10))
                .build();
            let resp = match agent.get(&u).set("Authorization", &auth).call() {
                Ok(r) => r,
                Err(ureq::Error::Status(code, r)) => {
                    return Err(Exit::usage(format!(
                        "the server answered {code}: {}",
                        r.into_string().unwrap_or_default()
                    )))
                }
                Err(e) => return Err(e.into()),
            };
            let mut event = String::new();
            for l in std::io::BufReader::new(resp.into_reader()).lines() {
                let l = l?;
                if let Some(e) = l.strip_prefix("event: ") {
                    event = e.to_owned();
                } else if let Some(d) = l.strip_prefix("data: ") {
                    let v: Value = serde_json::from_str(d)?;
                    if event == "cut" {
                        eprintln!("veritrail: the server cut the stream off (this terminal did not keep up); resume with --from {}", v["resume_from"]);
                        return Ok(ExitCode::from(1));
                    }
                    let index = v["index"].as_u64().unwrap_or(0);
                    if !follow && index >= size {
                        break;
                    }
                    print(index, v["leaf_hash"].as_str().unwrap_or(""), &v["event"])?;
                    if !follow && index + 1 >= size {
                        break;
                    }
                }
            }
        }
        None => {
            let dd = super::open_data(&source.log.data.data)?;
            let f = super::query::store_filter(filter)?;
            let mut next: Option<u64> = from;
            loop {
                let log = super::query::open_log_for_read(&dd, name)?;
                let size = log.published().size;
                let mut i = next.unwrap_or(size.saturating_sub(NEWEST));
                while i < size {
                    let n = (size - i).min(1000);
                    for (k, e) in log
                        .entries(i, n)
                        .map_err(super::store_err)?
                        .iter()
                        .enumerate()
                    {
                        let index = i + k as u64;
                        if f.matches(index, e) {
                            let v: Value = serde_json::from_slice(e)?;
                            print(index, &veritrail_core::leaf_hash(e).to_base64(), &v)?;
                        }
                    }
                    i += n;
                }
                next = Some(i);
                if !follow {
                    break;
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'*' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

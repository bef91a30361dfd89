//! `veritrail rules check|test` and `veritrail alerts` (docs/ALERTS.md).

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use serde_json::Value;
use veritrail_core::Timestamp;
use veritrail_rules::{Engine, Health, Observed};

use crate::args::{RulesCommand, SourceArgs};
use crate::exit::Exit;

pub fn run(cmd: RulesCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        RulesCommand::Check { file } => {
            let set =
                veritrail_server::alerts::load(&file).map_err(|e| Exit::usage(e.to_string()))?;
            println!(
                "{}: {} rules, {} webhooks, version {}",
                file.display(),
                set.rules.len(),
                set.webhooks.len(),
                set.version
            );
            for r in &set.rules {
                println!("  {} ({}, {})", r.name, r.kind.name(), r.severity.as_str());
            }
            Ok(ExitCode::SUCCESS)
        }
        RulesCommand::Test {
            file,
            source,
            since,
        } => test(&file, &source, since.as_deref()),
    }
}

fn since_ns(since: Option<&str>) -> anyhow::Result<Option<i128>> {
    since
        .map(|s| {
            Timestamp::parse_rfc3339(s)
                .map(|t| t.unix_nanos())
                .map_err(|e| Exit::usage(format!("--since {s:?}: {e}")))
        })
        .transpose()
}

fn received(entry: &[u8]) -> Option<i128> {
    let v: Value = serde_json::from_slice(entry).ok()?;
    Timestamp::parse_rfc3339(v["received_at"].as_str()?)
        .ok()
        .map(|t| t.unix_nanos())
}

/// Replays history through the rules: events in index order, the clock
/// following their `received_at` (silences are timed at each second of it).
fn test(
    file: &std::path::Path,
    source: &SourceArgs,
    since: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let set =
        Arc::new(veritrail_server::alerts::load(file).map_err(|e| Exit::usage(e.to_string()))?);
    let since = since_ns(since)?;
    let name = source.log.log.clone();
    let mut engine = Engine::new(set);
    let mut fired = 0u64;
    let mut last_tick: i128 = i128::MIN;
    let mut seen = 0u64;
    let mut feed = |index: u64, entry: &[u8]| {
        let Some(at) = received(entry) else { return };
        if since.is_some_and(|s| at < s) {
            return;
        }
        seen += 1;
        let mut alerts = Vec::new();
        if at.saturating_sub(last_tick) >= 1_000_000_000 {
            alerts.extend(engine.tick(at, &Health::default()));
            last_tick = at;
        }
        alerts.extend(engine.observe(Observed {
            log: &name,
            index,
            leaf_hash: veritrail_core::leaf_hash(entry).0,
            entry,
        }));
        for a in alerts {
            fired += 1;
            let idx: Vec<String> = a.triggers.iter().map(|t| format!("#{}", t.index)).collect();
            println!(
                "{} [{}] {} ({} {})",
                Timestamp::from_unix_nanos(a.fired_at_ns).to_rfc3339_nanos(),
                a.severity.as_str(),
                a.summary,
                name,
                idx.join(" ")
            );
        }
    };
    match &source.server {
        Some(url) => {
            let token = source
                .token
                .as_deref()
                .ok_or_else(|| Exit::usage("--server needs --token"))?;
            let mut cursor: Option<u64> = None;
            loop {
                let mut u = format!(
                    "{}/v1/logs/{name}/events?limit=1000",
                    url.trim_end_matches('/')
                );
                if let Some(c) = cursor {
                    u.push_str(&format!("&cursor={c}"));
                }
                let v: Value = ureq::get(&u)
                    .set("Authorization", &format!("Bearer {token}"))
                    .call()
                    .with_context(|| format!("GET {u}"))?
                    .into_json()?;
                for e in v["events"].as_array().into_iter().flatten() {
                    let bytes = serde_json::to_vec(&e["event"])?;
                    feed(e["index"].as_u64().unwrap_or(0), &bytes);
                }
                match v["next_cursor"].as_u64() {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
        }
        None => {
            let dd = super::open_data(&source.log.data.data)?;
            let log = super::query::open_log_for_read(&dd, &name)?;
            let size = log.published().size;
            let mut i = 0;
            while i < size {
                let n = (size - i).min(10_000);
                for (k, e) in log
                    .entries(i, n)
                    .map_err(super::store_err)?
                    .iter()
                    .enumerate()
                {
                    feed(i + k as u64, e);
                }
                i += n;
            }
        }
    }
    eprintln!(
        "{seen} events replayed through {}: {fired} alerts would have fired",
        file.display()
    );
    Ok(ExitCode::SUCCESS)
}

pub fn alerts(
    server: &str,
    token: &str,
    rule: Option<String>,
    since: Option<String>,
    limit: u32,
    format: &str,
) -> anyhow::Result<ExitCode> {
    if format != "table" && format != "ndjson" {
        return Err(Exit::usage("--format is table or ndjson"));
    }
    let mut q = vec![format!("limit={limit}")];
    if let Some(r) = rule {
        q.push(format!("rule={r}"));
    }
    if let Some(s) = since {
        q.push(format!("since={s}"));
    }
    let url = format!("{}/v1/alerts?{}", server.trim_end_matches('/'), q.join("&"));
    let v: Value = match ureq::get(&url)
        .set("Authorization", &format!("Bearer {token}"))
        .call()
    {
        Ok(r) => r.into_json()?,
        Err(ureq::Error::Status(code, r)) => {
            let body = r.into_string().unwrap_or_default();
            return Err(Exit::usage(format!("the server answered {code}: {body}")));
        }
        Err(e) => return Err(anyhow::anyhow!(e).context(format!("GET {url}"))),
    };
    for a in v["alerts"].as_array().into_iter().flatten() {
        if format == "ndjson" {
            println!("{a}");
        } else {
            println!(
                "{} [{}] {} (_system #{})",
                a["fired_at"].as_str().unwrap_or("?"),
                a["severity"].as_str().unwrap_or("?"),
                a["summary"].as_str().unwrap_or("?"),
                a["system_index"]
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

//! `veritrail query`: find events in a data directory or on a server and
//! print them as a table, JSON, NDJSON, CSV or a per-actor timeline.

use std::collections::BTreeMap;
use std::io::{IsTerminal as _, Write};
use std::process::ExitCode;

use veritrail_core::Timestamp;
use veritrail_index::{catch_up, Filter, IndexError, QueryIndex};
use veritrail_store::{DataDir, LogReader};

use super::remote::Remote;
use super::render::{Renderer, Row};
use crate::args::{FilterArgs, Format, SourceArgs};
use crate::exit::Exit;

/// Entries read from the log per step.
const CHUNK: usize = 4096;

fn time_arg(name: &str, v: Option<&String>) -> anyhow::Result<Option<Timestamp>> {
    v.map(|t| {
        Timestamp::parse_rfc3339(t).map_err(|e| {
            Exit::usage(format!(
                "--{name} {t:?}: {e} (expected RFC 3339, e.g. 2026-11-26T10:00:00Z)"
            ))
        })
    })
    .transpose()
}

/// The store filter for these flags.
pub fn store_filter(f: &FilterArgs) -> anyhow::Result<Filter> {
    if let Some(o) = &f.outcome {
        if !veritrail_core::event::OUTCOMES.contains(&o.as_str()) {
            return Err(Exit::usage(format!(
                "--outcome {o:?}: expected one of {}",
                veritrail_core::event::OUTCOMES.join(", ")
            )));
        }
    }
    Ok(Filter {
        actor: f.actor.clone(),
        action: f.action.clone(),
        outcome: f.outcome.clone(),
        target: f.target.clone(),
        source: f.source.clone(),
        since: time_arg("since", f.since.as_ref())?,
        until: time_arg("until", f.until.as_ref())?,
        q: f.text.clone(),
        limit: 0,
        cursor: None,
    })
}

/// The filters as API parameter names and values (also what a bundle records).
pub fn filter_pairs(f: &FilterArgs) -> BTreeMap<String, String> {
    [
        ("actor", &f.actor),
        ("action", &f.action),
        ("outcome", &f.outcome),
        ("target", &f.target),
        ("source", &f.source),
        ("since", &f.since),
        ("until", &f.until),
        ("q", &f.text),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.as_ref().map(|v| (k.to_owned(), v.clone())))
    .collect()
}

/// Opens a log for reading only (no lock: a server may be writing it; what
/// its newest checkpoint signed is read).
pub fn open_log_for_read(dd: &DataDir, name: &str) -> anyhow::Result<LogReader> {
    dd.open_log_read(name).map_err(super::store_err)
}

/// Brings the log's query index up to its latest checkpoint (with a progress
/// bar) and returns every matching index, up to `limit`.
pub fn matching_indexes(
    dd: &DataDir,
    log: &LogReader,
    name: &str,
    filter: &Filter,
    limit: Option<u64>,
) -> anyhow::Result<Vec<u64>> {
    let qi = QueryIndex::open(&dd.query_index_path(name)).map_err(super::index_err)?;
    let size = log.published().size;
    let behind = size.saturating_sub(qi.indexed_through().map_err(super::index_err)?);
    let pb = super::progress::bar(behind, "indexing");
    let start = size - behind;
    catch_up(log, &qi, &mut |d, _| {
        pb.set_position(d.saturating_sub(start));
    })
    .map_err(super::index_err)?;
    pb.finish_and_clear();
    let mut out = Vec::new();
    let limit = limit.unwrap_or(u64::MAX);
    if limit > 0 {
        qi.for_each(filter, &mut |i| {
            out.push(i);
            Ok::<bool, IndexError>((out.len() as u64) < limit)
        })
        .map_err(super::index_err)?;
    }
    Ok(out)
}

fn from_data(
    args: &SourceArgs,
    filter: &FilterArgs,
    limit: Option<u64>,
    r: &mut Renderer<'_>,
) -> anyhow::Result<()> {
    let f = store_filter(filter)?;
    let dd = super::open_data(&args.log.data.data)?;
    let log = open_log_for_read(&dd, &args.log.log)?;
    let indexes = matching_indexes(&dd, &log, &args.log.log, &f, limit)?;
    for chunk in indexes.chunks(CHUNK) {
        for (i, e) in chunk
            .iter()
            .zip(veritrail_service::export::read_sorted(&log, chunk).map_err(super::store_err)?)
        {
            r.row(Row::new(*i, e))?;
        }
    }
    Ok(())
}

fn from_server(
    server: &str,
    args: &SourceArgs,
    filter: &FilterArgs,
    limit: Option<u64>,
    r: &mut Renderer<'_>,
) -> anyhow::Result<()> {
    store_filter(filter)?; // same checks as offline, before any request
    let remote = Remote::new(server, &args.log.log, args.token.clone())?;
    let pairs = filter_pairs(filter);
    let mut cursor: Option<String> = None;
    let mut left = limit.unwrap_or(u64::MAX);
    while left > 0 {
        let page = left.min(u64::from(veritrail_index::MAX_LIMIT)).to_string();
        let mut q: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        q.push(("limit", &page));
        if let Some(c) = &cursor {
            q.push(("cursor", c));
        }
        let body = remote.get("events", &q).map_err(|e| match e {
            super::remote::RemoteError::Status {
                status: 400, body, ..
            } => Exit::usage(format!("the server refused the query: {body}")),
            other => anyhow::Error::new(other),
        })?;
        #[derive(serde::Deserialize)]
        struct Hit {
            index: u64,
            event: Box<serde_json::value::RawValue>,
        }
        #[derive(serde::Deserialize)]
        struct Page {
            events: Vec<Hit>,
            next_cursor: Option<u64>,
        }
        let page: Page = serde_json::from_slice(&body)
            .map_err(|e| anyhow::anyhow!("unexpected answer from the server: {e}"))?;
        let n = page.events.len();
        for hit in page.events {
            r.row(Row::new(hit.index, hit.event.get().as_bytes().to_vec()))?;
            left -= 1;
        }
        match page.next_cursor {
            Some(c) if n > 0 => cursor = Some(c.to_string()),
            _ => break,
        }
    }
    Ok(())
}

pub fn run(
    source: &SourceArgs,
    filter: &FilterArgs,
    limit: Option<u64>,
    format: Option<Format>,
    timeline: bool,
    gap: &str,
) -> anyhow::Result<ExitCode> {
    let stdout = std::io::stdout();
    let tty = stdout.is_terminal();
    if timeline && format.is_some_and(|f| f != Format::Table) {
        return Err(Exit::usage("--timeline prints text; leave out --format"));
    }
    let format = format.unwrap_or(if tty { Format::Table } else { Format::Ndjson });
    let gap = super::token::parse_duration(gap)
        .ok_or_else(|| Exit::usage(format!("--gap {gap:?}: expected e.g. 90s, 15m, 2h")))?;
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut r = Renderer::new(&mut out, format, timeline.then_some(gap));
    match &source.server {
        Some(server) => from_server(server, source, filter, limit, &mut r)?,
        None => from_data(source, filter, limit, &mut r)?,
    }
    r.finish()?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

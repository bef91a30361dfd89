//! `veritrail append`: NDJSON on stdin → validated, canonical, durable entries.
//!
//! All input is validated before anything is appended; an invalid line means
//! nothing is stored (exit 2, naming the line and field).

use std::io::{BufWriter, Read as _, Write as _};
use std::process::ExitCode;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use rayon::prelude::*;
use veritrail_core::{Event, EventError, Timestamp};
use veritrail_store::PreparedBatch;

use crate::exit::Exit;

/// Events per append call: each batch is atomic and durable before its answer.
const BATCH: usize = 10_000;
/// At most this many invalid lines are listed.
const MAX_REPORTED: usize = 20;

/// The current time, the `received_at` stamp.
pub fn now() -> Timestamp {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp::from_unix_nanos(d.as_nanos() as i128)
}

/// Validates and canonicalizes NDJSON lines in parallel. Blank lines are
/// skipped. Returns the canonical entries, or every invalid line (1-based).
pub fn canonicalize_ndjson(
    input: &[u8],
    received_at: Timestamp,
) -> Result<Vec<Vec<u8>>, Vec<(usize, EventError)>> {
    let lines: Vec<(usize, &[u8])> = input
        .split(|b| *b == b'\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l.strip_suffix(b"\r").unwrap_or(l)))
        .filter(|(_, l)| !l.iter().all(u8::is_ascii_whitespace))
        .collect();
    let results: Vec<(usize, Result<Vec<u8>, EventError>)> = lines
        .par_iter()
        .with_min_len(512)
        .map(|(n, l)| {
            (
                *n,
                Event::parse(l).and_then(|e| e.into_canonical(received_at)),
            )
        })
        .collect();
    let mut ok = Vec::with_capacity(results.len());
    let mut bad = Vec::new();
    for (n, r) in results {
        match r {
            Ok(b) => ok.push(b),
            Err(e) => bad.push((n, e)),
        }
    }
    if bad.is_empty() {
        Ok(ok)
    } else {
        Err(bad)
    }
}

pub fn run(args: &crate::args::LogArgs) -> anyhow::Result<ExitCode> {
    let mut input = Vec::new();
    std::io::stdin().lock().read_to_end(&mut input)?;
    let entries = match canonicalize_ndjson(&input, now()) {
        Ok(e) => e,
        Err(bad) => {
            for (line, e) in bad.iter().take(MAX_REPORTED) {
                eprintln!("veritrail: line {line}: {e}");
            }
            if bad.len() > MAX_REPORTED {
                eprintln!(
                    "veritrail: … and {} more invalid lines",
                    bad.len() - MAX_REPORTED
                );
            }
            return Err(Exit::usage(format!(
                "{} invalid line(s); nothing was appended",
                bad.len()
            )));
        }
    };
    drop(input);
    if entries.is_empty() {
        eprintln!("veritrail: no events on stdin; nothing appended");
        return Ok(ExitCode::SUCCESS);
    }
    let log = super::open_log(args)?;
    let batches: Vec<PreparedBatch> = entries
        .par_chunks(BATCH)
        .map(PreparedBatch::new)
        .collect::<Result<_, _>>()
        .map_err(super::store_err)?;
    // Queue every batch at once so the sequencer can group them, then report in order.
    let receivers: Vec<_> = batches
        .into_iter()
        .map(|b| {
            let (tx, rx) = std::sync::mpsc::sync_channel(1);
            log.append_prepared(b, move |r| {
                let _ = tx.send(r);
            });
            rx
        })
        .collect();
    let mut out = BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    let mut appended = 0u64;
    for rx in receivers {
        let r = rx
            .recv()
            .map_err(|_| anyhow::anyhow!("log closed"))?
            .map_err(super::store_err)?;
        for (k, h) in r.leaf_hashes.iter().enumerate() {
            writeln!(
                out,
                "{{\"index\":{},\"leaf_hash\":\"{}\"}}",
                r.first_index + k as u64,
                B64.encode(h.0)
            )?;
        }
        appended += r.leaf_hashes.len() as u64;
    }
    out.flush()?;
    drop(out);
    log.close();
    eprintln!(
        "veritrail: appended {appended} events to log {:?} (durable)",
        args.log
    );
    Ok(ExitCode::SUCCESS)
}

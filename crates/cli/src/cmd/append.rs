//! `veritrail append`: NDJSON on stdin → validated, canonical, durable entries.
//!
//! All input is validated before anything is appended
//! ([`veritrail_service::ingest::stream`]); an invalid line means nothing is
//! stored (exit 2, naming the line and field). Only when every line is valid
//! are the batches hashed, one after another, each handed to the log as soon
//! as it is: hashing the next batch overlaps writing the previous one.

use std::io::{BufWriter, Write as _};
use std::process::ExitCode;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use veritrail_service::ingest::stream::prepare_ndjson_stream;

use crate::exit::Exit;

/// At most this many invalid lines are listed.
const MAX_REPORTED: usize = 20;

/// The current time, the `received_at` stamp.
pub fn now() -> veritrail_core::Timestamp {
    veritrail_service::audit::now()
}

pub fn run(args: &crate::args::LogArgs) -> anyhow::Result<ExitCode> {
    let t0 = std::time::Instant::now();
    // A missing data directory or log is reported before stdin is read.
    let log = super::open_log(args)?;
    tracing::debug!(elapsed = ?t0.elapsed(), "log open");
    let prepared = prepare_ndjson_stream(&mut std::io::stdin(), now())?;
    let chunks = match prepared {
        Ok(c) => c,
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
    tracing::debug!(elapsed = ?t0.elapsed(), chunks = chunks.len(), "validated and canonicalized");
    if chunks.is_empty() {
        eprintln!("veritrail: no events on stdin; nothing appended");
        return Ok(ExitCode::SUCCESS);
    }
    // Each batch is queued as soon as it is hashed, so the sequencer writes
    // (and groups) earlier batches while later ones are being prepared.
    let mut receivers = Vec::with_capacity(chunks.len());
    for c in chunks {
        let b = c.into_batch();
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        log.append_prepared(b, move |r| {
            let _ = tx.send(r);
        });
        receivers.push(rx);
    }
    tracing::debug!(elapsed = ?t0.elapsed(), "all batches queued");
    let mut out = BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    let mut appended = 0u64;
    let mut line = String::with_capacity(96);
    for rx in receivers {
        let r = rx
            .recv()
            .map_err(|_| anyhow::anyhow!("log closed"))?
            .map_err(super::store_err)?;
        for (k, h) in r.leaf_hashes.iter().enumerate() {
            line.clear();
            line.push_str("{\"index\":");
            line.push_str(&(r.first_index + k as u64).to_string());
            line.push_str(",\"leaf_hash\":\"");
            B64.encode_string(h.0, &mut line);
            line.push_str("\"}\n");
            out.write_all(line.as_bytes())?;
        }
        appended += r.leaf_hashes.len() as u64;
    }
    out.flush()?;
    drop(out);
    tracing::debug!(elapsed = ?t0.elapsed(), "all batches durable");
    log.close();
    tracing::debug!(elapsed = ?t0.elapsed(), "final checkpoint signed");
    eprintln!(
        "veritrail: appended {appended} events to log {:?} (durable)",
        args.log
    );
    Ok(ExitCode::SUCCESS)
}

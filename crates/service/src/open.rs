//! Opening a log for writing from an edge. The store recovers it; whatever
//! recovery discarded (a tail a crash left, copied to a quarantine file
//! first) is recorded in `_system` as `recovery.discarded` — file, offset,
//! length, SHA-256 of the bytes, the quarantine file — before the log is
//! used, so the discard is evidence too.
//!
//! (Should the process die between the discard and its record, the
//! quarantine file still holds the bytes and `veritrail verify` lists it.)

use serde_json::json;
use veritrail_store::datadir::SYSTEM_LOG;
use veritrail_store::segment::Discarded;
use veritrail_store::{DataDir, Log, LogConfig};

use crate::audit::{record_blocking, Actor, AuditRecord};
use crate::error::Result;

/// The `_system` record of one discarded tail of `log`.
pub fn discard_record<'a>(
    dd: &DataDir,
    log: &'a str,
    d: &Discarded,
    app: &'a str,
) -> AuditRecord<'a> {
    let rel = |p: &std::path::Path| p.strip_prefix(dd.root()).unwrap_or(p).display().to_string();
    AuditRecord {
        action: "recovery.discarded",
        actor: Actor::system(),
        app,
        target: Some(log),
        metadata: json!({
            "file": rel(&d.file),
            "offset": d.offset,
            "length": d.length,
            "sha256": d.sha256.to_hex(),
            "quarantine": rel(&d.quarantine),
        }),
    }
}

/// Records in `system` every tail that opening `log` discarded.
///
/// # Errors
/// The `_system` log's errors.
pub fn record_discards(dd: &DataDir, system: &Log, log: &Log, app: &str) -> Result<()> {
    for d in log.discarded() {
        record_blocking(system, &discard_record(dd, log.name(), &d, app))?;
    }
    Ok(())
}

/// Opens log `name` for writing (recovering it) and records what recovery
/// discarded in `_system` (opened for that, if `name` is another log).
///
/// # Errors
/// The store's errors opening either log; `_system`'s writing the records.
pub fn open_log(dd: &DataDir, name: &str, config: LogConfig, app: &str) -> Result<Log> {
    let log = dd.open_log(name, config)?;
    if log.discarded().is_empty() {
        return Ok(log);
    }
    if name == SYSTEM_LOG {
        record_discards(dd, &log, &log, app)?;
    } else {
        dd.ensure_system_log()?;
        let system = dd.open_log(SYSTEM_LOG, LogConfig::default())?;
        record_discards(dd, &system, &system, app)?;
        record_discards(dd, &system, &log, app)?;
        system.close();
    }
    Ok(log)
}

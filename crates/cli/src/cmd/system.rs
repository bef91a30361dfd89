//! The `_system` log from the command line: offline changes and exports are
//! recorded there, as the server records its own.

use veritrail_service::audit::{record_blocking, Actor, AuditRecord};
use veritrail_store::datadir::SYSTEM_LOG;
use veritrail_store::{DataDir, Log, LogConfig, StoreError};

use crate::exit::Exit;

/// Opens `_system`; `busy` is the message when a server holds it.
pub fn open(dd: &DataDir, busy: &str) -> anyhow::Result<Log> {
    dd.ensure_system_log().map_err(super::store_err)?;
    veritrail_service::open::open_log(dd, SYSTEM_LOG, LogConfig::default(), "veritrail-cli")
        .map_err(|e| match e {
            veritrail_service::ServiceError::Store(StoreError::Locked(_)) => {
                Exit::usage(busy.to_owned())
            }
            other => super::service_err(other),
        })
}

/// `user@host` of whoever runs this command.
pub fn who() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| uid_name());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into());
    format!("{user}@{host}")
}

/// Appends one event to `_system` (durable before returning) and returns its
/// index and stored bytes.
pub fn record(
    log: &Log,
    action: &str,
    target: Option<&str>,
    metadata: serde_json::Value,
) -> anyhow::Result<(u64, Vec<u8>)> {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    let record = AuditRecord {
        action,
        actor: Actor::cli(&user),
        app: "veritrail-cli",
        target,
        metadata,
    };
    record_blocking(log, &record).map_err(super::service_err)
}

/// `uid 1000` when the environment names no user.
fn uid_name() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|v| v.split_whitespace().next().map(|u| format!("uid {u}")))
        })
        .unwrap_or_else(|| "unknown".into())
}

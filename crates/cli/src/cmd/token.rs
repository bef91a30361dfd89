//! `veritrail token create|list|revoke` (offline; a running server picks up
//! changes when restarted — use the admin API to change tokens live).

use std::io::Write as _;
use std::process::ExitCode;

use veritrail_service::tokens::{Role, TokenStore};
use veritrail_store::{DataDir, Log};

use crate::exit::Exit;

/// Opens `_system` before a token change: the change is recorded there, and
/// a running server (which holds the log) is told apart from a stopped one.
fn system_log(dd: &DataDir) -> anyhow::Result<Log> {
    super::system::open(dd, "a server is running on this data directory; change tokens through its admin API (POST/DELETE /v1/tokens)")
}

/// Appends a token change to `_system` (durable before returning).
fn record(log: &Log, action: &str, metadata: serde_json::Value) -> anyhow::Result<()> {
    super::system::record(log, action, None, metadata).map(|_| ())
}

/// Parses `90d`, `12h`, `30m`, `3600s` (or plain seconds).
pub fn parse_duration(s: &str) -> Option<u64> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().ok()?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    n.checked_mul(mult).filter(|v| *v > 0)
}

pub fn create(
    data: &std::path::Path,
    role: &str,
    logs: Vec<String>,
    name: &str,
    expires: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let dd = super::open_data(data)?;
    let role = Role::parse(role)
        .ok_or_else(|| Exit::usage("--role must be writer, reader, auditor or admin"))?;
    for l in &logs {
        dd.meta(l).map_err(super::store_err)?;
    }
    let ttl = match expires {
        Some(e) => Some(parse_duration(e).ok_or_else(|| {
            Exit::usage(format!("--expires {e:?}: use e.g. 90d, 12h, 30m or 3600s"))
        })?),
        None => None,
    };
    let sys = system_log(&dd)?;
    let store = TokenStore::open(data)?;
    let (secret, t) = store
        .create(role, logs, name, ttl)
        .map_err(|e| Exit::usage(e.to_string()))?;
    record(
        &sys,
        "token.create",
        serde_json::json!({"token": t.id, "role": format!("{:?}", t.role).to_lowercase()}),
    )?;
    sys.close();
    eprintln!(
        "veritrail: created token {} ({:?}); the secret below is shown only once",
        t.id, t.role
    );
    println!("{secret}");
    Ok(ExitCode::SUCCESS)
}

pub fn list(data: &std::path::Path) -> anyhow::Result<ExitCode> {
    super::open_data(data)?;
    let store = TokenStore::open(data)?;
    let mut out = std::io::stdout().lock();
    for t in store.list() {
        let state = if t.revoked.is_some() {
            "revoked"
        } else {
            "active"
        };
        writeln!(
            out,
            "{}\t{:?}\t{}\t{}\t{}",
            t.id,
            t.role,
            t.logs.join(","),
            state,
            t.name
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn revoke(data: &std::path::Path, id: &str) -> anyhow::Result<ExitCode> {
    let dd = super::open_data(data)?;
    let sys = system_log(&dd)?;
    let store = TokenStore::open(data)?;
    let t = store.revoke(id).map_err(|e| Exit::usage(e.to_string()))?;
    record(&sys, "token.revoke", serde_json::json!({"token": t.id}))?;
    sys.close();
    eprintln!("veritrail: revoked {}", t.id);
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::parse_duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90d"), Some(90 * 86_400));
        assert_eq!(parse_duration("12h"), Some(43_200));
        assert_eq!(parse_duration("30m"), Some(1_800));
        assert_eq!(parse_duration("3600s"), Some(3_600));
        assert_eq!(parse_duration("3600"), Some(3_600));
        for bad in ["", "d", "0s", "5w", "-1h", "1.5h", "99999999999999999999d"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}

//! `veritrail status`: read-only; works while a server holds the logs.

use std::io::Write as _;
use std::process::ExitCode;

use super::{open_data, store_err};

fn human(bytes: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.1} {}", units[u])
}

pub fn run(data: &std::path::Path) -> anyhow::Result<ExitCode> {
    let dd = open_data(data)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "data directory: {}", data.display())?;
    let now = veritrail_store::now_nanos();
    for name in dd.unfinished_logs().map_err(store_err)? {
        writeln!(
            out,
            "log {name}: unfinished (a crash interrupted its creation; `veritrail log create {name}` finishes it)"
        )?;
    }
    for name in dd.list_logs().map_err(store_err)? {
        let s = dd.status(&name).map_err(store_err)?;
        let age = s.checkpoint_time.map_or("unknown".to_owned(), |t| {
            format!("{:.1}s ago", now.saturating_sub(t) as f64 / 1e9)
        });
        writeln!(out, "log {name}")?;
        writeln!(out, "  origin:      {}", s.origin)?;
        writeln!(
            out,
            "  entries:     {} integrated, {} covered by the latest checkpoint",
            s.wal_entries_estimate, s.checkpoint_size
        )?;
        writeln!(
            out,
            "  checkpoint:  size {}, signed {age} (file time)",
            s.checkpoint_size
        )?;
        writeln!(
            out,
            "  disk:        {} in {} files",
            human(s.disk_bytes),
            s.files
        )?;
        writeln!(
            out,
            "  immutability: {} live files append-only (+a), {} closed files immutable (+i), {} files without a flag",
            s.append_only, s.immutable, s.unflagged
        )?;
        if s.unflagged > 0 {
            writeln!(
                out,
                "  warning:     some files carry no chattr flag: {}",
                s.flag_note
            )?;
        }
    }
    last_verify(&mut out, data)?;
    syslog(&mut out, data)?;
    object_storage(&mut out, data)?;
    Ok(ExitCode::SUCCESS)
}

/// The last `veritrail verify` run on this data directory, as it recorded it.
fn last_verify(out: &mut impl std::io::Write, data: &std::path::Path) -> anyhow::Result<()> {
    let Some(v) = veritrail_service::integrity::last_verify(data) else {
        return Ok(writeln!(
            out,
            "last verify: never run on this data directory"
        )?);
    };
    if let Some(why) = v["unreadable"].as_str() {
        return Ok(writeln!(
            out,
            "last verify: its record is unreadable ({why})"
        )?);
    }
    writeln!(
        out,
        "last verify: {} at {} ({}{})",
        if v["ok"] == true { "OK" } else { "FAILED" },
        v["finished_at"].as_str().unwrap_or("?"),
        v["scope"].as_str().unwrap_or("?"),
        if v["key_pinned"] == true {
            ", key pinned"
        } else {
            ""
        }
    )?;
    for r in v["results"].as_array().into_iter().flatten() {
        if r["ok"] != true {
            writeln!(
                out,
                "  FAILED: {}: {}",
                r["log"].as_str().unwrap_or("?"),
                r["message"].as_str().unwrap_or("")
            )?;
        }
    }
    Ok(())
}

/// The running server's uploads to object storage (docs/SCALE.md), from
/// the file it rewrites every 2 s.
fn object_storage(out: &mut impl std::io::Write, data: &std::path::Path) -> anyhow::Result<()> {
    let Ok(bytes) = std::fs::read(super::serve::object_run_path(data)) else {
        return Ok(());
    };
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let pid = v["pid"].as_u64().unwrap_or(0);
    if pid == 0 || !std::path::Path::new(&format!("/proc/{pid}")).exists() {
        return Ok(());
    }
    let s = |x: &serde_json::Value| x.as_str().unwrap_or("").to_owned();
    if v["replica"] == true {
        writeln!(
            out,
            "read replica of {} (server pid {pid}): copies each log from the bucket, takes no writes",
            s(&v["store"])
        )?;
        for l in v["logs"].as_array().into_iter().flatten() {
            writeln!(
                out,
                "  log {}: the copy holds {} entries, the bucket {}",
                s(&l["log"]),
                l["copied"],
                l["bucket_size"]
            )?;
            if let Some(p) = l["problem"].as_str() {
                writeln!(out, "    problem: {p}")?;
            }
        }
        if v["trail"].is_object() {
            writeln!(
                out,
                "  the replica's own _system is uploaded to the bucket:"
            )?;
            uploads(out, &v["trail"], pid, "  ")?;
        }
        return Ok(());
    }
    uploads(out, &v, pid, "")
}

/// What a drainer reports (`v`, from the run file), each line after
/// `indent`.
fn uploads(
    out: &mut impl std::io::Write,
    v: &serde_json::Value,
    pid: u64,
    indent: &str,
) -> anyhow::Result<()> {
    let s = |x: &serde_json::Value| x.as_str().unwrap_or("").to_owned();
    writeln!(
        out,
        "{indent}object storage: {} (durability {}{})",
        s(&v["store"]),
        s(&v["durability"]),
        v["node"]
            .as_str()
            .map_or(String::new(), |n| format!(", node {n}"))
    )?;
    writeln!(
        out,
        "{indent}  {} objects and {} checkpoints stored, {} failed attempts (server pid {pid})",
        v["objects"], v["checkpoints"], v["errors"]
    )?;
    for l in v["logs"].as_array().into_iter().flatten() {
        write!(
            out,
            "{indent}  log {}: the bucket holds {} entries, {}",
            s(&l["log"]),
            l["uploaded"],
            s(&l["state"])
        )?;
        if let Some(lease) = l["lease"].as_str() {
            write!(out, "; lease {lease}")?;
        }
        writeln!(out)?;
        if let Some(p) = l["problem"].as_str() {
            writeln!(out, "{indent}    problem: {p}")?;
        }
        for t in l["tampered"].as_array().into_iter().flatten() {
            writeln!(out, "{indent}    tampered: {}", s(t))?;
        }
    }
    Ok(())
}

/// The running server's syslog listeners, with the UDP datagrams the
/// kernel dropped on its socket (read now, from `/proc/net/udp`).
fn syslog(out: &mut impl std::io::Write, data: &std::path::Path) -> anyhow::Result<()> {
    let path = super::serve::syslog_run_path(data);
    let Ok(bytes) = std::fs::read(&path) else {
        return Ok(());
    };
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let pid = v["pid"].as_u64().unwrap_or(0);
    if pid == 0 || !std::path::Path::new(&format!("/proc/{pid}")).exists() {
        writeln!(
            out,
            "syslog: no server running ({} is left from one that did not stop cleanly)",
            path.display()
        )?;
        return Ok(());
    }
    writeln!(
        out,
        "syslog (server pid {pid}, into log {})",
        v["log"].as_str().unwrap_or("?")
    )?;
    for l in v["listeners"].as_array().into_iter().flatten() {
        let transport = l["transport"].as_str().unwrap_or("?");
        let addr = l["addr"].as_str().unwrap_or("?");
        if transport == "udp" {
            let drops = v["udp_socket"]["inode"]
                .as_u64()
                .zip(v["udp_socket"]["port"].as_u64())
                .and_then(|(i, p)| veritrail_collect::kernel::udp_drops(i, u16::try_from(p).ok()?));
            match drops {
                Some(d) => writeln!(
                    out,
                    "  udp on {addr}: {d} datagrams dropped by the kernel (receive buffer full)"
                )?,
                None => writeln!(
                    out,
                    "  udp on {addr}: its socket's drop counter cannot be read here"
                )?,
            }
        } else {
            writeln!(out, "  {transport} on {addr}")?;
        }
    }
    Ok(())
}

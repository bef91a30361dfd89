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
    Ok(ExitCode::SUCCESS)
}

//! `veritrail log create|list`.

use std::io::Write as _;
use std::process::ExitCode;

use super::{open_data, store_err};

pub fn create(data: &std::path::Path, name: &str) -> anyhow::Result<ExitCode> {
    let dd = open_data(data)?;
    let v = dd.create_log(name).map_err(store_err)?;
    eprintln!("veritrail: created log {name:?}; verifier key:");
    println!("{}", v.to_vkey());
    Ok(ExitCode::SUCCESS)
}

pub fn list(data: &std::path::Path) -> anyhow::Result<ExitCode> {
    let dd = open_data(data)?;
    let mut out = std::io::stdout().lock();
    for name in dd.list_logs().map_err(store_err)? {
        let meta = dd.meta(&name).map_err(store_err)?;
        writeln!(out, "{name}\t{}", meta.verifier.to_vkey())?;
    }
    Ok(ExitCode::SUCCESS)
}

//! `veritrail init`.

use std::process::ExitCode;
use std::sync::Arc;

use veritrail_store::{DataDir, RealFs};

use super::store_err;

pub fn run(data: &std::path::Path, prefix: Option<&str>) -> anyhow::Result<ExitCode> {
    let (_dd, verifier) = DataDir::init(Arc::new(RealFs), data, prefix).map_err(store_err)?;
    eprintln!(
        "veritrail: created {} with log \"default\"; its signing key is {}/keys/default.key (mode 0600)",
        data.display(),
        data.display()
    );
    eprintln!("veritrail: verifier key of log \"default\" (give this to auditors):");
    println!("{}", verifier.to_vkey());
    Ok(ExitCode::SUCCESS)
}

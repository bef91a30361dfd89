//! `veritrail checkpoint`.

use std::io::Write as _;
use std::process::ExitCode;

pub fn run(args: &crate::args::LogArgs) -> anyhow::Result<ExitCode> {
    let log = super::open_log(args)?;
    let p = log.published();
    std::io::stdout()
        .lock()
        .write_all(p.checkpoint.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

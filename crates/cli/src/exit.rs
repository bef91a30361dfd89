//! Exit codes: 0 success, 1 verification failed (the data is bad), 2 usage or
//! input error (nothing was changed), 3 operational error (I/O, storage).

use std::io;
use std::process::ExitCode;

/// Verification found a problem in the data.
pub const VERIFY_FAILED: u8 = 1;
/// Bad usage or bad input; nothing was changed.
pub const USAGE: u8 = 2;
/// I/O or storage error.
pub const OPERATIONAL: u8 = 3;

/// An error that chooses its own exit code.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Exit {
    pub code: u8,
    pub message: String,
}

impl Exit {
    pub fn usage(message: impl Into<String>) -> anyhow::Error {
        Exit {
            code: USAGE,
            message: message.into(),
        }
        .into()
    }
    pub fn verify(message: impl Into<String>) -> anyhow::Error {
        Exit {
            code: VERIFY_FAILED,
            message: message.into(),
        }
        .into()
    }
}

/// Prints the error chain and picks the exit code. A closed stdout
/// (`veritrail … | head`) is not an error.
pub fn report(e: &anyhow::Error) -> ExitCode {
    if let Some(ioe) = e.downcast_ref::<io::Error>() {
        if ioe.kind() == io::ErrorKind::BrokenPipe {
            return ExitCode::SUCCESS;
        }
    }
    let mut msg = format!("veritrail: error: {e}");
    for cause in e.chain().skip(1) {
        msg.push_str(&format!("\n  caused by: {cause}"));
    }
    eprintln!("{msg}");
    let code = e.downcast_ref::<Exit>().map_or(OPERATIONAL, |x| x.code);
    ExitCode::from(code)
}

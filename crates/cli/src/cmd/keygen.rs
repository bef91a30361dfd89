//! `veritrail keygen`.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use veritrail_core::note::{SigType, Signer};

use crate::exit::Exit;

/// Generates a signer from 32 bytes of OS randomness.
pub fn new_signer(origin: &str) -> anyhow::Result<Signer> {
    let mut seed = [0u8; 32];
    getrandom::getrandom(&mut seed).context("reading OS randomness")?;
    Signer::from_seed(origin, SigType::Ed25519, seed)
        .map_err(|e| Exit::usage(format!("--origin: {e}")))
}

/// Writes a secret file: created exclusively with mode 0600, then fsync'd.
pub fn write_secret(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                Exit::usage(format!(
                    "{} already exists; refusing to overwrite a key",
                    path.display()
                ))
            } else {
                anyhow::Error::new(e).context(format!("creating {}", path.display()))
            }
        })?;
    f.write_all(contents.as_bytes())?;
    f.sync_all()
        .with_context(|| format!("syncing {}", path.display()))?;
    Ok(())
}

pub fn run(origin: &str, out: Option<&Path>) -> anyhow::Result<ExitCode> {
    let signer = new_signer(origin)?;
    let skey = format!("{}\n", signer.to_skey());
    let mut stdout = std::io::stdout().lock();
    match out {
        Some(path) => {
            write_secret(path, &skey)?;
            eprintln!(
                "veritrail: private key written to {} (mode 0600)",
                path.display()
            );
            writeln!(stdout, "{}", signer.verifier().to_vkey())?;
        }
        None => {
            writeln!(stdout, "{}", signer.verifier().to_vkey())?;
            eprintln!("veritrail: WARNING: no --out given; the PRIVATE key follows on stdout. Store it safely and never share it.");
            write!(stdout, "{skey}")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

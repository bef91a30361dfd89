//! `veritrail init`, and `init --join` for another node of a cluster.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use veritrail_store::datadir::{DEFAULT_LOG, SYSTEM_LOG};
use veritrail_store::{DataDir, RealFs};

use super::store_err;
use crate::exit::Exit;

/// Copies `from` to `to` with mode 0600, refusing to replace anything.
fn copy_key(from: &Path, to: &Path) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let bytes = std::fs::read(from).with_context(|| format!("reading {}", from.display()))?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(to)
        .with_context(|| format!("creating {}", to.display()))?;
    f.write_all(&bytes)?;
    f.sync_all()?;
    Ok(())
}

pub fn run(data: &Path, prefix: Option<&str>, join: Option<&Path>) -> anyhow::Result<ExitCode> {
    let mut shared = Vec::new();
    if let Some(other) = join {
        // Another node of the same cluster: the same origin prefix and the
        // signing keys of the logs the nodes share; its own `_system`.
        if prefix.is_some() {
            return Err(Exit::usage(
                "--join takes the origin prefix of the data directory joined; drop --origin-prefix",
            ));
        }
        let keys = other.join("keys");
        if !other.join("veritrail.data").exists() {
            return Err(Exit::usage(format!(
                "{} is not a veritrail data directory",
                other.display()
            )));
        }
        if data.exists() {
            return Err(Exit::usage(format!(
                "{} exists; --join creates a new data directory",
                data.display()
            )));
        }
        std::fs::create_dir_all(data.join("keys"))
            .with_context(|| format!("creating {}", data.display()))?;
        copy_key(
            &keys.join(format!("{DEFAULT_LOG}.key")),
            &data.join("keys").join(format!("{DEFAULT_LOG}.key")),
        )?;
        for e in std::fs::read_dir(&keys).with_context(|| format!("reading {}", keys.display()))? {
            let name = e?.file_name().to_string_lossy().into_owned();
            if name.ends_with(".key")
                && name != format!("{DEFAULT_LOG}.key")
                && name != format!("{SYSTEM_LOG}.key")
            {
                shared.push(name);
            }
        }
        shared.sort();
    }
    // (With --join, the copied default key makes this an init that keeps
    // that key and its origin prefix.)
    let (_dd, verifier) = DataDir::init(Arc::new(RealFs), data, prefix).map_err(store_err)?;
    for name in &shared {
        copy_key(
            &join.expect("joined").join("keys").join(name),
            &data.join("keys").join(name),
        )?;
    }
    eprintln!(
        "veritrail: created {} with log \"default\"; its signing key is {}/keys/default.key (mode 0600)",
        data.display(),
        data.display()
    );
    if !shared.is_empty() {
        eprintln!(
            "veritrail: with the signing keys of {} from {}: this node may take those logs over (serve --store … --node …)",
            shared.iter().map(|n| n.trim_end_matches(".key")).collect::<Vec<_>>().join(", "),
            join.expect("joined").display()
        );
    }
    eprintln!("veritrail: verifier key of log \"default\" (give this to auditors):");
    println!("{}", verifier.to_vkey());
    Ok(ExitCode::SUCCESS)
}

//! `veritrail export-tiles`: a static C2SP tlog-tiles tree of the log at its
//! latest checkpoint.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use veritrail_core::tile::tiles_added;
use veritrail_core::tree::TreeSize;

use super::store_err;
use crate::exit::Exit;

fn write(root: &Path, rel: &str, bytes: &[u8]) -> anyhow::Result<()> {
    let p = root.join(rel);
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    std::fs::write(&p, bytes).with_context(|| format!("writing {}", p.display()))
}

pub fn run(args: &crate::args::LogArgs, to: &Path) -> anyhow::Result<ExitCode> {
    if to.exists() && std::fs::read_dir(to)?.next().is_some() {
        return Err(Exit::usage(format!(
            "{} exists and is not empty",
            to.display()
        )));
    }
    let log = super::open_log_read(args)?;
    let p = log.published();
    let tiles = tiles_added(TreeSize(0), TreeSize(p.size));
    let pb = super::progress::bar(tiles.len() as u64, "tiles");
    for t in &tiles {
        write(to, &t.path(), &log.tile(t).map_err(store_err)?)?;
        pb.inc(1);
    }
    pb.finish_and_clear();
    // The checkpoint last, so a reader never sees a checkpoint without its tiles.
    write(to, "checkpoint", p.checkpoint.as_bytes())?;
    eprintln!(
        "veritrail: wrote {} tiles and the checkpoint for {} entries to {}",
        tiles.len(),
        p.size,
        to.display()
    );
    Ok(ExitCode::SUCCESS)
}

//! `veritrail reindex`: drop and rebuild a log's derived query index.

use std::process::ExitCode;

use veritrail_index::{catch_up, QueryIndex};

use super::index_err;

pub fn run(args: &crate::args::LogArgs) -> anyhow::Result<ExitCode> {
    // Opening the log takes its lock, so this refuses while a server runs.
    let log = super::open_log(args)?;
    let dd = super::open_data(&args.data.data)?;
    let path = dd.query_index_path(&args.log);
    for suffix in ["", "-wal", "-shm"] {
        let p = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(anyhow::Error::new(e).context(format!("removing {}", p.display())))
            }
        }
    }
    let qi = QueryIndex::open(&path).map_err(index_err)?;
    let size = log.published().size;
    let pb = super::progress::bar(size, "indexing");
    let started = std::time::Instant::now();
    let done = catch_up(&log, &qi, &mut |d, _| pb.set_position(d)).map_err(index_err)?;
    pb.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "indexed {done} entries of log {:?} in {secs:.2}s ({:.0} entries/s) into {}",
        args.log,
        done as f64 / secs.max(1e-9),
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}

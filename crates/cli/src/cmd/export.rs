//! `veritrail export`: an evidence bundle (docs/BUNDLE.md) of the entries a
//! query selects, each with its inclusion proof to the latest checkpoint,
//! closed by the `_system` record of the export and its proof
//! ([`veritrail_service::export`] builds it).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use veritrail_core::bundle::{self, Trailer};
use veritrail_service::export::{self as builder, ExportError, Request};
use veritrail_store::datadir::SYSTEM_LOG;

use super::query::{matching_indexes, open_log_for_read, store_filter};
use crate::args::{FilterArgs, LogArgs};
use crate::exit::Exit;

/// An export failure as the command line reports it.
fn export_err(e: ExportError) -> anyhow::Error {
    match e {
        ExportError::Refused(m) => Exit::usage(m),
        ExportError::Inconsistent(m) => Exit::verify(m),
        ExportError::Store(e) => super::store_err(e),
        ExportError::Io(e) => e.into(),
    }
}

fn partial_path(output: &Path) -> PathBuf {
    let mut s = output.as_os_str().to_owned();
    s.push(".partial");
    PathBuf::from(s)
}

pub fn run(
    args: &LogArgs,
    filter: &FilterArgs,
    output: &Path,
    since: Option<&Path>,
    witnessed: bool,
) -> anyhow::Result<ExitCode> {
    if output.exists() {
        return Err(Exit::usage(format!(
            "{} exists; evidence bundles are never overwritten",
            output.display()
        )));
    }
    let started = Instant::now();
    let f = store_filter(filter)?;
    let dd = super::open_data(&args.data.data)?;
    // The export is recorded in `_system`, which takes its lock (a server
    // running on this directory refuses it); the exported log is only read.
    let sys = &super::system::open(&dd, "a server is running on this data directory")?;
    let log = if args.log == SYSTEM_LOG {
        sys.reader()
    } else {
        open_log_for_read(&dd, &args.log)?
    };
    let since = since
        .map(|p| {
            std::fs::read_to_string(p)
                .map_err(|e| Exit::usage(format!("--since-checkpoint {}: {e}", p.display())))
        })
        .transpose()?;
    let indexes = matching_indexes(&dd, &log, &args.log, &f, None)?;
    let prepared = builder::prepare(
        &log,
        dd.root(),
        Request {
            log: args.log.clone(),
            indexes,
            query: super::query::filter_pairs(filter),
            exported_by: super::system::who(),
            exported_at: super::append::now().to_rfc3339_nanos(),
            witnessed,
            since,
        },
    )
    .map_err(|e| match e {
        ExportError::Refused(m) if witnessed => Exit::usage(format!("--witnessed: {m}")),
        ExportError::Inconsistent(m) => Exit::verify(format!("--since-checkpoint: {m}")),
        e => export_err(e),
    })?;
    if let Some((latest, cosigned)) = prepared.not_cosigned {
        eprintln!(
            "veritrail: note: the latest checkpoint ({latest}) is not cosigned yet; --witnessed exports against the newest cosigned one ({cosigned})"
        );
    }
    let size = prepared.size;
    let indexes = &prepared.indexes;
    let tmp = partial_path(output);
    let file = std::fs::File::options()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(|e| Exit::usage(format!("{}: {e}", tmp.display())))?;
    let pb = super::progress::bar(indexes.len() as u64, "exporting");
    let w = builder::write_entries(
        &log,
        &prepared,
        std::io::BufWriter::with_capacity(8 << 20, file),
        &|n| pb.inc(n),
    )
    .map_err(export_err)?;
    pb.finish_and_clear();
    let manifest = w.manifest();
    let metadata =
        builder::record_metadata(&prepared, &manifest, Some(&output.display().to_string()));
    let (sys_index, _) =
        super::system::record(sys, bundle::EXPORT_ACTION, Some(&args.log), metadata)?;
    let trailer = Trailer {
        manifest: manifest.to_base64(),
        system: builder::system_record(sys, sys_index, Duration::from_secs(30))
            .map_err(export_err)?,
    };
    let bytes = w.bytes();
    let mut out = w.finish(&trailer)?;
    out.flush()?;
    let file = out.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    std::fs::rename(&tmp, output)?;
    if let Some(dir) = output.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    let range = match (indexes.first(), indexes.last()) {
        (Some(a), Some(b)) => format!(" (index {a}..={b})"),
        _ => String::new(),
    };
    println!(
        "exported {} entries of log {:?}{range} proven in its checkpoint at size {size} to {} ({:.1} MB, {:.2}s); recorded in {SYSTEM_LOG} at index {sys_index}",
        indexes.len(),
        args.log,
        output.display(),
        bytes as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    if sys.verifier().name() != log.verifier().name() {
        println!(
            "verify with: veritrail verify-bundle {} --key {} --system-key {}",
            output.display(),
            log.verifier().to_vkey(),
            sys.verifier().to_vkey()
        );
    }
    sys.close();
    Ok(ExitCode::SUCCESS)
}

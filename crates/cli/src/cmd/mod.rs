//! One module per command.

mod append;
mod bench;
mod checkpoint;
mod doctor;
mod export;
mod export_tiles;
mod forward;
mod init;
mod keygen;
mod logs;
mod monitor;
mod progress;
mod prove;
mod query;
mod reindex;
mod remote;
mod remote_verify;
mod render;
mod report;
mod review;
mod rules;
mod serve;
mod ship;
mod status;
mod system;
mod tail;
mod token;
mod verify;
mod verify_bucket;
mod verify_bundle;
mod verify_receipt;
mod watch;
mod witness;

use std::process::ExitCode;

use anyhow::Context as _;
use veritrail_store::{DataDir, RealFs, StoreError};

use crate::args::{BenchCommand, Cli, Command, LogCommand, TokenCommand};
use crate::exit::Exit;

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Keygen { origin, out } => keygen::run(&origin, out.as_deref()),
        Command::Serve(args) => serve::run(*args),
        Command::Token { command } => match command {
            TokenCommand::Create {
                data,
                role,
                logs,
                name,
                expires,
            } => token::create(&data.data, &role, logs, &name, expires.as_deref()),
            TokenCommand::List { data } => token::list(&data.data),
            TokenCommand::Revoke { data, id } => token::revoke(&data.data, &id),
        },
        Command::Init {
            data,
            origin_prefix,
            join,
        } => init::run(&data.data, origin_prefix.as_deref(), join.as_deref()),
        Command::Log { command } => match command {
            LogCommand::Create { name, data } => logs::create(&data.data, &name),
            LogCommand::List { data } => logs::list(&data.data),
        },
        Command::Append { log } => append::run(&log),
        Command::Checkpoint { log } => checkpoint::run(&log),
        Command::Verify {
            data,
            log,
            quiet,
            key,
            server: None,
            tiles: None,
            policy,
            tsa_root,
            ..
        } => verify::run(
            &data.data,
            log.as_deref(),
            quiet,
            key.as_deref(),
            verify::policy(&policy)?.as_ref(),
            tsa_root.as_deref(),
        ),
        Command::Verify {
            data,
            log,
            quiet,
            key,
            server,
            tiles,
            token,
            trust,
            resume,
            policy,
            tsa_root: _,
        } => {
            let policy = verify::policy(&policy)?;
            let log = crate::args::LogArgs {
                data,
                log: log.unwrap_or_else(|| "default".into()),
            };
            remote_verify::run(
                &remote::Remote::pick(server.as_deref(), tiles.as_deref(), &log.log, token)?,
                &log.log,
                key.as_deref(),
                quiet,
                trust.as_deref(),
                resume.as_deref(),
                policy.as_ref(),
            )
        }
        Command::Export {
            log,
            filter,
            output,
            since_checkpoint,
            witnessed,
        } => export::run(
            &log,
            &filter,
            &output,
            since_checkpoint.as_deref(),
            witnessed,
        ),
        Command::VerifyBundle {
            file,
            key,
            system_key,
            since_checkpoint,
            policy,
            tsa_root,
        } => verify_bundle::run(
            &file,
            key.as_deref(),
            system_key.as_deref(),
            since_checkpoint.as_deref(),
            verify::policy(&policy)?.as_ref(),
            tsa_root.as_deref(),
        ),
        Command::Monitor(args) => monitor::run(&args),
        Command::Forward(args) => forward::run(args),
        Command::Watch(args) => watch::run(args),
        Command::Prove {
            log,
            index,
            tree_size,
            from,
            to,
        } => prove::run(&log, index, tree_size, from.zip(to)),
        Command::ExportTiles { log, to } => export_tiles::run(&log, &to),
        Command::Status { data } => status::run(&data.data),
        Command::Doctor { object } => doctor::run(&object),
        Command::VerifyBucket {
            object,
            log,
            key,
            quiet,
        } => verify_bucket::run(&object, &log, &key, quiet),
        Command::Rules { command } => rules::run(command),
        Command::Review(args) => review::run(&args),
        Command::Report(args) => report::run(&args),
        Command::Witness { command } => witness::run(command),
        Command::Alerts {
            server,
            token,
            rule,
            since,
            limit,
            format,
        } => rules::alerts(&server, &token, rule, since, limit, &format),
        Command::Tail {
            source,
            filter,
            follow,
            from,
            format,
        } => tail::run(&source, &filter, follow, from, &format),
        Command::Query {
            source,
            filter,
            limit,
            format,
            timeline,
            gap,
        } => query::run(&source, &filter, limit, format, timeline, &gap),
        Command::Reindex { log } => reindex::run(&log),
        Command::VerifyReceipt { file, key, policy } => {
            verify_receipt::run(&file, key.as_deref(), verify::policy(&policy)?.as_ref())
        }
        Command::Bench { command } => match command {
            BenchCommand::CrashWriter {
                log,
                writers,
                wal_segment_bytes,
            } => bench::crash_writer(&log, writers, wal_segment_bytes),
            BenchCommand::Append {
                events,
                batch,
                writers,
                threads,
                event_bytes,
                dir,
                data,
                syncs_in_flight,
            } => bench::append(
                events,
                batch,
                writers,
                threads,
                event_bytes,
                dir.as_deref(),
                data.as_deref(),
                syncs_in_flight.map(usize::from),
            ),
        },
    }
}

/// Opens the data directory, with a clear message when it is missing.
pub fn open_data(path: &std::path::Path) -> anyhow::Result<DataDir> {
    DataDir::open(std::sync::Arc::new(RealFs), path).map_err(|e| match e {
        StoreError::NotADataDir(p) => Exit::usage(format!(
            "{} is not a veritrail data directory; create one with `veritrail init --data {}`",
            p.display(),
            p.display()
        )),
        other => store_err(other),
    })
}

/// Maps store errors that are the user's doing to usage errors.
pub fn store_err(e: StoreError) -> anyhow::Error {
    match e {
        StoreError::NoSuchLog(_)
        | StoreError::UnfinishedLog(_)
        | StoreError::LogExists(_)
        | StoreError::BadLogName(_)
        | StoreError::DataDirExists(_)
        | StoreError::OutOfRange(_)
        | StoreError::BadBatch(_)
        | StoreError::Locked(_) => Exit::usage(e.to_string()),
        StoreError::Corrupted { .. } | StoreError::EntryMismatch { .. } => {
            Exit::verify(e.to_string())
        }
        other => anyhow::Error::new(other).context("storage error"),
    }
}

/// Maps query-index errors: a store error underneath as [`store_err`].
pub fn index_err(e: veritrail_index::IndexError) -> anyhow::Error {
    match e {
        veritrail_index::IndexError::Store(e) => store_err(e),
        e @ veritrail_index::IndexError::AheadOfLog { .. } => Exit::usage(e.to_string()),
        other => anyhow::Error::new(other).context("query index"),
    }
}

/// Opens a log for reading only: no lock, no recovery, nothing written.
pub fn open_log_read(args: &crate::args::LogArgs) -> anyhow::Result<veritrail_store::LogReader> {
    let dd = open_data(&args.data.data)?;
    dd.open_log_read(&args.log)
        .map_err(store_err)
        .with_context(|| format!("opening log {:?}", args.log))
}

/// Opens a log for writing (runs recovery).
pub fn open_log(args: &crate::args::LogArgs) -> anyhow::Result<veritrail_store::Log> {
    open_log_with(args, veritrail_store::LogConfig::default())
}

/// Opens a log with a given configuration.
pub fn open_log_with(
    args: &crate::args::LogArgs,
    config: veritrail_store::LogConfig,
) -> anyhow::Result<veritrail_store::Log> {
    let dd = open_data(&args.data.data)?;
    open_recorded(&dd, &args.log, config).with_context(|| format!("opening log {:?}", args.log))
}

/// Opens a log for writing; what recovery discarded is recorded in
/// `_system` first ([`veritrail_service::open`]).
pub fn open_recorded(
    dd: &DataDir,
    name: &str,
    config: veritrail_store::LogConfig,
) -> anyhow::Result<veritrail_store::Log> {
    veritrail_service::open::open_log(dd, name, config, "veritrail-cli").map_err(service_err)
}

/// Maps service errors: a store error underneath as [`store_err`].
pub fn service_err(e: veritrail_service::ServiceError) -> anyhow::Error {
    match e {
        veritrail_service::ServiceError::Store(e) => store_err(e),
        other => anyhow::Error::new(other),
    }
}

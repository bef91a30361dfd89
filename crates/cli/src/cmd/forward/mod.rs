//! `veritrail forward`: ships the lines of files, standard input or the
//! systemd journal to a server, exactly once, in order (docs/COLLECT.md
//! "Forwarding files").
//!
//! Lines are read into an on-disk spool first (`ship::spool`), batch by
//! batch, then sent in order; each batch carries an `Idempotency-Key`
//! derived from where its lines come from (a file's identity and offsets,
//! or the journal's cursors) and the SHA-256 of its body, so a batch sent
//! again after a crash is answered without being stored twice. Only after
//! the server acknowledges a batch is its end recorded in the state file
//! ([`state`]). While the server is unreachable, reading goes on into the
//! spool until it is full; then reading stops (nothing is dropped) until
//! it drains. Files are followed through rotation ([`files`],
//! [`follow`]); standard input and `journalctl` are read as streams
//! ([`stream`]); a line is an event, or, with `--auditd`, the kernel audit
//! log's records are assembled into events ([`mod@format`]).

mod files;
mod follow;
mod format;
mod state;
mod stream;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use serde::Deserialize;

use self::format::Format;
use self::state::State;
use super::ship::spool::Spool;
use super::ship::{Progress, Server};
use crate::args::ForwardArgs;
use crate::exit::Exit;

/// Bytes read from a file per batch at most.
const BATCH_BYTES: usize = 2 << 20;
/// Lines per batch at most (the server takes 10,000 events a request; an
/// audit event assembled from standard input may add a few).
const BATCH_LINES: usize = 8_000;
/// How often files are looked at when nothing happens.
const POLL: Duration = Duration::from_millis(200);
/// The kernel audit log, when `--auditd` names no file.
const AUDIT_LOG: &str = "/var/log/audit/audit.log";

/// The config file: the same settings as the flags.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    server: Option<String>,
    token: Option<String>,
    log: Option<String>,
    files: Option<Vec<String>>,
    stdin: Option<bool>,
    journal: Option<bool>,
    journal_files: Option<Vec<PathBuf>>,
    journalctl: Option<PathBuf>,
    auditd: Option<bool>,
    from_start: Option<bool>,
    state: Option<PathBuf>,
    spool: Option<PathBuf>,
    spool_max_mib: Option<u64>,
}

/// Where the lines come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    Files,
    Stdin,
    Journal,
}

/// The effective settings.
struct Settings {
    server: Server,
    source: Source,
    format: Format,
    files: Vec<String>,
    journalctl: PathBuf,
    journal_files: Vec<PathBuf>,
    from_start: bool,
    once: bool,
    state: PathBuf,
    spool: PathBuf,
    spool_max: u64,
}

fn settings(a: ForwardArgs) -> anyhow::Result<Settings> {
    let file: FileConfig = match &a.config {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            toml::from_str(&text).map_err(|e| Exit::usage(format!("{}: {e}", p.display())))?
        }
        None => FileConfig::default(),
    };
    let server = a
        .server
        .or(file.server)
        .ok_or_else(|| Exit::usage("--server URL is required (or `server` in the config file)"))?;
    let token = a
        .token
        .or(file.token)
        .ok_or_else(|| Exit::usage("--token T is required (a writer token for the log)"))?;
    let log = a.log.or(file.log).unwrap_or_else(|| "default".into());
    let server = Server::new(&server, token, &log)?;
    let mut files = a.files;
    if files.is_empty() {
        files = file.files.unwrap_or_default();
    }
    let stdin = a.stdin || file.stdin.unwrap_or(false);
    let mut journal_files = a.journal_file;
    if journal_files.is_empty() {
        journal_files = file.journal_files.unwrap_or_default();
    }
    let journal = a.journal || file.journal.unwrap_or(false) || !journal_files.is_empty();
    let auditd = a.auditd || file.auditd.unwrap_or(false);
    let source = match (stdin, journal) {
        (true, true) => return Err(Exit::usage("--stdin and --journal: choose one")),
        (true, false) => Source::Stdin,
        (false, true) => Source::Journal,
        (false, false) => Source::Files,
    };
    if source != Source::Files && !files.is_empty() {
        return Err(Exit::usage(format!(
            "{} ships one stream alone: name no files with it",
            if stdin { "--stdin" } else { "--journal" }
        )));
    }
    if auditd && source == Source::Journal {
        return Err(Exit::usage(
            "--auditd reads the audit log's records (files or --stdin), not the journal",
        ));
    }
    if source == Source::Files && files.is_empty() {
        if auditd {
            files.push(AUDIT_LOG.into());
        } else {
            return Err(Exit::usage(
                "name files to follow (globs allowed), or --stdin, or --journal",
            ));
        }
    }
    Ok(Settings {
        server,
        source,
        format: if auditd {
            Format::Auditd
        } else {
            Format::Lines
        },
        files,
        journalctl: a
            .journalctl
            .or(file.journalctl)
            .unwrap_or_else(|| PathBuf::from("journalctl")),
        journal_files,
        from_start: a.from_start || file.from_start.unwrap_or(false),
        once: a.once,
        state: a
            .state
            .or(file.state)
            .unwrap_or_else(|| PathBuf::from("veritrail-forward.state")),
        spool: a
            .spool
            .or(file.spool)
            .unwrap_or_else(|| PathBuf::from("veritrail-forward.spool")),
        spool_max: a.spool_max_mib.or(file.spool_max_mib).unwrap_or(1024) << 20,
    })
}

pub fn run(args: ForwardArgs) -> anyhow::Result<ExitCode> {
    let s = settings(args)?;
    let mut state = State::load(&s.state)?;
    let mut spool = Spool::open(&s.spool, s.spool_max)?;
    let mut progress = Progress::new("forward");
    match s.source {
        Source::Files => files::run(&s, spool, state, &mut progress),
        Source::Stdin => stream::run(
            &s,
            &mut spool,
            &mut state,
            &mut progress,
            stream::Input::Stdin,
        ),
        Source::Journal => stream::run(
            &s,
            &mut spool,
            &mut state,
            &mut progress,
            stream::Input::Journal,
        ),
    }
}

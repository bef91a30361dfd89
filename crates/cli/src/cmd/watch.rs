//! `veritrail watch`: file-integrity monitoring without auditd
//! (docs/COLLECT.md "Watching files").
//!
//! At start, every file under the watched paths is scanned (size, owner,
//! group, mode, inode, SHA-256 up to a size cap). The first start records
//! each as `file.baseline`; a later one compares with the baseline kept in
//! the state file and records what changed while no watcher ran. Then
//! inotify (through `notify`) reports changes; a burst on one file becomes
//! one event when the file has been quiet for a moment, classified by
//! looking at the file then ([`veritrail_collect::watch`]). Events go
//! through the same spool as the forwarder's; the baseline is written after
//! the batch that records its changes is durable in the spool.

use std::collections::BTreeSet;
use std::io::Read as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc::{channel, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use notify::{EventKind, RecursiveMode, Watcher as _};
use serde::{Deserialize, Serialize};
use veritrail_collect::watch::{
    classify, diff, to_event, Change, Coalescer, FileState, Kind, Snapshot,
};

use super::ship::spool::{Header, Spool};
use super::ship::{
    fix_refused, hostname, key_of, sha256_hex, write_durably, Progress, Sent, Server,
};
use crate::args::WatchArgs;
use crate::exit::Exit;

/// Events per spooled batch at most.
const BATCH: usize = 5_000;
/// A path written to without pause is reported after this long anyway.
const LONGEST: Duration = Duration::from_secs(5);

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    server: Option<String>,
    token: Option<String>,
    log: Option<String>,
    paths: Option<Vec<PathBuf>>,
    state: Option<PathBuf>,
    spool: Option<PathBuf>,
    spool_max_mib: Option<u64>,
    hash_max_mib: Option<u64>,
    quiet_ms: Option<u64>,
}

struct Settings {
    server: Server,
    roots: Vec<PathBuf>,
    state: PathBuf,
    spool: PathBuf,
    spool_max: u64,
    hash_max: u64,
    quiet: Duration,
    once: bool,
}

/// The state file: the baseline, and which roots it covers.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Baseline {
    roots: Vec<PathBuf>,
    files: Snapshot,
}

fn settings(a: WatchArgs) -> anyhow::Result<Settings> {
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
    let mut roots = a.paths;
    if roots.is_empty() {
        roots = file.paths.unwrap_or_default();
    }
    if roots.is_empty() {
        return Err(Exit::usage("name the files and directories to watch"));
    }
    let mut abs = Vec::new();
    for r in roots {
        let p =
            std::fs::canonicalize(&r).map_err(|e| Exit::usage(format!("{}: {e}", r.display())))?;
        abs.push(p);
    }
    abs.sort();
    abs.dedup();
    Ok(Settings {
        server: Server::new(&server, token, &log)?,
        roots: abs,
        state: a
            .state
            .or(file.state)
            .unwrap_or_else(|| PathBuf::from("veritrail-watch.state")),
        spool: a
            .spool
            .or(file.spool)
            .unwrap_or_else(|| PathBuf::from("veritrail-watch.spool")),
        spool_max: a.spool_max_mib.or(file.spool_max_mib).unwrap_or(1024) << 20,
        hash_max: a.hash_max_mib.or(file.hash_max_mib).unwrap_or(64) << 20,
        quiet: Duration::from_millis(a.quiet_ms.or(file.quiet_ms).unwrap_or(500)),
        once: a.once,
    })
}

/// What `path` is now, if it is a regular file.
fn look(path: &Path, hash_max: u64) -> Option<FileState> {
    let m = std::fs::symlink_metadata(path).ok()?;
    if !m.is_file() {
        return None;
    }
    let sha256 = if m.len() <= hash_max {
        hash_file(path)
    } else {
        None
    };
    Some(FileState {
        size: m.len(),
        mode: m.mode(),
        uid: m.uid(),
        gid: m.gid(),
        inode: m.ino(),
        mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
        sha256,
    })
}

fn hash_file(path: &Path) -> Option<String> {
    use sha2::Digest as _;
    let mut f = std::fs::File::open(path).ok()?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => h.update(&buf[..n]),
            Err(_) => return None,
        }
    }
    Some(hex(&h.finalize()))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Whether `p` is the watcher's own state or spool (never watched).
fn own(s: &Settings, p: &Path) -> bool {
    let abs = |q: &Path| std::fs::canonicalize(q).unwrap_or_else(|_| q.to_path_buf());
    let (state, spool) = (abs(&s.state), abs(&s.spool));
    p == state
        || p.starts_with(&spool)
        || p.to_string_lossy()
            .starts_with(&*format!("{}.tmp", state.display()))
}

/// Every regular file under the roots, with progress on a terminal.
fn scan(s: &Settings, progress: &Progress) -> Snapshot {
    let mut out = Snapshot::new();
    let mut stack: Vec<PathBuf> = s.roots.clone();
    let started = Instant::now();
    let mut shown = Instant::now();
    while let Some(p) = stack.pop() {
        if own(s, &p) {
            continue;
        }
        let Ok(m) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if m.is_dir() {
            if let Ok(rd) = std::fs::read_dir(&p) {
                stack.extend(rd.flatten().map(|e| e.path()));
            }
        } else if let Some(st) = look(&p, s.hash_max) {
            out.insert(p.to_string_lossy().into_owned(), st);
            if progress.tty && shown.elapsed() > Duration::from_secs(1) {
                shown = Instant::now();
                eprint!(
                    "\rveritrail watch: scanned {} files in {:.0} s   ",
                    out.len(),
                    started.elapsed().as_secs_f64()
                );
            }
        }
    }
    if progress.tty {
        eprintln!();
    }
    out
}

/// Spools `changes` (in batches) and then writes the baseline.
fn record(
    s: &Settings,
    spool: &mut Spool,
    base: &Baseline,
    changes: &[Change],
    host: &str,
    run: &str,
    seq: &mut u64,
) -> anyhow::Result<()> {
    for part in changes.chunks(BATCH) {
        let mut body = Vec::with_capacity(part.len() * 500);
        for c in part {
            body.extend_from_slice(&veritrail_collect::checked(to_event(c, host), "watch"));
            body.push(b'\n');
        }
        let header = Header {
            key: key_of(&format!("watch:{run}:{seq}:{}", sha256_hex(&body))),
            path: part[0].path.clone(),
            id: None,
            start: 0,
            end: 0,
            lines: part.len() as u64,
            cursor: None,
        };
        *seq += 1;
        spool.push(&header, &body)?;
    }
    write_durably(&s.state, &serde_json::to_vec(base)?)
}

/// Sends what is spooled; `Err` only for what retrying cannot fix.
fn deliver(
    s: &Settings,
    spool: &mut Spool,
    progress: &mut Progress,
    unreachable: &mut Option<String>,
) -> anyhow::Result<()> {
    while let Some(b) = spool.oldest()? {
        match s.server.send(&b.header, &b.body)? {
            Sent::Acked => {
                spool.remove(&b)?;
                progress.shipped += b.header.lines;
                if unreachable.take().is_some() {
                    eprintln!("veritrail watch: the server is back; delivering the spool in order");
                }
            }
            Sent::Refused(item, why) => {
                let (h, body) = fix_refused(&b.header, &b.body, item, &why).ok_or_else(|| {
                    anyhow::anyhow!("the server refused item {item} of a batch: {why}")
                })?;
                spool.rewrite(&b, &h, &body)?;
            }
            Sent::Retry(why) => {
                if unreachable.as_deref() != Some(why.as_str()) {
                    eprintln!("veritrail watch: cannot deliver ({why}); watching on into the spool and retrying");
                    *unreachable = Some(why);
                }
                return Ok(());
            }
        }
    }
    Ok(())
}

pub fn run(args: WatchArgs) -> anyhow::Result<ExitCode> {
    let s = settings(args)?;
    let mut spool = Spool::open(&s.spool, s.spool_max)?;
    let mut progress = Progress::new("watch");
    let host = hostname();
    let run_id = format!("{:x}", veritrail_store::now_nanos());
    let mut seq = 0u64;
    let old: Option<Baseline> = match std::fs::read(&s.state) {
        Ok(b) => Some(serde_json::from_slice(&b).map_err(|e| {
            anyhow::anyhow!("{} is not a watch state file: {e}", s.state.display())
        })?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(anyhow::Error::new(e).context(format!("reading {}", s.state.display())))
        }
    };
    // Watch first, so that nothing changed during the scan goes unseen.
    let (tx, rx) = channel();
    let mut watcher = notify::recommended_watcher(tx).context("starting inotify")?;
    if !s.once {
        for r in &s.roots {
            watcher
                .watch(r, RecursiveMode::Recursive)
                .with_context(|| format!("watching {}", r.display()))?;
        }
    }
    let now = scan(&s, &progress);
    let changes: Vec<Change> = match &old {
        // Roots the baseline does not cover: their files are new to it, not created.
        Some(b) if b.roots == s.roots => diff(&b.files, &now),
        _ => now
            .iter()
            .map(|(p, st)| Change {
                kind: Kind::Baseline,
                path: p.clone(),
                from: None,
                before: None,
                after: Some(st.clone()),
                count: 1,
                while_stopped: false,
            })
            .collect(),
    };
    let what = if old.as_ref().is_some_and(|b| b.roots == s.roots) {
        format!("{} changes since the last run", changes.len())
    } else {
        format!("a baseline of {} files", changes.len())
    };
    let mut base = Baseline {
        roots: s.roots.clone(),
        files: now,
    };
    record(&s, &mut spool, &base, &changes, &host, &run_id, &mut seq)?;
    eprintln!(
        "veritrail watch: watching {} files under {} paths; recorded {what}",
        base.files.len(),
        s.roots.len()
    );
    let mut unreachable = None;
    if s.once {
        loop {
            deliver(&s, &mut spool, &mut progress, &mut unreachable)?;
            if spool.oldest()?.is_none() {
                eprintln!(
                    "veritrail watch: shipped {} events; everything is acknowledged",
                    progress.shipped
                );
                return Ok(ExitCode::SUCCESS);
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }
    let clock = Instant::now();
    let mut bursts = Coalescer::new(s.quiet, LONGEST);
    let mut moved_away: BTreeSet<String> = BTreeSet::new();
    let mut last_delivery = Instant::now();
    loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(Ok(ev)) => note(
                &s,
                &ev,
                &mut bursts,
                &mut moved_away,
                &base,
                clock.elapsed(),
            ),
            Ok(Err(e)) => eprintln!("veritrail watch: inotify: {e}"),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => anyhow::bail!("the inotify watcher stopped"),
        }
        let due = bursts.due(clock.elapsed());
        if !due.is_empty() {
            let mut changes = Vec::new();
            for (path, count, from) in due {
                if moved_away.remove(&path) && from.is_none() && !Path::new(&path).exists() {
                    // The old name of a rename: the rename's event says it.
                    base.files.remove(&path);
                    continue;
                }
                let after = look(Path::new(&path), s.hash_max);
                let before = from
                    .as_ref()
                    .and_then(|f| base.files.get(f))
                    .or_else(|| base.files.get(&path))
                    .cloned();
                let from = from.filter(|_| after.is_some());
                if let Some(c) =
                    classify(&path, before.as_ref(), after.as_ref(), count, from.clone())
                {
                    changes.push(c);
                }
                if let Some(f) = &from {
                    base.files.remove(f);
                }
                match after {
                    Some(a) => {
                        base.files.insert(path, a);
                    }
                    None => {
                        base.files.remove(&path);
                    }
                }
            }
            if !changes.is_empty() {
                record(&s, &mut spool, &base, &changes, &host, &run_id, &mut seq)?;
            }
        }
        let backoff = if unreachable.is_some() {
            Duration::from_secs(5)
        } else {
            Duration::ZERO
        };
        if spool.oldest()?.is_some() && last_delivery.elapsed() >= backoff {
            deliver(&s, &mut spool, &mut progress, &mut unreachable)?;
            last_delivery = Instant::now();
        }
        progress.show(&format!("{} files watched", base.files.len()), &spool);
    }
}

/// Notes what one notification says happened.
fn note(
    s: &Settings,
    ev: &notify::Event,
    bursts: &mut Coalescer,
    moved_away: &mut BTreeSet<String>,
    base: &Baseline,
    now: Duration,
) {
    use notify::event::{AccessKind, AccessMode, ModifyKind, RenameMode};
    let name = |p: &PathBuf| p.to_string_lossy().into_owned();
    match ev.kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write))
        | EventKind::Create(_)
        | EventKind::Remove(_)
        | EventKind::Modify(
            ModifyKind::Data(_) | ModifyKind::Metadata(_) | ModifyKind::Any | ModifyKind::Other,
        )
        | EventKind::Any
        | EventKind::Other => {
            for p in &ev.paths {
                touched(s, p, bursts, base, now);
            }
        }
        EventKind::Modify(ModifyKind::Name(RenameMode::Both)) if ev.paths.len() == 2 => {
            let (from, to) = (&ev.paths[0], &ev.paths[1]);
            if std::fs::symlink_metadata(to).is_ok_and(|m| m.is_dir()) {
                // A directory moved: its files moved with it.
                let old = name(from);
                let new = name(to);
                for f in base
                    .files
                    .keys()
                    .filter(|k| k.starts_with(&format!("{old}/")))
                {
                    let moved = format!("{new}{}", &f[old.len()..]);
                    moved_away.insert(f.clone());
                    bursts.note(f, None, now);
                    bursts.note(&moved, Some(f), now);
                }
            } else if !own(s, to) {
                moved_away.insert(name(from));
                bursts.note(&name(from), None, now);
                bursts.note(&name(to), Some(&name(from)), now);
            }
        }
        EventKind::Modify(ModifyKind::Name(_)) => {
            // One side of a rename whose other side is outside the watched
            // paths: a file gone, or a file come.
            for p in &ev.paths {
                touched(s, p, bursts, base, now);
            }
        }
        EventKind::Access(_) => {}
    }
}

/// Notes a path touched; a directory's files (those it holds now, and
/// those the baseline knew under it) are touched with it.
fn touched(s: &Settings, p: &Path, bursts: &mut Coalescer, base: &Baseline, now: Duration) {
    if own(s, p) {
        return;
    }
    let name = p.to_string_lossy().into_owned();
    match std::fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => {
            let mut stack = vec![p.to_path_buf()];
            while let Some(d) = stack.pop() {
                for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                    let q = e.path();
                    if e.file_type().is_ok_and(|t| t.is_dir()) {
                        stack.push(q);
                    } else if !own(s, &q) {
                        bursts.note(&q.to_string_lossy(), None, now);
                    }
                }
            }
        }
        _ => {
            let known_dir: Vec<&String> = base
                .files
                .keys()
                .filter(|k| k.starts_with(&format!("{name}/")))
                .collect();
            if known_dir.is_empty() {
                bursts.note(&name, None, now);
            } else {
                for k in known_dir {
                    bursts.note(k, None, now);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn look_hashes_up_to_the_cap() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        std::fs::write(&p, b"abc").unwrap();
        let st = look(&p, 1 << 20).unwrap();
        assert_eq!(
            st.sha256.as_deref(),
            Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        assert_eq!(st.size, 3);
        assert_eq!(
            look(&p, 2).unwrap().sha256,
            None,
            "over the cap: not hashed"
        );
        assert_eq!(look(d.path(), 1 << 20), None, "a directory is not a file");
    }
}

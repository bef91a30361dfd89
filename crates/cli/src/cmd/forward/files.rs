//! Following files (`veritrail forward FILE…`): appends, rotation by
//! rename and by copytruncate, files that appear later under a glob, and
//! files rotated away while the forwarder was stopped; each read chunk
//! turned into a spooled batch, sent in order, its end recorded in the
//! state only once acknowledged.

use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::follow::{Change, Followed};
use super::format::{self, Format};
use super::state::{self, State};
use super::{Settings, BATCH_BYTES, BATCH_LINES, POLL};
use crate::cmd::ship::spool::{Header, Spool};
use crate::cmd::ship::{fix_refused, key_of, Progress, Sent};

/// A file's lines held back (an audit event not yet whole) this long
/// without the file growing are shipped as they are.
const HOLD: Duration = Duration::from_secs(2);

/// Reads `f`'s next lines into a spooled batch: `Ok(true)` when one was
/// spooled. `rotated`: the file was rotated away and grows no more (its
/// last line counts without a newline, and no audit event waits).
fn read_into(
    spool: &Mutex<Spool>,
    f: &mut Followed,
    format: Format,
    host: &str,
    rotated: bool,
) -> anyhow::Result<bool> {
    let Some(mut c) = f.read_lines(BATCH_BYTES, rotated)? else {
        f.held = None;
        return Ok(false);
    };
    if c.lines.len() > BATCH_LINES {
        // Keep the batch within what one request takes.
        let cut = c.lines[BATCH_LINES].offset;
        c.lines.truncate(BATCH_LINES);
        c.end = cut;
        f.pos = cut;
    }
    let len = f.len()?;
    let held_long = f
        .held
        .is_some_and(|(l, since)| l == len && since.elapsed() >= HOLD);
    let full_window = c.end - c.start >= BATCH_BYTES as u64;
    let whole = (rotated && c.end == len) || held_long || full_window;
    let ev = format::events(format, &c, &f.path, host, whole);
    if ev.end < c.end {
        // An audit event not yet whole: its lines are read again later.
        f.pos = ev.end;
        if f.held.is_none_or(|(l, _)| l != len) {
            f.held = Some((len, Instant::now()));
        }
    } else {
        f.held = None;
    }
    if ev.count == 0 {
        // Nothing whole yet, or only blank lines (read past, not sent).
        return Ok(ev.end > c.start);
    }
    let id = f.id;
    // The key's content part: the lines the batch covers (the body is
    // made from them, the path and the host; hashing the lines is a fifth
    // of the bytes).
    let body_hash = {
        use sha2::Digest as _;
        let mut h = sha2::Sha256::new();
        for l in c.lines.iter().take_while(|l| l.offset < ev.end) {
            h.update(l.offset.to_le_bytes());
            h.update((l.bytes.len() as u64).to_le_bytes());
            h.update(&l.bytes);
        }
        h.update(ev.count.to_le_bytes());
        veritrail_core::hash::Hash(h.finalize().into()).to_hex()
    };
    let header = Header {
        key: key_of(&format!(
            "{}:{}:{:x}:{}:{}:{}:{body_hash}",
            id.dev, id.ino, id.tag, id.gen, c.start, ev.end
        )),
        path: f.path.clone(),
        id: Some(id),
        start: c.start,
        end: ev.end,
        lines: ev.count,
        cursor: None,
    };
    spool.lock().expect("spool lock").push(&header, &ev.body)?;
    Ok(true)
}

/// Files the state knows that no longer sit at their path but were
/// renamed next to it (rotation while the forwarder was stopped) and have
/// lines not yet acknowledged.
fn rotated_away(
    state: &State,
    resume: &BTreeMap<String, (state::Identity, u64)>,
    globs: &[String],
) -> Vec<Followed> {
    use std::os::unix::fs::MetadataExt as _;
    let named = expand(globs);
    let mut out = Vec::new();
    for (key, (id, at)) in resume {
        let Some(known) = state.files.get(key) else {
            continue;
        };
        let here = std::fs::metadata(&known.path).ok();
        if here.is_some_and(|m| m.dev() == id.dev && m.ino() == id.ino) {
            continue;
        }
        let dir = std::path::Path::new(&known.path)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(m) = e.metadata() else { continue };
            if !m.is_file() || m.dev() != id.dev || m.ino() != id.ino {
                continue;
            }
            let path = e.path().display().to_string();
            if named.contains(&path) {
                break; // followed under its own name
            }
            if let Ok(mut f) = Followed::open(&path, Some((id.tag, id.gen)), *at) {
                if f.is(id).unwrap_or(false) && m.len() > *at {
                    out.push(f);
                }
            }
            break;
        }
    }
    out
}

/// The files the globs name now.
fn expand(globs: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for g in globs {
        match glob::glob(g) {
            Ok(paths) => {
                for p in paths.flatten() {
                    if p.is_file() {
                        out.push(p.display().to_string());
                    }
                }
            }
            Err(_) => out.push(g.clone()),
        }
    }
    out.sort();
    out.dedup();
    out
}

/// What the reader and the sender share.
struct Shared {
    spool: Mutex<Spool>,
    state: Mutex<State>,
    /// The keys of the files the reader follows or drains, once it has
    /// looked at every named file (before that, `None`: nothing is pruned).
    live: Mutex<Option<BTreeSet<String>>>,
    /// The reader is done (`--once`: everything is read) or failed.
    reader_done: AtomicBool,
    /// The sender failed.
    sender_failed: AtomicBool,
    shipped: AtomicU64,
}

/// Follows the files until killed (or, with `--once`, until everything
/// there is acknowledged). This thread reads into the spool; another
/// sends the spool's batches in order, so that reading, mapping and
/// sending overlap.
pub fn run(
    s: &Settings,
    spool: Spool,
    state: State,
    progress: &mut Progress,
) -> anyhow::Result<ExitCode> {
    let shared = Shared {
        spool: Mutex::new(spool),
        state: Mutex::new(state),
        live: Mutex::new(None),
        reader_done: AtomicBool::new(false),
        sender_failed: AtomicBool::new(false),
        shipped: AtomicU64::new(0),
    };
    let result = std::thread::scope(|scope| {
        let sender = scope.spawn(|| {
            let r = send_loop(s, &shared);
            if r.is_err() {
                shared.sender_failed.store(true, Ordering::Release);
            }
            r
        });
        let read = read_loop(s, &shared, progress);
        shared.reader_done.store(true, Ordering::Release);
        let sent = sender.join().expect("the sender thread panicked");
        read.and(sent)
    });
    result?;
    if progress.tty {
        eprintln!();
    }
    eprintln!(
        "veritrail forward: shipped {} events; everything is acknowledged",
        shared.shipped.load(Ordering::Acquire)
    );
    Ok(ExitCode::SUCCESS)
}

/// Sends the spool's batches in order; records each file's acknowledged
/// offset. Ends when the reader is done and the spool is empty.
fn send_loop(s: &Settings, sh: &Shared) -> anyhow::Result<()> {
    let mut unreachable: Option<String> = None;
    let mut backoff = Duration::from_millis(200);
    loop {
        let done = sh.reader_done.load(Ordering::Acquire);
        let Some(b) = sh.spool.lock().expect("spool lock").oldest()? else {
            if done {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
            continue;
        };
        if let Some(id) = b.header.id {
            // Acknowledged before a crash that came before its removal.
            let acked = sh
                .state
                .lock()
                .expect("state lock")
                .files
                .get(&id.key())
                .is_some_and(|e| e.id.same_generation(&id) && e.acked >= b.header.end);
            if acked {
                sh.spool.lock().expect("spool lock").remove(&b)?;
                continue;
            }
        }
        match s.server.send(&b.header, &b.body)? {
            Sent::Acked => {
                if let Some(id) = b.header.id {
                    let mut state = sh.state.lock().expect("state lock");
                    let e = state.files.entry(id.key()).or_insert(state::FileState {
                        path: b.header.path.clone(),
                        id,
                        acked: 0,
                    });
                    if id.supersedes(b.header.end, &e.id, e.acked) {
                        e.id = id;
                        e.acked = b.header.end;
                        e.path = b.header.path.clone();
                    }
                    // Forget files no longer followed (read to their end
                    // and acknowledged, or gone) — once the reader has
                    // looked at every named file.
                    if let Some(live) = sh.live.lock().expect("live lock").as_ref() {
                        let key = id.key();
                        state.files.retain(|k, _| *k == key || live.contains(k));
                    }
                    state.save(&s.state)?;
                }
                sh.spool.lock().expect("spool lock").remove(&b)?;
                sh.shipped.fetch_add(b.header.lines, Ordering::AcqRel);
                if unreachable.take().is_some() {
                    eprintln!(
                        "\nveritrail forward: the server is back; delivering the spool in order"
                    );
                }
                backoff = Duration::from_millis(200);
            }
            Sent::Refused(item, why) => {
                // One event the server will not take (a mapping bug): it
                // is kept as `forward.unparsed`, and the batch sent again.
                let (h, body) = fix_refused(&b.header, &b.body, item, &why).ok_or_else(|| {
                    anyhow::anyhow!(
                        "the server refused item {item} of a batch of {}: {why}",
                        b.header.lines
                    )
                })?;
                eprintln!("\nveritrail forward: the server refused one event ({why}); it is stored as forward.unparsed");
                sh.spool
                    .lock()
                    .expect("spool lock")
                    .rewrite(&b, &h, &body)?;
            }
            Sent::Retry(why) => {
                if unreachable.as_deref() != Some(why.as_str()) {
                    eprintln!("\nveritrail forward: cannot deliver ({why}); reading on into the spool and retrying");
                    unreachable = Some(why);
                }
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}

/// Reads the files into the spool: until killed, or with `--once` until
/// every file is read to its end (and the sender has emptied the spool).
fn read_loop(s: &Settings, sh: &Shared, progress: &mut Progress) -> anyhow::Result<()> {
    let host = crate::cmd::ship::hostname();
    // Where each file stands: what the state acknowledged, or what the
    // spool holds beyond that.
    let (mut resume, mut draining) = {
        let state = sh.state.lock().expect("state lock");
        let mut resume: BTreeMap<String, (state::Identity, u64)> = state
            .files
            .iter()
            .map(|(k, f)| (k.clone(), (f.id, f.acked)))
            .collect();
        for h in sh.spool.lock().expect("spool lock").headers()? {
            if let Some(id) = h.id {
                let e = resume.entry(id.key()).or_insert((id, 0));
                if id.supersedes(h.end, &e.0, e.1) {
                    *e = (id, h.end);
                }
            }
        }
        // Files rotated away while the forwarder was down (or before their
        // end was read): found again by inode next to where they were.
        let draining: Vec<Followed> = rotated_away(&state, &resume, &s.files);
        for f in &draining {
            eprintln!(
                "veritrail forward: {} was rotated away from {} while stopped; shipping its rest first",
                f.path,
                state.files.get(&f.id.key()).map_or("?", |e| e.path.as_str())
            );
        }
        (resume, draining)
    };
    let mut followed: BTreeMap<String, Followed> = BTreeMap::new();
    let mut first_look = true;
    let mut spool_full_said = false;
    loop {
        if sh.sender_failed.load(Ordering::Acquire) {
            return Ok(()); // the sender's error is the one to report
        }
        let mut busy = false;
        // 1. Files named now (a file that appears later is read from its start).
        for path in expand(&s.files) {
            if followed.contains_key(&path) {
                continue;
            }
            let Ok(mut f) = Followed::open(&path, None, 0) else {
                continue;
            };
            let key = f.id.key();
            let len = f.len()?;
            let (known, pos) = match resume.remove(&key) {
                Some((id, at)) if at <= len && f.is(&id)? => (Some((id.tag, id.gen)), at),
                // Shorter than what was read, or other first bytes:
                // truncated while we were away (or another file on the
                // inode: a new generation keeps them apart either way).
                Some((id, _)) => (Some((id.tag, id.gen + 1)), 0),
                None if s.from_start || !first_look => (None, 0),
                None => (None, len),
            };
            let f = Followed::open(&path, known, pos)?;
            followed.insert(path, f);
        }
        first_look = false;
        // 2. Rotation.
        let paths: Vec<String> = followed.keys().cloned().collect();
        for p in paths {
            let f = followed.get_mut(&p).expect("listed");
            match f.change()? {
                Change::Same => {}
                Change::Truncated => {
                    eprintln!("\nveritrail forward: {p} was truncated (copytruncate); reading it from its start");
                    f.restart()?;
                }
                Change::Replaced => {
                    let old = followed.remove(&p).expect("listed");
                    draining.push(old);
                }
            }
        }
        *sh.live.lock().expect("live lock") = Some(
            followed
                .values()
                .chain(draining.iter())
                .map(|f| f.id.key())
                .collect(),
        );
        // 3. Read into the spool while it has room: rotated-away files
        // first (to their end), then the files by their paths.
        let has_room = || sh.spool.lock().expect("spool lock").has_room();
        if has_room() {
            spool_full_said = false;
        } else if !spool_full_said {
            let mib = sh.spool.lock().expect("spool lock").bytes() >> 20;
            eprintln!(
                "\nveritrail forward: the spool is full ({mib} MiB); not reading until it drains"
            );
            spool_full_said = true;
        }
        let mut i = 0;
        while i < draining.len() {
            let f = &mut draining[i];
            let mut done = false;
            while has_room() {
                if read_into(&sh.spool, f, s.format, &host, true)? {
                    busy = true;
                } else {
                    done = f.pos >= f.len()?;
                    break;
                }
            }
            if done {
                draining.remove(i);
            } else {
                i += 1;
            }
        }
        let mut lag = 0u64;
        for f in followed.values_mut() {
            while has_room() && read_into(&sh.spool, f, s.format, &host, false)? {
                busy = true;
            }
            lag += f.len()?.saturating_sub(f.pos);
        }
        progress.shipped = sh.shipped.load(Ordering::Acquire);
        progress.show(
            &format!("{lag} bytes not yet read"),
            &sh.spool.lock().expect("spool lock"),
        );
        if s.once && !busy && draining.is_empty() && lag == 0 {
            return Ok(());
        }
        if !busy {
            std::thread::sleep(POLL);
        }
    }
}

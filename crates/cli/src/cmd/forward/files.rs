//! Following files (`veritrail forward FILE…`): appends, rotation by
//! rename and by copytruncate, files that appear later under a glob, and
//! files rotated away while the forwarder was stopped; each read chunk
//! turned into a spooled batch, sent in order, its end recorded in the
//! state only once acknowledged.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use super::follow::{Change, Followed};
use super::format::{self, Format};
use super::state::{self, State};
use super::{Settings, BATCH_BYTES, BATCH_LINES, POLL};
use crate::cmd::ship::spool::{Header, Spool};
use crate::cmd::ship::{key_of, sha256_hex, Progress, Sent};

/// A file's lines held back (an audit event not yet whole) this long
/// without the file growing are shipped as they are.
const HOLD: Duration = Duration::from_secs(2);

/// Reads `f`'s next lines into a spooled batch: `Ok(true)` when one was
/// spooled. `rotated`: the file was rotated away and grows no more (its
/// last line counts without a newline, and no audit event waits).
fn read_into(
    spool: &mut Spool,
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
    if ev.count == 0 && ev.end == c.start {
        return Ok(false);
    }
    let id = f.id;
    let body_hash = sha256_hex(&ev.body);
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
    spool.push(&header, &ev.body)?;
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

/// Follows the files until killed (or, with `--once`, until everything
/// there is acknowledged).
pub fn run(
    s: &Settings,
    spool: &mut Spool,
    state: &mut State,
    progress: &mut Progress,
) -> anyhow::Result<ExitCode> {
    let host = crate::cmd::ship::hostname();
    // Where each file stands: what the state acknowledged, or what the
    // spool holds beyond that.
    let mut resume: BTreeMap<String, (state::Identity, u64)> = state
        .files
        .iter()
        .map(|(k, f)| (k.clone(), (f.id, f.acked)))
        .collect();
    for h in spool.headers()? {
        if let Some(id) = h.id {
            let e = resume.entry(id.key()).or_insert((id, 0));
            if id.supersedes(h.end, &e.0, e.1) {
                *e = (id, h.end);
            }
        }
    }
    let mut followed: BTreeMap<String, Followed> = BTreeMap::new();
    // Files rotated away while the forwarder was down (or before their
    // end was read): found again by inode next to where they were.
    let mut draining: Vec<Followed> = rotated_away(state, &resume, &s.files);
    for f in &draining {
        eprintln!(
            "veritrail forward: {} was rotated away from {} while stopped; shipping its rest first",
            f.path,
            state
                .files
                .get(&f.id.key())
                .map_or("?", |e| e.path.as_str())
        );
    }
    let mut first_look = true;
    let mut unreachable: Option<String> = None;
    let mut backoff = Duration::from_millis(200);
    let mut spool_full_said = false;
    loop {
        let mut busy = false;
        // 1. Send what is spooled, in order.
        while let Some(b) = spool.oldest()? {
            if let Some(id) = b.header.id {
                // Acknowledged before a crash that came before its removal.
                if state
                    .files
                    .get(&id.key())
                    .is_some_and(|e| e.id.same_generation(&id) && e.acked >= b.header.end)
                {
                    spool.remove(&b)?;
                    continue;
                }
            }
            match s.server.send(&b.header, &b.body)? {
                Sent::Acked => {
                    if let Some(id) = b.header.id {
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
                        // and acknowledged, or gone).
                        // Only once every named file has been looked at:
                        // before that, an entry may be a file not reopened yet.
                        if !first_look {
                            let key = id.key();
                            state.files.retain(|k, _| {
                                *k == key
                                    || followed
                                        .values()
                                        .chain(draining.iter())
                                        .any(|f| f.id.key() == *k)
                            });
                        }
                        state.save(&s.state)?;
                    }
                    spool.remove(&b)?;
                    progress.shipped += b.header.lines;
                    if unreachable.take().is_some() {
                        eprintln!("\nveritrail forward: the server is back; delivering the spool in order");
                    }
                    backoff = Duration::from_millis(200);
                    busy = true;
                }
                Sent::Retry(why) => {
                    if unreachable.as_deref() != Some(why.as_str()) {
                        eprintln!("\nveritrail forward: cannot deliver ({why}); reading on into the spool and retrying");
                        unreachable = Some(why);
                    }
                    break;
                }
            }
        }
        // 2. Files named now (a file that appears later is read from its start).
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
        // 3. Rotation.
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
        // 4. Read into the spool while it has room: rotated-away files
        // first (to their end), then the files by their paths.
        let mut lag = 0u64;
        if spool.has_room() {
            spool_full_said = false;
        } else if !spool_full_said {
            eprintln!(
                "\nveritrail forward: the spool is full ({} MiB); not reading until it drains",
                spool.bytes() >> 20
            );
            spool_full_said = true;
        }
        let mut i = 0;
        while i < draining.len() {
            let f = &mut draining[i];
            let mut done = false;
            while spool.has_room() {
                if read_into(spool, f, s.format, &host, true)? {
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
        for f in followed.values_mut() {
            while spool.has_room() && read_into(spool, f, s.format, &host, false)? {
                busy = true;
            }
            lag += f.len()?.saturating_sub(f.pos);
        }
        progress.show(&format!("{lag} bytes behind"), spool);
        if s.once && !busy && draining.is_empty() && spool.oldest()?.is_none() && lag == 0 {
            if progress.tty {
                eprintln!();
            }
            eprintln!(
                "veritrail forward: shipped {} events; everything is acknowledged",
                progress.shipped
            );
            return Ok(ExitCode::SUCCESS);
        }
        if unreachable.is_some() {
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_secs(10));
        } else if !busy {
            std::thread::sleep(POLL);
        }
    }
}

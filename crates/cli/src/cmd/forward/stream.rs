//! Shipping a stream of lines: standard input (`--stdin`; with `--auditd`,
//! an audisp plugin's records) or the systemd journal (`--journal`, read
//! from `journalctl -o json`, its cursor kept in the state file so that a
//! restart resumes exactly after the last acknowledged entry). A thread
//! reads the lines, so that a batch goes out as soon as the input pauses.

use std::io::{BufRead as _, BufReader, Read};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError};
use std::time::Duration;

use anyhow::Context as _;
use veritrail_collect::auditd::{self, Assembler};
use veritrail_collect::journal;
use veritrail_collect::syslog::{line_to_event, FileLine};

use super::follow::MAX_LINE;
use super::format::Format;
use super::state::State;
use super::{Settings, BATCH_BYTES, BATCH_LINES, POLL};
use crate::cmd::ship::spool::{Header, Spool};
use crate::cmd::ship::{fix_refused, key_of, sha256_hex, Progress, Sent};

/// What is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    /// Standard input.
    Stdin,
    /// `journalctl -o json`.
    Journal,
}

/// Lines from a reader thread: (offset, line with its newline), a read
/// error, or `None` at the end.
type Lines = Receiver<std::io::Result<Option<(u64, Vec<u8>)>>>;

fn reader(input: impl Read + Send + 'static) -> Lines {
    let (tx, rx) = sync_channel(BATCH_LINES);
    std::thread::spawn(move || {
        let mut input = BufReader::with_capacity(1 << 20, input);
        let mut offset = 0u64;
        loop {
            let mut line = Vec::new();
            let msg = match input.read_until(b'\n', &mut line) {
                Ok(0) => Ok(None),
                Ok(n) => {
                    let at = offset;
                    offset += n as u64;
                    Ok(Some((at, line)))
                }
                Err(e) => Err(e),
            };
            let last = !matches!(msg, Ok(Some(_)));
            if tx.send(msg).is_err() || last {
                return;
            }
        }
    });
    rx
}

/// `journalctl` with the arguments that read from `after` (a cursor), or
/// from the start, and follow unless `once`.
fn journalctl(s: &Settings, after: Option<&str>) -> anyhow::Result<Child> {
    let mut c = Command::new(&s.journalctl);
    c.args(["-o", "json", "--no-pager"]);
    for f in &s.journal_files {
        c.arg(format!("--file={}", f.display()));
    }
    if !s.once {
        c.arg("--follow");
    }
    match after {
        Some(cursor) => {
            c.arg(format!("--after-cursor={cursor}"));
            if !s.once {
                c.arg("--lines=all");
            }
        }
        None => {
            c.arg("--lines=all");
        }
    }
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c.spawn()
        .with_context(|| format!("starting {}", s.journalctl.display()))
}

/// The cursor of the journal's newest entry (where a first start without
/// `--from-start` begins), or `None` for an empty journal.
fn newest_cursor(s: &Settings) -> anyhow::Result<Option<String>> {
    let mut c = Command::new(&s.journalctl);
    c.args(["-o", "json", "--no-pager", "--lines=1"]);
    for f in &s.journal_files {
        c.arg(format!("--file={}", f.display()));
    }
    let o = c
        .output()
        .with_context(|| format!("running {}", s.journalctl.display()))?;
    if !o.status.success() {
        anyhow::bail!(
            "{} failed: {}",
            s.journalctl.display(),
            String::from_utf8_lossy(&o.stderr).trim()
        );
    }
    Ok(o.stdout
        .split(|b| *b == b'\n')
        .filter_map(|l| journal::to_event(l, "").ok())
        .next_back()
        .map(|e| e.cursor))
}

/// Ships the stream until its end (standard input, or `journalctl` with
/// `--once`), or forever.
pub fn run(
    s: &Settings,
    spool: &mut Spool,
    state: &mut State,
    progress: &mut Progress,
    input: Input,
) -> anyhow::Result<ExitCode> {
    let host = crate::cmd::ship::hostname();
    let run_id = format!("{:x}", veritrail_store::now_nanos());
    let mut seq = 0u64;
    let mut child = None;
    let rx = match input {
        Input::Stdin => reader(std::io::stdin()),
        Input::Journal => {
            // Resume after the newest cursor spooled or acknowledged.
            let spooled = spool
                .headers()?
                .into_iter()
                .filter_map(|h| h.cursor)
                .next_back();
            let mut after = spooled.or_else(|| state.journal_cursor.clone());
            if after.is_none() && !s.from_start {
                after = newest_cursor(s)?;
                if let Some(c) = &after {
                    // Where this forwarder began: a restart goes on from here.
                    state.journal_cursor = Some(c.clone());
                    state.save(&s.state)?;
                }
            }
            let mut c = journalctl(s, after.as_deref())?;
            let out = c.stdout.take().expect("piped");
            child = Some(c);
            reader(out)
        }
    };
    let mut assembler = Assembler::new();
    let mut idle_rounds = 0u32;
    let mut eof = false;
    loop {
        while let Some(b) = spool.oldest()? {
            match s.server.send(&b.header, &b.body)? {
                Sent::Acked => {
                    if let Some(c) = &b.header.cursor {
                        state.journal_cursor = Some(c.clone());
                        state.save(&s.state)?;
                    }
                    spool.remove(&b)?;
                    progress.shipped += b.header.lines;
                }
                Sent::Refused(item, why) => {
                    let (h, body) =
                        fix_refused(&b.header, &b.body, item, &why).ok_or_else(|| {
                            anyhow::anyhow!(
                                "the server refused item {item} of a batch of {}: {why}",
                                b.header.lines
                            )
                        })?;
                    eprintln!("veritrail forward: the server refused one event ({why}); it is stored as forward.unparsed");
                    spool.rewrite(&b, &h, &body)?;
                }
                Sent::Retry(why) => {
                    eprintln!("veritrail forward: cannot deliver ({why}); retrying");
                    std::thread::sleep(Duration::from_secs(1));
                    break;
                }
            }
        }
        if eof {
            if spool.oldest()?.is_none() {
                if let Some(mut c) = child.take() {
                    let status = c.wait()?;
                    if !status.success() {
                        let mut err = String::new();
                        if let Some(mut e) = c.stderr.take() {
                            let _ = e.read_to_string(&mut err);
                        }
                        anyhow::bail!(
                            "{} ended with {status}: {}",
                            s.journalctl.display(),
                            err.trim()
                        );
                    }
                }
                let from = if input == Input::Journal {
                    "the journal"
                } else {
                    "standard input"
                };
                eprintln!(
                    "veritrail forward: shipped {} events from {from}",
                    progress.shipped
                );
                return Ok(ExitCode::SUCCESS);
            }
            continue;
        }
        if !spool.has_room() {
            std::thread::sleep(POLL);
            continue;
        }
        let mut body = Vec::new();
        let mut events = 0u64;
        let mut range: Option<(u64, u64)> = None;
        let mut cursors: (Option<String>, Option<String>) = (None, None);
        let mut audit_out = Vec::new();
        // Wait for a first line, then take what follows without waiting.
        let mut wait = POLL;
        while events < BATCH_LINES as u64 && body.len() < BATCH_BYTES {
            let (offset, line) = match rx.recv_timeout(wait) {
                Ok(Ok(Some(l))) => l,
                Ok(Ok(None)) | Err(RecvTimeoutError::Disconnected) => {
                    eof = true;
                    break;
                }
                Ok(Err(e)) => return Err(anyhow::Error::new(e).context("reading the input")),
                Err(RecvTimeoutError::Timeout) => break,
            };
            wait = Duration::ZERO;
            idle_rounds = 0;
            let end = offset + line.len() as u64;
            range = Some((range.map_or(offset, |r| r.0), end));
            let l = line.strip_suffix(b"\n").unwrap_or(&line);
            let l = l.strip_suffix(b"\r").unwrap_or(l);
            if l.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let l = &l[..l.len().min(MAX_LINE)];
            match (input, s.format) {
                (Input::Journal, _) => {
                    let ev = match journal::to_event(l, &host) {
                        Ok(e) => {
                            cursors.0.get_or_insert_with(|| e.cursor.clone());
                            cursors.1 = Some(e.cursor);
                            e.event
                        }
                        Err(why) => journal::unparsed_event(l, &why, &host),
                    };
                    body.extend_from_slice(&ev);
                    body.push(b'\n');
                    events += 1;
                }
                (Input::Stdin, Format::Auditd) => {
                    assembler.push(&String::from_utf8_lossy(l), &mut audit_out);
                }
                (Input::Stdin, Format::Lines) => {
                    let at = FileLine {
                        path: "-",
                        offset,
                        host: &host,
                    };
                    let truncated = (line.len() > MAX_LINE).then_some(line.len());
                    body.extend_from_slice(&line_to_event(l, truncated, &at));
                    body.push(b'\n');
                    events += 1;
                }
            }
            if !audit_out.is_empty() {
                for o in audit_out.drain(..) {
                    body.extend_from_slice(&auditd::to_event(&o, &host));
                    body.push(b'\n');
                    events += 1;
                }
            }
        }
        if assembler.has_pending() {
            // An audit event without its end: shipped as it is once the
            // input has paused for long enough (2 s), or ended.
            if events == 0 {
                idle_rounds += 1;
            }
            if eof || idle_rounds >= 10 {
                assembler.finish(&mut audit_out);
                for o in audit_out.drain(..) {
                    body.extend_from_slice(&auditd::to_event(&o, &host));
                    body.push(b'\n');
                    events += 1;
                }
            }
        }
        if events > 0 {
            let (start, end) = range.unwrap_or((0, 0));
            let body_hash = sha256_hex(&body);
            let key = match &cursors {
                (Some(a), Some(b)) => key_of(&format!("journal:{a}:{b}:{body_hash}")),
                _ => key_of(&format!("stdin:{run_id}:{seq}:{body_hash}")),
            };
            let header = Header {
                key,
                path: if input == Input::Journal {
                    "journal".into()
                } else {
                    "-".into()
                },
                id: None,
                start,
                end,
                lines: events,
                cursor: cursors.1.clone(),
            };
            seq += 1;
            spool.push(&header, &body)?;
        }
    }
}

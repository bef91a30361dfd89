//! What the lines of a followed file are: plain or syslog lines (one event
//! each, through the recognizers), or the kernel audit log (records
//! assembled into one event per audit event).

use rayon::prelude::*;
use veritrail_collect::auditd::{self, Assembler};
use veritrail_collect::syslog::{line_to_event, FileLine};

use super::follow::Chunk;

/// How a file's lines become events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A line, an event (`/var/log/auth.log`, an application's file).
    Lines,
    /// The kernel audit log (`--auditd`).
    Auditd,
}

/// The events of some of a chunk's lines.
pub struct Events {
    /// NDJSON.
    pub body: Vec<u8>,
    /// Events in `body`.
    pub count: u64,
    /// The offset after the last line they cover.
    pub end: u64,
}

/// The events of `chunk`. Lines: every line. Auditd: the lines up to the
/// last one after which no audit event is open — the rest is read again
/// next time, when its event may be whole — or all of them when `whole`
/// (the file will not grow, or waited long enough).
pub fn events(format: Format, chunk: &Chunk, path: &str, host: &str, whole: bool) -> Events {
    let mut body = Vec::with_capacity(chunk.lines.len() * 600);
    match format {
        Format::Lines => {
            // Mapped on every core: the lines are independent.
            let events: Vec<Vec<u8>> = chunk
                .lines
                .par_iter()
                .map(|l| {
                    let at = FileLine {
                        path,
                        offset: l.offset,
                        host,
                    };
                    line_to_event(&l.bytes, l.truncated_from, &at)
                })
                .collect();
            body.reserve(events.iter().map(|e| e.len() + 1).sum());
            for e in &events {
                body.extend_from_slice(e);
                body.push(b'\n');
            }
            Events {
                body,
                count: chunk.lines.len() as u64,
                end: chunk.end,
            }
        }
        Format::Auditd => {
            let mut a = Assembler::new();
            let mut out = Vec::new();
            // (end offset, outputs so far) after the last line that left
            // nothing open.
            let mut safe = (chunk.start, 0usize);
            for (i, l) in chunk.lines.iter().enumerate() {
                a.push(&String::from_utf8_lossy(&l.bytes), &mut out);
                if !a.has_pending() {
                    let end = chunk.lines.get(i + 1).map_or(chunk.end, |n| n.offset);
                    safe = (end, out.len());
                }
            }
            let end = if whole {
                a.finish(&mut out);
                chunk.end
            } else {
                out.truncate(safe.1);
                safe.0
            };
            for o in &out {
                body.extend_from_slice(&auditd::to_event(o, host));
                body.push(b'\n');
            }
            Events {
                body,
                count: out.len() as u64,
                end,
            }
        }
    }
}

/// The events of a batch spooled raw (see [`crate::cmd::ship::spool::raw_lines`]):
/// what [`events`] makes of the same lines of `path` read on `host`.
///
/// # Errors
/// A damaged spool file.
pub fn raw_events(path: &str, host: &str, body: &[u8]) -> anyhow::Result<Vec<u8>> {
    let lines = crate::cmd::ship::spool::parse_raw_lines(body)?;
    let chunk = Chunk {
        start: lines.first().map_or(0, |l| l.offset),
        end: lines.last().map_or(0, |l| l.offset),
        lines: lines
            .into_iter()
            .map(|l| super::follow::Line {
                offset: l.offset,
                bytes: l.bytes,
                truncated_from: l.truncated_from,
            })
            .collect(),
    };
    Ok(events(Format::Lines, &chunk, path, host, true).body)
}

#[cfg(test)]
mod tests {
    use super::super::follow::Line;
    use super::*;

    fn chunk(text: &str) -> Chunk {
        let mut lines = Vec::new();
        let mut at = 0u64;
        for l in text.split_inclusive('\n') {
            lines.push(Line {
                offset: at,
                bytes: l.trim_end_matches('\n').as_bytes().to_vec(),
                truncated_from: None,
            });
            at += l.len() as u64;
        }
        Chunk {
            start: 0,
            end: at,
            lines,
        }
    }

    /// Lines spooled raw become, when sent, the events they would have
    /// become when read: the same bytes, whatever the lines hold.
    #[test]
    fn lines_spooled_raw_make_the_same_events_when_sent() {
        let mut c = chunk(concat!(
            "Dec  3 06:00:01 web-1 sshd[42]: Failed password for invalid user admin from 203.0.113.9 port 51514 ssh2\n",
            "a line\twith a tab and a carriage return\r\n",
            "<13>1 2026-12-03T06:00:02Z h app - - - structured? no\n",
            "sudo:   alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id\n",
        ));
        c.lines.push(Line {
            offset: c.end,
            bytes: vec![0xff, 0xfe, b'x', b'\t', 0],
            truncated_from: Some(70_000),
        });
        c.end += 70_001;
        let body = crate::cmd::ship::spool::raw_lines(
            c.lines
                .iter()
                .map(|l| (l.offset, l.truncated_from, l.bytes.as_slice())),
        );
        let back = crate::cmd::ship::spool::parse_raw_lines(&body).unwrap();
        assert_eq!(back.len(), c.lines.len());
        for (a, b) in back.iter().zip(&c.lines) {
            assert_eq!(
                (a.offset, a.truncated_from, &a.bytes),
                (b.offset, b.truncated_from, &b.bytes)
            );
        }
        let now = events(Format::Lines, &c, "/var/log/auth.log", "web-1", false);
        let later = raw_events("/var/log/auth.log", "web-1", &body).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&later),
            String::from_utf8_lossy(&now.body)
        );
        assert_eq!(later.iter().filter(|b| **b == b'\n').count(), 5);
        // A damaged spool file is an error, not events made up.
        assert!(crate::cmd::ship::spool::parse_raw_lines(b"no offset here\n").is_err());
        assert!(crate::cmd::ship::spool::parse_raw_lines(b"12 x\tbytes\n").is_err());
    }

    #[test]
    fn an_open_audit_event_is_held_back_until_whole() {
        let done = "type=SYSCALL msg=audit(1.000:1): syscall=2\ntype=EOE msg=audit(1.000:1):\n";
        let open = "type=SYSCALL msg=audit(1.000:2): syscall=2\ntype=PATH msg=audit(1.000:2): item=0 name=\"/x\"\n";
        let c = chunk(&format!("{done}{open}"));
        let e = events(Format::Auditd, &c, "audit.log", "h", false);
        assert_eq!((e.count, e.end), (1, done.len() as u64));
        // Waited long enough (or the file was rotated away): all of it.
        let e = events(Format::Auditd, &c, "audit.log", "h", true);
        assert_eq!((e.count, e.end), (2, c.end));
        // Nothing whole yet: nothing, and the chunk's start.
        let c = chunk(open);
        let e = events(Format::Auditd, &c, "audit.log", "h", false);
        assert_eq!((e.count, e.end), (0, 0));
    }

    #[test]
    fn a_user_space_record_inside_an_open_event_waits_with_it() {
        // The USER_LOGIN came while serial 2 was open: shipping it now and
        // reading it again later would ship it twice, so it waits too.
        let text = "type=SYSCALL msg=audit(1.000:2): syscall=2\ntype=USER_LOGIN msg=audit(1.000:3): msg='res=success'\n";
        let e = events(Format::Auditd, &chunk(text), "audit.log", "h", false);
        assert_eq!((e.count, e.end), (0, 0));
    }
}

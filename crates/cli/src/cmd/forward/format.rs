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

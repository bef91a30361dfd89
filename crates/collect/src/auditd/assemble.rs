//! Records into events: the kernel writes one event as several records
//! sharing a serial number (SYSCALL, CWD, PATH…, PROCTITLE, then EOE);
//! user-space tools (PAM, sudo, shadow-utils) write one record per event.
//! The assembler groups records by (node, serial) and hands an event on
//! at its EOE, at once for a user-space record, and — for a kernel that
//! wrote no EOE — once it is far behind the newest serial, or at
//! [`Assembler::finish`]. A line that is not a record is handed on as
//! such: nothing is dropped.

use super::record::{parse, Record, RecordError};

/// An event whose serial is this far behind the newest is complete even
/// without its EOE.
const WINDOW: u64 = 64;
/// Records kept per event at most (the rest are counted).
pub const MAX_RECORDS: usize = 128;

/// One assembled event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// Its records, in the order they came.
    pub records: Vec<Record>,
    /// Whether its end was seen (EOE, or a one-record user-space event).
    pub complete: bool,
    /// Records beyond [`MAX_RECORDS`], not kept.
    pub dropped_records: usize,
}

impl AuditEvent {
    /// Its serial number.
    pub fn serial(&self) -> u64 {
        self.records[0].serial
    }

    /// The first record of type `kind`.
    pub fn first(&self, kind: &str) -> Option<&Record> {
        self.records.iter().find(|r| r.kind == kind)
    }

    /// Every record of type `kind`.
    pub fn all<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Record> + 'a {
        self.records.iter().filter(move |r| r.kind == kind)
    }
}

/// What the assembler hands on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// An event.
    Event(AuditEvent),
    /// A line that is not an audit record, and why.
    Unparsed(String, RecordError),
}

/// Whether records of `kind` are whole events by themselves (user-space
/// messages: no EOE follows them).
fn standalone(kind: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "USER_",
        "CRED_",
        "ADD_",
        "DEL_",
        "GRP_",
        "ACCT_",
        "DAEMON_",
        "SERVICE_",
        "SYSTEM_",
        "ROLE_",
        "VIRT_",
        "RESP_",
        "USYS_",
        "CHGRP_",
        "CHUSER_",
        "TRUSTED_",
        "SOFTWARE_",
        "ANOM_LOGIN_",
        "ANOM_ROLE_",
        "ANOM_ADD_",
        "ANOM_DEL_",
        "ANOM_MOD_",
        "ANOM_RBAC_",
        "ANOM_AMTU_",
    ];
    PREFIXES.iter().any(|p| kind.starts_with(p))
}

/// Groups records into events.
#[derive(Debug, Default)]
pub struct Assembler {
    pending: Vec<AuditEvent>,
    newest: u64,
}

impl Assembler {
    /// A new assembler.
    pub fn new() -> Assembler {
        Assembler::default()
    }

    /// Whether an event is waiting for more records.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Feeds one line; appends what it completes to `out`.
    pub fn push(&mut self, line: &str, out: &mut Vec<Output>) {
        let r = match parse(line) {
            Ok(r) => r,
            Err(e) => {
                if !line.trim().is_empty() {
                    out.push(Output::Unparsed(
                        line.trim_end_matches(['\n', '\r']).to_owned(),
                        e,
                    ));
                }
                return;
            }
        };
        self.newest = self.newest.max(r.serial);
        let at = self.pending.iter().position(|e| {
            let first = &e.records[0];
            first.serial == r.serial
                && first.node == r.node
                && first.secs == r.secs
                && first.millis == r.millis
        });
        match (at, r.kind.as_str()) {
            (Some(i), "EOE") => {
                let mut e = self.pending.remove(i);
                e.complete = true;
                out.push(Output::Event(e));
            }
            // An EOE for nothing pending carries nothing.
            (None, "EOE") => {}
            (Some(i), _) => {
                let e = &mut self.pending[i];
                if e.records.len() < MAX_RECORDS {
                    e.records.push(r);
                } else {
                    e.dropped_records += 1;
                }
            }
            (None, kind) if standalone(kind) => out.push(Output::Event(AuditEvent {
                records: vec![r],
                complete: true,
                dropped_records: 0,
            })),
            (None, _) => self.pending.push(AuditEvent {
                records: vec![r],
                complete: false,
                dropped_records: 0,
            }),
        }
        // Events a kernel without EOE left open, far behind.
        let newest = self.newest;
        let mut i = 0;
        while i < self.pending.len() {
            if self.pending[i].serial().saturating_add(WINDOW) < newest {
                out.push(Output::Event(self.pending.remove(i)));
            } else {
                i += 1;
            }
        }
    }

    /// Hands on every event still open (the input ended, or paused long
    /// enough), in the order they began; `complete` stays false.
    pub fn finish(&mut self, out: &mut Vec<Output>) {
        out.extend(self.pending.drain(..).map(Output::Event));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(lines: &str) -> Vec<Output> {
        let mut a = Assembler::new();
        let mut out = Vec::new();
        for l in lines.lines() {
            a.push(l, &mut out);
        }
        a.finish(&mut out);
        out
    }

    #[test]
    fn records_group_by_serial_and_end_at_eoe_even_interleaved() {
        let out = events(
            "type=SYSCALL msg=audit(10.000:1): syscall=257 key=\"a\"\n\
             type=SYSCALL msg=audit(10.001:2): syscall=59\n\
             type=CWD msg=audit(10.000:1): cwd=\"/root\"\n\
             type=USER_LOGIN msg=audit(10.002:3): pid=1 msg='op=login res=success'\n\
             type=EXECVE msg=audit(10.001:2): argc=1 a0=\"id\"\n\
             type=EOE msg=audit(10.001:2): \n\
             type=PATH msg=audit(10.000:1): item=0 name=\"/etc/passwd\"\n\
             type=EOE msg=audit(10.000:1): \n",
        );
        let got: Vec<(u64, Vec<&str>, bool)> = out
            .iter()
            .map(|o| match o {
                Output::Event(e) => (
                    e.serial(),
                    e.records.iter().map(|r| r.kind.as_str()).collect(),
                    e.complete,
                ),
                Output::Unparsed(..) => panic!("{o:?}"),
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (3, vec!["USER_LOGIN"], true),
                (2, vec!["SYSCALL", "EXECVE"], true),
                (1, vec!["SYSCALL", "CWD", "PATH"], true),
            ]
        );
    }

    #[test]
    fn without_eoe_an_event_ends_far_behind_or_at_the_end() {
        let mut text =
            String::from("type=CONFIG_CHANGE msg=audit(10.000:1): op=add_rule key=\"x\" res=1\n");
        for s in 2..=70u64 {
            text.push_str(&format!(
                "type=USER_AUTH msg=audit(10.000:{s}): msg='res=success'\n"
            ));
        }
        let out = events(&text);
        // The CONFIG_CHANGE comes out once 64 newer serials went by, incomplete.
        let pos = out
            .iter()
            .position(|o| matches!(o, Output::Event(e) if e.serial() == 1))
            .unwrap();
        assert_eq!(pos, 65);
        assert!(matches!(&out[pos], Output::Event(e) if !e.complete));
        // And at the end, whatever is open.
        let out = events("type=SYSCALL msg=audit(10.000:9): syscall=2\n");
        assert!(matches!(&out[..], [Output::Event(e)] if !e.complete && e.serial() == 9));
    }

    #[test]
    fn a_line_that_is_not_a_record_is_handed_on() {
        let out = events(
            "garbage line\n\ntype=SYSCALL msg=audit(1.000:1): x=1\ntype=EOE msg=audit(1.000:1):\n",
        );
        assert!(matches!(&out[0], Output::Unparsed(l, RecordError::NoType) if l == "garbage line"));
        assert!(matches!(&out[1], Output::Event(e) if e.complete));
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn the_same_serial_on_two_nodes_is_two_events() {
        let out = events(
            "node=a type=SYSCALL msg=audit(1.000:5): x=1\n\
             node=b type=SYSCALL msg=audit(1.000:5): x=2\n\
             node=a type=EOE msg=audit(1.000:5):\n\
             node=b type=EOE msg=audit(1.000:5):\n",
        );
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn a_huge_event_keeps_its_first_records_and_counts_the_rest() {
        let mut text = String::new();
        for i in 0..(MAX_RECORDS + 5) {
            text.push_str(&format!(
                "type=PATH msg=audit(1.000:1): item={i} name=\"/x\"\n"
            ));
        }
        text.push_str("type=EOE msg=audit(1.000:1):\n");
        let out = events(&text);
        assert!(
            matches!(&out[..], [Output::Event(e)] if e.records.len() == MAX_RECORDS && e.dropped_records == 5)
        );
    }
}

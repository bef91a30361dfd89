//! A syslog message (RFC 5424, RFC 3164, and the variants real senders
//! emit: no hostname, ISO timestamps, rsyslog's forwarding template, a
//! missing PRI) into an audit event. Parsing is `syslog_loose`'s; this
//! module decides what the event says: the recognized action when a rule
//! matches ([`crate::recognize`]), else `syslog.message`, or
//! `syslog.unparsed` when nothing could be read — never nothing.
//!
//! The original bytes are kept verbatim in `metadata.syslog.raw` (invalid
//! UTF-8 escaped as `\xNN`, backslashes as `\\`, and marked), with the
//! facility, severity, program, process ID, message ID, structured data,
//! the sender's address and the transport.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use std::collections::BTreeMap;

use serde::Serialize;
use syslog_loose::{Message, Variant};

use crate::recognize::recognize;

/// How the message arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// UDP datagram.
    Udp,
    /// TCP (RFC 6587 framing).
    Tcp,
    /// TLS (RFC 5425).
    Tls,
    /// A file or standard input (`veritrail forward`).
    File,
}

impl Transport {
    /// Its name in `metadata.syslog.transport`.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
            Transport::File => "file",
        }
    }
}

/// Where a message came from (its sender's address formatted once, for
/// every message of a connection).
#[derive(Clone, Debug)]
pub struct Origin {
    /// The transport.
    pub transport: Transport,
    /// The sender's address (network transports).
    pub peer: Option<SocketAddr>,
    peer_text: Option<String>,
    peer_ip: Option<String>,
}

impl Origin {
    /// Messages over `transport` from `peer`.
    pub fn new(transport: Transport, peer: Option<SocketAddr>) -> Origin {
        Origin {
            transport,
            peer,
            peer_text: peer.map(|p| p.to_string()),
            peer_ip: peer.map(|p| p.ip().to_string()),
        }
    }
}

/// A line of a file (`veritrail forward`): which file, and where in it.
#[derive(Clone, Debug)]
pub struct FileLine<'a> {
    /// The file's path.
    pub path: &'a str,
    /// Byte offset of the line in the file.
    pub offset: u64,
    /// The host the forwarder runs on (the line's host when it names none).
    pub host: &'a str,
}

/// The audit event for one line of a file: a syslog line (as
/// `/var/log/auth.log` holds them) read as syslog, with the recognizers;
/// any other line as `log.line`. The file and offset are in
/// `metadata.file`.
pub fn line_to_event(line: &[u8], truncated_from: Option<usize>, at: &FileLine<'_>) -> Vec<u8> {
    write(
        line,
        truncated_from,
        &Origin::new(Transport::File, None),
        Some(at),
    )
}

/// Bytes of `message` and of `raw` kept at most, each, so that an event
/// stays well inside the 65,535-byte limit with everything else.
pub const MAX_TEXT: usize = 28_000;

/// The text of `bytes`: the UTF-8 itself, or, where it is not valid UTF-8,
/// every invalid byte as `\xNN` and every backslash as `\\` (and `true`).
pub fn text_of(bytes: &[u8]) -> (String, bool) {
    match std::str::from_utf8(bytes) {
        Ok(s) => (s.to_owned(), false),
        Err(_) => {
            let mut out = String::with_capacity(bytes.len() + 16);
            let mut rest = bytes;
            while !rest.is_empty() {
                match std::str::from_utf8(rest) {
                    Ok(s) => {
                        out.push_str(&s.replace('\\', "\\\\"));
                        break;
                    }
                    Err(e) => {
                        let (good, bad) = rest.split_at(e.valid_up_to());
                        out.push_str(
                            &std::str::from_utf8(good)
                                .expect("valid prefix")
                                .replace('\\', "\\\\"),
                        );
                        let n = e.error_len().unwrap_or(bad.len());
                        for b in &bad[..n] {
                            let _ = write!(out, "\\x{b:02x}");
                        }
                        rest = &bad[n..];
                    }
                }
            }
            (out, true)
        }
    }
}

/// `s` cut to at most `max` bytes, on a character boundary.
fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn severity_name(s: syslog_loose::SyslogSeverity) -> &'static str {
    use syslog_loose::SyslogSeverity::*;
    match s {
        SEV_EMERG => "emergency",
        SEV_ALERT => "alert",
        SEV_CRIT => "critical",
        SEV_ERR => "error",
        SEV_WARNING => "warning",
        SEV_NOTICE => "notice",
        SEV_INFO => "info",
        SEV_DEBUG => "debug",
    }
}

fn facility_name(f: syslog_loose::SyslogFacility) -> &'static str {
    use syslog_loose::SyslogFacility::*;
    match f {
        LOG_KERN => "kern",
        LOG_USER => "user",
        LOG_MAIL => "mail",
        LOG_DAEMON => "daemon",
        LOG_AUTH => "auth",
        LOG_SYSLOG => "syslog",
        LOG_LPR => "lpr",
        LOG_NEWS => "news",
        LOG_UUCP => "uucp",
        LOG_CRON => "cron",
        LOG_AUTHPRIV => "authpriv",
        LOG_FTP => "ftp",
        LOG_NTP => "ntp",
        LOG_AUDIT => "audit",
        LOG_ALERT => "alert",
        LOG_CLOCKD => "clockd",
        LOG_LOCAL0 => "local0",
        LOG_LOCAL1 => "local1",
        LOG_LOCAL2 => "local2",
        LOG_LOCAL3 => "local3",
        LOG_LOCAL4 => "local4",
        LOG_LOCAL5 => "local5",
        LOG_LOCAL6 => "local6",
        LOG_LOCAL7 => "local7",
    }
}

/// Whether nothing of `m` could be read as syslog: no PRI, no timestamp,
/// no host and no program — the whole input is its "message".
fn unparsed(m: &Message<&str>) -> bool {
    m.facility.is_none() && m.timestamp.is_none() && m.hostname.is_none() && m.appname.is_none()
}

/// The audit event (as JSON bytes) for one syslog message.
///
/// `truncated_from`: the size the sender sent, when the framer kept less.
pub fn to_event(bytes: &[u8], truncated_from: Option<usize>, origin: &Origin) -> Vec<u8> {
    write(bytes, truncated_from, origin, None)
}

// The event, as serde writes it: no tree of values built and dropped per
// message (this is the syslog listeners' hot path). Optional parts are
// left out when empty, as `crate::finish` does for the other mappings.

#[derive(Serialize)]
struct Ev<'a> {
    action: &'a str,
    actor: Actor<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<Target<'a>>,
    #[serde(skip_serializing_if = "Source::is_empty")]
    source: Source<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    severity: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
    metadata: Meta<'a>,
}

#[derive(Serialize)]
struct Actor<'a> {
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ip: Option<&'a str>,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct Target<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    id: &'a str,
}

#[derive(Serialize, Default)]
struct Source<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    host: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    app: Option<&'a str>,
}

impl Source<'_> {
    fn is_empty(&self) -> bool {
        self.host.is_none() && self.app.is_none()
    }
}

#[derive(Serialize)]
struct Meta<'a> {
    syslog: Sys<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<FileMeta<'a>>,
}

#[derive(Serialize)]
struct FileMeta<'a> {
    path: &'a str,
    offset: u64,
}

#[derive(Serialize)]
struct Truncated {
    original_bytes: usize,
}

#[derive(Serialize)]
struct Sys<'a> {
    transport: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    peer: Option<&'a str>,
    raw: &'a str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    raw_escaped: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    truncated: Option<Truncated>,
    #[serde(skip_serializing_if = "Option::is_none")]
    protocol: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    facility: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    procid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    msgid: Option<&'a str>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    sd: BTreeMap<&'a str, BTreeMap<&'a str, &'a str>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    recognized: BTreeMap<&'static str, &'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    remote_host: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    time_unusable: Option<String>,
}

fn nonempty(v: Option<&str>) -> Option<&str> {
    v.filter(|x| !x.trim().is_empty())
}

/// Maps one message (a line of a file with `file`) and writes the event.
fn write(
    bytes: &[u8],
    truncated_from: Option<usize>,
    origin: &Origin,
    file: Option<&FileLine<'_>>,
) -> Vec<u8> {
    let (text, escaped) = text_of(bytes);
    let trimmed = text.trim_end_matches(['\n', '\r', '\0']);
    let m = syslog_loose::parse_message(trimmed, Variant::Either);
    let raw = cut(&text, MAX_TEXT);
    let mut sys = Sys {
        transport: origin.transport.name(),
        peer: origin.peer_text.as_deref(),
        raw,
        raw_escaped: escaped,
        truncated: (truncated_from.is_some() || raw.len() < text.len()).then(|| Truncated {
            original_bytes: truncated_from.unwrap_or(bytes.len()),
        }),
        protocol: None,
        facility: None,
        procid: None,
        msgid: None,
        sd: BTreeMap::new(),
        recognized: BTreeMap::new(),
        remote_host: None,
        time_unusable: None,
    };
    let peer_ip = origin.peer_ip.as_deref();
    let file_meta = file.map(|f| FileMeta {
        path: f.path,
        offset: f.offset,
    });
    let out = |ev: &Ev<'_>| {
        let mut v = Vec::with_capacity(text.len() * 2 + 384);
        serde_json::to_writer(&mut v, ev).expect("JSON");
        v
    };
    if unparsed(&m) {
        // Not syslog: from a file, a line of it (`log.line`, the
        // forwarder's host); from the network, `syslog.unparsed`.
        let (action, actor, host, message) = match file {
            Some(f) => {
                let line = cut(&text, MAX_TEXT).trim_end_matches(['\n', '\r']);
                let host = nonempty(Some(cut(f.host, 255)));
                let actor = Actor {
                    id: host.unwrap_or("unknown"),
                    ip: None,
                    kind: "host",
                };
                ("log.line", actor, host, nonempty(Some(line)))
            }
            None => {
                let actor = Actor {
                    id: peer_ip.unwrap_or("unknown"),
                    ip: None,
                    kind: "syslog_sender",
                };
                ("syslog.unparsed", actor, peer_ip, None)
            }
        };
        return out(&Ev {
            action,
            actor,
            outcome: None,
            target: None,
            source: Source { host, app: None },
            severity: None,
            time: None,
            message,
            metadata: Meta {
                syslog: sys,
                file: file_meta,
            },
        });
    }
    sys.protocol = Some(match m.protocol {
        syslog_loose::Protocol::RFC3164 => "rfc3164",
        syslog_loose::Protocol::RFC5424(_) => "rfc5424",
    });
    sys.facility = m.facility.map(facility_name);
    sys.procid = m
        .procid
        .as_ref()
        .map(|p| p.to_string())
        .filter(|p| !p.is_empty());
    sys.msgid = m.msgid;
    for el in &m.structured_data {
        let params = sys.sd.entry(el.id).or_default();
        for (k, v) in &el.params {
            params.insert(k, v);
        }
    }
    // `TAG: text` with no host name: the parser takes the tag for a host
    // (a host name is never followed by a colon).
    let (hostname, appname) = match (nonempty(m.hostname), nonempty(m.appname)) {
        (Some(h), None) if trimmed.contains(&format!(" {h}:")) => (None, Some(h)),
        other => other,
    };
    let host = hostname
        .map(|h| cut(h, 255))
        .or(peer_ip)
        .or(file.and_then(|f| nonempty(Some(cut(f.host, 255)))));
    let app = appname.map(|a| cut(a, 255));
    let message = cut(m.msg, MAX_TEXT);
    let rec = recognize(app, message);
    let mut actor = Actor {
        id: app.or(host).unwrap_or("unknown"),
        ip: None,
        kind: "process",
    };
    let mut target = None;
    if let Some(r) = &rec {
        if let Some(a) = nonempty(r.actor.as_deref()) {
            actor.id = cut(a, 256);
            actor.kind = "user";
        }
        if let Some(remote) = nonempty(r.remote.as_deref()) {
            if remote.parse::<IpAddr>().is_ok() {
                actor.ip = Some(remote);
            } else {
                sys.remote_host = Some(cut(remote, 255));
            }
        }
        if let Some((ty, id)) = &r.target {
            if let Some(id) = nonempty(Some(cut(id, 255))) {
                target = Some(Target { kind: ty, id });
            }
        }
        for (k, v) in &r.details {
            sys.recognized.insert(k, cut(v, 1024));
        }
        sys.recognized.insert("rule", r.rule);
    }
    let time = m
        .timestamp
        .and_then(|t| match crate::event_time(t.to_rfc3339()) {
            Some(t) => Some(t),
            None => {
                sys.time_unusable = Some(t.to_string());
                None
            }
        });
    out(&Ev {
        action: rec.as_ref().map_or("syslog.message", |r| r.action),
        actor,
        outcome: rec.as_ref().map(|r| r.outcome),
        target,
        source: Source { host, app },
        severity: m.severity.map(severity_name),
        time,
        message: nonempty(Some(message)),
        metadata: Meta {
            syslog: sys,
            file: file_meta,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};
    use veritrail_core::Event;

    fn ev(line: &[u8]) -> Value {
        let origin = Origin::new(Transport::Tcp, Some("192.0.2.50:40000".parse().unwrap()));
        let bytes = to_event(line, None, &origin);
        // Every event is one the event model accepts.
        Event::parse(&bytes).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&bytes)));
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn rfc5424_with_structured_data() {
        let v = ev(br#"<165>1 2026-12-02T10:00:00.003Z web-1 shop 1370 ID47 [origin@32473 ip="192.0.2.9" software="shop"] order placed"#);
        assert_eq!(v["action"], "syslog.message");
        assert_eq!(v["source"], json!({"host": "web-1", "app": "shop"}));
        assert_eq!(v["severity"], "notice");
        assert_eq!(v["metadata"]["syslog"]["facility"], "local4");
        assert_eq!(v["metadata"]["syslog"]["msgid"], "ID47");
        assert_eq!(
            v["metadata"]["syslog"]["sd"]["origin@32473"]["ip"],
            "192.0.2.9"
        );
        assert_eq!(v["metadata"]["syslog"]["protocol"], "rfc5424");
        assert_eq!(v["message"], "order placed");
        assert!(v["time"]
            .as_str()
            .unwrap()
            .starts_with("2026-12-02T10:00:00.003"));
    }

    #[test]
    fn rfc3164_variants_and_recognized_lines() {
        // BSD with a recognized sshd line.
        let v = ev(b"<38>Dec  2 10:00:01 bastion sshd[4242]: Failed password for invalid user admin from 198.51.100.4 port 40022 ssh2");
        assert_eq!(v["action"], "auth.login");
        assert_eq!(v["outcome"], "failure");
        assert_eq!(
            v["actor"],
            json!({"id": "admin", "ip": "198.51.100.4", "type": "user"})
        );
        assert_eq!(v["source"], json!({"host": "bastion", "app": "sshd"}));
        assert_eq!(v["metadata"]["syslog"]["facility"], "auth");
        assert_eq!(
            v["metadata"]["syslog"]["recognized"]["reason"],
            "invalid_user"
        );
        // rsyslog's forwarding template: an ISO timestamp.
        let v = ev(b"<86>2026-12-02T10:00:02.123456+00:00 bastion sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id");
        assert_eq!(v["action"], "privilege.sudo");
        assert_eq!(v["target"], json!({"type": "command", "id": "/usr/bin/id"}));
        // No hostname (logger to a local socket forwards like this).
        let v = ev(b"<13>Dec  2 10:00:03 myapp: plain text");
        assert_eq!(v["source"]["app"], "myapp");
        assert_eq!(v["message"], "plain text");
        // No PRI at all.
        let v = ev(b"Dec  2 10:00:04 host2 cron[1]: job ran");
        assert_eq!(v["action"], "syslog.message");
        assert_eq!(v["source"]["host"], "host2");
    }

    #[test]
    fn garbage_is_kept_as_unparsed_with_its_raw_bytes_escaped() {
        let v = ev(b"\xff\xfe\\binary\x00junk");
        assert_eq!(v["action"], "syslog.unparsed");
        assert_eq!(
            v["metadata"]["syslog"]["raw"],
            "\\xff\\xfe\\\\binary\u{0}junk"
        );
        assert_eq!(v["metadata"]["syslog"]["raw_escaped"], true);
        assert_eq!(v["actor"]["id"], "192.0.2.50");
    }

    #[test]
    fn long_messages_are_cut_and_marked_and_still_events() {
        let line = format!("<13>Dec  2 10:00:05 host app: {}", "x".repeat(200_000));
        let v = ev(line.as_bytes());
        assert_eq!(
            v["metadata"]["syslog"]["truncated"]["original_bytes"],
            line.len()
        );
        assert!(v["message"].as_str().unwrap().len() <= MAX_TEXT);
    }
}

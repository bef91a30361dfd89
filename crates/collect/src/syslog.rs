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

use serde_json::{json, Map, Value};
use syslog_loose::{Message, Variant};

use crate::recognize::{recognize, Recognized};

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

/// Where a message came from.
#[derive(Clone, Debug)]
pub struct Origin {
    /// The transport.
    pub transport: Transport,
    /// The sender's address (network transports).
    pub peer: Option<SocketAddr>,
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
    let origin = Origin {
        transport: Transport::File,
        peer: None,
    };
    let mut v: Value =
        serde_json::from_slice(&to_event(line, truncated_from, &origin)).expect("our own JSON");
    if v["action"] == "syslog.unparsed" {
        v["action"] = json!("log.line");
        v["actor"] = json!({"id": at.host, "type": "host"});
        let (text, _) = text_of(line);
        let text = cut(&text, MAX_TEXT)
            .trim_end_matches(['\n', '\r'])
            .to_owned();
        if !text.is_empty() {
            v["message"] = json!(text);
        }
    }
    if v["source"].get("host").is_none() {
        v["source"]["host"] = json!(cut(at.host, 255));
    }
    v["metadata"]["file"] = json!({"path": at.path, "offset": at.offset});
    crate::finish(v, "syslog")
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

fn facility_name(f: syslog_loose::SyslogFacility) -> String {
    format!("{f:?}")
        .trim_start_matches("LOG_")
        .to_ascii_lowercase()
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
    let (text, escaped) = text_of(bytes);
    let trimmed = text.trim_end_matches(['\n', '\r', '\0']);
    let m = syslog_loose::parse_message(trimmed, Variant::Either);
    let mut sys = Map::new();
    sys.insert("transport".into(), json!(origin.transport.name()));
    if let Some(p) = origin.peer {
        sys.insert("peer".into(), json!(p.to_string()));
    }
    let raw = cut(&text, MAX_TEXT);
    sys.insert("raw".into(), json!(raw));
    if escaped {
        sys.insert("raw_escaped".into(), json!(true));
    }
    if truncated_from.is_some() || raw.len() < text.len() {
        sys.insert(
            "truncated".into(),
            json!({"original_bytes": truncated_from.unwrap_or(bytes.len())}),
        );
    }
    let peer_ip = origin.peer.map(|p| p.ip().to_string());
    if unparsed(&m) {
        let mut ev = json!({
            "action": "syslog.unparsed",
            "actor": {"id": peer_ip.clone().unwrap_or_else(|| "unknown".into()), "type": "syslog_sender"},
            "metadata": {"syslog": sys},
        });
        if let Some(ip) = &peer_ip {
            ev["source"] = json!({"host": ip});
        }
        return crate::finish(ev, "syslog");
    }
    sys.insert(
        "protocol".into(),
        json!(match m.protocol {
            syslog_loose::Protocol::RFC3164 => "rfc3164",
            syslog_loose::Protocol::RFC5424(_) => "rfc5424",
        }),
    );
    if let Some(f) = m.facility {
        sys.insert("facility".into(), json!(facility_name(f)));
    }
    if let Some(p) = &m.procid {
        sys.insert("procid".into(), json!(p.to_string()));
    }
    if let Some(id) = m.msgid {
        sys.insert("msgid".into(), json!(id));
    }
    if !m.structured_data.is_empty() {
        let mut sd = Map::new();
        for el in &m.structured_data {
            let mut params = Map::new();
            for (k, v) in &el.params {
                params.insert(k.to_string(), json!(v.to_string()));
            }
            sd.insert(el.id.to_string(), Value::Object(params));
        }
        sys.insert("sd".into(), Value::Object(sd));
    }
    // `TAG: text` with no host name: the parser takes the tag for a host
    // (a host name is never followed by a colon).
    fn nonempty(v: Option<&str>) -> Option<&str> {
        v.filter(|x| !x.trim().is_empty())
    }
    let (hostname, appname) = match (nonempty(m.hostname), nonempty(m.appname)) {
        (Some(h), None) if trimmed.contains(&format!(" {h}:")) => (None, Some(h)),
        other => other,
    };
    let host = hostname.map(|h| cut(h, 255).to_owned()).or(peer_ip.clone());
    let app = appname.map(|a| cut(a, 255).to_owned());
    let message = cut(m.msg, MAX_TEXT);
    let rec = recognize(app.as_deref(), message);
    let mut ev = Map::new();
    let mut actor = Map::new();
    match &rec {
        Some(Recognized { actor: Some(a), .. }) => {
            actor.insert("id".into(), json!(cut(a, 256)));
            actor.insert("type".into(), json!("user"));
        }
        _ => {
            actor.insert(
                "id".into(),
                json!(app
                    .clone()
                    .or(host.clone())
                    .unwrap_or_else(|| "unknown".into())),
            );
            actor.insert("type".into(), json!("process"));
        }
    }
    if let Some(Recognized {
        remote: Some(r), ..
    }) = &rec
    {
        if r.parse::<IpAddr>().is_ok() {
            actor.insert("ip".into(), json!(r));
        } else {
            sys.insert("remote_host".into(), json!(cut(r, 255)));
        }
    }
    ev.insert(
        "action".into(),
        json!(rec.as_ref().map_or("syslog.message", |r| r.action)),
    );
    ev.insert("actor".into(), Value::Object(actor));
    if let Some(r) = &rec {
        ev.insert("outcome".into(), json!(r.outcome));
        if let Some((ty, id)) = &r.target {
            ev.insert("target".into(), json!({"type": ty, "id": cut(id, 255)}));
        }
        let mut details = Map::new();
        for (k, v) in &r.details {
            details.insert((*k).into(), json!(cut(v, 1024)));
        }
        details.insert("rule".into(), json!(r.rule));
        sys.insert("recognized".into(), Value::Object(details));
    }
    let mut source = Map::new();
    if let Some(h) = &host {
        source.insert("host".into(), json!(h));
    }
    if let Some(a) = &app {
        source.insert("app".into(), json!(a));
    }
    if !source.is_empty() {
        ev.insert("source".into(), Value::Object(source));
    }
    if let Some(s) = m.severity {
        ev.insert("severity".into(), json!(severity_name(s)));
    }
    if let Some(t) = m.timestamp {
        match crate::event_time(t.to_rfc3339()) {
            Some(t) => {
                ev.insert("time".into(), json!(t));
            }
            None => {
                sys.insert("time_unusable".into(), json!(t.to_string()));
            }
        }
    }
    if !message.is_empty() {
        ev.insert("message".into(), json!(message));
    }
    ev.insert("metadata".into(), json!({"syslog": sys}));
    crate::finish(Value::Object(ev), "syslog")
}

#[cfg(test)]
mod tests {
    use super::*;
    use veritrail_core::Event;

    fn ev(line: &[u8]) -> Value {
        let origin = Origin {
            transport: Transport::Tcp,
            peer: Some("192.0.2.50:40000".parse().unwrap()),
        };
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

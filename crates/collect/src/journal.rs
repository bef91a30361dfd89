//! A systemd journal entry (one line of `journalctl -o json`) into an
//! audit event: `_HOSTNAME` → `source.host`, `SYSLOG_IDENTIFIER` (or
//! `_COMM`) → `source.app`, `PRIORITY` → `severity`,
//! `__REALTIME_TIMESTAMP` → `time`, `MESSAGE` through the same
//! recognizers as syslog; `_PID`, `_UID`, `_SYSTEMD_UNIT`, the cursor and
//! the facility in `metadata.journal`.

use serde_json::{json, Map, Value};
use veritrail_core::Timestamp;

use crate::recognize::recognize;

/// Why a line is not a journal entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JournalError {
    /// Not a JSON object.
    #[error("not a JSON object: {0}")]
    NotJson(String),
    /// No `__CURSOR` (every entry `journalctl -o json` writes has one).
    #[error("no __CURSOR")]
    NoCursor,
}

/// One entry, read.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Its cursor: where `journalctl --after-cursor` resumes.
    pub cursor: String,
    /// The audit event (JSON bytes).
    pub event: Vec<u8>,
}

const SEVERITIES: [&str; 8] = [
    "emergency",
    "alert",
    "critical",
    "error",
    "warning",
    "notice",
    "info",
    "debug",
];

fn cut(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A field's text: journalctl writes a string, or — for a value that is
/// not valid UTF-8 or holds control characters — an array of bytes.
fn text(v: &Value) -> Option<(String, bool)> {
    match v {
        Value::String(s) => Some((s.clone(), false)),
        Value::Array(a) => {
            let bytes: Vec<u8> = a
                .iter()
                .filter_map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
                .collect();
            let (t, escaped) = crate::syslog::text_of(&bytes);
            Some((t, escaped || std::str::from_utf8(&bytes).is_err()))
        }
        Value::Number(n) => Some((n.to_string(), false)),
        _ => None,
    }
}

/// Reads one line of `journalctl -o json`.
///
/// # Errors
/// A line that is not a journal entry (see [`JournalError`]).
pub fn to_event(line: &[u8], default_host: &str) -> Result<Entry, JournalError> {
    let v: Value =
        serde_json::from_slice(line).map_err(|e| JournalError::NotJson(e.to_string()))?;
    let Value::Object(m) = v else {
        return Err(JournalError::NotJson("not an object".into()));
    };
    let cursor = m
        .get("__CURSOR")
        .and_then(Value::as_str)
        .ok_or(JournalError::NoCursor)?
        .to_owned();
    let field = |k: &str| m.get(k).and_then(text).map(|(t, _)| t);
    let host = field("_HOSTNAME").unwrap_or_else(|| default_host.to_owned());
    let app = field("SYSLOG_IDENTIFIER").or_else(|| field("_COMM"));
    let (message, escaped) = m.get("MESSAGE").and_then(text).unwrap_or_default();
    let message = cut(&message, 28_000).to_owned();
    let rec = recognize(app.as_deref(), &message);
    let mut journal = Map::new();
    journal.insert("cursor".into(), json!(cursor));
    for (k, name) in [
        ("_PID", "pid"),
        ("_UID", "uid"),
        ("_GID", "gid"),
        ("_SYSTEMD_UNIT", "unit"),
        ("_TRANSPORT", "transport"),
        ("SYSLOG_FACILITY", "facility"),
        ("_EXE", "exe"),
        ("_CMDLINE", "cmdline"),
        ("_BOOT_ID", "boot_id"),
    ] {
        if let Some(v) = field(k) {
            journal.insert(name.into(), json!(cut(&v, 4096)));
        }
    }
    if escaped {
        journal.insert("message_escaped".into(), json!(true));
    }
    let mut ev = Map::new();
    let mut actor = Map::new();
    match &rec {
        Some(r) if r.actor.is_some() => {
            actor.insert(
                "id".into(),
                json!(cut(r.actor.as_deref().unwrap_or_default(), 256)),
            );
            actor.insert("type".into(), json!("user"));
        }
        _ => {
            let id = app.clone().unwrap_or_else(|| host.clone());
            actor.insert("id".into(), json!(cut(&id, 256)));
            actor.insert("type".into(), json!("process"));
        }
    }
    if let Some(r) = rec.as_ref().and_then(|r| r.remote.as_ref()) {
        if r.parse::<std::net::IpAddr>().is_ok() {
            actor.insert("ip".into(), json!(r));
        } else {
            journal.insert("remote_host".into(), json!(cut(r, 255)));
        }
    }
    ev.insert(
        "action".into(),
        json!(rec.as_ref().map_or("journal.message", |r| r.action)),
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
        journal.insert("recognized".into(), Value::Object(details));
    }
    let mut source = Map::new();
    source.insert("host".into(), json!(cut(&host, 255)));
    if let Some(a) = &app {
        source.insert("app".into(), json!(cut(a, 255)));
    }
    ev.insert("source".into(), Value::Object(source));
    if let Some(p) = field("PRIORITY")
        .and_then(|p| p.parse::<usize>().ok())
        .and_then(|p| SEVERITIES.get(p))
    {
        ev.insert("severity".into(), json!(p));
    }
    if let Some(t) = field("__REALTIME_TIMESTAMP") {
        let time = t
            .parse::<i128>()
            .ok()
            .and_then(|us| us.checked_mul(1000))
            .and_then(|ns| crate::event_time(Timestamp::from_unix_nanos(ns).to_rfc3339_nanos()));
        match time {
            Some(time) => {
                ev.insert("time".into(), json!(time));
            }
            None => {
                journal.insert("time_unusable".into(), json!(cut(&t, 64)));
            }
        }
    }
    if !message.is_empty() {
        ev.insert("message".into(), json!(message));
    }
    ev.insert("metadata".into(), json!({"journal": journal}));
    Ok(Entry {
        cursor,
        event: crate::finish(Value::Object(ev), "journal"),
    })
}

/// The event for a line `journalctl` wrote that is not an entry (kept, not
/// dropped).
pub fn unparsed_event(line: &[u8], why: &JournalError, host: &str) -> Vec<u8> {
    let (t, escaped) = crate::syslog::text_of(line);
    crate::finish(
        json!({
        "action": "journal.unparsed",
        "actor": {"id": cut(host, 256), "type": "host"},
        "source": {"host": cut(host, 255), "app": "journalctl"},
        "message": cut(&t, 28_000),
        "metadata": {"journal": {"error": why.to_string(), "message_escaped": escaped}},
        }),
        "journal",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use veritrail_core::Event;

    fn ev(line: &str) -> Value {
        let e = to_event(line.as_bytes(), "fallback").unwrap();
        Event::parse(&e.event)
            .unwrap_or_else(|x| panic!("{x}: {}", String::from_utf8_lossy(&e.event)));
        serde_json::from_slice(&e.event).unwrap()
    }

    // The shape of `journalctl -o json` (systemd 252, Debian 12).
    #[test]
    fn an_sshd_entry_is_recognized() {
        let v = ev(
            r#"{"__CURSOR":"s=739ad463348b4ceca5a9e69c95a3c93f;i=4ece7;b=6c7c6013a8674d9e8e3c1b1f5c4e3a2d;m=4c2b5d;t=5e0b1c2d3e4f5;x=f7a8b9c0d1e2f3a4","__REALTIME_TIMESTAMP":"1764669600123456","__MONOTONIC_TIMESTAMP":"4991837","_BOOT_ID":"6c7c6013a8674d9e8e3c1b1f5c4e3a2d","PRIORITY":"6","SYSLOG_FACILITY":"4","SYSLOG_IDENTIFIER":"sshd","_PID":"4011","_UID":"0","_GID":"0","_COMM":"sshd","_EXE":"/usr/sbin/sshd","_SYSTEMD_UNIT":"ssh.service","_TRANSPORT":"syslog","_HOSTNAME":"bastion","MESSAGE":"Failed password for root from 203.0.113.9 port 50022 ssh2"}"#,
        );
        assert_eq!(v["action"], "auth.login");
        assert_eq!(v["outcome"], "failure");
        assert_eq!(
            v["actor"],
            json!({"id": "root", "ip": "203.0.113.9", "type": "user"})
        );
        assert_eq!(v["source"], json!({"host": "bastion", "app": "sshd"}));
        assert_eq!(v["severity"], "info");
        assert_eq!(v["time"], "2025-12-02T10:00:00.123456000Z");
        assert_eq!(v["metadata"]["journal"]["unit"], "ssh.service");
        assert_eq!(v["metadata"]["journal"]["pid"], "4011");
        assert!(v["metadata"]["journal"]["cursor"]
            .as_str()
            .unwrap()
            .starts_with("s=739ad"));
    }

    #[test]
    fn binary_messages_and_other_entries() {
        // MESSAGE as bytes (journalctl's form for a non-UTF-8 value).
        let v = ev(r#"{"__CURSOR":"c1","MESSAGE":[104,105,255],"_COMM":"app"}"#);
        assert_eq!(v["action"], "journal.message");
        assert_eq!(v["message"], "hi\\xff");
        assert_eq!(v["metadata"]["journal"]["message_escaped"], true);
        assert_eq!(v["source"], json!({"host": "fallback", "app": "app"}));
        // No cursor, not JSON: errors the caller keeps as unparsed events.
        assert_eq!(
            to_event(br#"{"MESSAGE":"x"}"#, "h"),
            Err(JournalError::NoCursor)
        );
        let err = to_event(b"-- No entries --", "h").unwrap_err();
        let u = unparsed_event(b"-- No entries --", &err, "h");
        Event::parse(&u).unwrap();
    }
}

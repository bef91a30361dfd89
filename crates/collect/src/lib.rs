//! veritrail-collect: what the collectors need that is not I/O — RFC 6587
//! framing ([`framing`]), syslog messages into audit events ([`syslog`]),
//! the kernel audit log's records assembled and mapped ([`auditd`]),
//! journal entries ([`journal`]), file-integrity watching's scans,
//! bursts and changes ([`watch`]), the recognizers of security events in
//! message text ([`recognize`]), and the kernel's count of dropped UDP
//! datagrams ([`kernel`]). Pure — no sockets, no files, no clock — but for
//! [`kernel::udp_drops`], which reads `/proc`; tested with real sample
//! lines and fuzzed.

#![forbid(unsafe_code)]

pub mod auditd;
pub mod framing;
pub mod journal;
pub mod kernel;
pub mod recognize;
pub mod syslog;
pub mod watch;

/// `t` (RFC 3339) when the event model takes it as an event's `time`
/// (a year the sender made up, such as 18002, it does not).
pub(crate) fn event_time(t: String) -> Option<String> {
    veritrail_core::Timestamp::parse_rfc3339(&t).ok().map(|_| t)
}

/// The bytes of an event a collector mapped, with empty optional strings
/// dropped (a `message`, a `target` or a `source` part with nothing in
/// it) and an empty actor named `unknown`. Every mapping here makes events
/// the event model accepts (each is tested, and fuzzed); [`checked`]
/// proves it where a refusal would cost more than the check.
pub(crate) fn finish(mut ev: serde_json::Value, _family: &str) -> Vec<u8> {
    use serde_json::Value;
    let empty = |v: &Value| v.as_str().is_some_and(|s| s.trim().is_empty());
    if let Some(m) = ev.as_object_mut() {
        if m.get("message").is_some_and(empty) {
            m.remove("message");
        }
        if m.get("target")
            .is_some_and(|t| t.get("id").is_none_or(empty))
        {
            m.remove("target");
        }
        if let Some(Value::Object(src)) = m.get_mut("source") {
            src.retain(|_, v| !empty(v));
            if src.is_empty() {
                m.remove("source");
            }
        }
        if let Some(Value::Object(actor)) = m.get_mut("actor") {
            if actor.get("id").is_none_or(empty) {
                actor.insert("id".into(), Value::from("unknown"));
            }
            actor.retain(|k, v| k == "id" || !empty(v));
        }
    }
    serde_json::to_vec(&ev).expect("JSON")
}

/// `event` when the event model accepts it; else (a bug in a mapping, or
/// input no test imagined) what [`refused`] makes of it. The syslog
/// listeners and the forwarder leave the check to the server (whose
/// refusal names the event, which they then replace); `veritrail watch`,
/// whose events are few, checks each.
pub fn checked(event: Vec<u8>, family: &str) -> Vec<u8> {
    match veritrail_core::Event::parse(&event) {
        Ok(_) => event,
        Err(why) => refused(&event, &why.to_string(), family),
    }
}

/// The event stored instead of one the event model refused:
/// `<family>.unparsed`, with the refusal and the refused event (cut) in
/// `metadata.<family>` — kept, never dropped.
pub fn refused(event: &[u8], why: &str, family: &str) -> Vec<u8> {
    let mapped = String::from_utf8_lossy(event);
    let mut end = mapped.len().min(16 * 1024);
    while !mapped.is_char_boundary(end) {
        end -= 1;
    }
    let mut why_end = why.len().min(1024);
    while !why.is_char_boundary(why_end) {
        why_end -= 1;
    }
    serde_json::to_vec(&serde_json::json!({
        "action": format!("{family}.unparsed"),
        "actor": {"id": "unknown", "type": "collector"},
        "metadata": {family: {"refused": &why[..why_end], "mapped": &mapped[..end]}},
    }))
    .expect("JSON")
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    #[test]
    fn finish_cleans_and_checked_keeps_what_the_model_refuses_as_unparsed() {
        let ev = json!({
            "action": "x.y",
            "actor": {"id": "", "ip": ""},
            "message": " ",
            "target": {"type": "file", "id": ""},
            "source": {"host": "", "app": "a"},
        });
        let v: Value = serde_json::from_slice(&super::finish(ev, "test")).unwrap();
        assert_eq!(
            v,
            json!({"action": "x.y", "actor": {"id": "unknown"}, "source": {"app": "a"}})
        );
        // What the model refuses is kept, marked, with why.
        let ev = serde_json::to_vec(&json!({"action": "not a verb", "actor": "a"})).unwrap();
        let v: Value = serde_json::from_slice(&super::checked(ev, "test")).unwrap();
        assert_eq!(v["action"], "test.unparsed");
        assert!(v["metadata"]["test"]["refused"]
            .as_str()
            .unwrap()
            .contains("action"));
        assert!(v["metadata"]["test"]["mapped"]
            .as_str()
            .unwrap()
            .contains("not a verb"));
    }
}

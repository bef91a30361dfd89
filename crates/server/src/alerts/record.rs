//! An alert as evidence: the `alert.fired` event appended to `_system`
//! (docs/ALERTS.md "Alerts are evidence"), and read back from it.

use serde_json::{json, Value};
use veritrail_core::{Event, Timestamp};
use veritrail_rules::file::Severity;
use veritrail_rules::{Action, Alert};

/// The event model's severity (syslog's) for a rule's severity.
fn event_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "critical",
        Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low => "notice",
        Severity::Info => "info",
    }
}

/// How an action is written in the record.
pub fn action_name(a: &Action) -> String {
    match a {
        Action::Stderr => "stderr".into(),
        Action::Webhook(n) => format!("webhook:{n}"),
    }
}

/// The canonical `alert.fired` event for `alert`, received at `now`.
///
/// # Panics
/// If the event does not fit the model (it is built to fit).
pub fn alert_event(alert: &Alert, now: Timestamp) -> Vec<u8> {
    let triggers: Vec<Value> = alert
        .triggers
        .iter()
        .map(|t| json!({"log": t.log, "index": t.index, "leaf_hash": t.leaf_hash}))
        .collect();
    let mut metadata = json!({
        "rule": alert.rule,
        "kind": alert.kind,
        "severity": alert.severity.as_str(),
        "rules_version": alert.version,
        "group": alert.group,
        "fired_at": Timestamp::from_unix_nanos(alert.fired_at_ns).to_rfc3339_nanos(),
        "triggers": triggers,
        "trigger_count": alert.trigger_count,
        "suppressed": alert.suppressed,
        "actions": alert.actions.iter().map(action_name).collect::<Vec<_>>(),
    });
    if !alert.description.is_empty() {
        metadata["description"] = json!(alert.description);
    }
    let ev = json!({
        "action": "alert.fired",
        "actor": {"id": "veritrail", "type": "system"},
        "source": {"app": "veritrail-server"},
        "target": {"type": "rule", "id": alert.rule},
        "severity": event_severity(alert.severity),
        "message": alert.summary,
        "metadata": metadata,
    });
    let bytes = serde_json::to_vec(&ev).expect("JSON");
    Event::parse(&bytes)
        .and_then(|e| e.into_canonical(now))
        .expect("an alert record fits the event model")
}

/// What names an alert in a stored `alert.fired` (see [`Alert::key`]).
pub type Key = (String, Vec<String>, Option<(String, u64)>);

/// The key of a stored `alert.fired` event, or `None` for another event.
pub fn stored_key(entry: &[u8]) -> Option<Key> {
    let v: Value = serde_json::from_slice(entry).ok()?;
    if v["action"] != "alert.fired" {
        return None;
    }
    let m = &v["metadata"];
    let group = m["group"]
        .as_object()?
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    let last = m["triggers"]
        .as_array()?
        .last()
        .and_then(|t| Some((t["log"].as_str()?.to_owned(), t["index"].as_u64()?)));
    Some((m["rule"].as_str()?.to_owned(), group, last))
}

/// The actions a stored `alert.fired` names, or `None` for another event.
pub fn stored_actions(entry: &[u8]) -> Option<(Value, Vec<String>)> {
    let v: Value = serde_json::from_slice(entry).ok()?;
    if v["action"] != "alert.fired" {
        return None;
    }
    let actions = v["metadata"]["actions"]
        .as_array()?
        .iter()
        .filter_map(|a| a.as_str().map(str::to_owned))
        .collect();
    Some((v, actions))
}

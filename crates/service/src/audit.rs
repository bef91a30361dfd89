//! The `_system` audit trail: who read, exported or changed what is
//! evidence too (docs/API.md "The _system log"). One writer for every edge:
//! the server records reads, token changes and its own start and stop; the
//! command line records offline token changes and exports.
//!
//! Records are events like any other (`action`, `actor`, `source`,
//! `target`, `metadata`), canonicalized and appended to `_system`, and
//! durable before the caller goes on: a read whose record cannot be stored
//! is refused.

use std::net::IpAddr;

use serde_json::{json, Value};
use veritrail_core::{Event, EventError, Timestamp};
use veritrail_store::datadir::SYSTEM_LOG;
use veritrail_store::{Log, PreparedBatch, StoreError};

use crate::error::{Result, ServiceError};
use crate::tokens::Token;

/// Who did what is recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    /// A token ID, a user name, `anonymous`, …
    pub id: String,
    /// `token`, `anonymous`, `cli`, …
    pub kind: String,
    /// A label, if any (a token's name).
    pub name: Option<String>,
    /// Where the request came from, if known.
    pub ip: Option<IpAddr>,
}

impl Actor {
    /// The holder of `token` (or an anonymous caller), from `ip`.
    pub fn caller(token: Option<&Token>, ip: Option<IpAddr>) -> Actor {
        match token {
            Some(t) => Actor {
                id: t.id.clone(),
                kind: "token".into(),
                name: Some(t.name.clone()).filter(|n| !n.is_empty()),
                ip,
            },
            None => Actor {
                id: "anonymous".into(),
                kind: "anonymous".into(),
                name: None,
                ip,
            },
        }
    }

    /// veritrail itself (recovery, integrity findings).
    pub fn system() -> Actor {
        Actor {
            id: "veritrail".into(),
            kind: "system".into(),
            name: None,
            ip: None,
        }
    }

    /// The person running a command, by user name.
    pub fn cli(user: &str) -> Actor {
        Actor {
            id: user.to_owned(),
            kind: "cli".into(),
            name: None,
            ip: None,
        }
    }
}

/// One record of the trail.
#[derive(Clone, Debug)]
pub struct AuditRecord<'a> {
    /// Dotted action, e.g. `evidence.read`, `token.create`.
    pub action: &'a str,
    /// Who.
    pub actor: Actor,
    /// The program that records it: `veritrail-server`, `veritrail-cli`.
    pub app: &'a str,
    /// The log concerned, if any.
    pub target: Option<&'a str>,
    /// What else (omitted when empty).
    pub metadata: Value,
}

impl AuditRecord<'_> {
    /// The record's event (not yet canonical).
    pub fn to_event(&self) -> Value {
        let mut actor = json!({"id": self.actor.id, "type": self.actor.kind});
        if let Some(n) = &self.actor.name {
            actor["name"] = json!(n);
        }
        if let Some(ip) = self.actor.ip {
            actor["ip"] = json!(ip.to_string());
        }
        let mut ev = json!({"action": self.action, "actor": actor, "source": {"app": self.app}});
        if let Some(t) = self.target {
            ev["target"] = json!({"type": "log", "id": t});
        }
        if self.metadata.as_object().is_some_and(|m| !m.is_empty()) {
            ev["metadata"] = self.metadata.clone();
        }
        ev
    }

    /// The canonical bytes stored, received at `now`.
    ///
    /// # Errors
    /// The event model refuses it (a bad action, a float in metadata).
    pub fn canonical(&self, now: Timestamp) -> Result<Vec<u8>, EventError> {
        let bytes = serde_json::to_vec(&self.to_event()).expect("a JSON value serializes");
        Event::parse(&bytes).and_then(|e| e.into_canonical(now))
    }
}

/// The current time, the `received_at` stamp.
pub fn now() -> Timestamp {
    Timestamp::from_unix_nanos(i128::from(veritrail_store::now_nanos()))
}

fn refused(e: EventError) -> ServiceError {
    ServiceError::Store(StoreError::BadBatch(format!(
        "an audit record does not fit the event model: {e}"
    )))
}

/// Appends `record` to `system` (the `_system` log) and returns once it is
/// durable, with its index and stored bytes.
///
/// # Errors
/// The record does not fit the event model; the log's errors.
pub fn record_blocking(system: &Log, record: &AuditRecord<'_>) -> Result<(u64, Vec<u8>)> {
    debug_assert_eq!(system.name(), SYSTEM_LOG);
    let canonical = record.canonical(now()).map_err(refused)?;
    let r = system.append(std::slice::from_ref(&canonical))?;
    Ok((r.first_index, canonical))
}

/// Like [`record_blocking`], without blocking a thread while the record is
/// made durable.
///
/// # Errors
/// As [`record_blocking`]; `Closed` when the log stops first.
pub async fn record(system: &Log, record: &AuditRecord<'_>) -> Result<u64> {
    let canonical = record.canonical(now()).map_err(refused)?;
    let batch = PreparedBatch::new(&[canonical])?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    system.append_prepared(batch, move |r| {
        let _ = tx.send(r);
    });
    match rx.await {
        Ok(r) => Ok(r?.first_index),
        Err(_) => Err(StoreError::Closed(SYSTEM_LOG.into()).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape the server and the command line have always stored.
    #[test]
    fn records_keep_their_shape() {
        let r = AuditRecord {
            action: "evidence.read",
            actor: Actor {
                id: "tok_1".into(),
                kind: "token".into(),
                name: Some("ci".into()),
                ip: Some("192.0.2.1".parse().unwrap()),
            },
            app: "veritrail-server",
            target: Some("default"),
            metadata: json!({"index": 3}),
        };
        let c = r.canonical(Timestamp::default()).unwrap();
        assert_eq!(
            String::from_utf8(c).unwrap(),
            r#"{"action":"evidence.read","actor":{"id":"tok_1","ip":"192.0.2.1","name":"ci","type":"token"},"metadata":{"index":3},"received_at":"1970-01-01T00:00:00.000000000Z","source":{"app":"veritrail-server"},"target":{"id":"default","type":"log"}}"#
        );
        let bare = AuditRecord {
            actor: Actor::caller(None, None),
            target: None,
            metadata: json!({}),
            ..r
        };
        let v: Value =
            serde_json::from_slice(&bare.canonical(Timestamp::default()).unwrap()).unwrap();
        assert_eq!(v["actor"], json!({"id": "anonymous", "type": "anonymous"}));
        assert!(v.get("metadata").is_none() && v.get("target").is_none());
    }
}

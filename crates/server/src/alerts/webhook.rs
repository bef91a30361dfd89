//! Webhook delivery: one thread per webhook, alerts in `_system` order.
//!
//! What to deliver is read from `_system` itself — the `alert.fired`
//! records naming `webhook:NAME` — so an alert is not lost across a
//! restart: each webhook keeps a cursor (`<data>/cursors/_system/webhook-NAME`)
//! past the last record it finished with, and after a restart delivers
//! what lies between it and the end. While running, new alerts come
//! straight from the rule runner, without waiting for a checkpoint.
//!
//! A delivery is a POST with the alert as JSON (or `{"text": …}` for
//! Slack and Teams) and, with a secret, `X-Veritrail-Signature:
//! t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`. A failed
//! attempt (no answer within the timeout, or a status outside 2xx) is
//! retried after 250 ms, 500 ms, 1 s, … (at most 60 s apart) until
//! `max_attempts`; then `alert.undelivered` is recorded in `_system` and
//! the next alert goes. At least once: a receiver deduplicates by
//! `X-Veritrail-Delivery` (the `_system` index).

use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use veritrail_rules::{Webhook, WebhookFormat};
use veritrail_service::audit::{record_blocking, Actor, AuditRecord};
use veritrail_service::cursor::Cursor;
use veritrail_service::store::datadir::SYSTEM_LOG;

use super::Inner;

/// First wait between attempts; doubled each time, at most [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// Longest wait between attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// The body a webhook receives for the stored `alert.fired` at `index`.
pub fn body(format: WebhookFormat, index: u64, leaf_hash: &str, event: &Value) -> Vec<u8> {
    let m = &event["metadata"];
    let v = match format {
        WebhookFormat::Json => json!({
            "system_index": index,
            "leaf_hash": leaf_hash,
            "rule": m["rule"],
            "severity": m["severity"],
            "summary": event["message"],
            "group": m["group"],
            "fired_at": m["fired_at"],
            "event": event,
        }),
        WebhookFormat::Slack => json!({
            "text": format!(
                "[{}] {} (veritrail _system #{index})",
                m["severity"].as_str().unwrap_or("?").to_uppercase(),
                event["message"].as_str().unwrap_or_default()
            ),
        }),
    };
    serde_json::to_vec(&v).expect("JSON")
}

/// `t=<t>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub fn signature(secret: &[u8], t: u64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

fn attempt(w: &Webhook, index: u64, body: &[u8]) -> Result<(), String> {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_nanos(w.timeout_ns.max(1) as u64))
        .build();
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut req = agent
        .post(&w.url)
        .set("Content-Type", "application/json")
        .set("User-Agent", "veritrail-alerts")
        .set("X-Veritrail-Delivery", &index.to_string())
        .set("X-Veritrail-Timestamp", &t.to_string());
    if !w.secret.is_empty() {
        req = req.set("X-Veritrail-Signature", &signature(&w.secret, t, body));
    }
    match req.send_bytes(body) {
        Ok(r) if (200..300).contains(&r.status()) => Ok(()),
        Ok(r) => Err(format!("answered {}", r.status())),
        Err(ureq::Error::Status(code, _)) => Err(format!("answered {code}")),
        Err(e) => Err(e.to_string()),
    }
}

/// Delivers one alert, retrying; `false` when it gave up or was stopped.
fn deliver(inner: &Inner, name: &str, index: u64, leaf_hash: &str, event: &Value) -> bool {
    let mut backoff = FIRST_BACKOFF;
    let mut tries = 0u32;
    loop {
        let Some(w) = inner.webhook(name) else {
            return false;
        };
        let b = body(w.format, index, leaf_hash, event);
        tries += 1;
        match attempt(&w, index, &b) {
            Ok(()) => {
                inner.stats.delivered.fetch_add(1, Ordering::Relaxed);
                return true;
            }
            Err(why) => {
                inner
                    .stats
                    .delivery_failures
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!(webhook = name, index, attempt = tries, error = %why, "webhook delivery failed");
                if tries >= w.max_attempts {
                    let rec = AuditRecord {
                        action: "alert.undelivered",
                        actor: Actor::system(),
                        app: "veritrail-server",
                        target: None,
                        metadata: json!({"webhook": name, "system_index": index, "attempts": tries, "last_error": why}),
                    };
                    if let Ok(system) = inner.service.log(SYSTEM_LOG) {
                        let _ = record_blocking(&system, &rec);
                    }
                    return false;
                }
            }
        }
        let deadline = std::time::Instant::now() + backoff;
        while std::time::Instant::now() < deadline {
            if inner.stop.load(Ordering::Acquire) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20).min(backoff));
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// The delivery thread of webhook `name`: catches up from its cursor to
/// `start_end` (the `_system` size when its channel was opened), then
/// delivers what the runner sends.
pub fn run(inner: Arc<Inner>, name: String, rx: Receiver<(u64, Vec<u8>)>, start_end: u64) {
    let data = inner.service.data().clone();
    let cursor = match Cursor::of(&data, SYSTEM_LOG, &format!("webhook-{name}")) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(webhook = %name, error = %e, "webhook cursor");
            return;
        }
    };
    let tag = format!("webhook:{name}");
    let mut position = if cursor.exists() {
        cursor.load().unwrap_or(start_end)
    } else {
        // A new webhook starts with the alerts to come.
        let _ = cursor.save(start_end);
        start_end
    };
    let finish = |position: u64| {
        if let Err(e) = cursor.save(position) {
            tracing::error!(webhook = %name, error = %e, "could not save the webhook's cursor");
        }
    };
    // Catch up from `_system` itself.
    if position < start_end {
        if let Ok(system) = inner.service.log(SYSTEM_LOG) {
            let _ = system.wait_for_checkpoint(start_end, Duration::from_secs(10));
            let mut sub = system.subscribe(position).with_chunk(1000);
            while sub.position() < start_end && !inner.stop.load(Ordering::Acquire) {
                let Ok(Some(d)) = sub.next(Duration::from_secs(1)) else {
                    break;
                };
                for (index, e, leaf) in d.iter() {
                    if index >= start_end {
                        break;
                    }
                    if let Some((ev, actions)) = super::record::stored_actions(e) {
                        if actions.contains(&tag) {
                            let leaf = leaf.to_base64();
                            if !deliver(&inner, &name, index, &leaf, &ev)
                                && inner.stop.load(Ordering::Acquire)
                            {
                                return;
                            }
                        }
                    }
                    position = index + 1;
                    finish(position);
                }
            }
        }
    }
    loop {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok((index, entry)) => {
                if index < position {
                    continue;
                }
                if let Some((ev, _)) = super::record::stored_actions(&entry) {
                    let leaf = veritrail_core::leaf_hash(&entry).to_base64();
                    if !deliver(&inner, &name, index, &leaf, &ev)
                        && inner.stop.load(Ordering::Acquire)
                    {
                        return;
                    }
                }
                position = index + 1;
                finish(position);
            }
            Err(RecvTimeoutError::Timeout) => {
                if inner.stop.load(Ordering::Acquire) {
                    return;
                }
            }
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

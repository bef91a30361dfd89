//! What the server remembers between requests, beside the logs: the last
//! review of each log and the alerts acknowledged since it started. Kept in
//! [`crate::state::AppState`]; the handlers that fill them (reviews, acks)
//! and the rules that read them depend on this module, not on each other.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde_json::Value;

/// The last review of each log: (entries reviewed up to, when in Unix
/// nanoseconds), kept as reviews are recorded (and found at start), for the
/// `not_reviewed` integrity rule.
#[derive(Default)]
pub struct LastReviews {
    map: Mutex<BTreeMap<String, (u64, i128)>>,
}

impl LastReviews {
    /// Notes a review of `log` up to `to` at `at_ns`.
    pub fn note(&self, log: &str, to: u64, at_ns: i128) {
        let mut m = self.map.lock().expect("reviews lock");
        let e = m.entry(log.to_owned()).or_insert((to, at_ns));
        if at_ns >= e.1 {
            *e = (e.0.max(to), at_ns);
        }
    }

    /// The last review of `log`.
    pub fn get(&self, log: &str) -> Option<(u64, i128)> {
        self.map.lock().expect("reviews lock").get(log).copied()
    }
}

/// Acknowledgements made since this server started, by alert index: a
/// second one is refused before the query index has seen the first.
#[derive(Default)]
pub struct RecentAcks(Mutex<BTreeMap<u64, Value>>);

impl RecentAcks {
    /// The acknowledgement of alert `i`, if one was made since the start.
    pub fn get(&self, i: u64) -> Option<Value> {
        self.0.lock().expect("acks lock").get(&i).cloned()
    }

    /// Claims alert `i` for `pending`; false if it is already claimed.
    pub fn claim(&self, i: u64, pending: Value) -> bool {
        let mut m = self.0.lock().expect("acks lock");
        if m.contains_key(&i) {
            return false;
        }
        m.insert(i, pending);
        true
    }

    /// Replaces the claim on `i` with the recorded acknowledgement.
    pub fn done(&self, i: u64, ack: Value) {
        self.0.lock().expect("acks lock").insert(i, ack);
    }

    /// Gives up the claim on `i` (recording it failed).
    pub fn release(&self, i: u64) {
        self.0.lock().expect("acks lock").remove(&i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_reviews_keep_the_newest() {
        let l = LastReviews::default();
        l.note("a", 10, 100);
        l.note("a", 5, 50);
        assert_eq!(l.get("a"), Some((10, 100)));
        l.note("a", 20, 200);
        assert_eq!(l.get("a"), Some((20, 200)));
        assert_eq!(l.get("b"), None);
    }

    #[test]
    fn an_alert_is_claimed_once() {
        let r = RecentAcks::default();
        assert!(r.claim(3, Value::Null));
        assert!(!r.claim(3, Value::Null));
        r.release(3);
        assert!(r.claim(3, Value::Null));
        r.done(3, serde_json::json!({"note": "x"}));
        assert_eq!(r.get(3), Some(serde_json::json!({"note": "x"})));
        assert_eq!(r.get(4), None);
    }
}

//! Each rule kind against scripted events on an injected clock (the events'
//! `received_at` and the `now` given to `tick`), edges included.

use std::sync::Arc;

use veritrail_core::Timestamp;
use veritrail_rules::engine::LogHealth;
use veritrail_rules::{Alert, Engine, Health, Observed, RuleSet};

const S: i128 = 1_000_000_000;
/// 2026-12-02T10:00:00Z, a Wednesday.
const T0: i128 = 1_796_205_600 * S;

fn rules(text: &str) -> Arc<RuleSet> {
    Arc::new(RuleSet::parse("rules.toml", text, &|_| Err("none".into())).unwrap())
}

/// A log of events on the injected clock.
struct Script {
    index: u64,
    log: &'static str,
}

impl Script {
    fn new() -> Script {
        Script {
            index: 0,
            log: "default",
        }
    }

    fn event(&mut self, at: i128, fields: &str) -> (u64, Vec<u8>) {
        let ts = Timestamp::from_unix_nanos(at).to_rfc3339_nanos();
        let body = format!("{{{fields},\"received_at\":\"{ts}\"}}");
        let i = self.index;
        self.index += 1;
        (i, body.into_bytes())
    }

    fn feed(&mut self, e: &mut Engine, at: i128, fields: &str) -> Vec<Alert> {
        let (index, entry) = self.event(at, fields);
        e.observe(Observed {
            log: self.log,
            index,
            leaf_hash: leaf(index),
            entry: &entry,
        })
    }
}

fn leaf(i: u64) -> [u8; 32] {
    let mut h = [0u8; 32];
    h[..8].copy_from_slice(&i.to_be_bytes());
    h
}

/// A small LCG from `x`: each call gives a number below its argument.
fn lcg(mut x: u64) -> impl FnMut(u64) -> u64 {
    move |n| {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (x >> 33) % n
    }
}

/// What a restart makes of `e`: its saved state restored into a new
/// engine, which replays the events of `before` (all of the log so far)
/// from where `e` said its windows begin.
fn restarted(e: &Engine, set: &Arc<RuleSet>, before: &[(i128, (u64, Vec<u8>))]) -> Engine {
    let saved = e.save();
    let from = e.rebuild_from("default");
    let mut e2 = Engine::new(set.clone());
    e2.restore(&saved);
    for (_, (j, c)) in before.iter().filter(|(_, (j, _))| Some(*j) >= from) {
        e2.replay(Observed {
            log: "default",
            index: *j,
            leaf_hash: leaf(*j),
            entry: c,
        });
    }
    e2
}

const FAIL: &str =
    r#""action":"auth.login","outcome":"failure","actor":{"id":"root","ip":"192.0.2.9"}"#;
const FAIL_OTHER_IP: &str =
    r#""action":"auth.login","outcome":"failure","actor":{"id":"root","ip":"198.51.100.1"}"#;
const OK: &str =
    r#""action":"auth.login","outcome":"success","actor":{"id":"root","ip":"192.0.2.9"}"#;

const BRUTE: &str = r#"
[[rule]]
name = "brute"
kind = "threshold"
match = { action = "auth.login", outcome = "failure" }
group_by = ["actor.ip"]
count = 5
window = "60s"
cooldown = "10m"
"#;

#[test]
fn threshold_counts_per_group_within_a_sliding_window() {
    let mut e = Engine::new(rules(BRUTE));
    let mut s = Script::new();
    // Four failures, then the fifth 60 s after the first: the window is
    // [t-60s, t], the first has left it (a boundary is outside).
    for k in 0..4 {
        assert!(s.feed(&mut e, T0 + k * S, FAIL).is_empty());
    }
    assert!(
        s.feed(&mut e, T0 + 60 * S, FAIL).is_empty(),
        "the first left the window at exactly 60 s"
    );
    // Another address does not count towards this one.
    assert!(s.feed(&mut e, T0 + 60 * S, FAIL_OTHER_IP).is_empty());
    let a = s.feed(&mut e, T0 + 60 * S + S / 2, FAIL);
    assert_eq!(a.len(), 1);
    let a = &a[0];
    assert_eq!(a.rule, "brute");
    assert_eq!(a.group["actor.ip"], "192.0.2.9");
    let idx: Vec<u64> = a.triggers.iter().map(|t| t.index).collect();
    assert_eq!(idx, vec![1, 2, 3, 4, 6], "the five in the window, by index");
    assert_eq!(
        a.triggers[0].leaf_hash,
        veritrail_core::Hash(leaf(1)).to_base64()
    );
    assert!(
        a.summary
            .contains("5 matching events within 1m for actor.ip=192.0.2.9"),
        "{}",
        a.summary
    );
    // Cool-down: five more within 10 minutes make no alert, and are counted.
    for k in 0..5 {
        assert!(s.feed(&mut e, T0 + 120 * S + k * S, FAIL).is_empty());
    }
    // After the cool-down, five more: one alert saying one was suppressed.
    let mut fired = Vec::new();
    for k in 0..5 {
        fired.extend(s.feed(&mut e, T0 + 700 * S + k * S, FAIL));
    }
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].suppressed, 1);
}

#[test]
fn match_rule_with_an_off_hours_window_on_either_clock() {
    let set = rules(
        r#"
[[rule]]
name = "off-hours-admin"
kind = "match"
match = { action = "privilege.*" }
outside = { hours = "08:00-18:00", weekdays = ["mon", "tue", "wed", "thu", "fri"] }
cooldown = "0s"

[[rule]]
name = "claimed-at-night"
kind = "match"
match = { action = "privilege.*" }
during = { hours = "22:00-06:00" }
clock = "time"
cooldown = "0s"
"#,
    );
    let mut e = Engine::new(set);
    let mut s = Script::new();
    let sudo = r#""action":"privilege.sudo","actor":"alice""#;
    assert!(
        s.feed(&mut e, T0, sudo).is_empty(),
        "Wednesday 10:00 is working time"
    );
    let night = s.feed(&mut e, T0 + 13 * 3600 * S, sudo);
    assert_eq!(night.len(), 1, "Wednesday 23:00 is not");
    assert_eq!(night[0].rule, "off-hours-admin");
    assert!(s
        .feed(
            &mut e,
            T0 + 13 * 3600 * S,
            r#""action":"auth.login","actor":"alice""#
        )
        .is_empty());
    // Received at 10:00, but the event says it happened at 23:30 the day
    // before: received_at out of order with time.
    let a = s.feed(
        &mut e,
        T0 + 60 * S,
        r#""action":"privilege.sudo","actor":"bob","time":"2026-12-01T23:30:00Z""#,
    );
    assert_eq!(
        a.iter().map(|a| a.rule.as_str()).collect::<Vec<_>>(),
        vec!["claimed-at-night"]
    );
}

#[test]
fn sequence_failures_then_success_for_the_same_actor() {
    let set = rules(
        r#"
[[rule]]
name = "guessed"
kind = "sequence"
group_by = ["actor.id"]
within = "5m"
steps = [
  { match = { action = "auth.login", outcome = "failure" }, count = 3 },
  { match = { action = "auth.login", outcome = "success" } },
]
"#,
    );
    let mut e = Engine::new(set);
    let mut s = Script::new();
    // Two failures then a success: not enough.
    s.feed(&mut e, T0, FAIL);
    s.feed(&mut e, T0 + S, FAIL);
    assert!(s.feed(&mut e, T0 + 2 * S, OK).is_empty());
    // A success before the third failure does not end the sequence: three
    // failures (a fourth is more of the same step), then success.
    s.feed(&mut e, T0 + 10 * S, FAIL);
    s.feed(&mut e, T0 + 11 * S, FAIL);
    s.feed(&mut e, T0 + 12 * S, FAIL);
    s.feed(&mut e, T0 + 13 * S, FAIL);
    let a = s.feed(&mut e, T0 + 14 * S, OK);
    assert_eq!(a.len(), 1);
    let idx: Vec<u64> = a[0].triggers.iter().map(|t| t.index).collect();
    assert_eq!(idx, vec![0, 1, 3, 4, 5, 6, 7]);
    assert_eq!(a[0].group["actor.id"], "root");
    // Too slow: three failures, the success 5 min and 1 s after the first.
    let mut e2 = Engine::new(rules(
        r#"
[[rule]]
name = "guessed"
kind = "sequence"
group_by = ["actor.id"]
within = "5m"
steps = [
  { match = { action = "auth.login", outcome = "failure" }, count = 3 },
  { match = { action = "auth.login", outcome = "success" } },
]
"#,
    ));
    for k in 0..3 {
        s.feed(&mut e2, T0 + k * S, FAIL);
    }
    assert!(s.feed(&mut e2, T0 + 301 * S, OK).is_empty());
}

#[test]
fn new_value_remembers_within_its_bound() {
    let set = rules(
        r#"
[[rule]]
name = "new-ip"
kind = "new_value"
match = { action = "auth.login", outcome = "success" }
group_by = ["actor.id"]
field = "actor.ip"
memory = 2
cooldown = "0s"
"#,
    );
    let mut e = Engine::new(set);
    let mut s = Script::new();
    let login = |ip: &str, who: &str| {
        format!(r#""action":"auth.login","outcome":"success","actor":{{"id":"{who}","ip":"{ip}"}}"#)
    };
    assert!(
        s.feed(&mut e, T0, &login("192.0.2.1", "alice")).is_empty(),
        "the first value is learned"
    );
    assert!(s
        .feed(&mut e, T0 + S, &login("192.0.2.1", "alice"))
        .is_empty());
    let a = s.feed(&mut e, T0 + 2 * S, &login("203.0.113.5", "alice"));
    assert_eq!(a.len(), 1);
    assert!(
        a[0].summary
            .contains("new actor.ip \"203.0.113.5\" for actor.id=alice"),
        "{}",
        a[0].summary
    );
    // Memory holds 2: a third value pushes out the oldest (192.0.2.1).
    assert!(
        s.feed(&mut e, T0 + 3 * S, &login("192.0.2.1", "bob"))
            .is_empty(),
        "bob's first"
    );
    assert_eq!(
        s.feed(&mut e, T0 + 4 * S, &login("192.0.2.1", "alice"))
            .len(),
        1,
        "forgotten, so new again"
    );
    // Saved and restored: remembered values survive.
    let saved = e.save();
    let mut e2 = Engine::new(e.rules().clone());
    e2.restore(&saved);
    assert!(s
        .feed(&mut e2, T0 + 5 * S, &login("192.0.2.1", "alice"))
        .is_empty());
}

#[test]
fn absence_fires_once_per_silence() {
    let set = rules(
        r#"
[[rule]]
name = "silent-host"
kind = "absence"
group_by = ["source.host"]
after = "10m"
expect = ["db-1"]
cooldown = "0s"
"#,
    );
    let mut e = Engine::new(set);
    let mut s = Script::new();
    let h = Health::default();
    assert!(e.tick(T0, &h).is_empty(), "db-1 expected from now");
    s.feed(
        &mut e,
        T0 + S,
        r#""action":"x","actor":"a","source":{"host":"web-1"}"#,
    );
    assert!(e.tick(T0 + 599 * S, &h).is_empty());
    let a = e.tick(T0 + 600 * S, &h);
    assert_eq!(a.len(), 1, "db-1, silent since the start");
    assert_eq!(a[0].group["source.host"], "db-1");
    assert!(a[0].triggers.is_empty());
    let a = e.tick(T0 + 601 * S, &h);
    assert_eq!(a.len(), 1, "web-1, silent 10 min after its last event");
    assert_eq!(a[0].triggers[0].index, 0, "its last event is named");
    assert!(
        e.tick(T0 + 2000 * S, &h).is_empty(),
        "one alert per silence"
    );
    s.feed(
        &mut e,
        T0 + 2001 * S,
        r#""action":"x","actor":"a","source":{"host":"web-1"}"#,
    );
    assert!(e.tick(T0 + 2600 * S, &h).is_empty());
    assert_eq!(
        e.tick(T0 + 2601 * S, &h).len(),
        1,
        "a new silence, a new alert"
    );
    // A silence in progress survives a restart, with its last event.
    s.feed(
        &mut e,
        T0 + 2700 * S,
        r#""action":"x","actor":"a","source":{"host":"web-2"}"#,
    );
    let saved = e.save();
    let mut e2 = Engine::new(e.rules().clone());
    e2.restore(&saved);
    let before = e.tick(T0 + 3400 * S, &h);
    let after = e2.tick(T0 + 3400 * S, &h);
    assert_eq!(before.len(), 1, "web-2 silent for 10 min");
    assert_eq!(after.len(), 1, "and after the restart too");
    assert_eq!(
        after[0].triggers, before[0].triggers,
        "naming the same event"
    );
    assert!(!after[0].triggers[0].leaf_hash.is_empty());
    assert!(e2.tick(T0 + 9000 * S, &h).is_empty(), "already alerted");
}

#[test]
fn integrity_conditions() {
    let set = rules(
        r#"
[[rule]]
name = "stalled"
kind = "integrity"
check = "checkpoint_stalled"
after = "2m"
cooldown = "0s"

[[rule]]
name = "disk"
kind = "integrity"
check = "disk_low"
min_free = "1GiB"

[[rule]]
name = "damaged"
kind = "integrity"
check = "verify_failed"
"#,
    );
    let mut e = Engine::new(set);
    let log = |durable, published, damaged: Option<&str>| Health {
        logs: vec![LogHealth {
            name: "default".into(),
            durable,
            published,
            storage_error: None,
            object_storage: None,
            damaged: damaged.map(str::to_owned),
            witnessed: None,
            reviewed: None,
        }],
        disk_free: Some(10 << 30),
    };
    assert!(e.tick(T0, &log(10, 10, None)).is_empty());
    assert!(
        e.tick(T0 + S, &log(20, 10, None)).is_empty(),
        "waiting, not yet stalled"
    );
    assert!(
        e.tick(T0 + 120 * S, &log(30, 10, None)).is_empty(),
        "entries have waited 119 s"
    );
    let a = e.tick(T0 + 121 * S, &log(30, 10, None));
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].group["log"], "default");
    assert!(
        e.tick(T0 + 200 * S, &log(40, 10, None)).is_empty(),
        "one alert per stall"
    );
    assert!(
        e.tick(T0 + 201 * S, &log(40, 40, None)).is_empty(),
        "recovered"
    );
    let mut h = log(40, 40, Some("entry 7 does not match its leaf hash"));
    h.disk_free = Some(1 << 20);
    let mut names: Vec<String> = e
        .tick(T0 + 202 * S, &h)
        .into_iter()
        .map(|a| a.rule)
        .collect();
    names.sort();
    assert_eq!(names, vec!["damaged", "disk"]);
}

#[test]
fn witness_lag_fires_when_the_witnessed_size_stops_moving_behind_the_log() {
    let set = rules(
        r#"
[[rule]]
name = "lag"
kind = "integrity"
check = "witness_lag"
after = "30s"
cooldown = "0s"
"#,
    );
    let mut e = Engine::new(set);
    let h = |published, witnessed| Health {
        logs: vec![LogHealth {
            name: "default".into(),
            durable: published,
            published,
            witnessed: Some(witnessed),
            ..LogHealth::default()
        }],
        disk_free: None,
    };
    // Witnesses a checkpoint behind, but keeping up: never an alert.
    for k in 0..100 {
        assert!(e
            .tick(T0 + k * S, &h(10 + k as u64 * 5, 10 + k as u64 * 5 - 5))
            .is_empty());
    }
    // The witnessed size stops at 505 while the log goes on.
    let t1 = T0 + 100 * S;
    assert!(e.tick(t1, &h(510, 505)).is_empty());
    let a = e.tick(t1 + 29 * S, &h(600, 505));
    assert!(a.is_empty(), "29 s: {a:?}");
    let a = e.tick(t1 + 31 * S, &h(610, 505));
    assert_eq!(a.len(), 1, "{a:?}");
    assert!(
        a[0].summary.contains("cosigned only 505"),
        "{}",
        a[0].summary
    );
    assert!(e.tick(t1 + 40 * S, &h(610, 610)).is_empty(), "caught up");
    // Review cycles: entries beyond the last review, for longer than `after`.
    let set = rules(
        "[[rule]]\nname = \"unreviewed\"\nkind = \"integrity\"\ncheck = \"not_reviewed\"\nafter = \"24h\"\n",
    );
    let mut r = Engine::new(set);
    let rv = |published, to, at| Health {
        logs: vec![LogHealth {
            name: "default".into(),
            durable: published,
            published,
            reviewed: Some((to, at)),
            ..LogHealth::default()
        }],
        disk_free: None,
    };
    assert!(r.tick(T0 + 3600 * S, &rv(100, 0, T0)).is_empty(), "1 h");
    assert!(
        r.tick(T0 + 90_000 * S, &rv(100, 100, T0)).is_empty(),
        "all reviewed"
    );
    let a = r.tick(T0 + 90_000 * S, &rv(150, 100, T0));
    assert_eq!(a.len(), 1, "{a:?}");
    assert!(
        a[0].summary.contains("entries 100..150"),
        "{}",
        a[0].summary
    );
    // No witnesses configured: nothing to lag.
    let mut none = h(700, 0);
    none.logs[0].witnessed = None;
    assert!(e.tick(t1 + 500 * S, &none).is_empty());
}

#[test]
fn a_reload_in_the_middle_of_a_window_keeps_unchanged_rules() {
    let mut e = Engine::new(rules(BRUTE));
    let mut s = Script::new();
    for k in 0..4 {
        s.feed(&mut e, T0 + k * S, FAIL);
    }
    // Same rule plus another: the window of four carries over.
    e.reload(rules(&format!(
        "{BRUTE}\n[[rule]]\nname = \"other\"\nkind = \"match\"\nmatch = {{ action = \"z\" }}\n"
    )));
    assert_eq!(s.feed(&mut e, T0 + 5 * S, FAIL).len(), 1);
    // A changed definition starts afresh.
    for k in 0..4 {
        s.feed(&mut e, T0 + 1000 * S + k * S, FAIL);
    }
    e.reload(rules(&BRUTE.replace("count = 5", "count = 6")));
    assert!(
        s.feed(&mut e, T0 + 1005 * S, FAIL).is_empty(),
        "a changed rule's window starts empty"
    );
}

/// A restart in the middle of a threshold window: the windows are rebuilt
/// by replaying from `rebuild_from` to the saved position, and the alert
/// fires exactly once — neither lost nor repeated.
#[test]
fn a_restart_mid_window_fires_exactly_once() {
    let set = rules(BRUTE);
    let mut s = Script::new();
    let mut events = Vec::new();
    for k in 0..3 {
        events.push(s.event(T0 + k * S, FAIL));
        events.push(s.event(T0 + k * S, OK));
    }
    let mut e = Engine::new(set.clone());
    for (i, b) in &events {
        assert!(e
            .observe(Observed {
                log: "default",
                index: *i,
                leaf_hash: leaf(*i),
                entry: b
            })
            .is_empty());
    }
    let position = s.index;
    let saved = e.save();
    let from = e.rebuild_from("default").expect("the window holds events");
    assert_eq!(from, 0);
    // Restart.
    let mut e2 = Engine::new(set);
    e2.restore(&saved);
    for (i, b) in events.iter().filter(|(i, _)| *i >= from && *i < position) {
        e2.replay(Observed {
            log: "default",
            index: *i,
            leaf_hash: leaf(*i),
            entry: b,
        });
    }
    assert!(
        s.feed(&mut e2, T0 + 10 * S, FAIL).is_empty(),
        "four in the window"
    );
    let a = s.feed(&mut e2, T0 + 11 * S, FAIL);
    assert_eq!(a.len(), 1, "the fifth fires, once");
    let idx: Vec<u64> = a[0].triggers.iter().map(|t| t.index).collect();
    assert_eq!(idx, vec![0, 2, 4, 6, 7]);
    // Replaying cannot alert.
    let mut e3 = Engine::new(rules(BRUTE));
    for (i, b) in &events {
        e3.replay(Observed {
            log: "default",
            index: *i,
            leaf_hash: leaf(*i),
            entry: b,
        });
    }
    assert!(e3.rebuild_from("default").is_some());
}

#[test]
fn a_distinct_threshold_counts_values_not_events() {
    let mut e = Engine::new(rules(
        r#"
[[rule]]
name = "spraying"
kind = "threshold"
match = { action = "auth.login", outcome = "failure" }
group_by = ["actor.ip"]
distinct = "actor.id"
count = 3
window = "5m"
"#,
    ));
    let mut s = Script::new();
    let f = |who: &str| {
        format!(
            r#""action":"auth.login","outcome":"failure","actor":{{"id":"{who}","ip":"203.0.113.9"}}"#
        )
    };
    assert!(s.feed(&mut e, T0, &f("alice")).is_empty());
    assert!(s.feed(&mut e, T0 + S, &f("alice")).is_empty());
    assert!(
        s.feed(&mut e, T0 + 2 * S, &f("bob")).is_empty(),
        "two actors in three events"
    );
    let a = s.feed(&mut e, T0 + 3 * S, &f("carol"));
    assert_eq!(a.len(), 1);
    assert!(
        a[0].summary.contains("3 distinct actor.id in 4 events"),
        "{}",
        a[0].summary
    );
}

/// Rules whose state changes alike with each event (a `sequence`, a
/// `new_value` or an `absence` that differ only in name, severity,
/// cool-down, actions, `after` or `first_is_new`) keep one state between
/// them. Sharing must change nothing: over pseudo-random traffic, with a
/// restart or two (save, restore, replay from `rebuild_from`), every
/// rule alerts exactly what it alerts when it runs alone.
#[test]
fn rules_that_share_a_state_alert_as_they_would_alone() {
    let defs = [
        r#"name = "seq-a"
kind = "sequence"
group_by = ["actor.id"]
within = "10m"
steps = [{ match = { action = "auth.login", outcome = "failure" }, count = 3 }, { match = { action = "auth.login", outcome = "success" } }]
cooldown = "0s""#,
        r#"name = "seq-b"
kind = "sequence"
group_by = ["actor.id"]
within = "10m"
steps = [{ match = { action = "auth.login", outcome = "failure" }, count = 3 }, { match = { action = "auth.login", outcome = "success" } }]
severity = "critical"
cooldown = "30m""#,
        r#"name = "new-a"
kind = "new_value"
match = { action = "auth.login", outcome = "success" }
group_by = ["actor.id"]
field = "actor.ip"
memory = 8
cooldown = "0s""#,
        r#"name = "new-b"
kind = "new_value"
match = { action = "auth.login", outcome = "success" }
group_by = ["actor.id"]
field = "actor.ip"
memory = 8
first_is_new = true
cooldown = "2m""#,
        r#"name = "new-c"
kind = "new_value"
match = { action = "auth.login", outcome = "success" }
group_by = ["actor.id"]
field = "actor.ip"
memory = 3
cooldown = "0s""#,
        r#"name = "quiet-a"
kind = "absence"
group_by = ["source.host"]
after = "5m"
expect = ["db-9"]
cooldown = "0s""#,
        r#"name = "quiet-b"
kind = "absence"
group_by = ["source.host"]
after = "12m"
expect = ["db-9"]
cooldown = "20m""#,
        r#"name = "quiet-c"
kind = "absence"
match = { action = "auth.login" }
group_by = ["source.host"]
after = "5m""#,
        r#"name = "brute"
kind = "threshold"
match = { action = "auth.login", outcome = "failure" }
group_by = ["actor.ip"]
count = 4
window = "5m"
cooldown = "0s""#,
    ];
    let file = |d: &[&str]| {
        rules(
            &d.iter()
                .map(|r| format!("[[rule]]\n{r}\n"))
                .collect::<String>(),
        )
    };
    let same = |x: &[Alert], y: &[Alert], what: &str| {
        if let Some(k) = (0..x.len().max(y.len())).find(|k| x.get(*k) != y.get(*k)) {
            panic!(
                "{what}: alert {k} of {} / {} differs:\n{:?}\n{:?}",
                x.len(),
                y.len(),
                x.get(k),
                y.get(k)
            );
        }
    };
    for seed in 1..=10u64 {
        // The same traffic for every engine of a seed.
        let mut next = lcg(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut s = Script::new();
        let mut events = Vec::new();
        let mut at = T0;
        for _ in 0..3000 {
            at += i128::from(next(90)) * S;
            let actor = next(4);
            let ip = next(6);
            let host = next(4);
            let what = match next(10) {
                0..=3 => "\"action\":\"auth.login\",\"outcome\":\"failure\"",
                4..=6 => "\"action\":\"auth.login\",\"outcome\":\"success\"",
                _ => "\"action\":\"file.read\"",
            };
            events.push((at, s.event(at, &format!(
                "{what},\"actor\":{{\"id\":\"u{actor}\",\"ip\":\"192.0.2.{ip}\"}},\"source\":{{\"host\":\"web-{host}\"}}"
            ))));
        }
        // Runs the traffic through an engine of `d`, restarting it halfway
        // or not.
        let run = |d: &[&str], restart: bool| -> Vec<Alert> {
            let set = file(d);
            let mut e = Engine::new(set.clone());
            let mut out = Vec::new();
            let h = Health::default();
            for (n, (at, (i, b))) in events.iter().enumerate() {
                let halt = n == events.len() / 3 || n == 2 * events.len() / 3;
                if halt {
                    // Enough ticks for the engine to prune what a replay
                    // cannot reach, right before a restart needs the rest.
                    for _ in 0..64 {
                        out.extend(e.tick(*at, &h));
                    }
                }
                if restart && halt {
                    e = restarted(&e, &set, &events[..n]);
                }
                out.extend(e.tick(*at, &h));
                out.extend(e.observe(Observed {
                    log: "default",
                    index: *i,
                    leaf_hash: leaf(*i),
                    entry: b,
                }));
            }
            for a in &mut out {
                a.version.clear();
            }
            out
        };
        let together = run(&defs, false);
        same(
            &run(&defs, true),
            &together,
            &format!("seed {seed}: with a restart / without"),
        );
        let mut fired = 0;
        for d in &defs {
            let name = d.lines().next().unwrap();
            let alone = run(&[d], false);
            same(
                &run(&[d], true),
                &alone,
                &format!("seed {seed}, {name} alone: with a restart / without"),
            );
            let shared: Vec<Alert> = together
                .iter()
                .filter(|a| format!("name = {:?}", a.rule) == name)
                .cloned()
                .collect();
            same(
                &shared,
                &alone,
                &format!("seed {seed}, {name}: together / alone"),
            );
            fired += alone.len();
        }
        assert_eq!(fired, together.len());
        assert!(
            fired > 50,
            "seed {seed}: the traffic makes the rules fire ({fired})"
        );
    }
}

/// A threshold window, sequence or cool-down of a group that stops coming
/// is forgotten once no later event could use it — otherwise memory and
/// every restart's replay (which starts at the oldest event a window
/// holds) would grow with every address that ever failed a login once.
/// Forgetting changes no alert: over traffic from many groups, ticking
/// (and so forgetting) after every event, never, and with restarts in
/// between all alert the same.
#[test]
fn idle_groups_are_forgotten_without_changing_an_alert() {
    let set = rules(
        r#"
[[rule]]
name = "brute"
kind = "threshold"
match = { action = "auth.login", outcome = "failure" }
group_by = ["actor.ip"]
count = 3
window = "5m"
cooldown = "10m"

[[rule]]
name = "spray"
kind = "threshold"
match = { action = "auth.login", outcome = "failure" }
group_by = ["actor.ip"]
distinct = "actor.id"
count = 3
window = "10m"
cooldown = "0s"

[[rule]]
name = "takeover"
kind = "sequence"
group_by = ["actor.id"]
within = "10m"
steps = [{ match = { action = "auth.login", outcome = "failure" }, count = 2 }, { match = { action = "auth.login", outcome = "success" } }]
cooldown = "15m"
"#,
    );
    let mut next = lcg(0x5EED);
    let mut s = Script::new();
    let mut events = Vec::new();
    let mut at = T0;
    for n in 0..4000u64 {
        at += i128::from(next(40)) * S;
        // Groups come and go: each address and actor is seen for a while.
        let (actor, ip) = (n / 80 + next(8), n / 50 + next(10));
        let what = if next(3) == 0 { "success" } else { "failure" };
        events.push((
            at,
            s.event(
                at,
                &format!(
                    "\"action\":\"auth.login\",\"outcome\":\"{what}\",\"actor\":{{\"id\":\"u{actor}\",\"ip\":\"10.0.{ip}\"}}"
                ),
            ),
        ));
    }
    let h = Health::default();
    // forget: tick after every event (the engine forgets every 64 ticks);
    // restart: save, restore and replay at a third and two thirds.
    let run = |forget: bool, restart: bool| -> (Vec<Alert>, Engine) {
        let mut e = Engine::new(set.clone());
        let mut out = Vec::new();
        for (n, (at, (i, b))) in events.iter().enumerate() {
            if restart && (n == events.len() / 3 || n == 2 * events.len() / 3) {
                e = restarted(&e, &set, &events[..n]);
            }
            out.extend(e.observe(Observed {
                log: "default",
                index: *i,
                leaf_hash: leaf(*i),
                entry: b,
            }));
            if forget {
                for _ in 0..64 {
                    out.extend(e.tick(*at, &h));
                }
            }
        }
        (out, e)
    };
    let (kept, hoarder) = run(false, false);
    assert!(
        kept.len() > 100,
        "the traffic fires alerts ({})",
        kept.len()
    );
    for (forget, restart) in [(true, false), (true, true), (false, true)] {
        let (alerts, e) = run(forget, restart);
        assert_eq!(alerts, kept, "forget {forget}, restart {restart}");
        let last = events.last().unwrap().1 .0;
        let from = e.rebuild_from("default").unwrap_or(last);
        let held = hoarder.rebuild_from("default").unwrap();
        if forget {
            // Windows of 10 minutes at most, a minute of slack, ~20 s
            // between events: a replay reads at most the last ~40 events,
            // where without forgetting it reads nearly the whole log.
            assert!(
                last - from < 60,
                "forget {forget}, restart {restart}: replay from {from} of {last}"
            );
            assert!(
                held < 1000,
                "without forgetting the replay starts at {held}"
            );
            let cools: usize = e.save().rules.values().map(|r| r.cooldowns.len()).sum();
            let hoarded: usize = hoarder
                .save()
                .rules
                .values()
                .map(|r| r.cooldowns.len())
                .sum();
            assert!(
                cools < hoarded / 2,
                "cool-downs kept: {cools} (never forgotten: {hoarded})"
            );
        }
    }
}

/// Rules are walked per event by the event's `action` (the rules whose
/// filters may pass it); whatever the action — one of thousands, none, or
/// one a rule names only in a sequence step — the same rules fire as when
/// each filter is asked in turn.
#[test]
fn rules_walked_by_action_fire_as_if_each_were_asked() {
    let set = rules(
        r#"
[[rule]]
name = "any-x"
kind = "match"
match = { action = "x.*" }
group_by = ["action"]
cooldown = "0s"

[[rule]]
name = "everything"
kind = "match"
match = { "actor.id" = "*" }
group_by = ["action"]
cooldown = "0s"

[[rule]]
name = "not-x"
kind = "match"
match = { action = ["y", "z.*"] }
except = { "actor.id" = "root" }
cooldown = "0s"

[[rule]]
name = "x-then-done"
kind = "sequence"
group_by = ["actor.id"]
within = "1h"
steps = [{ match = { action = "x.9" } }, { match = { action = "done" } }]
cooldown = "0s"
"#,
    );
    let mut e = Engine::new(set);
    let mut s = Script::new();
    let fired = |e: &mut Engine, s: &mut Script, fields: &str| -> Vec<String> {
        let mut r: Vec<String> = s.feed(e, T0, fields).into_iter().map(|a| a.rule).collect();
        r.sort();
        r
    };
    // More actions than the walk keeps lists for (4,096).
    for k in 0..5000 {
        let got = fired(&mut e, &mut s, &format!(r#""action":"x.{k}","actor":"a""#));
        assert_eq!(got, ["any-x", "everything"], "x.{k}");
    }
    let cases: [(&str, &[&str]); 6] = [
        (r#""action":"y","actor":"a""#, &["everything", "not-x"]),
        (r#""action":"z.1","actor":"root""#, &["everything"]),
        // No action: "everything" passes it, but it has no group.
        (r#""actor":"a""#, &[]),
        (r#""action":"x.9","actor":"b""#, &["any-x", "everything"]),
        (
            r#""action":"done","actor":"b""#,
            &["everything", "x-then-done"],
        ),
        (r#""action":"x.12","actor":"a""#, &["any-x", "everything"]),
    ];
    // Twice: the second time, the lists are known.
    for round in 0..2 {
        for (fields, want) in cases {
            assert_eq!(
                fired(&mut e, &mut s, fields),
                want,
                "{fields}, round {round}"
            );
        }
    }
}

/// An alert made by more events than it lists names the newest
/// [`MAX_TRIGGERS`](veritrail_rules::engine::MAX_TRIGGERS) of them, and
/// counts them all.
#[test]
fn an_alert_lists_its_newest_triggers_and_counts_them_all() {
    let set = rules(
        r#"
[[rule]]
name = "many"
kind = "threshold"
match = { action = "auth.login", outcome = "failure" }
group_by = ["actor.ip"]
count = 1200
window = "1h"
"#,
    );
    let mut e = Engine::new(set);
    let mut s = Script::new();
    let mut fired = Vec::new();
    for k in 0..1200 {
        fired.extend(s.feed(&mut e, T0 + k * S / 10, FAIL));
    }
    assert_eq!(fired.len(), 1);
    let a = &fired[0];
    assert_eq!(a.trigger_count, 1200);
    let max = veritrail_rules::engine::MAX_TRIGGERS as u64;
    let idx: Vec<u64> = a.triggers.iter().map(|t| t.index).collect();
    assert_eq!(idx, (1200 - max..1200).collect::<Vec<u64>>());
    assert_eq!(
        a.triggers[0].leaf_hash,
        veritrail_core::Hash(leaf(1200 - max)).to_base64()
    );
}

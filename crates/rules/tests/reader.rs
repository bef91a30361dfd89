//! The entry reader against the full parser: on any JSON text the parser
//! accepts, the reader either steps aside (`None`) or reads the same
//! values; on stored events (canonical, no escapes) it never steps aside.

use proptest::prelude::*;
use veritrail_core::json::Json;
use veritrail_rules::matcher::{Paths, Reader, Spans};

const KEYS: &[&str] = &[
    "action",
    "actor",
    "id",
    "ip",
    "source",
    "host",
    "time",
    "received_at",
    "n",
    "x",
    "é",
];

fn paths() -> Paths {
    let mut p = Paths::default();
    for path in [
        "action",
        "actor.id",
        "actor.ip",
        "source.host",
        "time",
        "received_at",
        "n",
        "x.n",
        "x.id",
        "é",
    ] {
        p.intern(path);
    }
    p
}

/// A JSON text, with some whitespace, escapes and numbers the reader must
/// leave to the parser.
fn text() -> impl Strategy<Value = String> {
    let string = prop_oneof![
        "[a-z0-9 ./:-]{0,12}".prop_map(|s| format!("\"{s}\"")),
        Just("\"a\\\"b\"".to_string()),
        Just("\"\\u00e9t\\u00e9\"".to_string()),
        Just("\"tab\\there\"".to_string()),
        Just("\"é\"".to_string()),
    ];
    let leaf = prop_oneof![
        string.clone(),
        any::<i64>().prop_map(|n| (n % 10_000_000_000_000_000).to_string()),
        Just("9007199254740991".to_string()),
        Just("9007199254740992".to_string()),
        Just("-0".to_string()),
        Just("1.5".to_string()),
        Just("1e3".to_string()),
        Just("007".to_string()),
        Just("true".to_string()),
        Just("false".to_string()),
        Just("null".to_string()),
    ];
    let ws = prop_oneof![Just(""), Just(""), Just(" "), Just("\n ")];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec(
                (prop::sample::select(KEYS), ws.clone(), inner, ws.clone()),
                0..6
            )
            .prop_map(|m| {
                let members: Vec<String> = m
                    .into_iter()
                    .map(|(k, a, v, b)| format!("{a}\"{k}\"{b}:{a}{v}{b}"))
                    .collect();
                format!("{{{}}}", members.join(","))
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]
    #[test]
    fn reads_what_the_parser_reads(t in text()) {
        let p = paths();
        let reader = Reader::new(&p);
        if let Ok(json) = Json::parse(t.as_bytes()) {
            let mut spans = Spans::default();
            if let Some(fast) = reader.read(t.as_bytes(), &mut spans) {
                prop_assert_eq!(fast, p.read(&json), "{}", t);
            }
        }
    }
}

#[test]
fn reads_stored_events_itself() {
    let p = paths();
    let reader = Reader::new(&p);
    let mut spans = Spans::default();
    for entry in [
        r#"{"action":"auth.login","actor":{"id":"alice","ip":"192.0.2.1"},"n":-12,"received_at":"2026-12-01T08:00:00.000000000Z","source":{"app":"sshd","host":"web-1"},"target":{"id":"/etc/x","type":"file"}}"#,
        r#"{"action":"privilege.sudo","actor":"bob","metadata":{"a":[1,{"b":"}"}],"q":"\"x\""},"received_at":"2026-12-01T08:00:00Z","x":{"id":true,"n":false}}"#,
        r#"{"action":"é","received_at":"2026-12-01T08:00:00Z","time":null}"#,
    ] {
        let json = Json::parse(entry.as_bytes()).unwrap();
        let fast = reader.read(entry.as_bytes(), &mut spans);
        assert!(fast.is_some(), "{entry}");
        assert_eq!(fast.unwrap(), p.read(&json), "{entry}");
    }
    // What it leaves to the parser.
    for entry in [
        r#"{"action":"a\"b"}"#,
        r#"{"n":1.5}"#,
        r#"{"n":-9223372036854775808}"#,
        r#"{"action":"x","action":"y"}"#,
        r#"{"action":"x"} x"#,
        r#"{"action":"x""#,
        "{\"action\":\n\"x\"}",
        "{\"x\":\"\u{1}\",\"action\":\"x\"}",
    ] {
        assert!(
            reader.read(entry.as_bytes(), &mut spans).is_none(),
            "{entry}"
        );
    }
    // A skipped string that ends in an escape, at the very end (found by
    // the fuzz target): no panic, no values.
    let cut = br#"{ "actiotadata":{n":0}] }"metadata{"n":-0}in","actor":{"id "a\"#;
    assert!(reader.read(cut, &mut spans).is_none());
    assert!(reader.read(br#"{"x":"\"#, &mut spans).is_none());
    // Not UTF-8, even in a value it would skip.
    let bad = b"{\"x\":\"\xff\",\"action\":\"x\"}";
    assert!(reader.read(bad, &mut spans).is_none());
}

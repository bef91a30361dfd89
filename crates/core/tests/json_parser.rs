//! The hand-written JSON parser (`Json::parse`) against the serde_json-based
//! reference (`Json::parse_reference`): both accept or both refuse, and an
//! accepted text gives the same value. Edge cases by hand, then generated
//! texts and mutations of them.

use proptest::prelude::*;
use veritrail_core::json::{Json, MAX_DEPTH};

fn same(text: &[u8]) {
    let ours = Json::parse(text);
    let reference = Json::parse_reference(text);
    match (&ours, &reference) {
        (Ok(a), Ok(b)) => assert_eq!(
            a,
            b,
            "different values for {:?}",
            String::from_utf8_lossy(text)
        ),
        (Err(_), Err(_)) => {}
        _ => panic!(
            "parsers disagree on {:?}: ours {ours:?}, reference {reference:?}",
            String::from_utf8_lossy(text)
        ),
    }
}

#[test]
fn edge_cases_agree_with_the_reference() {
    let cases: &[&[u8]] = &[
        b"",
        b" ",
        b"null",
        b"nul",
        b"nulls",
        b"true",
        b"tru",
        b"false",
        b"falsey",
        b"0",
        b"-0",
        b"-",
        b"01",
        b"00",
        b"1.",
        b".5",
        b"1.5",
        b"1e3",
        b"1E+3",
        b"1e",
        b"-1e-3",
        b"+1",
        b"9007199254740991",
        b"-9007199254740991",
        b"9007199254740992",
        b"-9007199254740992",
        b"99999999999999999999999",
        b"1234567890123456",
        b"12345678901234567",
        b"\"\"",
        b"\"abc\"",
        b"\"a\\\"b\"",
        b"\"\\/\\b\\f\\n\\r\\t\\\\\"",
        b"\"\\u0000\"",
        b"\"\\u00e9\\u20AC\"",
        b"\"\\ud83d\\ude00\"",
        b"\"\\ud83d\"",
        b"\"\\ude00\"",
        b"\"\\ud83d\\u0041\"",
        b"\"\\ud83dx\"",
        b"\"\\u12\"",
        b"\"\\u12g4\"",
        b"\"\\x\"",
        b"\"\x01\"",
        b"\"\x1f\"",
        b"\"\x7f\"",
        b"\"\t\"",
        b"\"\xc3\xa9\"",
        b"\"\xc3\"",
        b"\"\xff\"",
        b"\"\xed\xa0\x80\"",
        b"\"\xf0\x9f\x98\x80\"",
        b"\"abc",
        b"\"ab\\",
        b"[]",
        b"[ ]",
        b"[1,2]",
        b"[1,]",
        b"[,1]",
        b"[1 2]",
        b"[",
        b"]",
        b"[[[]]]",
        b"{}",
        b"{ }",
        b"{\"a\":1}",
        b"{\"a\":1,}",
        b"{\"a\" 1}",
        b"{a:1}",
        b"{\"a\":1,\"a\":2}",
        b"{\"b\":1,\"a\":{\"c\":[true,null]}}",
        b"{\"a\":}",
        b"{\"a\"",
        b"{\"a\":1",
        b"{\"\\u0061\":1,\"a\":2}",
        b"{\"\xee\x80\x80\":1,\"\xf0\x9f\x98\x80\":2}",
        b" \t\r\n{\"a\" : [ 1 , -2 ] } \n",
        b"{} {}",
        b"{}x",
        b"\xef\xbb\xbf{}",
        b"\x00",
        b"[1]\x00",
        b"\"\\u0000\\u001f\"",
        b"{\"a\":1}\n\n",
    ];
    for c in cases {
        same(c);
    }
}

#[test]
fn nesting_limit_matches_the_reference() {
    for depth in [MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, 1000] {
        let arrays = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        same(arrays.as_bytes());
        let objects = format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
        same(objects.as_bytes());
    }
    let deepest = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
    assert!(Json::parse(deepest.as_bytes()).is_ok());
}

#[test]
fn errors_name_the_place() {
    let e = Json::parse(b"{\"a\":1,\n \"b\":1.5}").unwrap_err();
    assert_eq!((e.line, e.column), (2, 6), "{e}");
    assert!(e.to_string().contains("integers"), "{e}");
    let e = Json::parse(br#"{"a":1,"a":2}"#).unwrap_err();
    assert_eq!(
        e.to_string(),
        "duplicate object key \"a\" at line 1 column 8"
    );
    let e = Json::parse(br#"{"a":1"#).unwrap_err();
    assert_eq!(
        e.to_string(),
        "unexpected end of input in an object at line 1 column 7"
    );
}

/// Generated JSON texts, with random spacing and escapes.
fn text() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_string()),
        Just("true".to_string()),
        Just("false".to_string()),
        any::<i64>().prop_map(|n| (n % 10_000_000_000_000_000).to_string()),
        "[a-z0-9 \\\\\"/\u{e9}\u{20ac}\u{1f600}\u{e000}]{0,8}".prop_map(|s| format!("{s:?}")),
        "\\\\u[0-9a-fA-F]{4}".prop_map(|s| format!("\"{s}\"")),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(|v| format!("[{}]", v.join(" , "))),
            prop::collection::vec(("[a-d\u{e000}\u{1f600}]{0,2}", inner), 0..6).prop_map(|m| {
                let members: Vec<String> =
                    m.into_iter().map(|(k, v)| format!("{k:?}:{v}")).collect();
                format!("{{{}}}", members.join(","))
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn generated_texts_agree(t in text()) {
        same(t.as_bytes());
    }

    #[test]
    fn mutated_texts_agree(t in text(), at in any::<usize>(), byte in any::<u8>(), cut in any::<bool>()) {
        let mut b = t.into_bytes();
        if !b.is_empty() {
            let i = at % b.len();
            if cut { b.truncate(i) } else { b[i] = byte }
        }
        same(&b);
    }

    #[test]
    fn arbitrary_bytes_agree(b in prop::collection::vec(any::<u8>(), 0..64)) {
        same(&b);
    }
}

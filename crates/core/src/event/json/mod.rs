//! A strict JSON value and its RFC 8785 (JCS) canonical serialization.
//!
//! Strict: duplicate object keys are refused (an audit record must not be
//! ambiguous), and numbers must be integers within ±(2^53−1) — the range in
//! which JCS (ECMAScript number formatting) is exact. Floats are refused: use
//! strings.

use core::fmt;
use std::borrow::Cow;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

mod parse;
pub use parse::{JsonError, MAX_DEPTH};

/// Largest magnitude of an integer JCS can represent exactly (2^53 − 1).
pub const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// A JSON value with object members kept in input order. Strings borrow
/// from the input when they contain no escapes, so parsing an event does not
/// allocate for its keys and most of its values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Json<'a> {
    /// null
    Null,
    /// true / false
    Bool(bool),
    /// An integer within ±(2^53−1).
    Int(i64),
    /// A string.
    Str(Cow<'a, str>),
    /// An array.
    Array(Vec<Json<'a>>),
    /// An object; keys are unique.
    Object(Vec<(Cow<'a, str>, Json<'a>)>),
}

impl<'a> Json<'a> {
    /// The JSON type name, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "boolean",
            Json::Int(_) => "integer",
            Json::Str(_) => "string",
            Json::Array(_) => "array",
            Json::Object(_) => "object",
        }
    }

    /// Member lookup on an object.
    pub fn get(&self, key: &str) -> Option<&Json<'a>> {
        match self {
            Json::Object(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Parses one JSON text strictly: RFC 8259, integers within ±(2^53−1),
    /// no duplicate keys, nesting at most [`MAX_DEPTH`], nothing but
    /// whitespace after the value.
    ///
    /// # Errors
    /// [`JsonError`] with the reason, line and column.
    pub fn parse(bytes: &'a [u8]) -> Result<Json<'a>, JsonError> {
        parse::parse(bytes)
    }

    /// The same through serde_json and `impl Deserialize for Json`: the
    /// reference [`Json::parse`] is tested against (same acceptance, same
    /// value). Not for production use.
    ///
    /// # Errors
    /// The serde_json error.
    #[doc(hidden)]
    pub fn parse_reference(bytes: &'a [u8]) -> Result<Json<'a>, serde_json::Error> {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let v = Json::deserialize(&mut de)?;
        de.end()?;
        Ok(v)
    }

    /// RFC 8785 canonical bytes, appended to `out`.
    pub fn write_canonical(&self, out: &mut Vec<u8>) {
        match self {
            Json::Null => out.extend_from_slice(b"null"),
            Json::Bool(true) => out.extend_from_slice(b"true"),
            Json::Bool(false) => out.extend_from_slice(b"false"),
            Json::Int(i) => {
                // ECMAScript formats safe integers as plain decimal; -0 is 0.
                let mut buf = itoa_buf(*i);
                out.append(&mut buf);
            }
            Json::Str(s) => write_string(s, out),
            Json::Array(a) => {
                out.push(b'[');
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    v.write_canonical(out);
                }
                out.push(b']');
            }
            Json::Object(m) => {
                // RFC 8785 §3.2.3: members sorted by their names' UTF-16 code
                // units. Parsed objects are already in order (see visit_map).
                if m.windows(2).all(|w| utf16_cmp(&w[0].0, &w[1].0).is_lt()) {
                    write_members(m.iter().map(|(k, v)| (k.as_ref(), v)), None, out);
                } else {
                    let mut refs: Vec<&(Cow<'a, str>, Json<'a>)> = m.iter().collect();
                    refs.sort_by(|a, b| utf16_cmp(&a.0, &b.0));
                    write_members(refs.into_iter().map(|(k, v)| (k.as_ref(), v)), None, out);
                }
            }
        }
    }

    /// RFC 8785 canonical bytes.
    pub fn to_canonical(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(256);
        self.write_canonical(&mut v);
        v
    }
}

fn itoa_buf(i: i64) -> Vec<u8> {
    i.to_string().into_bytes()
}

/// Writes an object from members already in RFC 8785 order, with `extra`
/// (a string member) spliced in at its place: one pass, no allocation.
pub(crate) fn write_members<'x, 'y: 'x>(
    members: impl Iterator<Item = (&'x str, &'x Json<'y>)>,
    extra: Option<(&str, &str)>,
    out: &mut Vec<u8>,
) {
    let mut extra = extra;
    let mut first = true;
    let mut sep = |out: &mut Vec<u8>| {
        if !first {
            out.push(b',');
        }
        first = false;
    };
    out.push(b'{');
    for (k, v) in members {
        if let Some((ek, ev)) = extra.filter(|(ek, _)| utf16_cmp(ek, k).is_lt()) {
            sep(out);
            write_string(ek, out);
            out.push(b':');
            write_string(ev, out);
            extra = None;
        }
        sep(out);
        write_string(k, out);
        out.push(b':');
        v.write_canonical(out);
    }
    if let Some((ek, ev)) = extra {
        sep(out);
        write_string(ek, out);
        out.push(b':');
        write_string(ev, out);
    }
    out.push(b'}');
}

/// RFC 8785 §3.2.3 member order: by the names' UTF-16 code units.
///
/// UTF-8 byte order equals code point order, which equals UTF-16 order except
/// when a supplementary character (lead byte F0–F4) meets one in
/// U+E000..U+FFFF (lead byte EE/EF); only then is the exact UTF-16 comparison
/// needed.
pub(crate) fn utf16_cmp(a: &str, b: &str) -> core::cmp::Ordering {
    let (x, y) = (a.as_bytes(), b.as_bytes());
    match x.iter().zip(y).position(|(p, q)| p != q) {
        None => x.len().cmp(&y.len()),
        Some(i) if x[i] >= 0xEE && y[i] >= 0xEE => a.encode_utf16().cmp(b.encode_utf16()),
        Some(i) => x[i].cmp(&y[i]),
    }
}

/// Bytes that JSON.stringify escapes: control characters, `"` and `\`.
/// The parser stops a plain run of string bytes at the same ones.
pub(crate) const NEEDS_ESCAPE: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// Whether any byte of the 8 in `word` is a control character, `"` or `\`
/// (exact: the borrow tricks below can only misfire above a byte that
/// really matches, so "any" is never wrong).
#[inline]
pub(crate) fn has_special(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below_space = word.wrapping_sub(ONES * 0x20) & !word;
    let x = word ^ (ONES * u64::from(b'"'));
    let quote = x.wrapping_sub(ONES) & !x;
    let y = word ^ (ONES * u64::from(b'\\'));
    let backslash = y.wrapping_sub(ONES) & !y;
    (below_space | quote | backslash) & HIGH != 0
}

/// Whether `bytes` holds anything JSON.stringify escapes.
fn needs_escape(bytes: &[u8]) -> bool {
    let mut words = bytes.chunks_exact(8);
    for w in words.by_ref() {
        if has_special(u64::from_le_bytes(w.try_into().expect("8 bytes"))) {
            return true;
        }
    }
    words.remainder().iter().any(|&b| NEEDS_ESCAPE[b as usize])
}

/// RFC 8785 §3.2.2.2 string serialization (ECMAScript JSON.stringify rules).
fn write_string(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    // Fast path: most strings need no escaping at all.
    if !needs_escape(bytes) {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => {
                out.extend_from_slice(&bytes[start..i]);
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 15) as usize]);
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(esc);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

impl<'de> Deserialize<'de> for Json<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Json<'de>, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

pub(crate) const FLOAT_MSG: &str =
    "numbers must be integers within ±9007199254740991; floats and larger numbers are refused (send them as strings)";

/// An object key that borrows from the input when it can.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Key<'de>, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Json<'de>, E> {
        Ok(Json::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Json<'de>, E> {
        if (-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(&v) {
            Ok(Json::Int(v))
        } else {
            Err(E::custom(FLOAT_MSG))
        }
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Json<'de>, E> {
        if v <= MAX_SAFE_INTEGER as u64 {
            Ok(Json::Int(v as i64))
        } else {
            Err(E::custom(FLOAT_MSG))
        }
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Json<'de>, E> {
        Err(E::custom(FLOAT_MSG))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Json<'de>, E> {
        Ok(Json::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Json<'de>, E> {
        Ok(Json::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Json<'de>, E> {
        Ok(Json::Str(Cow::Owned(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json<'de>, A::Error> {
        let mut v = Vec::new();
        while let Some(x) = seq.next_element()? {
            v.push(x);
        }
        Ok(Json::Array(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json<'de>, A::Error> {
        // Members are kept in RFC 8785 order as they are parsed: the binary
        // search finds duplicates, and serialization need not sort.
        let mut m: Vec<(Cow<'de, str>, Json<'de>)> = Vec::with_capacity(8);
        while let Some(Key(k)) = map.next_key::<Key<'de>>()? {
            match m.binary_search_by(|(x, _)| utf16_cmp(x, &k)) {
                Ok(_) => {
                    return Err(de::Error::custom(format_args!(
                        "duplicate object key {k:?}"
                    )))
                }
                Err(pos) => {
                    let v = map.next_value()?;
                    m.insert(pos, (k, v));
                }
            }
        }
        Ok(Json::Object(m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(s: &str) -> String {
        String::from_utf8(Json::parse(s.as_bytes()).unwrap().to_canonical()).unwrap()
    }

    #[test]
    fn word_check_matches_the_byte_table() {
        let bytewise = |w: [u8; 8]| w.iter().any(|&b| NEEDS_ESCAPE[b as usize]);
        for filler in [
            b'a', 0x20, 0x21, 0x23, 0x5b, 0x5d, 0x7f, 0x80, 0xa2, 0xdc, 0xff,
        ] {
            for b in 0..=255u8 {
                for pos in 0..8 {
                    let mut w = [filler; 8];
                    w[pos] = b;
                    assert_eq!(has_special(u64::from_le_bytes(w)), bytewise(w), "{w:?}");
                }
            }
        }
        // Pseudo-random words, with specials mixed among high bytes.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..1_000_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let w = x.to_le_bytes();
            assert_eq!(has_special(x), bytewise(w), "{w:?}");
        }
    }

    #[test]
    fn rfc8785_ordering_escaping_and_whitespace() {
        assert_eq!(
            canon(r#"{ "b": 1, "a": [true, null, "x"] }"#),
            r#"{"a":[true,null,"x"],"b":1}"#
        );
        assert_eq!(
            canon(r#""\u0007\n\"\\/é€😀""#),
            "\"\\u0007\\n\\\"\\\\/é€😀\""
        );
        // RFC 8785 §3.2.3 example: sorting by UTF-16 code units, not bytes.
        assert_eq!(
            canon("{\"\u{e000}\":1,\"\u{1f600}\":2}"),
            "{\"\u{1f600}\":2,\"\u{e000}\":1}"
        );
    }

    #[test]
    fn floats_big_numbers_duplicates_and_trailing_bytes_are_refused() {
        for bad in [
            "1.5",
            "1e3",
            "9007199254740992",
            "-9007199254740992",
            r#"{"a":1,"a":2}"#,
            "{} x",
            "[1,]",
        ] {
            assert!(Json::parse(bad.as_bytes()).is_err(), "{bad}");
        }
        assert_eq!(
            Json::parse(b"9007199254740991").unwrap(),
            Json::Int(MAX_SAFE_INTEGER)
        );
    }
}

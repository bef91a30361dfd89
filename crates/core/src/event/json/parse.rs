//! The strict JSON parser behind [`Json::parse`](super::Json::parse): one pass
//! over the bytes, no intermediate tokens. Strings without escapes borrow from
//! the input. It accepts exactly what the serde-based reference
//! (`impl Deserialize for Json`) accepts — RFC 8259 JSON, integers within
//! ±(2^53−1), no duplicate keys, nesting below 128 — and builds the same
//! value; `tests` and the `json` fuzz target check that on every input.

use std::borrow::Cow;

use super::{utf16_cmp, Json, FLOAT_MSG, MAX_SAFE_INTEGER, NEEDS_ESCAPE};

/// Deepest nesting of arrays and objects accepted (as serde_json's default).
pub const MAX_DEPTH: usize = 127;

/// Why a JSON text was refused, and where (1-based line and byte column).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason} at line {line} column {column}")]
pub struct JsonError {
    /// What is wrong.
    pub reason: Cow<'static, str>,
    /// 1-based line of the offending byte.
    pub line: usize,
    /// 1-based byte column of the offending byte.
    pub column: usize,
}

/// Parses one JSON text; only whitespace may follow the value.
pub(super) fn parse(b: &[u8]) -> Result<Json<'_>, JsonError> {
    // The whole text is valid UTF-8 or refused; strings are then slices of
    // it cut at quotes and escapes (ASCII), so they need no check of their own.
    let text = match std::str::from_utf8(b) {
        Ok(t) => t,
        Err(e) => {
            let p = Parser {
                b,
                text: "",
                i: 0,
                depth: 0,
            };
            return Err(*p.err(e.valid_up_to(), "invalid UTF-8"));
        }
    };
    let mut p = Parser {
        b,
        text,
        i: 0,
        depth: 0,
    };
    let v = p.value().map_err(|e| *e)?;
    p.ws();
    if p.i < b.len() {
        return Err(*p.err(p.i, "trailing characters after the JSON value"));
    }
    Ok(v)
}

/// Errors travel boxed inside the parser so that results stay small.
type Res<T> = Result<T, Box<JsonError>>;

struct Parser<'a> {
    b: &'a [u8],
    /// `b` as text.
    text: &'a str,
    i: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    #[cold]
    fn err(&self, at: usize, reason: impl Into<Cow<'static, str>>) -> Box<JsonError> {
        let before = &self.b[..at.min(self.b.len())];
        let line_start = before
            .iter()
            .rposition(|&c| c == b'\n')
            .map_or(0, |p| p + 1);
        Box::new(JsonError {
            reason: reason.into(),
            line: 1 + before.iter().filter(|&&c| c == b'\n').count(),
            column: 1 + before.len() - line_start,
        })
    }

    #[cold]
    fn eof(&self, inside: &str) -> Box<JsonError> {
        self.err(self.b.len(), format!("unexpected end of input in {inside}"))
    }

    #[inline]
    fn ws(&mut self) {
        while let Some(&c) = self.b.get(self.i) {
            if !matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                break;
            }
            self.i += 1;
        }
    }

    fn value(&mut self) -> Res<Json<'a>> {
        self.ws();
        match self.b.get(self.i) {
            None => Err(self.eof("a value")),
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b'"') => {
                self.i += 1;
                Ok(Json::Str(self.string()?))
            }
            Some(b't') => self.literal(b"true", Json::Bool(true)),
            Some(b'f') => self.literal(b"false", Json::Bool(false)),
            Some(b'n') => self.literal(b"null", Json::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.err(self.i, "expected a JSON value")),
        }
    }

    fn literal(&mut self, word: &[u8], v: Json<'a>) -> Res<Json<'a>> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(v)
        } else {
            Err(self.err(self.i, "expected a JSON value"))
        }
    }

    fn enter(&mut self) -> Res<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err(
                self.i,
                format!("arrays and objects are nested deeper than {MAX_DEPTH} levels"),
            ));
        }
        self.i += 1;
        Ok(())
    }

    /// The next non-whitespace byte, which must be one of `want`.
    fn expect(&mut self, want: &[u8], what: &'static str, inside: &str) -> Res<u8> {
        self.ws();
        match self.b.get(self.i) {
            Some(&c) if want.contains(&c) => {
                self.i += 1;
                Ok(c)
            }
            Some(_) => Err(self.err(self.i, what)),
            None => Err(self.eof(inside)),
        }
    }

    fn object(&mut self) -> Res<Json<'a>> {
        self.enter()?;
        // Members are kept in RFC 8785 order as they are parsed: the binary
        // search finds duplicates, and serialization need not sort.
        let mut m: Vec<(Cow<'a, str>, Json<'a>)> = Vec::with_capacity(8);
        self.ws();
        if self.b.get(self.i) == Some(&b'}') {
            self.i += 1;
        } else {
            loop {
                self.ws();
                let key_at = self.i;
                self.expect(b"\"", "expected `\"` to begin an object key", "an object")?;
                let k = self.string()?;
                self.expect(b":", "expected `:` after an object key", "an object")?;
                let pos = match m.binary_search_by(|(x, _)| utf16_cmp(x, &k)) {
                    Ok(_) => return Err(self.err(key_at, format!("duplicate object key {k:?}"))),
                    Err(pos) => pos,
                };
                let v = self.value()?;
                m.insert(pos, (k, v));
                let c = self.expect(
                    b",}",
                    "expected `,` or `}` after an object member",
                    "an object",
                )?;
                if c == b'}' {
                    break;
                }
            }
        }
        self.depth -= 1;
        Ok(Json::Object(m))
    }

    fn array(&mut self) -> Res<Json<'a>> {
        self.enter()?;
        let mut a = Vec::new();
        self.ws();
        if self.b.get(self.i) == Some(&b']') {
            self.i += 1;
        } else {
            loop {
                a.push(self.value()?);
                let c = self.expect(
                    b",]",
                    "expected `,` or `]` after an array element",
                    "an array",
                )?;
                if c == b']' {
                    break;
                }
            }
        }
        self.depth -= 1;
        Ok(Json::Array(a))
    }

    /// A string whose opening quote was just consumed.
    fn string(&mut self) -> Res<Cow<'a, str>> {
        let start = self.i;
        let end = self.scan(start);
        match self.b.get(end) {
            Some(b'"') => {
                let s = self.utf8(start, end)?;
                self.i = end + 1;
                Ok(Cow::Borrowed(s))
            }
            _ => self.escaped(start, end).map(Cow::Owned),
        }
    }

    /// The first byte at or after `j` that ends a plain run of string bytes:
    /// a quote, a backslash, a control character (the bytes that need
    /// escaping in output, too), or the end of input.
    #[inline]
    fn scan(&self, mut j: usize) -> usize {
        let b = self.b;
        // Eight bytes at a time while none of them stops the run.
        while let Some(word) = b.get(j..j + 8) {
            if super::has_special(u64::from_le_bytes(word.try_into().expect("8 bytes"))) {
                break;
            }
            j += 8;
        }
        while j < b.len() && !NEEDS_ESCAPE[b[j] as usize] {
            j += 1;
        }
        j
    }

    /// The text between two ASCII delimiters.
    fn utf8(&self, from: usize, to: usize) -> Res<&'a str> {
        Ok(&self.text[from..to])
    }

    /// The rest of a string that needs unescaping; `j` is the first byte
    /// after the plain run starting at `start`.
    fn escaped(&mut self, start: usize, mut j: usize) -> Res<String> {
        let mut out = String::with_capacity(j - start + 16);
        out.push_str(self.utf8(start, j)?);
        loop {
            match self.b.get(j) {
                None => return Err(self.eof("a string")),
                Some(b'"') => {
                    self.i = j + 1;
                    return Ok(out);
                }
                Some(b'\\') => j = self.escape(j, &mut out)?,
                Some(&c) => {
                    return Err(self.err(
                        j,
                        format!("control character U+{c:04X} in a string must be escaped"),
                    ))
                }
            }
            let run = self.scan(j);
            out.push_str(self.utf8(j, run)?);
            j = run;
        }
    }

    /// Decodes the escape at `j` (a backslash) into `out`; returns the
    /// position after it.
    fn escape(&self, j: usize, out: &mut String) -> Res<usize> {
        let Some(&c) = self.b.get(j + 1) else {
            return Err(self.eof("a string"));
        };
        let ch = match c {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let hi = self.hex4(j + 2)?;
                let (code, next) = match hi {
                    0xD800..=0xDBFF => {
                        if self.b.get(j + 6) != Some(&b'\\') || self.b.get(j + 7) != Some(&b'u') {
                            return Err(self.err(j, "lone leading surrogate in a \\u escape"));
                        }
                        let lo = self.hex4(j + 8)?;
                        if !(0xDC00..=0xDFFF).contains(&lo) {
                            return Err(self.err(
                                j + 6,
                                "a leading surrogate must be followed by a trailing one",
                            ));
                        }
                        (0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00), j + 12)
                    }
                    0xDC00..=0xDFFF => {
                        return Err(self.err(j, "lone trailing surrogate in a \\u escape"))
                    }
                    _ => (hi, j + 6),
                };
                out.push(char::from_u32(code).expect("surrogates handled above"));
                return Ok(next);
            }
            _ => return Err(self.err(j, "invalid escape in a string")),
        };
        out.push(ch);
        Ok(j + 2)
    }

    fn hex4(&self, at: usize) -> Res<u32> {
        let Some(digits) = self.b.get(at..at + 4) else {
            return Err(self.eof("a string"));
        };
        let mut v = 0u32;
        for (k, &d) in digits.iter().enumerate() {
            let x = match d {
                b'0'..=b'9' => d - b'0',
                b'a'..=b'f' => d - b'a' + 10,
                b'A'..=b'F' => d - b'A' + 10,
                _ => return Err(self.err(at + k, "invalid hex digit in a \\u escape")),
            };
            v = v << 4 | u32::from(x);
        }
        Ok(v)
    }

    fn number(&mut self) -> Res<Json<'a>> {
        let b = self.b;
        let start = self.i;
        let neg = b[start] == b'-';
        let mut i = start + usize::from(neg);
        let digit = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
        match b.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => {
                while digit(i) {
                    i += 1;
                }
            }
            _ => return Err(self.err(i, "invalid number")),
        }
        let int_end = i;
        let mut fraction_or_exponent = false;
        if b.get(i) == Some(&b'.') {
            i += 1;
            if !digit(i) {
                return Err(self.err(i, "invalid number"));
            }
            while digit(i) {
                i += 1;
            }
            fraction_or_exponent = true;
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            if !digit(i) {
                return Err(self.err(i, "invalid number"));
            }
            while digit(i) {
                i += 1;
            }
            fraction_or_exponent = true;
        }
        let digits = &b[start + usize::from(neg)..int_end];
        // 16 digits hold every safe integer; more is out of range.
        if fraction_or_exponent || digits.len() > 16 {
            return Err(self.err(start, FLOAT_MSG));
        }
        let v = digits
            .iter()
            .fold(0i64, |v, &d| v * 10 + i64::from(d - b'0'));
        // -0 is a float in JSON's number model (serde_json reads it as -0.0).
        if v > MAX_SAFE_INTEGER || (neg && v == 0) {
            return Err(self.err(start, FLOAT_MSG));
        }
        self.i = i;
        Ok(Json::Int(if neg { -v } else { v }))
    }
}

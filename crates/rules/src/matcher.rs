//! The filters of a rule: field paths of the stored event (`action`,
//! `outcome`, `actor.id`, `actor.ip`, `source.host`, `metadata.tty`, …)
//! with a pattern each. A pattern is a string: exact, `prefix*`, or `*`
//! (the field is present); or a list of such strings (any of them). All
//! of a rule's `match` entries must hold and none of its `except` ones.
//!
//! Paths are interned once per rule set ([`Paths`]), and an event's values
//! are read once ([`Fields`]) however many rules look at them.

use std::borrow::Cow;

use veritrail_core::json::Json;

/// One pattern over a field's value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pattern {
    /// The field is present (`*`).
    Present,
    /// Exactly this value.
    Exact(String),
    /// A value starting with this (`auth.*` keeps the dot: `auth.`).
    Prefix(String),
    /// Any of these.
    AnyOf(Vec<Pattern>),
}

impl Pattern {
    /// A pattern as written: `*`, `prefix*` or an exact value.
    pub fn parse(s: &str) -> Pattern {
        if s == "*" {
            Pattern::Present
        } else if let Some(p) = s.strip_suffix('*') {
            Pattern::Prefix(p.to_owned())
        } else {
            Pattern::Exact(s.to_owned())
        }
    }

    /// Whether `value` (the field's value, `None` when absent) matches.
    pub fn matches(&self, value: Option<&str>) -> bool {
        let Some(v) = value else { return false };
        match self {
            Pattern::Present => true,
            Pattern::Exact(x) => v == x,
            Pattern::Prefix(p) => v.starts_with(p.as_str()),
            Pattern::AnyOf(ps) => ps.iter().any(|p| p.matches(Some(v))),
        }
    }
}

/// The field paths a rule set reads, interned.
#[derive(Clone, Debug, Default)]
pub struct Paths {
    paths: Vec<Vec<String>>,
}

/// An interned path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PathId(pub(crate) usize);

impl Paths {
    /// The id of `path` (dotted), interning it.
    pub fn intern(&mut self, path: &str) -> PathId {
        let parts: Vec<String> = path.split('.').map(str::to_owned).collect();
        if let Some(i) = self.paths.iter().position(|p| *p == parts) {
            return PathId(i);
        }
        self.paths.push(parts);
        PathId(self.paths.len() - 1)
    }

    /// The id of `path` if it is interned.
    pub fn find(&self, path: &str) -> Option<PathId> {
        self.paths
            .iter()
            .position(|p| p.iter().map(String::as_str).eq(path.split('.')))
            .map(PathId)
    }

    /// The dotted path of `id`.
    pub fn name(&self, id: PathId) -> String {
        self.paths[id.0].join(".")
    }

    /// Reads every interned path of `event`.
    pub fn read<'e>(&self, event: &'e Json<'e>) -> Fields<'e> {
        Fields(Of::Values(
            self.paths.iter().map(|p| lookup(event, p)).collect(),
        ))
    }
}

/// A field's value as text: strings as they are, integers and booleans
/// written out; objects, arrays and null are no value. `actor` given as a
/// bare string is `actor.id` (the event model's shorthand).
fn lookup<'e>(event: &'e Json<'e>, path: &[String]) -> Option<Cow<'e, str>> {
    let mut v = event;
    for (k, part) in path.iter().enumerate() {
        v = match v.get(part) {
            Some(x) => x,
            None => {
                // `actor.id` of `"actor": "alice"`.
                if k + 1 == path.len() && part == "id" {
                    if let Json::Str(s) = v {
                        return Some(Cow::Borrowed(s.as_ref()));
                    }
                }
                return None;
            }
        };
    }
    match v {
        Json::Str(s) => Some(Cow::Borrowed(s.as_ref())),
        Json::Int(i) => Some(Cow::Owned(i.to_string())),
        Json::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        _ => None,
    }
}

/// Reads the interned paths straight from an entry's bytes, without
/// building the whole JSON value: keys that lead to no path are skipped.
/// Made for entries as stored (canonical JSON: no escapes in most strings,
/// integers written plainly, no whitespace); whatever it is not sure of —
/// an escaped key or value it needs, a number that is not a plain integer,
/// a path met twice, a control character, anything malformed — makes
/// [`Reader::read`] answer `None`, and the caller parses the entry fully
/// ([`Paths::read`]), so both give the same values.
#[derive(Clone, Debug, Default)]
pub struct Reader {
    root: Trie,
    n: usize,
}

#[derive(Clone, Debug, Default)]
struct Trie {
    kids: Vec<(String, Trie)>,
    /// Each kid's name's length and first 8 bytes ([`prefix`]): most
    /// names are told apart, and most found, without comparing bytes.
    names: Vec<(usize, u64)>,
    leaf: Option<PathId>,
    /// The `id` kid's leaf: `actor.id` of `"actor": "alice"`.
    bare: Option<PathId>,
}

/// A name's first 8 bytes as a number (zeros past its end).
fn prefix(name: &[u8]) -> u64 {
    name.iter()
        .take(8)
        .enumerate()
        .fold(0, |p, (k, &b)| p | u64::from(b) << (8 * k))
}

/// Where a value is in an entry (byte offsets); `NO_SPAN` when absent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span(u32, u32);

const NO_SPAN: Span = Span(u32::MAX, u32::MAX);

/// Where [`Reader::read`] writes an event's values: kept by the caller
/// from one event to the next, so reading allocates nothing.
#[derive(Clone, Debug, Default)]
pub struct Spans(Vec<Span>);

impl Reader {
    /// A reader of every path of `paths`.
    pub fn new(paths: &Paths) -> Reader {
        let mut root = Trie::default();
        for (id, path) in paths.paths.iter().enumerate() {
            let mut node = &mut root;
            for part in path {
                let at = match node.kids.iter().position(|(k, _)| k == part) {
                    Some(i) => i,
                    None => {
                        node.kids.push((part.clone(), Trie::default()));
                        node.kids.len() - 1
                    }
                };
                node = &mut node.kids[at].1;
            }
            node.leaf = Some(PathId(id));
        }
        // What each node keeps of its kids for the walk.
        fn finish(node: &mut Trie) {
            node.names = node
                .kids
                .iter()
                .map(|(k, _)| (k.len(), prefix(k.as_bytes())))
                .collect();
            node.bare = node
                .kids
                .iter()
                .find(|(k, _)| k == "id")
                .and_then(|(_, t)| t.leaf);
            for (_, kid) in &mut node.kids {
                finish(kid);
            }
        }
        finish(&mut root);
        Reader {
            root,
            n: paths.paths.len(),
        }
    }

    /// The values of `entry` (kept in `spans`), or `None` when it must be
    /// parsed fully.
    pub fn read<'e>(&self, entry: &'e [u8], spans: &'e mut Spans) -> Option<Fields<'e>> {
        // Checked once for the whole entry: no control character (stored
        // entries have none: canonical JSON escapes them inside strings
        // and has no whitespace between tokens; an entry with some is
        // parsed fully), and UTF-8 throughout — so a string is its bytes
        // between two quotes, no escape among them.
        if u32::try_from(entry.len()).is_err()
            || entry.iter().fold(false, |any, &c| any | (c < 0x20))
        {
            return None;
        }
        let text = std::str::from_utf8(entry).ok()?;
        let out = &mut spans.0;
        out.clear();
        out.resize(self.n, NO_SPAN);
        let mut w = Walk { b: entry, i: 0 };
        w.ws();
        w.object(&self.root, out)?;
        w.ws();
        (w.i == entry.len()).then_some(Fields(Of::Spans { text, spans: out }))
    }
}

struct Walk<'e> {
    /// The entry, known to be UTF-8 without control characters.
    b: &'e [u8],
    i: usize,
}

fn set(out: &mut [Span], id: PathId, v: Span) -> Option<()> {
    let slot = &mut out[id.0];
    if *slot != NO_SPAN {
        return None;
    }
    *slot = v;
    Some(())
}

/// Whether `text` is an integer as the full parser writes one: no sign but
/// `-`, no leading zero, no `-0`, within JSON's exact range.
fn plain_integer(text: &[u8]) -> bool {
    let digits = text.strip_prefix(b"-").unwrap_or(text);
    let plain = match digits {
        [] => false,
        [b'0'] => digits.len() == text.len(),
        [b'0', ..] => false,
        _ => digits.iter().all(u8::is_ascii_digit),
    };
    plain
        && std::str::from_utf8(text)
            .ok()
            .and_then(|t| t.parse::<i64>().ok())
            .is_some_and(|n| {
                n.unsigned_abs() <= veritrail_core::json::MAX_SAFE_INTEGER.unsigned_abs()
            })
}

impl Walk<'_> {
    fn ws(&mut self) {
        while self.b.get(self.i) == Some(&b' ') {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// The string at its opening quote, when it has no escapes: its
    /// contents' span (its ends are quotes, so it is UTF-8 as the whole
    /// entry is).
    fn plain(&mut self) -> Option<Span> {
        if self.peek()? != b'"' {
            return None;
        }
        let start = self.i + 1;
        // Strings are short: a byte loop beats a call to `memchr`.
        let len = self.b[start..]
            .iter()
            .position(|&c| c == b'"' || c == b'\\')?;
        if self.b[start + len] != b'"' {
            return None;
        }
        self.i = start + len + 1;
        // Entries are under 4 GiB (checked in `read`).
        Some(Span(start as u32, (start + len) as u32))
    }

    fn skip_string(&mut self) -> Option<()> {
        self.i += 1;
        loop {
            // An escape at the very end leaves `i` past it: no string.
            let k = self
                .b
                .get(self.i..)?
                .iter()
                .position(|&c| c == b'"' || c == b'\\')?;
            self.i += k;
            if self.b[self.i] == b'"' {
                self.i += 1;
                return Some(());
            }
            self.i += 2;
        }
    }

    /// Steps over one value.
    fn skip(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.skip_string(),
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    match *self.b.get(self.i)? {
                        b'"' => {
                            self.skip_string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth = depth.checked_sub(1)?;
                            if depth == 0 {
                                self.i += 1;
                                return Some(());
                            }
                        }
                        _ => {}
                    }
                    self.i += 1;
                }
            }
            _ => {
                let start = self.i;
                while let Some(c) = self.peek() {
                    if matches!(c, b',' | b'}' | b']' | b' ') {
                        break;
                    }
                    self.i += 1;
                }
                (self.i > start).then_some(())
            }
        }
    }

    fn object(&mut self, node: &Trie, out: &mut [Span]) -> Option<()> {
        if self.peek()? != b'{' {
            return None;
        }
        self.i += 1;
        self.ws();
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(());
        }
        loop {
            self.ws();
            // Keys are compared as bytes.
            let Span(a, z) = self.plain()?;
            let key = &self.b[a as usize..z as usize];
            self.ws();
            if self.peek()? != b':' {
                return None;
            }
            self.i += 1;
            self.ws();
            let (n, head) = (key.len(), prefix(key));
            match (0..node.names.len()).find(|&k| {
                node.names[k] == (n, head) && (n <= 8 || node.kids[k].0.as_bytes()[8..] == key[8..])
            }) {
                Some(k) => self.value(&node.kids[k].1, out)?,
                None => self.skip()?,
            }
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    fn value(&mut self, node: &Trie, out: &mut [Span]) -> Option<()> {
        match self.peek()? {
            b'{' if !node.kids.is_empty() => self.object(node, out),
            b'"' => {
                let s = self.plain()?;
                if let Some(id) = node.leaf {
                    set(out, id, s)?;
                }
                // `actor.id` of `"actor": "alice"` (as [`lookup`] reads it).
                if let Some(id) = node.bare {
                    set(out, id, s)?;
                }
                Some(())
            }
            b't' | b'f' if node.leaf.is_some() => {
                let len = if self.b[self.i..].starts_with(b"true") {
                    4
                } else if self.b[self.i..].starts_with(b"false") {
                    5
                } else {
                    return None;
                };
                let start = self.i;
                self.i += len;
                set(out, node.leaf?, Span(start as u32, self.i as u32))
            }
            b'-' | b'0'..=b'9' if node.leaf.is_some() => {
                let start = self.i;
                self.skip()?;
                // Only an integer written as the full parser would write it.
                if !plain_integer(&self.b[start..self.i]) {
                    return None;
                }
                set(out, node.leaf?, Span(start as u32, self.i as u32))
            }
            _ => self.skip(),
        }
    }
}

/// One event's values of the interned paths.
#[derive(Debug)]
pub struct Fields<'e>(Of<'e>);

#[derive(Debug)]
enum Of<'e> {
    /// Read by a [`Reader`]: where each value is in the entry.
    Spans { text: &'e str, spans: &'e [Span] },
    /// Read from the parsed entry ([`Paths::read`]).
    Values(Vec<Option<Cow<'e, str>>>),
}

impl Fields<'_> {
    /// The value at `id`.
    pub fn get(&self, id: PathId) -> Option<&str> {
        match &self.0 {
            Of::Spans { text, spans } => match spans.get(id.0)? {
                &NO_SPAN => None,
                Span(a, z) => text.get(*a as usize..*z as usize),
            },
            Of::Values(values) => values.get(id.0).and_then(|v| v.as_deref()),
        }
    }

    fn len(&self) -> usize {
        match &self.0 {
            Of::Spans { spans, .. } => spans.len(),
            Of::Values(values) => values.len(),
        }
    }
}

impl PartialEq for Fields<'_> {
    /// The same values of the same paths, however read.
    fn eq(&self, other: &Fields<'_>) -> bool {
        self.len() == other.len()
            && (0..self.len()).all(|k| self.get(PathId(k)) == other.get(PathId(k)))
    }
}

/// A rule's filters: every `all` entry holds, no `except` entry does.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Matcher {
    /// Must all match.
    pub all: Vec<(PathId, Pattern)>,
    /// Must none match.
    pub except: Vec<(PathId, Pattern)>,
}

impl Matcher {
    /// Whether an event whose field `path` has `value` may pass: `false`
    /// when one of the `all` entries on `path` refuses the value,
    /// whatever the event's other fields are.
    pub fn admits(&self, path: PathId, value: Option<&str>) -> bool {
        self.all
            .iter()
            .all(|(p, pat)| *p != path || pat.matches(value))
    }

    /// Whether the event with `fields` passes.
    pub fn matches(&self, fields: &Fields<'_>) -> bool {
        self.all.iter().all(|(p, pat)| pat.matches(fields.get(*p)))
            && !self
                .except
                .iter()
                .any(|(p, pat)| pat.matches(fields.get(*p)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_and_paths() {
        let mut paths = Paths::default();
        let action = paths.intern("action");
        let ip = paths.intern("actor.ip");
        let id = paths.intern("actor.id");
        let tty = paths.intern("metadata.n");
        assert_eq!(paths.intern("action"), action, "interned once");
        let bytes =
            br#"{"action":"auth.login","actor":{"id":"bob","ip":"192.0.2.7"},"metadata":{"n":3}}"#;
        let ev = Json::parse(bytes).unwrap();
        let f = paths.read(&ev);
        assert_eq!(f.get(ip), Some("192.0.2.7"));
        assert_eq!(f.get(tty), Some("3"));
        let m = Matcher {
            all: vec![
                (action, Pattern::parse("auth.*")),
                (
                    id,
                    Pattern::AnyOf(vec![Pattern::parse("alice"), Pattern::parse("b*")]),
                ),
            ],
            except: vec![(ip, Pattern::parse("10.*"))],
        };
        assert!(m.matches(&f));
        let bare = Json::parse(br#"{"action":"authz","actor":"bob"}"#).unwrap();
        let g = paths.read(&bare);
        assert_eq!(g.get(id), Some("bob"), "a bare actor is actor.id");
        assert!(!m.matches(&g), "auth.* keeps its dot: authz is not auth.*");
        let inside =
            Json::parse(br#"{"action":"auth.x","actor":{"id":"bob","ip":"10.1.1.1"}}"#).unwrap();
        assert!(!m.matches(&paths.read(&inside)), "except wins");
        assert!(!Pattern::Present.matches(None));
    }
}

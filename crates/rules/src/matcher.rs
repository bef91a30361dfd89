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
        Fields {
            values: self.paths.iter().map(|p| lookup(event, p)).collect(),
        }
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
/// integers written plainly); whatever it is not sure of — an escaped key
/// or value it needs, a number that is not a plain integer, a path met
/// twice, anything malformed — makes [`Reader::read`] answer `None`, and the
/// caller parses the entry fully ([`Paths::read`]), so both give the same
/// values.
#[derive(Clone, Debug, Default)]
pub struct Reader {
    root: Trie,
    n: usize,
}

#[derive(Clone, Debug, Default)]
struct Trie {
    kids: Vec<(String, Trie)>,
    leaf: Option<PathId>,
}

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
        Reader {
            root,
            n: paths.paths.len(),
        }
    }

    /// The values of `entry`, or `None` when it must be parsed fully.
    pub fn read<'e>(&self, entry: &'e [u8]) -> Option<Fields<'e>> {
        let mut values = vec![None; self.n];
        let mut w = Walk { b: entry, i: 0 };
        w.ws();
        w.object(&self.root, &mut values)?;
        w.ws();
        (w.i == entry.len()).then_some(Fields { values })
    }
}

struct Walk<'e> {
    b: &'e [u8],
    i: usize,
}

type Values<'e> = [Option<Cow<'e, str>>];

fn set<'e>(out: &mut Values<'e>, id: PathId, v: Cow<'e, str>) -> Option<()> {
    let slot = &mut out[id.0];
    if slot.is_some() {
        return None;
    }
    *slot = Some(v);
    Some(())
}

impl<'e> Walk<'e> {
    fn ws(&mut self) {
        while matches!(self.b.get(self.i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// The bytes of a string with no escapes (at its opening quote).
    fn plain_bytes(&mut self) -> Option<&'e [u8]> {
        if self.peek()? != b'"' {
            return None;
        }
        let start = self.i + 1;
        let len = self.b[start..]
            .iter()
            .position(|c| matches!(c, b'"' | b'\\') || *c < 0x20)?;
        if self.b[start + len] != b'"' {
            return None;
        }
        self.i = start + len + 1;
        Some(&self.b[start..start + len])
    }

    /// A string with no escapes (at its opening quote).
    fn plain_string(&mut self) -> Option<&'e str> {
        std::str::from_utf8(self.plain_bytes()?).ok()
    }

    fn skip_string(&mut self) -> Option<()> {
        self.i += 1;
        loop {
            match *self.b.get(self.i)? {
                b'"' => {
                    self.i += 1;
                    return Some(());
                }
                b'\\' => self.i += 2,
                _ => self.i += 1,
            }
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
                    if matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                        break;
                    }
                    self.i += 1;
                }
                (self.i > start).then_some(())
            }
        }
    }

    fn object(&mut self, node: &Trie, out: &mut Values<'e>) -> Option<()> {
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
            // Keys are compared as bytes; only values kept are checked
            // for UTF-8.
            let key = self.plain_bytes()?;
            self.ws();
            if self.peek()? != b':' {
                return None;
            }
            self.i += 1;
            self.ws();
            match node.kids.iter().find(|(k, _)| k.as_bytes() == key) {
                Some((_, kid)) => self.value(kid, out)?,
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

    fn value(&mut self, node: &Trie, out: &mut Values<'e>) -> Option<()> {
        match self.peek()? {
            b'{' if !node.kids.is_empty() => self.object(node, out),
            b'"' => {
                let s = self.plain_string()?;
                if let Some(id) = node.leaf {
                    set(out, id, Cow::Borrowed(s))?;
                }
                // `actor.id` of `"actor": "alice"` (as [`lookup`] reads it).
                if let Some(id) = node
                    .kids
                    .iter()
                    .find(|(k, _)| k == "id")
                    .and_then(|(_, t)| t.leaf)
                {
                    set(out, id, Cow::Borrowed(s))?;
                }
                Some(())
            }
            b't' | b'f' if node.leaf.is_some() => {
                let word = if self.b[self.i..].starts_with(b"true") {
                    "true"
                } else if self.b[self.i..].starts_with(b"false") {
                    "false"
                } else {
                    return None;
                };
                self.i += word.len();
                set(out, node.leaf?, Cow::Borrowed(word))
            }
            b'-' | b'0'..=b'9' if node.leaf.is_some() => {
                let start = self.i;
                self.skip()?;
                let text = std::str::from_utf8(&self.b[start..self.i]).ok()?;
                // Only an integer written as the full parser would write it.
                let n: i64 = text.parse().ok()?;
                if n.unsigned_abs() > veritrail_core::json::MAX_SAFE_INTEGER.unsigned_abs()
                    || n.to_string() != text
                {
                    return None;
                }
                set(out, node.leaf?, Cow::Borrowed(text))
            }
            _ => self.skip(),
        }
    }
}

/// One event's values of the interned paths.
#[derive(Debug, PartialEq, Eq)]
pub struct Fields<'e> {
    values: Vec<Option<Cow<'e, str>>>,
}

impl Fields<'_> {
    /// The value at `id`.
    pub fn get(&self, id: PathId) -> Option<&str> {
        self.values.get(id.0).and_then(|v| v.as_deref())
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

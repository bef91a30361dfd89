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

/// One event's values of the interned paths.
#[derive(Debug)]
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

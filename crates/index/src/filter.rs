//! What a query asks ([`Filter`]) and the SQL `WHERE` it becomes. Every
//! value is a bound parameter; free text becomes quoted FTS5 strings, so no
//! query syntax reaches SQLite from users.

use veritrail_core::Timestamp;

/// Most results one query returns.
pub const MAX_LIMIT: u32 = 1000;

/// A query. Every given filter must match; results come in index order,
/// after `cursor`.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Actor id, exact.
    pub actor: Option<String>,
    /// Action, exact; `auth.*` (or `auth*`) matches a prefix, `*` any.
    pub action: Option<String>,
    /// Outcome, exact.
    pub outcome: Option<String>,
    /// Target id, exact.
    pub target: Option<String>,
    /// Source host or app, exact.
    pub source: Option<String>,
    /// `received_at` at or after this instant.
    pub since: Option<Timestamp>,
    /// `received_at` before this instant.
    pub until: Option<Timestamp>,
    /// Full text over `message` and `metadata`: every word must occur.
    pub q: Option<String>,
    /// Results wanted (1..=1000).
    pub limit: u32,
    /// Only entries after this index.
    pub cursor: Option<u64>,
}

/// The `WHERE …` of a filter (empty when nothing is filtered) and its arguments.
pub(crate) fn where_clause(f: &Filter) -> (String, Vec<rusqlite::types::Value>) {
    let (clauses, args) = conditions(f);
    (where_of(&clauses), args)
}

/// `WHERE c1 AND c2 …`, or nothing when there is no condition.
pub(crate) fn where_of(clauses: &[String]) -> String {
    if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    }
}

/// The conditions of a filter over the rows' columns, one SQL expression
/// each, and their arguments in order.
pub(crate) fn conditions(f: &Filter) -> (Vec<String>, Vec<rusqlite::types::Value>) {
    let mut clauses: Vec<String> = Vec::new();
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    let eq = |col: &str,
              v: &Option<String>,
              clauses: &mut Vec<String>,
              args: &mut Vec<rusqlite::types::Value>| {
        if let Some(v) = v {
            clauses.push(format!("{col} = ?"));
            args.push(v.clone().into());
        }
    };
    eq("actor", &f.actor, &mut clauses, &mut args);
    eq("outcome", &f.outcome, &mut clauses, &mut args);
    eq("target", &f.target, &mut clauses, &mut args);
    if let Some(a) = &f.action {
        if let Some((c, mut a)) = action_clause(a) {
            clauses.push(c);
            args.append(&mut a);
        }
    }
    if let Some(s) = &f.source {
        clauses.push("(host = ? OR app = ?)".into());
        args.push(s.clone().into());
        args.push(s.clone().into());
    }
    if let Some(t) = &f.since {
        clauses.push("received >= ?".into());
        args.push(nanos(t).into());
    }
    if let Some(t) = &f.until {
        clauses.push("received < ?".into());
        args.push(nanos(t).into());
    }
    if let Some(m) = f.q.as_deref().and_then(fts_match) {
        clauses.push("idx IN (SELECT rowid FROM ev_fts WHERE ev_fts MATCH ?)".into());
        args.push(m.into());
    }
    if let Some(c) = f.cursor {
        clauses.push("idx > ?".into());
        args.push((c as i64).into());
    }
    (clauses, args)
}

/// Free text as an FTS5 query: every word a quoted string, so no query
/// syntax from users reaches SQLite; `None` when there is no word.
pub(crate) fn fts_match(q: &str) -> Option<String> {
    let m: Vec<String> = q
        .split_whitespace()
        .map(|w| format!("\"{}\"", w.replace('"', "\"\"")))
        .collect();
    (!m.is_empty()).then(|| m.join(" "))
}

/// An action filter as SQL over a column `action`: exact, or a prefix
/// (`auth.*`, `auth*`) as a range so the action index is used; `None` for
/// `*` alone (any action).
fn action_clause(a: &str) -> Option<(String, Vec<rusqlite::types::Value>)> {
    match a
        .strip_suffix(".*")
        .map(|p| format!("{p}."))
        .or_else(|| a.strip_suffix('*').map(str::to_owned))
    {
        Some(prefix) if prefix.is_empty() => None,
        Some(prefix) => {
            let mut upper = prefix.clone().into_bytes();
            if let Some(last) = upper.last_mut() {
                *last += 1;
            }
            Some((
                "action >= ? AND action < ?".into(),
                vec![
                    prefix.into(),
                    String::from_utf8_lossy(&upper).into_owned().into(),
                ],
            ))
        }
        None => Some(("action = ?".into(), vec![a.to_owned().into()])),
    }
}

/// An instant as the index stores `received`: Unix nanoseconds, clamped
/// to 64 bits.
pub(crate) fn nanos(t: &Timestamp) -> i64 {
    t.unix_nanos()
        .clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// Words as FTS5's default tokenizer (`unicode61`) sees them: runs of
/// letters and digits, case-folded.
fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

impl Filter {
    /// Whether nothing is filtered (`limit` and `cursor` aside).
    pub fn is_empty(&self) -> bool {
        self.actor.is_none()
            && self.action.is_none()
            && self.outcome.is_none()
            && self.target.is_none()
            && self.source.is_none()
            && self.since.is_none()
            && self.until.is_none()
            && self.q.is_none()
    }

    /// Whether a stored entry (at `index`) passes the filter, without the
    /// index: live streams apply the query API's filters to entries as
    /// they are published. The same fields and rules as the SQL (`limit`
    /// aside); `q` asks every word to occur in `message` or `metadata`.
    pub fn matches(&self, index: u64, entry: &[u8]) -> bool {
        let r = crate::row::row(entry);
        let eq = |want: &Option<String>, have: &Option<String>| {
            want.as_ref()
                .is_none_or(|w| have.as_deref() == Some(w.as_str()))
        };
        if !eq(&self.actor, &r.actor)
            || !eq(&self.outcome, &r.outcome)
            || !eq(&self.target, &r.target)
        {
            return false;
        }
        if let Some(a) = &self.action {
            let have = r.action.as_deref().unwrap_or_default();
            let ok = match a
                .strip_suffix(".*")
                .map(|p| format!("{p}."))
                .or_else(|| a.strip_suffix('*').map(str::to_owned))
            {
                Some(prefix) => r.action.is_some() && have.starts_with(&prefix),
                None => r.action.as_deref() == Some(a.as_str()),
            };
            if !ok {
                return false;
            }
        }
        if let Some(s) = &self.source {
            if r.host.as_deref() != Some(s.as_str()) && r.app.as_deref() != Some(s.as_str()) {
                return false;
            }
        }
        let ns = |t: &Timestamp| {
            t.unix_nanos()
                .clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
        };
        if let Some(t) = &self.since {
            if r.received.is_none_or(|x| x < ns(t)) {
                return false;
            }
        }
        if let Some(t) = &self.until {
            if r.received.is_none_or(|x| x >= ns(t)) {
                return false;
            }
        }
        if let Some(q) = &self.q {
            let have: std::collections::HashSet<String> = words(&r.text).collect();
            if !words(q).all(|w| have.contains(&w)) {
                return false;
            }
        }
        self.cursor.is_none_or(|c| index > c)
    }
}

#[cfg(test)]
mod matches_tests {
    use super::*;

    /// The in-memory filter agrees with the SQL one on the same entries.
    #[test]
    fn matches_agrees_with_the_index() {
        let tmp = tempfile::tempdir().unwrap();
        let qi = crate::QueryIndex::open(&tmp.path().join("q.sqlite")).unwrap();
        let entries: Vec<Vec<u8>> = [
            r#"{"action":"auth.login","actor":{"id":"alice","ip":"192.0.2.1"},"outcome":"failure","received_at":"2026-12-02T10:00:00.000000000Z","source":{"host":"web-1","app":"sshd"},"message":"Failed password for alice"}"#,
            r#"{"action":"auth.logout","actor":"bob","received_at":"2026-12-02T11:00:00.000000000Z","metadata":{"tty":"pts/1"}}"#,
            r#"{"action":"authz.check","actor":"carol","target":{"id":"db","type":"table"},"received_at":"2026-12-02T12:00:00.000000000Z","source":{"app":"web-1"}}"#,
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
        qi.add(0, &entries).unwrap();
        let t = |s: &str| Some(Timestamp::parse_rfc3339(s).unwrap());
        let filters = [
            Filter {
                action: Some("auth.*".into()),
                ..Filter::default()
            },
            Filter {
                action: Some("auth*".into()),
                ..Filter::default()
            },
            Filter {
                action: Some("*".into()),
                ..Filter::default()
            },
            Filter {
                actor: Some("bob".into()),
                ..Filter::default()
            },
            Filter {
                source: Some("web-1".into()),
                ..Filter::default()
            },
            Filter {
                target: Some("db".into()),
                ..Filter::default()
            },
            Filter {
                outcome: Some("failure".into()),
                ..Filter::default()
            },
            Filter {
                since: t("2026-12-02T11:00:00Z"),
                ..Filter::default()
            },
            Filter {
                until: t("2026-12-02T11:00:00Z"),
                ..Filter::default()
            },
            Filter {
                q: Some("PASSWORD alice".into()),
                ..Filter::default()
            },
            Filter {
                q: Some("pts".into()),
                ..Filter::default()
            },
            Filter {
                cursor: Some(0),
                ..Filter::default()
            },
        ];
        for f in filters {
            let f = Filter { limit: 100, ..f };
            let (sql, _) = qi.query(&f).unwrap();
            let mem: Vec<u64> = (0..3u64)
                .filter(|i| f.matches(*i, &entries[*i as usize]))
                .collect();
            assert_eq!(sql, mem, "{f:?}");
        }
    }
}

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
        match a
            .strip_suffix(".*")
            .map(|p| format!("{p}."))
            .or_else(|| a.strip_suffix('*').map(str::to_owned))
        {
            // `*` alone: any action.
            Some(prefix) if prefix.is_empty() => {}
            // A prefix as a range, so the action index is used.
            Some(prefix) => {
                let mut upper = prefix.clone().into_bytes();
                if let Some(last) = upper.last_mut() {
                    *last += 1;
                }
                clauses.push("action >= ? AND action < ?".into());
                args.push(prefix.into());
                args.push(String::from_utf8_lossy(&upper).into_owned().into());
            }
            None => {
                clauses.push("action = ?".into());
                args.push(a.clone().into());
            }
        }
    }
    if let Some(s) = &f.source {
        clauses.push("(host = ? OR app = ?)".into());
        args.push(s.clone().into());
        args.push(s.clone().into());
    }
    let ns = |t: &Timestamp| {
        t.unix_nanos()
            .clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
    };
    if let Some(t) = &f.since {
        clauses.push("received >= ?".into());
        args.push(ns(t).into());
    }
    if let Some(t) = &f.until {
        clauses.push("received < ?".into());
        args.push(ns(t).into());
    }
    if let Some(q) = &f.q {
        // Every word as a quoted FTS5 string: no query syntax from users.
        let m: Vec<String> = q
            .split_whitespace()
            .map(|w| format!("\"{}\"", w.replace('"', "\"\"")))
            .collect();
        if !m.is_empty() {
            clauses.push("idx IN (SELECT rowid FROM ev_fts WHERE ev_fts MATCH ?)".into());
            args.push(m.join(" ").into());
        }
    }
    if let Some(c) = f.cursor {
        clauses.push("idx > ?".into());
        args.push((c as i64).into());
    }
    let where_sql = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    (where_sql, args)
}

//! The derived query index: an SQLite database (bundled SQLite with FTS5) per
//! log, fed from published entries, rebuildable at any time, and never the
//! source of truth — queries return entry indexes, and callers read the event
//! bytes from the log itself.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rayon::prelude::*;
use rusqlite::{params, Connection, OptionalExtension as _};
use veritrail_core::json::Json;
use veritrail_core::Timestamp;

use crate::error::{Result, StoreError};

/// Most results one query returns.
pub const MAX_LIMIT: u32 = 1000;

/// A query. Every given filter must match; results come in index order,
/// after `cursor`.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Actor id, exact.
    pub actor: Option<String>,
    /// Action, exact; `auth.*` (or `auth*`) matches a prefix.
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

/// The fields of a stored event that queries use.
#[derive(Debug, Default, PartialEq, Eq)]
struct Row {
    actor: Option<String>,
    action: Option<String>,
    outcome: Option<String>,
    target: Option<String>,
    host: Option<String>,
    app: Option<String>,
    received: Option<i64>,
    text: String,
}

fn s(v: Option<&Json<'_>>) -> Option<String> {
    v.and_then(Json::as_str).map(str::to_owned)
}

fn flatten(v: &Json<'_>, out: &mut String) {
    match v {
        Json::Str(x) => {
            out.push_str(x);
            out.push(' ');
        }
        Json::Int(i) => {
            out.push_str(&i.to_string());
            out.push(' ');
        }
        Json::Bool(b) => out.push_str(if *b { "true " } else { "false " }),
        Json::Null => {}
        Json::Array(a) => a.iter().for_each(|x| flatten(x, out)),
        Json::Object(m) => m.iter().for_each(|(k, x)| {
            out.push_str(k);
            out.push(' ');
            flatten(x, out);
        }),
    }
}

fn row(entry: &[u8]) -> Row {
    let Ok(v) = Json::parse(entry) else {
        return Row::default();
    };
    let actor = match v.get("actor") {
        Some(a @ Json::Str(_)) => s(Some(a)),
        Some(a) => s(a.get("id")),
        None => None,
    };
    let mut text = String::new();
    if let Some(m) = v.get("message") {
        flatten(m, &mut text);
    }
    if let Some(m) = v.get("metadata") {
        flatten(m, &mut text);
    }
    Row {
        actor,
        action: s(v.get("action")),
        outcome: s(v.get("outcome")),
        target: v.get("target").and_then(|t| s(t.get("id"))),
        host: v.get("source").and_then(|t| s(t.get("host"))),
        app: v.get("source").and_then(|t| s(t.get("app"))),
        received: v
            .get("received_at")
            .and_then(Json::as_str)
            .and_then(|t| Timestamp::parse_rfc3339(t).ok())
            .map(|t| {
                t.unix_nanos()
                    .clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
            }),
        text,
    }
}

fn rows_of(entries: &[Vec<u8>]) -> Vec<Row> {
    entries
        .par_iter()
        .with_min_len(256)
        .map(|e| row(e))
        .collect()
}

/// The `WHERE …` of a filter (empty when nothing is filtered) and its arguments.
fn where_clause(f: &Filter) -> (String, Vec<rusqlite::types::Value>) {
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

/// One log's query index.
pub struct QueryIndex {
    path: PathBuf,
    conn: Mutex<Connection>,
}

fn sql(path: &Path) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |e| StoreError::io(path, std::io::Error::other(e.to_string()))
}

impl QueryIndex {
    /// Opens or creates the index database at `path`.
    ///
    /// # Errors
    /// SQLite errors (as I/O errors on the path).
    pub fn open(path: &Path) -> Result<QueryIndex> {
        if let Some(d) = path.parent() {
            std::fs::create_dir_all(d).map_err(|e| StoreError::io(d, e))?;
        }
        let conn = Connection::open(path).map_err(sql(path))?;
        // The index is derived data: a crash may lose its tail, which is
        // re-indexed from the log; it never needs a sync per insert.
        conn.execute_batch(
            "PRAGMA page_size=16384;
             PRAGMA journal_mode=WAL;
             PRAGMA synchronous=OFF;
             PRAGMA cache_size=-65536;
             PRAGMA temp_store=MEMORY;
             CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS ev(idx INTEGER PRIMARY KEY, actor TEXT, action TEXT, outcome TEXT,
                                           target TEXT, host TEXT, app TEXT, received INTEGER);
             CREATE INDEX IF NOT EXISTS ev_actor ON ev(actor);
             CREATE INDEX IF NOT EXISTS ev_action ON ev(action);
             CREATE INDEX IF NOT EXISTS ev_target ON ev(target);
             CREATE INDEX IF NOT EXISTS ev_received ON ev(received);
             CREATE VIRTUAL TABLE IF NOT EXISTS ev_fts USING fts5(body, content='');",
        )
        .map_err(sql(path))?;
        Ok(QueryIndex {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
        })
    }

    /// How many entries (from index 0) are indexed.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn indexed_through(&self) -> Result<u64> {
        let c = self.conn.lock().expect("index lock");
        let v: Option<i64> = c
            .query_row("SELECT v FROM meta WHERE k='indexed_through'", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(sql(&self.path))?;
        Ok(v.unwrap_or(0) as u64)
    }

    /// Indexes `entries`, which must start exactly at `first` = indexed_through.
    ///
    /// # Errors
    /// SQLite errors; `OutOfRange` if `first` is not where the index ends.
    pub fn add(&self, first: u64, entries: &[Vec<u8>]) -> Result<()> {
        self.add_rows(first, &rows_of(entries))
    }

    fn add_rows(&self, first: u64, rows: &[Row]) -> Result<()> {
        let mut c = self.conn.lock().expect("index lock");
        let tx = c.transaction().map_err(sql(&self.path))?;
        let have: i64 = tx
            .query_row(
                "SELECT coalesce((SELECT v FROM meta WHERE k='indexed_through'), 0)",
                [],
                |r| r.get(0),
            )
            .map_err(sql(&self.path))?;
        if have as u64 != first {
            return Err(StoreError::OutOfRange(format!(
                "index ends at {have}, not {first}"
            )));
        }
        {
            let mut ins = tx
                .prepare_cached("INSERT INTO ev(idx, actor, action, outcome, target, host, app, received) VALUES (?,?,?,?,?,?,?,?)")
                .map_err(sql(&self.path))?;
            let mut fts = tx
                .prepare_cached("INSERT INTO ev_fts(rowid, body) VALUES (?, ?)")
                .map_err(sql(&self.path))?;
            for (k, r) in rows.iter().enumerate() {
                let idx = (first + k as u64) as i64;
                ins.execute(params![
                    idx, r.actor, r.action, r.outcome, r.target, r.host, r.app, r.received
                ])
                .map_err(sql(&self.path))?;
                if !r.text.is_empty() {
                    fts.execute(params![idx, r.text]).map_err(sql(&self.path))?;
                }
            }
        }
        tx.execute(
            "INSERT INTO meta(k, v) VALUES ('indexed_through', ?) ON CONFLICT(k) DO UPDATE SET v=excluded.v",
            params![(first + rows.len() as u64) as i64],
        )
        .map_err(sql(&self.path))?;
        tx.commit().map_err(sql(&self.path))
    }

    /// Entry indexes matching `f`, in order, and the cursor for the next page
    /// (`None` when there are no more).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn query(&self, f: &Filter) -> Result<(Vec<u64>, Option<u64>)> {
        let (where_sql, args) = where_clause(f);
        let limit = f.limit.clamp(1, MAX_LIMIT);
        let sql_text = format!(
            "SELECT idx FROM ev {where_sql} ORDER BY idx LIMIT {}",
            limit + 1
        );
        let c = self.conn.lock().expect("index lock");
        let mut st = c.prepare(&sql_text).map_err(sql(&self.path))?;
        let mut out: Vec<u64> = st
            .query_map(rusqlite::params_from_iter(args), |r| r.get::<_, i64>(0))
            .map_err(sql(&self.path))?
            .map(|r| r.map(|v| v as u64))
            .collect::<std::result::Result<_, _>>()
            .map_err(sql(&self.path))?;
        let next = if out.len() > limit as usize {
            out.truncate(limit as usize);
            out.last().copied()
        } else {
            None
        };
        Ok((out, next))
    }

    /// Every matching entry index after `f.cursor`, in index order, without
    /// a limit (`f.limit` is ignored): for exports and the command line.
    /// `each` returns `false` to stop early.
    ///
    /// # Errors
    /// SQLite errors, or what `each` returns.
    pub fn for_each(&self, f: &Filter, each: &mut dyn FnMut(u64) -> Result<bool>) -> Result<()> {
        let (where_sql, args) = where_clause(f);
        let c = self.conn.lock().expect("index lock");
        let mut st = c
            .prepare(&format!("SELECT idx FROM ev {where_sql} ORDER BY idx"))
            .map_err(sql(&self.path))?;
        let mut rows = st
            .query(rusqlite::params_from_iter(args))
            .map_err(sql(&self.path))?;
        while let Some(r) = rows.next().map_err(sql(&self.path))? {
            let idx: i64 = r.get(0).map_err(sql(&self.path))?;
            if !each(idx as u64)? {
                break;
            }
        }
        Ok(())
    }
}

/// Indexes published entries of `log` from where `qi` ends up to the latest
/// checkpoint, in chunks. Returns the new `indexed_through`.
///
/// # Errors
/// Store and SQLite errors.
pub fn catch_up(
    log: &crate::Log,
    qi: &QueryIndex,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<u64> {
    const CHUNK: u64 = 20_000;
    let size = log.published().size;
    let mut from = qi.indexed_through()?;
    if from > size {
        return Err(StoreError::corrupted(
            &qi.path,
            0,
            format!("the query index covers {from} entries but the log has {size}: rebuild it with `veritrail reindex`"),
        ));
    }
    // Read and parse the next chunk while the current one is inserted.
    let (tx, rx) = std::sync::mpsc::sync_channel::<Result<(u64, Vec<Row>)>>(1);
    std::thread::scope(|scope| -> Result<()> {
        scope.spawn(move || {
            let mut at = from;
            while at < size {
                let n = CHUNK.min(size - at);
                let r = log.entries(at, n).map(|e| (at, rows_of(&e)));
                let stop = r.is_err();
                if tx.send(r).is_err() || stop {
                    return;
                }
                at += n;
            }
        });
        for r in rx {
            let (at, rows) = r?;
            qi.add_rows(at, &rows)?;
            from = at + rows.len() as u64;
            progress(from, size);
        }
        Ok(())
    })?;
    Ok(from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(i: u64) -> Vec<u8> {
        let action = ["auth.login", "auth.logout", "file.modify"][(i % 3) as usize];
        format!(
            r#"{{"action":"{action}","actor":{{"id":"user-{}"}},"message":"event number {i}","metadata":{{"color":"{}"}},"outcome":"success","received_at":"2026-11-26T00:00:{:02}.000000000Z","source":{{"app":"shop","host":"web-{}"}},"target":{{"id":"t{}"}}}}"#,
            i % 4,
            if i % 2 == 0 { "red" } else { "blue" },
            i % 60,
            i % 2,
            i % 5
        )
        .into_bytes()
    }

    #[test]
    fn filters_prefixes_text_time_and_pages() {
        let dir = tempfile::tempdir().unwrap();
        let qi = QueryIndex::open(&dir.path().join("q.sqlite")).unwrap();
        let entries: Vec<Vec<u8>> = (0..60).map(ev).collect();
        qi.add(0, &entries[..30]).unwrap();
        assert!(qi.add(10, &entries[30..]).is_err(), "a gap must be refused");
        qi.add(30, &entries[30..]).unwrap();
        assert_eq!(qi.indexed_through().unwrap(), 60);
        let q = |f: Filter| {
            let paged = qi
                .query(&Filter {
                    limit: 1000,
                    ..f.clone()
                })
                .unwrap()
                .0;
            let mut streamed = Vec::new();
            qi.for_each(&f, &mut |i| {
                streamed.push(i);
                Ok(true)
            })
            .unwrap();
            assert_eq!(paged, streamed, "query and for_each disagree for {f:?}");
            paged
        };
        let want = |p: &dyn Fn(u64) -> bool| (0..60).filter(|i| p(*i)).collect::<Vec<u64>>();
        assert_eq!(
            q(Filter {
                actor: Some("user-1".into()),
                ..Filter::default()
            }),
            want(&|i| i % 4 == 1)
        );
        assert_eq!(
            q(Filter {
                action: Some("auth.*".into()),
                ..Filter::default()
            }),
            want(&|i| i % 3 != 2)
        );
        assert_eq!(
            q(Filter {
                action: Some("auth.login".into()),
                ..Filter::default()
            }),
            want(&|i| i % 3 == 0)
        );
        assert_eq!(
            q(Filter {
                source: Some("web-1".into()),
                ..Filter::default()
            }),
            want(&|i| i % 2 == 1)
        );
        assert_eq!(
            q(Filter {
                target: Some("t3".into()),
                ..Filter::default()
            }),
            want(&|i| i % 5 == 3)
        );
        assert_eq!(
            q(Filter {
                q: Some("red".into()),
                ..Filter::default()
            }),
            want(&|i| i % 2 == 0)
        );
        assert_eq!(
            q(Filter {
                q: Some("number 7".into()),
                ..Filter::default()
            }),
            vec![7]
        );
        assert_eq!(
            q(Filter {
                q: Some("\"OR".into()),
                ..Filter::default()
            }),
            Vec::<u64>::new()
        );
        let since = Timestamp::parse_rfc3339("2026-11-26T00:00:50Z").ok();
        assert_eq!(
            q(Filter {
                since,
                ..Filter::default()
            }),
            want(&|i| i >= 50)
        );
        // Paging.
        let (page, next) = qi
            .query(&Filter {
                limit: 25,
                ..Filter::default()
            })
            .unwrap();
        assert_eq!((page.len(), next), (25, Some(24)));
        let (page, next) = qi
            .query(&Filter {
                limit: 25,
                cursor: Some(49),
                ..Filter::default()
            })
            .unwrap();
        assert_eq!((page, next), ((50..60).collect(), None));
    }
}

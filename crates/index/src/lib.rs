//! veritrail-index: the derived query index. An SQLite database (bundled
//! SQLite with FTS5) per log, fed by following the log ([`follow`]),
//! rebuildable at any time, and never the source of truth: queries return
//! entry indexes, and callers read the event bytes from the log itself
//! (where each is checked against its leaf hash).
//!
//! The durable log does not link SQLite; this crate does.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension as _};

pub mod error;
pub mod filter;
pub mod follow;
mod rollup;
mod row;
pub mod stats;

pub use error::{IndexError, Result};
pub use filter::{Filter, MAX_LIMIT};
pub use follow::{catch_up, Follower, Urgent, UrgentGuard};

use filter::where_clause;
use row::{rows_of, Row};

/// Rows a page's scan in index order reads first; each next window is
/// four times larger.
const WINDOW_FIRST: i64 = 4096;
/// Rows a page's scan in index order reads before SQLite's plan takes over.
const WINDOW_BUDGET: i64 = 4096 + 16384 + 65536;

fn indexed_through(c: &Connection, path: &Path) -> Result<u64> {
    let v: Option<i64> = c
        .query_row("SELECT v FROM meta WHERE k='indexed_through'", [], |r| {
            r.get(0)
        })
        .optional()
        .map_err(sql(path))?;
    Ok(v.unwrap_or(0) as u64)
}

/// One log's query index.
pub struct QueryIndex {
    path: PathBuf,
    conn: Mutex<Connection>,
}

fn sql(path: &Path) -> impl Fn(rusqlite::Error) -> IndexError + '_ {
    move |source| IndexError::Sqlite {
        path: path.to_path_buf(),
        source,
    }
}

impl QueryIndex {
    /// Where the database is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens or creates the index database at `path`.
    ///
    /// # Errors
    /// SQLite errors (as I/O errors on the path).
    pub fn open(path: &Path) -> Result<QueryIndex> {
        if let Some(d) = path.parent() {
            std::fs::create_dir_all(d).map_err(|source| IndexError::Io {
                path: d.to_path_buf(),
                source,
            })?;
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
        let mut conn = conn;
        conn.execute_batch(rollup::SCHEMA).map_err(sql(path))?;
        rollup::ensure(&mut conn).map_err(sql(path))?;
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
        indexed_through(&c, &self.path)
    }

    /// Indexes `entries`, which must start exactly at `first` = indexed_through.
    ///
    /// # Errors
    /// SQLite errors; `Gap` if `first` is not where the index ends.
    pub fn add(&self, first: u64, entries: &[Vec<u8>]) -> Result<()> {
        self.add_rows(first, &rows_of(entries))
    }

    pub(crate) fn add_rows(&self, first: u64, rows: &[Row]) -> Result<()> {
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
            return Err(IndexError::Gap {
                path: self.path.clone(),
                have: have as u64,
                first,
            });
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
        rollup::add(&tx, first, rows).map_err(sql(&self.path))?;
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
    /// A page needs only its first matches, so broad filters are not left
    /// to an index that would find every match and sort them: free text
    /// walks the words' postings in index order, joined to the rows;
    /// action, outcome, source and time filters scan the rows in index
    /// order, in growing windows, up to 86,016 rows before
    /// handing over to SQLite's plan for what remains. Actor and target
    /// are selective: their indexes answer at once.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn query(&self, f: &Filter) -> Result<(Vec<u64>, Option<u64>)> {
        let limit = f.limit.clamp(1, MAX_LIMIT);
        let want = limit as usize + 1;
        let c = self.conn.lock().expect("index lock");
        let selective = f.actor.is_some() || f.target.is_some();
        let mut out = match f.q.as_deref().and_then(filter::fts_match) {
            Some(m) if !selective => self.page_by_postings(&c, f, m, want)?,
            None if !selective && !f.is_empty() => self.page_by_windows(&c, f, want)?,
            _ => {
                let (w, args) = where_clause(f);
                let q = format!("SELECT idx FROM ev {w} ORDER BY idx LIMIT {want}");
                self.collect(&c, &q, args)?
            }
        };
        let next = if out.len() > limit as usize {
            out.truncate(limit as usize);
            out.last().copied()
        } else {
            None
        };
        Ok((out, next))
    }

    /// The first `want` matches of a filter with free text (`m`, as FTS5
    /// takes it): the postings in index order, joined to the rows.
    fn page_by_postings(
        &self,
        c: &Connection,
        f: &Filter,
        m: String,
        want: usize,
    ) -> Result<Vec<u64>> {
        let (rest, rest_args) = filter::conditions(&Filter {
            q: None,
            cursor: None,
            ..f.clone()
        });
        let mut clauses = vec!["ev_fts MATCH ?".to_owned()];
        let mut args = vec![m.into()];
        clauses.extend(rest);
        args.extend(rest_args);
        if let Some(c) = f.cursor {
            // On the postings themselves, so a later page starts there.
            clauses.push("ev_fts.rowid > ?".into());
            args.push((c as i64).into());
        }
        let q = format!(
            "SELECT ev.idx FROM ev_fts JOIN ev ON ev.idx = ev_fts.rowid {} ORDER BY ev_fts.rowid LIMIT {want}",
            filter::where_of(&clauses)
        );
        self.collect(c, &q, args)
    }

    /// The first `want` matches of a broad filter: the rows in index order,
    /// in growing windows up to [`WINDOW_BUDGET`] rows, then SQLite's plan
    /// for the rest.
    fn page_by_windows(&self, c: &Connection, f: &Filter, want: usize) -> Result<Vec<u64>> {
        let end = indexed_through(c, &self.path)? as i64;
        let mut from = f.cursor.map_or(0, |c| c as i64 + 1);
        let mut window = WINDOW_FIRST;
        let mut scanned = 0;
        let (mut clauses, args) = filter::conditions(&Filter {
            cursor: None,
            ..f.clone()
        });
        clauses.push("idx >= ? AND idx < ?".into());
        let w = filter::where_of(&clauses);
        let mut out = Vec::new();
        while out.len() < want && from < end && scanned < WINDOW_BUDGET {
            let to = from.saturating_add(window).min(end);
            let mut a = args.clone();
            a.push(from.into());
            a.push(to.into());
            let q = format!(
                "SELECT idx FROM ev NOT INDEXED {w} ORDER BY idx LIMIT {}",
                want - out.len()
            );
            out.extend(self.collect(c, &q, a)?);
            scanned += to - from;
            from = to;
            window = window.saturating_mul(4);
        }
        if out.len() < want && from < end {
            // The loop ran: `from` is past the first row.
            let (w, args) = where_clause(&Filter {
                cursor: Some((from - 1) as u64),
                ..f.clone()
            });
            let q = format!(
                "SELECT idx FROM ev {w} ORDER BY idx LIMIT {}",
                want - out.len()
            );
            out.extend(self.collect(c, &q, args)?);
        }
        Ok(out)
    }

    /// The entry indexes `q` selects.
    fn collect(
        &self,
        c: &Connection,
        q: &str,
        args: Vec<rusqlite::types::Value>,
    ) -> Result<Vec<u64>> {
        let mut st = c.prepare_cached(q).map_err(sql(&self.path))?;
        let rows = st
            .query_map(rusqlite::params_from_iter(args), |r| r.get::<_, i64>(0))
            .map_err(sql(&self.path))?;
        rows.map(|r| r.map(|v| v as u64).map_err(sql(&self.path)))
            .collect()
    }

    /// Every matching entry index after `f.cursor`, in index order, without
    /// a limit (`f.limit` is ignored): for exports and the command line.
    /// `each` returns `false` to stop early. The index's connection is held
    /// while `each` runs: `each` must not call this index (it would wait
    /// for itself); collect the indexes first.
    ///
    /// # Errors
    /// SQLite errors, or what `each` returns.
    pub fn for_each<E: From<IndexError>>(
        &self,
        f: &Filter,
        each: &mut dyn FnMut(u64) -> std::result::Result<bool, E>,
    ) -> std::result::Result<(), E> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use veritrail_core::Timestamp;

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
                Ok::<_, IndexError>(true)
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
                action: Some("*".into()),
                ..Filter::default()
            }),
            want(&|_| true),
            "`*` alone is any action"
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

    /// Pages over many rows: the windows of a scan in index order, the
    /// hand-over to SQLite's plan when matches are rare, and free text,
    /// each page after page equal to the whole answer.
    #[test]
    fn pages_over_windows_and_postings() {
        let dir = tempfile::tempdir().unwrap();
        let qi = QueryIndex::open(&dir.path().join("p.sqlite")).unwrap();
        let n = 120_000u64;
        let entries: Vec<Vec<u8>> = (0..n)
            .map(|i| {
                // Rare: one in 7,000, all past the scan's budget but one.
                let action = if i % 7000 == 6999 && (i > 90_000 || i == 6999) {
                    "account.create"
                } else if i % 3 == 0 {
                    "auth.login"
                } else {
                    "api.call"
                };
                let outcome = if i % 5 == 0 { "failure" } else { "success" };
                let word = if i % 1000 == 0 { "rare" } else { "common" };
                format!(
                    r#"{{"action":"{action}","actor":"u{}","outcome":"{outcome}","message":"{word} {i}","received_at":"2026-12-01T00:00:00Z"}}"#,
                    i % 50
                )
                .into_bytes()
            })
            .collect();
        for (k, chunk) in entries.chunks(10_000).enumerate() {
            qi.add(k as u64 * 10_000, chunk).unwrap();
        }
        for f in [
            Filter {
                action: Some("account.*".into()),
                ..Filter::default()
            },
            Filter {
                action: Some("auth.*".into()),
                outcome: Some("failure".into()),
                ..Filter::default()
            },
            Filter {
                outcome: Some("failure".into()),
                ..Filter::default()
            },
            Filter {
                q: Some("rare".into()),
                ..Filter::default()
            },
            Filter {
                q: Some("common".into()),
                action: Some("api.call".into()),
                ..Filter::default()
            },
            Filter {
                q: Some("rare".into()),
                actor: Some("u0".into()),
                ..Filter::default()
            },
        ] {
            let mut all = Vec::new();
            qi.for_each(&f, &mut |i| {
                all.push(i);
                Ok::<_, IndexError>(true)
            })
            .unwrap();
            assert!(!all.is_empty(), "{f:?}");
            // The first page, then every page of 997 from a few cursors.
            let (first, _) = qi
                .query(&Filter {
                    limit: 50,
                    ..f.clone()
                })
                .unwrap();
            assert_eq!(first[..], all[..all.len().min(50)], "first page of {f:?}");
            let mut paged = Vec::new();
            let mut cursor = None;
            loop {
                let (page, next) = qi
                    .query(&Filter {
                        limit: 997,
                        cursor,
                        ..f.clone()
                    })
                    .unwrap();
                paged.extend(page);
                match next {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
            assert_eq!(paged, all, "all pages of {f:?}");
        }
    }
}

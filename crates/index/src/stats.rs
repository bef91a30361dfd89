//! Counts over the entries a filter selects, for charts and reports: per
//! hour and outcome, and the most frequent values of a column. Computed by
//! SQLite over the derived index (never the source of truth: a report
//! states the query and the checkpoint, and anyone can recount from the
//! log itself).

use crate::filter::{where_clause, Filter};
use crate::{sql, QueryIndex, Result};

/// Nanoseconds in an hour.
pub const HOUR_NS: i64 = 3_600_000_000_000;

/// A column a count can be grouped by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    /// The actor id.
    Actor,
    /// The action.
    Action,
    /// The outcome.
    Outcome,
    /// The target id.
    Target,
    /// The source host (or app, when the event has no host).
    Source,
}

impl Column {
    fn sql(self) -> &'static str {
        match self {
            Column::Actor => "actor",
            Column::Action => "action",
            Column::Outcome => "outcome",
            Column::Target => "target",
            Column::Source => "coalesce(host, app)",
        }
    }
}

impl QueryIndex {
    /// Matching entries per hour (`received_at` floored to the hour, Unix
    /// nanoseconds) and outcome (`""` for none), in time order.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn per_hour(&self, f: &Filter) -> Result<Vec<(i64, String, u64)>> {
        let (w, args) = where_clause(&Filter {
            cursor: None,
            ..f.clone()
        });
        let q = format!(
            "SELECT received / {HOUR_NS} AS h, coalesce(outcome, ''), count(*) FROM ev {w} GROUP BY h, 2 ORDER BY h, 2"
        );
        let c = self.conn.lock().expect("index lock");
        let mut st = c.prepare(&q).map_err(sql(&self.path))?;
        let rows = st
            .query_map(rusqlite::params_from_iter(args), |r| {
                Ok((
                    r.get::<_, i64>(0)? * HOUR_NS,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)? as u64,
                ))
            })
            .map_err(sql(&self.path))?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(sql(&self.path))?;
        Ok(rows)
    }

    /// The `top` most frequent values of `col` among matching entries, with
    /// their counts (most frequent first; ties by value), and how many
    /// entries matched in all.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn top(&self, f: &Filter, col: Column, top: u32) -> Result<(Vec<(String, u64)>, u64)> {
        let (w, args) = where_clause(&Filter {
            cursor: None,
            ..f.clone()
        });
        let c = self.conn.lock().expect("index lock");
        let total: i64 = c
            .query_row(
                &format!("SELECT count(*) FROM ev {w}"),
                rusqlite::params_from_iter(args.clone()),
                |r| r.get(0),
            )
            .map_err(sql(&self.path))?;
        let q = format!(
            "SELECT coalesce({col}, '') AS v, count(*) AS n FROM ev {w} GROUP BY v ORDER BY n DESC, v LIMIT {top}",
            col = col.sql()
        );
        let mut st = c.prepare(&q).map_err(sql(&self.path))?;
        let rows = st
            .query_map(rusqlite::params_from_iter(args), |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
            })
            .map_err(sql(&self.path))?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(sql(&self.path))?;
        Ok((rows, total as u64))
    }
}

impl QueryIndex {
    /// The first and last index of the matching entries, if any match.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn span(&self, f: &Filter) -> Result<Option<(u64, u64)>> {
        let (w, args) = where_clause(&Filter {
            cursor: None,
            ..f.clone()
        });
        let c = self.conn.lock().expect("index lock");
        let (a, b): (Option<i64>, Option<i64>) = c
            .query_row(
                &format!("SELECT min(idx), max(idx) FROM ev {w}"),
                rusqlite::params_from_iter(args),
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(sql(&self.path))?;
        Ok(a.zip(b).map(|(a, b)| (a as u64, b as u64)))
    }

    /// Counts of matching entries by the pair of values of `a` and `b`
    /// (`""` for none), most frequent first (ties by values), at most
    /// `top` rows.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn pairs(
        &self,
        f: &Filter,
        a: Column,
        b: Column,
        top: u32,
    ) -> Result<Vec<(String, String, u64)>> {
        let (w, args) = where_clause(&Filter {
            cursor: None,
            ..f.clone()
        });
        let q = format!(
            "SELECT coalesce({a}, '') AS x, coalesce({b}, '') AS y, count(*) AS n FROM ev {w} GROUP BY x, y ORDER BY n DESC, x, y LIMIT {top}",
            a = a.sql(),
            b = b.sql()
        );
        let c = self.conn.lock().expect("index lock");
        let mut st = c.prepare(&q).map_err(sql(&self.path))?;
        let rows = st
            .query_map(rusqlite::params_from_iter(args), |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)? as u64,
                ))
            })
            .map_err(sql(&self.path))?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(sql(&self.path))?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_hour_and_top_values() {
        let dir = tempfile::tempdir().unwrap();
        let qi = QueryIndex::open(&dir.path().join("i.sqlite")).unwrap();
        let ev = |h: u32, actor: &str, outcome: &str, host: &str| {
            format!(
                r#"{{"action":"auth.login","actor":"{actor}","outcome":"{outcome}","source":{{"host":"{host}"}},"received_at":"2026-12-01T{h:02}:30:00Z"}}"#
            )
            .into_bytes()
        };
        let entries = vec![
            ev(1, "alice", "success", "a"),
            ev(1, "bob", "failure", "b"),
            ev(1, "bob", "failure", "b"),
            ev(3, "bob", "failure", "c"),
            ev(3, "carol", "success", "a"),
        ];
        qi.add(0, &entries).unwrap();
        let h = qi.per_hour(&Filter::default()).unwrap();
        let base = 1_796_086_800_000_000_000i64; // 2026-12-01T01:00:00Z
        assert_eq!(
            h,
            vec![
                (base, "failure".into(), 2),
                (base, "success".into(), 1),
                (base + 2 * HOUR_NS, "failure".into(), 1),
                (base + 2 * HOUR_NS, "success".into(), 1),
            ]
        );
        let failed = Filter {
            outcome: Some("failure".into()),
            ..Filter::default()
        };
        let (by_source, n) = qi.top(&failed, Column::Source, 10).unwrap();
        assert_eq!(by_source, vec![("b".into(), 2), ("c".into(), 1)]);
        assert_eq!(n, 3);
        let (actors, n) = qi.top(&Filter::default(), Column::Actor, 2).unwrap();
        assert_eq!(actors, vec![("bob".into(), 3), ("alice".into(), 1)]);
        assert_eq!(n, 5);
        let p = qi
            .pairs(&Filter::default(), Column::Action, Column::Outcome, 10)
            .unwrap();
        assert_eq!(
            p,
            vec![
                ("auth.login".into(), "failure".into(), 3),
                ("auth.login".into(), "success".into(), 2),
            ]
        );
        assert_eq!(qi.span(&failed).unwrap(), Some((1, 3)));
        let none = Filter {
            actor: Some("nobody".into()),
            ..Filter::default()
        };
        assert_eq!(qi.span(&none).unwrap(), None);
    }
}

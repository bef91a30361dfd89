//! Counts over the entries a filter selects, for charts and reports: per
//! hour and outcome, and the most frequent values of a column. Computed by
//! SQLite over the derived index (never the source of truth: a report
//! states the query and the checkpoint, and anyone can recount from the
//! log itself).

use rusqlite::types::Value;

use crate::filter::{where_clause, Filter};
use crate::rollup::{plan, Plan, Split, ROLLED_HOUR, ROW_HOUR};
use crate::{sql, QueryIndex, Result};

pub use crate::rollup::HOUR_NS;

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
    /// The column's value in the rows.
    fn sql(self) -> &'static str {
        match self {
            Column::Actor => "coalesce(actor, '')",
            Column::Action => "coalesce(action, '')",
            Column::Outcome => "coalesce(outcome, '')",
            Column::Target => "coalesce(target, '')",
            Column::Source => "coalesce(host, app, '')",
        }
    }

    /// The column and the split of the rollup that has it, if one does.
    fn rolled(self) -> Option<(&'static str, Option<Split>)> {
        match self {
            Column::Action => Some(("action", None)),
            Column::Outcome => Some(("outcome", None)),
            Column::Source => Some(("v", Some(Split::Source))),
            Column::Actor => Some(("v", Some(Split::Actor))),
            Column::Target => None,
        }
    }
}

/// What counts are grouped by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Key {
    /// A column's value (`""` for none).
    Col(Column),
    /// The hour of `received_at` (Unix hours, floored).
    Hour,
}

/// A grouped value: text (columns) or an integer (hours); `None` for a
/// row without `received_at`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Val {
    Text(String),
    Int(i64),
    None,
}

impl From<Value> for Val {
    fn from(v: Value) -> Val {
        match v {
            Value::Text(s) => Val::Text(s),
            Value::Integer(i) => Val::Int(i),
            Value::Real(r) => Val::Text(r.to_string()),
            Value::Null => Val::None,
            Value::Blob(b) => Val::Text(String::from_utf8_lossy(&b).into_owned()),
        }
    }
}

/// Counts by the values of some keys, unordered.
type Groups = rustc_hash::FxHashMap<Vec<Val>, u64>;

impl QueryIndex {
    /// Matching entries (`cursor` and `limit` ignored) counted by `keys`:
    /// from the rollup and the rows at the period's ends when it can
    /// answer, from the rows otherwise.
    fn grouped(&self, f: &Filter, keys: &[Key]) -> Result<Groups> {
        let f = Filter {
            cursor: None,
            ..f.clone()
        };
        let c = self.conn.lock().expect("index lock");
        if let Some((plan, split, cols)) = Self::rollup_plan(&f, keys) {
            let q = format!(
                "SELECT {cols}sum(n) FROM roll WHERE kind = {split} {w} {g}",
                cols = cols.iter().map(|c| format!("{c}, ")).collect::<String>(),
                split = split as u8,
                w = plan.where_sql,
                g = group_by(cols.len())
            );
            let mut out = Groups::default();
            self.group_into(&c, &q, plan.args, keys.len(), &mut out)?;
            for e in &plan.edges {
                self.rows_grouped(&c, e, keys, &mut out)?;
            }
            return Ok(out);
        }
        let mut out = Groups::default();
        self.rows_grouped(&c, &f, keys, &mut out)?;
        Ok(out)
    }

    /// The rollup's plan for `f` grouped by `keys`: which split and which
    /// of its columns, when it has them all.
    fn rollup_plan(f: &Filter, keys: &[Key]) -> Option<(Plan, Split, Vec<&'static str>)> {
        let mut split = None;
        let mut cols = Vec::new();
        for k in keys {
            match k {
                Key::Hour => cols.push(ROLLED_HOUR),
                Key::Col(c) => {
                    let (col, s) = c.rolled()?;
                    if s.is_some() {
                        if split.is_some() && split != s {
                            return None;
                        }
                        split = s;
                    }
                    cols.push(col);
                }
            }
        }
        Some((plan(f)?, split.unwrap_or(Split::Plain), cols))
    }

    fn rows_grouped(
        &self,
        c: &rusqlite::Connection,
        f: &Filter,
        keys: &[Key],
        out: &mut Groups,
    ) -> Result<()> {
        let (w, args) = where_clause(f);
        let cols: Vec<&str> = keys
            .iter()
            .map(|k| match k {
                Key::Hour => ROW_HOUR,
                Key::Col(c) => c.sql(),
            })
            .collect();
        let q = format!(
            "SELECT {}count(*) FROM ev {w} {}",
            cols.iter().map(|c| format!("{c}, ")).collect::<String>(),
            group_by(cols.len())
        );
        self.group_into(c, &q, args, keys.len(), out)
    }

    fn group_into(
        &self,
        c: &rusqlite::Connection,
        q: &str,
        args: Vec<Value>,
        width: usize,
        out: &mut Groups,
    ) -> Result<()> {
        let mut st = c.prepare_cached(q).map_err(sql(&self.path))?;
        let mut rows = st
            .query(rusqlite::params_from_iter(args))
            .map_err(sql(&self.path))?;
        while let Some(r) = rows.next().map_err(sql(&self.path))? {
            let mut key = Vec::with_capacity(width);
            for i in 0..width {
                key.push(r.get::<_, Value>(i).map_err(sql(&self.path))?.into());
            }
            let n: Option<i64> = r.get(width).map_err(sql(&self.path))?;
            let n = n.unwrap_or(0) as u64;
            if n > 0 {
                *out.entry(key).or_insert(0) += n;
            }
        }
        Ok(())
    }

    /// Matching entries per hour (`received_at` floored to the hour, Unix
    /// nanoseconds) and outcome (`""` for none), in time order. Entries
    /// without `received_at` are left out.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn per_hour(&self, f: &Filter) -> Result<Vec<(i64, String, u64)>> {
        let mut rows: Vec<(i64, String, u64)> = self
            .grouped(f, &[Key::Hour, Key::Col(Column::Outcome)])?
            .into_iter()
            .filter_map(|(k, n)| match (&k[0], &k[1]) {
                (Val::Int(h), Val::Text(o)) => Some((h.saturating_mul(HOUR_NS), o.clone(), n)),
                _ => None,
            })
            .collect();
        rows.sort();
        Ok(rows)
    }

    /// The `top` most frequent values of `col` among matching entries, with
    /// their counts (most frequent first; ties by value), and how many
    /// entries matched in all.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn top(&self, f: &Filter, col: Column, top: u32) -> Result<(Vec<(String, u64)>, u64)> {
        let g = self.grouped(f, &[Key::Col(col)])?;
        let total = g.values().sum();
        let mut rows: Vec<(String, u64)> = g.into_iter().map(|(k, n)| (text(&k[0]), n)).collect();
        rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        rows.truncate(top as usize);
        Ok((rows, total))
    }

    /// The first and last index of the matching entries, if any match.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn span(&self, f: &Filter) -> Result<Option<(u64, u64)>> {
        let f = Filter {
            cursor: None,
            ..f.clone()
        };
        let c = self.conn.lock().expect("index lock");
        let mut parts: Vec<(Option<i64>, Option<i64>)> = Vec::new();
        let mut rows_span = |f: &Filter| -> Result<()> {
            let (w, args) = where_clause(f);
            parts.push(
                c.query_row(
                    &format!("SELECT min(idx), max(idx) FROM ev {w}"),
                    rusqlite::params_from_iter(args),
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(sql(&self.path))?,
            );
            Ok(())
        };
        match plan(&f) {
            Some(p) => {
                for e in &p.edges {
                    rows_span(e)?;
                }
                parts.push(
                    c.query_row(
                        &format!(
                            "SELECT min(lo), max(hi) FROM roll WHERE kind = {} {}",
                            Split::Plain as u8,
                            p.where_sql
                        ),
                        rusqlite::params_from_iter(p.args),
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .map_err(sql(&self.path))?,
                );
            }
            None => rows_span(&f)?,
        }
        let lo = parts.iter().filter_map(|p| p.0).min();
        let hi = parts.iter().filter_map(|p| p.1).max();
        Ok(lo.zip(hi).map(|(a, b)| (a as u64, b as u64)))
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
        let mut rows: Vec<(String, String, u64)> = self
            .grouped(f, &[Key::Col(a), Key::Col(b)])?
            .into_iter()
            .map(|(k, n)| (text(&k[0]), text(&k[1]), n))
            .collect();
        rows.sort_by(|x, y| {
            y.2.cmp(&x.2)
                .then_with(|| x.0.cmp(&y.0))
                .then_with(|| x.1.cmp(&y.1))
        });
        rows.truncate(top as usize);
        Ok(rows)
    }
}

/// `GROUP BY 1, 2, …` over the first `n` result columns (nothing for 0).
fn group_by(n: usize) -> String {
    if n == 0 {
        return String::new();
    }
    let cols: Vec<String> = (1..=n).map(|i| i.to_string()).collect();
    format!("GROUP BY {}", cols.join(", "))
}

/// A grouped value as text.
fn text(v: &Val) -> String {
    match v {
        Val::Text(s) => s.clone(),
        Val::Int(i) => i.to_string(),
        Val::None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use veritrail_core::Timestamp;

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

    /// Every count the rollup answers equals the count over the rows, for
    /// periods that start and end inside hours, on hour boundaries, or
    /// not at all; also once the rollup is rebuilt by an index that
    /// predates it.
    #[test]
    fn rollup_counts_equal_the_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.sqlite");
        let qi = QueryIndex::open(&path).unwrap();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let base = 1_796_083_200i64; // 2026-12-01T00:00:00Z
        let actions = [
            "auth.login",
            "auth.logout",
            "privilege.sudo",
            "file.modify",
            "account.create",
        ];
        let mut entries = Vec::new();
        for i in 0..3000u64 {
            if i % 500 == 7 {
                entries.push(b"not an event".to_vec());
                continue;
            }
            let t = base + rnd(30 * 3600) as i64;
            let outcome = match rnd(3) {
                0 => String::new(),
                1 => r#","outcome":"failure""#.to_owned(),
                _ => r#","outcome":"success""#.to_owned(),
            };
            let source = match rnd(3) {
                0 => String::new(),
                1 => format!(r#","source":{{"app":"app{}"}}"#, rnd(3)),
                _ => format!(r#","source":{{"host":"h{}","app":"a"}}"#, rnd(4)),
            };
            let secs = Timestamp::from_unix_nanos(
                i128::from(t) * 1_000_000_000 + i128::from(rnd(1000) as i64),
            );
            entries.push(
                format!(
                    r#"{{"action":"{}","actor":"u{}"{outcome}{source},"target":{{"id":"t{}"}},"received_at":"{}"}}"#,
                    actions[rnd(5) as usize],
                    rnd(7),
                    rnd(4),
                    secs.to_rfc3339_nanos()
                )
                .into_bytes(),
            );
        }
        let mut at = 0;
        while at < entries.len() {
            let n = (1 + rnd(400) as usize).min(entries.len() - at);
            qi.add(at as u64, &entries[at..at + n]).unwrap();
            at += n;
        }
        let keysets: [&[Key]; 7] = [
            &[],
            &[Key::Hour, Key::Col(Column::Outcome)],
            &[Key::Col(Column::Action)],
            &[Key::Col(Column::Source)],
            &[Key::Col(Column::Actor)],
            &[Key::Col(Column::Action), Key::Col(Column::Outcome)],
            &[Key::Col(Column::Target)],
        ];
        let instant = |rnd: &mut dyn FnMut(u64) -> u64| -> Option<Timestamp> {
            let s = base - 3600 + rnd(32 * 3600) as i64;
            match rnd(4) {
                0 => None,
                1 => Some(Timestamp::from_unix_nanos(
                    i128::from(s - s % 3600) * 1_000_000_000,
                )),
                _ => Some(Timestamp::from_unix_nanos(
                    i128::from(s) * 1_000_000_000 + 17,
                )),
            }
        };
        let check = |qi: &QueryIndex, rnd: &mut dyn FnMut(u64) -> u64| {
            let mut rolled = 0;
            for _ in 0..300 {
                let f = Filter {
                    action: [
                        None,
                        Some("auth.*"),
                        Some("auth.login"),
                        Some("*"),
                        Some("privilege*"),
                        Some("nope.x"),
                    ][rnd(6) as usize]
                        .map(str::to_owned),
                    outcome: [None, Some("success"), Some("failure")][rnd(3) as usize]
                        .map(str::to_owned),
                    since: instant(rnd),
                    until: instant(rnd),
                    ..Filter::default()
                };
                if plan(&f).is_some() {
                    rolled += 1;
                }
                for keys in keysets {
                    let c = qi.conn.lock().unwrap();
                    let mut want = Groups::default();
                    qi.rows_grouped(&c, &f, keys, &mut want).unwrap();
                    drop(c);
                    assert_eq!(qi.grouped(&f, keys).unwrap(), want, "{f:?} by {keys:?}");
                }
                let c = qi.conn.lock().unwrap();
                let (w, args) = where_clause(&f);
                let want: (Option<i64>, Option<i64>) = c
                    .query_row(
                        &format!("SELECT min(idx), max(idx) FROM ev {w}"),
                        rusqlite::params_from_iter(args),
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .unwrap();
                drop(c);
                let want = want.0.zip(want.1).map(|(a, b)| (a as u64, b as u64));
                assert_eq!(qi.span(&f).unwrap(), want, "span of {f:?}");
            }
            assert!(
                rolled > 100,
                "the rollup answered only {rolled} of 300 filters"
            );
        };
        check(&qi, &mut rnd);
        // An index made before the rollup: built from the rows on open.
        {
            let c = qi.conn.lock().unwrap();
            c.execute_batch("DROP TABLE roll; DELETE FROM meta WHERE k = 'rollup';")
                .unwrap();
        }
        drop(qi);
        let qi = QueryIndex::open(&path).unwrap();
        check(&qi, &mut rnd);
    }
}

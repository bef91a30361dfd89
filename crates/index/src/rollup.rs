//! Per-hour counts kept beside the index's rows, so that counting a period
//! (reports, charts) reads a few rows per hour instead of every event.
//!
//! Table `roll` holds, per hour of `received_at`, action and outcome, how
//! many entries there are and their first and last index (`kind` 0), and
//! the same split further by source (`kind` 1: host, or app when there is
//! no host) and by actor (`kind` 2). It is written in the same transaction
//! as the rows it counts, so it always agrees with them; an index made
//! before it existed has it built from its rows when opened.
//!
//! A count whose filter the rollup can answer (action, outcome and time
//! bounds only — [`plan`]) reads the whole hours inside the period from
//! `roll` and counts the parts of an hour at either end from the rows.
//! Anything else is counted from the rows, as before.

use rusqlite::types::Value;
use rusqlite::{params, Connection, Transaction};
use rustc_hash::FxHashMap;
use veritrail_core::Timestamp;

use crate::filter::{conditions, nanos, Filter};
use crate::row::Row;

/// Nanoseconds in an hour.
pub const HOUR_NS: i64 = 3_600_000_000_000;

/// The hour recorded for rows without a readable `received_at`: counted
/// only when the period is unbounded, as the rows' `received` comparisons
/// would.
const NO_HOUR: i64 = i64::MIN;

/// The hour of the rows' `received` as SQL: Unix hours, floored (as
/// [`hour`]); `NULL` without one.
pub(crate) const ROW_HOUR: &str =
    "(received - ((received % 3600000000000) + 3600000000000) % 3600000000000) / 3600000000000";

/// The rollup's `h` as the rows' hour: `NULL` for [`NO_HOUR`].
pub(crate) const ROLLED_HOUR: &str = "nullif(h, -9223372036854775808)";

/// What `meta` records once the rollup covers every row.
const META_KEY: &str = "rollup";

/// The table.
pub(crate) const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS roll(
    kind INTEGER NOT NULL, h INTEGER NOT NULL, action TEXT NOT NULL, outcome TEXT NOT NULL,
    v TEXT NOT NULL, n INTEGER NOT NULL, lo INTEGER NOT NULL, hi INTEGER NOT NULL,
    PRIMARY KEY(kind, h, action, outcome, v)) WITHOUT ROWID;";

/// Which split of the counts a query reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Split {
    /// By hour, action and outcome.
    Plain = 0,
    /// Also by source.
    Source = 1,
    /// Also by actor.
    Actor = 2,
}

/// The hour (Unix hours, floored) of a `received` value.
fn hour(received: Option<i64>) -> i64 {
    received.map_or(NO_HOUR, |r| r.div_euclid(HOUR_NS))
}

/// Counts `rows` (the first at index `first`) into the rollup, inside the
/// transaction that inserts them.
pub(crate) fn add(tx: &Transaction<'_>, first: u64, rows: &[Row]) -> rusqlite::Result<()> {
    type Key<'r> = (u8, i64, &'r str, &'r str, &'r str);
    let mut acc: FxHashMap<Key<'_>, (i64, i64, i64)> = FxHashMap::default();
    for (k, r) in rows.iter().enumerate() {
        let idx = (first + k as u64) as i64;
        let h = hour(r.received);
        let a = r.action.as_deref().unwrap_or("");
        let o = r.outcome.as_deref().unwrap_or("");
        let src = r.host.as_deref().or(r.app.as_deref()).unwrap_or("");
        let actor = r.actor.as_deref().unwrap_or("");
        for key in [
            (Split::Plain as u8, h, a, o, ""),
            (Split::Source as u8, h, a, o, src),
            (Split::Actor as u8, h, a, o, actor),
        ] {
            let e = acc.entry(key).or_insert((0, idx, idx));
            e.0 += 1;
            e.2 = idx;
        }
    }
    let mut st = tx.prepare_cached(
        "INSERT INTO roll(kind, h, action, outcome, v, n, lo, hi) VALUES (?,?,?,?,?,?,?,?)
         ON CONFLICT DO UPDATE SET n = n + excluded.n, lo = min(lo, excluded.lo), hi = max(hi, excluded.hi)",
    )?;
    for ((kind, h, a, o, v), (n, lo, hi)) in acc {
        st.execute(params![kind, h, a, o, v, n, lo, hi])?;
    }
    Ok(())
}

/// Builds the rollup from the rows when the index predates it (once).
pub(crate) fn ensure(c: &mut Connection) -> rusqlite::Result<()> {
    let tx = c.transaction()?;
    let done: Option<i64> = tx
        .query_row("SELECT v FROM meta WHERE k = ?", [META_KEY], |r| r.get(0))
        .ok();
    if done == Some(1) {
        return Ok(());
    }
    let rows: i64 = tx.query_row("SELECT count(*) FROM ev", [], |r| r.get(0))?;
    if rows > 0 {
        tracing::info!(
            rows,
            "the query index predates its hourly counts: counting its rows once"
        );
    }
    tx.execute("DELETE FROM roll", [])?;
    let h = format!("coalesce({ROW_HOUR}, {NO_HOUR})");
    for (kind, v) in [
        (Split::Plain, "''"),
        (Split::Source, "coalesce(host, app, '')"),
        (Split::Actor, "coalesce(actor, '')"),
    ] {
        tx.execute(
            &format!(
                "INSERT INTO roll(kind, h, action, outcome, v, n, lo, hi)
                 SELECT {k}, {h}, coalesce(action, ''), coalesce(outcome, ''), {v}, count(*), min(idx), max(idx)
                 FROM ev GROUP BY 2, 3, 4, 5",
                k = kind as u8
            ),
            [],
        )?;
    }
    tx.execute(
        "INSERT INTO meta(k, v) VALUES (?, 1) ON CONFLICT(k) DO UPDATE SET v = 1",
        [META_KEY],
    )?;
    tx.commit()
}

/// How a filter is counted from the rollup: the `WHERE` over `roll`
/// (without `kind`) with its arguments, and the parts of the period
/// outside whole hours, to count from the rows.
#[derive(Debug)]
pub(crate) struct Plan {
    pub where_sql: String,
    pub args: Vec<Value>,
    pub edges: Vec<Filter>,
}

/// The plan for `f`, or `None` when the rollup cannot answer it (other
/// fields filtered, or a period shorter than its whole hours).
pub(crate) fn plan(f: &Filter) -> Option<Plan> {
    if f.actor.is_some() || f.target.is_some() || f.source.is_some() || f.q.is_some() {
        return None;
    }
    // Stored events never carry empty strings: the rollup's '' stands for
    // "none", which an exact filter on '' must not find.
    if f.action.as_deref() == Some("") || f.outcome.as_deref() == Some("") {
        return None;
    }
    // The rollup's `action` and `outcome` columns take the rows' SQL.
    let (mut clauses, mut args) = conditions(&Filter {
        action: f.action.clone(),
        outcome: f.outcome.clone(),
        ..Filter::default()
    });
    let s = f.since.as_ref().map(nanos).map(i128::from);
    let u = f.until.as_ref().map(nanos).map(i128::from);
    let hour = i128::from(HOUR_NS);
    let lo = s.map(|s| (s + hour - 1).div_euclid(hour));
    let hi = u.map(|u| u.div_euclid(hour));
    if let (Some(a), Some(b)) = (lo, hi) {
        if a >= b {
            return None;
        }
    }
    let mut edges = Vec::new();
    let at = |h: i128| Timestamp::from_unix_nanos(h * hour);
    if s.is_some() || u.is_some() {
        clauses.push(format!("h > {NO_HOUR}"));
    }
    if let (Some(s), Some(lo)) = (s, lo) {
        clauses.push("h >= ?".into());
        args.push(i64::try_from(lo).ok()?.into());
        if s < lo * hour {
            edges.push(Filter {
                until: Some(at(lo)),
                ..f.clone()
            });
        }
    }
    if let (Some(u), Some(hi)) = (u, hi) {
        clauses.push("h < ?".into());
        args.push(i64::try_from(hi).ok()?.into());
        if hi * hour < u {
            edges.push(Filter {
                since: Some(at(hi)),
                ..f.clone()
            });
        }
    }
    Some(Plan {
        where_sql: clauses
            .iter()
            .map(|c| format!(" AND {c}"))
            .collect::<String>(),
        args,
        edges,
    })
}

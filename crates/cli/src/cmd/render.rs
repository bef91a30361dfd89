//! Output of `veritrail query`: NDJSON, JSON, CSV, an aligned table and a
//! per-actor timeline. Everything but the timeline streams.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde_json::Value;
use veritrail_core::Timestamp;

use crate::args::Format;

/// One matching event: its index, leaf hash and stored bytes.
pub struct Row {
    pub index: u64,
    pub leaf_hash: String,
    pub raw: Vec<u8>,
}

impl Row {
    pub fn new(index: u64, raw: Vec<u8>) -> Row {
        Row {
            index,
            leaf_hash: veritrail_core::leaf_hash(&raw).to_base64(),
            raw,
        }
    }
}

/// The fields tables, CSV and timelines show.
struct Fields {
    index: u64,
    /// The event's own `time`, else when it was received.
    time: Option<Timestamp>,
    received: String,
    event_time: String,
    actor: String,
    action: String,
    outcome: String,
    target: String,
    source: String,
    severity: String,
    message: String,
    leaf_hash: String,
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn fields(row: &Row) -> Fields {
    let v: Value = serde_json::from_slice(&row.raw).unwrap_or(Value::Null);
    let id_of = |v: &Value| match v {
        Value::Object(m) => m.get("id").map(text).unwrap_or_default(),
        other => text(other),
    };
    let source = match &v["source"] {
        Value::Object(m) => [m.get("host"), m.get("app")]
            .into_iter()
            .flatten()
            .map(text)
            .collect::<Vec<_>>()
            .join("/"),
        other => text(other),
    };
    let received = text(&v["received_at"]);
    let event_time = text(&v["time"]);
    let time = Timestamp::parse_rfc3339(&event_time)
        .or_else(|_| Timestamp::parse_rfc3339(&received))
        .ok();
    Fields {
        index: row.index,
        time,
        received,
        event_time,
        actor: id_of(&v["actor"]),
        action: text(&v["action"]),
        outcome: text(&v["outcome"]),
        target: id_of(&v["target"]),
        source,
        severity: text(&v["severity"]),
        message: text(&v["message"]).replace(['\n', '\r', '\t'], " "),
        leaf_hash: row.leaf_hash.clone(),
    }
}

/// `2026-11-26 10:33:01.123Z`: readable, sortable, UTC.
pub fn readable(t: Option<Timestamp>) -> String {
    match t {
        Some(t) => {
            let s = t.to_rfc3339_nanos();
            format!("{} {}Z", &s[..10], &s[11..23])
        }
        None => "-".repeat(24),
    }
}

/// `+5s`, `+2m03s`, `+1h59m`, `+3d04h`.
fn delta(secs: i128) -> String {
    let s = secs.max(0);
    match s {
        0..=59 => format!("+{s}s"),
        60..=3599 => format!("+{}m{:02}s", s / 60, s % 60),
        3600..=86_399 => format!("+{}h{:02}m", s / 3600, (s / 60) % 60),
        _ => format!("+{}d{:02}h", s / 86_400, (s / 3600) % 24),
    }
}

fn clip(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn pad(s: &str, width: usize) -> String {
    let c = clip(s, width);
    let n = c.chars().count();
    format!("{c}{}", " ".repeat(width - n.min(width)))
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

const TABLE_HEAD: [&str; 8] = [
    "INDEX", "TIME", "ACTOR", "ACTION", "OUTCOME", "TARGET", "SOURCE", "MESSAGE",
];
/// Widest a padded table column may get (INDEX and TIME are fixed).
const TABLE_CAP: [usize; 8] = [20, 24, 24, 32, 8, 32, 24, 0];
/// Rows a table looks at before fixing its column widths.
const TABLE_SAMPLE: usize = 1000;

fn table_cells(f: &Fields) -> [String; 8] {
    [
        f.index.to_string(),
        readable(f.time),
        f.actor.clone(),
        f.action.clone(),
        f.outcome.clone(),
        f.target.clone(),
        f.source.clone(),
        f.message.clone(),
    ]
}

/// Writes rows in one format.
pub struct Renderer<'w> {
    out: &'w mut dyn Write,
    format: Format,
    timeline_gap: Option<u64>,
    rows: u64,
    pending: Vec<Fields>,
    widths: Option<[usize; 8]>,
}

impl<'w> Renderer<'w> {
    pub fn new(out: &'w mut dyn Write, format: Format, timeline_gap: Option<u64>) -> Self {
        Renderer {
            out,
            format,
            timeline_gap,
            rows: 0,
            pending: Vec::new(),
            widths: None,
        }
    }

    fn csv_head(&mut self) -> io::Result<()> {
        self.out.write_all(
            b"index,time,received_at,actor,action,outcome,target,source,severity,message,leaf_hash\r\n",
        )
    }

    pub fn row(&mut self, row: Row) -> io::Result<()> {
        self.rows += 1;
        if self.timeline_gap.is_some() {
            self.pending.push(fields(&row));
            return Ok(());
        }
        match self.format {
            Format::Ndjson | Format::Json => {
                if self.format == Format::Json {
                    self.out
                        .write_all(if self.rows == 1 { b"[\n" } else { b",\n" })?;
                }
                write!(
                    self.out,
                    "{{\"index\":{},\"leaf_hash\":\"{}\",\"event\":",
                    row.index, row.leaf_hash
                )?;
                self.out.write_all(&row.raw)?;
                self.out.write_all(if self.format == Format::Ndjson {
                    b"}\n"
                } else {
                    b"}"
                })
            }
            Format::Csv => {
                if self.rows == 1 {
                    self.csv_head()?;
                }
                let f = fields(&row);
                let cells = [
                    f.index.to_string(),
                    f.event_time,
                    f.received,
                    f.actor,
                    f.action,
                    f.outcome,
                    f.target,
                    f.source,
                    f.severity,
                    f.message,
                    f.leaf_hash,
                ];
                let line: Vec<String> = cells.iter().map(|c| csv_field(c)).collect();
                write!(self.out, "{}\r\n", line.join(","))
            }
            Format::Table => {
                self.pending.push(fields(&row));
                if self.widths.is_none() && self.pending.len() < TABLE_SAMPLE {
                    return Ok(());
                }
                self.flush_table()
            }
        }
    }

    fn flush_table(&mut self) -> io::Result<()> {
        if self.widths.is_none() {
            let mut w = TABLE_HEAD.map(str::len);
            for f in &self.pending {
                for (k, c) in table_cells(f).iter().enumerate() {
                    w[k] = w[k].max(c.chars().count());
                }
            }
            for (k, cap) in TABLE_CAP.iter().enumerate() {
                if *cap > 0 {
                    w[k] = w[k].min(*cap);
                }
            }
            self.widths = Some(w);
            let head = TABLE_HEAD.map(str::to_owned);
            self.table_line(&head, w)?;
        }
        let w = self.widths.expect("set above");
        for f in std::mem::take(&mut self.pending) {
            self.table_line(&table_cells(&f), w)?;
        }
        Ok(())
    }

    fn table_line(&mut self, cells: &[String; 8], w: [usize; 8]) -> io::Result<()> {
        let mut line = String::new();
        for (k, c) in cells.iter().enumerate() {
            if k == 7 {
                line.push_str(c);
            } else if k == 0 {
                line.push_str(&format!("{c:>width$}  ", width = w[0]));
            } else {
                line.push_str(&pad(c, w[k]));
                line.push_str("  ");
            }
        }
        writeln!(self.out, "{}", line.trim_end())
    }

    fn timeline(&mut self, gap: u64) -> io::Result<()> {
        let mut groups: BTreeMap<String, Vec<Fields>> = BTreeMap::new();
        for f in std::mem::take(&mut self.pending) {
            let key = if f.actor.is_empty() {
                "(no actor)".to_owned()
            } else {
                f.actor.clone()
            };
            groups.entry(key).or_default().push(f);
        }
        let mut order: Vec<(String, Vec<Fields>)> = groups.into_iter().collect();
        for (_, evs) in &mut order {
            evs.sort_by_key(|f| (f.time, f.index));
        }
        order.sort_by(|a, b| (a.1[0].time, &a.0).cmp(&(b.1[0].time, &b.0)));
        let wa = order
            .iter()
            .flat_map(|(_, e)| e.iter().map(|f| f.action.chars().count()))
            .max()
            .unwrap_or(0)
            .min(32);
        let wo = order
            .iter()
            .flat_map(|(_, e)| e.iter().map(|f| f.outcome.chars().count()))
            .max()
            .unwrap_or(0);
        let wt = order
            .iter()
            .flat_map(|(_, e)| e.iter().map(|f| f.target.chars().count()))
            .max()
            .unwrap_or(0)
            .min(32);
        for (g, (actor, evs)) in order.iter().enumerate() {
            if g > 0 {
                writeln!(self.out)?;
            }
            let failures = evs.iter().filter(|f| f.outcome == "failure").count();
            writeln!(
                self.out,
                "== {actor}: {} event{}, {failures} failure{}, {} .. {}",
                evs.len(),
                if evs.len() == 1 { "" } else { "s" },
                if failures == 1 { "" } else { "s" },
                readable(evs[0].time),
                readable(evs[evs.len() - 1].time),
            )?;
            let mut prev: Option<Timestamp> = None;
            for f in evs {
                let d = match (prev, f.time) {
                    (Some(p), Some(t)) => {
                        let secs = (t.unix_nanos() - p.unix_nanos()) / 1_000_000_000;
                        if secs > i128::from(gap) {
                            writeln!(
                                self.out,
                                "   ... {} without activity ...",
                                &delta(secs)[1..]
                            )?;
                        }
                        delta(secs)
                    }
                    _ => String::new(),
                };
                prev = f.time.or(prev);
                let mark = if f.outcome == "failure" { " !" } else { "  " };
                let line = format!(
                    "{mark} {}  {d:<7}  {}  {}  {}  #{}{}",
                    readable(f.time),
                    pad(&f.action, wa),
                    pad(&f.outcome, wo),
                    pad(&f.target, wt),
                    f.index,
                    if f.message.is_empty() {
                        String::new()
                    } else {
                        format!("  {}", clip(&f.message, 80))
                    },
                );
                writeln!(self.out, "{}", line.trim_end())?;
            }
        }
        Ok(())
    }

    /// Ends the output (closing JSON arrays, flushing tables and timelines).
    pub fn finish(mut self) -> io::Result<()> {
        if let Some(gap) = self.timeline_gap {
            if self.pending.is_empty() {
                return Ok(());
            }
            return self.timeline(gap);
        }
        match self.format {
            Format::Json => self
                .out
                .write_all(if self.rows == 0 { b"[]\n" } else { b"\n]\n" }),
            Format::Csv if self.rows == 0 => self.csv_head(),
            Format::Table => self.flush_table(),
            _ => Ok(()),
        }
    }
}

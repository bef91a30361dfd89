//! The fields of a stored event that the index keeps: actor, action,
//! outcome, target, source host and app, `received_at`, and the words of
//! `message` and `metadata` for full-text search.

use rayon::prelude::*;
use veritrail_core::json::Json;
use veritrail_core::Timestamp;

/// The fields of a stored event that queries use.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Row {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub outcome: Option<String>,
    pub target: Option<String>,
    pub host: Option<String>,
    pub app: Option<String>,
    pub received: Option<i64>,
    pub text: String,
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

pub(crate) fn row(entry: &[u8]) -> Row {
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

/// The threads that make index rows, below the ack path like the indexers
/// (the global rayon pool serves the ack path).
fn background() -> &'static rayon::ThreadPool {
    static POOL: std::sync::OnceLock<rayon::ThreadPool> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .thread_name(|i| format!("vt-idx-rows-{i}"))
            .start_handler(|_| veritrail_store::priority::below_ack_path())
            .build()
            .expect("starting the index's threads")
    })
}

pub(crate) fn rows_of<E: AsRef<[u8]> + Sync>(entries: &[E]) -> Vec<Row> {
    background().install(|| {
        entries
            .par_iter()
            .with_min_len(256)
            .map_init(veritrail_store::priority::keep_from_starving, |_, e| {
                row(e.as_ref())
            })
            .collect()
    })
}

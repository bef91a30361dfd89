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

/// Whether `part` occurs in `text` between word boundaries (the text's
/// start or end, or an ASCII byte that is no letter or digit on each side),
/// so that the words of `part` are words of `text`, in the same order.
fn words_inside(text: &str, part: &str) -> bool {
    if part.is_empty() {
        return true;
    }
    let separator = |b: Option<&u8>| b.is_none_or(|b| b.is_ascii() && !b.is_ascii_alphanumeric());
    text.match_indices(part).any(|(at, _)| {
        let bytes = text.as_bytes();
        separator(at.checked_sub(1).and_then(|i| bytes.get(i)))
            && separator(bytes.get(at + part.len()))
    })
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
        // A collector's message is also inside the raw line it keeps
        // (`metadata.syslog.raw`), whose words are taken below: once is
        // enough to find them, the same words in the same order.
        let raw = v
            .get("metadata")
            .and_then(|m| m.get("syslog"))
            .and_then(|s| s.get("raw"))
            .and_then(Json::as_str);
        let inside_raw = matches!((m, raw), (Json::Str(msg), Some(raw)) if words_inside(raw, msg));
        if !inside_raw {
            flatten(m, &mut text);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_inside_its_raw_line_is_indexed_once() {
        let with_raw = br#"{"action":"auth.login","actor":"alice","message":"Failed password for alice","metadata":{"syslog":{"raw":"Dec  2 10:00:01 h sshd[1]: Failed password for alice"}}}"#;
        let r = row(with_raw);
        assert_eq!(
            r.text.matches("Failed password for alice").count(),
            1,
            "{}",
            r.text
        );
        // Not inside between word boundaries: both kept.
        let glued = br#"{"action":"a.b","actor":"x","message":"word","metadata":{"syslog":{"raw":"swordfish"}}}"#;
        assert!(row(glued).text.starts_with("word "), "{}", row(glued).text);
        let other =
            br#"{"action":"a.b","actor":"x","message":"hello there","metadata":{"note":"no raw"}}"#;
        assert!(row(other).text.starts_with("hello there "));
        assert!(words_inside("a: b c", "b c"));
        assert!(words_inside("b c", "b c"));
        assert!(!words_inside("ab c", "b c"));
        assert!(!words_inside("b cd", "b c"));
        assert!(words_inside("xb c b c", "b c"));
    }
}

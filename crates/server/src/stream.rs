//! `GET /v1/logs/{log}/stream`: the log's entries as Server-Sent Events,
//! filtered like a query (docs/API.md "Live stream").
//!
//! Each event is `id: <index>`, `event: entry`, `data: {"index",
//! "leaf_hash", "event"}`. `?from=INDEX` (or `Last-Event-ID: N`, meaning
//! from N + 1) replays from there and goes on live through the same
//! subscription, so there is no gap and no duplicate at the switch;
//! without either, the stream starts at the log's end. A thread per
//! stream takes the log's entries from the log's shared reader
//! ([`veritrail_service::tap`]; never the ingest path) into a bounded queue; a
//! client that leaves the queue full for 2 s ([`STALL`]) is cut off with a last event, `event:
//! cut`, `data: {"resume_from": N}` — it resumes from there without a gap.
//! Comments keep idle connections alive. Every stream opened is recorded
//! in `_system`.

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use serde_json::json;
use veritrail_service::index::Filter;

use crate::auth::{required, ClientIp};
use crate::error::{shown, AppError};
use crate::params::Params;
use crate::state::AppState;

/// Events a stream may hold for its client before the client counts as
/// too slow and is cut off.
pub const QUEUE: usize = 4096;

const PARAMS: [&str; 9] = [
    "actor", "action", "outcome", "target", "source", "since", "until", "q", "from",
];

enum Item {
    Entry(u64, String),
    Cut(u64),
}

/// `GET /v1/logs/{log}/stream?…&from=`.
pub async fn stream(
    State(st): State<Arc<AppState>>,
    Path(name): Path<String>,
    params: Params,
    ip: ClientIp,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let log = st.log(&name)?;
    let tap = st.tap(&name)?;
    let token = required(&st, &headers, ip).await?;
    if !token.can_read(&name) {
        return Err(AppError::forbidden(&format!(
            "read entries of log {}",
            shown(&name)
        )));
    }
    let p = params.only(&PARAMS)?;
    let last_id = match headers.get("last-event-id") {
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or_else(|| {
                    AppError::bad_request("bad_query", "Last-Event-ID is not an entry index")
                })?,
        ),
        None => None,
    };
    let from = match (p.u64("from")?, last_id) {
        (Some(f), _) => f,
        (None, Some(id)) => id + 1,
        (None, None) => log.durable_size(),
    };
    let durable = log.durable_size();
    if from > durable {
        return Err(AppError::bad_request(
            "bad_query",
            format!("from {from} is beyond the log's {durable} entries"),
        ));
    }
    let filter = crate::read::filter_of(&p)?;
    let asked: serde_json::Map<String, serde_json::Value> = PARAMS
        .iter()
        .filter_map(|k| p.str(k).map(|v| ((*k).to_owned(), json!(v))))
        .collect();
    st.audit(
        "evidence.stream",
        Some(&token),
        ip.0,
        Some(&name),
        json!({"query": asked, "from": from}),
    )
    .await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Item>(QUEUE);
    let cut: Arc<Mutex<Option<u64>>> = Arc::new(Mutex::new(None));
    {
        let st = st.clone();
        let cut = cut.clone();
        std::thread::Builder::new()
            .name(format!("stream-{name}"))
            .spawn(move || follow(&st, &tap, from, &filter, &tx, &cut))
            .map_err(|e| AppError::internal(&e))?;
    }
    st.streams_open.fetch_add(1, Ordering::Relaxed);
    let guard = OpenStream(st.clone());
    let events = stream::unfold((rx, cut, guard), |(mut rx, cut, guard)| async move {
        let item = match rx.recv().await {
            Some(i) => i,
            None => {
                let at = cut.lock().expect("cut lock").take()?;
                Item::Cut(at)
            }
        };
        let ev = match item {
            Item::Entry(index, data) => Event::default()
                .id(index.to_string())
                .event("entry")
                .data(data),
            Item::Cut(at) => Event::default().event("cut").data(
                json!({"resume_from": at, "reason": "the client did not keep up"}).to_string(),
            ),
        };
        Some((Ok::<_, Infallible>(ev), (rx, cut, guard)))
    });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response())
}

/// How long a stream's queue may stay full before its client counts as too
/// slow and is cut off.
pub const STALL: Duration = Duration::from_secs(2);

/// How often an idle stream sends a comment.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Counts open streams for `/metrics`.
struct OpenStream(Arc<AppState>);

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.streams_open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The stream's reader: takes the log's entries from its shared reader
/// (the tap) from `from`, sends what passes the filter, stops when the
/// client goes, the server stops, or the queue is full (then leaves where
/// to resume in `cut`).
fn follow(
    st: &AppState,
    tap: &Arc<veritrail_service::tap::Tap>,
    from: u64,
    filter: &Filter,
    tx: &tokio::sync::mpsc::Sender<Item>,
    cut: &Mutex<Option<u64>>,
) {
    let mut reader = tap.reader(from);
    let filtered = !filter.is_empty();
    while !tx.is_closed() && !st.stopping.load(Ordering::Acquire) {
        let (chunk, off) = match reader.next(Duration::from_millis(200)) {
            Ok(Some(c)) => c,
            Ok(None) => continue,
            Err(e) => {
                tracing::error!(error = %e, "a live stream stopped");
                return;
            }
        };
        for (index, e, leaf) in chunk.entries_from(off) {
            if filtered && !filter.matches(index, e) {
                continue;
            }
            let leaf = leaf.to_base64();
            let mut data = String::with_capacity(e.len() + 80);
            data.push_str("{\"index\":");
            data.push_str(&index.to_string());
            data.push_str(",\"leaf_hash\":\"");
            data.push_str(&leaf);
            data.push_str("\",\"event\":");
            data.push_str(&String::from_utf8_lossy(e));
            data.push('}');
            // A full queue is a client behind; one that does not drain any
            // of it for STALL is cut off (a burst, e.g. a replay, only waits).
            let mut item = Item::Entry(index, data);
            let since = std::time::Instant::now();
            loop {
                match tx.try_send(item) {
                    Ok(()) => break,
                    Err(tokio::sync::mpsc::error::TrySendError::Full(back)) => {
                        if since.elapsed() >= STALL || st.stopping.load(Ordering::Acquire) {
                            *cut.lock().expect("cut lock") = Some(index);
                            st.streams_cut.fetch_add(1, Ordering::Relaxed);
                            return;
                        }
                        item = back;
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => return,
                }
            }
        }
    }
}

//! A request body (one JSON event, a JSON array of events, or NDJSON) or a
//! list of events → one validated, canonical, hashed batch. Pure: no I/O.
//! Every item is validated before the batch exists, so a batch is stored
//! whole or not at all, and an error names the item and the field.

use veritrail_core::json::Json;
use veritrail_core::{Event, EventError};
use veritrail_store::PreparedBatch;

use super::{Format, IngestError, MAX_EVENTS};

/// Validates and canonicalizes `body` (as `format`) into one batch, every
/// event stamped `received_at = stamp`.
///
/// # Errors
/// The first invalid item ([`IngestError::Event`]), a body that is not what
/// `format` says, more than [`MAX_EVENTS`] events, or none.
pub fn prepare_body(
    body: &[u8],
    format: Format,
    stamp: &str,
) -> Result<PreparedBatch, IngestError> {
    let mut batch = PreparedBatch::builder(16, body.len() + 64);
    // Each event is canonicalized straight into its WAL record; the leaf
    // hashes are computed by `finish`.
    let mut add = |item: usize, ev: Result<Event<'_>, EventError>| -> Result<(), IngestError> {
        if item >= MAX_EVENTS {
            return Err(IngestError::TooManyEvents(format!(
                "more than {MAX_EVENTS} events in one request"
            )));
        }
        let e = ev.map_err(|error| IngestError::Event { item, error })?;
        batch
            .push_with(|out| e.append_canonical_at(stamp, out))?
            .map_err(|error| IngestError::Event { item, error })
    };
    match format {
        Format::Ndjson if body.len() >= PARALLEL_NDJSON => {
            return prepare_ndjson_parallel(body, stamp);
        }
        Format::Ndjson => {
            let lines = body
                .split(|b| *b == b'\n')
                .filter(|l| !l.iter().all(u8::is_ascii_whitespace));
            for (item, line) in lines.enumerate() {
                add(item, Event::parse(line))?;
            }
        }
        Format::Json => match Json::parse(body)
            .map_err(|e| IngestError::InvalidJson(format!("invalid JSON: {e}")))?
        {
            Json::Array(items) => {
                if items.len() > MAX_EVENTS {
                    return Err(IngestError::TooManyEvents(format!(
                        "{} events; at most {MAX_EVENTS} per request",
                        items.len()
                    )));
                }
                for (item, v) in items.into_iter().enumerate() {
                    add(item, Event::from_json(v))?;
                }
            }
            v @ Json::Object(_) => add(0, Event::from_json(v))?,
            other => {
                return Err(IngestError::InvalidBody(format!(
                    "the body must be an event object, an array of events, or NDJSON; got {}",
                    other.type_name()
                )))
            }
        },
    }
    if batch.is_empty() {
        return Err(IngestError::Empty);
    }
    Ok(batch.finish()?)
}

/// NDJSON bodies at least this large are prepared on every core.
const PARALLEL_NDJSON: usize = 256 * 1024;

/// A large NDJSON body in parts, each validated and canonicalized on its
/// own core into a part of the batch, the parts joined in order; the same
/// batch, and the same first error, as one pass would give.
fn prepare_ndjson_parallel(body: &[u8], stamp: &str) -> Result<PreparedBatch, IngestError> {
    use rayon::prelude::*;
    let parts = rayon::current_num_threads().max(1) * 4;
    let want = body.len() / parts + 1;
    let mut bounds = vec![0usize];
    while let Some(&last) = bounds.last() {
        if last >= body.len() {
            break;
        }
        let cut = (last + want).min(body.len());
        let end = memchr::memchr(b'\n', &body[cut..]).map_or(body.len(), |i| cut + i + 1);
        bounds.push(end);
    }
    // Each part: its events, how many, and its first error (by its own
    // numbering).
    type Part = (PreparedBatch, usize, Option<(usize, EventError)>);
    let results: Vec<Part> = bounds
        .par_windows(2)
        .map(|w| {
            let part = &body[w[0]..w[1]];
            let mut batch = PreparedBatch::builder(part.len() / 256 + 1, part.len() + 64);
            let mut n = 0usize;
            for line in part
                .split(|b| *b == b'\n')
                .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
            {
                let written = Event::parse(line).and_then(|e| {
                    batch
                        .push_with(|out| e.append_canonical_at(stamp, out))
                        // (The store's own size check: the event model's
                        // limit is the same, so it refused the event first.)
                        .unwrap_or(Err(EventError::TooLarge(usize::MAX)))
                });
                if let Err(e) = written {
                    return (batch, n, Some((n, e)));
                }
                n += 1;
            }
            (batch, n, None)
        })
        .collect();
    let mut before = 0usize;
    let mut out: Option<PreparedBatch> = None;
    for (batch, n, err) in results {
        // As one pass: the count is checked before each item.
        let too_many =
            || IngestError::TooManyEvents(format!("more than {MAX_EVENTS} events in one request"));
        if let Some((k, error)) = err {
            let item = before + k;
            return Err(if item >= MAX_EVENTS {
                too_many()
            } else {
                IngestError::Event { item, error }
            });
        }
        before += n;
        if before > MAX_EVENTS {
            return Err(too_many());
        }
        match &mut out {
            Some(b) => b.extend(batch),
            None => out = Some(batch),
        }
    }
    match out {
        Some(b) if !b.is_empty() => Ok(b.finish()?),
        _ => Err(IngestError::Empty),
    }
}

/// Validates and canonicalizes events given one by one (each the JSON of
/// one event, as a collector maps them) into one batch.
///
/// # Errors
/// As [`prepare_body`].
pub fn prepare_events<E: AsRef<[u8]>>(
    events: &[E],
    stamp: &str,
) -> Result<PreparedBatch, IngestError> {
    if events.len() > MAX_EVENTS {
        return Err(IngestError::TooManyEvents(format!(
            "{} events; at most {MAX_EVENTS} per batch",
            events.len()
        )));
    }
    let total: usize = events.iter().map(|e| e.as_ref().len()).sum();
    let mut batch = PreparedBatch::builder(events.len(), total + 64 * events.len());
    for (item, raw) in events.iter().enumerate() {
        let e = Event::parse(raw.as_ref()).map_err(|error| IngestError::Event { item, error })?;
        batch
            .push_with(|out| e.append_canonical_at(stamp, out))?
            .map_err(|error| IngestError::Event { item, error })?;
    }
    if batch.is_empty() {
        return Err(IngestError::Empty);
    }
    Ok(batch.finish()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One pass over the lines, as bodies under the threshold are read.
    fn serial(body: &[u8], stamp: &str) -> Result<PreparedBatch, IngestError> {
        let mut batch = PreparedBatch::builder(16, body.len() + 64);
        for (item, line) in body
            .split(|b| *b == b'\n')
            .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
            .enumerate()
        {
            if item >= MAX_EVENTS {
                return Err(IngestError::TooManyEvents(format!(
                    "more than {MAX_EVENTS} events in one request"
                )));
            }
            let e = Event::parse(line).map_err(|error| IngestError::Event { item, error })?;
            batch
                .push_with(|out| e.append_canonical_at(stamp, out))?
                .map_err(|error| IngestError::Event { item, error })?;
        }
        Ok(batch.finish()?)
    }

    fn outcome(r: Result<PreparedBatch, IngestError>) -> String {
        match r {
            Ok(b) => format!(
                "{} entries {:?} {}",
                b.len(),
                b.leaf_hashes(),
                veritrail_core::hash::Hash(veritrail_core::hash::sha256(&[b.records()])).to_hex()
            ),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn the_parallel_pass_is_the_serial_pass() {
        let stamp = "2026-12-02T10:00:00.000000001Z";
        let ev = |i: usize| {
            format!(
                "{{\"action\":\"test.event\",\"actor\":\"user-{i}\",\"message\":\"{}\"}}",
                "x".repeat(i % 300)
            )
        };
        let body = |n: usize, bad: Option<usize>| {
            let mut b = String::new();
            for i in 0..n {
                if Some(i) == bad {
                    b.push_str("{\"action\":\"nope\",\"actor\":\"x\"}\n");
                } else {
                    b.push_str(&ev(i));
                    b.push('\n');
                }
                if i % 97 == 0 {
                    b.push_str("\n  \n");
                }
            }
            b.into_bytes()
        };
        for (n, bad) in [
            (4000, None),
            (4000, Some(0)),
            (4000, Some(3999)),
            (4000, Some(2222)),
            (10_000, None),
            (10_001, None),
            (10_050, Some(10_020)),
            (10_050, Some(9_999)),
        ] {
            let b = body(n, bad);
            assert!(
                b.len() >= PARALLEL_NDJSON,
                "{n}: the body takes the parallel path"
            );
            assert_eq!(
                outcome(prepare_ndjson_parallel(&b, stamp)),
                outcome(serial(&b, stamp)),
                "{n} lines, bad {bad:?}"
            );
        }
    }
}

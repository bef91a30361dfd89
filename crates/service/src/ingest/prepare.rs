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

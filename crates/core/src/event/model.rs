//! Audit events: validation against the event model (docs/API.md "Events") and
//! the canonical bytes that become a Merkle leaf.
//!
//! An event is a JSON object. `action` and `actor` are required; `time`,
//! `outcome`, `target`, `source`, `severity`, `message` and `metadata` are
//! optional; anything else is refused so typos are never stored silently.
//! The server adds `received_at`, and the leaf is the RFC 8785 canonical JSON
//! of the whole object.

use std::borrow::Cow;
use std::net::IpAddr;

use crate::event::json::Json;
use crate::event::time::Timestamp;

/// Largest canonical event (the C2SP entry-bundle limit).
pub const MAX_EVENT_SIZE: usize = 65_535;
/// Largest raw input for one event, checked before parsing.
pub const MAX_EVENT_INPUT: usize = 256 * 1024;
/// Deepest nesting accepted inside `metadata`.
pub const MAX_METADATA_DEPTH: usize = 16;

/// The top-level fields a producer may send.
pub const FIELDS: [&str; 9] = [
    "action", "actor", "time", "outcome", "target", "source", "severity", "message", "metadata",
];
/// Accepted `outcome` values.
pub const OUTCOMES: [&str; 3] = ["success", "failure", "unknown"];
/// Accepted `severity` values (the syslog severities, RFC 5424 §6.2.1).
pub const SEVERITIES: [&str; 8] = [
    "emergency",
    "alert",
    "critical",
    "error",
    "warning",
    "notice",
    "info",
    "debug",
];

/// Why an event was refused. `field` is a dotted path (`actor.ip`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// Raw input over [`MAX_EVENT_INPUT`].
    #[error("event input is {0} bytes; at most {MAX_EVENT_INPUT} are accepted")]
    InputTooLarge(usize),
    /// Not JSON, or JSON with floats or duplicate keys.
    #[error("invalid JSON: {0}")]
    Json(String),
    /// A field is missing, unknown, of the wrong type or invalid.
    #[error("field `{field}`: {reason}")]
    Field {
        /// dotted path of the field
        field: String,
        /// what is wrong
        reason: String,
    },
    /// The canonical event exceeds [`MAX_EVENT_SIZE`].
    #[error("canonical event is {0} bytes; at most {MAX_EVENT_SIZE} are allowed")]
    TooLarge(usize),
}

impl EventError {
    /// The offending field's path, when there is one.
    pub fn field(&self) -> Option<&str> {
        match self {
            EventError::Field { field, .. } => Some(field),
            _ => None,
        }
    }

    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            EventError::InputTooLarge(_) | EventError::TooLarge(_) => "event_too_large",
            EventError::Json(_) => "invalid_json",
            EventError::Field { .. } => "invalid_field",
        }
    }
}

fn field_err(field: &str, reason: impl Into<String>) -> EventError {
    EventError::Field {
        field: field.to_owned(),
        reason: reason.into(),
    }
}

/// A validated event, not yet stamped with `received_at`. It borrows from
/// the input it was parsed from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event<'a> {
    members: Vec<(Cow<'a, str>, Json<'a>)>,
}

impl<'a> Event<'a> {
    /// Parses and validates one event from JSON bytes.
    ///
    /// # Errors
    /// [`EventError`] naming the field and the reason.
    pub fn parse(bytes: &'a [u8]) -> Result<Event<'a>, EventError> {
        if bytes.len() > MAX_EVENT_INPUT {
            return Err(EventError::InputTooLarge(bytes.len()));
        }
        let v = Json::parse(bytes).map_err(|e| EventError::Json(e.to_string()))?;
        Event::from_json(v)
    }

    /// Validates an already parsed value.
    ///
    /// # Errors
    /// [`EventError::Field`].
    pub fn from_json(v: Json<'a>) -> Result<Event<'a>, EventError> {
        let Json::Object(members) = v else {
            return Err(field_err(
                "",
                format!("an event must be a JSON object, not {}", v.type_name()),
            ));
        };
        for (k, v) in &members {
            match k.as_ref() {
                "action" => check_action(v)?,
                "actor" => check_actor(v)?,
                "time" => {
                    let s = expect_str(v, "time", 64)?;
                    Timestamp::parse_rfc3339(s).map_err(|e| field_err("time", e.to_string()))?;
                }
                "outcome" => check_enum(v, "outcome", &OUTCOMES)?,
                "severity" => check_enum(v, "severity", &SEVERITIES)?,
                "target" => check_object(
                    v,
                    "target",
                    &[
                        ("type", false, 128),
                        ("id", true, 1024),
                        ("name", false, 1024),
                    ],
                )?,
                "source" => {
                    check_object(v, "source", &[("host", false, 255), ("app", false, 255)])?
                }
                "message" => {
                    // A message that alone exceeds what an event may hold
                    // makes the event too large (413), not the field invalid.
                    if let Some(m) = v.as_str().filter(|m| m.len() > MAX_EVENT_SIZE) {
                        return Err(EventError::TooLarge(m.len()));
                    }
                    expect_str(v, "message", MAX_EVENT_SIZE)?;
                }
                "metadata" => {
                    if !matches!(v, Json::Object(_)) {
                        return Err(field_err(
                            "metadata",
                            format!("must be an object, not {}", v.type_name()),
                        ));
                    }
                    check_depth(v, 0, "metadata")?;
                }
                "received_at" => {
                    return Err(field_err(
                        "received_at",
                        "is set by the server and may not be sent",
                    ));
                }
                other => {
                    return Err(field_err(
                        other,
                        format!("unknown field; allowed fields are {}", FIELDS.join(", ")),
                    ));
                }
            }
        }
        for required in ["action", "actor"] {
            if !members.iter().any(|(k, _)| k == required) {
                return Err(field_err(required, "is required"));
            }
        }
        Ok(Event { members })
    }

    /// The `action` value.
    pub fn action(&self) -> &str {
        self.get("action").and_then(Json::as_str).unwrap_or("")
    }

    /// A member by name.
    pub fn get(&self, key: &str) -> Option<&Json<'a>> {
        self.members.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Stamps the event with `received_at` and returns its RFC 8785 canonical
    /// bytes: the Merkle leaf.
    ///
    /// # Errors
    /// [`EventError::TooLarge`] over 65,535 bytes.
    pub fn into_canonical(self, received_at: Timestamp) -> Result<Vec<u8>, EventError> {
        self.into_canonical_at(&received_at.to_rfc3339_nanos())
    }

    /// Like [`Event::into_canonical`] with `received_at` already formatted
    /// (by [`Timestamp::to_rfc3339_nanos`]), so a batch formats it once.
    ///
    /// # Errors
    /// [`EventError::TooLarge`] over 65,535 bytes.
    pub fn into_canonical_at(self, received_at: &str) -> Result<Vec<u8>, EventError> {
        let mut out = Vec::with_capacity(512);
        self.write_canonical_at(received_at, &mut out)?;
        Ok(out)
    }

    /// Writes the canonical bytes (with `received_at`) into `out`, which is
    /// cleared first: lets a caller reuse one buffer for many events.
    ///
    /// # Errors
    /// [`EventError::TooLarge`] over 65,535 bytes.
    pub fn write_canonical_at(
        self,
        received_at: &str,
        out: &mut Vec<u8>,
    ) -> Result<(), EventError> {
        out.clear();
        self.append_canonical_at(received_at, out)
    }

    /// Appends the canonical bytes (with `received_at`) to `out`, so that
    /// many events can share one buffer. On error `out` is left as it was.
    ///
    /// # Errors
    /// [`EventError::TooLarge`] over 65,535 bytes.
    pub fn append_canonical_at(
        self,
        received_at: &str,
        out: &mut Vec<u8>,
    ) -> Result<(), EventError> {
        debug_assert!(
            self.get("received_at").is_none(),
            "received_at is refused during validation"
        );
        let start = out.len();
        let extra = Some(("received_at", received_at));
        if self
            .members
            .windows(2)
            .all(|w| crate::event::json::utf16_cmp(&w[0].0, &w[1].0).is_lt())
        {
            crate::event::json::write_members(
                self.members.iter().map(|(k, v)| (k.as_ref(), v)),
                extra,
                out,
            );
        } else {
            let mut refs: Vec<&(Cow<'a, str>, Json<'a>)> = self.members.iter().collect();
            refs.sort_by(|a, b| crate::event::json::utf16_cmp(&a.0, &b.0));
            crate::event::json::write_members(
                refs.into_iter().map(|(k, v)| (k.as_ref(), v)),
                extra,
                out,
            );
        }
        let len = out.len() - start;
        if len > MAX_EVENT_SIZE {
            out.truncate(start);
            return Err(EventError::TooLarge(len));
        }
        Ok(())
    }
}

fn expect_str<'b>(v: &'b Json<'_>, field: &str, max: usize) -> Result<&'b str, EventError> {
    let s = v
        .as_str()
        .ok_or_else(|| field_err(field, format!("must be a string, not {}", v.type_name())))?;
    if s.is_empty() {
        return Err(field_err(field, "must not be empty"));
    }
    if s.len() > max {
        return Err(field_err(
            field,
            format!("is {} bytes; at most {max} allowed", s.len()),
        ));
    }
    Ok(s)
}

fn check_action(v: &Json<'_>) -> Result<(), EventError> {
    let s = expect_str(v, "action", 128)?;
    let ok = s.contains('.')
        && s.split('.').all(|seg| {
            !seg.is_empty()
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        });
    if !ok {
        return Err(field_err(
            "action",
            "must be a dotted verb such as user.login: two or more segments of letters, digits, '_' or '-' separated by '.'",
        ));
    }
    Ok(())
}

fn check_actor(v: &Json<'_>) -> Result<(), EventError> {
    match v {
        Json::Str(_) => {
            expect_str(v, "actor", 256)?;
            Ok(())
        }
        Json::Object(_) => {
            check_object(
                v,
                "actor",
                &[
                    ("id", true, 256),
                    ("type", false, 64),
                    ("ip", false, 64),
                    ("user_agent", false, 1024),
                    ("name", false, 256),
                ],
            )?;
            if let Some(ip) = v.get("ip").and_then(Json::as_str) {
                ip.parse::<IpAddr>().map_err(|_| {
                    field_err("actor.ip", format!("{ip:?} is not an IPv4 or IPv6 address"))
                })?;
            }
            Ok(())
        }
        other => Err(field_err(
            "actor",
            format!(
                "must be a string id or an object with an \"id\", not {}",
                other.type_name()
            ),
        )),
    }
}

fn check_enum(v: &Json<'_>, field: &str, allowed: &[&str]) -> Result<(), EventError> {
    let s = expect_str(v, field, 32)?;
    if !allowed.contains(&s) {
        return Err(field_err(
            field,
            format!("{s:?} is not one of {}", allowed.join(", ")),
        ));
    }
    Ok(())
}

/// An object of string members: (name, required, max bytes).
fn check_object(v: &Json<'_>, field: &str, spec: &[(&str, bool, usize)]) -> Result<(), EventError> {
    let Json::Object(m) = v else {
        return Err(field_err(
            field,
            format!("must be an object, not {}", v.type_name()),
        ));
    };
    for (k, val) in m {
        // The path is only formatted when there is something to report.
        let path = || format!("{field}.{k}");
        let Some((_, _, max)) = spec.iter().find(|(n, _, _)| n == k) else {
            let names: Vec<&str> = spec.iter().map(|s| s.0).collect();
            return Err(field_err(
                &path(),
                format!("unknown field; allowed are {}", names.join(", ")),
            ));
        };
        let ok = matches!(val, Json::Str(s) if !s.is_empty() && s.len() <= *max);
        if !ok {
            expect_str(val, &path(), *max)?;
        }
    }
    for (name, required, _) in spec {
        if *required && !m.iter().any(|(k, _)| k == name) {
            return Err(field_err(&format!("{field}.{name}"), "is required"));
        }
    }
    Ok(())
}

fn check_depth(v: &Json<'_>, depth: usize, path: &str) -> Result<(), EventError> {
    if depth > MAX_METADATA_DEPTH {
        return Err(field_err(
            path,
            format!("nested deeper than {MAX_METADATA_DEPTH} levels"),
        ));
    }
    match v {
        Json::Array(a) => a.iter().try_for_each(|x| check_depth(x, depth + 1, path)),
        Json::Object(m) => m
            .iter()
            .try_for_each(|(_, x)| check_depth(x, depth + 1, path)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err_field(s: &str) -> Option<String> {
        Event::parse(s.as_bytes())
            .err()
            .and_then(|e| e.field().map(str::to_owned))
    }

    #[test]
    fn canonical_form_adds_received_at_and_sorts_keys() {
        let e = Event::parse(br#"{"actor":{"id":"alice","ip":"10.0.0.1"},"action":"user.login","outcome":"success"}"#).unwrap();
        let bytes = e.into_canonical(Timestamp { secs: 0, nanos: 5 }).unwrap();
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            r#"{"action":"user.login","actor":{"id":"alice","ip":"10.0.0.1"},"outcome":"success","received_at":"1970-01-01T00:00:00.000000005Z"}"#
        );
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(err_field(r#"{"actor":"a"}"#).as_deref(), Some("action"));
        assert_eq!(err_field(r#"{"action":"x.y"}"#).as_deref(), Some("actor"));
        assert_eq!(
            err_field(r#"{"action":"x.y","actor":"a","acton":"z"}"#).as_deref(),
            Some("acton")
        );
        assert_eq!(
            err_field(r#"{"action":"x..y","actor":"a"}"#).as_deref(),
            Some("action")
        );
        // Issue 18: a single word is not a dotted verb.
        assert_eq!(
            err_field(r#"{"action":"login","actor":"a"}"#).as_deref(),
            Some("action")
        );
        assert_eq!(
            err_field(r#"{"action":"x.y","actor":{"id":"a","ip":"300.1.1.1"}}"#).as_deref(),
            Some("actor.ip")
        );
        assert_eq!(
            err_field(r#"{"action":"x.y","actor":{"ip":"1.1.1.1"}}"#).as_deref(),
            Some("actor.id")
        );
        assert_eq!(
            err_field(r#"{"action":"x.y","actor":"a","outcome":"ok"}"#).as_deref(),
            Some("outcome")
        );
        assert_eq!(
            err_field(r#"{"action":"x.y","actor":"a","time":"yesterday"}"#).as_deref(),
            Some("time")
        );
        assert_eq!(
            err_field(r#"{"action":"x.y","actor":"a","target":{"id":5}}"#).as_deref(),
            Some("target.id")
        );
        assert_eq!(
            err_field(r#"{"action":"x.y","actor":"a","metadata":[]}"#).as_deref(),
            Some("metadata")
        );
        assert_eq!(
            err_field(r#"{"action":"x.y","actor":"a","received_at":"x"}"#).as_deref(),
            Some("received_at")
        );
        assert_eq!(err_field("[1]").as_deref(), Some(""));
        assert!(matches!(
            Event::parse(br#"{"action":"x.y","actor":"a","metadata":{"n":1.5}}"#),
            Err(EventError::Json(_))
        ));
    }

    #[test]
    fn size_limit_is_on_canonical_bytes() {
        // Issue 18: a message over the limit on its own is too large too.
        let long = format!(
            r#"{{"action":"x.y","actor":"a","message":"{}"}}"#,
            "m".repeat(MAX_EVENT_SIZE + 1)
        );
        assert!(matches!(
            Event::parse(long.as_bytes()),
            Err(EventError::TooLarge(_))
        ));
        let msg = "m".repeat(MAX_EVENT_SIZE - 60);
        let input = format!(r#"{{"action":"x.y","actor":"a","message":"{msg}"}}"#);
        let e = Event::parse(input.as_bytes()).unwrap();
        assert!(matches!(
            e.into_canonical(Timestamp::default()),
            Err(EventError::TooLarge(_))
        ));
    }
}

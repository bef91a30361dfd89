//! Audit events: the event model (docs/API.md "Events") in [`model`], the
//! strict JSON value and its RFC 8785 (JCS) canonical bytes in [`json`],
//! and RFC 3339 timestamps in [`time`].
//!
//! [`model`] is re-exported here, so `event::Event` and `event::OUTCOMES`
//! name the model's items.

pub mod json;
pub mod model;
pub mod time;

pub use model::*;

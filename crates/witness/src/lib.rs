//! veritrail-witness: a witness per C2SP `tlog-witness` (docs/TRUST.md).
//!
//! A witness cosigns a log's checkpoint only when it extends the last one
//! the witness cosigned for that log (a consistency proof from that size),
//! so a log cannot show two histories — or rewrite its own — without some
//! witness holding the proof. The parts:
//!
//! - [`protocol`]: the `add-checkpoint` request parsed, and every check of
//!   the spec decided against the stored state. Pure.
//! - [`state`]: the witness's key and, per log origin, the latest
//!   checkpoint it cosigned — replaced atomically and made durable before
//!   it answers — and the evidence of refused inconsistent checkpoints.
//! - [`http`]: `POST /add-checkpoint` (axum).

#![forbid(unsafe_code)]

pub mod http;
pub mod protocol;
pub mod state;

pub use protocol::{AddCheckpoint, Refusal};
pub use state::Witness;

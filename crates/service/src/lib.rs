//! veritrail-service: the application layer between the durable store and
//! the edges (HTTP, command line, collectors).
//!
//! - [`Service`] (`app`): a data directory in service — its logs open for
//!   writing and followed by their query indexes.
//! - [`ingest`]: one ingest API for every transport (validation,
//!   canonicalization, atomic batches, idempotency keys, wait modes).
//! - [`audit`]: the one writer of the `_system` audit trail.
//! - [`tokens`]: bearer tokens and roles.
//! - [`open`]: opening a log for writing, with what recovery discarded
//!   recorded in `_system`.
//! - [`tap`]: one shared reader of a log for many live consumers.
//! - [`gate`]: what must hold before an append is acknowledged, beyond
//!   the local fsync (object storage with `--durability object`).
//! - [`export`]: evidence bundles of what a query selected.
//! - [`kept`]: what is kept beside a log's checkpoints (witnesses'
//!   cosignatures, RFC 3161 tokens).
//! - [`durable`]: small derived files replaced atomically and durably.
//! - [`cursor`]: durable positions for consumers that follow a log
//!   ([`veritrail_store::subscribe`]).
//! - Read-only access for commands that only read:
//!   [`veritrail_store::DataDir::open_log_read`].

#![forbid(unsafe_code)]

pub mod app;
pub mod audit;
pub mod cursor;
pub mod durable;
pub mod error;
pub mod export;
pub mod gate;
pub mod idempotency;
pub mod ingest;
pub mod integrity;
pub mod kept;
pub mod open;
pub mod tap;
pub mod tokens;

pub use app::{Service, ServiceConfig};
pub use error::{blocking, Result, ServiceError};
pub use ingest::{Format, IngestError, Input, Options, Outcome, Receipt, Wait};
/// The layers below, for the edges (which depend on this crate alone).
pub use veritrail_index as index;
pub use veritrail_store as store;

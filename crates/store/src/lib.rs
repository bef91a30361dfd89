//! veritrail-store: the durable, append-only storage of veritrail logs.
//!
//! A data directory holds named logs. Each log has one sequencer (single
//! writer, group commit: one `write` per group, one `fdatasync` for the
//! groups written since the last, overlapping the next write; ack after the
//! sync), an integrator (hash levels, sparse index, signed C2SP
//! checkpoints, off the ack path), the checkpoint-publishing steps, crash
//! recovery that reads only the tail of each file, storage-level
//! immutability (`chattr +a` / `+i` where possible), readers for entries,
//! tiles, proofs and checkpoints (also as a read-only handle), subscriptions
//! that follow a log, and full verification. The byte layout is in
//! `docs/FORMAT.md`.
//!
//! Modules, bottom up (none imports one above it): `error`, `clock`, `vfs`,
//! `immutable`, `env`, `durable`, `stats`; `segment` (segmented streams);
//! `wal`, `checkpoints`, `lifecycle` (record formats), `layout` (a log's directories),
//! `config`, `signer`, `published`, `publish`; `state` (what a log's
//! threads share);
//! `read`, `subscribe`; `sequencer`, `integrator`; `recovery`; `log`;
//! `datadir`; `verify`.

#![forbid(unsafe_code)]

pub mod adopt;
pub mod checkpoints;
pub mod clock;
pub mod config;
pub mod datadir;
pub(crate) mod durable;
pub mod env;
pub mod error;
pub mod immutable;
pub(crate) mod integrator;
pub(crate) mod layout;
pub mod lifecycle;
pub mod log;
#[cfg(any(test, feature = "testing"))]
pub mod memfs;
pub mod priority;
pub mod publish;
pub mod published;
pub mod read;
pub(crate) mod recent;
pub(crate) mod recovery;
pub mod segment;
pub(crate) mod sequencer;
pub mod signer;
pub(crate) mod state;
pub mod stats;
pub mod subscribe;
pub mod verify;
pub mod vfs;
pub mod wal;

pub use clock::{now_nanos, Clock, SystemClock};
pub use config::{LogConfig, DEFAULT_CACHE_KEEP, DEFAULT_RECENT_BYTES, DEFAULT_SYNCS_IN_FLIGHT};
pub use datadir::DataDir;
pub use error::{Result, StoreError};
pub use log::Log;
pub use publish::PublishStep;
pub use read::LogReader;
pub use signer::CheckpointSigner;
pub use state::{Appended, Published};
pub use subscribe::{Delivery, Subscription};
pub use vfs::{RealFs, Vfs};
pub use wal::PreparedBatch;

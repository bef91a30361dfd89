//! veritrail-store: the durable, append-only storage of veritrail logs.
//!
//! A data directory holds named logs. Each log has one sequencer (single
//! writer, group commit: one `write` per group, one `fdatasync` for the
//! groups written since the last, overlapping the next write; ack after the
//! sync), an integrator (hash levels, sparse index, signed C2SP
//! checkpoints, off the ack path), crash recovery that reads only the tail of
//! each file, storage-level immutability (`chattr +a` / `+i` where possible),
//! readers for entries, tiles, proofs and checkpoints, and full verification.
//! The byte layout is in `docs/FORMAT.md`.

#![forbid(unsafe_code)]

pub mod checkpoints;
pub mod datadir;
pub mod error;
pub mod immutable;
pub(crate) mod integrator;
pub mod log;
pub mod memfs;
pub mod query;
pub mod read;
pub(crate) mod recovery;
pub mod segment;
pub(crate) mod sequencer;
pub mod stats;
pub mod verify;
pub mod vfs;
pub mod wal;

pub use datadir::DataDir;
pub use error::{Result, StoreError};
pub use log::{Appended, Log, LogConfig, PreparedBatch, Published};
pub use vfs::{RealFs, Vfs};

/// Current time in Unix nanoseconds (the store's only clock).
pub fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

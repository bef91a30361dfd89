//! Signed notes and what they carry: C2SP `signed-note` (Ed25519 keys, key
//! IDs, the `vkey` text form), C2SP `tlog-checkpoint` (the signed tree
//! head) and C2SP `tlog-cosignature` (`cosignature/v1`, the timestamped
//! witness signature).
//!
//! [`signed`] is re-exported here, so `note::Signer`, `note::Verifier` and
//! `note::open_note` name the signed-note types.

pub mod checkpoint;
pub mod cosignature;
pub mod policy;
pub mod signed;

pub use signed::*;

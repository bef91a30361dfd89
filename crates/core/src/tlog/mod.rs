//! The verifiable log: RFC 9162 §2.1 (= RFC 6962 §2.1) Merkle tree hashing,
//! inclusion and consistency proofs and their strict verification, the
//! compact range, C2SP `tlog-tiles` addressing (hash tiles, entry bundles)
//! and C2SP `tlog-proof` text proofs.
//!
//! Laid out after golang.org/x/mod `sumdb/tlog` and cloudflare/azul
//! `tlog_core`: [`tree`] says which stored nodes a result needs, a
//! [`tree::HashReader`] reads them in one batch, and the hashing is pure.

pub mod compact;
pub mod hash;
pub mod proof;
pub mod tile;
pub mod tlog_proof;
pub mod tree;

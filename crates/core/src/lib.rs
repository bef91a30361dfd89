//! veritrail-core: the pure heart of veritrail.
//!
//! Everything a verifier needs and nothing that touches the outside world:
//! RFC 9162 Merkle tree hashing, proofs and their strict verification; the
//! compact range; C2SP tlog-tiles addressing, hash tiles and entry bundles;
//! C2SP signed notes, checkpoints and cosignatures; the audit event model and
//! its RFC 8785 canonical bytes. No I/O, no clock, no async, no `unsafe`; it
//! builds for `wasm32-unknown-unknown`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod bundle;
pub mod event;
pub mod note;
pub mod tlog;

// The modules of each spec folder, also at the crate root (the paths the
// other crates, the wasm build, the Go cross-check and the fuzz targets use).
pub use event::{json, time};
pub use note::checkpoint;
pub use tlog::{compact, hash, proof, tile, tlog_proof, tree};

pub use checkpoint::{open_checkpoint, Checkpoint, CheckpointError, Origin, SignedCheckpoint};
pub use compact::{CompactRange, NoSink, NodeSink, VecSink};
pub use event::{Event, EventError};
pub use hash::{leaf_hash, node_hash, Hash};
pub use note::{open_note, Note, NoteError, SigType, Signer, Verifier};
pub use proof::{verify_consistency, verify_inclusion, ProofError};
pub use tile::{Tile, TileKind};
pub use time::Timestamp;
pub use tree::{HashReader, LeafIndex, MemoryTree, NodeId, TreeError, TreeSize};

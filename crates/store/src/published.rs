//! What readers of a log may see: everything up to its latest signed
//! checkpoint ([`Published`]). Handed from the integrator to readers, to the
//! publishing steps and to subscribers.

use std::sync::Arc;

use veritrail_core::hash::Hash;

/// What readers may see: everything up to the latest signed checkpoint.
#[derive(Clone, Debug)]
pub struct Published {
    /// Tree size of the latest checkpoint.
    pub size: u64,
    /// Its root.
    pub root: Hash,
    /// The signed checkpoint note.
    pub checkpoint: Arc<str>,
    /// Unix nanoseconds when it was signed (by this process or found on open).
    pub signed_at: u64,
}

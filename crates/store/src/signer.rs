//! Who signs a log's checkpoints. The integrator hands every new tree head
//! to a [`CheckpointSigner`] and records the note it returns. The key file
//! in the data directory ([`veritrail_core::note::Signer`]) is one signer; a
//! key held elsewhere (an HSM, a cloud KMS, a remote signing service) can be
//! another, given to [`crate::DataDir::open_log_with`].

use veritrail_core::checkpoint::Checkpoint;
use veritrail_core::note::{Signer, Verifier};

/// Why a checkpoint could not be signed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SignError(pub String);

/// Signs checkpoints (C2SP tlog-checkpoint in a C2SP signed note).
pub trait CheckpointSigner: Send + Sync + 'static {
    /// The key that verifies this signer's notes; its name is the log's
    /// origin.
    fn verifier(&self) -> Verifier;
    /// The signed note for `checkpoint`: its text, a blank line, and at
    /// least the log's own signature line.
    ///
    /// # Errors
    /// [`SignError`] when the signature cannot be made (the integrator then
    /// stops the log, as for an I/O failure).
    fn sign(&self, checkpoint: &Checkpoint) -> Result<String, SignError>;
    /// The largest tree size in `[from, to]` at which this signer can sign
    /// a checkpoint now, or `None`. A signer holding the key signs any size
    /// (this default); one that adopts checkpoints signed elsewhere
    /// ([`crate::adopt::Adopted`]) only the sizes it was given, and the log
    /// integrates its entries only up to such a size.
    fn signable(&self, from: u64, to: u64) -> Option<u64> {
        let _ = from;
        Some(to)
    }
}

impl CheckpointSigner for Signer {
    fn verifier(&self) -> Verifier {
        Signer::verifier(self)
    }

    fn sign(&self, checkpoint: &Checkpoint) -> Result<String, SignError> {
        checkpoint.sign(self).map_err(|e| SignError(e.to_string()))
    }
}

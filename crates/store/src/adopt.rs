//! Checkpoints signed elsewhere: a log that copies another log (a read
//! replica copying a log from object storage) holds no signing key. Its
//! entries are appended as usual, and its integrator computes the tree from
//! them, but the only checkpoints it may record are the writer's own notes,
//! handed to [`Adopted::offer`] before the entries they cover. The
//! integrator integrates only up to a size it holds a note for
//! ([`CheckpointSigner::signable`]), and a note is taken only if the tree
//! computed here has the root the note signs: a copy that differs from what
//! the writer signed stops the log instead of publishing it.

use std::collections::BTreeMap;
use std::sync::Mutex;

use veritrail_core::checkpoint::{open_checkpoint, Checkpoint};
use veritrail_core::hash::Hash;
use veritrail_core::note::Verifier;

use crate::signer::{CheckpointSigner, SignError};

/// Why a note was not taken.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct OfferError(pub String);

/// The writer's notes a copying log may record, by tree size.
pub struct Adopted {
    verifier: Verifier,
    notes: Mutex<BTreeMap<u64, (Hash, String)>>,
}

impl Adopted {
    /// No notes yet, for the log whose key is `verifier`.
    pub fn new(verifier: Verifier) -> Adopted {
        Adopted {
            verifier,
            notes: Mutex::new(BTreeMap::new()),
        }
    }

    /// Takes the writer's signed checkpoint `note` (its signature checked
    /// against the log's key) for when the log reaches its size.
    ///
    /// # Errors
    /// [`OfferError`] when the note does not verify.
    pub fn offer(&self, note: &[u8]) -> Result<Checkpoint, OfferError> {
        let opened = open_checkpoint(note, &self.verifier, &[])
            .map_err(|e| OfferError(format!("the writer's checkpoint does not verify: {e}")))?;
        let text = std::str::from_utf8(note)
            .map_err(|_| OfferError("the writer's checkpoint is not UTF-8".into()))?;
        let cp = opened.checkpoint;
        self.notes
            .lock()
            .expect("notes lock")
            .insert(cp.size.0, (cp.root, text.to_owned()));
        Ok(cp)
    }
}

impl CheckpointSigner for Adopted {
    fn verifier(&self) -> Verifier {
        self.verifier.clone()
    }

    fn sign(&self, checkpoint: &Checkpoint) -> Result<String, SignError> {
        let size = checkpoint.size.0;
        let mut notes = self.notes.lock().expect("notes lock");
        let Some((root, note)) = notes.get(&size).cloned() else {
            return Err(SignError(format!(
                "no checkpoint of the writer at size {size} to adopt"
            )));
        };
        if root != checkpoint.root {
            return Err(SignError(format!(
                "the tree copied here has root {} at size {size}, but the writer's checkpoint signs root {}: the copy differs from what the writer signed",
                checkpoint.root, root
            )));
        }
        // Smaller sizes can no longer be recorded: the log has passed them.
        *notes = notes.split_off(&(size + 1));
        Ok(note)
    }

    fn signable(&self, from: u64, to: u64) -> Option<u64> {
        if from > to {
            return None;
        }
        self.notes
            .lock()
            .expect("notes lock")
            .range(from..=to)
            .next_back()
            .map(|(s, _)| *s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use veritrail_core::checkpoint::Origin;
    use veritrail_core::note::{SigType, Signer};
    use veritrail_core::tree::TreeSize;

    fn writer() -> Signer {
        Signer::from_seed("example.com/log", SigType::Ed25519, [7; 32]).unwrap()
    }

    fn note(s: &Signer, size: u64, root: Hash) -> String {
        Checkpoint::new(Origin::new(s.name()).unwrap(), TreeSize(size), root)
            .sign(s)
            .unwrap()
    }

    #[test]
    fn signs_only_the_offered_sizes_with_their_roots() {
        let w = writer();
        let a = Adopted::new(w.verifier());
        assert_eq!(a.signable(0, 100), None);
        let r5 = Hash([5; 32]);
        let n5 = note(&w, 5, r5);
        a.offer(n5.as_bytes()).unwrap();
        a.offer(note(&w, 9, Hash([9; 32])).as_bytes()).unwrap();
        assert_eq!(a.signable(0, 4), None);
        assert_eq!(a.signable(0, 8), Some(5));
        assert_eq!(a.signable(0, 100), Some(9));
        assert_eq!(a.signable(6, 8), None);
        let origin = Origin::new(w.name()).unwrap();
        // A different root at an offered size is refused.
        let wrong = Checkpoint::new(origin.clone(), TreeSize(5), Hash([6; 32]));
        let e = a.sign(&wrong).unwrap_err();
        assert!(e.0.contains("differs from what the writer signed"), "{e}");
        // The right one gives the writer's note, byte for byte.
        assert_eq!(
            a.sign(&Checkpoint::new(origin.clone(), TreeSize(5), r5))
                .unwrap(),
            n5
        );
        assert_eq!(a.signable(0, 8), None, "passed sizes are forgotten");
        assert!(a
            .sign(&Checkpoint::new(origin, TreeSize(7), r5))
            .unwrap_err()
            .0
            .contains("no checkpoint of the writer at size 7"));
    }

    #[test]
    fn refuses_notes_of_another_key() {
        let a = Adopted::new(writer().verifier());
        let other = Signer::from_seed("example.com/log", SigType::Ed25519, [8; 32]).unwrap();
        let e = a
            .offer(note(&other, 3, Hash([1; 32])).as_bytes())
            .unwrap_err();
        assert!(e.0.contains("does not verify"), "{e}");
        assert_eq!(a.signable(0, 10), None);
    }
}

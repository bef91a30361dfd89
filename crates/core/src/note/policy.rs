//! Witness policies: which witnesses a verifier trusts, and how many of
//! them must have cosigned a checkpoint (docs/TRUST.md "Policies").

use super::signed::{Note, Verifier};

/// A witness policy: at least `quorum` of `witnesses` must have cosigned a
/// checkpoint (docs/TRUST.md "Policies").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WitnessPolicy {
    /// The witnesses' verifier keys (type `cosignature/v1`).
    pub witnesses: Vec<Verifier>,
    /// How many valid cosignatures are needed.
    pub quorum: usize,
}

/// Why a checkpoint does not meet a [`WitnessPolicy`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// A cosignature line from a policy witness does not verify.
    #[error("the cosignature of witness {0} does not verify")]
    Invalid(String),
    /// Too few witnesses cosigned.
    #[error("{have} of the {need} cosignatures needed; missing: {}", missing.join(", "))]
    TooFew {
        /// Valid cosignatures found.
        have: usize,
        /// Needed.
        need: usize,
        /// The policy's witnesses without a valid cosignature.
        missing: Vec<String>,
    },
    /// Not a signed note.
    #[error("not a signed note: {0}")]
    Note(String),
}

impl WitnessPolicy {
    /// Checks the cosignatures of a signed checkpoint note (with the log's
    /// own signature and any others, which are ignored): returns the names
    /// of the witnesses whose cosignatures verify.
    ///
    /// # Errors
    /// [`PolicyError::Invalid`] for a cosignature line of a policy witness
    /// that does not verify (never ignored); [`PolicyError::TooFew`].
    pub fn check(&self, signed_note: &[u8]) -> Result<Vec<String>, PolicyError> {
        let note = Note::parse(signed_note).map_err(|e| PolicyError::Note(e.to_string()))?;
        let mut ok = Vec::new();
        for w in &self.witnesses {
            for s in note
                .signatures
                .iter()
                .filter(|s| s.name == w.name() && s.id == w.key_id())
            {
                if w.verify(&note.text, &s.sig).is_none() {
                    return Err(PolicyError::Invalid(w.name().to_owned()));
                }
                if !ok.iter().any(|n: &String| n == w.name()) {
                    ok.push(w.name().to_owned());
                }
            }
        }
        if ok.len() < self.quorum {
            return Err(PolicyError::TooFew {
                have: ok.len(),
                need: self.quorum,
                missing: self
                    .witnesses
                    .iter()
                    .map(|w| w.name().to_owned())
                    .filter(|n| !ok.contains(n))
                    .collect(),
            });
        }
        Ok(ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::note::{SigType, Signer};

    #[test]
    fn a_policy_counts_valid_cosignatures_and_names_what_is_missing() {
        let log = Signer::from_seed("example.com/log", SigType::Ed25519, [1; 32]).unwrap();
        let w: Vec<Signer> = (0..3u8)
            .map(|i| {
                Signer::from_seed(
                    &format!("w{i}.example"),
                    SigType::CosignatureV1,
                    [10 + i; 32],
                )
                .unwrap()
            })
            .collect();
        let text = "example.com/log\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
        let note = log.sign_note(text).unwrap();
        let line = |k: usize| format!("{}\n", w[k].sign_line(text, 1_800_000_000).unwrap());
        let policy = WitnessPolicy {
            witnesses: w.iter().map(Signer::verifier).collect(),
            quorum: 2,
        };
        let two = format!("{note}{}{}", line(0), line(2));
        assert_eq!(
            policy.check(two.as_bytes()).unwrap(),
            vec!["w0.example", "w2.example"]
        );
        let one = format!("{note}{}", line(1));
        assert_eq!(
            policy.check(one.as_bytes()),
            Err(PolicyError::TooFew {
                have: 1,
                need: 2,
                missing: vec!["w0.example".into(), "w2.example".into()]
            })
        );
        // A cosignature over another checkpoint does not count: it fails.
        let other = "example.com/log\n6\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
        let forged = format!("{note}{}{}\n", line(0), w[1].sign_line(other, 1).unwrap());
        assert_eq!(
            policy.check(forged.as_bytes()),
            Err(PolicyError::Invalid("w1.example".into()))
        );
    }
}

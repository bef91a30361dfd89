//! C2SP `tlog-proof@v1`: a self-contained, offline-verifiable text proof that
//! an entry is in a log — an index, an RFC 9162 inclusion proof, and the
//! signed checkpoint it leads to (<https://c2sp.org/tlog-proof>).
//!
//! ```text
//! c2sp.org/tlog-proof@v1
//! [extra <base64>]
//! index <decimal>
//! <base64 hash>        (zero or more, leaf's sibling first)
//!
//! <signed checkpoint, verbatim>
//! ```

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use crate::note::checkpoint::{open_checkpoint, CheckpointError, SignedCheckpoint};
use crate::note::Verifier;
use crate::tlog::hash::Hash;
use crate::tlog::proof::{verify_inclusion, ProofError};
use crate::tlog::tree::LeafIndex;

/// The first line of every proof.
pub const HEADER: &str = "c2sp.org/tlog-proof@v1";

/// Most hashes an inclusion proof can have (a tree of at most 2^63 leaves).
const MAX_HASHES: usize = 63;

/// Why a proof text was refused or does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlogProofError {
    /// The text is not a well-formed `tlog-proof@v1`.
    #[error("malformed tlog-proof (line {line}): {reason}")]
    Malformed {
        /// 1-based line number
        line: usize,
        /// what is wrong
        reason: &'static str,
    },
    /// The checkpoint does not verify with the log's key.
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// The inclusion proof does not lead to the checkpoint's root.
    #[error("inclusion proof: {0}")]
    Proof(#[from] ProofError),
}

/// A parsed proof. The checkpoint is kept verbatim (signature lines included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogProof {
    /// Opaque, unauthenticated extra data.
    pub extra: Option<Vec<u8>>,
    /// The entry's index.
    pub index: LeafIndex,
    /// Inclusion proof, leaf to root.
    pub hashes: Vec<Hash>,
    /// The signed checkpoint note.
    pub checkpoint: String,
}

impl TlogProof {
    /// Writes the text form into `out`.
    pub fn write_text(
        out: &mut String,
        index: LeafIndex,
        hashes: &[Hash],
        checkpoint: &str,
        extra: Option<&[u8]>,
    ) {
        use std::fmt::Write as _;
        out.push_str(HEADER);
        out.push('\n');
        if let Some(x) = extra {
            out.push_str("extra ");
            B64.encode_string(x, out);
            out.push('\n');
        }
        let _ = writeln!(out, "index {}", index.0);
        for h in hashes {
            B64.encode_string(h.0, out);
            out.push('\n');
        }
        out.push('\n');
        out.push_str(checkpoint);
    }

    /// The text form.
    pub fn to_text(&self) -> String {
        let mut s = String::with_capacity(64 + 45 * self.hashes.len() + self.checkpoint.len());
        Self::write_text(
            &mut s,
            self.index,
            &self.hashes,
            &self.checkpoint,
            self.extra.as_deref(),
        );
        s
    }

    /// Parses the text form strictly: exact header, canonical decimal index,
    /// 32-byte hashes in canonical base64, one empty line, then a non-empty
    /// checkpoint. The checkpoint itself is checked by [`TlogProof::verify`].
    ///
    /// # Errors
    /// [`TlogProofError::Malformed`] naming the line.
    pub fn parse(text: &str) -> Result<TlogProof, TlogProofError> {
        let p = TlogProofRef::parse(text)?;
        Ok(TlogProof {
            extra: p.extra,
            index: p.index,
            hashes: p.hashes,
            checkpoint: p.checkpoint.to_owned(),
        })
    }

    /// Verifies that `entry` is at this proof's index in the checkpointed
    /// tree, and that the checkpoint is signed by `log_key`.
    ///
    /// # Errors
    /// Checkpoint or proof errors.
    pub fn verify(
        &self,
        entry: &[u8],
        log_key: &Verifier,
    ) -> Result<SignedCheckpoint, TlogProofError> {
        let cp = open_checkpoint(self.checkpoint.as_bytes(), log_key, &[])?;
        self.verify_against(&crate::tlog::hash::leaf_hash(entry), &cp.checkpoint)?;
        Ok(cp)
    }

    /// Verifies the inclusion proof of `leaf` against an already verified
    /// checkpoint (for many proofs to one checkpoint).
    ///
    /// # Errors
    /// Proof errors.
    pub fn verify_against(
        &self,
        leaf: &Hash,
        cp: &crate::note::checkpoint::Checkpoint,
    ) -> Result<(), TlogProofError> {
        verify_inclusion(leaf, self.index, cp.size, &self.hashes, &cp.root)?;
        Ok(())
    }
}

/// A parsed proof that borrows its checkpoint from the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogProofRef<'a> {
    /// Opaque, unauthenticated extra data.
    pub extra: Option<Vec<u8>>,
    /// The entry's index.
    pub index: LeafIndex,
    /// Inclusion proof, leaf to root.
    pub hashes: Vec<Hash>,
    /// The signed checkpoint note, verbatim.
    pub checkpoint: &'a str,
}

impl<'a> TlogProofRef<'a> {
    /// Parses like [`TlogProof::parse`] without copying the checkpoint.
    ///
    /// # Errors
    /// [`TlogProofError::Malformed`] naming the line.
    pub fn parse(text: &'a str) -> Result<TlogProofRef<'a>, TlogProofError> {
        let bad = |line: usize, reason: &'static str| TlogProofError::Malformed { line, reason };
        let mut rest = text;
        let mut n = 0usize;
        let mut next = |rest: &mut &'a str| -> Option<&'a str> {
            let (line, tail) = rest.split_once('\n')?;
            *rest = tail;
            n += 1;
            Some(line)
        };
        if next(&mut rest).ok_or(bad(1, "no header line"))? != HEADER {
            return Err(bad(1, "first line is not c2sp.org/tlog-proof@v1"));
        }
        let mut line = next(&mut rest).ok_or(bad(2, "no index line"))?;
        let mut line_no = 2;
        let mut extra = None;
        if let Some(x) = line.strip_prefix("extra ") {
            let data = B64
                .decode(x)
                .map_err(|_| bad(line_no, "extra is not canonical base64"))?;
            if data.is_empty() {
                return Err(bad(line_no, "extra is empty"));
            }
            extra = Some(data);
            line_no += 1;
            line = next(&mut rest).ok_or(bad(line_no, "no index line"))?;
        }
        let digits = line
            .strip_prefix("index ")
            .ok_or(bad(line_no, "expected `index <N>`"))?;
        let canonical = !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
            && (digits == "0" || !digits.starts_with('0'));
        let index: u64 = digits
            .parse()
            .ok()
            .filter(|_| canonical)
            .ok_or(bad(line_no, "index is not a canonical decimal number"))?;
        let mut hashes = Vec::with_capacity(24);
        loop {
            line_no += 1;
            let line =
                next(&mut rest).ok_or(bad(line_no, "no empty line before the checkpoint"))?;
            if line.is_empty() {
                break;
            }
            if hashes.len() == MAX_HASHES {
                return Err(bad(line_no, "more than 63 proof hashes"));
            }
            hashes.push(Hash::from_base64(line).ok_or(bad(
                line_no,
                "proof hash is not canonical base64 of 32 bytes",
            ))?);
        }
        if rest.is_empty() {
            return Err(bad(line_no + 1, "no checkpoint after the empty line"));
        }
        Ok(TlogProofRef {
            extra,
            index: LeafIndex(index),
            hashes,
            checkpoint: rest,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::note::checkpoint::{Checkpoint, Origin};
    use crate::note::{SigType, Signer};
    use crate::tlog::tree::{prove_inclusion, MemoryTree, TreeSize};

    fn fixture() -> (Signer, Vec<Vec<u8>>, MemoryTree, String) {
        let signer = Signer::from_seed("example.com/log", SigType::Ed25519, [7; 32]).unwrap();
        let entries: Vec<Vec<u8>> = (0..13).map(|i| format!("entry {i}").into_bytes()).collect();
        let mut tree = MemoryTree::new();
        for e in &entries {
            tree.push(crate::tlog::hash::leaf_hash(e));
        }
        let cp = Checkpoint::new(
            Origin::new("example.com/log").unwrap(),
            tree.size(),
            tree.root(),
        )
        .sign(&signer)
        .unwrap();
        (signer, entries, tree, cp)
    }

    #[test]
    fn round_trips_and_verifies_every_entry() {
        let (signer, entries, tree, cp) = fixture();
        for (i, e) in entries.iter().enumerate() {
            let hashes = prove_inclusion(LeafIndex(i as u64), TreeSize(13), &tree).unwrap();
            let p = TlogProof {
                extra: (i % 2 == 0).then(|| b"ctx".to_vec()),
                index: LeafIndex(i as u64),
                hashes,
                checkpoint: cp.clone(),
            };
            let text = p.to_text();
            let back = TlogProof::parse(&text).unwrap();
            assert_eq!(back, p);
            back.verify(e, &signer.verifier()).unwrap();
            assert!(back.verify(b"other", &signer.verifier()).is_err());
        }
    }

    #[test]
    fn refuses_malformed_and_tampered_text() {
        let (signer, entries, tree, cp) = fixture();
        let hashes = prove_inclusion(LeafIndex(5), TreeSize(13), &tree).unwrap();
        let good = TlogProof {
            extra: None,
            index: LeafIndex(5),
            hashes,
            checkpoint: cp,
        }
        .to_text();
        let v = signer.verifier();
        assert!(TlogProof::parse(&good)
            .unwrap()
            .verify(&entries[5], &v)
            .is_ok());
        for bad in [
            good.replacen("c2sp.org/tlog-proof@v1", "c2sp.org/tlog-proof@v2", 1),
            good.replacen("index 5", "index 05", 1),
            good.replacen("index 5", "index  5", 1),
            good.replacen("index 5\n", "", 1),
            good.replacen("\n\n", "\n", 1),
            good.split("\n\n").next().unwrap().to_owned() + "\n\n",
            // Non-canonical base64: the unused low bits of the last symbol set.
            {
                let line = good.lines().nth(2).unwrap().to_owned();
                let mut b = line.clone().into_bytes();
                let k = b.len() - 2;
                b[k] = match b[k] {
                    b'A'..=b'Y' | b'a'..=b'y' | b'0'..=b'8' => b[k] + 1,
                    _ => b[k] - 1,
                };
                good.replacen(&line, std::str::from_utf8(&b).unwrap(), 1)
            },
        ] {
            assert!(TlogProof::parse(&bad).is_err(), "accepted:\n{bad}");
        }
        // Well-formed but wrong: another index, a flipped hash, another key.
        let wrong_index = good.replacen("index 5", "index 6", 1);
        assert!(TlogProof::parse(&wrong_index)
            .unwrap()
            .verify(&entries[5], &v)
            .is_err());
        let p = TlogProof::parse(&good).unwrap();
        let mut flipped = p.clone();
        flipped.hashes[1].0[0] ^= 1;
        assert!(flipped.verify(&entries[5], &v).is_err());
        let other = Signer::from_seed("example.com/log", SigType::Ed25519, [8; 32]).unwrap();
        assert!(p.verify(&entries[5], &other.verifier()).is_err());
    }
}

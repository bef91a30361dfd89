//! Strict proof verification, exactly RFC 9162 §2.1.3.2 (inclusion) and
//! §2.1.4.2 (consistency).
//!
//! "Strict" means every malformed proof is refused with a precise reason
//! before any hashing: a proof must have exactly the length the sizes imply.

use crate::tlog::hash::{node_hash, Hash};
use crate::tlog::tree::{consistency_ranges, inclusion_ranges, LeafIndex, TreeSize};

/// Why a proof does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// Inclusion in an empty tree is impossible.
    #[error("tree size is 0: an empty tree includes nothing")]
    EmptyTree,
    /// The leaf index is not below the tree size.
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange {
        /// claimed index
        index: u64,
        /// claimed size
        size: u64,
    },
    /// A consistency proof from size 0 proves nothing and is refused.
    #[error("consistency from tree size 0 is meaningless")]
    OldSizeZero,
    /// The old tree is larger than the new one.
    #[error("old tree size {old} is larger than new tree size {new}")]
    OldLargerThanNew {
        /// old size
        old: u64,
        /// new size
        new: u64,
    },
    /// The proof has the wrong number of hashes for these sizes.
    #[error("proof has {actual} hashes, sizes require exactly {expected}")]
    WrongLength {
        /// what the sizes imply
        expected: usize,
        /// what was given
        actual: usize,
    },
    /// The recomputed root differs from the claimed root.
    #[error("recomputed root does not match the claimed root")]
    RootMismatch,
    /// Consistency: the recomputed old root differs.
    #[error("recomputed old root does not match the old checkpoint")]
    OldRootMismatch,
    /// Consistency: the recomputed new root differs.
    #[error("recomputed new root does not match the new checkpoint")]
    NewRootMismatch,
}

/// Number of hashes in an inclusion proof for `index` in a tree of `size`.
pub fn inclusion_proof_len(index: LeafIndex, size: TreeSize) -> usize {
    if index.0 >= size.0 {
        return 0;
    }
    inclusion_ranges(index.0, size.0).len()
}

/// Number of hashes in a consistency proof from `old` to `new` (0 if equal).
pub fn consistency_proof_len(old: TreeSize, new: TreeSize) -> usize {
    if old.0 == 0 || old.0 >= new.0 {
        return 0;
    }
    consistency_ranges(old.0, new.0).len()
}

/// Verifies that `leaf` is at `index` in the tree of `size` leaves with `root`.
///
/// # Errors
/// Any [`ProofError`] that applies; the first failing check is reported.
pub fn verify_inclusion(
    leaf: &Hash,
    index: LeafIndex,
    size: TreeSize,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if size.0 == 0 {
        return Err(ProofError::EmptyTree);
    }
    if index.0 >= size.0 {
        return Err(ProofError::IndexOutOfRange {
            index: index.0,
            size: size.0,
        });
    }
    let expected = inclusion_proof_len(index, size);
    if proof.len() != expected {
        return Err(ProofError::WrongLength {
            expected,
            actual: proof.len(),
        });
    }
    // RFC 9162 §2.1.3.2, steps 2-6.
    let (mut fnode, mut snode) = (index.0, size.0 - 1);
    let mut r = *leaf;
    for p in proof {
        if snode == 0 {
            return Err(ProofError::WrongLength {
                expected,
                actual: proof.len(),
            });
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            // Skip the levels where this node is a lone right edge.
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(ProofError::WrongLength {
            expected,
            actual: proof.len(),
        });
    }
    if r != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Verifies many inclusion proofs against one tree head, remembering every
/// subtree hash a successful proof authenticated (its path and the proof's
/// hashes). A later proof whose path reaches an authenticated subtree with
/// the same hash, and whose remaining hashes are the authenticated siblings,
/// would recompute exactly the verified path, so it is accepted without
/// rehashing; any other proof is verified in full. Accepts and rejects
/// exactly what [`verify_inclusion`] does.
#[derive(Debug, Clone)]
pub struct InclusionVerifier {
    size: TreeSize,
    root: Hash,
    known: std::collections::HashMap<(u64, u64), Hash>,
}

/// Authenticated subtrees kept before the memory is cleared.
const KNOWN_LIMIT: usize = 1 << 20;

impl InclusionVerifier {
    /// A verifier for the tree of `size` leaves with `root`.
    pub fn new(size: TreeSize, root: Hash) -> Self {
        InclusionVerifier {
            size,
            root,
            known: std::collections::HashMap::new(),
        }
    }

    /// Verifies that `leaf` is at `index`.
    ///
    /// # Errors
    /// What [`verify_inclusion`] reports for the same input.
    pub fn verify(
        &mut self,
        leaf: &Hash,
        index: LeafIndex,
        proof: &[Hash],
    ) -> Result<(), ProofError> {
        if self.size.0 == 0
            || index.0 >= self.size.0
            || proof.len() != inclusion_proof_len(index, self.size)
        {
            return verify_inclusion(leaf, index, self.size, proof, &self.root);
        }
        let siblings = inclusion_ranges(index.0, self.size.0);
        let mut cur = (index.0, index.0 + 1);
        let mut h = *leaf;
        let mut path = Vec::with_capacity(siblings.len() + 1);
        for (k, (sib, p)) in siblings.iter().zip(proof).enumerate() {
            if self.known.get(&cur) == Some(&h)
                && siblings[k..]
                    .iter()
                    .zip(&proof[k..])
                    .all(|(r, p)| self.known.get(r) == Some(p))
            {
                return Ok(());
            }
            path.push((cur, h));
            if sib.0 < cur.0 {
                h = node_hash(p, &h);
                cur = (sib.0, cur.1);
            } else {
                h = node_hash(&h, p);
                cur = (cur.0, sib.1);
            }
        }
        if h != self.root {
            return Err(ProofError::RootMismatch);
        }
        if self.known.len() > KNOWN_LIMIT {
            self.known.clear();
        }
        self.known.extend(path);
        self.known
            .extend(siblings.into_iter().zip(proof.iter().copied()));
        Ok(())
    }
}

/// Verifies that the tree of `old` leaves with `old_root` is a prefix of the
/// tree of `new` leaves with `new_root`.
///
/// Equal sizes require an empty proof and equal roots. Size 0 is refused
/// (it would prove nothing).
///
/// # Errors
/// Any [`ProofError`] that applies.
pub fn verify_consistency(
    old: TreeSize,
    new: TreeSize,
    proof: &[Hash],
    old_root: &Hash,
    new_root: &Hash,
) -> Result<(), ProofError> {
    if old.0 == 0 {
        return Err(ProofError::OldSizeZero);
    }
    if old.0 > new.0 {
        return Err(ProofError::OldLargerThanNew {
            old: old.0,
            new: new.0,
        });
    }
    let expected = consistency_proof_len(old, new);
    if proof.len() != expected {
        return Err(ProofError::WrongLength {
            expected,
            actual: proof.len(),
        });
    }
    if old == new {
        return if old_root == new_root {
            Ok(())
        } else {
            Err(ProofError::NewRootMismatch)
        };
    }
    // RFC 9162 §2.1.4.2. Step 2: a power-of-two old tree is itself the first
    // node of the path.
    let mut path = proof.iter();
    let first_is_old_root = old.0.is_power_of_two();
    let seed = if first_is_old_root {
        *old_root
    } else {
        *path.next().ok_or(ProofError::WrongLength {
            expected,
            actual: proof.len(),
        })?
    };
    // Steps 3-4.
    let (mut fnode, mut snode) = (old.0 - 1, new.0 - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    // Step 5.
    let (mut fr, mut sr) = (seed, seed);
    // Step 6.
    for c in path {
        if snode == 0 {
            return Err(ProofError::WrongLength {
                expected,
                actual: proof.len(),
            });
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    // Step 7.
    if snode != 0 {
        return Err(ProofError::WrongLength {
            expected,
            actual: proof.len(),
        });
    }
    if fr != *old_root {
        return Err(ProofError::OldRootMismatch);
    }
    if sr != *new_root {
        return Err(ProofError::NewRootMismatch);
    }
    Ok(())
}

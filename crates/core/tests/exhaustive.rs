//! Every tree size 1..=128: every inclusion and consistency proof verifies,
//! and flipping any single byte of any proof hash (or of the leaf or roots)
//! makes it fail. After golang.org/x/mod sumdb/tlog `TestTree`.

use proptest::prelude::*;
use veritrail_core::hash::{leaf_hash, Hash};
use veritrail_core::proof::{verify_consistency, verify_inclusion, InclusionVerifier, ProofError};
use veritrail_core::tree::{prove_consistency, prove_inclusion, LeafIndex, MemoryTree, TreeSize};
use veritrail_core::{CompactRange, NoSink};

const MAX: u64 = 128;

fn trees() -> Vec<(MemoryTree, Hash)> {
    let mut t = MemoryTree::new();
    let mut out = vec![(t.clone(), t.root())];
    for i in 0..MAX {
        t.push(leaf_hash(format!("entry {i}").as_bytes()));
        out.push((t.clone(), t.root()));
    }
    out
}

fn flip(h: &Hash, byte: usize) -> Hash {
    let mut x = *h;
    x.0[byte] ^= 0x01;
    x
}

#[test]
fn every_inclusion_proof_verifies_and_every_flip_fails() {
    let trees = trees();
    let full = &trees[MAX as usize].0;
    let mut checked = 0u64;
    for n in 1..=MAX {
        let root = trees[n as usize].1;
        for m in 0..n {
            let leaf = leaf_hash(format!("entry {m}").as_bytes());
            let proof = prove_inclusion(LeafIndex(m), TreeSize(n), full).unwrap();
            verify_inclusion(&leaf, LeafIndex(m), TreeSize(n), &proof, &root).unwrap();
            for i in 0..proof.len() {
                for b in 0..32 {
                    let mut bad = proof.clone();
                    bad[i] = flip(&bad[i], b);
                    assert!(
                        verify_inclusion(&leaf, LeafIndex(m), TreeSize(n), &bad, &root).is_err()
                    );
                    checked += 1;
                }
            }
            for b in 0..32 {
                assert!(verify_inclusion(
                    &flip(&leaf, b),
                    LeafIndex(m),
                    TreeSize(n),
                    &proof,
                    &root
                )
                .is_err());
                assert!(verify_inclusion(
                    &leaf,
                    LeafIndex(m),
                    TreeSize(n),
                    &proof,
                    &flip(&root, b)
                )
                .is_err());
            }
            // Wrong index, wrong size, extra or missing hashes all fail.
            if n > 1 {
                let other = (m + 1) % n;
                assert!(
                    verify_inclusion(&leaf, LeafIndex(other), TreeSize(n), &proof, &root).is_err()
                );
            }
            let mut longer = proof.clone();
            longer.push(root);
            assert!(matches!(
                verify_inclusion(&leaf, LeafIndex(m), TreeSize(n), &longer, &root),
                Err(ProofError::WrongLength { .. })
            ));
            if !proof.is_empty() {
                assert!(matches!(
                    verify_inclusion(&leaf, LeafIndex(m), TreeSize(n), &proof[1..], &root),
                    Err(ProofError::WrongLength { .. })
                ));
            }
            assert!(verify_inclusion(&leaf, LeafIndex(n), TreeSize(n), &proof, &root).is_err());
        }
    }
    assert!(checked > 100_000);
}

/// The memoizing verifier must accept and reject exactly what
/// `verify_inclusion` does, whatever it has already seen: good proofs in
/// order, interleaved with every single-byte flip of every proof hash and of
/// the leaf, wrong indexes and wrong lengths.
#[test]
fn memoizing_verifier_agrees_with_the_plain_one() {
    let trees = trees();
    let full = &trees[MAX as usize].0;
    for n in 1..=MAX {
        let root = trees[n as usize].1;
        let mut v = InclusionVerifier::new(TreeSize(n), root);
        for m in 0..n {
            let leaf = leaf_hash(format!("entry {m}").as_bytes());
            let proof = prove_inclusion(LeafIndex(m), TreeSize(n), full).unwrap();
            let mut cases: Vec<(Hash, u64, Vec<Hash>)> = vec![(leaf, m, proof.clone())];
            for i in 0..proof.len() {
                for b in [0, 13, 31] {
                    let mut bad = proof.clone();
                    bad[i] = flip(&bad[i], b);
                    cases.push((leaf, m, bad));
                }
            }
            cases.push((flip(&leaf, 7), m, proof.clone()));
            cases.push((leaf, (m + 1) % n, proof.clone()));
            cases.push((leaf, m, proof.iter().copied().skip(1).collect()));
            // Good proof again last: it must still pass after the bad ones.
            cases.push((leaf, m, proof.clone()));
            for (l, i, p) in cases {
                assert_eq!(
                    v.verify(&l, LeafIndex(i), &p),
                    verify_inclusion(&l, LeafIndex(i), TreeSize(n), &p, &root),
                    "size {n} index {i}"
                );
            }
        }
    }
}

#[test]
fn every_consistency_proof_verifies_and_every_flip_fails() {
    let trees = trees();
    let full = &trees[MAX as usize].0;
    for n in 1..=MAX {
        for m in 1..=n {
            let (r1, r2) = (trees[m as usize].1, trees[n as usize].1);
            let proof = prove_consistency(TreeSize(m), TreeSize(n), full).unwrap();
            verify_consistency(TreeSize(m), TreeSize(n), &proof, &r1, &r2).unwrap();
            for i in 0..proof.len() {
                for b in 0..32 {
                    let mut bad = proof.clone();
                    bad[i] = flip(&bad[i], b);
                    assert!(
                        verify_consistency(TreeSize(m), TreeSize(n), &bad, &r1, &r2).is_err(),
                        "{m}->{n} hash {i} byte {b}"
                    );
                }
            }
            for b in [0, 17, 31] {
                assert!(
                    verify_consistency(TreeSize(m), TreeSize(n), &proof, &flip(&r1, b), &r2)
                        .is_err()
                );
                assert!(
                    verify_consistency(TreeSize(m), TreeSize(n), &proof, &r1, &flip(&r2, b))
                        .is_err()
                );
            }
            let mut longer = proof.clone();
            longer.push(r2);
            assert!(verify_consistency(TreeSize(m), TreeSize(n), &longer, &r1, &r2).is_err());
            if m < n {
                // A proof for a different old size does not transfer.
                assert!(
                    verify_consistency(TreeSize(m + 1), TreeSize(n), &proof, &r1, &r2).is_err()
                );
            }
        }
        assert!(matches!(
            verify_consistency(
                TreeSize(0),
                TreeSize(n),
                &[],
                &Hash::EMPTY_ROOT,
                &trees[n as usize].1
            ),
            Err(ProofError::OldSizeZero)
        ));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Prove then verify always passes, for trees far past 128 leaves.
    #[test]
    fn prove_then_verify_always_passes(n in 1u64..3000, a in 0u64..3000, b in 0u64..3000) {
        let mut t = MemoryTree::new();
        let mut c = CompactRange::new();
        for i in 0..n {
            let l = leaf_hash(&i.to_le_bytes());
            t.push(l);
            c.push(l, &mut NoSink);
        }
        let root = t.root();
        prop_assert_eq!(c.root(), root);
        let m = a % n;
        let leaf = leaf_hash(&m.to_le_bytes());
        let p = prove_inclusion(LeafIndex(m), TreeSize(n), &t).unwrap();
        prop_assert!(verify_inclusion(&leaf, LeafIndex(m), TreeSize(n), &p, &root).is_ok());
        let old = 1 + b % n;
        let old_root = veritrail_core::tree::tree_hash(TreeSize(old), &t).unwrap();
        let p = prove_consistency(TreeSize(old), TreeSize(n), &t).unwrap();
        prop_assert!(verify_consistency(TreeSize(old), TreeSize(n), &p, &old_root, &root).is_ok());
    }
}

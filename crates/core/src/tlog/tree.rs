//! RFC 9162 §2.1 tree structure: which perfect subtrees make up a range, a tree
//! head, an inclusion proof or a consistency proof, and how to hash them.
//!
//! Proof generation follows the model of golang.org/x/mod/sumdb/tlog: first
//! compute every stored node a result needs, read them all through one
//! [`HashReader::read_hashes`] call, then hash purely in memory.

use core::fmt;

use crate::tlog::hash::{node_hash, Hash};

/// A zero-based position of a leaf in the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct LeafIndex(pub u64);

/// The number of leaves in a tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct TreeSize(pub u64);

impl fmt::Display for LeafIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
impl fmt::Display for TreeSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A perfect subtree: the `2^level` leaves starting at leaf `index << level`.
/// Level 0 nodes are leaf hashes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId {
    /// Height above the leaves.
    pub level: u8,
    /// Position among the nodes of that level, left to right.
    pub index: u64,
}

impl NodeId {
    /// Builds a node id.
    pub const fn new(level: u8, index: u64) -> Self {
        NodeId { level, index }
    }
}

/// Reads stored node hashes. Implemented by the store (hash level files), by
/// tiles ([`crate::tlog::tile::TileHashReader`]) and by in-memory trees in tests.
pub trait HashReader {
    /// The reader's error type.
    type Error;
    /// Returns the hashes of `ids`, in the same order.
    ///
    /// # Errors
    /// Whatever the backing storage reports; a reader must never return a
    /// vector of a different length (the tree functions report that as
    /// [`TreeError::ReaderMisbehaved`]).
    fn read_hashes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, Self::Error>;
}

impl<R: HashReader + ?Sized> HashReader for &R {
    type Error = R::Error;
    fn read_hashes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, Self::Error> {
        (**self).read_hashes(ids)
    }
}

/// Why a tree hash or a proof could not be produced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TreeError<E> {
    /// The leaf index is not below the tree size.
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange {
        /// requested index
        index: u64,
        /// tree size
        size: u64,
    },
    /// A consistency proof was asked between sizes that do not allow one.
    #[error("no consistency proof from size {old} to size {new}: need 0 < old <= new")]
    BadSizes {
        /// old size
        old: u64,
        /// new size
        new: u64,
    },
    /// The hash reader failed.
    #[error("reading stored hashes: {0}")]
    Read(E),
    /// The hash reader returned a different number of hashes than asked.
    #[error("hash reader returned {got} hashes for {asked} ids")]
    ReaderMisbehaved {
        /// ids asked for
        asked: usize,
        /// hashes returned
        got: usize,
    },
}

/// Largest power of two strictly below `n` (RFC 9162's `k`), for `n >= 2`.
#[inline]
pub(crate) fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// The perfect subtrees whose fold is MTH(D\[start:end\]), left to right.
///
/// `start` must be a multiple of the largest power of two not above
/// `end - start`, which holds for every range RFC 9162's recursion visits.
/// The decomposition is the binary expansion of `end - start`, high bits first.
pub fn range_nodes(start: u64, end: u64) -> Vec<NodeId> {
    let mut out = Vec::with_capacity(64);
    push_range_nodes(start, end, &mut out);
    out
}

fn push_range_nodes(start: u64, end: u64, out: &mut Vec<NodeId>) {
    let mut pos = start;
    let mut rest = end - start;
    while rest > 0 {
        let level = 63 - rest.leading_zeros() as u8;
        debug_assert_eq!(pos % (1u64 << level), 0, "range start not aligned");
        out.push(NodeId::new(level, pos >> level));
        pos += 1u64 << level;
        rest -= 1u64 << level;
    }
}

/// Folds the hashes of a left-to-right perfect decomposition into one subtree
/// hash: the rightmost nodes are combined first (RFC 9162 §2.1.1 MTH).
///
/// # Panics
/// If `hashes` is empty (an internal invariant: every range is non-empty).
pub fn fold_range(hashes: &[Hash]) -> Hash {
    let (last, rest) = hashes.split_last().expect("fold_range of an empty range");
    rest.iter().rev().fold(*last, |acc, h| node_hash(h, &acc))
}

/// The subtree ranges an inclusion proof for leaf `m` in a tree of `n` leaves
/// consists of, in proof order (leaf to root), RFC 9162 §2.1.3.1.
pub(crate) fn inclusion_ranges(m: u64, n: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::with_capacity(64);
    let (mut lo, mut hi) = (0u64, n);
    while hi - lo > 1 {
        let k = split_point(hi - lo);
        if m < lo + k {
            out.push((lo + k, hi));
            hi = lo + k;
        } else {
            out.push((lo, lo + k));
            lo += k;
        }
    }
    out.reverse();
    out
}

/// The subtree ranges of a consistency proof from size `m` to size `n`
/// (0 < m < n), in proof order: RFC 9162 §2.1.4.1 SUBPROOF, iteratively.
pub(crate) fn consistency_ranges(m: u64, n: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::with_capacity(64);
    let (mut lo, mut hi, mut rel_m, mut complete) = (0u64, n, m, true);
    loop {
        let size = hi - lo;
        if rel_m == size {
            // SUBPROOF(m, D[m], b): nothing if b is true (the old root itself),
            // else MTH(D[m]).
            if !complete {
                out.push((lo, hi));
            }
            break;
        }
        let k = split_point(size);
        if rel_m <= k {
            // SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
            out.push((lo + k, hi));
            hi = lo + k;
        } else {
            // SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
            out.push((lo, lo + k));
            lo += k;
            rel_m -= k;
            complete = false;
        }
    }
    out.reverse();
    out
}

/// Reads and folds a list of ranges with one batched read.
fn hash_ranges<R: HashReader>(
    ranges: &[(u64, u64)],
    reader: &R,
) -> Result<Vec<Hash>, TreeError<R::Error>> {
    let mut ids = Vec::with_capacity(ranges.len() * 2);
    let mut bounds = Vec::with_capacity(ranges.len());
    for &(a, b) in ranges {
        let first = ids.len();
        push_range_nodes(a, b, &mut ids);
        bounds.push(first..ids.len());
    }
    let hashes = reader.read_hashes(&ids).map_err(TreeError::Read)?;
    if hashes.len() != ids.len() {
        return Err(TreeError::ReaderMisbehaved {
            asked: ids.len(),
            got: hashes.len(),
        });
    }
    Ok(bounds.into_iter().map(|r| fold_range(&hashes[r])).collect())
}

/// MTH of the first `size` leaves, through `reader`. Size 0 gives
/// [`Hash::EMPTY_ROOT`].
///
/// # Errors
/// Reader failures.
pub fn tree_hash<R: HashReader>(size: TreeSize, reader: &R) -> Result<Hash, TreeError<R::Error>> {
    if size.0 == 0 {
        return Ok(Hash::EMPTY_ROOT);
    }
    Ok(hash_ranges(&[(0, size.0)], reader)?[0])
}

/// The nodes [`tree_hash`] reads for `size`.
pub fn tree_hash_nodes(size: TreeSize) -> Vec<NodeId> {
    range_nodes(0, size.0)
}

/// Inclusion proof for leaf `index` in the tree of `size` leaves
/// (RFC 9162 §2.1.3.1), leaf-to-root order.
///
/// # Errors
/// `IndexOutOfRange` if `index >= size`; reader failures.
pub fn prove_inclusion<R: HashReader>(
    index: LeafIndex,
    size: TreeSize,
    reader: &R,
) -> Result<Vec<Hash>, TreeError<R::Error>> {
    if index.0 >= size.0 {
        return Err(TreeError::IndexOutOfRange {
            index: index.0,
            size: size.0,
        });
    }
    hash_ranges(&inclusion_ranges(index.0, size.0), reader)
}

/// The nodes [`prove_inclusion`] reads.
pub fn inclusion_nodes(index: LeafIndex, size: TreeSize) -> Vec<NodeId> {
    if index.0 >= size.0 {
        return Vec::new();
    }
    let mut ids = Vec::new();
    for (a, b) in inclusion_ranges(index.0, size.0) {
        push_range_nodes(a, b, &mut ids);
    }
    ids
}

/// Consistency proof from tree size `old` to `new` (RFC 9162 §2.1.4.1).
/// Equal sizes give an empty proof.
///
/// # Errors
/// `BadSizes` unless `0 < old <= new`; reader failures.
pub fn prove_consistency<R: HashReader>(
    old: TreeSize,
    new: TreeSize,
    reader: &R,
) -> Result<Vec<Hash>, TreeError<R::Error>> {
    if old.0 == 0 || old.0 > new.0 {
        return Err(TreeError::BadSizes {
            old: old.0,
            new: new.0,
        });
    }
    if old == new {
        return Ok(Vec::new());
    }
    hash_ranges(&consistency_ranges(old.0, new.0), reader)
}

/// The nodes [`prove_consistency`] reads.
pub fn consistency_nodes(old: TreeSize, new: TreeSize) -> Vec<NodeId> {
    if old.0 == 0 || old.0 >= new.0 {
        return Vec::new();
    }
    let mut ids = Vec::new();
    for (a, b) in consistency_ranges(old.0, new.0) {
        push_range_nodes(a, b, &mut ids);
    }
    ids
}

/// An in-memory tree holding every node of every level; for tests, tools and
/// small trees. Level `l` holds `size >> l` complete nodes.
#[derive(Clone, Debug, Default)]
pub struct MemoryTree {
    levels: Vec<Vec<Hash>>,
}

impl MemoryTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a leaf hash, computing the newly complete nodes above it.
    pub fn push(&mut self, leaf: Hash) {
        let mut h = leaf;
        let mut level = 0;
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            self.levels[level].push(h);
            let n = self.levels[level].len();
            if n % 2 == 1 {
                break;
            }
            h = node_hash(&self.levels[level][n - 2], &h);
            level += 1;
        }
    }

    /// Number of leaves.
    pub fn size(&self) -> TreeSize {
        TreeSize(self.levels.first().map_or(0, |l| l.len() as u64))
    }

    /// The root at the current size.
    pub fn root(&self) -> Hash {
        tree_hash(self.size(), self).unwrap_or_else(|e: TreeError<NodeMissing>| {
            panic!("memory tree is missing its own node: {e}")
        })
    }
}

/// A [`MemoryTree`] was asked for a node it does not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("node level {} index {} is not stored", .0.level, .0.index)]
pub struct NodeMissing(pub NodeId);

impl HashReader for MemoryTree {
    type Error = NodeMissing;
    fn read_hashes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, NodeMissing> {
        ids.iter()
            .map(|id| {
                self.levels
                    .get(id.level as usize)
                    .and_then(|l| l.get(usize::try_from(id.index).ok()?))
                    .copied()
                    .ok_or(NodeMissing(*id))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tlog::hash::leaf_hash;

    #[test]
    fn split_point_is_largest_power_of_two_below() {
        assert_eq!(split_point(2), 1);
        assert_eq!(split_point(3), 2);
        assert_eq!(split_point(4), 2);
        assert_eq!(split_point(5), 4);
        assert_eq!(split_point(1 << 40), 1 << 39);
        assert_eq!(split_point((1 << 40) + 1), 1 << 40);
    }

    #[test]
    fn range_nodes_follow_binary_expansion() {
        assert_eq!(
            range_nodes(0, 13),
            vec![NodeId::new(3, 0), NodeId::new(2, 2), NodeId::new(0, 12)]
        );
        assert_eq!(range_nodes(8, 12), vec![NodeId::new(2, 2)]);
    }

    fn naive_mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => Hash::EMPTY_ROOT,
            1 => leaves[0],
            n => {
                let k = split_point(n as u64) as usize;
                node_hash(&naive_mth(&leaves[..k]), &naive_mth(&leaves[k..]))
            }
        }
    }

    #[test]
    fn memory_tree_root_matches_recursive_definition() {
        let mut t = MemoryTree::new();
        let mut leaves = Vec::new();
        for i in 0..70u32 {
            let l = leaf_hash(&i.to_le_bytes());
            leaves.push(l);
            t.push(l);
            assert_eq!(t.root(), naive_mth(&leaves), "size {}", i + 1);
        }
    }
}

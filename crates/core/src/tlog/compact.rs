//! The compact range (a.k.a. frontier): the O(log n) state from which the next
//! leaves can be appended and the root taken at any size.
//!
//! It holds one hash per set bit of the tree size: the roots of the perfect
//! subtrees that make up the tree, left (largest) to right (smallest).

use crate::tlog::hash::{leaf_hashes_into, node_hash, node_hash_pair, Hash};
use crate::tlog::tree::{fold_range, range_nodes, HashReader, NodeId, TreeError, TreeSize};

/// Receives every node that becomes complete while appending (leaves
/// included), so a store can persist the levels it keeps.
pub trait NodeSink {
    /// Whether nodes at `level` are wanted; others are not reported.
    fn wants_level(&self, level: u8) -> bool;
    /// A node became complete.
    fn node(&mut self, id: NodeId, hash: &Hash);
}

/// Discards every node.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoSink;

impl NodeSink for NoSink {
    fn wants_level(&self, _: u8) -> bool {
        false
    }
    fn node(&mut self, _: NodeId, _: &Hash) {}
}

/// Collects the wanted nodes into a vector.
#[derive(Debug, Default, Clone)]
pub struct VecSink {
    level_mask: u64,
    /// Collected nodes in completion order.
    pub nodes: Vec<(NodeId, Hash)>,
}

impl VecSink {
    /// Collects nodes of the levels in `levels`.
    pub fn new(levels: &[u8]) -> Self {
        VecSink {
            level_mask: levels.iter().fold(0, |m, l| m | (1u64 << (l % 64))),
            nodes: Vec::new(),
        }
    }
    /// Collects nodes of levels 0, 8, 16, … (the C2SP tile levels).
    pub fn tile_levels() -> Self {
        VecSink {
            level_mask: (0..8).fold(0, |m, l| m | (1u64 << (8 * l))),
            nodes: Vec::new(),
        }
    }
}

impl NodeSink for VecSink {
    fn wants_level(&self, level: u8) -> bool {
        level < 64 && self.level_mask & (1u64 << level) != 0
    }
    fn node(&mut self, id: NodeId, hash: &Hash) {
        self.nodes.push((id, *hash));
    }
}

/// Leaves per chunk when a batch is hashed in parallel.
const CHUNK_LEVEL: u8 = 12;

/// O(log n) tree state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompactRange {
    size: u64,
    /// Perfect subtree roots, largest first; `hashes.len() == size.count_ones()`.
    hashes: Vec<Hash>,
}

impl CompactRange {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds the state at `size` from stored nodes (one batched read).
    ///
    /// # Errors
    /// Reader failures.
    pub fn from_reader<R: HashReader>(
        size: TreeSize,
        reader: &R,
    ) -> Result<Self, TreeError<R::Error>> {
        let ids = range_nodes(0, size.0);
        let hashes = reader.read_hashes(&ids).map_err(TreeError::Read)?;
        if hashes.len() != ids.len() {
            return Err(TreeError::ReaderMisbehaved {
                asked: ids.len(),
                got: hashes.len(),
            });
        }
        Ok(CompactRange {
            size: size.0,
            hashes,
        })
    }

    /// Builds the state from its parts: the perfect subtree roots for `size`,
    /// largest first.
    ///
    /// # Errors
    /// `None` if the number of hashes is not `size.count_ones()`.
    pub fn from_parts(size: TreeSize, hashes: Vec<Hash>) -> Option<Self> {
        (hashes.len() == size.0.count_ones() as usize).then_some(CompactRange {
            size: size.0,
            hashes,
        })
    }

    /// The perfect subtree roots, largest first.
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// Number of leaves.
    pub fn size(&self) -> TreeSize {
        TreeSize(self.size)
    }

    /// MTH at the current size.
    pub fn root(&self) -> Hash {
        if self.hashes.is_empty() {
            Hash::EMPTY_ROOT
        } else {
            fold_range(&self.hashes)
        }
    }

    /// Appends a leaf hash.
    #[inline]
    pub fn push(&mut self, leaf: Hash, sink: &mut impl NodeSink) {
        self.push_node(0, leaf, sink);
    }

    /// Appends a whole perfect subtree of `2^level` leaves whose root is
    /// `hash`. The current size must be a multiple of `2^level`.
    ///
    /// # Panics
    /// If the size is not aligned (an internal invariant of the callers).
    pub fn push_node(&mut self, level: u8, hash: Hash, sink: &mut impl NodeSink) {
        assert!(
            self.size.trailing_zeros() >= u32::from(level) || self.size == 0,
            "push_node: size {} not aligned to level {level}",
            self.size
        );
        let mut idx = self.size >> level;
        let mut lvl = level;
        let mut h = hash;
        if sink.wants_level(lvl) {
            sink.node(NodeId::new(lvl, idx), &h);
        }
        // Each set low bit of the index is a left sibling waiting to merge.
        while idx & 1 == 1 {
            let left = self
                .hashes
                .pop()
                .expect("compact range lost a subtree root");
            h = node_hash(&left, &h);
            idx >>= 1;
            lvl += 1;
            if sink.wants_level(lvl) {
                sink.node(NodeId::new(lvl, idx), &h);
            }
        }
        self.hashes.push(h);
        self.size += 1u64 << level;
    }

    /// Appends leaf hashes one after another: where the size is even, four
    /// leaves at a time become two level-1 nodes hashed together
    /// ([`node_hash_pair`]), so half of the nodes need not wait on each other.
    fn push_leaves(&mut self, leaves: &[Hash], sink: &mut impl NodeSink) {
        let mut rest = leaves;
        if self.size % 2 == 1 {
            if let Some((first, tail)) = rest.split_first() {
                self.push(*first, sink);
                rest = tail;
            }
        }
        let mut quads = rest.chunks_exact(4);
        let wants_leaves = sink.wants_level(0);
        for q in &mut quads {
            if wants_leaves {
                for (k, h) in q.iter().enumerate() {
                    sink.node(NodeId::new(0, self.size + k as u64), h);
                }
            }
            let [a, b] = node_hash_pair(&q[0], &q[1], &q[2], &q[3]);
            self.push_node(1, a, sink);
            self.push_node(1, b, sink);
        }
        for h in quads.remainder() {
            self.push(*h, sink);
        }
    }

    /// Appends many leaf hashes. With the `parallel` feature, aligned chunks of
    /// 4,096 leaves are reduced to their subtree roots on all cores.
    pub fn extend(&mut self, leaves: &[Hash], sink: &mut (impl NodeSink + Send)) {
        self.extend_with(leaves, |l, out| out.extend_from_slice(l), sink);
    }

    /// Hashes `entries` as leaves (RFC 9162 §2.1.1) and appends them. Leaf
    /// hashing and subtree reduction happen in one pass per chunk, on all
    /// cores with the `parallel` feature. A sink that wants level 0 receives
    /// every leaf hash.
    pub fn extend_entries<E: AsRef<[u8]> + Sync>(
        &mut self,
        entries: &[E],
        sink: &mut (impl NodeSink + Send),
    ) {
        self.extend_with(entries, leaf_hashes_into, sink);
    }

    /// `leaves` appends the leaf hashes of a run of items to a vector.
    fn extend_with<T: Sync>(
        &mut self,
        items: &[T],
        leaves: impl Fn(&[T], &mut Vec<Hash>) + Sync,
        sink: &mut (impl NodeSink + Send),
    ) {
        let chunk = 1usize << CHUNK_LEVEL;
        let mut hashed = Vec::new();
        // Sequential until the size is aligned to a chunk.
        let head = items
            .len()
            .min(((chunk as u64 - self.size % chunk as u64) % chunk as u64) as usize);
        leaves(&items[..head], &mut hashed);
        self.push_leaves(&hashed, sink);
        let mut i = head;
        let full = (items.len() - i) / chunk * chunk;
        if full > 0 {
            let base = self.size;
            let wants: [bool; CHUNK_LEVEL as usize + 1] =
                core::array::from_fn(|l| sink.wants_level(l as u8));
            let reduce = |(c, part): (usize, &[T])| {
                reduce_chunk(base + (c * chunk) as u64, part, &leaves, &wants)
            };
            #[cfg(feature = "parallel")]
            let results: Vec<(Hash, Vec<(NodeId, Hash)>)> = {
                use rayon::prelude::*;
                items[i..i + full]
                    .par_chunks(chunk)
                    .enumerate()
                    .map(reduce)
                    .collect()
            };
            #[cfg(not(feature = "parallel"))]
            let results: Vec<(Hash, Vec<(NodeId, Hash)>)> = items[i..i + full]
                .chunks(chunk)
                .enumerate()
                .map(reduce)
                .collect();
            for (root, nodes) in results {
                for (id, h) in &nodes {
                    sink.node(*id, h);
                }
                // The chunk root is reported (if wanted) by push_node.
                self.push_node(CHUNK_LEVEL, root, sink);
            }
            i += full;
        }
        hashed.clear();
        leaves(&items[i..], &mut hashed);
        self.push_leaves(&hashed, sink);
    }
}

/// Reduces one aligned chunk to its root, collecting wanted nodes below the
/// chunk's top level.
fn reduce_chunk<T>(
    first_leaf: u64,
    items: &[T],
    leaves: &impl Fn(&[T], &mut Vec<Hash>),
    wants: &[bool],
) -> (Hash, Vec<(NodeId, Hash)>) {
    let mut nodes = Vec::new();
    let mut row: Vec<Hash> = Vec::with_capacity(items.len());
    leaves(items, &mut row);
    let mut level = 0u8;
    while row.len() > 1 {
        if wants[level as usize] {
            let first = first_leaf >> level;
            nodes.extend(
                row.iter()
                    .enumerate()
                    .map(|(j, h)| (NodeId::new(level, first + j as u64), *h)),
            );
        }
        // Pairwise reduction in place, two nodes at a time:
        // row[j] = H(row[2j], row[2j+1]). The chunk is a power of two, so
        // every row but the last (one node) has an even number of nodes.
        let half = row.len() / 2;
        let mut j = 0;
        while j + 1 < half {
            let [a, b] = node_hash_pair(
                &row[2 * j],
                &row[2 * j + 1],
                &row[2 * j + 2],
                &row[2 * j + 3],
            );
            row[j] = a;
            row[j + 1] = b;
            j += 2;
        }
        if j < half {
            row[j] = node_hash(&row[2 * j], &row[2 * j + 1]);
        }
        row.truncate(half);
        level += 1;
    }
    (row[0], nodes)
}

/// Leaf hashes of many entries; on all cores with the `parallel` feature.
pub fn hash_leaves<E: AsRef<[u8]> + Sync>(entries: &[E]) -> Vec<Hash> {
    #[cfg(feature = "parallel")]
    {
        use rayon::prelude::*;
        if entries.len() >= 256 {
            let mut out = vec![Hash::default(); entries.len()];
            out.par_chunks_mut(128)
                .zip(entries.par_chunks(128))
                .for_each(|(o, e)| crate::tlog::hash::leaf_hashes_to(e, o));
            return out;
        }
    }
    let mut out = Vec::new();
    leaf_hashes_into(entries, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tlog::hash::leaf_hash;
    use crate::tlog::tree::MemoryTree;

    fn leaves(n: u32) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    #[test]
    fn push_matches_memory_tree_at_every_size() {
        let mut c = CompactRange::new();
        let mut t = MemoryTree::new();
        assert_eq!(c.root(), Hash::EMPTY_ROOT);
        for l in leaves(300) {
            c.push(l, &mut NoSink);
            t.push(l);
            assert_eq!(c.root(), t.root());
            assert_eq!(c.size(), t.size());
            assert_eq!(CompactRange::from_reader(t.size(), &t).unwrap(), c);
        }
    }

    #[test]
    fn extend_equals_pushes_and_reports_the_same_nodes() {
        let ls = leaves(3 * 4096 + 777);
        for start in [0usize, 1, 4095, 5000] {
            let mut a = CompactRange::new();
            let mut b = CompactRange::new();
            let mut sa = VecSink::tile_levels();
            let mut sb = VecSink::tile_levels();
            for l in &ls[..start] {
                a.push(*l, &mut sa);
                b.push(*l, &mut sb);
            }
            for l in &ls[start..] {
                a.push(*l, &mut sa);
            }
            b.extend(&ls[start..], &mut sb);
            assert_eq!(a, b, "start {start}");
            sa.nodes.sort();
            sb.nodes.sort();
            assert_eq!(sa.nodes, sb.nodes, "start {start}");
        }
    }

    #[test]
    fn extends_of_every_small_length_at_odd_and_even_sizes_equal_pushes() {
        // Every level wanted, so the order within each level is checked too.
        let all: Vec<u8> = (0..20).collect();
        let ls = leaves(2 * 4096 + 300);
        let entries: Vec<Vec<u8>> = (0..ls.len() as u32)
            .map(|i| i.to_be_bytes().to_vec())
            .collect();
        for start in [0usize, 1, 2, 3, 5, 4093, 4094, 4095] {
            for len in (0..=9).chain([4096 + 3, 4096 * 2 - start]) {
                let (mut a, mut b, mut c) = (
                    CompactRange::new(),
                    CompactRange::new(),
                    CompactRange::new(),
                );
                let (mut sa, mut sb, mut sc) =
                    (VecSink::new(&all), VecSink::new(&all), VecSink::new(&all));
                a.extend(&ls[..start], &mut sa);
                b.extend(&ls[..start], &mut sb);
                c.extend_entries(&entries[..start], &mut sc);
                for l in &ls[start..start + len] {
                    a.push(*l, &mut sa);
                }
                b.extend(&ls[start..start + len], &mut sb);
                c.extend_entries(&entries[start..start + len], &mut sc);
                assert_eq!(a, b, "extend: start {start}, {len} leaves");
                assert_eq!(a, c, "extend_entries: start {start}, {len} leaves");
                for s in [&mut sa, &mut sb, &mut sc] {
                    // Stable: per level, in the order reported.
                    s.nodes.sort_by_key(|(id, _)| id.level);
                }
                assert_eq!(
                    sa.nodes, sb.nodes,
                    "extend nodes: start {start}, {len} leaves"
                );
                assert_eq!(
                    sa.nodes, sc.nodes,
                    "extend_entries nodes: start {start}, {len}"
                );
            }
        }
        assert_eq!(hash_leaves(&entries[..1001]), ls[..1001].to_vec());
    }

    #[test]
    fn sink_sees_every_node_of_wanted_levels() {
        let mut c = CompactRange::new();
        let mut s = VecSink::new(&[0, 1, 8]);
        c.extend(&leaves(1000), &mut s);
        let count = |lvl| s.nodes.iter().filter(|(id, _)| id.level == lvl).count();
        assert_eq!(count(0), 1000);
        assert_eq!(count(1), 500);
        assert_eq!(count(8), 3);
        assert_eq!(count(2), 0);
    }
}

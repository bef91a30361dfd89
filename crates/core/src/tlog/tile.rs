//! C2SP tlog-tiles: tile paths, hash tiles, entry bundles, which tiles a
//! computation needs, and a [`HashReader`] backed by tiles that authenticates
//! every tile it uses against a signed tree head.
//!
//! Tile height is 8: a tile at level `L` holds up to 256 consecutive hashes of
//! tree level `8·L`.

use core::fmt;
use std::collections::{BTreeMap, BTreeSet};

use crate::tlog::hash::{node_hash, Hash, HASH_SIZE};
use crate::tlog::tree::{range_nodes, HashReader, NodeId, TreeSize};

/// Tree levels per tile level.
pub const TILE_HEIGHT: u8 = 8;
/// Hashes (or entries) in a full tile.
pub const TILE_WIDTH: u16 = 256;
/// Largest entry an entry bundle can hold (big-endian u16 length prefix).
pub const MAX_ENTRY_SIZE: usize = u16::MAX as usize;

/// What a tile path names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TileKind {
    /// A hash tile at the given tile level (tree level `8·level`).
    Hash {
        /// Tile level, 0..=63.
        level: u8,
    },
    /// An entry bundle (`tile/entries/…`).
    Entries,
}

/// A tile: kind, index within its level, and width (1..=256; 256 is full).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tile {
    /// Hash tile level or entry bundle.
    pub kind: TileKind,
    /// Index of the tile within its level.
    pub index: u64,
    /// Number of hashes or entries, 1..=256.
    pub width: u16,
}

/// Why a tile path, tile or bundle was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TileError {
    /// The path is not a C2SP tile path.
    #[error("invalid tile path {path:?}: {reason}")]
    BadPath {
        /// the path given (truncated to 200 bytes)
        path: String,
        /// what is wrong
        reason: &'static str,
    },
    /// Tile data of the wrong length.
    #[error("hash tile has {actual} bytes, width {width} needs {expected}")]
    BadHashTileLength {
        /// declared width
        width: u16,
        /// width × 32
        expected: usize,
        /// bytes given
        actual: usize,
    },
    /// An entry bundle that does not parse.
    #[error("entry bundle: {reason} at byte offset {offset}")]
    BadBundle {
        /// what is wrong
        reason: &'static str,
        /// where
        offset: usize,
    },
    /// An entry bundle with the wrong number of entries.
    #[error("entry bundle holds {actual} entries, expected {expected}")]
    BundleCount {
        /// expected width
        expected: usize,
        /// entries found
        actual: usize,
    },
    /// An entry too large for a bundle.
    #[error("entry of {0} bytes exceeds the 65,535-byte bundle limit")]
    EntryTooLarge(usize),
}

impl Tile {
    /// A hash tile.
    pub fn hash(level: u8, index: u64, width: u16) -> Tile {
        Tile {
            kind: TileKind::Hash { level },
            index,
            width,
        }
    }

    /// An entry bundle.
    pub fn entries(index: u64, width: u16) -> Tile {
        Tile {
            kind: TileKind::Entries,
            index,
            width,
        }
    }

    /// Whether the tile is full (256 wide).
    pub fn is_full(&self) -> bool {
        self.width == TILE_WIDTH
    }

    /// The C2SP path, e.g. `tile/0/x001/234.p/17` or `tile/entries/000`.
    pub fn path(&self) -> String {
        let mut s = String::with_capacity(32);
        s.push_str("tile/");
        match self.kind {
            TileKind::Hash { level } => s.push_str(&level.to_string()),
            TileKind::Entries => s.push_str("entries"),
        }
        s.push('/');
        push_index(&mut s, self.index);
        if !self.is_full() {
            s.push_str(".p/");
            s.push_str(&self.width.to_string());
        }
        s
    }

    /// Parses a C2SP tile path strictly: canonical index groups, no leading
    /// zeros in the level or width, width 1..=255 after `.p/`.
    ///
    /// # Errors
    /// [`TileError::BadPath`] naming the problem.
    pub fn parse(path: &str) -> Result<Tile, TileError> {
        let bad = |reason| TileError::BadPath {
            path: path.chars().take(200).collect(),
            reason,
        };
        if path.len() > 128 {
            return Err(bad("too long"));
        }
        let rest = path
            .strip_prefix("tile/")
            .ok_or_else(|| bad("must start with tile/"))?;
        let (kind_s, rest) = rest.split_once('/').ok_or_else(|| bad("missing index"))?;
        let kind = if kind_s == "entries" {
            TileKind::Entries
        } else {
            let level = parse_decimal(kind_s, 63)
                .ok_or_else(|| bad("level must be 0..=63 without leading zeros"))?;
            TileKind::Hash { level: level as u8 }
        };
        let (index_s, width) = match rest.split_once(".p/") {
            Some((i, w)) => {
                let w = parse_decimal(w, 255)
                    .filter(|w| *w >= 1)
                    .ok_or_else(|| bad("partial width must be 1..=255 without leading zeros"))?;
                (i, w as u16)
            }
            None => (rest, TILE_WIDTH),
        };
        let index = parse_index(index_s)
            .ok_or_else(|| bad("index must be x###/…/### groups in canonical form"))?;
        Ok(Tile { kind, index, width })
    }
}

impl fmt::Display for Tile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path())
    }
}

/// `1234067` → `x001/x234/067`.
fn push_index(s: &mut String, n: u64) {
    let mut groups = Vec::with_capacity(7);
    let mut n = n;
    loop {
        groups.push(n % 1000);
        n /= 1000;
        if n == 0 {
            break;
        }
    }
    for (i, g) in groups.iter().rev().enumerate() {
        if i + 1 < groups.len() {
            s.push_str(&format!("x{g:03}/"));
        } else {
            s.push_str(&format!("{g:03}"));
        }
    }
}

fn parse_index(s: &str) -> Option<u64> {
    let parts: Vec<&str> = s.split('/').collect();
    if parts.len() > 7 {
        return None;
    }
    let mut n: u64 = 0;
    for (i, p) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let digits = if last { *p } else { p.strip_prefix('x')? };
        if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let g: u64 = digits.parse().ok()?;
        // A leading all-zero group is not canonical (x000/001 is 001).
        if i == 0 && !last && g == 0 {
            return None;
        }
        n = n.checked_mul(1000)?.checked_add(g)?;
    }
    Some(n)
}

fn parse_decimal(s: &str, max: u64) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if s.len() > 1 && s.starts_with('0') {
        return None;
    }
    s.parse::<u64>().ok().filter(|v| *v <= max)
}

/// Splits hash tile data of `width` hashes.
///
/// # Errors
/// [`TileError::BadHashTileLength`] unless the data is exactly `width × 32`.
pub fn parse_hash_tile(data: &[u8], width: u16) -> Result<Vec<Hash>, TileError> {
    let expected = usize::from(width) * HASH_SIZE;
    if data.len() != expected {
        return Err(TileError::BadHashTileLength {
            width,
            expected,
            actual: data.len(),
        });
    }
    Ok(data
        .chunks_exact(HASH_SIZE)
        .map(|c| Hash::from_slice(c).expect("chunks of 32"))
        .collect())
}

/// Encodes entries as a C2SP entry bundle: each a big-endian u16 length then
/// the bytes.
///
/// # Errors
/// [`TileError::EntryTooLarge`] for an entry over 65,535 bytes.
pub fn encode_entry_bundle<E: AsRef<[u8]>>(entries: &[E]) -> Result<Vec<u8>, TileError> {
    let total: usize = entries.iter().map(|e| e.as_ref().len() + 2).sum();
    let mut out = Vec::with_capacity(total);
    for e in entries {
        let e = e.as_ref();
        let len = u16::try_from(e.len()).map_err(|_| TileError::EntryTooLarge(e.len()))?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(e);
    }
    Ok(out)
}

/// Parses an entry bundle strictly: every byte belongs to a complete entry,
/// and when `expected` is given, exactly that many entries.
///
/// # Errors
/// [`TileError::BadBundle`] (truncated length or data) or
/// [`TileError::BundleCount`].
pub fn parse_entry_bundle(data: &[u8], expected: Option<usize>) -> Result<Vec<&[u8]>, TileError> {
    let mut out = Vec::with_capacity(expected.unwrap_or(16).min(256));
    let mut off = 0;
    while off < data.len() {
        if data.len() - off < 2 {
            return Err(TileError::BadBundle {
                reason: "truncated length prefix",
                offset: off,
            });
        }
        let len = usize::from(u16::from_be_bytes([data[off], data[off + 1]]));
        if data.len() - off - 2 < len {
            return Err(TileError::BadBundle {
                reason: "entry runs past the end",
                offset: off,
            });
        }
        out.push(&data[off + 2..off + 2 + len]);
        off += 2 + len;
        if out.len() > usize::from(TILE_WIDTH) {
            return Err(TileError::BundleCount {
                expected: expected.unwrap_or(256),
                actual: out.len(),
            });
        }
    }
    if let Some(e) = expected {
        if out.len() != e {
            return Err(TileError::BundleCount {
                expected: e,
                actual: out.len(),
            });
        }
    }
    Ok(out)
}

/// The hash tile holding node `id` in a tree of `size` leaves, or `None` if
/// the node is not complete at that size.
pub fn tile_for_node(id: NodeId, size: TreeSize) -> Option<Tile> {
    // The node covers leaves [index·2^level, (index+1)·2^level); u128 cannot overflow.
    if id.level >= 64 || (u128::from(id.index) + 1) << id.level > u128::from(size.0) {
        return None;
    }
    let tl = id.level / TILE_HEIGHT;
    let r = id.level % TILE_HEIGHT;
    let start = id.index << r; // position at tree level 8·tl
    let n = start >> 8;
    Some(Tile::hash(tl, n, tile_width(tl, n, size)?))
}

/// Width of hash tile `index` at tile level `level` for a tree of `size`.
pub fn tile_width(level: u8, index: u64, size: TreeSize) -> Option<u16> {
    let count = size
        .0
        .checked_shr(u32::from(level) * u32::from(TILE_HEIGHT))
        .unwrap_or(0);
    let avail = count.checked_sub(index.checked_mul(256)?)?;
    (avail > 0).then(|| avail.min(256) as u16)
}

/// Every tile — hash tiles of each level and entry bundles — that a tree of
/// `new` leaves has and a tree of `old` leaves does not have at the same
/// width: what a copy holding the tiles of `old` must add to hold `new` (the
/// tiles that became full, and the partial tiles at `new`). Level by level,
/// each level's hash tiles before its entry bundles, in index order. Empty
/// when `new <= old`.
pub fn tiles_added(old: TreeSize, new: TreeSize) -> Vec<Tile> {
    let mut out = Vec::new();
    if new.0 <= old.0 {
        return out;
    }
    for level in 0..=u8::MAX / TILE_HEIGHT {
        let shift = u32::from(level) * u32::from(TILE_HEIGHT);
        let count = new.0.checked_shr(shift).unwrap_or(0);
        if count == 0 {
            break;
        }
        let first = old.0.checked_shr(shift).unwrap_or(0) / u64::from(TILE_WIDTH);
        for n in first..count.div_ceil(u64::from(TILE_WIDTH)) {
            let w = tile_width(level, n, new).expect("tile below count");
            if tile_width(level, n, old) == Some(w) {
                continue;
            }
            out.push(Tile::hash(level, n, w));
        }
        if level == 0 {
            for n in first..count.div_ceil(u64::from(TILE_WIDTH)) {
                let w = tile_width(0, n, new).expect("tile below count");
                if tile_width(0, n, old) != Some(w) {
                    out.push(Tile::entries(n, w));
                }
            }
        }
    }
    out
}

/// The entry bundle holding leaf `index` in a tree of `size`.
pub fn bundle_for_leaf(index: u64, size: TreeSize) -> Option<Tile> {
    (index < size.0)
        .then(|| Tile::entries(index / 256, tile_width(0, index / 256, size).unwrap_or(1)))
}

/// Every hash tile needed to compute `ids` at `size`, sorted and deduplicated.
pub fn tiles_for_nodes(ids: &[NodeId], size: TreeSize) -> Option<Vec<Tile>> {
    let mut set = BTreeSet::new();
    for id in ids {
        set.insert(tile_for_node(*id, size)?);
    }
    Some(set.into_iter().collect())
}

/// Reads tile data. Implemented over HTTP, over a directory, or over a store.
pub trait TileReader {
    /// The reader's error type.
    type Error;
    /// Returns the bytes of each tile, in order.
    ///
    /// # Errors
    /// Whatever the source reports.
    fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, Self::Error>;
}

/// Why a [`TileHashReader`] could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TileReadError<E> {
    /// The tile source failed.
    #[error("reading tiles: {0}")]
    Read(E),
    /// A tile was malformed.
    #[error("tile {tile}: {source}")]
    Malformed {
        /// which tile
        tile: Tile,
        /// what is wrong
        source: TileError,
    },
    /// A tile's hashes do not hash up to the authenticated tree head.
    #[error("tile {tile} does not match the signed tree head")]
    Inauthentic {
        /// the first tile found inconsistent
        tile: Tile,
    },
    /// A node was asked that the tree at this size does not have.
    #[error("node level {} index {} is not complete at tree size {size}", .id.level, .id.index)]
    NodeOutOfTree {
        /// the node
        id: NodeId,
        /// the tree size
        size: u64,
    },
    /// The tile source returned the wrong number of tiles.
    #[error("tile reader returned {got} tiles for {asked}")]
    ReaderMisbehaved {
        /// asked
        asked: usize,
        /// returned
        got: usize,
    },
}

/// A [`HashReader`] over tiles of a tree whose size and root are known (from a
/// verified checkpoint). Every tile it reads is authenticated: full tiles
/// against their parent tile, the right edge against the root.
pub struct TileHashReader<'a, R> {
    size: TreeSize,
    root: Hash,
    reader: &'a R,
}

impl<'a, R: TileReader> TileHashReader<'a, R> {
    /// A reader for the tree of `size` leaves with `root`.
    pub fn new(size: TreeSize, root: Hash, reader: &'a R) -> Self {
        TileHashReader { size, root, reader }
    }

    /// Reads and authenticates `tiles` plus everything needed to authenticate
    /// them; returns the verified hashes of every tile read.
    ///
    /// # Errors
    /// See [`TileReadError`].
    pub fn read_verified(
        &self,
        tiles: &[Tile],
    ) -> Result<BTreeMap<Tile, Vec<Hash>>, TileReadError<R::Error>> {
        let size = self.size;
        let edge = range_nodes(0, size.0);
        let mut want: BTreeSet<Tile> = tiles.iter().copied().collect();
        for id in &edge {
            want.insert(tile_for_node(*id, size).expect("edge node complete"));
        }
        // Close over parents of full tiles.
        let mut stack: Vec<Tile> = want.iter().copied().collect();
        while let Some(t) = stack.pop() {
            if let (TileKind::Hash { level }, true) = (t.kind, t.is_full()) {
                let parent_idx = t.index / 256;
                let w =
                    tile_width(level + 1, parent_idx, size).expect("parent of a full tile exists");
                let p = Tile::hash(level + 1, parent_idx, w);
                if want.insert(p) {
                    stack.push(p);
                }
            }
        }
        let list: Vec<Tile> = want.into_iter().collect();
        let data = self.reader.read_tiles(&list).map_err(TileReadError::Read)?;
        if data.len() != list.len() {
            return Err(TileReadError::ReaderMisbehaved {
                asked: list.len(),
                got: data.len(),
            });
        }
        let mut map = BTreeMap::new();
        for (t, d) in list.iter().zip(&data) {
            let hashes = parse_hash_tile(d, t.width)
                .map_err(|source| TileReadError::Malformed { tile: *t, source })?;
            map.insert(*t, hashes);
        }
        // Full tiles: the fold of 256 hashes is the parent's entry.
        for (t, hashes) in &map {
            if let (TileKind::Hash { level }, true) = (t.kind, t.is_full()) {
                let parent = Tile::hash(
                    level + 1,
                    t.index / 256,
                    tile_width(level + 1, t.index / 256, size).expect("parent"),
                );
                let ph = &map[&parent][(t.index % 256) as usize];
                if subtree_root(hashes) != *ph {
                    return Err(TileReadError::Inauthentic { tile: *t });
                }
            }
        }
        // The right edge: the decomposition of `size` must fold to the root.
        let edge_hashes: Vec<Hash> = edge
            .iter()
            .map(|id| node_from_tiles(*id, size, &map).expect("edge tile read"))
            .collect();
        let computed = if edge_hashes.is_empty() {
            Hash::EMPTY_ROOT
        } else {
            crate::tlog::tree::fold_range(&edge_hashes)
        };
        if computed != self.root {
            // Name the right-most edge tile: every other tile chains up to it.
            let t = edge
                .last()
                .and_then(|id| tile_for_node(*id, size))
                .unwrap_or(Tile::hash(0, 0, 1));
            return Err(TileReadError::Inauthentic { tile: t });
        }
        Ok(map)
    }
}

/// Root of a perfect run of hashes (length a power of two).
fn subtree_root(hashes: &[Hash]) -> Hash {
    let mut row = hashes.to_vec();
    while row.len() > 1 {
        let half = row.len() / 2;
        for j in 0..half {
            row[j] = node_hash(&row[2 * j], &row[2 * j + 1]);
        }
        row.truncate(half);
    }
    row[0]
}

fn node_from_tiles(id: NodeId, size: TreeSize, map: &BTreeMap<Tile, Vec<Hash>>) -> Option<Hash> {
    let t = tile_for_node(id, size)?;
    let hashes = map.get(&t)?;
    let r = id.level % TILE_HEIGHT;
    let start = ((id.index << r) % 256) as usize;
    let run = hashes.get(start..start + (1usize << r))?;
    Some(subtree_root(run))
}

impl<R: TileReader> HashReader for TileHashReader<'_, R> {
    type Error = TileReadError<R::Error>;

    fn read_hashes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, Self::Error> {
        let mut tiles = Vec::with_capacity(ids.len());
        for id in ids {
            tiles.push(
                tile_for_node(*id, self.size).ok_or(TileReadError::NodeOutOfTree {
                    id: *id,
                    size: self.size.0,
                })?,
            );
        }
        let map = self.read_verified(&tiles)?;
        Ok(ids
            .iter()
            .map(|id| node_from_tiles(*id, self.size, &map).expect("tile was read"))
            .collect())
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn tiles_added_is_what_a_copy_lacks() {
        // From nothing: every tile of the tree, as export-tiles writes it.
        let all = tiles_added(TreeSize(0), TreeSize(70_000));
        // 70_000 = 273·256 + 112 leaves; 273 nodes at tree level 8.
        let l0: Vec<_> = (0..274)
            .map(|n| Tile::hash(0, n, tile_width(0, n, TreeSize(70_000)).unwrap()))
            .collect();
        let bundles: Vec<_> = (0..274)
            .map(|n| Tile::entries(n, tile_width(0, n, TreeSize(70_000)).unwrap()))
            .collect();
        // …and 70_000 >> 16 = 1 node at tree level 16.
        let l1 = vec![
            Tile::hash(1, 0, 256),
            Tile::hash(1, 1, 17),
            Tile::hash(2, 0, 1),
        ];
        let expected: Vec<Tile> = l0.into_iter().chain(bundles).chain(l1).collect();
        assert_eq!(all, expected);
        // Growing within one tile: only the new partial tiles.
        assert_eq!(
            tiles_added(TreeSize(10), TreeSize(20)),
            vec![Tile::hash(0, 0, 20), Tile::entries(0, 20)]
        );
        // Filling a tile and starting the next; the level-1 tile appears.
        assert_eq!(
            tiles_added(TreeSize(250), TreeSize(300)),
            vec![
                Tile::hash(0, 0, 256),
                Tile::hash(0, 1, 44),
                Tile::entries(0, 256),
                Tile::entries(1, 44),
                Tile::hash(1, 0, 1),
            ]
        );
        // Exactly full at old: nothing below it again.
        assert_eq!(
            tiles_added(TreeSize(256), TreeSize(257)),
            vec![Tile::hash(0, 1, 1), Tile::entries(1, 1)]
        );
        assert!(tiles_added(TreeSize(5), TreeSize(5)).is_empty());
        assert!(tiles_added(TreeSize(6), TreeSize(5)).is_empty());
        // Growing step by step adds exactly the tiles of the whole.
        let mut seen = BTreeSet::new();
        let mut last = 0;
        for s in [1u64, 255, 256, 511, 600, 65_536, 65_537, 70_000] {
            for t in tiles_added(TreeSize(last), TreeSize(s)) {
                assert!(seen.insert(t), "{t:?} twice");
            }
            last = s;
        }
        let full: BTreeSet<Tile> = tiles_added(TreeSize(0), TreeSize(70_000))
            .into_iter()
            .collect();
        assert!(full.is_subset(&seen));
    }
    use super::*;
    use crate::tlog::hash::leaf_hash;
    use crate::tlog::tree::{prove_inclusion, tree_hash, LeafIndex, MemoryTree};

    #[test]
    fn index_encoding_matches_c2sp_examples() {
        assert_eq!(Tile::hash(0, 1_234_067, 256).path(), "tile/0/x001/x234/067");
        assert_eq!(Tile::hash(1, 0, 17).path(), "tile/1/000.p/17");
        assert_eq!(Tile::entries(1000, 256).path(), "tile/entries/x001/000");
        for t in [
            Tile::hash(0, 1_234_067, 256),
            Tile::hash(63, u64::MAX, 1),
            Tile::entries(999, 255),
        ] {
            assert_eq!(Tile::parse(&t.path()), Ok(t));
        }
    }

    #[test]
    fn parser_rejects_non_canonical_paths() {
        for p in [
            "tile/0/x000/001",
            "tile/00/001",
            "tile/64/001",
            "tile/0/1",
            "tile/0/0001",
            "tile/0/001.p/0",
            "tile/0/001.p/256",
            "tile/0/001.p/010",
            "tile/0/001/",
            "tile/0/y001/001",
            "tile/entries/001.p/",
            "tiles/0/001",
            "tile/0/x001",
        ] {
            assert!(
                matches!(Tile::parse(p), Err(TileError::BadPath { .. })),
                "{p}"
            );
        }
    }

    #[test]
    fn bundles_round_trip_and_reject_truncation() {
        let e: Vec<Vec<u8>> = vec![b"a".to_vec(), vec![], vec![7; 300]];
        let b = encode_entry_bundle(&e).unwrap();
        let p = parse_entry_bundle(&b, Some(3)).unwrap();
        assert_eq!(p, vec![&b"a"[..], &[][..], &[7u8; 300][..]]);
        assert!(matches!(
            parse_entry_bundle(&b[..b.len() - 1], None),
            Err(TileError::BadBundle { .. })
        ));
        assert!(matches!(
            parse_entry_bundle(&b, Some(4)),
            Err(TileError::BundleCount { .. })
        ));
        assert!(matches!(
            encode_entry_bundle(&[vec![0u8; 65_536]]),
            Err(TileError::EntryTooLarge(65_536))
        ));
    }

    /// Serves tiles straight from a memory tree.
    struct MemTiles<'a>(&'a MemoryTree, Option<Tile>);
    impl TileReader for MemTiles<'_> {
        type Error = String;
        fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, String> {
            let mut out = Vec::new();
            for t in tiles {
                let TileKind::Hash { level } = t.kind else {
                    return Err("entries".into());
                };
                let ids: Vec<NodeId> = (0..u64::from(t.width))
                    .map(|j| NodeId::new(level * 8, t.index * 256 + j))
                    .collect();
                let hs = self.0.read_hashes(&ids).map_err(|e| e.to_string())?;
                let mut d: Vec<u8> = hs.iter().flat_map(|h| h.0).collect();
                if self.1 == Some(*t) {
                    d[5] ^= 1;
                }
                out.push(d);
            }
            Ok(out)
        }
    }

    #[test]
    fn tile_hash_reader_proves_like_the_tree_and_catches_tampering() {
        let mut t = MemoryTree::new();
        for i in 0..70_000u32 {
            t.push(leaf_hash(&i.to_le_bytes()));
        }
        let size = t.size();
        let root = t.root();
        let tiles = MemTiles(&t, None);
        let r = TileHashReader::new(size, root, &tiles);
        assert_eq!(tree_hash(size, &r).unwrap(), root);
        for idx in [0u64, 255, 256, 65_535, 65_536, 69_999] {
            let a = prove_inclusion(LeafIndex(idx), size, &t).unwrap();
            let b = prove_inclusion(LeafIndex(idx), size, &r).unwrap();
            assert_eq!(a, b);
        }
        // A full level-0 tile with one flipped bit is caught by its parent.
        let bad = MemTiles(&t, Some(Tile::hash(0, 3, 256)));
        let r = TileHashReader::new(size, root, &bad);
        assert!(matches!(
            prove_inclusion(LeafIndex(3 * 256 + 1), size, &r),
            Err(crate::tlog::tree::TreeError::Read(
                TileReadError::Inauthentic { .. }
            ))
        ));
        // The partial right edge is caught by the root.
        let w = tile_width(0, 70_000 / 256, size).unwrap();
        let bad = MemTiles(&t, Some(Tile::hash(0, 70_000 / 256, w)));
        let r = TileHashReader::new(size, root, &bad);
        assert!(tree_hash(size, &r).is_err());
    }
}

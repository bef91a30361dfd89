//! Reading a log back from the bucket, trusting nothing in it: the
//! checkpoint is checked against the log's key, every hash tile against the
//! checkpoint's root, every entry against its authenticated leaf hash. A
//! node that takes a log over rebuilds its local copy from this.

use std::sync::Arc;

use bytes::Bytes;
use veritrail_core::checkpoint::Checkpoint;
use veritrail_core::hash::{leaf_hash, Hash};
use veritrail_core::note::Verifier;
use veritrail_core::tile::{parse_entry_bundle, tile_width, Tile, TileHashReader, TileReader};
use veritrail_core::tree::{tree_hash, HashReader, NodeId, TreeSize};

use crate::bucket::Bucket;
use crate::error::BucketError;
use crate::location::Location;

/// Why a log could not be read back from the bucket.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The store failed.
    #[error(transparent)]
    Bucket(#[from] BucketError),
    /// Something the bucket holds is missing or fails its check.
    #[error("{0}")]
    Inauthentic(String),
}

/// A log's tree in the bucket.
pub struct RemoteLog {
    bucket: Arc<Bucket>,
    dir: Location,
    key: Verifier,
}

struct Tiles<'a>(&'a RemoteLog);

impl TileReader for Tiles<'_> {
    type Error = ReadError;

    fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, ReadError> {
        let keys: Vec<String> = tiles.iter().map(|t| self.0.dir.key(&t.path())).collect();
        let got = self.0.bucket.get_all(&keys)?;
        got.into_iter()
            .zip(&keys)
            .map(|(b, k)| {
                b.map(|b| b.to_vec()).ok_or_else(|| {
                    ReadError::Inauthentic(format!("{k} is missing from the bucket"))
                })
            })
            .collect()
    }
}

impl RemoteLog {
    /// Log `name` under the bucket's prefix, signed by `key`.
    pub fn new(bucket: Arc<Bucket>, name: &str, key: Verifier) -> RemoteLog {
        let dir = bucket.location().log(name);
        RemoteLog { bucket, dir, key }
    }

    /// The bucket's checkpoint (checked against the key) and its bytes, or
    /// `None` when the bucket has none.
    ///
    /// # Errors
    /// [`ReadError`].
    pub fn checkpoint(&self) -> Result<Option<(Checkpoint, Bytes)>, ReadError> {
        let key = self.dir.key("checkpoint");
        let Some((b, _)) = self.bucket.get(&key)? else {
            return Ok(None);
        };
        let c = veritrail_core::open_checkpoint(&b, &self.key, &[])
            .map_err(|e| ReadError::Inauthentic(format!("{key}: {e}")))?;
        Ok(Some((c.checkpoint, b)))
    }

    /// Every version of the checkpoint the bucket kept (delete markers
    /// skipped), each checked against the key; with its size, in no
    /// particular order.
    ///
    /// # Errors
    /// [`ReadError`]: a version that does not open is `Inauthentic`.
    pub fn checkpoint_history(&self) -> Result<Vec<Checkpoint>, ReadError> {
        let key = self.dir.key("checkpoint");
        let mut out = Vec::new();
        for v in self.bucket.versions(&key)? {
            if v.key != key || v.delete_marker {
                continue;
            }
            let Some(b) = self.bucket.get_version(&key, &v.version_id)? else {
                continue;
            };
            let c = veritrail_core::open_checkpoint(&b, &self.key, &[]).map_err(|e| {
                ReadError::Inauthentic(format!("{key} version {}: {e}", v.version_id))
            })?;
            out.push(c.checkpoint);
        }
        Ok(out)
    }

    /// The root of the first `size` entries of the tree `cp` signs.
    ///
    /// # Errors
    /// [`ReadError`].
    pub fn root_at(&self, cp: &Checkpoint, size: u64) -> Result<Hash, ReadError> {
        if size == cp.size.0 {
            return Ok(cp.root);
        }
        let tiles = Tiles(self);
        let r = TileHashReader::new(cp.size, cp.root, &tiles);
        tree_hash(TreeSize(size), &r).map_err(|e| ReadError::Inauthentic(e.to_string()))
    }

    /// Entries `[first, end)` of the tree `cp` signs, each checked against
    /// its authenticated leaf hash (one bundle and its hash tile fetched
    /// per 256 entries).
    ///
    /// # Errors
    /// [`ReadError`].
    pub fn entries(
        &self,
        cp: &Checkpoint,
        first: u64,
        end: u64,
    ) -> Result<Vec<Vec<u8>>, ReadError> {
        let size = cp.size;
        if end > size.0 || first > end {
            return Err(ReadError::Inauthentic(format!(
                "entries {first}..{end} of a tree of {}",
                size.0
            )));
        }
        if first == end {
            return Ok(Vec::new());
        }
        let tiles = Tiles(self);
        let hr = TileHashReader::new(size, cp.root, &tiles);
        // The range's bundles fetched at once (several requests in
        // flight), and its leaf hashes authenticated in one pass.
        let bundles: Vec<(u64, String)> = (first / 256..=(end - 1) / 256)
            .map(|n| {
                let w = tile_width(0, n, size).expect("leaf below size");
                (n, self.dir.key(&Tile::entries(n, w).path()))
            })
            .collect();
        let keys: Vec<String> = bundles.iter().map(|(_, k)| k.clone()).collect();
        let got = self.bucket.get_all(&keys)?;
        let ids: Vec<NodeId> = (first..end).map(|k| NodeId::new(0, k)).collect();
        let hashes = hr
            .read_hashes(&ids)
            .map_err(|e| ReadError::Inauthentic(e.to_string()))?;
        let mut out = Vec::with_capacity((end - first) as usize);
        for ((n, bundle_key), b) in bundles.iter().zip(got) {
            let b = b.ok_or_else(|| {
                ReadError::Inauthentic(format!("{bundle_key} is missing from the bucket"))
            })?;
            let w = tile_width(0, *n, size).expect("leaf below size");
            let all = parse_entry_bundle(&b, Some(usize::from(w)))
                .map_err(|e| ReadError::Inauthentic(format!("{bundle_key}: {e}")))?;
            let (lo, hi) = (first.max(n * 256), end.min(n * 256 + u64::from(w)));
            for k in lo..hi {
                let e = all[(k - n * 256) as usize];
                if leaf_hash(e) != hashes[(k - first) as usize] {
                    return Err(ReadError::Inauthentic(format!(
                        "{bundle_key}: entry {k} does not match its leaf hash"
                    )));
                }
                out.push(e.to_vec());
            }
        }
        Ok(out)
    }
}

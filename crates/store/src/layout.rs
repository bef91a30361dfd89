//! The directory layout of one log (docs/FORMAT.md "Directory layout"):
//! `wal/`, `index/`, `checkpoints/` and `hash/<level>/`, each a segmented
//! stream. Creating a log's streams, opening them in the order a running
//! writer makes data durable, and setting aside the temporary files of a
//! segment creation that a crash cut short.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::env::Env;
use crate::error::{Result, StoreError};
use crate::segment::{parse_seg_name, Kind, Stream, TMP_SUFFIX};
use crate::vfs::Vfs;

/// The directory of the hash levels, under a log's directory.
pub(crate) const HASH_DIR: &str = "hash";

/// The directory of hash level `level` of the log in `dir`.
pub(crate) fn level_dir(dir: &Path, level: u8) -> PathBuf {
    dir.join(HASH_DIR).join(level.to_string())
}

/// Creates the streams of a new, empty log. A stream that a crash left with
/// a complete first segment is kept; one left with nothing but a temporary
/// segment file is created again.
///
/// # Errors
/// I/O errors.
pub(crate) fn create_streams(env: &Env, dir: &Path) -> Result<()> {
    for (sdir, kind) in [
        (dir.join("wal"), Kind::Wal),
        (dir.join("index"), Kind::Index),
        (dir.join("checkpoints"), Kind::Checkpoints),
        (level_dir(dir, 0), Kind::Hash),
    ] {
        if env.vfs.is_dir(&sdir) {
            match unborn(env.vfs.as_ref(), &sdir)? {
                None => continue,
                Some(tmps) => remove_leftovers(env.vfs.as_ref(), &tmps)?,
            }
        }
        Stream::create(env, &sdir, kind, 0, 0)?;
    }
    Ok(())
}

/// The streams of one log directory (docs/FORMAT.md "Directory layout").
pub(crate) struct LogStreams {
    pub wal: Stream,
    pub index: Stream,
    pub checkpoints: Stream,
    pub levels: Vec<Arc<Stream>>,
    /// The temporary files of a top hash level whose creation a crash
    /// interrupted before its first segment was complete (the level is not
    /// in `levels`; it is created again when needed).
    pub unborn_level: Vec<PathBuf>,
}

/// Checkpoint segments are kept small so recovery can scan the newest one.
pub(crate) const CHECKPOINT_SEGMENT_LIMIT: u64 = 16 << 20;

impl LogStreams {
    /// Opens every stream of the log in `dir`, checking that the hash levels
    /// are 0, 1, 2, … without gaps.
    ///
    /// # Errors
    /// `Corrupted` for bad headers, broken chains or a missing level; I/O errors.
    pub(crate) fn open(
        env: &Env,
        dir: &Path,
        wal_limit: u64,
        cache_keep: Option<u64>,
    ) -> Result<LogStreams> {
        let vfs = &env.vfs;
        let open =
            |name: &str, kind: Kind, level: u8| Stream::open(env, &dir.join(name), kind, level);
        // Each stream's extent is fixed when it is opened. A writer may be
        // running (`verify` takes no lock), and it makes data durable in the
        // order WAL → hash levels and index → checkpoint, so the streams are
        // opened in the reverse order: whatever a checkpoint seen here covers
        // is in the levels and index seen here, and whatever those hold is in
        // the WAL seen here.
        let mut checkpoints = open("checkpoints", Kind::Checkpoints, 0)?;
        checkpoints.set_segment_limit(CHECKPOINT_SEGMENT_LIMIT);
        let hdir = dir.join(HASH_DIR);
        let mut found: Vec<u8> = Vec::new();
        for n in vfs.list(&hdir).map_err(|e| StoreError::io(&hdir, e))? {
            let l: u8 = n.parse().map_err(|_| {
                StoreError::corrupted(hdir.join(&n), 0, "unexpected entry in hash/")
            })?;
            found.push(l);
        }
        found.sort_unstable();
        let top = found.last().copied();
        let mut levels = Vec::with_capacity(found.len());
        let mut unborn_level = Vec::new();
        for (i, l) in found.into_iter().enumerate() {
            if usize::from(l) != i {
                return Err(StoreError::corrupted(
                    &hdir,
                    0,
                    format!("hash level {i} is missing"),
                ));
            }
            let ldir = level_dir(dir, l);
            if l > 0 && Some(l) == top {
                if let Some(tmps) = unborn(vfs.as_ref(), &ldir)? {
                    unborn_level = tmps;
                    continue;
                }
            }
            let mut level = Stream::open(env, &ldir, Kind::Hash, l)?;
            // Level 0 grows by 32 bytes per entry, about a tenth of the WAL,
            // so an eighth of the WAL's window covers as many entries; the
            // levels above grow by 1/256 of that each, too little to matter.
            if l == 0 {
                level.set_cache_keep(cache_keep.map(|k| k / 8));
            }
            levels.push(Arc::new(level));
        }
        if levels.is_empty() {
            return Err(StoreError::corrupted(&hdir, 0, "hash level 0 is missing"));
        }
        let index = open("index", Kind::Index, 0)?;
        let mut wal = open("wal", Kind::Wal, 0)?;
        wal.set_segment_limit(wal_limit);
        wal.set_cache_keep(cache_keep);
        Ok(LogStreams {
            wal,
            index,
            checkpoints,
            levels,
            unborn_level,
        })
    }

    /// Every temporary segment file a crash left behind (none is part of the log).
    pub(crate) fn leftovers(&self) -> Vec<PathBuf> {
        let mut out = self.wal.leftovers().to_vec();
        out.extend_from_slice(self.index.leftovers());
        out.extend_from_slice(self.checkpoints.leftovers());
        for l in &self.levels {
            out.extend_from_slice(l.leftovers());
        }
        out.extend_from_slice(&self.unborn_level);
        out
    }

    /// Every quarantine file found (copies of tails recovery discarded).
    pub(crate) fn quarantined(&self) -> Vec<PathBuf> {
        let mut out = self.wal.quarantined().to_vec();
        out.extend_from_slice(self.index.quarantined());
        out.extend_from_slice(self.checkpoints.quarantined());
        for l in &self.levels {
            out.extend_from_slice(l.quarantined());
        }
        out
    }

    /// Recovery: removes every [`LogStreams::leftovers`] file, so their names
    /// are free for the segments that replace them.
    ///
    /// # Errors
    /// I/O errors: a leftover that cannot be removed stops recovery.
    pub(crate) fn discard_leftovers(&self, vfs: &dyn Vfs) -> Result<()> {
        remove_leftovers(vfs, &self.leftovers())
    }
}

/// Removes temporary segment files left by interrupted creations (each
/// logged), then syncs their directories.
///
/// # Errors
/// I/O errors.
pub(crate) fn remove_leftovers(vfs: &dyn Vfs, files: &[PathBuf]) -> Result<()> {
    let mut dirs: Vec<&Path> = Vec::new();
    for path in files {
        tracing::warn!(
            file = %path.display(),
            "removing a segment file whose creation a crash interrupted (it holds nothing of the log)"
        );
        vfs.remove_file(path).map_err(|e| StoreError::io(path, e))?;
        let dir = path.parent().expect("a segment file has a directory");
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    for dir in dirs {
        vfs.sync_dir(dir).map_err(|e| StoreError::io(dir, e))?;
    }
    Ok(())
}

/// A stream directory holding nothing but temporary segment files (or
/// nothing at all): a stream whose creation a crash cut short. Returns those
/// files, or `None` when the directory holds anything else.
pub(crate) fn unborn(vfs: &dyn Vfs, dir: &Path) -> Result<Option<Vec<PathBuf>>> {
    let mut tmps = Vec::new();
    for n in vfs.list(dir).map_err(|e| StoreError::io(dir, e))? {
        match n.strip_suffix(TMP_SUFFIX).and_then(parse_seg_name) {
            Some(_) => tmps.push(dir.join(n)),
            None => return Ok(None),
        }
    }
    Ok(Some(tmps))
}

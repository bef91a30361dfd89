//! `veritrail verify --server URL --key VKEY`: full verification of a remote
//! log through its C2SP tlog-tiles API only. Every entry bundle and hash tile
//! is fetched; leaf hashes are recomputed and compared with the level-0 hash
//! tiles, every full subtree with the upper tiles, and the recomputed root
//! with the signed checkpoint. Progress is saved so an interrupted run
//! resumes; `--trust FILE` pins the last verified checkpoint, and the next
//! run requires a consistency proof from it (rollback and fork detection).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use veritrail_core::checkpoint::{open_checkpoint, Checkpoint};
use veritrail_core::compact::{hash_leaves, CompactRange, VecSink};
use veritrail_core::note::Verifier;
use veritrail_core::proof::verify_consistency;
use veritrail_core::tile::{parse_entry_bundle, parse_hash_tile, Tile, TileHashReader, TileReader};
use veritrail_core::tree::{prove_consistency, TreeSize};
use veritrail_core::Hash;

use super::remote::{Remote, RemoteError};
use crate::exit::Exit;

/// Level-0 tiles fetched per batch (16,384 entries).
const BATCH: u64 = 64;
/// Concurrent requests while fetching a batch.
const FETCHERS: usize = 8;

impl TileReader for Remote {
    type Error = RemoteError;
    fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, RemoteError> {
        tiles.iter().map(|t| self.tile(t)).collect()
    }
}

/// How a remote log relates to a checkpoint verified before.
#[derive(Debug, PartialEq, Eq)]
pub enum Relation {
    /// Same tree head.
    Same,
    /// Grew, with a valid consistency proof.
    Extended,
}

/// Requires that the tree of `new` (served by `remote`) extends `old`:
/// smaller is a rollback, same size with another root a fork, and larger
/// needs a consistency proof (built from authenticated tiles) that verifies.
///
/// # Errors
/// An [`Exit::verify`] saying which, or a transport error.
pub fn check_extends(
    remote: &Remote,
    old: &Checkpoint,
    new: &Checkpoint,
) -> anyhow::Result<Relation> {
    if new.size.0 < old.size.0 {
        return Err(Exit::verify(format!(
            "ROLLBACK: the log now has {} entries, but a checkpoint with {} entries was verified before: it was rolled back or truncated",
            new.size.0, old.size.0
        )));
    }
    if new.size == old.size {
        if new.root != old.root {
            return Err(Exit::verify(format!(
                "FORK: at tree size {} the log now has root {}, but root {} was verified before: its history was rewritten",
                new.size.0,
                new.root.to_base64(),
                old.root.to_base64()
            )));
        }
        return Ok(Relation::Same);
    }
    if old.size.0 == 0 {
        return Ok(Relation::Extended);
    }
    let reader = TileHashReader::new(new.size, new.root, remote);
    let proof = prove_consistency(old.size, new.size, &reader).map_err(|e| {
        Exit::verify(format!(
            "FORK: no consistency proof from the verified size {} to {} can be built from the log's tiles ({e}): its history was rewritten",
            old.size.0, new.size.0
        ))
    })?;
    verify_consistency(old.size, new.size, &proof, &old.root, &new.root).map_err(|e| {
        Exit::verify(format!(
            "FORK: the log at size {} is not consistent with the checkpoint verified before at size {} ({e}): its history was rewritten",
            new.size.0, old.size.0
        ))
    })?;
    Ok(Relation::Extended)
}

/// Fetches and verifies the signed checkpoint.
pub fn fetch_checkpoint(remote: &Remote, key: &Verifier) -> anyhow::Result<(String, Checkpoint)> {
    let text = remote.checkpoint()?;
    let cp = open_checkpoint(text.as_bytes(), key, &[])
        .map_err(|e| {
            Exit::verify(format!(
                "BAD SIGNATURE: the checkpoint served by {} does not verify with {}: {e}",
                remote.server(),
                key.to_vkey()
            ))
        })?
        .checkpoint;
    Ok((text, cp))
}

/// Reads a trust file: a checkpoint verified earlier.
pub fn read_trust(path: &Path, key: &Verifier) -> anyhow::Result<Option<Checkpoint>> {
    match std::fs::read_to_string(path) {
        Ok(text) => open_checkpoint(text.as_bytes(), key, &[])
            .map(|c| Some(c.checkpoint))
            .map_err(|e| {
                Exit::usage(format!(
                    "trust file {}: not a checkpoint signed by {}: {e}",
                    path.display(),
                    key.name()
                ))
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Exit::usage(format!("trust file {}: {e}", path.display()))),
    }
}

/// Replaces `path` atomically with `bytes`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Saved progress: everything needed to continue after `next_tile * 256`
/// leaves. The final root check covers the resumed prefix too.
#[derive(Serialize, Deserialize)]
struct Progress {
    server: String,
    origin: String,
    next_tile: u64,
    compact: Vec<String>,
    pending: Vec<Vec<String>>,
}

struct State {
    next_tile: u64,
    compact: CompactRange,
    /// Complete nodes of tree level 8k not yet checked against tile level k.
    pending: Vec<Vec<Hash>>,
}

impl State {
    fn save(&self, path: &Path, server: &str, origin: &str) -> anyhow::Result<()> {
        let b64 = |v: &[Hash]| v.iter().map(Hash::to_base64).collect::<Vec<_>>();
        let p = Progress {
            server: server.to_owned(),
            origin: origin.to_owned(),
            next_tile: self.next_tile,
            compact: b64(self.compact.hashes()),
            pending: self.pending.iter().map(|v| b64(v)).collect(),
        };
        write_atomic(path, &serde_json::to_vec(&p)?)
    }

    fn load(path: &Path, server: &str, origin: &str, size: u64) -> Option<State> {
        let p: Progress = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
        if p.server != server || p.origin != origin || p.next_tile * 256 > size {
            return None;
        }
        let hashes = |v: &[String]| {
            v.iter()
                .map(|h| Hash::from_base64(h))
                .collect::<Option<Vec<_>>>()
        };
        let compact = CompactRange::from_parts(TreeSize(p.next_tile * 256), hashes(&p.compact)?)?;
        let pending = p
            .pending
            .iter()
            .map(|v| hashes(v))
            .collect::<Option<Vec<_>>>()?;
        Some(State {
            next_tile: p.next_tile,
            compact,
            pending,
        })
    }
}

fn fetch(remote: &Remote, t: &Tile) -> anyhow::Result<Vec<u8>> {
    remote.tile(t).map_err(|e| match e {
        RemoteError::NotFound(url) => Exit::verify(format!(
            "tile {t} is missing ({url}) although the signed checkpoint implies it"
        )),
        other => anyhow::Error::new(other),
    })
}

/// Entry bundles and level-0 hash tiles of tiles `first..first + n`, fetched
/// concurrently.
/// An entry bundle and its level-0 hash tile.
type Fetched = (Vec<u8>, Vec<u8>);

fn fetch_batch(remote: &Remote, first: u64, n: u64) -> anyhow::Result<Vec<Fetched>> {
    let mut slots: Vec<Option<anyhow::Result<Fetched>>> = (0..n).map(|_| None).collect();
    std::thread::scope(|s| {
        let chunks: Vec<&mut [Option<_>]> = slots
            .chunks_mut(n.div_ceil(FETCHERS as u64) as usize)
            .collect();
        let mut base = first;
        for chunk in chunks {
            let start = base;
            base += chunk.len() as u64;
            s.spawn(move || {
                for (k, slot) in chunk.iter_mut().enumerate() {
                    let t = start + k as u64;
                    *slot = Some(
                        fetch(remote, &Tile::entries(t, 256))
                            .and_then(|e| Ok((e, fetch(remote, &Tile::hash(0, t, 256))?))),
                    );
                }
            });
        }
    });
    slots
        .into_iter()
        .map(|s| s.expect("every slot filled"))
        .collect()
}

fn leaves_of(t: u64, width: u16, bundle: &[u8], tile: &[u8]) -> anyhow::Result<Vec<Hash>> {
    let entries = parse_entry_bundle(bundle, Some(usize::from(width)))
        .map_err(|e| Exit::verify(format!("entry bundle {t}: {e}")))?;
    let leaves = hash_leaves(&entries);
    let served =
        parse_hash_tile(tile, width).map_err(|e| Exit::verify(format!("hash tile 0/{t}: {e}")))?;
    if let Some(k) = (0..leaves.len()).find(|k| leaves[*k] != served[*k]) {
        return Err(Exit::verify(format!(
            "entry {}: its leaf hash differs from hash tile 0/{t}: the entry or the tile was altered",
            t * 256 + k as u64
        )));
    }
    Ok(leaves)
}

impl State {
    /// Adds verified leaves and checks every upper tile they complete.
    fn add(&mut self, remote: &Remote, leaves: &[Hash]) -> anyhow::Result<()> {
        let mut sink = VecSink::new(&[8, 16, 24, 32, 40, 48, 56]);
        self.compact.extend(leaves, &mut sink);
        for (id, h) in sink.nodes {
            let k = usize::from(id.level / 8);
            if self.pending.len() <= k {
                self.pending.resize(k + 1, Vec::new());
            }
            self.pending[k].push(h);
            if self.pending[k].len() == 256 {
                let t = Tile::hash(id.level / 8, id.index / 256, 256);
                self.check_tile(remote, t, k)?;
            }
        }
        Ok(())
    }

    fn check_tile(&mut self, remote: &Remote, t: Tile, k: usize) -> anyhow::Result<()> {
        let served = parse_hash_tile(&fetch(remote, &t)?, t.width)
            .map_err(|e| Exit::verify(format!("hash tile {t}: {e}")))?;
        if served != self.pending[k] {
            return Err(Exit::verify(format!(
                "hash tile {t} differs from the hashes recomputed from the entries"
            )));
        }
        self.pending[k].clear();
        Ok(())
    }
}

pub fn run(
    remote: &Remote,
    log: &str,
    key: Option<&str>,
    quiet: bool,
    trust: Option<&Path>,
    resume: Option<&Path>,
    policy: Option<&veritrail_core::note::policy::WitnessPolicy>,
) -> anyhow::Result<ExitCode> {
    let key = key.ok_or_else(|| {
        Exit::usage(
            "verify --server/--tiles needs --key: the log's verifier key from a channel you trust",
        )
    })?;
    let key = Verifier::parse(key).map_err(|e| Exit::usage(format!("--key: {e}")))?;
    let started = Instant::now();
    let (cp_text, cp) = fetch_checkpoint(remote, &key)?;
    if let Some(p) = policy {
        let ok = p.check_log(&key, cp_text.as_bytes()).map_err(|e| {
            Exit::verify(format!(
                "NOT WITNESSED: the checkpoint at size {} served by {}: {e}",
                cp.size.0,
                remote.server()
            ))
        })?;
        if !quiet {
            eprintln!(
                "veritrail: checkpoint {} cosigned by {} (policy: {})",
                cp.size.0,
                ok.join(", "),
                p.describe()
            );
        }
    }
    let size = cp.size.0;
    let trusted = trust.map(|p| read_trust(p, &key)).transpose()?.flatten();
    if let Some(old) = &trusted {
        check_extends(remote, old, &cp)?;
    }
    let progress_path = resume.map(Path::to_path_buf).or_else(|| {
        trust.map(|t| {
            let mut s = t.as_os_str().to_owned();
            s.push(".progress");
            PathBuf::from(s)
        })
    });
    let origin = cp.origin.as_str().to_owned();
    let mut state = progress_path
        .as_deref()
        .and_then(|p| State::load(p, remote.server(), &origin, size))
        .unwrap_or(State {
            next_tile: 0,
            compact: CompactRange::new(),
            pending: Vec::new(),
        });
    let resumed_at = state.next_tile * 256;
    if resumed_at > 0 && !quiet {
        eprintln!("veritrail: resuming at entry {resumed_at} (saved progress)");
    }
    let full_tiles = size / 256;
    let pb = if quiet {
        indicatif::ProgressBar::hidden()
    } else {
        super::progress::bar(size, "verifying")
    };
    pb.set_position(resumed_at);
    let (tx, rx) = mpsc::sync_channel::<anyhow::Result<(u64, Vec<Fetched>)>>(2);
    let start_tile = state.next_tile;
    std::thread::scope(|s| -> anyhow::Result<()> {
        s.spawn(move || {
            let mut t = start_tile;
            while t < full_tiles {
                let n = BATCH.min(full_tiles - t);
                let r = fetch_batch(remote, t, n).map(|b| (t, b));
                let stop = r.is_err();
                if tx.send(r).is_err() || stop {
                    return;
                }
                t += n;
            }
        });
        for batch in rx {
            let (first, tiles) = batch?;
            let mut leaves = Vec::with_capacity(tiles.len() * 256);
            for (k, (bundle, tile)) in tiles.iter().enumerate() {
                leaves.extend(leaves_of(first + k as u64, 256, bundle, tile)?);
            }
            state.add(remote, &leaves)?;
            state.next_tile = first + tiles.len() as u64;
            pb.set_position(state.next_tile * 256);
            if let Some(p) = &progress_path {
                state.save(p, remote.server(), &origin)?;
            }
        }
        Ok(())
    })?;
    // The right edge: a partial entry bundle and partial upper tiles.
    let rest = (size % 256) as u16;
    if rest > 0 {
        let bundle = fetch(remote, &Tile::entries(full_tiles, rest))?;
        let tile = fetch(remote, &Tile::hash(0, full_tiles, rest))?;
        let leaves = leaves_of(full_tiles, rest, &bundle, &tile)?;
        state.add(remote, &leaves)?;
    }
    for k in 1..state.pending.len() {
        let n = state.pending[k].len();
        if n > 0 {
            let index = (size >> (8 * k)) / 256;
            state.check_tile(remote, Tile::hash(k as u8, index, n as u16), k)?;
        }
    }
    pb.finish_and_clear();
    if state.compact.size() != cp.size {
        return Err(anyhow::anyhow!(
            "internal: verified {} leaves of {size}",
            state.compact.size().0
        ));
    }
    if state.compact.root() != cp.root {
        return Err(Exit::verify(format!(
            "the root recomputed from all {size} entries ({}) is not the signed root ({}): the served entries are not the log the checkpoint signs",
            state.compact.root().to_base64(),
            cp.root.to_base64()
        )));
    }
    if let Some(p) = &progress_path {
        let _ = std::fs::remove_file(p);
    }
    if let Some(t) = trust {
        write_atomic(t, cp_text.as_bytes())?;
    }
    let secs = started.elapsed().as_secs_f64();
    let fetched = size - resumed_at;
    let since = match &trusted {
        Some(old) => format!(
            "; consistent with the trusted checkpoint at size {}",
            old.size.0
        ),
        None => String::new(),
    };
    println!(
        "OK: remote log {log:?} ({origin}) at {}: {size} entries verified through its tiles, root {} signed by {}{since} ({secs:.2}s, {:.0} entries/s)",
        remote.server(),
        cp.root.to_base64(),
        key.to_vkey(),
        fetched as f64 / secs.max(1e-9)
    );
    Ok(ExitCode::SUCCESS)
}

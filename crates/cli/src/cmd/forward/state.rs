//! The forwarder's state file: for each followed file, its identity
//! (device, inode, and a generation counting the truncations seen) and the
//! offset up to which the server has acknowledged its lines. Written whole
//! (temporary file, fsync, rename over the old one, fsync the directory)
//! only after an acknowledgement, so after a crash the forwarder resumes at
//! or before what the server holds — and the idempotency key of a batch
//! sent again makes the server answer it without storing it twice.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

pub use crate::cmd::ship::spool::Identity;

/// One file's entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileState {
    /// The path it was followed by (last seen).
    pub path: String,
    /// Which file.
    pub id: Identity,
    /// Lines before this byte offset are acknowledged.
    pub acked: u64,
}

/// The whole state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Followed files by `<dev>:<inode>` (a file renamed by rotation keeps
    /// its entry until it is read to its end).
    pub files: BTreeMap<String, FileState>,
    /// The journal cursor acknowledged last (`--journal`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal_cursor: Option<String>,
}

impl State {
    /// Reads `path` (an empty state when it does not exist yet).
    ///
    /// # Errors
    /// A file that is not a state file (named, with why).
    pub fn load(path: &Path) -> anyhow::Result<State> {
        match std::fs::read(path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| {
                anyhow::anyhow!("{} is not a forwarder state file: {e}", path.display())
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(anyhow::Error::new(e).context(format!("reading {}", path.display()))),
        }
    }

    /// Writes the state to `path` durably, replacing the old one.
    ///
    /// # Errors
    /// I/O errors (the old state stays).
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        crate::cmd::ship::write_durably(path, &serde_json::to_vec_pretty(self)?)
    }
}

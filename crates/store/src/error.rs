//! Store errors. Corruption is its own variant, carrying where it was found,
//! distinct from I/O failure and from bad input.

use std::path::PathBuf;

/// Everything the store can refuse or fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// An operating-system I/O error on a named file.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// the file or directory
        path: PathBuf,
        /// the OS error
        #[source]
        source: std::io::Error,
    },
    /// Stored bytes are not what they must be. The log refuses to open (or
    /// `verify` fails) with this.
    #[error("corrupted: {file} at byte offset {offset}: {reason}")]
    Corrupted {
        /// the file
        file: PathBuf,
        /// byte offset within it
        offset: u64,
        /// what is wrong
        reason: String,
    },
    /// An earlier write or fsync failed; the log refuses work until reopened.
    #[error("log {log} is stopped after an I/O failure ({cause}); reopen it to recover")]
    Poisoned {
        /// the log
        log: String,
        /// the first failure, whole
        #[source]
        cause: std::sync::Arc<StoreError>,
    },
    /// An entry read back does not hash to the leaf hash the tree holds for
    /// it: its stored bytes were changed. It is never returned.
    #[error("entry {index} of log {log:?} does not match its leaf hash in the tree: its stored bytes were changed (run `veritrail verify`)")]
    EntryMismatch {
        /// the log
        log: String,
        /// the entry
        index: u64,
    },
    /// The log is shutting down.
    #[error("log {0} is closed")]
    Closed(String),
    /// No such log.
    #[error("no log named {0:?}")]
    NoSuchLog(String),
    /// The log's directory exists without its meta file: a crash interrupted
    /// its creation (it holds nothing; creating it again finishes it).
    #[error("log {0:?} is incomplete: a crash interrupted its creation; `veritrail log create {0}` finishes it")]
    UnfinishedLog(String),
    /// A log of that name already exists.
    #[error("a log named {0:?} already exists")]
    LogExists(String),
    /// The data directory already exists (init refuses to overwrite).
    #[error("{0} already exists; refusing to initialise over it")]
    DataDirExists(PathBuf),
    /// Not a veritrail data directory.
    #[error("{0} is not a veritrail data directory (run `veritrail init`)")]
    NotADataDir(PathBuf),
    /// A log name that is not allowed.
    #[error("invalid log name {0:?}: use 1-63 of a-z 0-9 _ . - starting with a letter or digit")]
    BadLogName(String),
    /// Another process has the log open for writing.
    #[error("log {0} is in use by another veritrail process")]
    Locked(String),
    /// A batch the store cannot take as one atomic unit.
    #[error("batch refused: {0}")]
    BadBatch(String),
    /// A read outside what the log holds.
    #[error("{0}")]
    OutOfRange(String),
    /// A key or note problem.
    #[error("key: {0}")]
    Key(String),
}

impl StoreError {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> StoreError {
        StoreError::Io {
            path: path.into(),
            source,
        }
    }

    /// A corruption finding.
    pub fn corrupted(
        file: impl Into<PathBuf>,
        offset: u64,
        reason: impl Into<String>,
    ) -> StoreError {
        StoreError::Corrupted {
            file: file.into(),
            offset,
            reason: reason.into(),
        }
    }
}

/// Result alias for the store.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

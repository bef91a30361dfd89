//! Why the query index failed. Its data is derived: every failure here
//! leaves the log itself untouched, and `veritrail reindex` rebuilds it.

use std::path::PathBuf;

use veritrail_store::StoreError;

/// Everything the query index can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IndexError {
    /// SQLite refused or failed.
    #[error("query index {path}: {source}")]
    Sqlite {
        /// the database
        path: PathBuf,
        /// SQLite's error
        #[source]
        source: rusqlite::Error,
    },
    /// Creating the index's directory failed.
    #[error("query index directory {path}: {source}")]
    Io {
        /// the directory
        path: PathBuf,
        /// the OS error
        #[source]
        source: std::io::Error,
    },
    /// Entries were offered that do not start where the index ends.
    #[error("query index {path} ends at entry {have}, not {first}")]
    Gap {
        /// the database
        path: PathBuf,
        /// where it ends
        have: u64,
        /// where the entries offered start
        first: u64,
    },
    /// The index covers more entries than the log holds: it belongs to
    /// another log, or the log was replaced.
    #[error("the query index {path} covers {have} entries but the log has {size}: rebuild it with `veritrail reindex`")]
    AheadOfLog {
        /// the database
        path: PathBuf,
        /// entries indexed
        have: u64,
        /// entries in the log
        size: u64,
    },
    /// Reading the log failed (an entry that does not match its leaf hash
    /// among them: it is never indexed).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Result alias for the index.
pub type Result<T, E = IndexError> = std::result::Result<T, E>;

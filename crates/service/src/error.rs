//! The service's errors, typed per concern; every edge (HTTP, command
//! line, syslog) decides what its users see of them.

use veritrail_store::StoreError;

use crate::idempotency::IdempotencyError;
use crate::tokens::TokenError;

/// Why the service could not do something.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The data directory or a log.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The derived query index.
    #[error(transparent)]
    Index(#[from] veritrail_index::IndexError),
    /// The token store.
    #[error(transparent)]
    Tokens(#[from] TokenError),
    /// The store of remembered answers for idempotency keys.
    #[error(transparent)]
    Idempotency(#[from] IdempotencyError),
    /// A consumer's saved position.
    #[error("cursor {path}: {reason}")]
    Cursor {
        /// the cursor file
        path: std::path::PathBuf,
        /// what is wrong
        reason: String,
    },
    /// The log was refused at start: its stored data is damaged.
    #[error("log {0:?} is damaged and was not opened; run `veritrail verify`")]
    Damaged(String),
    /// A thread could not be started.
    #[error("starting a thread: {0}")]
    Thread(#[source] std::io::Error),
    /// Blocking work was cancelled or panicked.
    #[error("the live reader of log {log:?} stopped: {reason}")]
    /// A log's shared live reader ([`crate::tap`]) could not read the log.
    Tap {
        /// The log.
        log: String,
        /// Why.
        reason: String,
    },
    #[error("a background task failed: {0}")]
    Task(String),
}

impl ServiceError {
    /// Whether this is "no such log" (the caller named a log that does not
    /// exist).
    pub fn is_no_such_log(&self) -> bool {
        matches!(
            self,
            ServiceError::Store(StoreError::NoSuchLog(_) | StoreError::UnfinishedLog(_))
        )
    }
}

/// Result alias for the service.
pub type Result<T, E = ServiceError> = std::result::Result<T, E>;

/// Runs blocking store work off the async workers.
///
/// # Errors
/// What `f` returns; `Task` if it panicked.
pub async fn blocking<T: Send + 'static, E: From<ServiceError> + Send + 'static>(
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, E> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| E::from(ServiceError::Task(e.to_string())))?
}

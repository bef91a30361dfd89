//! `Idempotency-Key`: a retried append with the same key (per token, for
//! 24 hours) gets the original answer and appends nothing. Answers are kept in
//! `<data>/query/idempotency.sqlite`, written after the entries are durable and
//! before the client is answered. (A crash between those two steps loses the
//! record, and a retry then appends again: a duplicate, never a loss.)

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{params, Connection, OptionalExtension as _};

/// Why the store of answers failed.
#[derive(Debug, thiserror::Error)]
#[error("idempotency store {path}: {source}")]
pub struct IdempotencyError {
    /// the database
    pub path: std::path::PathBuf,
    /// SQLite's or the OS's error
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

/// How long an answer is kept.
pub const RETENTION_SECS: u64 = 24 * 3600;

/// A remembered answer.
#[derive(Debug, Clone)]
pub struct Stored {
    /// SHA-256 of the request (log, query, body).
    pub request: String,
    /// Response body.
    pub body: String,
}

/// The store of answers, and the keys being processed right now.
pub struct Idempotency {
    path: std::path::PathBuf,
    conn: Mutex<Connection>,
    inflight: Mutex<HashSet<(String, String)>>,
}

/// Holds a key as in flight until dropped.
pub struct InFlight {
    owner: Arc<Idempotency>,
    id: (String, String),
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.owner
            .inflight
            .lock()
            .expect("inflight lock")
            .remove(&self.id);
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Idempotency {
    fn err(&self) -> impl Fn(rusqlite::Error) -> IdempotencyError + '_ {
        |e| IdempotencyError {
            path: self.path.clone(),
            source: Box::new(e),
        }
    }

    /// Opens or creates the store.
    ///
    /// # Errors
    /// SQLite or I/O errors.
    pub fn open(path: &Path) -> Result<Idempotency, IdempotencyError> {
        let fail = |e: Box<dyn std::error::Error + Send + Sync>| IdempotencyError {
            path: path.to_path_buf(),
            source: e,
        };
        if let Some(d) = path.parent() {
            std::fs::create_dir_all(d).map_err(|e| fail(Box::new(e)))?;
        }
        let conn = Connection::open(path).map_err(|e| fail(Box::new(e)))?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;
             CREATE TABLE IF NOT EXISTS answers(token TEXT NOT NULL, key TEXT NOT NULL, request TEXT NOT NULL,
                 body TEXT NOT NULL, created INTEGER NOT NULL, PRIMARY KEY(token, key));
             CREATE INDEX IF NOT EXISTS answers_created ON answers(created);",
        )
        .map_err(|e| fail(Box::new(e)))?;
        Ok(Idempotency {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
            inflight: Mutex::new(HashSet::new()),
        })
    }

    /// The remembered answer for (token, key), if younger than 24 hours.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn get(&self, token: &str, key: &str) -> Result<Option<Stored>, IdempotencyError> {
        let c = self.conn.lock().expect("idempotency lock");
        c.query_row(
            "SELECT request, body FROM answers WHERE token = ? AND key = ? AND created >= ?",
            params![token, key, (now().saturating_sub(RETENTION_SECS)) as i64],
            |r| {
                Ok(Stored {
                    request: r.get(0)?,
                    body: r.get(1)?,
                })
            },
        )
        .optional()
        .map_err(self.err())
    }

    /// Marks (token, key) as being processed; `None` if it already is.
    pub fn begin(self: &Arc<Self>, token: &str, key: &str) -> Option<InFlight> {
        let id = (token.to_owned(), key.to_owned());
        self.inflight
            .lock()
            .expect("inflight lock")
            .insert(id.clone())
            .then(|| InFlight {
                owner: self.clone(),
                id,
            })
    }

    /// Remembers an answer (and forgets answers older than 24 hours).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn put(
        &self,
        token: &str,
        key: &str,
        request: &str,
        body: &str,
    ) -> Result<(), IdempotencyError> {
        let c = self.conn.lock().expect("idempotency lock");
        c.execute(
            "DELETE FROM answers WHERE created < ?",
            params![(now().saturating_sub(RETENTION_SECS)) as i64],
        )
        .map_err(self.err())?;
        c.execute(
            "INSERT OR REPLACE INTO answers(token, key, request, body, created) VALUES (?, ?, ?, ?, ?)",
            params![token, key, request, body, now() as i64],
        )
        .map_err(self.err())?;
        Ok(())
    }
}

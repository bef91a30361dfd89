//! Server state: the open logs, the token store, and the `_system` audit trail.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde_json::{json, Value};
use veritrail_core::{Event, Timestamp};
use veritrail_store::datadir::SYSTEM_LOG;
use veritrail_store::query::QueryIndex;
use veritrail_store::{DataDir, Log, LogConfig, PreparedBatch};

use crate::error::AppError;
use crate::tokens::{Token, TokenStore};

/// Settings of a running server.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Require a token for checkpoints, hash tiles and proofs.
    pub private_checkpoints: bool,
    /// How long `?wait=proof` waits for the next checkpoint.
    pub receipt_timeout: Duration,
    /// Log tunables.
    pub log: LogConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            private_checkpoints: false,
            receipt_timeout: Duration::from_secs(30),
            log: LogConfig::default(),
        }
    }
}

/// Everything a request handler can reach.
pub struct AppState {
    /// The data directory.
    pub data: DataDir,
    /// Open logs by name (including `_system`).
    pub logs: RwLock<BTreeMap<String, Arc<Log>>>,
    /// Tokens.
    pub tokens: TokenStore,
    /// Settings.
    pub config: ServerConfig,
    /// Derived query index per log.
    pub indexes: RwLock<BTreeMap<String, Arc<QueryIndex>>>,
    /// Remembered answers for `Idempotency-Key`.
    pub idempotency: Arc<crate::idempotency::Idempotency>,
    /// Recent authentication failures per address.
    pub failures: crate::auth::Failures,
    /// Responses sent, by HTTP status code (index = code).
    pub http_status: Vec<std::sync::atomic::AtomicU64>,
    indexers: std::sync::Mutex<Vec<std::thread::JoinHandle<()>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

/// Keeps a log's query index up with its checkpoints until `stop`.
fn run_indexer(
    name: String,
    log: Arc<Log>,
    qi: Arc<QueryIndex>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) {
    use std::sync::atomic::Ordering;
    while !stop.load(Ordering::Acquire) {
        match veritrail_store::query::catch_up(&log, &qi, &mut |_, _| {}) {
            Ok(done) => {
                // Sleep until a newer checkpoint (or a short timeout, to notice `stop`).
                let _ = log.wait_published(done + 1, Duration::from_millis(250));
            }
            Err(e) => {
                tracing::error!(log = %name, error = %e, "query index stopped; queries on this log may lag; rebuild with `veritrail reindex`");
                return;
            }
        }
    }
}

/// Runs blocking store work off the async workers and maps its errors.
///
/// # Errors
/// The store error as an [`AppError`]; 500 if the task panicked.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, veritrail_store::StoreError> + Send + 'static,
) -> Result<T, AppError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| AppError::internal(&e))?
        .map_err(AppError::from)
}

/// Current time.
pub fn now() -> Timestamp {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp::from_unix_nanos(d.as_nanos() as i128)
}

impl AppState {
    /// Opens every log of the data directory (running recovery) and the
    /// `_system` log.
    ///
    /// # Errors
    /// Store and token errors, as text.
    pub fn open(data: DataDir, config: ServerConfig) -> Result<Arc<AppState>, String> {
        for name in data.finish_unfinished_logs().map_err(|e| e.to_string())? {
            tracing::warn!(log = %name, "finished creating a log that a crash had interrupted");
        }
        data.ensure_system_log().map_err(|e| e.to_string())?;
        let tokens = TokenStore::open(data.root()).map_err(|e| e.to_string())?;
        let mut logs = BTreeMap::new();
        for name in data.list_logs().map_err(|e| e.to_string())? {
            let log = data
                .open_log(&name, config.log.clone())
                .map_err(|e| format!("log {name}: {e}"))?;
            logs.insert(name, Arc::new(log));
        }
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut indexes = BTreeMap::new();
        let mut indexers = Vec::new();
        for (name, log) in &logs {
            let qi = Arc::new(
                QueryIndex::open(&data.query_index_path(name)).map_err(|e| e.to_string())?,
            );
            indexes.insert(name.clone(), qi.clone());
            let (n, l, s) = (name.clone(), log.clone(), stop.clone());
            indexers.push(
                std::thread::Builder::new()
                    .name(format!("vt-idx-{name}"))
                    .spawn(move || run_indexer(n, l, qi, s))
                    .map_err(|e| e.to_string())?,
            );
        }
        let idempotency = Arc::new(crate::idempotency::Idempotency::open(
            &data.root().join("query").join("idempotency.sqlite"),
        )?);
        Ok(Arc::new(AppState {
            idempotency,
            failures: crate::auth::Failures::default(),
            data,
            logs: RwLock::new(logs),
            tokens,
            config,
            indexes: RwLock::new(indexes),
            http_status: (0..600)
                .map(|_| std::sync::atomic::AtomicU64::new(0))
                .collect(),
            indexers: std::sync::Mutex::new(indexers),
            stop,
        }))
    }

    /// Creates a log (admin API): a new signing key, its streams, its query
    /// index and indexer. Returns the verifier key.
    ///
    /// # Errors
    /// 400 for a bad name, 409 if it exists, 500 otherwise.
    pub fn create_log(&self, name: &str) -> Result<veritrail_core::note::Verifier, AppError> {
        let v = self.data.create_log(name).map_err(|e| match e {
            veritrail_store::StoreError::BadLogName(_) => {
                AppError::bad_request("bad_log_name", e.to_string())
            }
            veritrail_store::StoreError::LogExists(_) => AppError::new(
                axum::http::StatusCode::CONFLICT,
                "log_exists",
                e.to_string(),
            ),
            other => AppError::internal(&other),
        })?;
        let log = Arc::new(
            self.data
                .open_log(name, self.config.log.clone())
                .map_err(|e| AppError::internal(&e))?,
        );
        let qi = Arc::new(
            QueryIndex::open(&self.data.query_index_path(name))
                .map_err(|e| AppError::internal(&e))?,
        );
        self.indexes
            .write()
            .expect("indexes lock")
            .insert(name.to_owned(), qi.clone());
        self.logs
            .write()
            .expect("logs lock")
            .insert(name.to_owned(), log.clone());
        let (n, s) = (name.to_owned(), self.stop.clone());
        let t = std::thread::Builder::new()
            .name(format!("vt-idx-{name}"))
            .spawn(move || run_indexer(n, log, qi, s))
            .map_err(|e| AppError::internal(&e))?;
        self.indexers.lock().expect("indexers lock").push(t);
        Ok(v)
    }

    /// The data directory root.
    pub fn root(&self) -> &Path {
        self.data.root()
    }

    /// An open log, or 404. `_system` is only reachable where `system` is true.
    ///
    /// # Errors
    /// 404.
    pub fn log(&self, name: &str) -> Result<Arc<Log>, AppError> {
        self.logs
            .read()
            .expect("logs lock")
            .get(name)
            .cloned()
            .ok_or_else(|| AppError::not_found(format!("no log named {name:?}")))
    }

    /// Appends an event to `_system` and waits until it is durable: who
    /// looked at the evidence is evidence too, so a read whose audit record
    /// cannot be stored is refused.
    ///
    /// # Errors
    /// 503 when the audit record cannot be written.
    pub async fn audit(
        &self,
        action: &str,
        token: Option<&Token>,
        ip: Option<IpAddr>,
        target: Option<&str>,
        metadata: Value,
    ) -> Result<(), AppError> {
        let mut actor = match token {
            Some(t) => json!({"id": t.id, "type": "token"}),
            None => json!({"id": "anonymous", "type": "anonymous"}),
        };
        if let Some(t) = token.filter(|t| !t.name.is_empty()) {
            actor["name"] = json!(t.name);
        }
        if let Some(ip) = ip {
            actor["ip"] = json!(ip.to_string());
        }
        let mut ev =
            json!({"action": action, "actor": actor, "source": {"app": "veritrail-server"}});
        if let Some(t) = target {
            ev["target"] = json!({"type": "log", "id": t});
        }
        if metadata.as_object().is_some_and(|m| !m.is_empty()) {
            ev["metadata"] = metadata;
        }
        let bytes = serde_json::to_vec(&ev).expect("json");
        let canonical = Event::parse(&bytes)
            .and_then(|e| e.into_canonical(now()))
            .map_err(|e| AppError::internal(&e))?;
        let log = self.log(SYSTEM_LOG)?;
        let batch = PreparedBatch::new(&[canonical])?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        log.append_prepared(batch, move |r| {
            let _ = tx.send(r);
        });
        match rx.await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(AppError::from(e)),
            Err(_) => Err(AppError::internal(&"audit log closed")),
        }
    }

    /// Records the stop and closes every log (each signs a final checkpoint).
    pub async fn close(&self) {
        let _ = self.audit("system.stop", None, None, None, json!({})).await;
        self.stop.store(true, std::sync::atomic::Ordering::Release);
        let indexers: Vec<_> = std::mem::take(&mut *self.indexers.lock().expect("indexers lock"));
        tokio::task::spawn_blocking(move || {
            for t in indexers {
                let _ = t.join();
            }
        })
        .await
        .ok();
        let logs: Vec<Arc<Log>> = self
            .logs
            .read()
            .expect("logs lock")
            .values()
            .cloned()
            .collect();
        tokio::task::spawn_blocking(move || {
            for l in logs {
                l.close();
            }
        })
        .await
        .ok();
    }
}

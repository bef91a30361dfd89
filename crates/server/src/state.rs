//! The HTTP server's state: the [`Service`] it is an edge of (it reads as
//! one: `AppState` dereferences to it), plus what only HTTP needs — whether
//! checkpoints are private, the recent authentication failures per address,
//! and response counts for `/metrics`.

use std::net::IpAddr;
use std::ops::Deref;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use veritrail_service::audit::{Actor, AuditRecord};
use veritrail_service::store::{DataDir, LogConfig, StoreError};
use veritrail_service::{Service, ServiceConfig, ServiceError};

use crate::error::AppError;
use crate::tokens::Token;

/// Settings of a running server.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Require a token for checkpoints, hash tiles and proofs.
    pub private_checkpoints: bool,
    /// How long `?wait=proof` waits for the next checkpoint.
    pub receipt_timeout: Duration,
    /// Log tunables.
    pub log: LogConfig,
    /// Connection limits: header and body deadlines, connections per address.
    pub limits: crate::listen::Limits,
    /// Console session cookies carry `Secure` (the server runs TLS).
    pub secure_cookies: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        let s = ServiceConfig::default();
        ServerConfig {
            private_checkpoints: false,
            receipt_timeout: s.receipt_timeout,
            log: s.log,
            limits: crate::listen::Limits::default(),
            secure_cookies: false,
        }
    }
}

/// Everything a request handler can reach.
pub struct AppState {
    /// The service this server is an edge of.
    pub service: Arc<Service>,
    /// Settings.
    pub config: ServerConfig,
    /// Recent authentication failures per address.
    pub failures: crate::throttle::Failures,
    /// Responses sent, by HTTP status code (index = code).
    pub http_status: Vec<std::sync::atomic::AtomicU64>,
    /// The syslog listeners' counters.
    pub syslog_stats: crate::syslog_state::SyslogStats,
    /// The syslog listeners, stopped before the logs close.
    pub syslog: tokio::sync::Mutex<Option<crate::syslog_state::SyslogHandle>>,
    /// Witnesses the logs ask to cosign their checkpoints, if any.
    pub witnessing: std::sync::Mutex<Option<Arc<crate::witnessing::Witnessing>>>,
    /// The timestamp authority, when the server has one (`--tsa`).
    pub tsa: std::sync::Mutex<Option<Arc<crate::timestamping::Tsa>>>,
    /// The object-storage tier, when the server has one (`--store`).
    pub object_storage: std::sync::Mutex<Option<Arc<crate::storage::ObjectStorage>>>,
    /// The copier, when the server is a read replica (`--read-only`).
    pub replica: std::sync::OnceLock<Arc<crate::replica::Replica>>,
    /// Alert rules, when the server runs a rules file.
    pub alerts: std::sync::Mutex<Option<Arc<crate::alerts::Alerts>>>,
    /// Set when the server begins to stop: live streams end.
    pub stopping: std::sync::atomic::AtomicBool,
    /// Live streams open now.
    pub streams_open: std::sync::atomic::AtomicU64,
    /// Live streams cut off because their client did not keep up.
    pub streams_cut: std::sync::atomic::AtomicU64,
    /// Signed-in console browsers.
    pub sessions: crate::console::session::Sessions,
    /// The last review of each log (`not_reviewed` rules).
    pub last_reviews: Arc<crate::memory::LastReviews>,
    /// When this server started (Unix nanoseconds).
    pub started_ns: i128,
    /// Alerts acknowledged since the start.
    pub recent_acks: crate::memory::RecentAcks,
}

impl Deref for AppState {
    type Target = Service;
    fn deref(&self) -> &Service {
        &self.service
    }
}

/// Runs blocking store work off the async workers and maps its errors.
///
/// # Errors
/// The store error as an [`AppError`]; 500 if the task panicked.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, AppError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| AppError::internal(&e))?
        .map_err(AppError::from)
}

impl AppState {
    /// Refuses a write on a read replica (403 `read_only`): `what` is done
    /// on the node that writes the logs.
    ///
    /// # Errors
    /// The 403, on a replica.
    pub fn writable(&self, what: &str) -> Result<(), AppError> {
        if self.replica.get().is_some() {
            return Err(AppError::new(
                axum::http::StatusCode::FORBIDDEN,
                "read_only",
                format!(
                    "this server is a read-only replica: {what} on the node that writes the logs"
                ),
            ));
        }
        Ok(())
    }

    /// Opens the data directory's service: every log (running recovery),
    /// `_system`, the query indexes and the token store.
    ///
    /// # Errors
    /// What [`Service::open`] fails with.
    pub fn open(data: DataDir, config: ServerConfig) -> Result<Arc<AppState>, ServiceError> {
        let service = Service::open(
            data,
            ServiceConfig {
                receipt_timeout: config.receipt_timeout,
                log: config.log.clone(),
            },
        )?;
        Ok(Arc::new(AppState {
            service,
            config,
            failures: crate::throttle::Failures::default(),
            http_status: (0..600)
                .map(|_| std::sync::atomic::AtomicU64::new(0))
                .collect(),
            syslog_stats: crate::syslog_state::SyslogStats::default(),
            syslog: tokio::sync::Mutex::new(None),
            alerts: std::sync::Mutex::new(None),
            witnessing: std::sync::Mutex::new(None),
            tsa: std::sync::Mutex::new(None),
            object_storage: std::sync::Mutex::new(None),
            replica: std::sync::OnceLock::new(),
            stopping: std::sync::atomic::AtomicBool::new(false),
            streams_open: std::sync::atomic::AtomicU64::new(0),
            streams_cut: std::sync::atomic::AtomicU64::new(0),
            sessions: crate::console::session::Sessions::default(),
            last_reviews: Arc::default(),
            recent_acks: crate::memory::RecentAcks::default(),
            started_ns: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as i128),
        }))
    }

    /// Creates a log (admin API). Returns the verifier key.
    ///
    /// # Errors
    /// 400 for a bad name, 409 if it exists, 500 otherwise.
    pub fn create_log(&self, name: &str) -> Result<veritrail_core::note::Verifier, AppError> {
        let v = self.service.create_log(name).map_err(|e| match e {
            ServiceError::Store(StoreError::BadLogName(n)) => AppError::bad_request(
                "bad_log_name",
                format!(
                    "invalid log name {}: use 1-63 of a-z 0-9 _ . - starting with a letter or digit",
                    crate::error::shown(&n)
                ),
            ),
            ServiceError::Store(StoreError::LogExists(n)) => AppError::new(
                axum::http::StatusCode::CONFLICT,
                "log_exists",
                format!("a log named {} already exists", crate::error::shown(&n)),
            ),
            other => AppError::internal(&other),
        })?;
        let w = self.witnessing.lock().expect("witnessing lock").clone();
        if let Some(w) = w {
            w.attach_log(name);
        }
        let os = self
            .object_storage
            .lock()
            .expect("object storage lock")
            .clone();
        if let Some(os) = os {
            os.attach_log(&self.service, name);
        }
        Ok(v)
    }

    /// The data directory root.
    pub fn root(&self) -> &Path {
        self.service.data().root()
    }

    /// Appends a record of what `token` (or an anonymous caller) from `ip`
    /// did to `_system` and waits until it is durable: who looked at the
    /// evidence is evidence too, so a read whose record cannot be stored is
    /// refused.
    ///
    /// # Errors
    /// 503 when the record cannot be written.
    pub async fn audit(
        &self,
        action: &str,
        token: Option<&Token>,
        ip: Option<IpAddr>,
        target: Option<&str>,
        metadata: Value,
    ) -> Result<(), AppError> {
        self.audit_at(action, token, ip, target, metadata).await?;
        Ok(())
    }

    /// [`AppState::audit`], answering the record's `_system` index.
    ///
    /// # Errors
    /// The `_system` log's errors.
    pub async fn audit_at(
        &self,
        action: &str,
        token: Option<&Token>,
        ip: Option<IpAddr>,
        target: Option<&str>,
        metadata: Value,
    ) -> Result<u64, AppError> {
        let record = AuditRecord {
            action,
            actor: Actor::caller(token, ip),
            app: "veritrail-server",
            target,
            metadata,
        };
        Ok(self.service.audit(&record).await?)
    }

    /// Records the authentication failures gathered in windows that have
    /// closed (all of them with `all`), one `auth.failure` per address with
    /// their count.
    pub async fn flush_auth_failures(&self, all: bool) {
        let closed = self.failures.close_windows(std::time::Instant::now(), all);
        for r in closed {
            if let Err(e) = self
                .audit(
                    "auth.failure",
                    None,
                    r.ip,
                    None,
                    serde_json::json!({"repeats": r.count, "window_secs": crate::throttle::WINDOW.as_secs()}),
                )
                .await
            {
                tracing::error!(error = %e.message, "could not record authentication failures");
            }
        }
    }

    /// Records the stop and closes every log (each signs a final checkpoint).
    pub async fn close(&self) {
        self.stopping
            .store(true, std::sync::atomic::Ordering::Release);
        if let Some(h) = self.syslog.lock().await.take() {
            h.stop().await;
        }
        let alerts = self.alerts.lock().expect("alerts lock").take();
        if let Some(a) = alerts {
            tokio::task::spawn_blocking(move || a.stop()).await.ok();
        }
        self.flush_auth_failures(true).await;
        let _ = self
            .audit("system.stop", None, None, None, serde_json::json!({}))
            .await;
        let service = self.service.clone();
        let os = self
            .object_storage
            .lock()
            .expect("object storage lock")
            .clone();
        if let Some(c) = os.as_ref().and_then(|o| o.cluster.get()) {
            c.begin_close();
        }
        let witnessing = self.witnessing.lock().expect("witnessing lock").clone();
        let replica = self.replica.get().cloned();
        tokio::task::spawn_blocking(move || {
            if let Some(r) = replica {
                r.stop();
            }
            service.close();
            // The final checkpoints are witnessed too, when the witnesses
            // answer within a few seconds (a down witness delays the stop
            // by at most that).
            if let Some(w) = witnessing {
                w.retry_now();
                let deadline = std::time::Instant::now() + Duration::from_secs(5);
                for (name, log) in service.logs() {
                    let size = log.published().size;
                    let left = deadline.saturating_duration_since(std::time::Instant::now());
                    if w.wait(&name, size, left).is_none() {
                        tracing::warn!(log = %name, size, "stopping with the final checkpoint not witnessed");
                    }
                }
            }
            // The final checkpoints go to the bucket too; then the leases
            // are given up, so another node takes the logs at once.
            if let Some(os) = os {
                os.drainer.close(Duration::from_secs(30));
                if let Some(c) = os.cluster.get() {
                    c.stop(&service);
                }
            }
        })
        .await
        .ok();
    }
}

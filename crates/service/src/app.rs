//! The application: a data directory with its logs open for writing, each
//! followed by its query index, the token store, the remembered answers to
//! idempotency keys, and the `_system` audit trail. The HTTP server, and the
//! collectors to come, are edges over one [`Service`].

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use veritrail_core::note::Verifier;
use veritrail_index::{Follower, QueryIndex};
use veritrail_store::datadir::SYSTEM_LOG;
use veritrail_store::{DataDir, Log, LogConfig, StoreError};

use crate::audit::AuditRecord;
use crate::error::{Result, ServiceError};
use crate::idempotency::Idempotency;
use crate::tokens::TokenStore;

/// Settings of a running service.
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    /// How long [`crate::ingest::Wait::Proof`] waits for the checkpoint.
    pub receipt_timeout: Duration,
    /// Log tunables.
    pub log: LogConfig,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            receipt_timeout: Duration::from_secs(30),
            log: LogConfig::default(),
        }
    }
}

/// A data directory in service.
pub struct Service {
    data: DataDir,
    logs: RwLock<BTreeMap<String, Arc<Log>>>,
    indexes: RwLock<BTreeMap<String, Arc<QueryIndex>>>,
    followers: Mutex<Vec<Follower>>,
    /// Held by work more urgent than indexing while it is behind.
    urgent: veritrail_index::Urgent,
    /// Logs found damaged: refused at start (their data failed recovery's
    /// checks), or an entry read back did not match its leaf hash.
    damaged: Mutex<BTreeMap<String, String>>,
    /// Tokens and roles.
    pub tokens: TokenStore,
    pub(crate) idempotency: Arc<Idempotency>,
    pub(crate) config: ServiceConfig,
    taps: Mutex<BTreeMap<String, Arc<crate::tap::Tap>>>,
    gate: std::sync::OnceLock<Arc<dyn crate::gate::AckGate>>,
}

impl Service {
    /// Opens every log of the data directory (running recovery), creating
    /// `_system` if needed and finishing log creations a crash interrupted,
    /// and starts following each with its query index.
    ///
    /// # Errors
    /// Store, index, token and idempotency-store errors.
    pub fn open(data: DataDir, config: ServiceConfig) -> Result<Arc<Service>> {
        for name in data.finish_unfinished_logs()? {
            tracing::warn!(log = %name, "finished creating a log that a crash had interrupted");
        }
        data.ensure_system_log()?;
        let tokens = TokenStore::open(data.root())?;
        let idempotency = Arc::new(Idempotency::open(
            &data.root().join("query").join("idempotency.sqlite"),
        )?);
        let svc = Service {
            data,
            logs: RwLock::new(BTreeMap::new()),
            indexes: RwLock::new(BTreeMap::new()),
            followers: Mutex::new(Vec::new()),
            urgent: veritrail_index::Urgent::default(),
            damaged: Mutex::new(BTreeMap::new()),
            tokens,
            idempotency,
            config,
            taps: Mutex::new(BTreeMap::new()),
            gate: std::sync::OnceLock::new(),
        };
        for name in svc.data.list_logs()? {
            match svc.start_log(&name) {
                Ok(_) => {}
                // One damaged log does not stop the others; it is refused,
                // recorded, and shown by /healthz. (`_system` is needed to
                // record anything at all: its damage stops the start.)
                Err(ServiceError::Store(e @ StoreError::Corrupted { .. }))
                    if name != SYSTEM_LOG =>
                {
                    tracing::error!(log = %name, error = %e, "log refused: its stored data is damaged; run `veritrail verify`");
                    svc.damaged
                        .lock()
                        .expect("damaged lock")
                        .insert(name, e.to_string());
                }
                Err(e) => return Err(e),
            }
        }
        // What recovery discarded or refused on the way is evidence too.
        let system = svc.log(SYSTEM_LOG)?;
        for (_, log) in svc.logs() {
            crate::open::record_discards(&svc.data, &system, &log, "veritrail-server")?;
        }
        for (name, why) in svc.damaged() {
            crate::audit::record_blocking(
                &system,
                &AuditRecord {
                    action: "integrity.damaged",
                    actor: crate::audit::Actor::system(),
                    app: "veritrail-server",
                    target: Some(&name),
                    metadata: serde_json::json!({"error": why}),
                },
            )?;
        }
        Ok(Arc::new(svc))
    }

    /// Work more urgent than the query index (a lagging rules runner)
    /// holds this while it is behind: the indexers then leave it most of
    /// the CPU ([`veritrail_index::Urgent`]).
    pub fn urgent(&self) -> &veritrail_index::Urgent {
        &self.urgent
    }

    /// Opens log `name` and starts its index follower.
    fn start_log(&self, name: &str) -> Result<Arc<Log>> {
        let log = Arc::new(self.data.open_log(name, self.config.log.clone())?);
        let qi = Arc::new(QueryIndex::open(&self.data.query_index_path(name))?);
        let follower = Follower::spawn(log.reader(), qi.clone(), self.urgent.clone())
            .map_err(ServiceError::Thread)?;
        self.followers
            .lock()
            .expect("followers lock")
            .push(follower);
        self.indexes
            .write()
            .expect("indexes lock")
            .insert(name.to_owned(), qi);
        self.logs
            .write()
            .expect("logs lock")
            .insert(name.to_owned(), log.clone());
        Ok(log)
    }

    /// Installs the ack gate every ingest passes (once; `false` if one was
    /// installed already).
    pub fn set_ack_gate(&self, gate: Arc<dyn crate::gate::AckGate>) -> bool {
        self.gate.set(gate).is_ok()
    }

    /// The ack gate, if one is installed.
    pub fn ack_gate(&self) -> Option<&Arc<dyn crate::gate::AckGate>> {
        self.gate.get()
    }

    /// Creates a log (a new signing key, its streams), opens it and starts
    /// its index. Returns the verifier key.
    ///
    /// # Errors
    /// `BadLogName`, `LogExists`; store and index errors.
    pub fn create_log(&self, name: &str) -> Result<Verifier> {
        let v = self.data.create_log(name)?;
        self.start_log(name)?;
        Ok(v)
    }

    /// Creates log `name` as a copy of a log written elsewhere whose key is
    /// `verifier` (a read replica's; no signing key here, see
    /// [`veritrail_store::adopt`]), opens it and starts its index.
    ///
    /// # Errors
    /// `BadLogName`, `LogExists`, `Key`; store and index errors.
    pub fn create_copy(&self, name: &str, verifier: &Verifier, source: &str) -> Result<Arc<Log>> {
        self.data.create_adopting_log(name, verifier, source)?;
        self.start_log(name)
    }

    /// The data directory.
    pub fn data(&self) -> &DataDir {
        &self.data
    }

    /// Settings.
    pub fn config(&self) -> &ServiceConfig {
        &self.config
    }

    /// An open log (`_system` included).
    ///
    /// # Errors
    /// `NoSuchLog`; `Damaged` for a log refused at start.
    pub fn log(&self, name: &str) -> Result<Arc<Log>> {
        if let Some(l) = self.logs.read().expect("logs lock").get(name) {
            return Ok(l.clone());
        }
        if self
            .damaged
            .lock()
            .expect("damaged lock")
            .contains_key(name)
        {
            return Err(ServiceError::Damaged(name.to_owned()));
        }
        Err(StoreError::NoSuchLog(name.to_owned()).into())
    }

    /// The logs found damaged, with why: refused at start, or an entry read
    /// back did not match its leaf hash (counted in the log's stats).
    pub fn damaged(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .damaged
            .lock()
            .expect("damaged lock")
            .iter()
            .map(|(n, w)| (n.clone(), w.clone()))
            .collect();
        for (name, log) in self.logs() {
            let n = log
                .stats()
                .integrity_errors
                .load(std::sync::atomic::Ordering::Relaxed);
            if n > 0 {
                out.push((
                    name,
                    format!("{n} entries read back did not match their leaf hashes"),
                ));
            }
        }
        out.sort();
        out
    }

    /// Every open log, by name.
    pub fn logs(&self) -> Vec<(String, Arc<Log>)> {
        self.logs
            .read()
            .expect("logs lock")
            .iter()
            .map(|(n, l)| (n.clone(), l.clone()))
            .collect()
    }

    /// The query index of a log.
    ///
    /// # Errors
    /// `NoSuchLog`.
    pub fn index(&self, name: &str) -> Result<Arc<QueryIndex>> {
        self.indexes
            .read()
            .expect("indexes lock")
            .get(name)
            .cloned()
            .ok_or_else(|| StoreError::NoSuchLog(name.to_owned()).into())
    }

    /// The shared live reader of a log (created on first use).
    ///
    /// # Errors
    /// `NoSuchLog`; `Damaged`.
    pub fn tap(&self, name: &str) -> Result<Arc<crate::tap::Tap>> {
        let log = self.log(name)?;
        Ok(self
            .taps
            .lock()
            .expect("taps lock")
            .entry(name.to_owned())
            .or_insert_with(|| crate::tap::Tap::new(log))
            .clone())
    }

    /// Appends `record` to `_system`; returns once it is durable.
    ///
    /// # Errors
    /// The `_system` log's errors.
    pub async fn audit(&self, record: &AuditRecord<'_>) -> Result<u64> {
        crate::audit::record(&*self.log(SYSTEM_LOG)?, record).await
    }

    /// Stops the index followers and closes every log (each signs a final
    /// checkpoint). Blocks: call from a blocking thread.
    pub fn close(&self) {
        for t in self.taps.lock().expect("taps lock").values() {
            t.stop();
        }
        for mut f in std::mem::take(&mut *self.followers.lock().expect("followers lock")) {
            f.stop();
        }
        for (_, l) in self.logs() {
            l.close();
        }
    }
}

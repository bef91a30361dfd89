//! Many nodes, one bucket (docs/SCALE.md "Many nodes"): each log is written
//! by the node holding its lease ([`veritrail_bucket::lease`]). A node
//! competes for every log whose signing key it holds (`keys/<log>.key`);
//! `_system` is each node's own and is stored under `_system.<node>`.
//!
//! Every third of the lease TTL this node renews its leases and takes free
//! ones. When it takes a log, it first makes its local copy the bucket's
//! tree: it creates the log from its key if it has none, checks that what it
//! holds is a prefix of the bucket's tree (or the bucket's a prefix of
//! its), and appends the entries it lacks, each checked against the
//! bucket's signed tree ([`veritrail_bucket::read::RemoteLog`]). Only then
//! does it take writes for the log; until then, and for logs another node
//! holds, writes are refused (and HTTP writes redirected to the owner).
//! The takeover is recorded in `_system` (`cluster.takeover`) with what the
//! previous owner last said it held: with `--durability local`, the entries
//! it acknowledged beyond the bucket's checkpoint are lost with its disk,
//! and the record says how many.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use veritrail_bucket::lease::{Change, Lease, Leases};
use veritrail_bucket::read::RemoteLog;
use veritrail_service::store::datadir::SYSTEM_LOG;

use veritrail_service::Service;

use crate::storage::{ObjectStorage, Ownership};

/// Creates a log (from the key file the node holds) with everything the
/// server attaches to a new log (witnessing, uploads).
pub type CreateLog = Arc<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

/// What the cluster works on: the service, and how the server creates logs.
pub struct Host {
    /// The service.
    pub service: Arc<Service>,
    /// How a log is created.
    pub create_log: CreateLog,
}

/// This node's part in a cluster.
pub struct Cluster {
    /// Its leases.
    pub leases: Arc<Leases>,
    /// Logs whose lease this node holds and whose local copy is the
    /// bucket's tree: the ones it takes writes for.
    ready: Mutex<BTreeSet<String>>,
    /// The server is stopping: no more writes, uploads go on.
    closing: AtomicBool,
    stop: AtomicBool,
    /// The node's key directory (a log is competed for when its key is here).
    keys: std::path::PathBuf,
}

impl Cluster {
    /// Starts competing for logs (a thread; one round at once).
    pub fn start(host: Host, os: &Arc<ObjectStorage>, leases: Leases) -> Arc<Cluster> {
        let c = Arc::new(Cluster {
            leases: Arc::new(leases),
            ready: Mutex::new(BTreeSet::new()),
            closing: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            keys: host.service.data().root().join("keys"),
        });
        let c2 = c.clone();
        let os2 = os.clone();
        // Uploads only while the lease is held and the copy is ready.
        os.drainer.set_fence(Arc::new({
            let c = c.clone();
            move |log: &str| log == SYSTEM_LOG || c.holds(log)
        }));
        std::thread::Builder::new()
            .name("veritrail-leases".into())
            .spawn(move || {
                while !c2.stop.load(Ordering::Acquire) {
                    c2.round(&host, &os2);
                    std::thread::sleep(c2.leases.ttl() / 3);
                }
            })
            .expect("spawning the lease thread");
        c
    }

    /// Whether this node holds `log`'s lease and its copy is the bucket's
    /// tree: it may upload the log.
    pub fn holds(&self, log: &str) -> bool {
        log == SYSTEM_LOG
            || (self.leases.epoch(log).is_some()
                && self.ready.lock().expect("ready lock").contains(log))
    }

    /// Whether this node takes writes for `log` now.
    fn takes_writes(&self, log: &str) -> bool {
        log == SYSTEM_LOG || (!self.closing.load(Ordering::Acquire) && self.holds(log))
    }

    /// Logs this node may hold: the ones it has, and the ones it has a key for.
    fn candidates(h: &Host) -> BTreeSet<String> {
        let mut out: BTreeSet<String> = h.service.logs().into_iter().map(|(n, _)| n).collect();
        if let Ok(rd) = std::fs::read_dir(h.service.data().root().join("keys")) {
            for e in rd.flatten() {
                if let Some(n) = e.file_name().to_str().and_then(|n| n.strip_suffix(".key")) {
                    if veritrail_service::store::datadir::valid_log_name(n) {
                        out.insert(n.to_owned());
                    }
                }
            }
        }
        out.remove(SYSTEM_LOG);
        out
    }

    fn round(&self, h: &Host, os: &Arc<ObjectStorage>) {
        for log in Self::candidates(h) {
            let durable = h.service.log(&log).map_or(0, |l| l.durable_size());
            match self.leases.tick(&log, durable) {
                Ok(Change::Kept) => {
                    if !self.ready.lock().expect("ready lock").contains(&log) {
                        self.take_over(h, os, &log, None);
                    }
                }
                Ok(Change::Took { epoch, previous }) => {
                    self.ready.lock().expect("ready lock").remove(&log);
                    tracing::warn!(log = %log, epoch, "took the log's lease");
                    self.take_over(h, os, &log, previous.map(|p| (epoch, p)));
                }
                Ok(Change::Lost) => {
                    self.ready.lock().expect("ready lock").remove(&log);
                    tracing::error!(log = %log, "lost the log's lease: this node stops writing it");
                    record(
                        h,
                        "cluster.lease_lost",
                        &log,
                        serde_json::json!({"node": self.leases.me()}),
                    );
                }
                Ok(Change::Other(_)) => {
                    self.ready.lock().expect("ready lock").remove(&log);
                }
                Err(e) => {
                    tracing::warn!(log = %log, error = %e, "renewing the log's lease failed");
                }
            }
        }
    }

    /// Makes the local copy of `log` the bucket's tree; then takes writes.
    fn take_over(
        &self,
        h: &Host,
        os: &Arc<ObjectStorage>,
        log: &str,
        previous: Option<(u64, Lease)>,
    ) {
        match catch_up(h, os, log) {
            Ok((before, bucket_size)) => {
                os.drainer.reset(log);
                self.ready
                    .lock()
                    .expect("ready lock")
                    .insert(log.to_owned());
                let mut meta = serde_json::json!({
                    "node": self.leases.me(),
                    "bucket_size": bucket_size,
                    "local_size_before": before,
                });
                if let Some((epoch, p)) = &previous {
                    meta["epoch"] = serde_json::json!(epoch);
                    if p.owner != self.leases.me() {
                        meta["previous_owner"] = serde_json::json!(p.owner);
                        meta["previous_durable"] = serde_json::json!(p.durable);
                        // What the previous owner acknowledged (with
                        // --durability local) and the bucket never got.
                        meta["acknowledged_not_in_bucket"] =
                            serde_json::json!(p.durable.saturating_sub(bucket_size));
                    }
                }
                record(h, "cluster.takeover", log, meta);
            }
            Err(e) => {
                tracing::error!(log = %log, error = %e, "taking the log over failed; writes stay refused, trying again next round");
                record(
                    h,
                    "cluster.takeover_failed",
                    log,
                    serde_json::json!({"error": e}),
                );
            }
        }
    }
}

impl Ownership for Cluster {
    fn node(&self) -> &str {
        self.leases.me()
    }

    fn writes(&self, log: &str) -> bool {
        self.takes_writes(log)
    }

    fn owner(&self, log: &str) -> Option<Lease> {
        self.leases.owner(log)
    }

    fn competes(&self, log: &str) -> bool {
        log != SYSTEM_LOG
            && veritrail_service::store::datadir::valid_log_name(log)
            && self.keys.join(format!("{log}.key")).is_file()
    }

    fn begin_close(&self) {
        self.closing.store(true, Ordering::Release);
    }

    fn stop(&self, service: &Service) {
        self.stop.store(true, Ordering::Release);
        let logs: Vec<String> = std::mem::take(&mut *self.ready.lock().expect("ready lock"))
            .into_iter()
            .collect();
        for log in logs {
            let durable = service.log(&log).map_or(0, |l| l.durable_size());
            if let Err(e) = self.leases.release(&log, durable) {
                tracing::warn!(log = %log, error = %e, "could not release the lease; it expires by itself");
            }
        }
    }
}

/// Brings the local copy of `log` up to the bucket's tree. Returns the
/// local size before and the bucket's size.
fn catch_up(h: &Host, os: &Arc<ObjectStorage>, log: &str) -> Result<(u64, u64), String> {
    let key_path = h
        .service
        .data()
        .root()
        .join("keys")
        .join(format!("{log}.key"));
    let skey =
        std::fs::read_to_string(&key_path).map_err(|e| format!("{}: {e}", key_path.display()))?;
    let signer = veritrail_core::note::Signer::parse(skey.trim())
        .map_err(|e| format!("{}: {e}", key_path.display()))?;
    if h.service.log(log).is_err() {
        (h.create_log)(log)?;
    }
    let local = h.service.log(log).map_err(|e| e.to_string())?;
    let remote = RemoteLog::new(os.drainer.bucket().clone(), log, signer.verifier());
    let before = local.durable_size();
    let p = local
        .wait_for_checkpoint(before, Duration::from_secs(30))
        .map_err(|e| e.to_string())?;
    let Some((cp, _)) = remote.checkpoint().map_err(|e| e.to_string())? else {
        return Ok((before, 0));
    };
    let n = cp.size.0;
    let reader = local.reader();
    if p.size >= n {
        // The bucket's tree must be a prefix of ours.
        let ours = reader.root_at(n).map_err(|e| e.to_string())?;
        if n > 0 && ours != cp.root {
            return Err(format!(
                "the bucket's tree of {n} entries is not a prefix of this node's ({} entries): a fork",
                p.size
            ));
        }
        return Ok((before, n));
    }
    // Ours must be a prefix of the bucket's; then append what we lack.
    if p.size > 0 {
        let theirs = remote.root_at(&cp, p.size).map_err(|e| e.to_string())?;
        if reader.root_at(p.size).map_err(|e| e.to_string())? != theirs {
            return Err(format!(
                "this node's {} entries are not a prefix of the bucket's tree of {n}: a fork",
                p.size
            ));
        }
    }
    let mut i = p.size;
    while i < n {
        let end = n.min((i / 256 + 1) * 256);
        let entries = remote.entries(&cp, i, end).map_err(|e| e.to_string())?;
        local.append(&entries).map_err(|e| e.to_string())?;
        i = end;
    }
    let q = local
        .wait_for_checkpoint(n, Duration::from_secs(30))
        .map_err(|e| e.to_string())?;
    if local.reader().root_at(n).map_err(|e| e.to_string())? != cp.root {
        return Err(format!(
            "after catching up to {n} entries the root differs from the bucket's (size {})",
            q.size
        ));
    }
    Ok((before, n))
}

fn record(h: &Host, action: &str, log: &str, metadata: serde_json::Value) {
    crate::storage::record_system(&h.service, action, log, metadata);
}

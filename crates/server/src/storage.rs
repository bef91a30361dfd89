//! Object storage (docs/SCALE.md): every log drained into an S3 Object
//! Lock bucket by [`veritrail_bucket::Drainer`], the ack gate of
//! `--durability` ([`Durability`]), and what the drainer finds — a lost
//! compare-and-swap, a changed object, a delete marker — recorded in
//! `_system` (`object_storage.stopped`, `object_storage.tampered`) and
//! raised by `integrity` rules with `check: object_storage`.

use std::sync::{Arc, Weak};
use std::time::Duration;

use veritrail_bucket::lease::Lease;
use veritrail_bucket::{Bucket, Drainer, Notice, Problem};
use veritrail_service::audit::{Actor, AuditRecord};
use veritrail_service::gate::AckGate;
use veritrail_service::Service;

/// When an event is acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Durability {
    /// Once it is fsync'd on this node; the bucket follows within about a
    /// checkpoint interval.
    #[default]
    Local,
    /// Only once the bucket holds it and a checkpoint covering it.
    Object,
}

impl Durability {
    /// `local` or `object`.
    pub fn parse(s: &str) -> Option<Durability> {
        match s {
            "local" => Some(Durability::Local),
            "object" => Some(Durability::Object),
            _ => None,
        }
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Durability::Local => "local",
            Durability::Object => "object",
        }
    }
}

/// Which node writes which log when several nodes share a bucket
/// ([`crate::cluster::Cluster`] is the one implementation; the trait keeps
/// this module from depending on it).
pub trait Ownership: Send + Sync {
    /// This node's name.
    fn node(&self) -> &str;
    /// Whether this node takes writes for `log` now.
    fn writes(&self, log: &str) -> bool;
    /// The lease of another node on `log`, as last read.
    fn owner(&self, log: &str) -> Option<Lease>;
    /// Whether this node competes for `log` (it holds its signing key), so
    /// that some node of the cluster writes it even when this one does not
    /// know which yet.
    fn competes(&self, log: &str) -> bool;
    /// The node that takes writes for `log`, when it is another one.
    fn owner_elsewhere(&self, log: &str) -> Option<Lease> {
        if self.writes(log) {
            None
        } else {
            self.owner(log)
        }
    }
    /// The server begins to stop: writes are refused from now on, while
    /// the final checkpoints are uploaded.
    fn begin_close(&self);
    /// Stops taking part and gives up every lease (so another node takes
    /// the logs at once).
    fn stop(&self, service: &Service);
}

/// The object-storage tier of a running server.
pub struct ObjectStorage {
    /// Uploads every log.
    pub drainer: Arc<Drainer>,
    /// Which node writes which log, when several nodes share the bucket
    /// (`--node`; [`crate::cluster::Cluster`]).
    pub cluster: std::sync::OnceLock<Arc<dyn Ownership>>,
    /// Started with `--node`: until [`ObjectStorage::cluster`] is set, no
    /// log but `_system` is written or uploaded.
    clustered: bool,
    /// When events are acknowledged.
    pub durability: Durability,
    /// How long an ack waits for the bucket under [`Durability::Object`].
    pub ack_timeout: Duration,
}

impl ObjectStorage {
    /// Starts draining every log of `service` into `bucket`, installs the
    /// ack gate, and looks for tampering every `scan`. With `node` (several
    /// nodes share the bucket), this node's `_system` goes to
    /// `_system.<node>`.
    pub fn start(
        service: &Arc<Service>,
        bucket: Arc<Bucket>,
        durability: Durability,
        scan: Option<Duration>,
        ack_timeout: Duration,
        node: Option<&str>,
    ) -> Arc<ObjectStorage> {
        let os = ObjectStorage::new(
            service,
            bucket,
            durability,
            scan,
            ack_timeout,
            node.is_some(),
        );
        if node.is_some() {
            // Nothing is uploaded before the leases say whose logs are whose.
            os.drainer.set_fence(Arc::new(|log: &str| {
                log == veritrail_service::store::datadir::SYSTEM_LOG
            }));
        }
        for (name, log) in service.logs() {
            let dir = match node {
                Some(n) if name == veritrail_service::store::datadir::SYSTEM_LOG => {
                    format!("{name}.{n}")
                }
                _ => name.clone(),
            };
            log.add_publish_step(os.drainer.attach_as(&name, &dir, log.reader()));
        }
        service.set_ack_gate(Arc::new(Gate(os.clone())));
        os
    }

    /// Uploads a read replica's own `_system` log (who read what on it) to
    /// `PREFIX/<dir>/` in `bucket`, below the ack path; nothing else of the
    /// replica is uploaded and no ack waits for the bucket.
    pub fn start_trail(
        service: &Arc<Service>,
        bucket: Arc<Bucket>,
        scan: Option<Duration>,
        dir: &str,
    ) -> Arc<ObjectStorage> {
        let os = ObjectStorage::new(
            service,
            bucket,
            Durability::Local,
            scan,
            Duration::ZERO,
            false,
        );
        let system = veritrail_service::store::datadir::SYSTEM_LOG;
        if let Ok(log) = service.log(system) {
            log.add_publish_step(os.drainer.attach_as(system, dir, log.reader()));
        }
        os
    }

    /// The drainer thread, telling `service`'s `_system` what goes wrong,
    /// with no log attached yet.
    fn new(
        service: &Arc<Service>,
        bucket: Arc<Bucket>,
        durability: Durability,
        scan: Option<Duration>,
        ack_timeout: Duration,
        clustered: bool,
    ) -> Arc<ObjectStorage> {
        let weak: Weak<Service> = Arc::downgrade(service);
        // Below the ack path when acks do not wait for the bucket (it
        // catches up after a burst), like the query indexer; on it when
        // they do.
        let drainer = Drainer::start(
            bucket,
            scan,
            Box::new(move |log, notice| record(&weak, log, notice)),
            durability == Durability::Local,
        );
        Arc::new(ObjectStorage {
            drainer,
            cluster: std::sync::OnceLock::new(),
            clustered,
            durability,
            ack_timeout,
        })
    }

    /// Starts draining log `name` (created while serving).
    pub fn attach_log(&self, service: &Service, name: &str) {
        if let Ok(log) = service.log(name) {
            log.add_publish_step(self.drainer.attach(name, log.reader()));
        }
    }

    /// Where every log's uploads stand, for `veritrail status` (the
    /// operator's view: the store's own words included).
    pub fn status_json(&self) -> serde_json::Value {
        use std::sync::atomic::Ordering::Relaxed;
        let logs: Vec<serde_json::Value> = self
            .drainer
            .status()
            .into_iter()
            .map(|s| {
                let (state, why) = match &s.problem {
                    None => ("ok", None),
                    Some(Problem::Retrying(m)) => ("retrying", Some(m.clone())),
                    Some(Problem::Refused(m)) => ("refused", Some(m.clone())),
                    Some(Problem::Stopped(m)) => ("stopped", Some(m.clone())),
                };
                let lease = self.cluster.get().map(|c| {
                    if c.writes(&s.log) {
                        serde_json::json!("held by this node")
                    } else {
                        c.owner(&s.log).map_or(serde_json::json!("not held"), |o| {
                            serde_json::json!(format!("held by {} ({})", o.owner, o.url))
                        })
                    }
                });
                serde_json::json!({
                    "log": s.log, "uploaded": s.uploaded, "pending": s.pending,
                    "state": state, "problem": why, "tampered": s.tampered, "lease": lease,
                })
            })
            .collect();
        let st = &self.drainer.stats;
        serde_json::json!({
            "store": self.drainer.bucket().location().to_string(),
            "durability": self.durability.name(),
            "node": self.cluster.get().map(|c| c.node().to_owned()),
            "logs": logs,
            "objects": st.objects.load(Relaxed),
            "checkpoints": st.checkpoints.load(Relaxed),
            "errors": st.errors.load(Relaxed),
        })
    }

    /// Why each log's uploads are unhealthy, for `integrity` rules.
    pub fn problems(&self) -> std::collections::BTreeMap<String, String> {
        self.drainer
            .status()
            .into_iter()
            .filter_map(|s| {
                let mut why: Vec<String> = Vec::new();
                if let Some(p @ (Problem::Refused(_) | Problem::Stopped(_))) = &s.problem {
                    why.push(p.to_string());
                }
                why.extend(s.tampered.iter().cloned());
                (!why.is_empty()).then(|| (s.log, why.join("; ")))
            })
            .collect()
    }
}

/// Records what the drainer found in `_system`.
fn record(service: &Weak<Service>, log: &str, notice: &Notice) {
    let Some(service) = service.upgrade() else {
        return;
    };
    let (action, metadata) = match notice {
        Notice::Stopped(why) => ("object_storage.stopped", serde_json::json!({"error": why})),
        Notice::Tampered(found) => (
            "object_storage.tampered",
            serde_json::json!({"findings": found}),
        ),
    };
    record_system(&service, action, log, metadata);
}

/// Appends a record by the server itself about `log` to `_system` (from a
/// plain thread: the drainer, the lease thread).
pub(crate) fn record_system(
    service: &Service,
    action: &str,
    log: &str,
    metadata: serde_json::Value,
) {
    let Ok(system) = service.log(veritrail_service::store::datadir::SYSTEM_LOG) else {
        return;
    };
    let r = veritrail_service::audit::record_blocking(
        &system,
        &AuditRecord {
            action,
            actor: Actor::system(),
            app: "veritrail-server",
            target: Some(log),
            metadata,
        },
    );
    if let Err(e) = r {
        tracing::error!(log, error = %e, "could not record {action} in _system");
    }
}

struct Gate(Arc<ObjectStorage>);

impl AckGate for Gate {
    fn refuses(&self, log: &str) -> Option<String> {
        if self.0.clustered && self.0.cluster.get().is_none() {
            return Some("this node is starting; it has not taken any log's lease yet".into());
        }
        if let Some(c) = self.0.cluster.get() {
            if !c.writes(log) {
                return Some(match c.owner(log) {
                    Some(o) => format!("node {} writes this log now, at {}", o.owner, o.url),
                    None => {
                        "no node writes this log right now (a takeover is under way); retry shortly"
                            .into()
                    }
                });
            }
        }
        // The details (keys, the store's words) are for the operator's
        // `status` and `_system`, not for clients.
        self.0.drainer.refuses(log).map(|_| {
            "object storage does not take this log's uploads; the operator sees why in `veritrail status`".to_owned()
        })
    }

    fn waits(&self) -> bool {
        self.0.durability == Durability::Object
    }

    fn wait(&self, log: &str, size: u64) -> Result<(), String> {
        self.0
            .drainer
            .wait_uploaded(log, size, self.0.ack_timeout)
            .map_err(|_| "not yet stored in object storage".to_owned())
    }
}

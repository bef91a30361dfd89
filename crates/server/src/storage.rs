//! Object storage (docs/SCALE.md): every log drained into an S3 Object
//! Lock bucket by [`veritrail_bucket::Drainer`], the ack gate of
//! `--durability` ([`Durability`]), and what the drainer finds — a lost
//! compare-and-swap, a changed object, a delete marker — recorded in
//! `_system` (`object_storage.stopped`, `object_storage.tampered`) and
//! raised by `integrity` rules with `check: object_storage`.

use std::sync::{Arc, Weak};
use std::time::Duration;

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

/// The object-storage tier of a running server.
pub struct ObjectStorage {
    /// Uploads every log.
    pub drainer: Arc<Drainer>,
    /// When events are acknowledged.
    pub durability: Durability,
    /// How long an ack waits for the bucket under [`Durability::Object`].
    pub ack_timeout: Duration,
}

impl ObjectStorage {
    /// Starts draining every log of `service` into `bucket`, installs the
    /// ack gate, and looks for tampering every `scan`.
    pub fn start(
        service: &Arc<Service>,
        bucket: Arc<Bucket>,
        durability: Durability,
        scan: Option<Duration>,
        ack_timeout: Duration,
    ) -> Arc<ObjectStorage> {
        let weak: Weak<Service> = Arc::downgrade(service);
        let drainer = Drainer::start(
            bucket,
            scan,
            Box::new(move |log, notice| record(&weak, log, notice)),
        );
        let os = Arc::new(ObjectStorage {
            drainer,
            durability,
            ack_timeout,
        });
        for (name, log) in service.logs() {
            log.add_publish_step(os.drainer.attach(&name, log.reader()));
        }
        service.set_ack_gate(Arc::new(Gate(os.clone())));
        os
    }

    /// Starts draining log `name` (created while serving).
    pub fn attach_log(&self, service: &Service, name: &str) {
        if let Ok(log) = service.log(name) {
            log.add_publish_step(self.drainer.attach(name, log.reader()));
        }
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
    let Ok(system) = service.log(veritrail_service::store::datadir::SYSTEM_LOG) else {
        return;
    };
    let (action, metadata) = match notice {
        Notice::Stopped(why) => ("object_storage.stopped", serde_json::json!({"error": why})),
        Notice::Tampered(found) => (
            "object_storage.tampered",
            serde_json::json!({"findings": found}),
        ),
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
        tracing::error!(log, error = %e, "could not record an object storage problem in _system");
    }
}

struct Gate(Arc<ObjectStorage>);

impl AckGate for Gate {
    fn refuses(&self, log: &str) -> Option<String> {
        // The details (keys, the store's words) are for the operator's
        // `status` and `_system`, not for clients.
        self.0.drainer.refuses(log).map(|_| {
            "object storage does not take this log's uploads; the operator sees why in `veritrail status`".to_owned()
        })
    }

    fn wait(&self, log: &str, size: u64) -> Result<(), String> {
        if self.0.durability == Durability::Local {
            return Ok(());
        }
        self.0
            .drainer
            .wait_uploaded(log, size, self.0.ack_timeout)
            .map_err(|_| "not yet stored in object storage".to_owned())
    }
}

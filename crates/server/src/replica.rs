//! Read replicas (docs/SCALE.md "Read replicas"): `serve --read-only
//! --store s3://…` keeps a local copy of each log it is given the key of,
//! copied from the bucket and checked against the writer's signed tree,
//! and serves everything a reader asks for — checkpoints, tiles, proofs,
//! entries, query, streams, reports — from that copy. It holds no signing
//! key: each copy records only the writer's own checkpoints
//! ([`veritrail_service::store::adopt`]), so what it serves verifies
//! against the writer's key, byte for byte.
//!
//! Every poll interval the copier reads each log's checkpoint in the bucket
//! (its signature checked), checks that the tree it signs extends what the
//! copy holds (else the bucket's history was rewritten: the copy stops
//! there and says so in `_system`, `replica.fork`), fetches the entries the
//! copy lacks (each checked against its leaf hash in the signed tree) and
//! appends them; the copy then records the writer's checkpoint once the
//! tree computed here has its root. The copy is a cache: deleting the data
//! directory and starting again rebuilds it, and its query index, from the
//! bucket.
//!
//! Writes are refused ([`ReadOnly`]): events go to the node that writes the
//! log. The replica's own `_system` log (who read what here) stays local.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use veritrail_bucket::read::RemoteLog;
use veritrail_bucket::Bucket;
use veritrail_core::note::Verifier;
use veritrail_service::store::datadir::SYSTEM_LOG;
use veritrail_service::store::Log;
use veritrail_service::Service;

/// Entries fetched and appended per step (16 bundles, fetched at once).
const STEP: u64 = 4096;

/// Called as a copy catches up: log, entries copied, entries in the bucket.
pub type Progress = Arc<dyn Fn(&str, u64, u64) + Send + Sync>;

/// Where one log's copy stands.
#[derive(Clone, Debug, Default)]
pub struct CopyStatus {
    /// Entries the bucket's checkpoint covers, as last read.
    pub bucket_size: u64,
    /// Entries the copy's latest checkpoint (the writer's) covers.
    pub copied: u64,
    /// Why the last round failed, if it did.
    pub problem: Option<String>,
}

/// The copier of a read replica.
pub struct Replica {
    service: Arc<Service>,
    bucket: Arc<Bucket>,
    keys: Vec<(String, Verifier)>,
    status: Mutex<BTreeMap<String, CopyStatus>>,
    /// Problems already recorded in `_system` (one record per new problem).
    recorded: Mutex<BTreeMap<String, String>>,
    stop: AtomicBool,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// The upload of the replica's own `_system` (`--trail-name`).
    trail: std::sync::OnceLock<Arc<crate::storage::ObjectStorage>>,
}

impl Replica {
    /// Starts copying the logs `keys` names (each with the writer's key)
    /// from `bucket` every `poll` (a thread; the first round at once).
    pub fn start(
        service: Arc<Service>,
        bucket: Arc<Bucket>,
        keys: Vec<(String, Verifier)>,
        poll: Duration,
        progress: Progress,
    ) -> Arc<Replica> {
        let r = Arc::new(Replica {
            service,
            bucket,
            keys,
            status: Mutex::new(BTreeMap::new()),
            recorded: Mutex::new(BTreeMap::new()),
            stop: AtomicBool::new(false),
            thread: Mutex::new(None),
            trail: std::sync::OnceLock::new(),
        });
        let r2 = r.clone();
        let t = std::thread::Builder::new()
            .name("veritrail-replica".into())
            .spawn(move || {
                while !r2.stop.load(Ordering::Acquire) {
                    r2.round(&progress);
                    let mut slept = Duration::ZERO;
                    while slept < poll && !r2.stop.load(Ordering::Acquire) {
                        let d = (poll - slept).min(Duration::from_millis(100));
                        std::thread::sleep(d);
                        slept += d;
                    }
                }
            })
            .expect("spawning the replica thread");
        *r.thread.lock().expect("thread lock") = Some(t);
        r
    }

    /// Stops copying and waits for the step under way to finish (blocks).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.lock().expect("thread lock").take() {
            let _ = t.join();
        }
    }

    /// Reports the upload of the replica's own `_system` with the copies.
    pub fn set_trail(&self, trail: Arc<crate::storage::ObjectStorage>) {
        let _ = self.trail.set(trail);
    }

    /// The upload of the replica's own `_system`, when there is one.
    pub fn trail(&self) -> Option<&Arc<crate::storage::ObjectStorage>> {
        self.trail.get()
    }

    /// Where each copy stands, for `veritrail status` and `/metrics`.
    pub fn status(&self) -> BTreeMap<String, CopyStatus> {
        self.status.lock().expect("status lock").clone()
    }

    /// Where the copies stand, for `veritrail status` (the operator's
    /// view: the store's own words included).
    pub fn status_json(&self) -> serde_json::Value {
        let logs: Vec<serde_json::Value> = self
            .status()
            .into_iter()
            .map(|(log, s)| {
                serde_json::json!({"log": log, "bucket_size": s.bucket_size, "copied": s.copied, "problem": s.problem})
            })
            .collect();
        serde_json::json!({
            "store": self.bucket.location().to_string(),
            "replica": true,
            "logs": logs,
            "trail": self.trail().map(|t| t.status_json()),
        })
    }

    /// The node that writes `log` now, when the writers share the bucket
    /// with leases (docs/SCALE.md "Many nodes"): where a writer that came
    /// here is sent. Blocks (one read of the bucket).
    pub fn writer_of(&self, log: &str) -> Option<veritrail_bucket::lease::Lease> {
        veritrail_bucket::lease::holder(&self.bucket, log)
            .map_err(|e| tracing::warn!(log, error = %e, "reading the log's lease failed"))
            .ok()
            .flatten()
    }

    /// The logs whose copy failed its last round, with why (for
    /// `integrity` rules).
    pub fn problems(&self) -> BTreeMap<String, String> {
        let mut out: BTreeMap<String, String> = self
            .status()
            .into_iter()
            .filter_map(|(l, s)| s.problem.map(|p| (l, p)))
            .collect();
        if let Some(t) = self.trail() {
            out.extend(t.problems());
        }
        out
    }

    fn round(&self, progress: &Progress) {
        for (name, key) in &self.keys {
            if self.stop.load(Ordering::Acquire) {
                return;
            }
            let r = self.copy(name, key, progress);
            let mut st = self.status.lock().expect("status lock");
            let s = st.entry(name.clone()).or_default();
            match r {
                Ok((bucket_size, copied)) => {
                    s.bucket_size = bucket_size;
                    s.copied = copied;
                    s.problem = None;
                    drop(st);
                    self.recorded.lock().expect("recorded lock").remove(name);
                }
                Err(Failure { what, why }) => {
                    s.problem = Some(why.clone());
                    drop(st);
                    tracing::error!(log = %name, error = %why, "copying the log from the bucket failed");
                    let mut rec = self.recorded.lock().expect("recorded lock");
                    if rec.get(name) != Some(&why) {
                        rec.insert(name.clone(), why.clone());
                        drop(rec);
                        crate::storage::record_system(
                            &self.service,
                            what,
                            name,
                            serde_json::json!({"error": why, "store": self.bucket.location().log(name).to_string()}),
                        );
                    }
                }
            }
        }
    }

    /// One round for `name`: returns the bucket's size and the copy's.
    fn copy(&self, name: &str, key: &Verifier, progress: &Progress) -> Result<(u64, u64), Failure> {
        let source = self.bucket.location().log(name).to_string();
        let local = match self.service.log(name) {
            Ok(l) => l,
            Err(_) => self
                .service
                .create_copy(name, key, &source)
                .map_err(|e| Failure::failed(format!("creating the local copy: {e}")))?,
        };
        let Some(adopted) = local.adopted().cloned() else {
            return Err(Failure::failed(format!(
                "this data directory writes log {name:?} itself; a replica can only copy logs it does not write"
            )));
        };
        if local.verifier() != key {
            return Err(Failure::failed(format!(
                "the local copy was made for key {}, not {}",
                local.verifier().to_vkey(),
                key.to_vkey()
            )));
        }
        let remote = RemoteLog::new(self.bucket.clone(), name, key.clone());
        let Some((cp, bytes)) = remote.checkpoint().map_err(Failure::read)? else {
            return Ok((0, local.published().size));
        };
        let n = cp.size.0;
        let p = local.published();
        if n < p.size {
            return Err(Failure::fork(format!(
                "the bucket's checkpoint covers {n} entries, fewer than the {} this replica copied and checked: the bucket's history went back",
                p.size
            )));
        }
        // The bucket's tree must extend what was copied.
        if p.size > 0 && remote.root_at(&cp, p.size).map_err(Failure::read)? != p.root {
            return Err(Failure::fork(format!(
                "the bucket's tree of {n} entries does not extend the {} entries this replica copied and checked: the log's history was rewritten",
                p.size
            )));
        }
        if n == p.size {
            return Ok((n, n));
        }
        adopted
            .offer(&bytes)
            .map_err(|e| Failure::failed(e.to_string()))?;
        let mut i = local.durable_size();
        progress(name, i, n);
        while i < n {
            if self.stop.load(Ordering::Acquire) {
                return Ok((n, local.published().size));
            }
            let end = n.min((i / STEP + 1) * STEP);
            let entries = remote.entries(&cp, i, end).map_err(Failure::read)?;
            append(&local, &entries)?;
            i = end;
            progress(name, i, n);
        }
        let q = local
            .wait_for_checkpoint(n, Duration::from_secs(60))
            .map_err(|e| Failure::failed(format!("recording the writer's checkpoint: {e}")))?;
        Ok((n, q.size))
    }
}

fn append(local: &Log, entries: &[Vec<u8>]) -> Result<(), Failure> {
    local
        .append(entries)
        .map(|_| ())
        .map_err(|e| Failure::failed(format!("appending to the local copy: {e}")))
}

/// A failed round: the `_system` action to record and why.
struct Failure {
    what: &'static str,
    why: String,
}

impl Failure {
    fn failed(why: String) -> Failure {
        Failure {
            what: "replica.failed",
            why,
        }
    }

    fn fork(why: String) -> Failure {
        Failure {
            what: "replica.fork",
            why,
        }
    }

    fn read(e: veritrail_bucket::read::ReadError) -> Failure {
        match e {
            veritrail_bucket::read::ReadError::Inauthentic(m) => Failure {
                what: "replica.inauthentic",
                why: m,
            },
            other => Failure::failed(format!("reading the bucket: {other}")),
        }
    }
}

/// The ack gate of a read replica: every log but its own `_system` refuses
/// appends.
pub struct ReadOnly;

impl veritrail_service::gate::AckGate for ReadOnly {
    fn refuses(&self, log: &str) -> Option<String> {
        (log != SYSTEM_LOG).then(|| {
            "this server is a read-only replica; send events to the node that writes the log"
                .to_owned()
        })
    }

    fn waits(&self) -> bool {
        false
    }

    fn wait(&self, _log: &str, _size: u64) -> Result<(), String> {
        Ok(())
    }
}

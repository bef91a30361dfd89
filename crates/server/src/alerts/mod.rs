//! Alert rules in the server (docs/ALERTS.md): the rules file's engine
//! ([`veritrail_rules`]) fed by one runner thread per log, which follows
//! the log through a durable subscription (entries as soon as they are
//! acknowledged, not a checkpoint interval later), records every
//! alert in `_system` as an `alert.fired` event before it moves on, and
//! hands it to its actions (standard error, [`webhook`]s). A ticker runs
//! the time-driven rules (`absence`, `integrity`) once a second, saves the
//! engine's state, and reloads the file when it changed (as SIGHUP does).
//!
//! Everything stays off the ack path: runners read what is already
//! durable, and a runner that falls behind only delays alerts.
//!
//! Restart: `<data>/rules/state.json` holds each log's evaluated position,
//! where its windows begin, the `_system` size when it was saved, and the
//! engine's saved state. At start the engine takes the state back, replays
//! each log from where its windows begin to its position (rebuilding them
//! without alerting), and treats the alerts already in `_system` past the
//! saved size as fired — so a restart neither loses nor repeats an alert.

pub mod record;
pub mod webhook;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::json;
use veritrail_core::Timestamp;
use veritrail_rules::engine::LogHealth;
use veritrail_rules::{
    Action, Alert, Engine, Health, Observed, RuleError, RuleSet, Saved, Webhook,
};
use veritrail_service::audit::{record_blocking, Actor, AuditRecord};
use veritrail_service::store::datadir::SYSTEM_LOG;
use veritrail_service::store::Log;
use veritrail_service::Service;

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct AlertStats {
    /// Events evaluated.
    pub evaluated: AtomicU64,
    /// Alerts recorded.
    pub fired: AtomicU64,
    /// Webhook deliveries that succeeded.
    pub delivered: AtomicU64,
    /// Webhook attempts that failed.
    pub delivery_failures: AtomicU64,
    /// Reloads refused (the old rules kept running).
    pub reload_failures: AtomicU64,
}

/// Where a webhook's thread takes new alerts: (`_system` index, record).
type Outbox = SyncSender<(u64, Vec<u8>)>;

/// The engine and each log's position, changed together.
struct Evaluation {
    engine: Engine,
    positions: BTreeMap<String, u64>,
    /// Alerts already in `_system` from before a restart, by key.
    already: HashSet<record::Key>,
    dirty: bool,
}

#[derive(Default, Serialize, Deserialize)]
struct StateFile {
    rules_version: String,
    positions: BTreeMap<String, u64>,
    rebuild_from: BTreeMap<String, u64>,
    system_size: u64,
    saved: Saved,
}

/// Shared by the runners, the ticker and the webhook threads.
pub struct Inner {
    pub(crate) service: Arc<Service>,
    path: PathBuf,
    state_path: PathBuf,
    eval: Mutex<Evaluation>,
    webhooks: RwLock<BTreeMap<String, Webhook>>,
    senders: Mutex<BTreeMap<String, Outbox>>,
    caught_up: Mutex<BTreeMap<String, bool>>,
    mtime: Mutex<Option<SystemTime>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    running: Mutex<HashSet<String>>,
    pub(crate) stop: AtomicBool,
    /// Per log, what is wrong with its copy in object storage.
    object_storage: Mutex<Option<ObjectStorageHealth>>,
    /// Per log, the size its witnesses' quorum cosigned.
    witnessed: Mutex<Option<WitnessedSize>>,
    /// Per log, its last review.
    reviewed: Mutex<Option<LastReview>>,
    /// Counters.
    pub stats: AlertStats,
}

/// Per log, what is wrong with its copy in object storage (for `integrity`
/// rules with `check = "object_storage"`).
pub type ObjectStorageHealth = Arc<dyn Fn() -> BTreeMap<String, String> + Send + Sync>;

/// Per log, the size its witnesses' quorum has cosigned (for `integrity`
/// rules with `check = "witness_lag"`).
pub type WitnessedSize = Arc<dyn Fn(&str) -> u64 + Send + Sync>;

/// Per log, its last review: entries reviewed up to, and when (Unix
/// nanoseconds; the server's start when never), for `integrity` rules with
/// `check = "not_reviewed"`.
pub type LastReview = Arc<dyn Fn(&str) -> (u64, i128) + Send + Sync>;

/// The alerting of a running server.
pub struct Alerts {
    inner: Arc<Inner>,
}

fn mtime(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// Reads and checks a rules file (a webhook's `secret_file` relative to it).
///
/// # Errors
/// The file cannot be read, or what [`RuleSet::parse`] finds.
pub fn load(path: &Path) -> Result<RuleSet, RuleError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| RuleError {
        file: name.clone(),
        line: 0,
        rule: None,
        message: format!("cannot read: {e}"),
    })?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    RuleSet::parse(&name, &text, &|f| {
        std::fs::read(dir.join(f))
            .map(|mut b| {
                while b.last().is_some_and(u8::is_ascii_whitespace) {
                    b.pop();
                }
                b
            })
            .map_err(|e| e.to_string())
    })
}

fn system_record(inner: &Inner, action: &str, metadata: serde_json::Value) {
    let rec = AuditRecord {
        action,
        actor: Actor::system(),
        app: "veritrail-server",
        target: None,
        metadata,
    };
    match inner.service.log(SYSTEM_LOG) {
        Ok(system) => {
            if let Err(e) = record_blocking(&system, &rec) {
                tracing::error!(error = %e, action, "could not record in _system");
            }
        }
        Err(e) => tracing::error!(error = %e, action, "no _system log"),
    }
}

impl Alerts {
    /// Loads the rules file, takes back the saved state, rebuilds the
    /// windows, and starts the runners, the ticker and the webhooks.
    ///
    /// # Errors
    /// The rules file's first problem; an unreadable state file.
    pub fn start(service: Arc<Service>, path: &Path) -> Result<Alerts, String> {
        let set = Arc::new(load(path).map_err(|e| e.to_string())?);
        let state_path = service.data().root().join("rules").join("state.json");
        let saved: StateFile = match std::fs::read(&state_path) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|e| format!("{}: not a rules state file: {e}", state_path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => StateFile::default(),
            Err(e) => return Err(format!("{}: {e}", state_path.display())),
        };
        let mut engine = Engine::new(set.clone());
        engine.restore(&saved.saved);
        let inner = Arc::new(Inner {
            service: service.clone(),
            path: path.to_path_buf(),
            state_path,
            eval: Mutex::new(Evaluation {
                engine,
                positions: BTreeMap::new(),
                already: HashSet::new(),
                dirty: true,
            }),
            webhooks: RwLock::new(set.webhooks.clone()),
            senders: Mutex::new(BTreeMap::new()),
            caught_up: Mutex::new(BTreeMap::new()),
            mtime: Mutex::new(mtime(path)),
            threads: Mutex::new(Vec::new()),
            running: Mutex::new(HashSet::new()),
            stop: AtomicBool::new(false),
            object_storage: Mutex::new(None),
            witnessed: Mutex::new(None),
            reviewed: Mutex::new(None),
            stats: AlertStats::default(),
        });
        // Where each log starts: its saved position, else its end now (a
        // rules file added to a running log watches what comes next).
        {
            let mut ev = inner.eval.lock().expect("eval lock");
            for (name, log) in service.logs() {
                let pos = saved
                    .positions
                    .get(&name)
                    .copied()
                    .unwrap_or_else(|| log.durable_size());
                if let Some(&from) = saved.rebuild_from.get(&name) {
                    replay(&mut ev.engine, &name, &log, from, pos);
                }
                ev.positions.insert(name, pos);
            }
            // Alerts recorded after the state was saved.
            if let Ok(system) = service.log(SYSTEM_LOG) {
                let end = system.durable_size();
                if saved.system_size < end {
                    let _ = system.wait_for_checkpoint(end, Duration::from_secs(10));
                    if let Ok(entries) = system.entries(saved.system_size, end - saved.system_size)
                    {
                        ev.already = entries
                            .iter()
                            .filter_map(|e| record::stored_key(e))
                            .collect();
                    }
                }
            }
        }
        system_record(
            &inner,
            "rules.loaded",
            json!({"file": path.display().to_string(), "rules_version": set.version, "rules": set.rules.iter().map(|r| r.name.clone()).collect::<Vec<_>>()}),
        );
        let alerts = Alerts { inner };
        alerts.start_webhooks();
        alerts.start_runners();
        let inner = alerts.inner.clone();
        let t = std::thread::Builder::new()
            .name("rules-ticker".into())
            .spawn(move || ticker(&inner))
            .expect("spawn the rules ticker");
        alerts.inner.threads.lock().expect("threads").push(t);
        Ok(alerts)
    }

    /// Where `integrity` rules with `check = "object_storage"` learn what
    /// is wrong with each log's copy in object storage.
    pub fn set_object_storage_health(&self, source: ObjectStorageHealth) {
        *self.inner.object_storage.lock().expect("health lock") = Some(source);
    }

    /// Where `integrity` rules with `check = "witness_lag"` learn what
    /// each log's witnesses have cosigned.
    pub fn set_witnessed_size(&self, source: WitnessedSize) {
        *self.inner.witnessed.lock().expect("health lock") = Some(source);
    }

    /// Where `integrity` rules with `check = "not_reviewed"` learn when
    /// each log was last reviewed.
    pub fn set_last_review(&self, source: LastReview) {
        *self.inner.reviewed.lock().expect("health lock") = Some(source);
    }

    /// Counters.
    pub fn stats(&self) -> &AlertStats {
        &self.inner.stats
    }

    /// The rules' version (SHA-256 of the file).
    pub fn version(&self) -> String {
        self.inner
            .eval
            .lock()
            .expect("eval lock")
            .engine
            .rules()
            .version
            .clone()
    }

    /// Each log's evaluated position (entries before it are evaluated).
    pub fn positions(&self) -> BTreeMap<String, u64> {
        self.inner.eval.lock().expect("eval lock").positions.clone()
    }

    fn start_webhooks(&self) {
        start_webhooks(&self.inner);
    }

    fn start_runners(&self) {
        start_runners(&self.inner);
    }

    /// Reads the rules file again (SIGHUP, or the file changed). A file
    /// with an error is refused — the old rules keep running — and the
    /// refusal is recorded in `_system`.
    ///
    /// # Errors
    /// The new file's first problem.
    pub fn reload(&self, why: &str) -> Result<String, RuleError> {
        reload(&self.inner, why)
    }

    /// Stops every thread and saves the state.
    pub fn stop(&self) {
        self.inner.stop.store(true, Ordering::Release);
        self.inner.senders.lock().expect("senders").clear();
        let threads = std::mem::take(&mut *self.inner.threads.lock().expect("threads"));
        for t in threads {
            let _ = t.join();
        }
        save(&self.inner);
    }
}

fn start_webhooks(inner: &Arc<Inner>) {
    let names: Vec<String> = inner
        .webhooks
        .read()
        .expect("webhooks")
        .keys()
        .cloned()
        .collect();
    let system_end = inner
        .service
        .log(SYSTEM_LOG)
        .map_or(0, |l| l.durable_size());
    for name in names {
        let mut senders = inner.senders.lock().expect("senders");
        if senders.contains_key(&name) {
            continue;
        }
        let (tx, rx) = sync_channel(10_000);
        senders.insert(name.clone(), tx);
        drop(senders);
        let i = inner.clone();
        let n = name.clone();
        let t = std::thread::Builder::new()
            .name(format!("webhook-{name}"))
            .spawn(move || webhook::run(i, n, rx, system_end))
            .expect("spawn a webhook thread");
        inner.threads.lock().expect("threads").push(t);
    }
}

fn start_runners(inner: &Arc<Inner>) {
    for (name, log) in inner.service.logs() {
        if !inner.running.lock().expect("running").insert(name.clone()) {
            continue;
        }
        {
            let mut ev = inner.eval.lock().expect("eval lock");
            let end = log.durable_size();
            ev.positions.entry(name.clone()).or_insert(end);
        }
        let i = inner.clone();
        let t = std::thread::Builder::new()
            .name(format!("rules-{name}"))
            .spawn(move || runner(&i, &name, &log))
            .expect("spawn a rules runner");
        inner.threads.lock().expect("threads").push(t);
    }
}

impl Inner {
    pub(crate) fn webhook(&self, name: &str) -> Option<Webhook> {
        self.webhooks.read().expect("webhooks").get(name).cloned()
    }
}

/// Replays `log` entries `from .. to` into the engine (windows only).
fn replay(engine: &mut Engine, name: &str, log: &Log, from: u64, to: u64) {
    if from >= to {
        return;
    }
    let _ = log.wait_for_checkpoint(to, Duration::from_secs(10));
    let mut sub = log.subscribe(from).with_chunk(10_000);
    while sub.position() < to {
        match sub.next(Duration::from_secs(1)) {
            Ok(Some(d)) => {
                for (index, e, leaf) in d.iter() {
                    if index >= to {
                        break;
                    }
                    engine.replay(Observed {
                        log: name,
                        index,
                        leaf_hash: leaf.0,
                        entry: e,
                    });
                }
            }
            Ok(None) => break,
            Err(e) => {
                tracing::error!(log = name, error = %e, "could not replay the log to rebuild the rules' windows");
                break;
            }
        }
    }
}

/// Records `alerts` in `_system` (durably, all of them in one append) and
/// hands them to their actions.
fn emit(inner: &Inner, ev: &mut Evaluation, alerts: Vec<Alert>) {
    let alerts: Vec<Alert> = alerts
        .into_iter()
        .filter(|a| !ev.already.remove(&a.key())) // recorded before a restart
        .collect();
    if alerts.is_empty() {
        return;
    }
    let Ok(system) = inner.service.log(SYSTEM_LOG) else {
        return;
    };
    let now = veritrail_service::audit::now();
    let entries: Vec<Vec<u8>> = alerts.iter().map(|a| record::alert_event(a, now)).collect();
    let first = loop {
        match system.append(&entries) {
            Ok(r) => break r.first_index,
            Err(e) => {
                // Nothing moves on until the alerts are evidence.
                tracing::error!(error = %e, alerts = alerts.len(), "could not record alerts in _system; retrying");
                if inner.stop.load(Ordering::Acquire) {
                    return;
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    };
    inner
        .stats
        .fired
        .fetch_add(alerts.len() as u64, Ordering::Relaxed);
    ev.dirty = true;
    for (k, (a, entry)) in alerts.iter().zip(entries).enumerate() {
        let index = first + k as u64;
        for action in &a.actions {
            match action {
                Action::Stderr => eprintln!(
                    "veritrail: ALERT [{}] {} (_system #{index})",
                    a.severity.as_str(),
                    a.summary
                ),
                Action::Webhook(n) => {
                    if let Some(tx) = inner.senders.lock().expect("senders").get(n) {
                        if tx.try_send((index, entry.clone())).is_err() {
                            // The thread catches up from _system after a restart.
                            tracing::warn!(webhook = %n, index, "webhook queue full; delivered from _system later");
                        }
                    }
                }
            }
        }
    }
}

/// The rule runners' nice value: below the ack path (so that a saturated
/// machine keeps acknowledging, and the rules fall behind instead), above
/// the query indexer (alerts are more urgent than queries).
pub const RULES_NICE: i32 = 5;

/// Entries a runner may be behind before the query indexers step aside.
const URGENT_BEHIND: u64 = 20_000;

/// Follows one log, evaluating every entry.
fn runner(inner: &Arc<Inner>, name: &str, log: &Arc<Log>) {
    let _ = rustix::process::setpriority_process(Some(rustix::thread::gettid()), RULES_NICE);
    let from = inner
        .eval
        .lock()
        .expect("eval lock")
        .positions
        .get(name)
        .copied()
        .unwrap_or(0);
    // Durable, not published: an alert need not wait for the checkpoint
    // interval (its record names the triggers' indices and leaf hashes; a
    // checkpoint covers them soon after, and proofs come from that).
    let mut sub = log.subscribe(from).with_chunk(20_000).durable();
    // Alerts are more urgent than queries: while this runner is more than
    // a chunk behind, the query indexers step aside (see
    // `veritrail_service::index::Urgent`), until it is nearly caught up.
    let mut urgent: Option<veritrail_service::index::UrgentGuard> = None;
    while !inner.stop.load(Ordering::Acquire) {
        match sub.next(Duration::from_millis(100)) {
            Ok(Some(d)) => {
                let mut ev = inner.eval.lock().expect("eval lock");
                let mut alerts = Vec::new();
                if ev.engine.watches(name) {
                    for (index, e, leaf) in d.iter() {
                        alerts.extend(ev.engine.observe(Observed {
                            log: name,
                            index,
                            leaf_hash: leaf.0,
                            entry: e,
                        }));
                    }
                }
                inner
                    .stats
                    .evaluated
                    .fetch_add(d.len() as u64, Ordering::Relaxed);
                emit(inner, &mut ev, alerts);
                ev.positions.insert(name.to_owned(), d.end());
                ev.dirty = true;
                let durable = log.durable_size();
                let caught = d.end() >= durable;
                drop(ev);
                let behind = durable.saturating_sub(d.end());
                if behind > URGENT_BEHIND && urgent.is_none() {
                    urgent = Some(inner.service.urgent().hold());
                } else if behind < URGENT_BEHIND / 4 {
                    urgent = None;
                }
                inner
                    .caught_up
                    .lock()
                    .expect("caught")
                    .insert(name.to_owned(), caught);
            }
            Ok(None) => {
                urgent = None;
                inner
                    .caught_up
                    .lock()
                    .expect("caught")
                    .insert(name.to_owned(), true);
            }
            Err(e) => {
                tracing::error!(log = name, error = %e, "the rules runner stopped: it cannot read the log");
                inner
                    .caught_up
                    .lock()
                    .expect("caught")
                    .insert(name.to_owned(), false);
                return;
            }
        }
    }
}

fn health(inner: &Inner) -> Health {
    let damaged: BTreeMap<String, String> = inner.service.damaged().into_iter().collect();
    let source = inner.object_storage.lock().expect("health lock").clone();
    let mut object_storage = source.map(|f| f()).unwrap_or_default();
    let witnessed = inner.witnessed.lock().expect("health lock").clone();
    let reviewed = inner.reviewed.lock().expect("health lock").clone();
    let mut logs: Vec<LogHealth> = inner
        .service
        .logs()
        .into_iter()
        .map(|(name, log)| LogHealth {
            durable: log.durable_size(),
            published: log.published().size,
            storage_error: log.poisoned().map(|e| e.to_string()),
            damaged: damaged.get(&name).cloned(),
            object_storage: object_storage.remove(&name),
            witnessed: witnessed.as_ref().map(|f| f(&name)),
            reviewed: reviewed.as_ref().map(|f| f(&name)),
            name,
        })
        .collect();
    for (name, why) in &damaged {
        if !logs.iter().any(|l| &l.name == name) {
            logs.push(LogHealth {
                name: name.clone(),
                damaged: Some(why.clone()),
                ..LogHealth::default()
            });
        }
    }
    let disk_free = rustix::fs::statvfs(inner.service.data().root())
        .ok()
        .map(|s| s.f_bavail.saturating_mul(s.f_frsize));
    Health { logs, disk_free }
}

fn ticker(inner: &Arc<Inner>) {
    let mut last_save = std::time::Instant::now();
    while !inner.stop.load(Ordering::Acquire) {
        std::thread::sleep(Duration::from_millis(250));
        let m = mtime(&inner.path);
        let changed = {
            let mut last = inner.mtime.lock().expect("mtime");
            let c = m.is_some() && *last != m;
            *last = m;
            c
        };
        if changed {
            let _ = reload(inner, "the file changed");
        }
        start_runners(inner);
        let all_caught = {
            let running = inner.running.lock().expect("running").clone();
            let caught = inner.caught_up.lock().expect("caught");
            running
                .iter()
                .all(|n| caught.get(n).copied().unwrap_or(false))
        };
        let h = health(inner);
        let now = i128::from(veritrail_service::store::now_nanos());
        let mut ev = inner.eval.lock().expect("eval lock");
        // Silences are timed on the log's clock against what was received:
        // only once every runner has caught up.
        let alerts = if all_caught {
            ev.engine.tick(now, &h)
        } else {
            Vec::new()
        };
        emit(inner, &mut ev, alerts);
        drop(ev);
        if last_save.elapsed() >= Duration::from_secs(1) {
            save(inner);
            last_save = std::time::Instant::now();
        }
    }
}

fn reload(inner: &Arc<Inner>, why: &str) -> Result<String, RuleError> {
    match load(&inner.path) {
        Ok(set) => {
            let set = Arc::new(set);
            let version = set.version.clone();
            {
                let mut ev = inner.eval.lock().expect("eval lock");
                if ev.engine.rules().version == version {
                    return Ok(version);
                }
                ev.engine.reload(set.clone());
                ev.dirty = true;
            }
            *inner.webhooks.write().expect("webhooks") = set.webhooks.clone();
            start_webhooks(inner);
            tracing::info!(version = %version, why, "rules reloaded");
            eprintln!(
                "veritrail: rules reloaded ({why}): {} rules, version {}",
                set.rules.len(),
                &version[..12]
            );
            system_record(
                inner,
                "rules.loaded",
                json!({"file": inner.path.display().to_string(), "rules_version": version, "rules": set.rules.iter().map(|r| r.name.clone()).collect::<Vec<_>>(), "reason": why}),
            );
            Ok(version)
        }
        Err(e) => {
            inner.stats.reload_failures.fetch_add(1, Ordering::Relaxed);
            eprintln!("veritrail: rules not reloaded ({why}), the old rules keep running: {e}");
            system_record(
                inner,
                "rules.reload_failed",
                json!({"file": inner.path.display().to_string(), "error": e.to_string(), "reason": why}),
            );
            Err(e)
        }
    }
}

/// Writes the state file ([`veritrail_service::durable::replace`]).
fn save(inner: &Inner) {
    let file = {
        let mut ev = inner.eval.lock().expect("eval lock");
        if !ev.dirty {
            return;
        }
        ev.dirty = false;
        let system_size = inner
            .service
            .log(SYSTEM_LOG)
            .map_or(0, |l| l.durable_size());
        StateFile {
            rules_version: ev.engine.rules().version.clone(),
            rebuild_from: ev
                .positions
                .keys()
                .filter_map(|l| ev.engine.rebuild_from(l).map(|i| (l.clone(), i)))
                .collect(),
            positions: ev.positions.clone(),
            system_size,
            saved: ev.engine.save(),
        }
    };
    let path = &inner.state_path;
    if let Err(e) =
        veritrail_service::durable::replace(path, &serde_json::to_vec(&file).expect("JSON"))
    {
        tracing::error!(error = %e, path = %path.display(), "could not save the rules' state");
    }
}

/// When an alert fired, for people: RFC 3339 of `ns`.
pub fn when(ns: i128) -> String {
    Timestamp::from_unix_nanos(ns).to_rfc3339_nanos()
}

//! The log asks witnesses (docs/TRUST.md "Witnesses"): a checkpoint
//! publishing step that sends each new checkpoint, with a consistency proof
//! from the size each witness last cosigned, to every configured witness
//! (C2SP `tlog-witness` `add-checkpoint`), checks the cosignatures it gets
//! back against the witnesses' keys, and keeps them in
//! `<data>/cosignatures/<log>/<size>` (written atomically). The served
//! checkpoints carry them, and a checkpoint is *witnessed* once at least
//! `quorum` witnesses cosigned it.
//!
//! Off the ack path: the step runs on the log's publishing thread; a witness
//! that is down is skipped (retried after 1 s, doubling to 60 s) and slows
//! nothing but its own cosignatures. A witness that answers 409 names the
//! size it last cosigned; the next request proves consistency from there.

use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use veritrail_core::note::{open_note, Verifier};
use veritrail_service::store::{PublishStep, Published};
use veritrail_service::Service;

/// A witness the log asks.
#[derive(Clone, Debug)]
pub struct WitnessPeer {
    /// Its verifier key (its name is the witness's name).
    pub key: Verifier,
    /// Its submission prefix: `<url>/add-checkpoint` is asked.
    pub url: String,
}

impl WitnessPeer {
    /// `VKEY@URL`.
    ///
    /// # Errors
    /// A message naming what is wrong.
    pub fn parse(s: &str) -> Result<WitnessPeer, String> {
        let (k, url) = s
            .rsplit_once('@')
            .ok_or_else(|| format!("witness {s:?} is not VKEY@URL"))?;
        let key = Verifier::parse(k).map_err(|e| format!("witness key {k:?}: {e}"))?;
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!("witness URL {url:?} is not http:// or https://"));
        }
        Ok(WitnessPeer {
            key,
            url: url.trim_end_matches('/').to_owned(),
        })
    }
}

/// What the log knows of one witness, for one log.
#[derive(Clone, Debug, Default)]
pub struct PeerState {
    /// The size the witness last cosigned (as far as the log knows).
    pub cosigned: u64,
    /// The last error, if the last attempt failed.
    pub last_error: Option<String>,
    next_try: Option<Instant>,
    backoff: Duration,
}

#[derive(Default)]
struct LogState {
    peers: Vec<PeerState>,
    /// The largest size at least `quorum` witnesses cosigned.
    witnessed: u64,
}

/// The witnesses, the quorum, and per log the witnessed size and what each
/// witness last cosigned.
pub type Status = (
    Vec<WitnessPeer>,
    usize,
    BTreeMap<String, (u64, Vec<PeerState>)>,
);

/// The witnesses of a server, for every log.
pub struct Witnessing {
    service: Arc<Service>,
    peers: Vec<WitnessPeer>,
    quorum: usize,
    state: Mutex<BTreeMap<String, LogState>>,
    cv: Condvar,
    agent: ureq::Agent,
    /// One round of requests per log at a time (the publishing step and the
    /// retry thread both send them).
    busy: Mutex<BTreeMap<String, Arc<Mutex<()>>>>,
}

pub use veritrail_service::kept::{cosignatures, cosignatures_path};

impl Witnessing {
    /// Witnessing by `peers` with `quorum` of them needed.
    pub fn new(service: Arc<Service>, peers: Vec<WitnessPeer>, quorum: usize) -> Arc<Witnessing> {
        Arc::new(Witnessing {
            service,
            peers,
            quorum,
            state: Mutex::new(BTreeMap::new()),
            cv: Condvar::new(),
            agent: ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(5))
                .build(),
            busy: Mutex::new(BTreeMap::new()),
        })
    }

    /// Adds the witnessing step to every open log, and starts the thread
    /// that retries witnesses which failed (a quiet log publishes no new
    /// checkpoint to retry with).
    pub fn attach(self: &Arc<Witnessing>) {
        for (_, log) in self.service.logs() {
            log.add_publish_step(Arc::new(Step(self.clone())));
        }
        let weak = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("veritrail-witness-retry".into())
            .spawn(move || loop {
                std::thread::sleep(Duration::from_millis(500));
                let Some(w) = weak.upgrade() else { return };
                w.retry_due();
            })
            .expect("spawning the witness retry thread");
    }

    /// Asks again, for each log's latest checkpoint, the witnesses that
    /// have not cosigned it and whose backoff has passed.
    fn retry_due(&self) {
        let now = Instant::now();
        for (name, log) in self.service.logs() {
            let p = log.published();
            let due = {
                let s = self.state.lock().expect("witness state");
                s.get(&name).is_some_and(|st| {
                    st.peers
                        .iter()
                        .any(|x| x.cosigned < p.size && x.next_try.is_some_and(|t| now >= t))
                })
            };
            if due {
                if let Err(e) = self.publish(&name, &p) {
                    tracing::debug!(log = %name, error = %e, "retrying witnesses failed");
                }
            }
        }
    }

    /// Ends every backoff: the next retry round asks every witness that
    /// has not cosigned the latest checkpoints (the server is stopping).
    pub fn retry_now(&self) {
        let mut s = self.state.lock().expect("witness state");
        for st in s.values_mut() {
            for x in &mut st.peers {
                if x.next_try.is_some() {
                    x.next_try = Some(Instant::now());
                }
            }
        }
    }

    /// Adds the witnessing step to one log (created while serving).
    pub fn attach_log(self: &Arc<Witnessing>, name: &str) {
        if let Ok(log) = self.service.log(name) {
            log.add_publish_step(Arc::new(Step(self.clone())));
        }
    }

    /// The witnesses, and per log what each last cosigned.
    pub fn status(&self) -> Status {
        let s = self.state.lock().expect("witness state");
        (
            self.peers.clone(),
            self.quorum,
            s.iter()
                .map(|(l, st)| (l.clone(), (st.witnessed, st.peers.clone())))
                .collect(),
        )
    }

    /// The largest witnessed size of `log`.
    pub fn witnessed(&self, log: &str) -> u64 {
        self.state
            .lock()
            .expect("witness state")
            .get(log)
            .map_or(0, |s| s.witnessed)
    }

    /// Waits until a checkpoint of at least `size` entries of `log` is
    /// witnessed; returns its size, or `None` on timeout.
    pub fn wait(&self, log: &str, size: u64, timeout: Duration) -> Option<u64> {
        let deadline = Instant::now() + timeout;
        let mut s = self.state.lock().expect("witness state");
        loop {
            let w = s.get(log).map_or(0, |x| x.witnessed);
            if w >= size {
                return Some(w);
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            s = self
                .cv
                .wait_timeout(s, deadline - now)
                .expect("witness state")
                .0;
        }
    }

    /// Asks one witness to cosign `p`; returns its verified cosignature line.
    fn ask(&self, log: &str, k: usize, p: &Published) -> Result<String, String> {
        let peer = &self.peers[k];
        let reader = self.service.log(log).map_err(|e| e.to_string())?;
        let mut old = {
            let s = self.state.lock().expect("witness state");
            s.get(log).map_or(0, |x| x.peers[k].cosigned)
        };
        for _ in 0..2 {
            if old > p.size {
                return Err(format!(
                    "the witness has cosigned size {old}, beyond this checkpoint ({})",
                    p.size
                ));
            }
            let proof = if old == 0 || old == p.size {
                Vec::new()
            } else {
                reader
                    .prove_consistency(old, p.size)
                    .map_err(|e| e.to_string())?
            };
            let req = veritrail_witness::AddCheckpoint {
                old,
                proof,
                note: p.checkpoint.to_string(),
            };
            let url = format!("{}/add-checkpoint", peer.url);
            match self.agent.post(&url).send_string(&req.to_body()) {
                Ok(r) => {
                    let body = r.into_string().map_err(|e| e.to_string())?;
                    // The lines that verify with the witness's key.
                    let signed = format!("{}{body}", p.checkpoint);
                    let opened = open_note(signed.as_bytes(), std::slice::from_ref(&peer.key))
                        .map_err(|e| format!("its answer has no valid cosignature: {e}"))?;
                    let line = body
                        .lines()
                        .find(|l| {
                            opened
                                .verified
                                .iter()
                                .any(|v| l.starts_with(&format!("\u{2014} {} ", v.name)))
                        })
                        .ok_or("its answer has no cosignature line")?;
                    return Ok(format!("{line}\n"));
                }
                Err(ureq::Error::Status(409, r)) => {
                    let text = r.into_string().unwrap_or_default();
                    match text.trim().parse::<u64>() {
                        Ok(n) => {
                            // It names the size it cosigned: prove from there.
                            old = n;
                            let mut s = self.state.lock().expect("witness state");
                            if let Some(x) = s.get_mut(log) {
                                x.peers[k].cosigned = n;
                            }
                        }
                        Err(_) => return Err(format!("answered 409: {}", text.trim())),
                    }
                }
                Err(ureq::Error::Status(code, r)) => {
                    return Err(format!(
                        "answered {code}: {}",
                        r.into_string().unwrap_or_default().trim()
                    ))
                }
                Err(e) => return Err(e.to_string()),
            }
        }
        Err("the witness's size kept changing".into())
    }

    fn publish(&self, log: &str, p: &Published) -> Result<(), String> {
        let busy = self
            .busy
            .lock()
            .expect("witness busy")
            .entry(log.to_owned())
            .or_default()
            .clone();
        let _one_round = busy.lock().expect("witness round");
        {
            let mut s = self.state.lock().expect("witness state");
            let st = s.entry(log.to_owned()).or_default();
            st.peers.resize(self.peers.len(), PeerState::default());
        }
        let now = Instant::now();
        let due: Vec<usize> = {
            let s = self.state.lock().expect("witness state");
            let st = &s[log];
            (0..self.peers.len())
                .filter(|&k| {
                    st.peers[k].next_try.is_none_or(|t| now >= t) && st.peers[k].cosigned != p.size
                })
                .collect()
        };
        let answers: Vec<(usize, Result<String, String>)> = std::thread::scope(|sc| {
            let hs: Vec<_> = due
                .iter()
                .map(|&k| (k, sc.spawn(move || self.ask(log, k, p))))
                .collect();
            hs.into_iter()
                .map(|(k, h)| {
                    (
                        k,
                        h.join()
                            .unwrap_or_else(|_| Err("the request panicked".into())),
                    )
                })
                .collect()
        });
        let root = self.service.data().root().to_path_buf();
        let path = cosignatures_path(&root, log, p.size);
        let mut lines = cosignatures(&root, log, p.size);
        let mut errors = Vec::new();
        let mut s = self.state.lock().expect("witness state");
        let st = s.get_mut(log).expect("present");
        for (k, a) in answers {
            let ps = &mut st.peers[k];
            match a {
                Ok(line) => {
                    ps.cosigned = p.size;
                    ps.last_error = None;
                    ps.next_try = None;
                    ps.backoff = Duration::ZERO;
                    if !lines.contains(&line) {
                        lines.push_str(&line);
                    }
                }
                Err(e) => {
                    ps.backoff =
                        (ps.backoff * 2).clamp(Duration::from_secs(1), Duration::from_secs(60));
                    ps.next_try = Some(Instant::now() + ps.backoff);
                    errors.push(format!("{}: {e}", self.peers[k].key.name()));
                    ps.last_error = Some(e);
                }
            }
        }
        let count = st.peers.iter().filter(|x| x.cosigned == p.size).count();
        drop(s);
        if !lines.is_empty() {
            veritrail_service::durable::replace(&path, lines.as_bytes())
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
        if count >= self.quorum {
            let mut s = self.state.lock().expect("witness state");
            let st = s.get_mut(log).expect("present");
            st.witnessed = st.witnessed.max(p.size);
            drop(s);
            self.cv.notify_all();
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }
}

struct Step(Arc<Witnessing>);

impl PublishStep for Step {
    fn name(&self) -> &str {
        "witness"
    }

    fn publish(
        &self,
        log: &str,
        checkpoint: &Published,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.0.publish(log, checkpoint).map_err(Into::into)
    }
}

//! `veritrail monitor`: follows a log's signed checkpoints through its
//! tlog-tiles API. Each new checkpoint must verify and be consistent with the
//! previous one; with --verify-entries every new entry is fetched and matched
//! against authenticated hash tiles. Alerts go to stderr and, optionally, a
//! webhook; a broken log ends the monitor with exit code 1.

use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use veritrail_core::checkpoint::Checkpoint;
use veritrail_core::compact::hash_leaves;
use veritrail_core::note::Verifier;
use veritrail_core::tile::{parse_entry_bundle, tile_width, Tile, TileHashReader};

use veritrail_core::note::policy::{PolicyError, WitnessPolicy};

use super::remote::{Remote, RemoteError};
use super::remote_verify::{check_extends, fetch_checkpoint, read_trust, write_atomic, Relation};
use crate::args::MonitorArgs;
use crate::exit::Exit;

/// Kinds of alerts; the first three mean the log cannot be trusted.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Alert {
    Inconsistent,
    BadSignature,
    BadEntry,
    Stale,
    Unreachable,
    /// A policy witness's cosignature line does not verify.
    BadCosignature,
    /// A timestamp token served for a checkpoint does not verify.
    BadTimestamp,
    /// No checkpoint meeting the witness policy for longer than the grace.
    NotWitnessed,
}

impl Alert {
    fn name(self) -> &'static str {
        match self {
            Alert::Inconsistent => "inconsistent",
            Alert::BadSignature => "bad_signature",
            Alert::BadEntry => "bad_entry",
            Alert::Stale => "stale",
            Alert::Unreachable => "unreachable",
            Alert::BadCosignature => "bad_cosignature",
            Alert::BadTimestamp => "bad_timestamp",
            Alert::NotWitnessed => "not_witnessed",
        }
    }
    fn fatal(self) -> bool {
        matches!(
            self,
            Alert::Inconsistent
                | Alert::BadSignature
                | Alert::BadEntry
                | Alert::BadCosignature
                | Alert::BadTimestamp
        )
    }
}

fn now() -> String {
    super::append::now().to_rfc3339_nanos()
}

struct Monitor<'a> {
    o: &'a MonitorArgs,
    remote: Remote,
    key: Verifier,
    policy: Option<WitnessPolicy>,
    /// How long the served checkpoint may go without meeting the policy.
    witness_grace: Duration,
    tsa_roots: Option<Vec<veritrail_timestamp::Certificate>>,
}

/// Where the witness and timestamp checks stand across polls.
struct Trust {
    /// When a checkpoint meeting the policy was last seen.
    witnessed_at: Instant,
    /// The largest size seen meeting the policy.
    witnessed_size: Option<u64>,
    not_witnessed_reported: bool,
}

/// The checkpoint note as the log signed it: `text` without the
/// cosignature lines a server appends (what timestamps cover).
fn log_note(text: &str, key: &Verifier) -> String {
    let Some((body, sigs)) = text.split_once("\n\n") else {
        return text.to_owned();
    };
    let prefix = format!("\u{2014} {} ", key.name());
    let mut out = format!("{body}\n\n");
    for l in sigs.lines().filter(|l| l.starts_with(&prefix)) {
        out.push_str(l);
        out.push('\n');
    }
    out
}

impl Monitor<'_> {
    fn alert(&self, kind: Alert, message: &str, checkpoint: Option<&str>) {
        eprintln!(
            "{} veritrail monitor: ALERT {}: {message}",
            now(),
            kind.name()
        );
        if let Some(url) = &self.o.webhook {
            let body = serde_json::json!({
                "alert": kind.name(),
                "fatal": kind.fatal(),
                "server": self.remote.server(),
                "log": self.o.log,
                "message": message,
                "checkpoint": checkpoint,
                "time": now(),
            });
            if let Err(e) = super::remote::post_json(url, &body) {
                eprintln!(
                    "{} veritrail monitor: warning: webhook {url} failed: {e}",
                    now()
                );
            }
        }
    }

    /// Every entry from `old` to `new` size, matched against level-0 hash
    /// tiles authenticated against the new root.
    fn verify_new_entries(&self, old: u64, new: &Checkpoint) -> anyhow::Result<()> {
        let reader = TileHashReader::new(new.size, new.root, &self.remote);
        let first = old / 256;
        let last = (new.size.0 - 1) / 256;
        let tiles: Vec<Tile> = (first..=last)
            .map(|t| Tile::hash(0, t, tile_width(0, t, new.size).expect("tile in tree")))
            .collect();
        for chunk in tiles.chunks(64) {
            let verified = reader.read_verified(chunk).map_err(|e| {
                Exit::verify(format!(
                    "hash tiles do not match the signed checkpoint: {e}"
                ))
            })?;
            for t in chunk {
                let bundle = self.remote.tile(&Tile::entries(t.index, t.width))?;
                let entries = parse_entry_bundle(&bundle, Some(usize::from(t.width)))
                    .map_err(|e| Exit::verify(format!("entry bundle {}: {e}", t.index)))?;
                let leaves = hash_leaves(&entries);
                let want = &verified[t];
                if let Some(k) = (0..leaves.len()).find(|k| leaves[*k] != want[*k]) {
                    return Err(Exit::verify(format!(
                        "entry {} served by the log is not the entry its checkpoint commits to",
                        t.index * 256 + k as u64
                    )));
                }
            }
        }
        Ok(())
    }

    /// The witness policy and timestamp checks of a new checkpoint.
    fn check_trust(&self, text: &str, cp: &Checkpoint, t: &mut Trust) -> Option<Alert> {
        if let Some(p) = &self.policy {
            match p.check(text.as_bytes()) {
                Ok(by) => {
                    if t.witnessed_size != Some(cp.size.0) {
                        println!(
                            "{} tree size {} cosigned by {}",
                            now(),
                            cp.size.0,
                            by.join(", ")
                        );
                    }
                    if t.not_witnessed_reported {
                        eprintln!(
                            "{} veritrail monitor: checkpoints are witnessed again",
                            now()
                        );
                    }
                    t.witnessed_at = Instant::now();
                    t.witnessed_size = Some(cp.size.0);
                    t.not_witnessed_reported = false;
                }
                Err(PolicyError::TooFew { .. })
                    if t.witnessed_at.elapsed() <= self.witness_grace => {}
                Err(e @ PolicyError::TooFew { .. }) => {
                    if !t.not_witnessed_reported || self.o.once {
                        self.alert(
                            Alert::NotWitnessed,
                            &format!(
                                "no checkpoint meeting the witness policy for {}s (the last was size {}): tree size {}: {e}",
                                t.witnessed_at.elapsed().as_secs(),
                                t.witnessed_size.map_or("none".into(), |s| s.to_string()),
                                cp.size.0
                            ),
                            Some(text),
                        );
                        t.not_witnessed_reported = true;
                    }
                    return Some(Alert::NotWitnessed);
                }
                Err(e) => {
                    self.alert(
                        Alert::BadCosignature,
                        &format!("tree size {}: {e}", cp.size.0),
                        Some(text),
                    );
                    return Some(Alert::BadCosignature);
                }
            }
        }
        if let Some(roots) = &self.tsa_roots {
            match self.remote.get(&format!("timestamps/{}", cp.size.0), &[]) {
                Ok(token) => {
                    let note = log_note(text, &self.key);
                    match veritrail_timestamp::verify(&token, note.as_bytes(), None, roots) {
                        Ok(st) => println!(
                            "{} tree size {} timestamped {} by {}",
                            now(),
                            cp.size.0,
                            veritrail_core::Timestamp::from_unix_nanos(
                                i128::from(st.time) * 1_000_000_000
                            )
                            .to_rfc3339_nanos(),
                            st.tsa
                        ),
                        Err(e) => {
                            self.alert(
                                Alert::BadTimestamp,
                                &format!("the timestamp token for tree size {}: {e}", cp.size.0),
                                Some(text),
                            );
                            return Some(Alert::BadTimestamp);
                        }
                    }
                }
                // Tokens are taken at most once per interval: not every
                // checkpoint has one.
                Err(RemoteError::NotFound(_)) => {}
                Err(e) => {
                    self.alert(Alert::Unreachable, &e.to_string(), Some(text));
                    return Some(Alert::Unreachable);
                }
            }
        }
        None
    }

    /// One poll. Returns the alert raised, if any.
    fn poll(
        &self,
        last: &mut Option<(String, Checkpoint)>,
        last_change: &mut Instant,
        stale_reported: &mut bool,
        trust: &mut Trust,
    ) -> Option<Alert> {
        let (text, cp) = match fetch_checkpoint(&self.remote, &self.key) {
            Ok(x) => x,
            Err(e) => {
                let kind = if e.downcast_ref::<Exit>().is_some() {
                    Alert::BadSignature
                } else {
                    Alert::Unreachable
                };
                self.alert(kind, &format!("{e:#}"), None);
                return Some(kind);
            }
        };
        let Some((_, old)) = last.as_ref() else {
            println!(
                "{} following {} at tree size {} root {}",
                now(),
                cp.origin,
                cp.size.0,
                cp.root.to_base64()
            );
            let alert = self.check_trust(&text, &cp, trust);
            if alert.is_some_and(Alert::fatal) {
                return alert;
            }
            self.keep(&text);
            *last = Some((text, cp));
            *last_change = Instant::now();
            return alert;
        };
        match check_extends(&self.remote, old, &cp) {
            Ok(Relation::Same) => {
                // Cosignatures may arrive for a checkpoint already seen.
                if let Some(a) = self.check_trust(&text, &cp, trust) {
                    return Some(a);
                }
                let max_age = self
                    .o
                    .max_age
                    .as_deref()
                    .and_then(super::token::parse_duration);
                if let Some(max) = max_age {
                    let age = last_change.elapsed();
                    if age > Duration::from_secs(max) {
                        if !*stale_reported || self.o.once {
                            self.alert(
                                Alert::Stale,
                                &format!(
                                    "the log has not advanced for {}s (tree size {}): it may have stopped accepting events",
                                    age.as_secs(),
                                    cp.size.0
                                ),
                                Some(&text),
                            );
                            *stale_reported = true;
                        }
                        return Some(Alert::Stale);
                    }
                }
                None
            }
            Ok(Relation::Extended) => {
                if self.o.verify_entries {
                    if let Err(e) = self.verify_new_entries(old.size.0, &cp) {
                        let kind = if e.downcast_ref::<Exit>().is_some() {
                            Alert::BadEntry
                        } else {
                            Alert::Unreachable
                        };
                        self.alert(kind, &format!("{e:#}"), Some(&text));
                        return Some(kind);
                    }
                }
                println!(
                    "{} tree size {} root {}: consistent with size {} (+{} entries{})",
                    now(),
                    cp.size.0,
                    cp.root.to_base64(),
                    old.size.0,
                    cp.size.0 - old.size.0,
                    if self.o.verify_entries {
                        ", each verified"
                    } else {
                        ""
                    }
                );
                if *stale_reported {
                    eprintln!("{} veritrail monitor: the log is advancing again", now());
                    *stale_reported = false;
                }
                let alert = self.check_trust(&text, &cp, trust);
                if alert.is_some_and(Alert::fatal) {
                    return alert;
                }
                self.keep(&text);
                *last = Some((text, cp));
                *last_change = Instant::now();
                alert
            }
            Err(e) => {
                let kind = if e.downcast_ref::<Exit>().is_some() {
                    Alert::Inconsistent
                } else {
                    Alert::Unreachable
                };
                self.alert(kind, &format!("{e:#}"), Some(&text));
                Some(kind)
            }
        }
    }

    fn keep(&self, text: &str) {
        if let Some(t) = &self.o.trust {
            if let Err(e) = write_atomic(t, text.as_bytes()) {
                eprintln!(
                    "{} veritrail monitor: warning: cannot write {}: {e:#}",
                    now(),
                    t.display()
                );
            }
        }
    }
}

pub fn run(o: &MonitorArgs) -> anyhow::Result<ExitCode> {
    let key = Verifier::parse(&o.key).map_err(|e| Exit::usage(format!("--key: {e}")))?;
    let interval = super::token::parse_duration(&o.interval).ok_or_else(|| {
        Exit::usage(format!(
            "--interval {:?}: expected e.g. 10s, 1m",
            o.interval
        ))
    })?;
    if let Some(m) = &o.max_age {
        super::token::parse_duration(m)
            .ok_or_else(|| Exit::usage(format!("--max-age {m:?}: expected e.g. 5m, 1h")))?;
    }
    let remote = Remote::pick(
        o.server.as_deref(),
        o.tiles.as_deref(),
        &o.log,
        o.token.clone(),
    )?;
    let policy = super::verify::policy(&o.policy)?;
    if let Some(p) = &policy {
        if !p.accepts_log(&key) {
            return Err(Exit::usage(format!(
                "--key {}: not one of the logs the witness policy lists",
                key.to_vkey()
            )));
        }
    }
    let witness_grace = super::token::parse_duration(&o.witness_grace).ok_or_else(|| {
        Exit::usage(format!(
            "--witness-grace {:?}: expected e.g. 30s, 5m",
            o.witness_grace
        ))
    })?;
    let tsa_roots = o
        .tsa_root
        .as_deref()
        .map(super::verify::tsa_roots)
        .transpose()?;
    let m = Monitor {
        o,
        remote,
        key,
        policy,
        witness_grace: Duration::from_secs(if o.once { 0 } else { witness_grace }),
        tsa_roots,
    };
    // A trust file carries the last good checkpoint across runs; its
    // modification time is when the log was last seen to change.
    let mut last = None;
    let mut last_change = Instant::now();
    if let Some(t) = &o.trust {
        if let Some(cp) = read_trust(t, &m.key)? {
            let text = std::fs::read_to_string(t)?;
            if let Ok(age) = std::fs::metadata(t)
                .and_then(|md| md.modified())
                .map(|mt| SystemTime::now().duration_since(mt).unwrap_or_default())
            {
                last_change = Instant::now().checked_sub(age).unwrap_or_else(Instant::now);
            }
            last = Some((text, cp));
        }
    }
    let mut stale_reported = false;
    let mut trust = Trust {
        witnessed_at: Instant::now(),
        witnessed_size: None,
        not_witnessed_reported: false,
    };
    loop {
        let alert = m.poll(&mut last, &mut last_change, &mut stale_reported, &mut trust);
        match alert {
            Some(a) if a.fatal() => return Ok(ExitCode::from(crate::exit::VERIFY_FAILED)),
            Some(_) if o.once => return Ok(ExitCode::from(crate::exit::VERIFY_FAILED)),
            _ if o.once => return Ok(ExitCode::SUCCESS),
            _ => {}
        }
        std::thread::sleep(Duration::from_secs(interval));
    }
}

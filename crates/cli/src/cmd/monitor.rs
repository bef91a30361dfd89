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

use super::remote::Remote;
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
}

impl Alert {
    fn name(self) -> &'static str {
        match self {
            Alert::Inconsistent => "inconsistent",
            Alert::BadSignature => "bad_signature",
            Alert::BadEntry => "bad_entry",
            Alert::Stale => "stale",
            Alert::Unreachable => "unreachable",
        }
    }
    fn fatal(self) -> bool {
        matches!(
            self,
            Alert::Inconsistent | Alert::BadSignature | Alert::BadEntry
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

    /// One poll. Returns the alert raised, if any.
    fn poll(
        &self,
        last: &mut Option<(String, Checkpoint)>,
        last_change: &mut Instant,
        stale_reported: &mut bool,
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
            self.keep(&text);
            *last = Some((text, cp));
            *last_change = Instant::now();
            return None;
        };
        match check_extends(&self.remote, old, &cp) {
            Ok(Relation::Same) => {
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
                self.keep(&text);
                *last = Some((text, cp));
                *last_change = Instant::now();
                None
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
    let m = Monitor { o, remote, key };
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
    loop {
        let alert = m.poll(&mut last, &mut last_change, &mut stale_reported);
        match alert {
            Some(a) if a.fatal() => return Ok(ExitCode::from(crate::exit::VERIFY_FAILED)),
            Some(_) if o.once => return Ok(ExitCode::from(crate::exit::VERIFY_FAILED)),
            _ if o.once => return Ok(ExitCode::SUCCESS),
            _ => {}
        }
        std::thread::sleep(Duration::from_secs(interval));
    }
}

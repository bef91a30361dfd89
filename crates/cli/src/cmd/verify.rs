//! `veritrail verify`: every log of a data directory (`_system` included),
//! or the one named with `--log`; each is named in its own result line, and
//! the exit code is 1 if any fails.

use std::process::ExitCode;

use veritrail_core::note::policy::WitnessPolicy;
use veritrail_core::note::Verifier;
use veritrail_store::lifecycle::Event;
use veritrail_store::verify::verify_log;
use veritrail_store::DataDir;

use super::{open_data, store_err};
use crate::exit::Exit;

/// The witness policy of `--witness VKEY… --quorum K` or
/// `--witness-policy FILE` (none without either).
///
/// # Errors
/// A bad key, quorum or policy file.
pub fn policy(args: &crate::args::PolicyArgs) -> anyhow::Result<Option<WitnessPolicy>> {
    if let Some(path) = &args.witness_policy {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Exit::usage(format!("--witness-policy {}: {e}", path.display())))?;
        let p = WitnessPolicy::parse(&text)
            .map_err(|e| Exit::usage(format!("--witness-policy {}: {e}", path.display())))?;
        return Ok(Some(p));
    }
    if args.witness.is_empty() {
        if args.quorum.is_some() {
            return Err(Exit::usage("--quorum needs --witness keys"));
        }
        return Ok(None);
    }
    let witnesses = args
        .witness
        .iter()
        .map(|k| Verifier::parse(k).map_err(|e| Exit::usage(format!("--witness {k:?}: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let quorum = args.quorum.unwrap_or(witnesses.len());
    WitnessPolicy::threshold(witnesses, quorum)
        .map(Some)
        .map_err(|e| Exit::usage(format!("--witness/--quorum: {e}")))
}

/// The root certificates of `--tsa-root FILE` (PEM).
///
/// # Errors
/// An unreadable file or one without a certificate.
pub fn tsa_roots(p: &std::path::Path) -> anyhow::Result<Vec<veritrail_timestamp::Certificate>> {
    let pem =
        std::fs::read(p).map_err(|e| Exit::usage(format!("--tsa-root {}: {e}", p.display())))?;
    veritrail_timestamp::roots_from_pem(&pem)
        .map_err(|e| Exit::usage(format!("--tsa-root {}: {e}", p.display())))
}

/// Checks the cosignatures kept for log `name`: every kept cosignature
/// verifies (the first checkpoint whose do not is named), and the latest
/// checkpoint (`latest`) meets the policy.
fn witnessed(
    dd: &DataDir,
    name: &str,
    latest: u64,
    policy: &WitnessPolicy,
) -> Result<String, String> {
    let reader = dd.open_log_read(name).map_err(|e| e.to_string())?;
    let sizes = veritrail_service::kept::cosigned_sizes(dd.root(), name);
    for size in &sizes {
        let lines = veritrail_service::kept::cosignatures(dd.root(), name, *size);
        let Some(note) = reader.checkpoint_at(*size).map_err(|e| e.to_string())? else {
            return Err(format!("checkpoint {size}: the witnesses cosigned a checkpoint of this size, but the log has none: its checkpoint history was rewritten"));
        };
        policy
            .check_valid(format!("{note}{lines}").as_bytes())
            .map_err(|e| format!("checkpoint {size}: {e}: the log's history is not the one the witnesses cosigned"))?;
    }
    let note = reader
        .checkpoint_at(latest)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no checkpoint at size {latest}"))?;
    let lines = veritrail_service::kept::cosignatures(dd.root(), name, latest);
    let ok = policy
        .check_log(reader.verifier(), format!("{note}{lines}").as_bytes())
        .map_err(|e| format!("latest checkpoint {latest} is not witnessed: {e}"))?;
    Ok(format!(
        "latest checkpoint {latest} cosigned by {} (policy: {})",
        ok.join(", "),
        policy.describe()
    ))
}

/// Checks every RFC 3161 token kept for log `name` against the checkpoint
/// of its size and the roots; names the first that fails.
fn timestamps(
    dd: &DataDir,
    name: &str,
    roots: &[veritrail_timestamp::Certificate],
) -> Result<String, String> {
    let reader = dd.open_log_read(name).map_err(|e| e.to_string())?;
    let sizes = veritrail_service::kept::timestamp_sizes(dd.root(), name);
    let mut newest = None;
    for size in &sizes {
        let token = veritrail_service::kept::timestamp(dd.root(), name, *size)
            .map_err(|e| e.to_string())?;
        let note = reader
            .checkpoint_at(*size)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| {
                format!("timestamp for size {size}: the log has no checkpoint of that size")
            })?;
        let s = veritrail_timestamp::verify(&token, note.as_bytes(), None, roots)
            .map_err(|e| format!("timestamp for checkpoint {size}: {e}"))?;
        newest = Some((*size, s));
    }
    Ok(match newest {
        Some((size, s)) => format!(
            "{} timestamp tokens verified; the newest, for checkpoint {size}, says {} ({})",
            sizes.len(),
            veritrail_core::Timestamp::from_unix_nanos(i128::from(s.time) * 1_000_000_000)
                .to_rfc3339_nanos(),
            s.tsa
        ),
        None => "no timestamp tokens kept".into(),
    })
}

pub fn run(
    data: &std::path::Path,
    log: Option<&str>,
    quiet: bool,
    key: Option<&str>,
    policy: Option<&WitnessPolicy>,
    tsa_root: Option<&std::path::Path>,
) -> anyhow::Result<ExitCode> {
    let dd = open_data(data)?;
    let tsa_roots = tsa_root.map(tsa_roots).transpose()?;
    let key = key
        .map(|k| Verifier::parse(k).map_err(|e| Exit::usage(format!("--key: {e}"))))
        .transpose()?;
    let names = match log {
        Some(l) => vec![l.to_owned()],
        None => dd.list_logs().map_err(store_err)?,
    };
    // Without --log, a pinned key is the key of the log whose origin it
    // names, or else of `default` (which it then fails to match).
    let pinned_log = match (&key, log) {
        (Some(k), None) => Some(
            names
                .iter()
                .find(|n| dd.meta(n).is_ok_and(|m| m.origin == k.name()))
                .cloned()
                .unwrap_or_else(|| veritrail_store::datadir::DEFAULT_LOG.to_owned()),
        ),
        (Some(_), Some(l)) => Some(l.to_owned()),
        _ => None,
    };
    let mut failed = Vec::new();
    let mut record = Record {
        started: Some(veritrail_service::audit::now()),
        ..Record::default()
    };
    if log.is_none() {
        match dd.check_small_files() {
            Ok(notes) => {
                for n in notes {
                    if !quiet {
                        eprintln!("veritrail: note: {n}");
                    }
                }
            }
            Err(e) => {
                println!("FAILED: {e}");
                record.result("(data directory files)", false, e.to_string());
                failed.push("(data directory files)".to_owned());
            }
        }
    }
    for name in &names {
        let pinned = key
            .as_ref()
            .filter(|_| pinned_log.as_deref() == Some(name.as_str()));
        match one(&dd, name, quiet, pinned) {
            Err(e) => match e.downcast_ref::<Exit>() {
                Some(x) if x.code == 1 => {
                    println!("FAILED: log {name:?}: {}", x.message);
                    record.result(name, false, x.message.clone());
                    failed.push(name.clone());
                }
                _ => return Err(e),
            },
            Ok((latest, line)) => {
                println!("OK: log {name:?} {line}");
                record.result(name, true, line);
                record.sizes.insert(name.clone(), latest);
                let extra = [
                    tsa_roots.as_ref().map(|roots| timestamps(&dd, name, roots)),
                    policy.map(|p| witnessed(&dd, name, latest, p)),
                ];
                for r in extra.into_iter().flatten() {
                    match r {
                        Ok(m) => {
                            println!("OK: log {name:?}: {m}");
                            record.result(name, true, m);
                        }
                        Err(m) => {
                            println!("FAILED: log {name:?}: {m}");
                            record.result(name, false, m);
                            failed.push(name.clone());
                        }
                    }
                }
            }
        }
    }
    record.save(&dd, log, key.is_some(), quiet);
    if failed.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        Err(Exit::verify(format!(
            "{} of {} checked failed: {}",
            failed.len(),
            names.len() + usize::from(failed.iter().any(|f| f.starts_with('('))),
            failed.join(", ")
        )))
    }
}

/// Verifies one log; returns its latest checkpoint's size and the result line.
fn one(
    dd: &DataDir,
    name: &str,
    quiet: bool,
    key: Option<&Verifier>,
) -> anyhow::Result<(u64, String)> {
    let meta = dd.meta(name).map_err(store_err)?;
    match key {
        Some(want) if *want != meta.verifier => {
            return Err(Exit::verify(format!(
                "the log's key {} is not the key you trust ({}): the data directory's key was replaced",
                meta.verifier, want
            )));
        }
        Some(_) => {}
        None if !quiet => eprintln!(
            "veritrail: note: log {name:?}: trusting the key stored in the data directory ({}); pass --key with the published key to also detect a replaced key",
            meta.verifier
        ),
        None => {}
    }
    let pb = if quiet {
        indicatif::ProgressBar::hidden()
    } else {
        super::progress::bar(0, &format!("verifying {name}"))
    };
    let started = std::time::Instant::now();
    let res = verify_log(dd, name, &mut |done, total| {
        pb.set_length(total.max(done));
        pb.set_position(done);
    });
    pb.finish_and_clear();
    let report = res.map_err(store_err)?;
    let note = |m: String| {
        if !quiet {
            eprintln!("veritrail: note: log {name:?}: {m}");
        }
    };
    for (file, bytes) in &report.torn_tails {
        note(format!(
            "{} ends with a {bytes}-byte torn tail left by a crash (not part of the log)",
            file.display()
        ));
    }
    for file in &report.quarantined {
        note(format!("{} holds a copy of a tail recovery discarded (recorded in _system as recovery.discarded)", file.display()));
    }
    if report.in_flight > 0 {
        note(format!("the log is being written; its last {} bytes were still being written and are left for the next run", report.in_flight));
    }
    for file in &report.interrupted {
        note(format!("{} is a segment whose creation a crash interrupted (not part of the log; the next open removes it)", file.display()));
    }
    if report.uncovered > 0 {
        note(format!(
            "{} entries after the newest checkpoint are not covered by any checkpoint yet: the log {} (opening it signs one)",
            report.uncovered,
            if report.in_flight > 0 { "is being written" } else { "crashed or is being written" }
        ));
    }
    if report.lifecycle.is_none() {
        note("no lifecycle records (a log written before format 1.1): a cut-back checkpoint history cannot be told from a crash".into());
    }
    let secs = started.elapsed().as_secs_f64();
    let line = format!(
        "({}): {} entries, {} checkpoints verified; latest checkpoint size {} root {}{} ({:.2}s, {:.0} entries/s)",
        report.origin,
        report.entries,
        report.checkpoints,
        report.checkpoint_size,
        report.checkpoint_root.to_base64(),
        match report.lifecycle {
            Some(r) if r.event == Event::Close => "; closed cleanly",
            _ => "",
        },
        secs,
        report.entries as f64 / secs.max(1e-9)
    );
    Ok((report.checkpoint_size, line))
}

/// What one run found, per log, kept in the data directory
/// ([`veritrail_service::integrity::last_verify_path`]) for `veritrail
/// status`, the server's `GET /v1/integrity` and the console.
#[derive(Default)]
struct Record {
    results: Vec<serde_json::Value>,
    sizes: std::collections::BTreeMap<String, u64>,
    started: Option<veritrail_core::Timestamp>,
}

impl Record {
    fn result(&mut self, log: &str, ok: bool, message: String) {
        self.results
            .push(serde_json::json!({"log": log, "ok": ok, "message": message}));
    }

    /// Writes the record (atomically: a temporary file renamed over the
    /// last); a data directory we cannot write to only gets a note.
    fn save(&self, dd: &DataDir, log: Option<&str>, pinned_key: bool, quiet: bool) {
        let ok = self.results.iter().all(|r| r["ok"] == true);
        let v = serde_json::json!({
            "finished_at": veritrail_service::audit::now().to_rfc3339_nanos(),
            "started_at": self.started.map(|t| t.to_rfc3339_nanos()),
            "scope": log.map_or("every log".to_owned(), |l| format!("log {l}")),
            "key_pinned": pinned_key,
            "ok": ok,
            "checkpoint_sizes": self.sizes,
            "results": self.results,
        });
        let path = veritrail_service::integrity::last_verify_path(dd.root());
        if let Err(e) = veritrail_service::durable::replace(&path, v.to_string().as_bytes()) {
            if !quiet {
                eprintln!(
                    "veritrail: note: could not keep this run's result in {}: {e}",
                    path.display()
                );
            }
        }
    }
}

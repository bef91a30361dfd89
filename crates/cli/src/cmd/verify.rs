//! `veritrail verify`: every log of a data directory (`_system` included),
//! or the one named with `--log`; each is named in its own result line, and
//! the exit code is 1 if any fails.

use std::process::ExitCode;

use veritrail_core::note::Verifier;
use veritrail_store::lifecycle::Event;
use veritrail_store::verify::verify_log;
use veritrail_store::DataDir;

use super::{open_data, store_err};
use crate::exit::Exit;

pub fn run(
    data: &std::path::Path,
    log: Option<&str>,
    quiet: bool,
    key: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let dd = open_data(data)?;
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
                failed.push("(data directory files)".to_owned());
            }
        }
    }
    for name in &names {
        let pinned = key
            .as_ref()
            .filter(|_| pinned_log.as_deref() == Some(name.as_str()));
        if let Err(e) = one(&dd, name, quiet, pinned) {
            match e.downcast_ref::<Exit>() {
                Some(x) if x.code == 1 => {
                    println!("FAILED: log {name:?}: {}", x.message);
                    failed.push(name.clone());
                }
                _ => return Err(e),
            }
        }
    }
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

fn one(dd: &DataDir, name: &str, quiet: bool, key: Option<&Verifier>) -> anyhow::Result<()> {
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
    println!(
        "OK: log {:?} ({}): {} entries, {} checkpoints verified; latest checkpoint size {} root {}{} ({:.2}s, {:.0} entries/s)",
        name,
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
    Ok(())
}

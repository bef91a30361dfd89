//! `veritrail verify`.

use std::process::ExitCode;

use veritrail_store::verify::verify_log;

use super::{open_data, store_err};

pub fn run(
    args: &crate::args::LogArgs,
    quiet: bool,
    key: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let dd = open_data(&args.data.data)?;
    let meta = dd.meta(&args.log).map_err(store_err)?;
    match key {
        Some(k) => {
            let want = veritrail_core::note::Verifier::parse(k).map_err(|e| crate::exit::Exit::usage(format!("--key: {e}")))?;
            if want != meta.verifier {
                return Err(crate::exit::Exit::verify(format!(
                    "the log's key {} is not the key you trust ({}): the data directory's key was replaced",
                    meta.verifier,
                    want
                )));
            }
        }
        None if !quiet => eprintln!(
            "veritrail: note: trusting the key stored in the data directory ({}); pass --key with the published key to also detect a replaced key",
            meta.verifier
        ),
        None => {}
    }
    let pb = if quiet {
        indicatif::ProgressBar::hidden()
    } else {
        super::progress::bar(0, "verifying")
    };
    let started = std::time::Instant::now();
    let res = verify_log(&dd, &args.log, &mut |done, total| {
        pb.set_length(total.max(done));
        pb.set_position(done);
    });
    pb.finish_and_clear();
    let report = res.map_err(store_err)?;
    for (file, bytes) in &report.torn_tails {
        eprintln!("veritrail: note: {} ends with a {bytes}-byte torn tail left by a crash (not part of the log)", file.display());
    }
    if report.in_flight > 0 {
        eprintln!(
            "veritrail: note: the log is being written; its last {} bytes were still being written and are left for the next run",
            report.in_flight
        );
    }
    for file in &report.interrupted {
        eprintln!("veritrail: note: {} is a segment whose creation a crash interrupted (not part of the log; the next open removes it)", file.display());
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "OK: log {:?} ({}): {} entries, {} checkpoints verified; latest checkpoint size {} root {} ({:.2}s, {:.0} entries/s)",
        args.log,
        report.origin,
        report.entries,
        report.checkpoints,
        report.checkpoint_size,
        report.checkpoint_root.to_base64(),
        secs,
        report.entries as f64 / secs.max(1e-9)
    );
    Ok(ExitCode::SUCCESS)
}

//! `veritrail verify-bundle`: checks an evidence bundle with veritrail-core
//! alone, offline.

use std::path::Path;
use std::process::ExitCode;

use veritrail_core::bundle::{verify_reader, VerifyError, VerifyOptions};
use veritrail_core::note::Verifier;

use crate::exit::Exit;

fn key(flag: &str, k: Option<&str>) -> anyhow::Result<Option<Verifier>> {
    k.map(|k| Verifier::parse(k).map_err(|e| Exit::usage(format!("{flag}: {e}"))))
        .transpose()
}

pub fn run(
    file: &Path,
    log_key: Option<&str>,
    system_key: Option<&str>,
    since: Option<&Path>,
    policy: Option<&veritrail_core::note::policy::WitnessPolicy>,
    tsa_root: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let tsa_roots = tsa_root.map(super::verify::tsa_roots).transpose()?;
    let started = std::time::Instant::now();
    let mut input =
        std::fs::File::open(file).map_err(|e| Exit::usage(format!("{}: {e}", file.display())))?;
    let since_checkpoint = since
        .map(|p| {
            std::fs::read_to_string(p)
                .map_err(|e| Exit::usage(format!("--since-checkpoint {}: {e}", p.display())))
        })
        .transpose()?;
    let opts = VerifyOptions {
        log_key: key("--key", log_key)?,
        system_key: key("--system-key", system_key)?,
        since_checkpoint,
        witnesses: policy.cloned(),
    };
    let s = verify_reader(&mut input, &opts).map_err(|e| match e {
        VerifyError::Invalid(e) => Exit::verify(format!("{}: {e}", file.display())),
        VerifyError::Io(e) => anyhow::Error::new(e).context(format!("reading {}", file.display())),
    })?;
    if s.log_key_from_bundle {
        eprintln!("veritrail: warning: no --key given; the bundle was checked against its own key, which proves only that it is self-consistent. Pass the log's verifier key from a channel you trust.");
    }
    if s.system_key_from_bundle {
        eprintln!("veritrail: warning: no --system-key given; the record of the export (which makes dropped entries detectable) was checked against the bundle's own _system key.");
    }
    let witnessed = if s.witnessed_by.is_empty() {
        String::new()
    } else {
        format!("; cosigned by {}", s.witnessed_by.join(", "))
    };
    let stamped = match (&s.timestamp, &tsa_roots) {
        (None, Some(_)) => {
            return Err(Exit::verify(format!(
                "{}: --tsa-root given but the bundle carries no RFC 3161 timestamp",
                file.display()
            )))
        }
        (Some((size, note, token)), Some(roots)) => {
            let t =
                veritrail_timestamp::verify(token, note.as_bytes(), None, roots).map_err(|e| {
                    Exit::verify(format!(
                        "{}: line 1 (header.timestamp): the token for checkpoint {size}: {e}",
                        file.display()
                    ))
                })?;
            format!(
                "; the first {size} entries existed at {} (RFC 3161, {})",
                veritrail_core::Timestamp::from_unix_nanos(i128::from(t.time) * 1_000_000_000)
                    .to_rfc3339_nanos(),
                t.tsa
            )
        }
        (Some((size, _, _)), None) => format!(
            "; carries an RFC 3161 timestamp for checkpoint {size} (pass --tsa-root to check it)"
        ),
        (None, None) => String::new(),
    };
    let times = s
        .time_range
        .map(|(a, b)| format!(", received {a} .. {b}"))
        .unwrap_or_default();
    let indexes = s
        .index_range
        .map(|(a, b)| format!(" (index {a}..={b})"))
        .unwrap_or_default();
    let since = s
        .since_size
        .map(|n| format!("; consistent with the pinned checkpoint at size {n}"))
        .unwrap_or_default();
    println!(
        "OK: {} entries{indexes}{times}; log {:?} ({}) checkpoint size {} root {} signed by {}{witnessed}{since}{stamped}; exported {} by {}, recorded in {} at index {} ({:.2}s)",
        s.entries,
        s.header.log,
        s.checkpoint.origin,
        s.checkpoint.size.0,
        s.checkpoint.root.to_base64(),
        s.signer,
        s.header.exported_at,
        s.header.exported_by,
        s.system_record.0,
        s.system_record.1,
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

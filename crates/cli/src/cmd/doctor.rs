//! `veritrail doctor --store s3://BUCKET/PREFIX`: may this bucket hold
//! evidence? Versioning, Object Lock with a default COMPLIANCE retention,
//! and no delete markers or rewritten write-once objects under the prefix.
//! Exit 0 when all hold, 1 when any does not (with the fix), 3 when the
//! bucket cannot be asked.

use std::process::ExitCode;

use veritrail_bucket::worm::{assess, tampering};
use veritrail_bucket::{Bucket, BucketError, Location};

use crate::args::ObjectArgs;
use crate::exit::Exit;

/// The bucket named by `--store` and the S3 flags (shared with `serve`).
pub fn open_bucket(a: &ObjectArgs) -> anyhow::Result<Option<std::sync::Arc<Bucket>>> {
    let Some(url) = &a.store else {
        return Ok(None);
    };
    let loc = Location::parse(url).map_err(|e| Exit::usage(e.to_string()))?;
    let settings = veritrail_bucket::Settings {
        endpoint: a.s3_endpoint.clone(),
        region: a.s3_region.clone(),
        ..Default::default()
    };
    Bucket::open(&loc, &settings)
        .map(Some)
        .map_err(|e| Exit::usage(e.to_string()))
}

fn asked(e: BucketError) -> anyhow::Error {
    anyhow::anyhow!("asking the bucket: {e}")
}

pub fn run(a: &ObjectArgs) -> anyhow::Result<ExitCode> {
    let Some(b) = open_bucket(a)? else {
        return Err(Exit::usage("doctor needs --store s3://BUCKET/PREFIX"));
    };
    let loc = b.location().clone();
    let versioning = b.versioning().map_err(asked)?;
    let lock = b.object_lock().map_err(asked)?;
    let mut findings = assess(&loc.bucket, &versioning, lock.as_ref());
    let prefix = if loc.prefix.is_empty() {
        String::new()
    } else {
        format!("{}/", loc.prefix)
    };
    let versions = b.versions(&prefix).map_err(asked)?;
    let tampered = tampering(&versions);
    findings.push(veritrail_bucket::worm::Finding {
        ok: tampered.is_empty(),
        what: if tampered.is_empty() {
            format!(
                "{} object versions under {loc}: none deleted or rewritten",
                versions.len()
            )
        } else {
            format!(
                "{} object versions under {loc}; deleted or rewritten:\n      {}",
                versions.len(),
                tampered
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n      ")
            )
        },
        fix: (!tampered.is_empty()).then(|| {
            "investigate: who holds s3:PutObject/s3:DeleteObject on this prefix (docs/SCALE.md \"Bucket policy\"); the locked versions still hold the data".to_owned()
        }),
    });
    let mut ok = true;
    for f in &findings {
        println!("{} {}", if f.ok { "ok  " } else { "FAIL" }, f.what);
        if let Some(fix) = &f.fix {
            println!("     fix: {fix}");
        }
        ok &= f.ok;
    }
    if ok {
        println!("{loc} may hold evidence");
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::from(crate::exit::VERIFY_FAILED))
    }
}

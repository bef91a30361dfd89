//! `veritrail verify-bucket --store s3://BUCKET/PREFIX --key VKEY`: checks
//! a log kept in object storage with the S3 API and credentials (a private
//! bucket; a public one can also be read by `verify --tiles URL`): the
//! bucket's checkpoint against the pinned key, every entry against its
//! leaf hash in the signed tree, and every version of the checkpoint the
//! bucket kept — each must be a prefix of the latest tree, or the bucket's
//! history forked. Exit 0, 1 naming what failed, 3 when the bucket cannot
//! be read.

use std::process::ExitCode;

use veritrail_bucket::read::{ReadError, RemoteLog};
use veritrail_core::note::Verifier;

use crate::args::ObjectArgs;
use crate::exit::Exit;

const CHUNK: u64 = 4096;

fn failed(e: ReadError) -> anyhow::Error {
    match e {
        ReadError::Inauthentic(m) => Exit::verify(m),
        other => anyhow::anyhow!("reading the bucket: {other}"),
    }
}

pub fn run(object: &ObjectArgs, log: &str, key: &str, quiet: bool) -> anyhow::Result<ExitCode> {
    let Some(b) = super::doctor::open_bucket(object)? else {
        return Err(Exit::usage(
            "verify-bucket needs --store s3://BUCKET/PREFIX",
        ));
    };
    let verifier = Verifier::parse(key).map_err(|e| Exit::usage(format!("--key {key:?}: {e}")))?;
    let remote = RemoteLog::new(b.clone(), log, verifier);
    let where_ = b.location().log(log);
    let Some((cp, _)) = remote.checkpoint().map_err(failed)? else {
        return Err(Exit::verify(format!("{where_} holds no checkpoint")));
    };
    let n = cp.size.0;
    let pb = super::progress::bar(n, "entries");
    let mut i = 0;
    while i < n {
        let end = n.min(i + CHUNK);
        remote.entries(&cp, i, end).map_err(failed)?;
        pb.inc(end - i);
        i = end;
    }
    pb.finish_and_clear();
    let history = remote.checkpoint_history().map_err(failed)?;
    for c in &history {
        if c.size.0 > n {
            return Err(Exit::verify(format!(
                "{where_}: a kept checkpoint version has {} entries, more than the latest's {n}",
                c.size.0
            )));
        }
        if remote.root_at(&cp, c.size.0).map_err(failed)? != c.root {
            return Err(Exit::verify(format!(
                "{where_}: the kept checkpoint of size {} is not a prefix of the latest tree: the bucket's history forked",
                c.size.0
            )));
        }
    }
    if !quiet {
        println!(
            "{where_}: OK: {n} entries checked against the signed tree; {} kept checkpoint versions, all on one chain",
            history.len()
        );
    } else {
        println!("OK");
    }
    Ok(ExitCode::SUCCESS)
}

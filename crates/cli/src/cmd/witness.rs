//! `veritrail witness init|serve|status` (docs/TRUST.md "Running a witness").

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use veritrail_core::note::Verifier;
use veritrail_witness::Witness;

use crate::args::WitnessCommand;
use crate::exit::Exit;

pub fn run(cmd: WitnessCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        WitnessCommand::Init { data, name } => {
            let v = Witness::init(&data, &name).map_err(|e| Exit::usage(e.to_string()))?;
            eprintln!(
                "veritrail: witness key made in {}; its verifier key:",
                data.display()
            );
            println!("{}", v.to_vkey());
            Ok(ExitCode::SUCCESS)
        }
        WitnessCommand::Serve {
            data,
            listen,
            log_keys,
        } => {
            let logs = log_keys
                .iter()
                .map(|k| {
                    Verifier::parse(k).map_err(|e| Exit::usage(format!("--log-key {k:?}: {e}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let w = Arc::new(
                Witness::open(&data, logs.clone()).map_err(|e| Exit::usage(e.to_string()))?,
            );
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            rt.block_on(async move {
                let l = tokio::net::TcpListener::bind(&listen)
                    .await
                    .with_context(|| format!("listening on {listen}"))?;
                eprintln!(
                    "veritrail: witness {} for {} log(s)",
                    w.verifier().to_vkey(),
                    logs.len()
                );
                eprintln!(
                    "veritrail: witness serving {} on http://{}",
                    data.display(),
                    l.local_addr()?
                );
                let shutdown = async {
                    let mut term =
                        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                            .expect("SIGTERM handler");
                    tokio::select! {
                        _ = tokio::signal::ctrl_c() => {},
                        _ = term.recv() => {},
                    }
                };
                veritrail_witness::http::serve(l, w, shutdown).await?;
                anyhow::Ok(())
            })?;
            Ok(ExitCode::SUCCESS)
        }
        WitnessCommand::Status { data } => {
            let w = Witness::open(&data, Vec::new()).map_err(|e| Exit::usage(e.to_string()))?;
            println!("witness {}", w.verifier().to_vkey());
            for (origin, (size, root)) in w.latest() {
                println!("  {origin}: cosigned size {size}, root {root}");
            }
            let ev = w.evidence();
            if ev.is_empty() {
                println!("no evidence of misbehaving logs");
            } else {
                println!(
                    "{} refused checkpoint(s) that contradict what was cosigned, kept as evidence:",
                    ev.len()
                );
                for p in ev {
                    let first = std::fs::read_to_string(&p).unwrap_or_default();
                    println!("  {}: {}", p.display(), first.lines().next().unwrap_or(""));
                }
                return Ok(ExitCode::from(1));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

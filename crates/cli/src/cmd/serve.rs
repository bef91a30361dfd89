//! `veritrail serve`.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use veritrail_server::tokens::{Role, TokenStore};
use veritrail_server::{AppState, ServerConfig};
use veritrail_store::{DataDir, RealFs};

use super::store_err;

pub fn run(
    data: &std::path::Path,
    listen: &str,
    private_checkpoints: bool,
) -> anyhow::Result<ExitCode> {
    let dd = if data.join("veritrail.data").exists() {
        super::open_data(data)?
    } else {
        let (dd, v) = DataDir::init(Arc::new(RealFs), data, None).map_err(store_err)?;
        eprintln!(
            "veritrail: initialised {}; verifier key of log \"default\": {}",
            data.display(),
            v.to_vkey()
        );
        dd
    };
    let tokens = TokenStore::open(data)?;
    if !tokens.has_admin() {
        let (secret, t) = tokens.create(Role::Admin, vec![], "first admin", None)?;
        eprintln!(
            "veritrail: first admin token ({}), shown only this once — store it now:\n{secret}",
            t.id
        );
    }
    drop(tokens);
    let config = ServerConfig {
        private_checkpoints,
        ..ServerConfig::default()
    };
    let state = AppState::open(dd, config)
        .map_err(|e| anyhow::anyhow!(e))
        .context("opening the logs")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        eprintln!(
            "veritrail: serving {} on http://{}",
            data.display(),
            listener.local_addr()?
        );
        let shutdown = async {
            let ctrl_c = tokio::signal::ctrl_c();
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("SIGTERM handler");
            tokio::select! {
                _ = ctrl_c => {},
                _ = term.recv() => {},
            }
            eprintln!("veritrail: shutting down: finishing requests, signing final checkpoints");
        };
        veritrail_server::serve(state, listener, shutdown).await?;
        eprintln!("veritrail: stopped cleanly");
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

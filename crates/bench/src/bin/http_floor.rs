//! What HTTP alone costs on this machine: the server stack of `veritrail
//! serve` (tokio's multi-threaded runtime, hyper, axum, mimalloc) answering
//! every `POST /v1/logs/{log}/events` with `201 Created` and a body shaped like
//! veritrail's answer, without parsing, hashing, writing or syncing anything.
//! `wrk` against it (as `bench/run.sh` runs it against veritrail) measures the
//! ceiling that any work per request can only lower.
//!
//! ```sh
//! target/release/http_floor --listen 127.0.0.1:7979 &
//! wrk -t2 -c64 -d10s -s bench/wrk/one.lua http://127.0.0.1:7979/v1/logs/default/events
//! ```

use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use clap::Parser;

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(about = "Answers event POSTs like veritrail serve, doing no work (the HTTP floor)")]
struct Args {
    /// Address to listen on (port 0: the kernel picks one).
    #[arg(long, default_value = "127.0.0.1:7979")]
    listen: String,
}

static NEXT: AtomicU64 = AtomicU64::new(0);

async fn events(Path(_log): Path<String>, body: Bytes) -> impl IntoResponse {
    let index = NEXT.fetch_add(1, Ordering::Relaxed);
    // The size of veritrail's answer: one index and a base64 leaf hash.
    let answer = format!(
        "{{\"entries\":[{{\"index\":{index},\"leaf_hash\":\"{:0>44}\"}}]}}",
        body.len()
    );
    (
        StatusCode::CREATED,
        [(header::CONTENT_TYPE, "application/json")],
        answer,
    )
}

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(&args.listen).await?;
        eprintln!("http_floor: listening on http://{}", listener.local_addr()?);
        let app = Router::new().route("/v1/logs/{log}/events", post(events));
        axum::serve(listener, app).await
    })
}

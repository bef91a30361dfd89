//! `veritrail`: the command line. Thin: parses flags (`args.rs`) and calls the
//! library layers (`cmd/`). Errors become exit codes here and nowhere else.

mod args;
mod cmd;
mod exit;

use std::process::ExitCode;

use clap::Parser as _;

/// mimalloc: small allocations freed on another thread (HTTP request buffers,
/// batches acknowledged by the sequencer) are cheaper than with glibc malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Warnings (e.g. "cannot set chattr flags", "discarding a torn tail") go
    // to stderr; RUST_LOG=info (or debug) shows more.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
    let args = args::Cli::parse();
    // mimalloc asks for transparent huge pages on its arenas. Where most of
    // the heap is short-lived buffers (ingest, the server) each 2 MiB page
    // faulted in is zeroed whole: without them batched ingest ran 20-40%
    // faster in about half the memory (BENCHMARKS.md, "Transparent huge
    // pages off"). `verify` keeps them: its direct reads go to a few large
    // buffers, and there huge pages made it ~30% faster.
    if !matches!(args.command, args::Command::Verify { .. }) {
        if let Err(e) = rustix::thread::disable_transparent_huge_pages(true) {
            tracing::debug!(error = %e, "could not turn transparent huge pages off");
        }
    }
    match cmd::run(args) {
        Ok(code) => code,
        Err(e) => exit::report(&e),
    }
}

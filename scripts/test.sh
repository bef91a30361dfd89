#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine with Rust installed.
# Installs what the tests need (Debian packages, the wasm target, cargo-fuzz),
# then runs: format and lint checks, the check that every reference in the
# docs and comments resolves (files, sections, symbols: rustdoc's broken-link
# lints for code, scripts/check-doc-refs.py for prose), every cargo test, the
# wasm build, the cross-check against golang.org/x/mod, and a fuzz smoke run
# of every parser.
# The object-storage tests start moto_server (PyPI moto[server]) on loopback.
# The console tests drive chromium with npm playwright-core (screenshots in
# target/console-screenshots/).
# The evidence-bundle tests also run tools/verify_bundle.py (Python 3 with the
# `cryptography` package) on the same good and tampered bundles as Rust.
# Usage: scripts/test.sh            (FUZZ_SECONDS=10 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

step() { printf '\n==> %s\n' "$*"; }

step "installing test dependencies"
need_apt=()
command -v go >/dev/null || need_apt+=(golang-go)
[ -d /usr/share/gocode/src/golang.org/x/mod/sumdb ] || need_apt+=(golang-golang-x-mod-dev)
command -v chattr >/dev/null || need_apt+=(e2fsprogs)
command -v curl >/dev/null || need_apt+=(curl)
command -v python3 >/dev/null || need_apt+=(python3)
python3 -c 'import cryptography' 2>/dev/null || need_apt+=(python3-cryptography)
# Real syslog senders for crates/cli/tests/syslog.rs: util-linux logger,
# Debian's rsyslog with its TLS driver, openssl's s_client.
command -v logger >/dev/null || need_apt+=(bsdutils)
[ -x /usr/sbin/rsyslogd ] || need_apt+=(rsyslog)
[ -e /usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so ] || ls /usr/lib/*/rsyslog/lmnsd_gtls.so >/dev/null 2>&1 || need_apt+=(rsyslog-gnutls)
command -v openssl >/dev/null || need_apt+=(openssl)
# journalctl, and systemd-journal-remote to write the journal files that
# crates/cli/tests/sources.rs forwards.
command -v journalctl >/dev/null || need_apt+=(systemd)
ls /lib/systemd/systemd-journal-remote /usr/lib/systemd/systemd-journal-remote >/dev/null 2>&1 || need_apt+=(systemd-journal-remote)
python3 -c 'import moto.server, boto3' 2>/dev/null || python3 -m pip --version >/dev/null 2>&1 || need_apt+=(python3-pip)
# The console's browser tests (crates/cli/tests/console.rs): Debian's
# chromium driven by npm playwright-core under node.
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
command -v node >/dev/null || need_apt+=(nodejs)
command -v npm >/dev/null || need_apt+=(npm)
# Period reports printed to PDF are checked with poppler (pdftoppm, pdftotext).
command -v pdftoppm >/dev/null || need_apt+=(poppler-utils)
if [ ${#need_apt[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
# A real S3 API for the object-storage tests (crates/bucket/tests,
# crates/cli/tests/object.rs and cluster.rs): moto_server from PyPI, with
# boto3 as the third party.
if ! python3 -c 'import moto.server, boto3' 2>/dev/null; then
  python3 -m pip install -q 'moto[server]' 2>/dev/null ||
    python3 -m pip install -q --break-system-packages 'moto[server]'
fi
[ -d crates/cli/tests/console/node_modules/playwright-core ] ||
  npm ci --prefix crates/cli/tests/console --no-audit --no-fund --loglevel=error
rustup target list --installed | grep -q wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
rustup toolchain list | grep -q nightly || { echo "cargo fuzz needs the nightly toolchain (rustup toolchain install nightly)" >&2; exit 1; }

step "the console's WebAssembly verifier (scripts/build-wasm.sh), before the server embeds it"
scripts/build-wasm.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --release -- -D warnings

step "every reference in docs and comments resolves"
python3 scripts/check-doc-refs.py
RUSTDOCFLAGS="-D rustdoc::broken_intra_doc_links -D rustdoc::private_intra_doc_links" \
  cargo doc --workspace --no-deps --document-private-items --quiet

step "cargo test"
cargo test --workspace --release

step "veritrail-core builds for wasm32-unknown-unknown (alone, as well as in the console's verifier)"
cargo build -p veritrail-core --target wasm32-unknown-unknown --release

step "cross-check with golang.org/x/mod (both directions)"
interop/go/run.sh

step "benchmark smoke run (bench/run.sh --quick; no thresholds asserted)"
BENCH_RESULTS_DIR=$(mktemp -d) bench/run.sh --quick

step "object-storage benchmark smoke run (bench/drain_cost.py, bench/objects.py --rounds 1; no thresholds asserted)"
python3 bench/drain_cost.py --secs 2 --catch-up 2
python3 bench/objects.py --rounds 1 --secs 2

step "fuzz smoke run"
scripts/fuzz-smoke.sh "${FUZZ_SECONDS:-10}"

printf '\nall checks passed\n'

#!/usr/bin/env bash
# Builds the console's WebAssembly verifier (crates/verify-wasm: veritrail-core's
# leaf-hash, inclusion-proof and checkpoint checks) and puts it where the server
# embeds it: crates/server/console/verify_core.wasm. scripts/test.sh runs this
# before building the server, so the tests always run the current source.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target list --installed | grep -q wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
cargo build -p veritrail-verify-wasm --target wasm32-unknown-unknown --profile wasm --quiet
out=target/wasm32-unknown-unknown/wasm/veritrail_verify_wasm.wasm
dest=crates/server/console/verify_core.wasm
if ! cmp -s "$out" "$dest"; then
  cp "$out" "$dest"
  echo "build-wasm: updated $dest ($(stat -c %s "$dest") bytes)"
fi

#!/usr/bin/env bash
# Cross-checks veritrail-core against golang.org/x/mod/sumdb in both directions.
# Needs Debian's golang-go and golang-golang-x-mod-dev; builds offline in GOPATH mode.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out="$here/go-out"
mkdir -p "$out"
export GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= GOCACHE="${GOCACHE:-$out/cache}"
(cd "$here" && go build -o "$out/interop" .)
cargo build -q --release -p veritrail-core --example interop --manifest-path "$root/Cargo.toml"
rust="$root/target/release/examples/interop"
"$rust" emit > "$out/rust.json"
"$out/interop" check "$out/rust.json"
"$out/interop" emit > "$out/go.json"
"$rust" check "$out/go.json"
echo "interop: veritrail-core and golang.org/x/mod agree"

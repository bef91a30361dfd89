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
# A real log exported as static C2SP tiles, checked by x/mod's tile reader.
cargo build -q --release -p veritrail --manifest-path "$root/Cargo.toml"
vt="$root/target/release/veritrail"
work=$(mktemp -d)
trap 'chattr -R -a -i "$work" 2>/dev/null || true; rm -rf "$work"' EXIT
vkey=$("$vt" init --data "$work/data" 2>/dev/null)
for i in $(seq 1 70); do
  seq 1 $((i * 7)) | sed "s/.*/{\"action\":\"interop.test\",\"actor\":\"u&\",\"message\":\"batch $i\"}/"
done > "$work/events.ndjson"
"$vt" append --data "$work/data" < "$work/events.ndjson" > /dev/null 2>&1
"$vt" export-tiles --data "$work/data" --to "$work/tiles" 2>/dev/null
"$out/interop" check-tiles "$work/tiles" "$vkey"
# And it must refuse a tampered export: one byte of an entry, one byte of a hash tile.
for f in tile/entries/010 tile/0/005; do
  rm -rf "$work/bad" && cp -r "$work/tiles" "$work/bad"
  printf 'Z' | dd of="$work/bad/$f" bs=1 seek=40 conv=notrunc status=none
  if "$out/interop" check-tiles "$work/bad" "$vkey" 2>/dev/null; then
    echo "interop: FAIL: x/mod accepted an export with $f tampered" >&2
    exit 1
  fi
done
echo "go: x/mod rejected exports with a tampered entry bundle and a tampered hash tile"
echo "interop: veritrail-core and golang.org/x/mod agree"

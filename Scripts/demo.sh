#!/usr/bin/env bash
# The end-to-end demo that `make demo` runs: the most complete path that exists today.
# It grows step by step into the full release pipeline (Pipelines/release.yml).
#
# Env: FIRMCHAIN (the built CLI), PYTHON (the interop venv's python).
set -euo pipefail
cd "$(dirname "$0")/.."
FIRMCHAIN=${FIRMCHAIN:-.build/debug/firmchain}
WORK=.firmchain/demo
mkdir -p "$WORK"

step() { printf '\n== %s\n' "$*"; }

step "1. Sample firmware: three versions of a firmware-shaped image (Scripts/make-sample-firmware.py)"
python3 Scripts/make-sample-firmware.py "$WORK/images" --size-kib 1024

step "2. Digests of every image (streaming SHA-256 / SHA-512, as TUF metadata records them)"
"$FIRMCHAIN" hash --algorithm sha256 --algorithm sha512 "$WORK"/images/*.bin

step "3. Canonical JSON of a manifest fragment (the bytes a TUF signature covers)"
"$FIRMCHAIN" --json hash "$WORK/images/fw-1.2.0.bin" > "$WORK/fw-1.2.0.hash.json"
"$FIRMCHAIN" json canonical "$WORK/fw-1.2.0.hash.json" --out "$WORK/fw-1.2.0.hash.canonical.json"

printf '\nDemo finished. Files are in %s.\n' "$WORK"

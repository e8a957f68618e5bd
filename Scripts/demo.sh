#!/usr/bin/env bash
# The end-to-end demo that `make demo` runs: the most complete release path that exists today.
# Until `firmchain pipeline run Pipelines/release.yml` lands (issue 7), it runs the steps directly:
#
#   sample images -> deltas (checked with Debian bspatch) -> SoftHSM token and keys ->
#   TUF repository with firmware metadata -> Firmchain's verifier -> python-tuf's client
#
# Env: FIRMCHAIN (the built CLI), PYTHON (the interop venv's python).
# The token, its PIN and every output live under .firmchain/ (gitignored). The PIN is made
# fresh for each demo token, kept in .firmchain/demo/token/pin (mode 0600, never in git), and
# reaches firmchain only through the FIRMCHAIN_PKCS11_PIN environment variable.
set -euo pipefail
cd "$(dirname "$0")/.."
FIRMCHAIN=$(realpath "${FIRMCHAIN:-.build/debug/firmchain}")
PYTHON=${PYTHON:-.venv/bin/python}
DEMO=.firmchain/demo
OUT=$DEMO/OUT
IMAGES=$DEMO/images
TOKEN_DIR=$DEMO/token
mkdir -p "$DEMO"

step() { printf '\n== %s\n' "$*"; }

step "1. Sample firmware: three versions of a firmware-shaped image (Scripts/make-sample-firmware.py)"
python3 Scripts/make-sample-firmware.py "$IMAGES" --size-kib 1024

step "2. Deltas to 1.2.0 from each version still in the field, each checked with Debian's bspatch"
mkdir -p "$DEMO/deltas"
for base in 1.0.0 1.1.0; do
  patch="$DEMO/deltas/fw-1.2.0-from-$base.bsdiff"
  "$FIRMCHAIN" delta create --old "$IMAGES/fw-$base.bin" --new "$IMAGES/fw-1.2.0.bin" --out "$patch"
  bspatch "$IMAGES/fw-$base.bin" "$DEMO/check.bin" "$patch"
  cmp -s "$DEMO/check.bin" "$IMAGES/fw-1.2.0.bin" && echo "   bspatch reproduces fw-1.2.0.bin from fw-$base.bin"
  rm -f "$DEMO/check.bin"
done

step "3. A SoftHSM token with one key per TUF role (keys never leave the token)"
export SOFTHSM2_CONF="$PWD/$TOKEN_DIR/softhsm2.conf"
if [ ! -f "$TOKEN_DIR/pin" ]; then
  rm -rf "$TOKEN_DIR"; mkdir -p "$TOKEN_DIR/tokens"; chmod 700 "$TOKEN_DIR"
  printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$PWD/$TOKEN_DIR/tokens" > "$SOFTHSM2_CONF"
  (umask 077; od -An -N12 -tx1 /dev/urandom | tr -d ' \n' > "$TOKEN_DIR/pin")
  FIRMCHAIN_PKCS11_PIN=$(cat "$TOKEN_DIR/pin")
  softhsm2-util --init-token --free --label firmchain-demo --so-pin "so-$FIRMCHAIN_PKCS11_PIN" --pin "$FIRMCHAIN_PKCS11_PIN" >/dev/null
  export FIRMCHAIN_PKCS11_PIN
  "$FIRMCHAIN" keys generate --token "pkcs11:token=firmchain-demo" --type ed25519 --label root >/dev/null
  for role in targets snapshot timestamp; do
    "$FIRMCHAIN" keys generate --token "pkcs11:token=firmchain-demo" --type ecdsa-p256 --label "$role" >/dev/null
  done
fi
export FIRMCHAIN_PKCS11_PIN=$(cat "$TOKEN_DIR/pin")
"$FIRMCHAIN" keys list --token "pkcs11:token=firmchain-demo"
key() { echo "pkcs11:token=firmchain-demo;object=$1"; }

step "4. TUF repository: full image and both deltas with their firmware fields, signed in the token"
rm -rf "$OUT"
"$FIRMCHAIN" repo init --out "$OUT" --root-key "$(key root)" --targets-key "$(key targets)" \
  --snapshot-key "$(key snapshot)" --timestamp-key "$(key timestamp)"
sha() { sha256sum "$1" | cut -d' ' -f1; }
new_sha=$(sha "$IMAGES/fw-1.2.0.bin"); new_len=$(stat -c %s "$IMAGES/fw-1.2.0.bin")
"$FIRMCHAIN" repo add-target --out "$OUT" --file "$IMAGES/fw-1.2.0.bin" --version 1.2.0 --version-number 10200 \
  --hardware-id acme-gw-v2 --priority high
for base in 1.0.0 1.1.0; do
  "$FIRMCHAIN" repo add-target --out "$OUT" --file "$DEMO/deltas/fw-1.2.0-from-$base.bsdiff" --version 1.2.0 \
    --version-number 10200 --hardware-id acme-gw-v2 --priority high --kind delta \
    --base "fw-$base.bin:$base:$(sha "$IMAGES/fw-$base.bin")" --result "fw-1.2.0.bin:$new_sha:$new_len"
done
"$FIRMCHAIN" repo publish --out "$OUT" --key "$(key targets)" --key "$(key snapshot)" --key "$(key timestamp)"

step "5. Firmchain's verifier walks the TUF client workflow from 1.root.json"
"$FIRMCHAIN" repo show --out "$OUT"

step "6. python-tuf's ngclient (bootstrapped with 1.root.json) downloads and verifies every target"
mkdir -p "$DEMO/device"
"$PYTHON" Tests/Interop/tuf_client.py "$OUT/repository" "$OUT/repository/metadata/1.root.json" "$DEMO/device" \
  | "$PYTHON" -c 'import json,sys; d=json.load(sys.stdin); assert d["ok"], d; [print("   verified", n, v["length"], "bytes") for n, v in sorted(d["targets"].items())]'

printf '\nDemo finished. The release is in %s (repository/metadata, repository/targets);\n' "$OUT"
printf 'images in %s, deltas in %s/deltas, the SoftHSM token in %s.\n' "$IMAGES" "$DEMO" "$TOKEN_DIR"

#!/usr/bin/env bash
# The end-to-end demo that `make demo` runs:
#
#   sample images -> SoftHSM token with the policy's keys -> firmchain pipeline run
#   Pipelines/release.yml (deltas, TUF metadata, signatures in the token, custody) ->
#   Firmchain's verifier -> python-tuf's client downloads every target -> custody verify and
#   in-toto-verify -> Debian's bspatch rebuilds 1.2.0 from each delta -> a re-run changes nothing ->
#   firmchain verify checks the whole release against the trust anchors kept outside it
#
# Env: FIRMCHAIN (the built CLI), PYTHON (the interop venv's python).
# The token, its PIN and every output live under .firmchain/ (gitignored). The PIN is made
# fresh for each demo token, kept in .firmchain/demo/token/pin (mode 0600, never in git), and
# reaches firmchain only through the FIRMCHAIN_PKCS11_PIN environment variable.
set -euo pipefail
cd "$(dirname "$0")/.."
FIRMCHAIN_SHOWN=$(realpath -s --relative-to="$PWD" "${FIRMCHAIN:-.build/debug/firmchain}")   # as the user would type it
FIRMCHAIN=$(realpath "${FIRMCHAIN:-.build/debug/firmchain}")
PYTHON=${PYTHON:-.venv/bin/python}
DEMO=.firmchain/demo
OUT=$DEMO/release            # the pipeline's `output`
IMAGES=$DEMO/images
TOKEN_DIR=$DEMO/token
KEYS=$DEMO/keys              # the fleet's group key (a secret, mode 0600)
# A demo left by an older layout (other keys in its token) is started afresh.
DEMO_LAYOUT=2
[ "$(cat "$DEMO/layout" 2>/dev/null)" = "$DEMO_LAYOUT" ] || rm -rf "$DEMO"
mkdir -p "$DEMO"
echo "$DEMO_LAYOUT" > "$DEMO/layout"

step() { printf '\n== %s\n' "$*"; }

step "1. Sample firmware: three versions of a firmware-shaped image (Scripts/make-sample-firmware.py)"
python3 Scripts/make-sample-firmware.py "$IMAGES" --size-kib 1024

step "2. A SoftHSM token with the keys Policies/release.yml names (keys never leave the token)"
export SOFTHSM2_CONF="$PWD/$TOKEN_DIR/softhsm2.conf"
if [ ! -f "$TOKEN_DIR/pin" ]; then
  rm -rf "$TOKEN_DIR"; mkdir -p "$TOKEN_DIR/tokens"; chmod 700 "$TOKEN_DIR"
  printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$PWD/$TOKEN_DIR/tokens" > "$SOFTHSM2_CONF"
  (umask 077; od -An -N12 -tx1 /dev/urandom | tr -d ' \n' > "$TOKEN_DIR/pin.tmp")
  FIRMCHAIN_PKCS11_PIN=$(cat "$TOKEN_DIR/pin.tmp")
  softhsm2-util --init-token --free --label firmchain-demo --so-pin "so-$FIRMCHAIN_PKCS11_PIN" --pin "$FIRMCHAIN_PKCS11_PIN" >/dev/null
  export FIRMCHAIN_PKCS11_PIN
  # A 2-of-3 root: three officers' keys (one token here; one each in practice).
  for label in root root-2 root-3; do
    "$FIRMCHAIN" keys generate --token "pkcs11:token=firmchain-demo" --type ed25519 --label "$label" >/dev/null
  done
  for label in targets snapshot timestamp owner build; do
    "$FIRMCHAIN" keys generate --token "pkcs11:token=firmchain-demo" --type ecdsa-p256 --label "$label" >/dev/null
  done
  # The two hardware classes' decryption keys: P-256, key agreement only.
  for label in hw-class-a hw-class-b; do
    "$FIRMCHAIN" keys generate --token "pkcs11:token=firmchain-demo" --type ecdsa-p256 --usage key-agreement --label "$label" >/dev/null
  done
  mv "$TOKEN_DIR/pin.tmp" "$TOKEN_DIR/pin"   # the token is complete only once the PIN file exists
fi
export FIRMCHAIN_PKCS11_PIN=$(cat "$TOKEN_DIR/pin")
# One line for the user's own shell: the token's configuration, and the PIN read from its 0600
# file when sourced (the PIN itself is written nowhere else).
cat > "$DEMO/env" <<ENV
# Source this to use the demo token: . $DEMO/env
export SOFTHSM2_CONF="$PWD/$TOKEN_DIR/softhsm2.conf"
export FIRMCHAIN_PKCS11_PIN="\$(cat "$PWD/$TOKEN_DIR/pin")"
ENV
"$FIRMCHAIN" keys list --token "pkcs11:token=firmchain-demo"
# The fleet's pre-shared group key (A256KW): 32 random bytes, never in git.
if [ ! -f "$KEYS/fleet-acme.kek" ]; then
  mkdir -p "$KEYS"; chmod 700 "$KEYS"
  (umask 077; head -c 32 /dev/urandom > "$KEYS/fleet-acme.kek.tmp" && mv "$KEYS/fleet-acme.kek.tmp" "$KEYS/fleet-acme.kek")
fi
echo "   group key $KEYS/fleet-acme.kek (key id fleet-acme)"

step "3. firmchain pipeline run Pipelines/release.yml"
"$FIRMCHAIN" pipeline run Pipelines/release.yml

step "4. Firmchain's verifier walks the TUF client workflow from a root kept outside the release"
# The trust anchors a device and an auditor hold: the first root as shipped, and the owner key
# exported from the token (never the release's own copies). Kept once, like a device keeps them.
TRUSTED=$DEMO/trusted
mkdir -p "$TRUSTED"
[ -f "$TRUSTED/1.root.json" ] || cp "$OUT/repository/metadata/1.root.json" "$TRUSTED/1.root.json"
[ -f "$TRUSTED/owner.pub.pem" ] || "$FIRMCHAIN" keys export-public --key "pkcs11:token=firmchain-demo;object=owner" --out "$TRUSTED/owner.pub.pem" >/dev/null
"$FIRMCHAIN" repo show --out "$OUT" --trusted-root "$TRUSTED/1.root.json"

step "5. python-tuf's ngclient (bootstrapped with 1.root.json) downloads and verifies every target"
rm -rf "$DEMO/device"; mkdir -p "$DEMO/device"
"$PYTHON" Tests/Interop/tuf_client.py "$OUT/repository" "$OUT/repository/metadata/1.root.json" "$DEMO/device" \
  | "$PYTHON" -c 'import json,sys; d=json.load(sys.stdin); assert d["ok"], d; [print("   verified", n, v["length"], "bytes") for n, v in sorted(d["targets"].items())]'

step "6. Custody: Firmchain's custody verifier, then in-toto-verify run in OUT with keys/owner.pub.pem"
"$FIRMCHAIN" custody verify "$OUT" --owner-key "$TRUSTED/owner.pub.pem" | tail -1
INTOTO_VERIFY="$(cd "$(dirname "$PYTHON")" && pwd)/in-toto-verify"
INTOTO_LOG="$PWD/$DEMO/in-toto-verify.log"
if ! (cd "$OUT" && "$INTOTO_VERIFY" --layout custody/root.layout --link-dir custody \
        --verification-keys keys/owner.pub.pem > "$INTOTO_LOG" 2>&1); then
  cat "$INTOTO_LOG" >&2; echo "in-toto-verify refused the release" >&2; exit 1
fi
echo "   in-toto-verify: every step's link, the layout's rules and the delivered files check out"
rm -f "$OUT/delivered.link"   # in-toto-verify's own record of the inspection

step "7. Devices decrypt what they downloaded (the COSE structure comes from the signed manifest), then Debian's bspatch rebuilds fw-1.2.0.bin"
# The structure each target's custom.firmware.encryption carries, as a device takes it from the
# targets metadata python-tuf verified in step 5.
TARGETS_META="$OUT/repository/metadata/$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["signed"]["meta"]["targets.json"]["version"])' \
  "$OUT/repository/metadata/$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["signed"]["meta"]["snapshot.json"]["version"])' "$OUT/repository/metadata/timestamp.json").snapshot.json").targets.json"
cose_of() {  # TARGET OUT: the target's COSE structure, from the signed manifest
  "$PYTHON" -c 'import base64,json,sys; t=json.load(open(sys.argv[1]))["signed"]["targets"][sys.argv[2]]; open(sys.argv[3],"wb").write(base64.b64decode(t["custom"]["firmware"]["encryption"]["descriptor"]["cose"]))' \
    "$TARGETS_META" "$1" "$2"
}
mkdir -p "$DEMO/device/plain"
cose_of fw-1.2.0.bin "$DEMO/device/fw-1.2.0.bin.cose"
"$FIRMCHAIN" decrypt --in "$DEMO/device/fw-1.2.0.bin" --cose "$DEMO/device/fw-1.2.0.bin.cose" \
  --key "pkcs11:token=firmchain-demo;object=hw-class-a" --out "$DEMO/device/plain/fw-1.2.0.bin" >/dev/null
cmp -s "$DEMO/device/plain/fw-1.2.0.bin" "$IMAGES/fw-1.2.0.bin"
echo "   hardware class A (key in the token) decrypts fw-1.2.0.bin: the released image, byte for byte"
"$PYTHON" Tests/Interop/cose_encrypt.py decrypt "$DEMO/device/fw-1.2.0.bin.cose" "$DEMO/device/fw-1.2.0.bin" "kek:$KEYS/fleet-acme.kek" "$DEMO/device/plain/by-pycose.bin"
cmp -s "$DEMO/device/plain/by-pycose.bin" "$IMAGES/fw-1.2.0.bin"
echo "   pycose (PyPI) decrypts the same ciphertext with the fleet group key: the same image"
for base in 1.0.0 1.1.0; do
  delta="deltas/fw-1.2.0.bin.from-$base.bsdiff"
  cose_of "$delta" "$DEMO/device/delta.cose"
  "$FIRMCHAIN" decrypt --in "$DEMO/device/deltas_fw-1.2.0.bin.from-$base.bsdiff" --cose "$DEMO/device/delta.cose" \
    --key "pkcs11:token=firmchain-demo;object=hw-class-b" --out "$DEMO/device/plain/from-$base.bsdiff" >/dev/null
  bspatch "$IMAGES/fw-$base.bin" "$DEMO/device/rebuilt.bin" "$DEMO/device/plain/from-$base.bsdiff"
  cmp -s "$DEMO/device/rebuilt.bin" "$IMAGES/fw-1.2.0.bin"
  echo "   hardware class B decrypts the delta from $base; fw-$base.bin + delta = fw-1.2.0.bin (byte for byte)"
done
rm -f "$DEMO/device/rebuilt.bin"

step "8. Running the pipeline again changes nothing (from a clean shell, through $DEMO/env)"
before=$(find "$OUT" -type f -exec sha256sum {} + | sort | sha256sum)
env -i PATH="$PATH" HOME="${HOME:-/root}" bash -c ". $DEMO/env && \"$FIRMCHAIN\" pipeline run Pipelines/release.yml" | tail -1
after=$(find "$OUT" -type f -exec sha256sum {} + | sort | sha256sum)
[ "$before" = "$after" ] && echo "   every file of the release is unchanged"

step "9. firmchain verify: the whole release against the root, owner key and policy kept outside it"
# What a device remembers between updates (TUF versions, the last released version numbers)
# lives beside the trust anchors; the first run has none to read.
STATE=$TRUSTED/state.json
PREVIOUS=()
[ -f "$STATE" ] && PREVIOUS=(--previous "$STATE")
"$FIRMCHAIN" verify --release "$OUT" --trusted-root "$TRUSTED/1.root.json" --owner-key "$TRUSTED/owner.pub.pem" \
  --policy Policies/release.yml --base "$IMAGES/fw-1.0.0.bin" --base "$IMAGES/fw-1.1.0.bin" \
  "${PREVIOUS[@]}" --save-state "$STATE" --strict

printf '\nDemo finished. The release is in %s (repository/, custody/, keys/);\n' "$OUT"
printf 'images in %s, the SoftHSM token in %s.\n' "$IMAGES" "$TOKEN_DIR"
printf 'To run the pipeline yourself: . %s/env && %s pipeline run Pipelines/release.yml\n' "$DEMO" "$FIRMCHAIN_SHOWN"

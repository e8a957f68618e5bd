#!/usr/bin/env bash
# make bench-sign: signatures per second through Firmchain next to the raw PKCS#11 baseline,
# on a throw-away SoftHSM token in a temporary directory, for P-256 and RSA-3072.
#
# Three measurements per key:
#   raw loop   Benchmarks/sign/p11loop.c: C_SignInit + C_Sign on one session, nothing else.
#              The ceiling for any PKCS#11 client on this token.
#   firmchain  `firmchain sign --count N`: one process, one signer; each signature is hashed
#              on the host (ECDSA), converted r||s -> DER and verified with the public key
#              before it is returned (DESIGN.md §6). --threads 2 as well (the machine has 2 cores).
#   per process one signature per process, as a CI job that signs one file runs it: process
#              start, module load, C_Initialize, login and key lookup dominate. Compared with
#              p11loop COUNT=1 (the minimal C client) and, for P-256, `pkcs11-tool --sign`.
#              pkcs11-tool has no loop mode, so it cannot serve as the steady-state baseline.
# The PIN of the throw-away token is passed to pkcs11-tool with --pin (it has no other
# non-interactive way); Firmchain and p11loop read FIRMCHAIN_PKCS11_PIN.
set -euo pipefail
[ -n "${BENCH_DEBUG:-}" ] && set -x
cd "$(dirname "$0")/../.."
ROOT=$PWD
FIRMCHAIN=${FIRMCHAIN:-$ROOT/.build/release/firmchain}
MODULE=${MODULE:-/usr/lib/softhsm/libsofthsm2.so}
N_EC=${N_EC:-20000}
N_RSA=${N_RSA:-1000}
RUNS=${RUNS:-20}
REPS=${REPS:-3}
for tool in softhsm2-util pkcs11-tool cc openssl; do
  command -v $tool >/dev/null || { echo "bench-sign: $tool is missing; run make setup" >&2; exit 1; }
done
[ -x "$FIRMCHAIN" ] || { echo "bench-sign: $FIRMCHAIN not built (swift build -c release)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/firmchain-bench-sign.XXXXXX)
[ -n "${BENCH_KEEP:-}" ] || trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/tokens" "$ROOT/Benchmarks/bin"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$WORK" > "$WORK/softhsm2.conf"
export SOFTHSM2_CONF="$WORK/softhsm2.conf"
export FIRMCHAIN_PKCS11_PIN="bench-$RANDOM$RANDOM"
LABEL=bench
softhsm2-util --init-token --free --label $LABEL --so-pin "so-$RANDOM" --pin "$FIRMCHAIN_PKCS11_PIN" >/dev/null

cc -O2 -o "$ROOT/Benchmarks/bin/p11loop" Benchmarks/sign/p11loop.c -ldl
"$FIRMCHAIN" keys generate --token "pkcs11:token=$LABEL" --type ecdsa-p256 --label p256 >/dev/null
"$FIRMCHAIN" keys generate --token "pkcs11:token=$LABEL" --type rsa-3072 --label rsa3072 >/dev/null
head -c 4096 /dev/urandom > "$WORK/data"
openssl dgst -sha256 -binary "$WORK/data" > "$WORK/digest"

# pkcs11-tool's --label does not narrow --sign to that key here (it took the first private key,
# in SoftHSM's random object order), so name the key by CKA_ID.
id_of() { "$FIRMCHAIN" keys list --token "pkcs11:token=$LABEL" --json |
  python3 -c 'import json,sys; print([k["id"] for k in json.load(sys.stdin)["keys"] if k["label"] == sys.argv[1]][0])' "$1"; }
rate_of() { python3 -c 'import json,sys; print(json.load(sys.stdin)["benchmark"]["signatures_per_second"])'; }
now_ns() { date +%s%N; }
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "bench-sign: load average $(cut -d' ' -f1-3 /proc/loadavg) (the figures move with it)"
echo "bench-sign: SoftHSM $(softhsm2-util --version), $(nproc) cores, $(basename "$FIRMCHAIN") $("$FIRMCHAIN" --version)"
printf '\n%-10s %-32s %14s %10s\n' key measurement "signatures/s" "vs C"
for key in p256 rsa3072; do
  if [ $key = p256 ]; then n=$N_EC; mech=ecdsa; p11mech=(--mechanism ECDSA); input="$WORK/digest"
  else n=$N_RSA; mech=rsa-pss; p11mech=(--mechanism SHA256-RSA-PKCS-PSS --mgf MGF1-SHA256 --salt-len 32); input="$WORK/data"; fi
  # The machine is shared: alternate the three steady-state runs REPS times, report medians.
  raws=(); fc1s=(); fc2s=()
  for _ in $(seq $REPS); do
    raws+=("$("$ROOT/Benchmarks/bin/p11loop" "$MODULE" $LABEL $key $mech $n | awk '{print $3}')")
    fc1s+=("$("$FIRMCHAIN" sign --key "pkcs11:token=$LABEL;object=$key" --in "$WORK/data" --out "$WORK/sig" --count $n --json | rate_of)")
    fc2s+=("$("$FIRMCHAIN" sign --key "pkcs11:token=$LABEL;object=$key" --in "$WORK/data" --out "$WORK/sig" --count $n --threads 2 --json | rate_of)")
  done
  raw=$(median "${raws[@]}"); fc1=$(median "${fc1s[@]}"); fc2=$(median "${fc2s[@]}")
  # One signature per process, RUNS times each.
  key_id=$(id_of $key)
  t0=$(now_ns)
  for _ in $(seq $RUNS); do "$ROOT/Benchmarks/bin/p11loop" "$MODULE" $LABEL $key $mech 1 >/dev/null; done
  t1=$(now_ns)
  for _ in $(seq $RUNS); do
    "$FIRMCHAIN" sign --key "pkcs11:token=$LABEL;object=$key" --in "$WORK/data" --out "$WORK/sig" >/dev/null
  done
  t2=$(now_ns)
  # Failed runs (if any) cost the same time and are counted.
  tool_fail=0
  for _ in $(seq $RUNS); do
    pkcs11-tool --module "$MODULE" --token-label $LABEL --login --pin "$FIRMCHAIN_PKCS11_PIN" --sign "${p11mech[@]}" \
      --id "$key_id" --input-file "$input" --output-file "$WORK/tool.sig" >/dev/null 2>&1 || tool_fail=$((tool_fail+1))
  done
  t3=$(now_ns)
  tool_pp=$(python3 -c "print(round($RUNS/(($t3-$t2)/1e9),1))")
  [ $tool_fail = 0 ] || echo "note: $tool_fail of $RUNS pkcs11-tool runs failed" >&2
  c_pp=$(python3 -c "print(round($RUNS/(($t1-$t0)/1e9),1))")
  fc_pp=$(python3 -c "print(round($RUNS/(($t2-$t1)/1e9),1))")
  ratio() { python3 -c "print(f'{$1/$2:.2f}x')"; }
  printf '%-10s %-32s %14s %10s\n' $key "raw C loop (1 thread)" "$raw" "1.00x"
  printf '%-10s %-32s %14s %10s\n' $key "firmchain --count (1 thread)" "$fc1" "$(ratio $fc1 $raw)"
  printf '%-10s %-32s %14s %10s\n' $key "firmchain --count (2 threads)" "$fc2" "$(ratio $fc2 $raw)"
  printf '%-10s %-32s %14s %10s\n' $key "p11loop, 1 per process" "$c_pp" "1.00x"
  printf '%-10s %-32s %14s %10s\n' $key "firmchain sign, 1 per process" "$fc_pp" "$(ratio $fc_pp $c_pp)"
  printf '%-10s %-32s %14s %10s\n' $key "pkcs11-tool, 1 per process" "$tool_pp" "$(ratio $tool_pp $c_pp)"
done
echo
echo "firmchain hashes on the host, converts r||s to DER and verifies every signature with the public key"
echo "before returning it; the C loop does none of that. The per-process rows include the fsync of the output file."

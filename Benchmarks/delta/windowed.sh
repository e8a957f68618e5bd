#!/usr/bin/env bash
# delta create --max-memory (issue 23, point 5): the size cost of windows against an unbounded
# run on corpus pairs, and a multi-GiB pair made within the limit.
#
#   Benchmarks/delta/windowed.sh                 (make bench-delta-windowed)
#
# Environment: FIRMCHAIN (default .build/release/firmchain), CORPUS (default corpus-data),
# PAIRS (corpus pairs for the size cost; default L1-kernel-arm64 X1-kernel-amd64 T1-systemd-tar
# W1-crypto-x86_64), LIMITS (default "128M 512M"), BIG_GIB (size of the generated pair; default 3,
# 0 skips it), BIG_LIMIT (default 512M), OUT (default Benchmarks/out/windowed).
#
# The generated pair is a "root file system" of the corpus: every corpus pair's old file, then
# again in another order, until BIG_GIB GiB; new is the same layout with each file's new version
# (so each file moves by what the files before it grew). Both are written to OUT (about
# 2 x BIG_GIB GiB of disk). Every patch is applied with the C applier (cc -O2) and compared.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
FIRMCHAIN=${FIRMCHAIN:-$ROOT/.build/release/firmchain}
CORPUS=${CORPUS:-$ROOT/corpus-data}
PAIRS=${PAIRS:-"L1-kernel-arm64 X1-kernel-amd64 T1-systemd-tar W1-crypto-x86_64"}
LIMITS=${LIMITS:-"128M 512M"}
BIG_GIB=${BIG_GIB:-3}
BIG_LIMIT=${BIG_LIMIT:-512M}
OUT=${OUT:-$ROOT/Benchmarks/out/windowed}
mkdir -p "$OUT"
die() { echo "bench-delta-windowed: $*" >&2; exit 1; }
[ -x "$FIRMCHAIN" ] || die "no release build at $FIRMCHAIN (swift build -c release)"
cc -std=c99 -O2 -o "$OUT/fcpatch" -I Sources/CFirmchainPatch/include Sources/CFirmchainPatch/fcpatch.c \
  Sources/CFirmchainPatch/fcpatch_sha256.c Sources/CFirmchainPatch/fcpatch_lzma2.c Sources/CFirmchainPatch/cli/fcpatch_main.c

# create NAME OLD NEW [--max-memory M]: writes "seconds peak-MiB patch-bytes" to $OUT/NAME.result
# after checking the patch (a failure stops the whole script: it runs in this shell).
create() {
  local name=$1 old=$2 new=$3; shift 3
  /usr/bin/time -f "%e %M" -o "$OUT/$name.time" "$FIRMCHAIN" delta create --format firmchain1 --old "$old" --new "$new" \
    --out "$OUT/$name.fcdelta" "$@" >/dev/null
  "$OUT/fcpatch" "$old" "$OUT/$name.fcdelta" "$OUT/$name.out" || die "$name: the C applier refused the patch"
  cmp -s "$OUT/$name.out" "$new" || die "$name: the C applier did not rebuild new"
  rm -f "$OUT/$name.out"
  read -r t m <"$OUT/$name.time"
  echo "$t $(awk -v k="$m" 'BEGIN { printf "%.1f", k / 1024 }') $(stat -c %s "$OUT/$name.fcdelta")" >"$OUT/$name.result"
}

printf '%-18s %-10s %9s %9s %12s %9s\n' pair limit seconds "RSS MiB" "patch B" "/unbounded"
for pair in $PAIRS; do
  old="$CORPUS/$pair/old" new="$CORPUS/$pair/new"
  [ -f "$old" ] && [ -f "$new" ] || { echo "$pair: not in $CORPUS, skipped"; continue; }
  create "$pair.unbounded" "$old" "$new"
  read -r t m base <"$OUT/$pair.unbounded.result"
  printf '%-18s %-10s %9s %9s %12s %9s\n' "$pair" none "$t" "$m" "$base" 1.000
  for limit in $LIMITS; do
    create "$pair.$limit" "$old" "$new" --max-memory "$limit"
    read -r t m size <"$OUT/$pair.$limit.result"
    printf '%-18s %-10s %9s %9s %12s %9s\n' "$pair" "$limit" "$t" "$m" "$size" "$(awk -v a="$size" -v b="$base" 'BEGIN { printf "%.3f", a / b }')"
  done
done

if [ "$BIG_GIB" != 0 ]; then
  python3 - "$CORPUS" "$OUT/big.old" "$OUT/big.new" "$BIG_GIB" <<'PY'
import os, random, sys
corpus, old_path, new_path, gib = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
pairs = sorted(p for p in os.listdir(corpus) if os.path.isfile(os.path.join(corpus, p, "old")) and p != "P1-sparse64")
target, r = int(gib * (1 << 30)), random.Random(1)
with open(old_path, "wb") as o, open(new_path, "wb") as n:
    written = 0
    while written < target:
        order = pairs[:]
        r.shuffle(order)
        for p in order:
            a = open(os.path.join(corpus, p, "old"), "rb").read()
            b = open(os.path.join(corpus, p, "new"), "rb").read()
            o.write(a); n.write(b); written += len(a)
            if written >= target: break
PY
  create big "$OUT/big.old" "$OUT/big.new" --max-memory "$BIG_LIMIT"
  read -r t m size <"$OUT/big.result"
  echo "generated pair: old $(stat -c %s "$OUT/big.old") B, new $(stat -c %s "$OUT/big.new") B, --max-memory $BIG_LIMIT:" \
       "$t s, peak RSS $m MiB, patch $size B; the C applier rebuilt new"
  rm -f "$OUT/big.old" "$OUT/big.new"
fi

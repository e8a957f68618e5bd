#!/usr/bin/env bash
# Delta benchmark: Firmchain against its anchors on the corpus pairs, in one run.
#
#   make bench-delta                     (installs tools, builds release, runs this)
#   PAIRS="L1-kernel-arm64 S1-xhci-ko" Benchmarks/delta/run.sh
#
# Environment: PYTHON (venv interpreter; default .venv/bin/python), FIRMCHAIN (default
# .build/release/firmchain), CORPUS (default corpus-data, fetched with ../shared/corpus/fetch.sh
# when missing), PAIRS (default: every pair), TIMEOUT (seconds per anchor run, default 300),
# OUT (work directory, default Benchmarks/out/delta), ROUNDS (default 1).
#
# ROUNDS > 1 runs every tool that many times, round-robin (all tools once, then again), and
# reports each tool's median wall time (the lower middle one for an even count) and largest
# peak RSS: on a shared machine one run's time moves by 10-30 % with the neighbours' load,
# and the rounds spread that over all tools.
#
# PAIRS defaults to every pair of the shared corpus and of Benchmarks/delta/corpus-extra.sh
# (fetched when missing; its held-out pairs are marked "*").
#
# For each pair it runs Firmchain (BSDIFF40 and firmchain1), Debian bsdiff 4.3, PyPI bsdiff4, PyPI hdiffpatch (lzma 9, on one and on two threads),
# xdelta3 -9 and zstd -19 --long=31 --patch-from, and prints wall time, peak RSS
# (/usr/bin/time -f %M), patch size, Firmchain's speed-up and size ratio to each, and
# Firmchain's RSS against the 5 x old + new + 64 MiB budget. Every Firmchain patch is
# applied with Debian bspatch, every firmchain1 patch with the C applier (Sources/CFirmchainPatch,
# built here with cc -O2), and compared with new; a mismatch fails the run. Per pair, a line
# compares firmchain1's size and speed with HDiffPatch's.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
FIRMCHAIN=${FIRMCHAIN:-$ROOT/.build/release/firmchain}
CORPUS=${CORPUS:-$ROOT/corpus-data}
TIMEOUT=${TIMEOUT:-300}
ROUNDS=${ROUNDS:-1}
# The order of the table; TOOLS="firmchain bsdiff hdiffpatch hdiffpatch2" runs only those.
# hdiffpatch: lzma 9 on one thread; hdiffpatch2: on two, as many as Firmchain uses here.
# firmchain1: Firmchain's own format (Docs/formats/FIRMCHAIN1.md), applied by the C applier.
TOOLS=${TOOLS:-"firmchain firmchain1 bsdiff bsdiff4 hdiffpatch hdiffpatch2 xdelta3 zstd"}
OUT=${OUT:-$ROOT/Benchmarks/out/delta}
FETCH=${FETCH:-$ROOT/../shared/corpus/fetch.sh}
EXTRA=${EXTRA:-$ROOT/Benchmarks/delta/corpus-extra.sh}  # the wider corpus (EXTRA= to skip it)
mkdir -p "$OUT"

die() { echo "bench-delta: $*" >&2; exit 1; }
[ -x "$FIRMCHAIN" ] || die "no release build at $FIRMCHAIN (swift build -c release)"
for t in bsdiff bspatch xdelta3 zstd /usr/bin/time; do command -v "$t" >/dev/null || die "$t missing: make setup EXTRA_APT=\"\$(BENCH_APT)\""; done
"$PYTHON" -m pip install -q --disable-pip-version-check -r Benchmarks/delta/requirements.txt

if [ ! -f "$CORPUS/MANIFEST.md" ]; then
  [ -x "$FETCH" ] || die "corpus missing and no fetch script at $FETCH"
  echo "bench-delta: fetching the corpus into $CORPUS"
  "$FETCH" "$CORPUS"
fi
if [ -n "$EXTRA" ] && [ ! -f "$CORPUS/EXTRA.md" ]; then
  echo "bench-delta: fetching the extra pairs into $CORPUS"
  "$EXTRA" "$CORPUS"
fi
PAIRS=${PAIRS:-$(cd "$CORPUS" && ls -d */ | tr -d / | grep -v '^dl$' | sort)}
# Pairs corpus-extra.sh holds out from tuning (marked "*" in the table).
HELD_OUT=$( [ -f "$CORPUS/EXTRA.md" ] && awk -F' [|] ' '$2 == "held-out" { sub(/^[|] /, "", $1); print $1 }' "$CORPUS/EXTRA.md" | tr '\n' ' ')
held() { case " $HELD_OUT " in *" $1 "*) return 0 ;; esac; return 1; }
want() { case " $TOOLS " in *" $1 "*) return 0 ;; esac; return 1; }
# The device-side applier, built as a firmware project would (Sources/CFirmchainPatch).
if want firmchain1; then
  cc -std=c99 -O2 -o "$OUT/fcpatch" -I Sources/CFirmchainPatch/include Sources/CFirmchainPatch/fcpatch.c \
    Sources/CFirmchainPatch/fcpatch_sha256.c Sources/CFirmchainPatch/fcpatch_lzma2.c Sources/CFirmchainPatch/cli/fcpatch_main.c
fi

# run NAME OUTFILE CMD... : wall seconds and peak RSS (KiB) into $OUT/NAME.time, "timeout" on timeout.
run() {
  local name=$1 out=$2; shift 2
  rm -f "$out"
  set +e
  /usr/bin/time -f "%e %M" -o "$OUT/$name.time" timeout "$TIMEOUT" "$@" >"$OUT/$name.log" 2>&1
  local rc=$?
  set -e
  # A killed or failed tool may leave a partial patch: never size or apply it.
  if [ $rc -eq 124 ]; then echo "timeout" >"$OUT/$name.time"; rm -f "$out"
  elif [ $rc -ne 0 ] || [ ! -f "$out" ]; then echo "failed" >"$OUT/$name.time"; rm -f "$out"; fi
}

printf '%-16s %-10s %9s %9s %12s %9s %9s\n' pair tool seconds "RSS MiB" "patch B" "fc speed" "fc/size"
for pair in $PAIRS; do
  old="$CORPUS/$pair/old" new="$CORPUS/$pair/new"
  [ -f "$old" ] && [ -f "$new" ] || continue
  d="$OUT/$pair"; mkdir -p "$d"
  for r in $(seq "$ROUNDS"); do
    want firmchain && run "$pair.firmchain.$r" "$d/firmchain.patch" "$FIRMCHAIN" delta create --old "$old" --new "$new" --out "$d/firmchain.patch"
    want firmchain1 && run "$pair.firmchain1.$r" "$d/firmchain1.patch" "$FIRMCHAIN" delta create --format firmchain1 --old "$old" --new "$new" --out "$d/firmchain1.patch"
    want bsdiff && run "$pair.bsdiff.$r" "$d/bsdiff.patch" bsdiff "$old" "$new" "$d/bsdiff.patch"
    want bsdiff4 && run "$pair.bsdiff4.$r" "$d/bsdiff4.patch" "$PYTHON" -c 'import sys, bsdiff4; bsdiff4.file_diff(*sys.argv[1:4])' "$old" "$new" "$d/bsdiff4.patch"
    for h in hdiffpatch hdiffpatch2; do
      want $h || continue
      run "$pair.$h.$r" "$d/$h.patch" "$PYTHON" -c '
import sys, hdiffpatch
o = open(sys.argv[1], "rb").read(); n = open(sys.argv[2], "rb").read()
p = hdiffpatch.diff(o, n, hdiffpatch.LzmaConfig(level=9, window=23, threads=int(sys.argv[4])), validate=False)
open(sys.argv[3], "wb").write(p)' "$old" "$new" "$d/$h.patch" "$([ $h = hdiffpatch2 ] && echo 2 || echo 1)"
    done
    want xdelta3 && run "$pair.xdelta3.$r" "$d/xdelta3.patch" xdelta3 -9 -e -f -s "$old" "$new" "$d/xdelta3.patch"
    want zstd && run "$pair.zstd.$r" "$d/zstd.patch" zstd -q -19 --long=31 -f --patch-from="$old" "$new" -o "$d/zstd.patch"
  done
  # Per tool: the median time and largest RSS of its rounds ("timeout"/"failed" if any round was).
  for tool in $TOOLS; do
    cat "$OUT/$pair.$tool".*.time 2>/dev/null | awk '
      $1 == "timeout" || $1 == "failed" { bad = $1 }
      $1 ~ /^[0-9.]+$/ { t[++n] = $1; if ($2 > m) m = $2 }
      END {
        if (bad != "") { print bad; exit }
        for (i = 2; i <= n; i++) { x = t[i]; j = i - 1; while (j > 0 && t[j] > x) { t[j + 1] = t[j]; j-- } t[j + 1] = x }
        all = t[1]; for (i = 2; i <= n; i++) all = all " " t[i]
        print t[int((n + 1) / 2)], m, all
      }' >"$OUT/$pair.$tool.time"
    rm -f "$OUT/$pair.$tool".*.time
  done

  # Firmchain's patch must apply with Debian bspatch.
  if [ -f "$d/firmchain.patch" ]; then
    bspatch "$old" "$d/firmchain.out" "$d/firmchain.patch" && cmp -s "$d/firmchain.out" "$new" \
      || die "$pair: Debian bspatch did not reproduce new from Firmchain's patch"
    rm -f "$d/firmchain.out"
  fi

  # A firmchain1 patch must apply with the C applier.
  if [ -f "$d/firmchain1.patch" ]; then
    rm -f "$d/firmchain1.out"
    "$OUT/fcpatch" "$old" "$d/firmchain1.patch" "$d/firmchain1.out" && cmp -s "$d/firmchain1.out" "$new" \
      || die "$pair: the C applier did not reproduce new from Firmchain's firmchain1 patch"
    rm -f "$d/firmchain1.out"
  fi

  read -r fct fcm _ <"$OUT/$pair.firmchain.time" || true
  fcs=$(stat -c %s "$d/firmchain.patch" 2>/dev/null || echo 0)
  for tool in $TOOLS; do
    read -r t m rounds <"$OUT/$pair.$tool.time" || true
    if [ "$t" = timeout ] || [ "$t" = failed ]; then
      printf '%-16s %-10s %9s\n' "$pair" "$tool" "$t"; continue
    fi
    s=$(stat -c %s "$d/$tool.patch")
    speed=$(awk -v a="$t" -v b="$fct" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }')
    ratio=$(awk -v a="$fcs" -v b="$s" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "-" }')
    printf '%-16s %-10s %9s %9.1f %12d %9s %9s\n' "$pair$(held "$pair" && echo '*')" "$tool" "$t" "$(awk -v k="$m" 'BEGIN{print k/1024}')" "$s" "$speed" "$ratio"
  done
  if [ "$ROUNDS" -gt 1 ]; then
    for tool in $TOOLS; do
      read -r _ _ rounds <"$OUT/$pair.$tool.time" || true
      echo "$pair: $tool rounds (sorted): ${rounds:-none}"
    done
  fi
  budget=$(( ( 5 * $(stat -c %s "$old") + $(stat -c %s "$new") ) / 1048576 + 64 ))
  held "$pair" && echo "$pair: * HELD OUT (not used for tuning)"
  if want bsdiff && [ -f "$d/bsdiff.patch" ] && [ -f "$d/firmchain.patch" ]; then
    echo "$pair: Firmchain patch $(stat -c %s "$d/firmchain.patch") B vs bsdiff 4.3 $(stat -c %s "$d/bsdiff.patch") B: $([ "$(stat -c %s "$d/firmchain.patch")" -le "$(stat -c %s "$d/bsdiff.patch")" ] && echo 'not larger' || echo 'LARGER')"
  fi
  if want firmchain1 && [ -f "$d/firmchain1.patch" ]; then
    read -r f1t _ <"$OUT/$pair.firmchain1.time" || true
    for h in hdiffpatch hdiffpatch2; do
      [ -f "$d/$h.patch" ] || continue
      read -r ht _ <"$OUT/$pair.$h.time" || true
      echo "$pair: firmchain1 $(stat -c %s "$d/firmchain1.patch") B in $f1t s; $h $(stat -c %s "$d/$h.patch") B in $ht s: size $(awk -v a="$(stat -c %s "$d/firmchain1.patch")" -v b="$(stat -c %s "$d/$h.patch")" 'BEGIN{printf "%.3f", a/b}')x, speed $(awk -v a="$ht" -v b="$f1t" 'BEGIN{ if (b > 0) printf "%.2f", a/b; else print "-" }')x"
    done
  fi
  echo "$pair: Firmchain peak RSS $(awk -v k="$fcm" 'BEGIN{printf "%.1f", k/1024}') MiB, budget 5*old+new+64MiB = $budget MiB; per MiB of new: $(awk -v t="$fct" -v n="$(stat -c %s "$new")" 'BEGIN{printf "%.3f", t / (n / 1048576)}') s"
done
echo "(fc speed = tool seconds / Firmchain seconds; fc/size = Firmchain patch bytes / tool patch bytes; * = held out)"

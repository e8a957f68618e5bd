#!/usr/bin/env bash
# Suffix-array construction: Firmchain's SuffixArray.build (SA-IS, pure Swift) against
# libdivsufsort's divsufsort() on the same files.
#
#   Benchmarks/suffix-array/run.sh FILE...        (REPEATS=3 by default: best of 3 per tool)
#
# Builds the C driver (needs libdivsufsort-dev, part of BENCH_APT) and `sa-bench` in release mode,
# then prints one row per file: size, seconds and MB/s (10^6 bytes/s) for each tool, the ratio
# Firmchain/libdivsufsort throughput, and the peak RSS of each tool's process
# (/usr/bin/time -f %M). sa-bench also runs the linear-time checker on its result; a rejected
# array stops the run.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
REPEATS="${REPEATS:-3}"
[ $# -ge 1 ] || { echo "usage: $0 FILE..." >&2; exit 64; }

BIN="$ROOT/Benchmarks/bin"
mkdir -p "$BIN"
cc -O2 -o "$BIN/divsufsort_bench" "$HERE/divsufsort_bench.c" -ldivsufsort
(cd "$ROOT" && swift build -c release --product sa-bench >&2)
SA_BENCH="$(cd "$ROOT" && swift build -c release --show-bin-path)/sa-bench"

printf '%-40s %10s | %8s %8s | %8s %8s | %6s | %9s %9s | %s\n' \
  file bytes "dss s" "dss MB/s" "fc s" "fc MB/s" ratio "dss RSS" "fc RSS" check
for f in "$@"; do
  tmp="$(mktemp)"
  d_out=$(/usr/bin/time -f %M -o "$tmp" "$BIN/divsufsort_bench" "$f" "$REPEATS")
  d_rss=$(tail -1 "$tmp")
  s_out=$(/usr/bin/time -f %M -o "$tmp" "$SA_BENCH" "$f" "$REPEATS") || { echo "sa-bench failed on $f: $s_out" >&2; exit 1; }
  s_rss=$(tail -1 "$tmp")
  rm -f "$tmp"
  read -r d_s bytes <<<"$d_out"
  read -r s_s _ c_s verdict <<<"$s_out"
  awk -v f="$f" -v n="$bytes" -v ds="$d_s" -v ss="$s_s" -v dr="$d_rss" -v sr="$s_rss" -v v="$verdict" -v cs="$c_s" 'BEGIN {
    dm = (ds > 0) ? n / ds / 1e6 : 0; sm = (ss > 0) ? n / ss / 1e6 : 0;
    r = (dm > 0) ? sm / dm : 0;
    printf "%-40s %10d | %8.3f %8.1f | %8.3f %8.1f | %6.2f | %6.1f MiB %6.1f MiB | %s (%.2f s)\n",
      f, n, ds, dm, ss, sm, r, dr / 1024, sr / 1024, v, cs }'
done

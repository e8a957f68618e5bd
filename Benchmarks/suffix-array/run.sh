#!/usr/bin/env bash
# Suffix-array construction: Firmchain's SuffixArray.build (SA-IS, pure Swift) against
# libdivsufsort's divsufsort() on the same files.
#
#   Benchmarks/suffix-array/run.sh FILE...        (REPEATS=3 by default: best of 3 per tool)
#
# Builds the C driver (needs libdivsufsort-dev, part of BENCH_APT) and `sa-bench` in release mode,
# then prints one row per file: size; seconds and MB/s (10^6 bytes/s) of each tool; the ratio
# Firmchain/libdivsufsort throughput (>= 1 means Firmchain is faster); the same ratio over process
# CPU time (steadier on a shared machine); and the peak RSS of each tool's whole process
# (/usr/bin/time -f %M; both hold the text and a 4-byte-per-byte suffix array), and that peak
# minus each process's RSS on a 1-byte file ("net": what the sort itself needs; sa-bench links
# Foundation through FirmchainCore, about 18 MiB). sa-bench also runs the linear-time checker on
# its result; a rejected array stops the run.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
REPEATS="${REPEATS:-3}"
[ $# -ge 1 ] || { echo "usage: $0 FILE..." >&2; exit 64; }
[ -x /usr/bin/time ] || { echo "run.sh: /usr/bin/time is missing (Debian package 'time', in BENCH_APT)" >&2; exit 69; }

BIN="$ROOT/Benchmarks/bin"
mkdir -p "$BIN"
cc -O2 -o "$BIN/divsufsort_bench" "$HERE/divsufsort_bench.c" -ldivsufsort
(cd "$ROOT" && swift build -c release --product sa-bench >&2)
SA_BENCH="$(cd "$ROOT" && swift build -c release --show-bin-path)/sa-bench"

rss() { # command... -> peak RSS in KiB
  local tmp; tmp="$(mktemp)"
  "/usr/bin/time" -f %M -o "$tmp" "$@" >/dev/null
  tail -1 "$tmp"; rm -f "$tmp"
}
one="$(mktemp)"; printf 'x' >"$one"
d_base=$(rss "$BIN/divsufsort_bench" "$one" 1)
s_base=$(rss "$SA_BENCH" "$one" 1)
rm -f "$one"

printf '%-36s %10s | %7s %7s | %7s %7s | %5s %5s | %9s %9s | %15s | %s\n' \
  file bytes "dss s" "MB/s" "fc s" "MB/s" ratio "cpu-r" "dss RSS" "fc RSS" "net dss / fc" "check"
for f in "$@"; do
  tmp="$(mktemp)"
  d_out=$(/usr/bin/time -f %M -o "$tmp" "$BIN/divsufsort_bench" "$f" "$REPEATS")
  d_rss=$(tail -1 "$tmp")
  s_out=$(/usr/bin/time -f %M -o "$tmp" "$SA_BENCH" "$f" "$REPEATS") || { echo "sa-bench failed on $f: $s_out" >&2; rm -f "$tmp"; exit 1; }
  s_rss=$(tail -1 "$tmp")
  rm -f "$tmp"
  read -r d_s bytes d_cpu <<<"$d_out"
  read -r s_s _ c_s verdict s_cpu <<<"$s_out"
  awk -v f="$f" -v n="$bytes" -v ds="$d_s" -v ss="$s_s" -v dc="$d_cpu" -v sc="$s_cpu" \
      -v dr="$d_rss" -v sr="$s_rss" -v db="$d_base" -v sb="$s_base" -v v="$verdict" -v cs="$c_s" 'BEGIN {
    dm = (ds > 0) ? n / ds / 1e6 : 0; sm = (ss > 0) ? n / ss / 1e6 : 0;
    r = (dm > 0) ? sm / dm : 0; cr = (sc > 0) ? dc / sc : 0;
    name = f; if (length(name) > 36) name = "…" substr(name, length(name) - 34);
    printf "%-36s %10d | %7.3f %7.1f | %7.3f %7.1f | %5.2f %5.2f | %5.1f MiB %5.1f MiB | %5.2fn / %5.2fn | %s in %.2f s\n",
      name, n, ds, dm, ss, sm, r, cr, dr / 1024, sr / 1024, (dr - db) * 1024 / n, (sr - sb) * 1024 / n, v, cs }'
done

#!/usr/bin/env bash
# Old against new: `delta create` of several firmchain binaries on one corpus pair, alternating
# within every round so that all of them share the shared machine's load.
#
#   Benchmarks/delta/ab.sh PAIR ROUNDS BINARY...     # e.g. L1-kernel-arm64 9 old/firmchain new/firmchain
#
# CORPUS (default corpus-data) holds PAIR/{old,new}. Prints one line per run (round, binary,
# wall s, peak RSS KB, user s, sys s, 1-minute load average), then per binary the median wall
# time and median CPU time (user + sys), and checks that every binary wrote the same patch and
# that Debian bspatch rebuilds new from it.
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: $0 PAIR ROUNDS BINARY..." >&2; exit 64; }
pair=$1 rounds=$2; shift 2
d=${CORPUS:-corpus-data}/$pair
[ -f "$d/old" ] && [ -f "$d/new" ] || { echo "ab.sh: no $d/{old,new}" >&2; exit 66; }
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
for r in $(seq 1 "$rounds"); do
  k=0
  for b in "$@"; do
    k=$((k + 1))
    t=$( { /usr/bin/time -f "%e %M %U %S" "$b" delta create --old "$d/old" --new "$d/new" --out "$out/$k.patch" >/dev/null; } 2>&1 | tail -1)
    echo "$r $k:$b $t $(cut -d' ' -f1 /proc/loadavg)"
  done
done | tee "$out/runs"
python3 - "$out/runs" <<'PY'
import collections, statistics, sys
wall, cpu, load = collections.defaultdict(list), collections.defaultdict(list), []
for line in open(sys.argv[1]):
    r, b, e, m, u, s, l = line.split()
    wall[b].append(float(e)); cpu[b].append(float(u) + float(s)); load.append(float(l))
for b in wall:
    print(f"{b}: {len(wall[b])} rounds, median wall {statistics.median(wall[b]):.2f} s, median CPU {statistics.median(cpu[b]):.2f} s")
print(f"load average {min(load):.2f}-{max(load):.2f}")
PY
for k in $(seq 2 $#); do cmp -s "$out/1.patch" "$out/$k.patch" || echo "binary $k wrote another patch than binary 1"; done
bspatch "$d/old" "$out/new" "$out/$#.patch" && cmp -s "$out/new" "$d/new" && echo "bspatch rebuilds new from the last binary's patch"

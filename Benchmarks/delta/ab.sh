#!/usr/bin/env bash
# Old against new: `delta create` of several firmchain binaries on one corpus pair, alternating
# within every round so that all of them share the shared machine's load, each round starting
# with the next binary so that no binary always runs first.
#
#   Benchmarks/delta/ab.sh PAIR ROUNDS BINARY...     # e.g. L1-kernel-arm64 9 old/firmchain new/firmchain
#
# CORPUS (default corpus-data) holds PAIR/{old,new}. Prints one line per run (round, binary,
# wall s, peak RSS KB, user s, sys s, 1-minute load average), then per binary the median wall
# time and median CPU time (user + sys) and, for binaries 2 and up, the median of their
# per-round ratios to binary 1, and checks that every binary wrote the same patch and
# that Debian bspatch rebuilds new from it.
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: $0 PAIR ROUNDS BINARY..." >&2; exit 64; }
pair=$1 rounds=$2; shift 2
d=${CORPUS:-corpus-data}/$pair
[ -f "$d/old" ] && [ -f "$d/new" ] || { echo "ab.sh: no $d/{old,new}" >&2; exit 66; }
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
bins=("$@")
for r in $(seq 1 "$rounds"); do
  # Round r starts with binary r (cyclically): a place in the order can cost or gain a few
  # per cent by itself (three copies of one binary in a row differed by 5 % in their medians).
  for i in $(seq 0 $(($# - 1))); do
    k=$(( (i + r - 1) % $# + 1 ))
    b=${bins[$((k - 1))]}
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
rounds = collections.defaultdict(dict)
for line in open(sys.argv[1]):
    r, b, e, m, u, s, l = line.split()
    rounds[r][b] = (float(e), float(u) + float(s))
first = min(wall, key=lambda b: int(b.split(":")[0]))
for b in sorted(wall, key=lambda b: int(b.split(":")[0])):
    line = f"{b}: {len(wall[b])} rounds, median wall {statistics.median(wall[b]):.2f} s, median CPU {statistics.median(cpu[b]):.2f} s"
    if b != first:
        # Within-round ratios to binary 1 (the rounds share the machine's load).
        w = [v[b][0] / v[first][0] for v in rounds.values() if b in v and first in v]
        c = [v[b][1] / v[first][1] for v in rounds.values() if b in v and first in v]
        line += f"; against binary 1 per round: median wall {statistics.median(w):.3f}, CPU {statistics.median(c):.3f}, faster in {sum(x < 1 for x in w)} of {len(w)}"
    print(line)
print(f"load average {min(load):.2f}-{max(load):.2f}")
PY
for k in $(seq 2 $#); do cmp -s "$out/1.patch" "$out/$k.patch" || echo "binary $k wrote another patch than binary 1"; done
bspatch "$d/old" "$out/new" "$out/$#.patch" && cmp -s "$out/new" "$d/new" && echo "bspatch rebuilds new from the last binary's patch"

#!/usr/bin/env bash
# Builds the fuzz targets through SwiftPM with libFuzzer + ASan and runs each for a set time.
#
#   Tests/Fuzz/run.sh [SECONDS] [TARGET …]     (make fuzz FUZZ_SECONDS=600 [FUZZ_TARGETS="json dsse"])
#
# Every parser of untrusted bytes has a target in Tests/Fuzz/Targets (the `firmchain-fuzz`
# product); the build instruments the whole dependency graph SwiftPM compiles for it, so no file
# list is kept here. Findings (crash-*, leak-*, timeout-*) go to Benchmarks/out/fuzz/findings/
# (gitignored); a finding, once fixed, is copied into Tests/Fuzz/seeds/TARGET/ so the regression
# test replays it forever. Docs/fuzzing.md says more.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_TO_RUN="${1:-60}"
shift || true
OUT=Benchmarks/out/fuzz
BUILD=.build-fuzz
mkdir -p "$OUT/findings" "$OUT/logs"

# swiftc keeps only the last -sanitize= it is given, and SwiftPM passes one per --sanitize: the
# -Xswiftc flag (which comes after them) gives Swift code both coverage and ASan; --sanitize
# gives them to the C targets and the link.
swift build --build-path "$BUILD" --product firmchain-fuzz --sanitize fuzzer --sanitize address \
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING
BIN="$BUILD/debug/firmchain-fuzz"
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
  read -r -a TARGETS <<< "$(FIRMCHAIN_FUZZ_TARGET=--list "$BIN" 2>/dev/null | tr '\n' ' ')"
fi

status=0
for t in "${TARGETS[@]}"; do
  mkdir -p "$OUT/corpus/$t" "Tests/Fuzz/seeds/$t"
  log="$OUT/logs/$t.log"
  echo "fuzz: $t for ${SECONDS_TO_RUN}s (seeds: Tests/Fuzz/seeds/$t, log: $log)"
  if FIRMCHAIN_FUZZ_TARGET="$t" "$BIN" -max_total_time="$SECONDS_TO_RUN" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
       -artifact_prefix="$OUT/findings/$t-" -print_final_stats=1 "$OUT/corpus/$t" "Tests/Fuzz/seeds/$t" > "$log" 2>&1; then
    execs=$(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}')
    rate=$(grep -m1 'stat::average_exec_per_sec' "$log" | awk '{print $2}')
    cov=$(grep -E '^#[0-9]+.*cov:' "$log" | tail -1 | sed -E 's/.*cov: ([0-9]+).*ft: ([0-9]+).*/cov \1, ft \2/')
    echo "   $t: ${execs:-?} runs, ${rate:-?} exec/s, ${cov:-coverage ?}, no finding"
  else
    echo "   $t: FINDING (see $log and $OUT/findings/)"; tail -30 "$log"; status=1
  fi
done
exit $status

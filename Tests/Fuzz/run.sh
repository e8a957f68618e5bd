#!/usr/bin/env bash
# Builds the fuzz targets with libFuzzer + ASan and runs each for SECONDS: the CBOR / COSE_Encrypt
# reader (fuzz-cose) and the BSDIFF40 reader (fuzz-bspatch).
#
#   Tests/Fuzz/run.sh [SECONDS]      (make fuzz; default 60 s)
#
# The target is compiled straight from the Delta sources with swiftc (no SwiftPM, so nothing
# else gets instrumented); findings go to Benchmarks/out/fuzz/ (gitignored).
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_TO_RUN="${1:-60}"
OUT=Benchmarks/out/fuzz
BUILD="$OUT/build"
mkdir -p "$BUILD" "$OUT/corpus" "$OUT/findings"
SAN=(-sanitize=fuzzer,address -parse-as-library -Onone -gline-tables-only)

# FirmchainCore's error protocol is the only piece of FirmchainCore the reader needs.
swiftc "${SAN[@]}" -emit-module -emit-object -module-name FirmchainCore \
  -emit-module-path "$BUILD/FirmchainCore.swiftmodule" -o "$BUILD/FirmchainCore.o" \
  Sources/FirmchainCore/FirmchainError.swift
# The CBOR reader and the COSE_Encrypt parser (Encryption's pure files; nothing of OpenSSL).
swiftc "${SAN[@]}" -emit-module -wmo -module-name Encryption -I "$BUILD" \
  -emit-module-path "$BUILD/Encryption.swiftmodule" -emit-object -o "$BUILD/Encryption.o" \
  Sources/Encryption/CBOR.swift Sources/Encryption/COSEEncrypt.swift Sources/Encryption/Algorithms.swift Sources/Encryption/EncryptionError.swift
swiftc "${SAN[@]}" -I "$BUILD" -module-name COSEFuzz \
  Tests/Fuzz/COSEFuzz.swift "$BUILD/Encryption.o" "$BUILD/FirmchainCore.o" -o "$BUILD/fuzz-cose"
mkdir -p "$OUT/corpus-cose"

echo "fuzz: running fuzz-cose for ${SECONDS_TO_RUN}s (seeds: Tests/Fuzz/seeds-cose)"
"$BUILD/fuzz-cose" -max_total_time="$SECONDS_TO_RUN" -max_len=2048 -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$OUT/findings/cose-" -print_final_stats=1 "$OUT/corpus-cose" Tests/Fuzz/seeds-cose

# The Delta reader, patcher and bzip2 glue (Delta.swift, the file-level facade, is left out).
swiftc "${SAN[@]}" -emit-module -wmo -module-name Delta -I "$BUILD" -I Sources/CBZip2 \
  -emit-module-path "$BUILD/Delta.swiftmodule" -emit-object -o "$BUILD/Delta.o" \
  Sources/Delta/DeltaError.swift Sources/Delta/BSDIFF40.swift Sources/Delta/BZip2_bz2.swift \
  Sources/Delta/Patcher.swift Sources/Delta/Alignment.swift Sources/Delta/Scanner.swift Sources/Delta/ScanDriver.swift
swiftc "${SAN[@]}" -I "$BUILD" -I Sources/CBZip2 -module-name BSPatchFuzz \
  Tests/Fuzz/BSPatchFuzz.swift "$BUILD/Delta.o" "$BUILD/FirmchainCore.o" -lbz2 -o "$BUILD/fuzz-bspatch"

echo "fuzz: running fuzz-bspatch for ${SECONDS_TO_RUN}s (seeds: Tests/Fuzz/seeds)"
"$BUILD/fuzz-bspatch" -max_total_time="$SECONDS_TO_RUN" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$OUT/findings/" -print_final_stats=1 "$OUT/corpus" Tests/Fuzz/seeds

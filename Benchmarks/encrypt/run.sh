#!/usr/bin/env bash
# make bench-encrypt: `firmchain encrypt` on a sparse file (4 GiB by default), for peak memory
# and throughput, next to `openssl speed -evp aes-256-gcm` measured in the same run.
#
#   firmchain encrypt   the whole command as a user runs it: read the plaintext in 1 MiB chunks,
#                       AES-256-GCM through OpenSSL EVP, SHA-256 of plaintext and ciphertext, write
#                       the ciphertext to a temporary file, fsync, rename (reader, encryption and
#                       writer on three threads); wrap the key for one P-256 recipient and one
#                       group key. Wall time and peak RSS per round (GNU time: the child's maxrss).
#                       Also its user and system CPU seconds, to show where the time goes.
#   firmchain decrypt   the same file back, tag checked before the rename (reported, no target).
#   openssl speed       `openssl speed -evp aes-256-gcm -bytes 16384` (its largest default block)
#                       and `-bytes 1048576` (Firmchain's chunk): AES-GCM in memory, one thread,
#                       no I/O and no hashing: the ceiling.
#   dd bs=1M            the same file copied in 1 MiB reads and writes, nothing else: the I/O
#                       ceiling of any tool that reads the file and writes one as large.
#   openssl enc         `openssl enc -aes-256-ctr` over the same file (openssl enc has no GCM):
#                       OpenSSL's own file tool, for scale.
# Targets (issue 20): peak RSS < 64 MiB; encrypt throughput >= 0.85x openssl speed.
#
# Environment: SIZE_GIB (4), ROUNDS (3; medians are reported), FIRMCHAIN (.build/release/firmchain),
# OUT (default /dev/shm/firmchain-bench-encrypt: tmpfs, so the disk does not set the figure; it
# needs 2 x SIZE_GIB of free memory. Point OUT at a disk directory for the disk-bound figure).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
FIRMCHAIN=${FIRMCHAIN:-$ROOT/.build/release/firmchain}
SIZE_GIB=${SIZE_GIB:-4}
ROUNDS=${ROUNDS:-3}
OUT=${OUT:-/dev/shm/firmchain-bench-encrypt}
for tool in openssl /usr/bin/time python3; do
  command -v $tool >/dev/null || { echo "bench-encrypt: $tool is missing; run make setup" >&2; exit 1; }
done
[ -x "$FIRMCHAIN" ] || { echo "bench-encrypt: $FIRMCHAIN not built (swift build -c release)" >&2; exit 1; }

rm -rf "$OUT"; mkdir -p "$OUT"
trap 'rm -rf "$OUT"' EXIT
BYTES=$((SIZE_GIB * 1024 * 1024 * 1024))
truncate -s "$BYTES" "$OUT/plain.bin"
openssl ecparam -name prime256v1 -genkey -noout -out "$OUT/device.key" 2>/dev/null
openssl pkey -in "$OUT/device.key" -pubout -out "$OUT/device.pub" 2>/dev/null
openssl rand 32 > "$OUT/fleet.kek"

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# openssl speed, bytes per second (-mr: "+F:n:aes-256-gcm:B/s").
speed() { openssl speed -mr -evp aes-256-gcm -bytes "$1" -seconds 3 2>/dev/null | awk -F: '/^\+F:/ {print $4}'; }

enc_s=(); enc_rss=(); dec_s=(); dec_rss=(); sp16=(); sp1m=(); dd_s=(); ossl_s=()
elapsed() { /usr/bin/time -f '%e' -o "$OUT/time.x" "$@" >/dev/null 2>&1; cat "$OUT/time.x"; }
echo "bench-encrypt: $SIZE_GIB GiB sparse file, $ROUNDS rounds, load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$ROUNDS"); do
  sp16+=("$(speed 16384)")
  sp1m+=("$(speed 1048576)")
  rm -f "$OUT/cipher.bin" "$OUT/cipher.bin.cose" "$OUT/back.bin"
  /usr/bin/time -f '%e %M %U %S' -o "$OUT/time.enc" "$FIRMCHAIN" encrypt --in "$OUT/plain.bin" --out "$OUT/cipher.bin" \
      --recipient "$OUT/device.pub" --recipient "kek:$OUT/fleet.kek" >/dev/null
  read -r s kb us ss < "$OUT/time.enc"; enc_s+=("$s"); enc_rss+=("$kb"); enc_cpu="$us user + $ss sys"
  dd_s+=("$(elapsed dd if="$OUT/plain.bin" of="$OUT/copy.bin" bs=1M conv=fsync)"); rm -f "$OUT/copy.bin"
  ossl_s+=("$(elapsed openssl enc -aes-256-ctr -K "$(printf '%064d' 0)" -iv "$(printf '%032d' 0)" -in "$OUT/plain.bin" -out "$OUT/copy.bin")")
  rm -f "$OUT/copy.bin"
  /usr/bin/time -f '%e %M' -o "$OUT/time.dec" "$FIRMCHAIN" decrypt --in "$OUT/cipher.bin" --key "$OUT/device.key" --out "$OUT/back.bin" >/dev/null
  read -r s kb < "$OUT/time.dec"; dec_s+=("$s"); dec_rss+=("$kb")
  [ "$(stat -c %s "$OUT/back.bin")" = "$BYTES" ] || { echo "bench-encrypt: decrypted length differs" >&2; exit 1; }
  printf '  round %d: encrypt %.2f s (%d KiB peak; CPU %s s), decrypt %.2f s (%d KiB), dd %.2f s, openssl enc %.2f s, openssl speed 16 KiB %.0f MB/s, 1 MiB %.0f MB/s\n' \
      "$r" "${enc_s[-1]}" "${enc_rss[-1]}" "$enc_cpu" "${dec_s[-1]}" "${dec_rss[-1]}" "${dd_s[-1]}" "${ossl_s[-1]}" \
      "$(awk -v v="${sp16[-1]}" 'BEGIN {print v / 1e6}')" "$(awk -v v="${sp1m[-1]}" 'BEGIN {print v / 1e6}')"
done
rm -f "$OUT/back.bin"

E=$(printf '%s\n' "${enc_s[@]}" | median); D=$(printf '%s\n' "${dec_s[@]}" | median)
ER=$(printf '%s\n' "${enc_rss[@]}" | sort -g | tail -1); DR=$(printf '%s\n' "${dec_rss[@]}" | sort -g | tail -1)
S16=$(printf '%s\n' "${sp16[@]}" | median); S1M=$(printf '%s\n' "${sp1m[@]}" | median)
DD=$(printf '%s\n' "${dd_s[@]}" | median); OS=$(printf '%s\n' "${ossl_s[@]}" | median)
python3 - "$BYTES" "$E" "$D" "$ER" "$DR" "$S16" "$S1M" "$DD" "$OS" <<'PY'
import sys
n, e, d, er, dr, s16, s1m, dd, os_ = (float(x) for x in sys.argv[1:])
print(f"median dd bs=1M copy {dd:.2f} s = {n/dd/1e6:.0f} MB/s (the I/O ceiling); openssl enc -aes-256-ctr {os_:.2f} s = {n/os_/1e6:.0f} MB/s")
enc, dec = n / e / 1e6, n / d / 1e6
print(f"median encrypt {e:.2f} s = {enc:.0f} MB/s; peak RSS {er/1024:.1f} MiB (target < 64 MiB: {'met' if er < 64*1024 else 'NOT met'})")
print(f"median decrypt {d:.2f} s = {dec:.0f} MB/s, peak RSS {dr/1024:.1f} MiB")
print(f"openssl speed -evp aes-256-gcm: {s16/1e6:.0f} MB/s (16 KiB blocks), {s1m/1e6:.0f} MB/s (1 MiB blocks)")
for name, v in (("encrypt", enc),):
    ratio = v / (s16 / 1e6)
    print(f"{name} / openssl speed (16 KiB) = {ratio:.2f}x (target >= 0.85x: {'met' if ratio >= 0.85 else 'NOT met'}); / dd copy = {v / (n/dd/1e6):.2f}x")
PY
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

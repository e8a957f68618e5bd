#!/usr/bin/env bash
# make bench-encrypt: Firmchain's AES-256-GCM encryption beside `openssl speed -evp aes-256-gcm`,
# measured in the same run, as two separate figures.
#
# (a) The cipher core: the figure the issue-20 target (>= 0.85x openssl speed) is judged on.
#     `encrypt-bench` (Benchmarks/encrypt/SwiftDriver, release build) runs Firmchain's streaming
#     AES-256-GCM engine (`StreamingGCM`, what every payload goes through) over SIZE bytes in
#     memory, on one thread, in place in one buffer, in Firmchain's 1 MiB chunks (and in 16 KiB
#     ones). `openssl speed -evp aes-256-gcm` does the same work: in OpenSSL 3.0 (without -aead)
#     EVP updates of one message over one buffer, one thread, no I/O. Ratios: engine (1 MiB chunks) / openssl speed at 16 KiB
#     (openssl speed's largest default block, the figure the issue names) and / openssl speed at
#     1 MiB (the same block as the engine). The target is met when both are >= 0.85.
#     openssl speed divides by its CPU user time unless given -elapsed, so the engine's rate is
#     taken over its process CPU time too (what a busy shared machine disturbs least); the
#     wall-time pair (engine wall time, `openssl speed -elapsed`) is printed beside it.
#
# (b) The whole command, end to end, against the I/O ceiling. `firmchain encrypt` of a sparse
#     file of SIZE_GIB GiB on tmpfs for one P-256 recipient and one group key, as a user runs it:
#     read the plaintext in 1 MiB chunks, AES-GCM, SHA-256 of the plaintext and of the ciphertext
#     (the manifest records both), write the ciphertext to a temporary file, fsync, rename. Three
#     threads: reader (read + plaintext SHA-256), AES-GCM, writer (ciphertext SHA-256 + write).
#     Beside it: `dd bs=1M conv=fsync`, a copy of the same file with nothing else (the I/O
#     ceiling), and `openssl enc -aes-256-ctr` (OpenSSL's own file tool: one thread, no GCM, no
#     hashing; for scale). Also `firmchain decrypt` (the same three stages) and peak RSS (target
#     < 64 MiB).
#
#     Why (b) cannot reach (a) on this machine (2 cores): each byte is read, encrypted, hashed
#     twice and written. The per-stage CPU costs are measured in every round: reading the file
#     (`dd of=/dev/null`), writing one as large (`dd if=/dev/zero`), AES-GCM and SHA-256
#     (`encrypt-bench`, and `openssl speed -evp sha256` for reference), all as CPU seconds. Their
#     sum over two cores, and no less than the busiest thread, is the least wall time the command
#     can take on an idle machine; the script prints that floor, as MB/s and as a ratio to
#     openssl speed, beside the measurement (wall and CPU).
#     SHA-256, even with SHA-NI, costs several times more CPU per byte than AES-GCM with AES-NI and
#     VAES, and the command hashes every byte twice; with reading and writing on top, the command
#     is bound by hashing and I/O, not by the cipher, and its floor is a fraction of (a).
#
# Environment: SIZE_GIB (4), ROUNDS (3; medians, and the largest peak RSS, are reported),
# OUT (default /dev/shm/firmchain-bench-encrypt: tmpfs, so no disk sets the figures; it needs
# 2 x SIZE_GIB of free memory; point it at a disk directory for a disk-bound run).
# Prints the load average before each round and at the end: compare figures within one run.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
SIZE_GIB=${SIZE_GIB:-4}
ROUNDS=${ROUNDS:-3}
OUT=${OUT:-/dev/shm/firmchain-bench-encrypt}
for tool in openssl /usr/bin/time python3 dd; do
  command -v $tool >/dev/null || { echo "bench-encrypt: $tool is missing (Debian package 'time' for /usr/bin/time; make apt EXTRA_APT=time)" >&2; exit 1; }
done
BIN=$(swift build -c release --show-bin-path)
for product in firmchain encrypt-bench; do
  [ -x "$BIN/$product" ] || { echo "bench-encrypt: $BIN/$product is not built (swift build -c release --product $product)" >&2; exit 1; }
done
FIRMCHAIN=$BIN/firmchain

rm -rf "$OUT"; mkdir -p "$OUT"
trap 'rm -rf "$OUT"' EXIT
BYTES=$((SIZE_GIB * 1024 * 1024 * 1024))
MIB=$((SIZE_GIB * 1024))
truncate -s "$BYTES" "$OUT/plain.bin"
openssl ecparam -name prime256v1 -genkey -noout -out "$OUT/device.key" 2>/dev/null
openssl pkey -in "$OUT/device.key" -pubout -out "$OUT/device.pub" 2>/dev/null
openssl rand 32 > "$OUT/fleet.kek"

load() { cut -d' ' -f1-3 /proc/loadavg; }
# openssl speed, bytes per second ("-mr" lines "+F:n:name:bytes/s"); by default openssl speed
# divides by its CPU user time, with -elapsed by wall time.
speed() { openssl speed -mr "$@" -seconds 3 2>/dev/null | awk -F: '/^\+F:/ {print $4}'; }
# "<wall> <user+sys CPU>" seconds of a command (GNU time).
timed() { /usr/bin/time -f '%e %U %S' -o "$OUT/time.x" "$@" >/dev/null 2>&1; awk '{print $1, $2 + $3}' "$OUT/time.x"; }

ROWS=$OUT/rows.txt; : > "$ROWS"
echo "bench-encrypt: $SIZE_GIB GiB, $ROUNDS rounds, medians; $(nproc) cores; $(openssl version | cut -d' ' -f1-2)"
for r in $(seq 1 "$ROUNDS"); do
  row="load=$(cut -d' ' -f1 /proc/loadavg)"
  echo "  round $r: load $(load)"
  row+=" sp16=$(speed -evp aes-256-gcm -bytes 16384) sp1m=$(speed -evp aes-256-gcm -bytes 1048576)"
  row+=" sp1m_wall=$(speed -elapsed -evp aes-256-gcm -bytes 1048576) sha=$(speed -evp sha256 -bytes 1048576)"
  # "gcm CHUNK WALL CPU BYTES" twice, then "sha256 CHUNK WALL CPU BYTES".
  row+=" $("$BIN/encrypt-bench" "$BYTES" 16384 1048576 | awk '$1 == "gcm" {printf "g%d=%s g%d_cpu=%s ", $2, $3, $2, $4} $1 == "sha256" {printf "h=%s h_cpu=%s", $3, $4}')"
  read -r w c <<<"$(timed dd if="$OUT/plain.bin" of=/dev/null bs=1M)"; row+=" rd=$w rd_cpu=$c"
  read -r w c <<<"$(timed dd if=/dev/zero of="$OUT/copy.bin" bs=1M count="$MIB" conv=fsync)"; row+=" wr=$w wr_cpu=$c"; rm -f "$OUT/copy.bin"
  read -r w c <<<"$(timed dd if="$OUT/plain.bin" of="$OUT/copy.bin" bs=1M conv=fsync)"; row+=" cp=$w cp_cpu=$c"; rm -f "$OUT/copy.bin"
  read -r w c <<<"$(timed openssl enc -aes-256-ctr -K "$(printf '%064d' 0)" -iv "$(printf '%032d' 0)" -in "$OUT/plain.bin" -out "$OUT/copy.bin")"
  row+=" oe=$w oe_cpu=$c"; rm -f "$OUT/copy.bin"

  rm -f "$OUT/cipher.bin" "$OUT/cipher.bin.cose" "$OUT/back.bin"
  /usr/bin/time -f '%e %M %U %S' -o "$OUT/time.enc" "$FIRMCHAIN" encrypt --in "$OUT/plain.bin" --out "$OUT/cipher.bin" \
      --recipient "$OUT/device.pub" --recipient "kek:$OUT/fleet.kek" >/dev/null
  read -r w kb u sy < "$OUT/time.enc"; row+=" es=$w erss=$kb eu=$u esys=$sy"
  /usr/bin/time -f '%e %M %U %S' -o "$OUT/time.dec" "$FIRMCHAIN" decrypt --in "$OUT/cipher.bin" --key "$OUT/device.key" --out "$OUT/back.bin" >/dev/null
  read -r w kb u sy < "$OUT/time.dec"; row+=" ds=$w drss=$kb du=$u dsys=$sy"
  [ "$(stat -c %s "$OUT/back.bin")" = "$BYTES" ] || { echo "bench-encrypt: decrypted length differs" >&2; exit 1; }
  rm -f "$OUT/back.bin" "$OUT/cipher.bin"
  echo "$row" >> "$ROWS"
  python3 - "$BYTES" "$row" <<'PY'
import sys
n = float(sys.argv[1]); v = {k: float(x) for k, x in (f.split("=") for f in sys.argv[2].split())}
mb = lambda s: n / s / 1e6
print(f"    openssl speed aes-256-gcm {v['sp16']/1e6:.0f} MB/s (16 KiB), {v['sp1m']/1e6:.0f} MB/s (1 MiB), {v['sp1m_wall']/1e6:.0f} MB/s (1 MiB, -elapsed);"
      f" engine {mb(v['g16384_cpu']):.0f} / {mb(v['g1048576_cpu']):.0f} MB/s (16 KiB / 1 MiB, CPU time), {mb(v['g1048576']):.0f} MB/s (1 MiB, wall)")
print(f"    sha256 {mb(v['h_cpu']):.0f} MB/s (Firmchain's, CPU time), {v['sha']/1e6:.0f} MB/s (openssl speed); dd read {mb(v['rd']):.0f}, write {mb(v['wr']):.0f}, copy {mb(v['cp']):.0f} MB/s; openssl enc {mb(v['oe']):.0f} MB/s")
print(f"    firmchain encrypt {v['es']:.2f} s = {mb(v['es']):.0f} MB/s (CPU {v['eu']:.2f} user + {v['esys']:.2f} sys, {v['erss']/1024:.1f} MiB peak);"
      f" decrypt {v['ds']:.2f} s = {mb(v['ds']):.0f} MB/s (CPU {v['du']:.2f} + {v['dsys']:.2f}, {v['drss']/1024:.1f} MiB)")
PY
done
echo "  load at the end: $(load)"

python3 - "$BYTES" "$ROUNDS" "$ROWS" <<'PY'
import statistics, sys
n, rounds = float(sys.argv[1]), int(sys.argv[2])
rows = [{k: float(x) for k, x in (f.split("=") for f in line.split())} for line in open(sys.argv[3])]
col = {k: [r[k] for r in rows] for k in rows[0]}
med = {k: statistics.median(v) for k, v in col.items()}
mb = lambda s: n / s / 1e6
print(f"\nload average (1 min) at the start of each round: {', '.join(f'{x:.2f}' for x in col['load'])}")

sp16, sp1m, spw = med["sp16"] / 1e6, med["sp1m"] / 1e6, med["sp1m_wall"] / 1e6
eng, eng16, engw = mb(med["g1048576_cpu"]), mb(med["g16384_cpu"]), mb(med["g1048576"])
r16, r1m, rw = eng / sp16, eng / sp1m, engw / spw
print(f"\n(a) cipher core: AES-256-GCM in memory, one thread (medians of {rounds} rounds)")
print(f"    openssl speed -evp aes-256-gcm (CPU user time): {sp16:.0f} MB/s (16 KiB blocks), {sp1m:.0f} MB/s (1 MiB blocks)")
print(f"    Firmchain StreamingGCM (CPU time):              {eng16:.0f} MB/s (16 KiB chunks), {eng:.0f} MB/s (1 MiB chunks, Firmchain's)")
print(f"    ratio, 1 MiB chunks: {r16:.2f}x openssl speed at 16 KiB, {r1m:.2f}x at 1 MiB; target >= 0.85x: {'met' if min(r16, r1m) >= 0.85 else 'NOT met'}")
print(f"    by wall time: engine {engw:.0f} MB/s, openssl speed -elapsed (1 MiB) {spw:.0f} MB/s: {rw:.2f}x")

# Stage CPU costs for n bytes, from this run's medians: reader = read + SHA-256 of the plaintext,
# AES-GCM, writer = SHA-256 of the ciphertext + write. On two cores the command needs at least
# half the total CPU, and at least its busiest thread's.
rd, wr, g, h = med["rd_cpu"], med["wr_cpu"], med["g1048576_cpu"], med["h_cpu"]
total = rd + wr + g + 2 * h
floor = max(total / 2, rd + h, g, h + wr)
es, ds, ecpu = med["es"], med["ds"], med["eu"] + med["esys"]
cp = med["cp"]
print(f"\n(b) end to end, {n / 2**30:.0f} GiB on tmpfs (medians of {rounds} rounds)")
print(f"    stage CPU: read {rd:.2f} s + write {wr:.2f} s + AES-GCM {g:.2f} s + SHA-256 2 x {h:.2f} s = {total:.2f} s"
      f" (AES-GCM {100 * g / total:.0f} %, SHA-256 {100 * 2 * h / total:.0f} %, I/O {100 * (rd + wr) / total:.0f} %)")
print(f"    floor on 2 idle cores: {floor:.2f} s = {mb(floor):.0f} MB/s = {mb(floor) / sp16:.2f}x openssl speed (16 KiB)")
print(f"    dd bs=1M copy (I/O ceiling): {cp:.2f} s = {mb(cp):.0f} MB/s; openssl enc -aes-256-ctr: {med['oe']:.2f} s = {mb(med['oe']):.0f} MB/s")
print(f"    firmchain encrypt: {es:.2f} s = {mb(es):.0f} MB/s = {mb(es) / sp16:.2f}x openssl speed (16 KiB), {cp / es:.2f}x dd copy, {floor / es:.2f}x its floor;"
      f" CPU {med['eu']:.2f} user + {med['esys']:.2f} sys = {ecpu:.2f} s ({ecpu / total:.2f}x the stage sum)")
print(f"    firmchain decrypt: {ds:.2f} s = {mb(ds):.0f} MB/s; CPU {med['du']:.2f} user + {med['dsys']:.2f} sys")
er, dr = max(col["erss"]), max(col["drss"])
print(f"    peak RSS (largest of the rounds): encrypt {er / 1024:.1f} MiB, decrypt {dr / 1024:.1f} MiB (target < 64 MiB: {'met' if max(er, dr) < 64 * 1024 else 'NOT met'})")
PY

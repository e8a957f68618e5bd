#!/usr/bin/env bash
# The wider delta corpus of issue 23: real pairs of other kinds beside ../shared/corpus's.
#
#   Benchmarks/delta/corpus-extra.sh [OUTDIR]   # idempotent; default OUTDIR: ./corpus-data
#
# Writes OUTDIR/<PAIR>/{old,new} next to the shared corpus' pairs (so run.sh finds them) and
# OUTDIR/EXTRA.md (sizes, sha256, held-out marks). Keep OUTDIR out of git.
#
# Every input is a Debian package or a PyPI wheel pinned by version AND sha256; a mirror that
# dropped a version stops the script with a clear message instead of benchmarking something
# else. Network: the configured Debian mirrors and PyPI (through pip) only. arm64 packages come
# through a private apt state under OUTDIR (the dpkg architecture list is not changed).
#
# HELD OUT pairs are not used for tuning: measure them only for the final table
# (run.sh prints HELD_OUT_PAIRS, `held-out` in EXTRA.md).
#
# | pair              | what                                                                  | use      |
# |-------------------|-----------------------------------------------------------------------|----------|
# | X1-kernel-amd64   | Debian amd64 vmlinux (payload of vmlinuz, decompressed), ABI 6.1.0-54 -> 6.1.0-55 (6.1.190-1 -> 6.1.192-1) | tune |
# | X2-rebuild-arm64  | Debian arm64 raw Image, 6.1.0-56 -> 6.1.0-57: the same upstream 6.1.192, Debian revisions -2 -> -3 (a near-identical rebuild) | HELD OUT |
# | W1-crypto-x86_64  | cryptography 44.0.0 -> 44.0.1, _rust.abi3.so, x86_64 manylinux_2_28 (Rust) | tune |
# | W2-crypto-aarch64 | the same, aarch64                                                      | tune     |
# | W3-tok-aarch64    | tokenizers 0.21.0 -> 0.21.1, tokenizers.abi3.so, aarch64 manylinux2014 (another project) | HELD OUT |
# | W4-tok-x86_64     | the same, x86_64                                                       | HELD OUT |
# | T1-systemd-tar    | data tar of Debian's systemd .deb (amd64), 252.38-1~deb12u1 -> 252.39-1~deb12u2 | tune |
# | T2-libc6-tar      | data tar of Debian's libc6 .deb (amd64), 2.36-9+deb12u7 -> 2.36-9+deb12u14 (an OS component, two releases) | HELD OUT |
#
# Not here (yet): MCU firmware (Debian's firmware packages are in non-free-firmware, which this
# machine's mirrors do not carry) and filesystem images.
#
# Needs: apt-get, dpkg-deb, python3 with pip, unzip.
set -euo pipefail

DATA="$(mkdir -p "${1:-corpus-data}" && cd "${1:-corpus-data}" && pwd)"
DL="$DATA/dl"
mkdir -p "$DL"

HELD_OUT="X2-rebuild-arm64 W3-tok-aarch64 W4-tok-x86_64 T2-libc6-tar"

log() { printf '[corpus-extra] %s\n' "$*" >&2; }
die() { printf '[corpus-extra] ERROR: %s\n' "$*" >&2; exit 1; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
check_sha() { # file expected
  local got; got="$(sha "$1")"
  [ "$got" = "$2" ] || die "sha256 mismatch for $1: got $got, want $2"
}

# ---- pinned inputs ---------------------------------------------------------
# name version arch sha256 (Debian .debs)
DEBS=(
  "linux-image-6.1.0-54-amd64-unsigned 6.1.190-1 amd64 117110c1edd7f7efba8af22b3d2ac4812234b1070cf4681e76b23ae12b4debfe"
  "linux-image-6.1.0-55-amd64-unsigned 6.1.192-1 amd64 2351149e943c261304d508515d363fbbe20585be959dc8abce196d1e1c23f6a1"
  "linux-image-6.1.0-56-arm64-unsigned 6.1.192-2 arm64 f8357fc813e879efb7f467f5b8a37e2426e177bb3d683fac644d70a8343e6a49"
  "linux-image-6.1.0-57-arm64-unsigned 6.1.192-3 arm64 b19fb23a7313b6e345c7ef7aa8d2ce44381d32111403b86040bdada12da8c379"
  "systemd 252.38-1~deb12u1 amd64 9d86b1146870f30cde7c684558fff56a495da510e34c5f08424218634cf5be0f"
  "systemd 252.39-1~deb12u2 amd64 286f879c537bfba92e59d580c075ad20ab49020244c79634656850a306dd462b"
  "libc6 2.36-9+deb12u7 amd64 eba944bd99c2f5142baf573e6294a70f00758083bc3c2dca4c9e445943a3f8e6"
  "libc6 2.36-9+deb12u14 amd64 ba4f88f73dbc3ae9055f3c20f4523bfdbaf1ad13ff95e258924f77d20b4fbedf"
)
# project version platform sha256 (PyPI wheels, cp39-abi3)
WHEELS=(
  "cryptography 44.0.0 manylinux_2_28_x86_64 f53c2c87e0fb4b0c00fa9571082a057e37690a8f12233306161c8f4b819960b7"
  "cryptography 44.0.1 manylinux_2_28_x86_64 72198e2b5925155497a5a3e8c216c7fb3e64c16ccee11f0e7da272fa93b35c4c"
  "cryptography 44.0.0 manylinux_2_28_aarch64 c5eb858beed7835e5ad1faba59e865109f3e52b3783b9ac21e7e47dc5554e289"
  "cryptography 44.0.1 manylinux_2_28_aarch64 436df4f203482f41aad60ed1813811ac4ab102765ecae7a2bbb1dbb66dcff5a7"
  "tokenizers 0.21.0 manylinux2014_aarch64 6b177fb54c4702ef611de0c069d9169f0004233890e0c4c5bd5508ae05abf193"
  "tokenizers 0.21.1 manylinux2014_aarch64 28da6b72d4fb14ee200a1bd386ff74ade8992d7f725f2bde2c495a9a98cf4d9f"
  "tokenizers 0.21.0 manylinux2014_x86_64 e84ca973b3a96894d1707e189c14a774b701596d579ffc7e69debfc036a61a04"
  "tokenizers 0.21.1 manylinux2014_x86_64 2dd9a0061e403546f7377df940e866c3e678d7d4e9643d0461ea442b4f89e61a"
)

# ---- Debian packages -------------------------------------------------------
APTD="$DATA/.apt-arm64"
APT_ARM64=(-o APT::Architecture=arm64 -o "APT::Architectures::=arm64"
           -o "Dir::State::Lists=$APTD/lists" -o "Dir::Cache=$APTD/cache"
           -o Dir::State::status=/dev/null)
deb_path() { echo "$DL/${1}_${2/:/%3a}_${3}.deb"; }  # apt-get download's file name
fetch_deb() { # pkg ver arch sha
  local f; f="$(deb_path "$1" "$2" "$3")"
  if [ -f "$f" ] && [ "$(sha "$f")" = "$4" ]; then return 0; fi
  local opts=()
  if [ "$3" = arm64 ]; then
    opts=("${APT_ARM64[@]}")
    mkdir -p "$APTD/lists/partial" "$APTD/cache/archives/partial"
    if [ ! -f "$APTD/.updated" ]; then
      log "apt-get update (private arm64 lists in $APTD)"
      apt-get "${opts[@]}" update -qq
      touch "$APTD/.updated"
    fi
  fi
  log "apt-get download $1=$2 ($3)"
  ( cd "$DL" && apt-get "${opts[@]}" download "$1:$3=$2" 2>/dev/null || apt-get "${opts[@]}" download "$1=$2" ) \
    || die "cannot download $1=$2 ($3); the mirror may have dropped this version"
  check_sha "$f" "$4"
}
for d in "${DEBS[@]}"; do
  # shellcheck disable=SC2086
  fetch_deb $d
done

put() { # src dst  (copy if missing or different)
  if [ ! -f "$2" ] || ! cmp -s "$1" "$2"; then cp "$1" "$2.tmp"; mv "$2.tmp" "$2"; fi
}
# The kernel image member of a kernel .deb, into a file.
kernel_member() { # pkg ver arch abi dst
  dpkg-deb --fsys-tarfile "$(deb_path "$1" "$2" "$3")" | tar -xO "./boot/vmlinuz-$4" > "$5"
}

# X1: amd64 vmlinuz is a bzImage; the kernel proper is its compressed payload, decompressed
# here (a device patches what it runs, and a delta of compressed bytes says little).
vmlinux_amd64() { # bzImage dst
  python3 - "$1" "$2" <<'EOF'
import lzma, sys, zlib
data = open(sys.argv[1], "rb").read()
out = None
for magic, kind in ((b"\xfd7zXZ\x00", "xz"), (b"\x28\xb5\x2f\xfd", "zstd"), (b"\x1f\x8b\x08", "gzip")):
    i = data.find(magic)
    if i < 0:
        continue
    if kind == "xz":
        out = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data[i:])
    elif kind == "gzip":
        out = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data[i:])
    else:
        sys.exit("zstd-compressed bzImage: add a zstd branch")
    break
if not out or out[:4] != b"\x7fELF":
    sys.exit("no ELF payload found in " + sys.argv[1])
open(sys.argv[2] + ".tmp", "wb").write(out)
EOF
  mv "$2.tmp" "$2"
}
mkdir -p "$DATA/X1-kernel-amd64" "$DATA/X2-rebuild-arm64"
if [ ! -f "$DATA/X1-kernel-amd64/new" ]; then
  log "X1: decompressing the amd64 kernels"
  kernel_member linux-image-6.1.0-54-amd64-unsigned 6.1.190-1 amd64 6.1.0-54-amd64 "$DL/bz-54"
  kernel_member linux-image-6.1.0-55-amd64-unsigned 6.1.192-1 amd64 6.1.0-55-amd64 "$DL/bz-55"
  vmlinux_amd64 "$DL/bz-54" "$DATA/X1-kernel-amd64/old"
  vmlinux_amd64 "$DL/bz-55" "$DATA/X1-kernel-amd64/new"
  rm -f "$DL/bz-54" "$DL/bz-55"
fi
# X2: Debian's arm64 *-unsigned package ships the raw Image (magic "ARM\x64" at 0x38).
arm64_image() { # pkg ver abi dst
  kernel_member "$1" "$2" arm64 "$3" "$4.tmp"
  [ "$(dd if="$4.tmp" bs=1 skip=56 count=4 2>/dev/null | od -An -tx1 | tr -d ' ')" = "41524d64" ] \
    || die "$1: boot/vmlinuz-$3 is not a raw arm64 Image"
  mv "$4.tmp" "$4"
}
[ -f "$DATA/X2-rebuild-arm64/old" ] || arm64_image linux-image-6.1.0-56-arm64-unsigned 6.1.192-2 6.1.0-56-arm64 "$DATA/X2-rebuild-arm64/old"
[ -f "$DATA/X2-rebuild-arm64/new" ] || arm64_image linux-image-6.1.0-57-arm64-unsigned 6.1.192-3 6.1.0-57-arm64 "$DATA/X2-rebuild-arm64/new"

# T1, T2: the package's file tree as the uncompressed tar inside the .deb (deterministic:
# dpkg-deb only decompresses the data member).
data_tar() { # pkg ver dst
  [ -f "$3" ] && return 0
  dpkg-deb --fsys-tarfile "$(deb_path "$1" "$2" amd64)" > "$3.tmp"
  mv "$3.tmp" "$3"
}
mkdir -p "$DATA/T1-systemd-tar" "$DATA/T2-libc6-tar"
data_tar systemd 252.38-1~deb12u1 "$DATA/T1-systemd-tar/old"
data_tar systemd 252.39-1~deb12u2 "$DATA/T1-systemd-tar/new"
data_tar libc6 2.36-9+deb12u7 "$DATA/T2-libc6-tar/old"
data_tar libc6 2.36-9+deb12u14 "$DATA/T2-libc6-tar/new"

# ---- PyPI wheels -------------------------------------------------------------
fetch_wheel() { # project version platform sha -> path
  local f
  f="$(ls "$DL/${1}-${2}-cp39-abi3-"*"${3}"*.whl 2>/dev/null | head -1 || true)"
  if [ -z "$f" ] || [ "$(sha "$f")" != "$4" ]; then
    log "pip download $1==$2 ($3)"
    python3 -m pip download -q --no-deps --only-binary=:all: --platform "$3" \
      --python-version 3.11 --implementation cp -d "$DL" "$1==$2" >&2
    f="$(ls "$DL/${1}-${2}-cp39-abi3-"*"${3}"*.whl | head -1)"
  fi
  check_sha "$f" "$4"
  echo "$f"
}
wheel_pair() { # pair member old-wheel-row new-wheel-row
  local pair=$1 member=$2 o n
  # shellcheck disable=SC2086
  o="$(fetch_wheel $3)"; n="$(fetch_wheel $4)"
  mkdir -p "$DATA/$pair"
  [ -f "$DATA/$pair/old" ] || unzip -p "$o" "$member" > "$DATA/$pair/old"
  [ -f "$DATA/$pair/new" ] || unzip -p "$n" "$member" > "$DATA/$pair/new"
}
wheel_pair W1-crypto-x86_64 cryptography/hazmat/bindings/_rust.abi3.so "${WHEELS[0]}" "${WHEELS[1]}"
wheel_pair W2-crypto-aarch64 cryptography/hazmat/bindings/_rust.abi3.so "${WHEELS[2]}" "${WHEELS[3]}"
wheel_pair W3-tok-aarch64 tokenizers/tokenizers.abi3.so "${WHEELS[4]}" "${WHEELS[5]}"
wheel_pair W4-tok-x86_64 tokenizers/tokenizers.abi3.so "${WHEELS[6]}" "${WHEELS[7]}"

# ---- verify the pairs' content (extra-pins.sha256, committed) -------------
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
( cd "$DATA" && sha256sum --quiet -c "$HERE/extra-pins.sha256" ) \
  || die "extra corpus content differs from extra-pins.sha256"

# ---- manifest --------------------------------------------------------------
PAIRS="X1-kernel-amd64 X2-rebuild-arm64 W1-crypto-x86_64 W2-crypto-aarch64 W3-tok-aarch64 W4-tok-x86_64 T1-systemd-tar T2-libc6-tar"
{
  echo "# Extra delta corpus (Benchmarks/delta/corpus-extra.sh)"
  echo
  echo "| pair | use | old bytes | new bytes | old sha256 | new sha256 |"
  echo "|---|---|---:|---:|---|---|"
  for p in $PAIRS; do
    use=tune; case " $HELD_OUT " in *" $p "*) use=held-out ;; esac
    echo "| $p | $use | $(stat -c %s "$DATA/$p/old") | $(stat -c %s "$DATA/$p/new") | $(sha "$DATA/$p/old") | $(sha "$DATA/$p/new") |"
  done
} > "$DATA/EXTRA.md"
log "ok: $(echo $PAIRS | wc -w) extra pairs in $DATA (held out: $HELD_OUT); wrote EXTRA.md"

#!/usr/bin/env python3
"""Deterministic, firmware-shaped sample images for the demo and the tests.

    Scripts/make-sample-firmware.py OUTDIR [--size-kib N]

Writes OUTDIR/fw-1.0.0.bin, fw-1.1.0.bin and fw-1.2.0.bin. Each image has what a real
firmware image has: a header (magic, header version, semantic version, hardware id, lengths,
CRC-32), a code-like region (instruction words from a small vocabulary, with branch targets
that shift when code is inserted), a data-like region (lookup tables, log strings, a version
string) and erased-flash padding (0xFF). Successive versions differ the way releases do:
a few functions rewritten, a block of code inserted, tables tweaked, strings updated.
The same arguments always give byte-identical files (no clock, no system randomness).
"""
import argparse
import os
import random
import struct
import zlib

HARDWARE_ID = b"acme-gw-v2"
VERSIONS = ["1.0.0", "1.1.0", "1.2.0"]
OPCODES = [0xE92D4000, 0xE8BD8000, 0xE3A00000, 0xE5900000, 0xE5800000, 0xE1A00000, 0xE2800001,
           0xE3500000, 0x0A000000, 0x1A000000, 0xEB000000, 0xE12FFF1E, 0xE0800001, 0xE2400001]


def functions(seed, count):
    """A list of functions, each a list of 32-bit instruction words."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        body = [0xE92D4000]
        for _ in range(rng.randint(8, 120)):
            op = rng.choice(OPCODES)
            if op in (0x0A000000, 0x1A000000, 0xEB000000):
                op |= rng.randint(0, 0xFFF)  # a branch with a target
            else:
                op |= rng.randint(0, 15) << 12 | rng.randint(0, 255)
            body.append(op)
        body.append(0xE8BD8000)
        out.append(body)
    return out


def build(version_index, size_kib):
    version = VERSIONS[version_index]
    rng = random.Random(1000 + version_index)
    funcs = functions(seed=7, count=size_kib * 2)
    # Each release rewrites a few functions and inserts new ones.
    for _ in range(version_index * 6):
        i = rng.randrange(len(funcs))
        funcs[i] = functions(seed=rng.randrange(1 << 30), count=1)[0]
    for _ in range(version_index * 3):
        funcs.insert(rng.randrange(len(funcs)), functions(seed=rng.randrange(1 << 30), count=1)[0])
    code = bytearray()
    for body in funcs:
        # Calls encode the function's address: inserting code shifts later targets (relocation noise).
        base = len(code) // 4
        for word in body:
            if word & 0xFF000000 == 0xEB000000:
                word = (word & 0xFFFFF000) | ((word + base) & 0xFFF)
            code += struct.pack("<I", word & 0xFFFFFFFF)
    data = bytearray()
    table_rng = random.Random(99)
    for t in range(64):
        row = [table_rng.randint(0, 65535) for _ in range(64)]
        if version_index and t % (9 - version_index) == 0:
            row[t % 64] ^= 0x55 * version_index
        data += struct.pack("<64H", *row)
    for i in range(400):
        data += b"[%04d] acme-gw: subsystem %d state %s\x00" % (i, i % 17, b"ok" if i % 5 else b"retry")
    data += b"firmchain-demo firmware version %s for %s\x00" % (version.encode(), HARDWARE_ID)
    payload = bytes(code) + bytes(data)
    total = size_kib * 1024
    payload = payload[: total - 64]
    header = struct.pack("<4sHH16s16sIII", b"FCFW", 1, 0, version.encode(), HARDWARE_ID,
                         len(code), len(data), zlib.crc32(payload))
    image = header + b"\x00" * (64 - len(header)) + payload
    return image + b"\xff" * (total - len(image))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir")
    ap.add_argument("--size-kib", type=int, default=1024)
    args = ap.parse_args()
    os.makedirs(args.outdir, exist_ok=True)
    for i, v in enumerate(VERSIONS):
        path = os.path.join(args.outdir, "fw-%s.bin" % v)
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(build(i, args.size_kib))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        print(path)


if __name__ == "__main__":
    main()

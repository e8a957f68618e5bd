#!/usr/bin/env python3
"""Write a small TUF repository with python-tuf's Metadata API, in Firmchain's layout,
so Firmchain's reader can be checked against metadata it did not write.

    tuf_write_repo.py OUT KEYTYPE       KEYTYPE: ed25519 | ecdsa

Writes OUT/repository/metadata/{1.root.json,1.targets.json,1.snapshot.json,timestamp.json}
and OUT/repository/targets/<sha256>.firmware.bin, consistent snapshots on, one key per role.
"""
import hashlib
import os
import sys
from datetime import datetime, timedelta, timezone

from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import (Metadata, MetaFile, Root, Snapshot, TargetFile, Targets,
                              Timestamp)
from tuf.api.serialization.json import JSONSerializer


def main():
    out, keytype = sys.argv[1], sys.argv[2]
    meta = os.path.join(out, "repository", "metadata")
    tdir = os.path.join(out, "repository", "targets")
    os.makedirs(meta, exist_ok=True)
    os.makedirs(tdir, exist_ok=True)
    expires = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=30)

    def new_signer():
        if keytype == "ed25519":
            return CryptoSigner(ed25519.Ed25519PrivateKey.generate())
        return CryptoSigner(ec.generate_private_key(ec.SECP256R1()))

    signers = {r: new_signer() for r in ("root", "targets", "snapshot", "timestamp")}
    root = Metadata(Root(expires=expires, consistent_snapshot=True))
    for role, s in signers.items():
        root.signed.add_key(s.public_key, role)
    payload = b"python-tuf firmware image\n" * 100
    digest = hashlib.sha256(payload).hexdigest()
    with open(os.path.join(tdir, f"{digest}.firmware.bin"), "wb") as f:
        f.write(payload)
    targets = Metadata(Targets(expires=expires))
    targets.signed.targets["firmware.bin"] = TargetFile(
        length=len(payload), hashes={"sha256": digest},
        path="firmware.bin", unrecognized_fields={"custom": {"note": "written by python-tuf"}})
    snapshot = Metadata(Snapshot(expires=expires))
    snapshot.signed.meta["targets.json"] = MetaFile(version=1)
    timestamp = Metadata(Timestamp(expires=expires))
    ser = JSONSerializer(compact=False)
    for md, role in ((root, "root"), (targets, "targets"), (snapshot, "snapshot")):
        md.sign(signers[role])
    snap_bytes = snapshot.to_bytes(ser)
    timestamp.signed.snapshot_meta = MetaFile(version=1, length=len(snap_bytes),
                                              hashes={"sha256": hashlib.sha256(snap_bytes).hexdigest()})
    timestamp.sign(signers["timestamp"])
    root.to_file(os.path.join(meta, "1.root.json"), ser)
    targets.to_file(os.path.join(meta, "1.targets.json"), ser)
    with open(os.path.join(meta, "1.snapshot.json"), "wb") as f:
        f.write(snap_bytes)
    timestamp.to_file(os.path.join(meta, "timestamp.json"), ser)


if __name__ == "__main__":
    main()

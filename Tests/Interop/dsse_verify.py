#!/usr/bin/env python3
"""Verify DSSE envelopes with securesystemslib (the reference DSSE implementation in-toto uses).

    dsse_verify.py ENVELOPES PUBKEY.pem

ENVELOPES is a file with one envelope per line (JSON Lines, like provenance.intoto.jsonl) or a
single envelope. For each, `securesystemslib.dsse.Envelope.verify` must accept a signature by
PUBKEY; for in-toto statements, `_type` and `predicateType` are reported. Prints one JSON object:
{"verified": N, "failed": [reasons], "statements": [{"_type", "predicateType", "subjects"}]}.
"""
import json
import sys

from cryptography.hazmat.primitives.serialization import load_pem_public_key
from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey

envelopes_path, key_path = sys.argv[1], sys.argv[2]
with open(key_path, "rb") as f:
    key = SSlibKey.from_crypto(load_pem_public_key(f.read()))

result = {"verified": 0, "failed": [], "statements": [], "keyid": key.keyid}
with open(envelopes_path, encoding="utf-8") as f:
    lines = [line for line in f.read().splitlines() if line.strip()]
for number, line in enumerate(lines, 1):
    try:
        envelope = Envelope.from_dict(json.loads(line))
        envelope.verify([key], 1)
        result["verified"] += 1
        payload = json.loads(envelope.payload)
        result["statements"].append({
            "_type": payload.get("_type"),
            "predicateType": payload.get("predicateType"),
            "subjects": [s.get("name") for s in payload.get("subject", [])],
            "payloadType": envelope.payload_type,
        })
    except Exception as e:  # noqa: BLE001 - report every failure as data
        result["failed"].append(f"line {number}: {type(e).__name__}: {e}")
print(json.dumps(result))

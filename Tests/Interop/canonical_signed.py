#!/usr/bin/env python3
"""Print, for each metadata file given, the hex of securesystemslib's canonical encoding of its
`signed` member: the bytes a TUF signature covers.

    canonical_signed.py FILE...
"""
import json
import sys

from securesystemslib.formats import encode_canonical

for path in sys.argv[1:]:
    with open(path, "rb") as f:
        print(encode_canonical(json.load(f)["signed"]).encode("utf-8").hex())

"""pycose on the other side of Firmchain's COSE_Encrypt (SUIT firmware-encryption profile).

  cose_encrypt.py decrypt STRUCTURE CIPHERTEXT|- KEY OUT
      KEY is ec:PRIVATE.pem or kek:FILE. CIPHERTEXT is the detached ciphertext||tag ('-' when
      attached). Picks the recipient whose kid matches (ec: SHA-256 of the SPKI DER; kek: the
      file's stem) and writes the plaintext to OUT.
  cose_encrypt.py encrypt PLAINTEXT OUT_STRUCTURE OUT_CIPHERTEXT|- RECIPIENT...
      RECIPIENT is ec:PUBLIC.pem[:a128kw] or kek:FILE. Writes a COSE_Encrypt made by pycose,
      detached (ciphertext to OUT_CIPHERTEXT, nil in the structure) or attached ('-').

Keys are read with `cryptography`; the COSE work (KDF context, key wrap, AES-GCM) is pycose's.
"""
import hashlib
import os
import sys
from collections.abc import Mapping

import cbor2
from cryptography.hazmat.primitives import serialization
from pycose import headers
from pycose.algorithms import A128GCM, A128KW, A256GCM, A256KW, EcdhEsA128KW, EcdhEsA256KW
from pycose.keys import EC2Key, SymmetricKey
from pycose.keys.curves import P256
from pycose.messages import EncMessage
from pycose.messages.recipient import KeyAgreementWithKeyWrap, KeyWrap

SUIT_OTHER = b"SUIT Payload Encryption"


def stem(path):
    return os.path.basename(path).split(".")[0].encode()


def read_kek(path):
    raw = open(path, "rb").read()
    text = raw.rstrip(b"\r\n")
    if len(text) in (32, 64):
        try:
            return bytes.fromhex(text.decode())
        except ValueError:
            pass
    return raw


def spki_kid(public_key):
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).digest()


def ec_private(path):
    k = serialization.load_pem_private_key(open(path, "rb").read(), password=None)
    n = k.private_numbers()
    pub = n.public_numbers
    key = EC2Key(crv=P256, d=n.private_value.to_bytes(32, "big"), x=pub.x.to_bytes(32, "big"), y=pub.y.to_bytes(32, "big"))
    return key, spki_kid(k.public_key())


def ec_public(path):
    k = serialization.load_pem_public_key(open(path, "rb").read())
    n = k.public_numbers()
    return EC2Key(crv=P256, x=n.x.to_bytes(32, "big"), y=n.y.to_bytes(32, "big")), spki_kid(k)


def lists(v):
    """cbor2 6 decodes the contents of a tag as immutable tuples and frozen maps, which pycose
    1.1.0 refuses ("Bytes cannot be decoded as COSE message"); give it lists and dicts."""
    if isinstance(v, (list, tuple)):
        return [lists(x) for x in v]
    if isinstance(v, Mapping):
        return {k: lists(x) for k, x in v.items()}
    return v


def decrypt(structure, ciphertext, keyspec, out):
    tagged = cbor2.loads(open(structure, "rb").read())
    assert tagged.tag == 96, tagged.tag
    msg = EncMessage.from_cose_obj(lists(tagged.value), True)
    assert isinstance(msg, EncMessage), type(msg)
    if ciphertext != "-":
        assert msg.payload is None, "the structure should carry a nil ciphertext"
        msg.payload = open(ciphertext, "rb").read()
    kind, path = keyspec.split(":", 1)
    if kind == "ec":
        key, kid = ec_private(path)
    else:
        key, kid = SymmetricKey(k=read_kek(path)), stem(path)
    matches = [r for r in msg.recipients if r.get_attr(headers.KID) == kid]
    assert matches, f"no recipient with kid {kid.hex()}"
    r = matches[0]
    r.key = key
    if kind == "ec":
        r.local_attrs = {headers.SuppPubOther: SUIT_OTHER}
    plaintext = msg.decrypt(r)
    open(out, "wb").write(plaintext)


def encrypt(plaintext_path, out_structure, out_ciphertext, specs):
    recipients = []
    for spec in specs:
        kind, rest = spec.split(":", 1)
        if kind == "ec":
            path, _, wrap = rest.partition(":")
            pub, kid = ec_public(path)
            alg = EcdhEsA128KW if wrap == "a128kw" else EcdhEsA256KW
            r = KeyAgreementWithKeyWrap(phdr={headers.Algorithm: alg}, uhdr={headers.KID: kid})
            r.local_attrs = {headers.StaticKey: pub, headers.SuppPubOther: SUIT_OTHER}
        else:
            kek = read_kek(rest)
            r = KeyWrap(uhdr={headers.Algorithm: A256KW if len(kek) == 32 else A128KW, headers.KID: stem(rest)})
            r.key = SymmetricKey(k=kek)
        recipients.append(r)
    content = A128GCM if os.environ.get("COSE_CONTENT") == "A128GCM" else A256GCM
    msg = EncMessage(phdr={headers.Algorithm: content}, uhdr={headers.IV: os.urandom(12)},
                     payload=open(plaintext_path, "rb").read(), recipients=recipients)
    encoded = msg.encode()
    if out_ciphertext != "-":
        tagged = cbor2.loads(encoded)
        items = lists(tagged.value)
        open(out_ciphertext, "wb").write(items[2])
        items[2] = None
        encoded = cbor2.dumps(cbor2.CBORTag(96, items))
    open(out_structure, "wb").write(encoded)


if __name__ == "__main__":
    if sys.argv[1] == "decrypt":
        decrypt(*sys.argv[2:6])
    elif sys.argv[1] == "encrypt":
        encrypt(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:])
    else:
        sys.exit("usage: cose_encrypt.py decrypt|encrypt …")

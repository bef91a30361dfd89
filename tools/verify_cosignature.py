#!/usr/bin/env python3
"""Checks a witness cosignature on a checkpoint, written from the C2SP specs
alone (signed-note, tlog-cosignature) with Python's `cryptography`: an
implementation that shares no code with veritrail.

  tools/verify_cosignature.py WITNESS_VKEY NOTE_FILE

WITNESS_VKEY is `<name>+<8 hex key id>+<base64(0x04 || 32-byte Ed25519 key)>`.
NOTE_FILE is a signed checkpoint note with the witness's signature line(s).
Prints the cosignature's timestamp and exits 0 when one verifies; exits 1
otherwise.
"""
import base64, hashlib, struct, sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.exceptions import InvalidSignature

vkey, path = sys.argv[1], sys.argv[2]
name, key_id_hex, key_b64 = vkey.split("+", 2)
raw = base64.b64decode(key_b64)
if len(raw) != 33 or raw[0] != 0x04:
    sys.exit("not a cosignature/v1 key (type 0x04)")
public = raw[1:]
# signed-note: key ID = first 4 bytes of SHA-256(name || 0x0A || type || key)
key_id = hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4]
if key_id.hex() != key_id_hex:
    sys.exit(f"key id {key_id_hex} does not match the key ({key_id.hex()})")
note = open(path, "rb").read().decode()
text, _, sigs = note.partition("\n\n")
text += "\n"
pk = Ed25519PublicKey.from_public_key_bytes(public) if hasattr(Ed25519PublicKey, "from_public_key_bytes") else Ed25519PublicKey.from_public_bytes(public)
for line in sigs.splitlines():
    if not line.startswith("\u2014 "):
        continue
    who, b64 = line[2:].rsplit(" ", 1)
    if who != name:
        continue
    sig = base64.b64decode(b64)
    if sig[:4] != key_id or len(sig) != 4 + 8 + 64:
        continue
    (ts,) = struct.unpack(">Q", sig[4:12])
    # tlog-cosignature: the signed message is "cosignature/v1\ntime <ts>\n" + the checkpoint text.
    msg = b"cosignature/v1\ntime " + str(ts).encode() + b"\n" + text.encode()
    try:
        pk.verify(sig[12:], msg)
    except InvalidSignature:
        print(f"cosignature by {name} does not verify")
        sys.exit(1)
    print(f"OK: cosigned by {name} at {ts}")
    sys.exit(0)
print(f"no cosignature by {name}")
sys.exit(1)

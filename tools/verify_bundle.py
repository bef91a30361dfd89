#!/usr/bin/env python3
"""Independent verifier for veritrail evidence bundles (docs/BUNDLE.md).

Uses only the Python standard library and `cryptography` (Ed25519). It shares
no code with veritrail: it re-implements C2SP signed notes, C2SP checkpoints,
C2SP tlog-proof, RFC 9162 inclusion and consistency verification, and the
bundle rules, so that an auditor who does not run Rust can check a bundle.

Usage:
    verify_bundle.py BUNDLE [--key VKEY] [--system-key VKEY] [--since-checkpoint FILE]
                     [--witness VKEY ... [--quorum K]] [--tsa-root PEM]

--witness/--quorum: the bundle's checkpoint must carry K valid C2SP
tlog-cosignature (cosignature/v1) lines from the listed witness keys.
--tsa-root: the bundle must carry an RFC 3161 timestamp; its token is
checked with `openssl ts -verify` against that root, and the timestamped
checkpoint's signature and consistency with the bundle's here.

Exit status: 0 verified, 1 the bundle is bad (the first failing line is
named), 2 usage error.
"""

import argparse
import base64
import binascii
import hashlib
import json
import os
import struct
import subprocess
import sys
import tempfile

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

FORMAT = "veritrail-bundle"
VERSIONS = (1, 2)  # 2: the optional timestamp field
EXPORT_ACTION = "evidence.export"
PROOF_HEADER = "c2sp.org/tlog-proof@v1"
ALG_ED25519 = 0x01
ALG_COSIGNATURE_V1 = 0x04


class Bad(Exception):
    """The bundle (or something in it) does not verify."""

    def __init__(self, line, item, reason):
        super().__init__(f"line {line} ({item}): {reason}")


class Invalid(Exception):
    """A component is malformed or does not verify; the caller adds context."""


# ---------------------------------------------------------------- encodings


def b64(s):
    """Strict standard base64: canonical padding and trailing bits."""
    if not isinstance(s, str):
        raise Invalid("not a base64 string")
    try:
        raw = base64.b64decode(s.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise Invalid("not valid base64")
    if base64.b64encode(raw).decode("ascii") != s:
        raise Invalid("not canonical base64")
    return raw


def hash32(s):
    raw = b64(s)
    if len(raw) != 32:
        raise Invalid("not a 32-byte hash")
    return raw


def canonical_uint(s):
    if not s or not s.isascii() or not s.isdigit() or (s != "0" and s[0] == "0"):
        raise Invalid(f"{s!r} is not a canonical decimal number")
    v = int(s)
    if v >= 2**64:
        raise Invalid(f"{s} is out of range")
    return v


# ---------------------------------------------------------------- RFC 9162


def leaf_hash(entry):
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def inclusion_proof_len(index, size):
    """Number of hashes RFC 9162 implies for `index` in a tree of `size`."""
    n, lo, hi = 0, 0, size
    while hi - lo > 1:
        k = 1 << ((hi - lo - 1).bit_length() - 1)
        if index < lo + k:
            hi = lo + k
        else:
            lo += k
        n += 1
    return n


def verify_inclusion(leaf, index, size, proof, root):
    """RFC 9162 section 2.1.3.2."""
    if size == 0 or index >= size:
        raise Invalid(f"index {index} is not in a tree of size {size}")
    if len(proof) != inclusion_proof_len(index, size):
        raise Invalid("inclusion proof has the wrong number of hashes")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise Invalid("inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise Invalid("inclusion proof is too short")
    if r != root:
        raise Invalid("recomputed root does not match the checkpoint")


def verify_consistency(m, n, proof, old_root, new_root):
    """RFC 9162 section 2.1.4.2."""
    if m == 0 or m > n:
        raise Invalid(f"no consistency from size {m} to size {n}")
    if m == n:
        if proof or old_root != new_root:
            raise Invalid("same size, different root")
        return
    if not proof:
        raise Invalid("empty consistency proof")
    if m & (m - 1) == 0:
        proof = [old_root] + proof
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            raise Invalid("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise Invalid("consistency proof is too short")
    if fr != old_root or sr != new_root:
        raise Invalid("consistency proof does not lead to both roots")


# ------------------------------------------------ C2SP signed note, checkpoint


class Key:
    """A C2SP note verifier key: name+hexid+base64(0x01 || public key)."""

    def __init__(self, vkey):
        parts = vkey.split("+", 2)
        if len(parts) != 3:
            raise Invalid("verifier key must be name+id+key")
        self.name, hexid, key = parts
        if not self.name or any(c.isspace() for c in self.name):
            raise Invalid("bad key name")
        raw = b64(key)
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise Invalid("only Ed25519 keys (type 0x01) are supported")
        if len(hexid) != 8 or hexid.lower() != hexid:
            raise Invalid("key id must be 8 lowercase hex digits")
        self.id = int(hexid, 16)
        want = int.from_bytes(
            hashlib.sha256(self.name.encode() + b"\n" + raw).digest()[:4], "big"
        )
        if want != self.id:
            raise Invalid("key id does not match the key")
        self.public = Ed25519PublicKey.from_public_bytes(raw[1:])
        self.vkey = vkey


def open_checkpoint(note, key):
    """Verifies a signed checkpoint note; returns (origin, size, root)."""
    if not isinstance(note, str):
        raise Invalid("checkpoint is not a string")
    sep = note.find("\n\n")
    if sep < 0:
        raise Invalid("note has no signature block")
    text, sigs = note[: sep + 1], note[sep + 2 :]
    if not sigs.endswith("\n"):
        raise Invalid("note does not end with a newline")
    verified = False
    for line in sigs[:-1].split("\n"):
        if not line.startswith("\u2014 "):
            raise Invalid("malformed signature line")
        name, _, sig = line[2:].rpartition(" ")
        raw = b64(sig)
        if len(raw) < 5:
            raise Invalid("signature too short")
        if name != key.name or int.from_bytes(raw[:4], "big") != key.id:
            continue  # unknown keys are ignored (C2SP signed-note)
        try:
            key.public.verify(raw[4:], text.encode("utf-8"))
        except InvalidSignature:
            raise Invalid(f"signature by {key.name} does not verify")
        verified = True
    if not verified:
        raise Invalid(f"not signed by {key.name}")
    lines = text[:-1].split("\n")
    if len(lines) < 3 or any(not l for l in lines):
        raise Invalid("checkpoint needs origin, size and root lines")
    origin, size, root = lines[0], canonical_uint(lines[1]), hash32(lines[2])
    if origin != key.name:
        raise Invalid(f"checkpoint origin {origin!r} is not the key's name {key.name!r}")
    return origin, size, root


class WitnessKey:
    """A C2SP tlog-cosignature verifier key: name+hexid+base64(0x04 || key)."""

    def __init__(self, vkey):
        parts = vkey.split("+", 2)
        if len(parts) != 3:
            raise Invalid("verifier key must be name+id+key")
        self.name, hexid, key = parts
        raw = b64(key)
        if len(raw) != 33 or raw[0] != ALG_COSIGNATURE_V1:
            raise Invalid("not a cosignature/v1 key (type 0x04)")
        self.id = int(hexid, 16)
        want = int.from_bytes(hashlib.sha256(self.name.encode() + b"\n" + raw).digest()[:4], "big")
        if len(hexid) != 8 or want != self.id:
            raise Invalid("key id does not match the key")
        self.public = Ed25519PublicKey.from_public_bytes(raw[1:])


def cosigned_by(note, witnesses):
    """Names of the witnesses whose cosignature lines on the note verify; a
    line of a listed witness that does not verify is an error."""
    sep = note.find("\n\n")
    text, sigs = note[: sep + 1], note[sep + 2 :]
    ok = []
    for line in sigs.rstrip("\n").split("\n"):
        name, _, sig = line[2:].rpartition(" ")
        raw = b64(sig)
        for w in witnesses:
            if name != w.name or int.from_bytes(raw[:4], "big") != w.id:
                continue
            if len(raw) != 4 + 8 + 64:
                raise Invalid(f"the cosignature of witness {w.name} has the wrong length")
            (ts,) = struct.unpack(">Q", raw[4:12])
            msg = b"cosignature/v1\ntime " + str(ts).encode() + b"\n" + text.encode("utf-8")
            try:
                w.public.verify(raw[12:], msg)
            except InvalidSignature:
                raise Invalid(f"the cosignature of witness {w.name} does not verify")
            if w.name not in ok:
                ok.append(w.name)
    return ok


def openssl_ts_verify(note, token, root):
    """Checks an RFC 3161 token over the note's bytes with `openssl ts -verify`."""
    with tempfile.TemporaryDirectory() as d:
        n, t = os.path.join(d, "note"), os.path.join(d, "token")
        with open(n, "wb") as f:
            f.write(note.encode("utf-8"))
        with open(t, "wb") as f:
            f.write(token)
        r = subprocess.run(
            ["openssl", "ts", "-verify", "-data", n, "-in", t, "-token_in", "-CAfile", root],
            capture_output=True, text=True,
        )
    if r.returncode != 0 or "Verification: OK" not in r.stdout:
        raise Invalid("openssl ts -verify refuses the token: " + (r.stderr.strip().splitlines() or ["?"])[-1])


def parse_tlog_proof(text):
    """C2SP tlog-proof@v1: returns (index, hashes, checkpoint text)."""
    if not isinstance(text, str):
        raise Invalid("proof is not a string")
    lines = text.split("\n")
    if lines[0] != PROOF_HEADER:
        raise Invalid("first line is not " + PROOF_HEADER)
    i = 1
    if i < len(lines) and lines[i].startswith("extra "):
        if not b64(lines[i][6:]):
            raise Invalid("extra is empty")
        i += 1
    if i >= len(lines) or not lines[i].startswith("index "):
        raise Invalid("expected `index <N>`")
    index = canonical_uint(lines[i][6:])
    i += 1
    hashes = []
    while True:
        if i >= len(lines):
            raise Invalid("no empty line before the checkpoint")
        if lines[i] == "":
            break
        if len(hashes) == 63:
            raise Invalid("more than 63 proof hashes")
        hashes.append(hash32(lines[i]))
        i += 1
    checkpoint = "\n".join(lines[i + 1 :])
    if not checkpoint:
        raise Invalid("no checkpoint after the empty line")
    return index, hashes, checkpoint


# ---------------------------------------------------------------- bundles


HEADER_KEYS = {
    "format", "version", "log", "origin", "key", "checkpoint", "query",
    "exported_at", "exported_by", "entries", "since",
}


def exact_keys(obj, keys, line, item):
    if not isinstance(obj, dict) or set(obj) != keys:
        raise Bad(line, item, f"expected exactly the fields {sorted(keys)}")


def is_uint(v):
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**64


def verify_bundle(path, log_key=None, system_key=None, pinned=None, witnesses=None, quorum=0, tsa_root=None):
    with open(path, "rb") as f:
        data = f.read()
    if not data:
        raise Bad(1, "header", "the file is empty")
    if not data.endswith(b"\n"):
        raise Bad(data.count(b"\n") + 1, "trailer", "the file does not end with a newline: truncated?")
    raw_lines = data[:-1].split(b"\n")
    if len(raw_lines) < 2:
        raise Bad(2, "trailer", "missing: the bundle is truncated")

    # Header.
    try:
        header = json.loads(raw_lines[0])
    except (ValueError, UnicodeDecodeError) as e:
        raise Bad(1, "header", f"not JSON: {e}")
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise Bad(1, "header", f"not a {FORMAT} file")
    if header.get("version") == 1 and "timestamp" in header:
        raise Bad(1, "header", "a version 1 bundle has no timestamp field")
    if header.get("version") not in VERSIONS:
        raise Bad(1, "header", f"bundle version {header.get('version')} is not supported")
    exact_keys(header, HEADER_KEYS | ({"timestamp"} & set(header) if isinstance(header, dict) else set()), 1, "header")
    for k in ("log", "origin", "key", "checkpoint", "exported_at", "exported_by"):
        if not isinstance(header[k], str):
            raise Bad(1, "header", f"{k} is not a string")
    if not is_uint(header["entries"]):
        raise Bad(1, "header", "entries is not a count")
    if not isinstance(header["query"], dict) or not all(
        isinstance(v, str) for v in header["query"].values()
    ):
        raise Bad(1, "header", "query is not a map of strings")
    from_bundle = log_key is None
    try:
        key = log_key or Key(header["key"])
    except Invalid as e:
        raise Bad(1, "header", f"key: {e}")
    try:
        origin, size, root = open_checkpoint(header["checkpoint"], key)
    except Invalid as e:
        raise Bad(1, "header.checkpoint", f"does not verify with {key.name}: {e}")
    if origin != header["origin"]:
        raise Bad(1, "header.origin", "differs from the checkpoint's origin")
    witnessed = []
    if witnesses:
        try:
            witnessed = cosigned_by(header["checkpoint"], witnesses)
        except Invalid as e:
            raise Bad(1, "header.checkpoint", f"not witnessed: {e}")
        if len(witnessed) < quorum:
            missing = [w.name for w in witnesses if w.name not in witnessed]
            raise Bad(1, "header.checkpoint", f"not witnessed: {len(witnessed)} valid cosignature(s), {quorum} needed; missing: {', '.join(missing)}")

    # Timestamp: a checkpoint no larger than the bundle's, consistent with it.
    stamped = None
    ts = header.get("timestamp")
    if ts is None:
        if tsa_root is not None:
            raise Bad(1, "header", "--tsa-root given but the bundle carries no RFC 3161 timestamp")
    else:
        try:
            if not isinstance(ts, dict) or set(ts) != {"checkpoint", "token", "consistency"}:
                raise Invalid("needs exactly checkpoint, token and consistency")
            _, t_size, t_root = open_checkpoint(ts["checkpoint"], key)
            if not isinstance(ts["consistency"], list):
                raise Invalid("consistency is not a list")
            proof = [hash32(h) for h in ts["consistency"]]
            if t_size > size:
                raise Invalid("the timestamped checkpoint is larger than the bundle's")
            verify_consistency(t_size, size, proof, t_root, root)
            token = b64(ts["token"])
            if tsa_root is not None:
                openssl_ts_verify(ts["checkpoint"], token, tsa_root)
        except Invalid as e:
            raise Bad(1, "header.timestamp", str(e))
        stamped = t_size

    # Since: consistency from a pinned checkpoint.
    since_size = None
    since = header["since"]
    if since is None:
        if pinned is not None:
            raise Bad(1, "header", "you pinned a checkpoint but the bundle has no consistency proof")
    else:
        exact_keys(since, {"checkpoint", "consistency"}, 1, "header.since")
        try:
            _, old_size, old_root = open_checkpoint(since["checkpoint"], key)
            if pinned is not None:
                _, p_size, p_root = open_checkpoint(pinned, key)
                if (p_size, p_root) != (old_size, old_root):
                    raise Invalid(f"the bundle proves consistency from size {old_size}, you pinned size {p_size}")
            if not isinstance(since["consistency"], list):
                raise Invalid("consistency is not a list")
            proof = [hash32(h) for h in since["consistency"]]
            if old_size > size:
                raise Invalid("the pinned checkpoint is newer: the log was rolled back")
            verify_consistency(old_size, size, proof, old_root, root)
        except Invalid as e:
            raise Bad(1, "header.since", str(e))
        since_size = old_size

    # Entries.
    prev = None
    count = 0
    for n, raw in enumerate(raw_lines[1:-1], start=2):
        try:
            e = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as x:
            raise Bad(n, f"entry line {n - 1}", f"not JSON: {x}")
        exact_keys(e, {"index", "entry", "proof"}, n, f"entry line {n - 1}")
        if not is_uint(e["index"]) or not isinstance(e["entry"], str):
            raise Bad(n, f"entry line {n - 1}", "index or entry has the wrong type")
        index = e["index"]
        item = f"entry {index}"
        try:
            p_index, hashes, p_cp = parse_tlog_proof(e["proof"])
        except Invalid as x:
            raise Bad(n, item, f"malformed tlog-proof: {x}")
        if p_index != index:
            raise Bad(n, item, f"the proof is for index {p_index}, not {index}")
        if p_cp != header["checkpoint"]:
            raise Bad(n, item, "the proof's checkpoint is not the bundle's checkpoint")
        try:
            verify_inclusion(leaf_hash(e["entry"].encode("utf-8")), index, size, hashes, root)
        except Invalid as x:
            raise Bad(n, item, f"the entry is not in the checkpointed log: {x}")
        if prev is not None and index <= prev:
            raise Bad(n, item, f"entries must be in increasing index order; {index} follows {prev}")
        prev = index
        count += 1
    last = len(raw_lines)
    if count != header["entries"]:
        raise Bad(last, "trailer", f"the header announces {header['entries']} entries but {count} are present")

    # Trailer: the manifest and its record in _system.
    manifest = hashlib.sha256(data[: len(data) - len(raw_lines[-1]) - 1]).digest()
    try:
        t = json.loads(raw_lines[-1])
    except (ValueError, UnicodeDecodeError) as x:
        raise Bad(last, "trailer", f"not JSON: {x}")
    exact_keys(t, {"manifest", "system"}, last, "trailer")
    if t["manifest"] != base64.b64encode(manifest).decode():
        raise Bad(last, "trailer", "the manifest hash does not match the bundle's contents")
    sysrec = t["system"]
    exact_keys(sysrec, {"origin", "key", "entry", "proof"}, last, "trailer.system")
    if not all(isinstance(sysrec[k], str) for k in sysrec):
        raise Bad(last, "trailer.system", "fields must be strings")
    sys_from_bundle = False
    try:
        if system_key is None and log_key is not None and log_key.name == sysrec["origin"]:
            system_key = log_key
        if system_key is None:
            system_key, sys_from_bundle = Key(sysrec["key"]), True
        s_index, s_hashes, s_cp = parse_tlog_proof(sysrec["proof"])
        _, s_size, s_root = open_checkpoint(s_cp, system_key)
        verify_inclusion(leaf_hash(sysrec["entry"].encode("utf-8")), s_index, s_size, s_hashes, s_root)
        rec = json.loads(sysrec["entry"])
    except (Invalid, ValueError) as x:
        raise Bad(last, "trailer.system", f"the export record is not proven in _system: {x}")
    meta = rec.get("metadata") if isinstance(rec, dict) else None
    target = rec.get("target") if isinstance(rec, dict) else None
    if not isinstance(meta, dict) or not isinstance(target, dict):
        raise Bad(last, "trailer.system", "the export record has no metadata or target")
    checks = [
        ("action", rec.get("action") == EXPORT_ACTION),
        ("target.id", target.get("id") == header["log"]),
        ("metadata.bundle_sha256", meta.get("bundle_sha256") == t["manifest"]),
        ("metadata.entries", meta.get("entries") == header["entries"]),
        ("metadata.tree_size", meta.get("tree_size") == size),
        ("metadata.origin", meta.get("origin") == header["origin"]),
    ]
    for field, ok in checks:
        if not ok:
            raise Bad(last, "trailer.system", f"the _system export record does not describe this bundle ({field} differs)")
    return {
        "entries": count,
        "origin": origin,
        "size": size,
        "root": base64.b64encode(root).decode(),
        "since": since_size,
        "system_index": s_index,
        "key_from_bundle": from_bundle,
        "system_key_from_bundle": sys_from_bundle,
        "witnessed": witnessed,
        "stamped": stamped,
        "stamp_checked": tsa_root is not None,
    }


def main():
    ap = argparse.ArgumentParser(description="Verify a veritrail evidence bundle.")
    ap.add_argument("bundle")
    ap.add_argument("--key", help="the log's verifier key, from a channel you trust")
    ap.add_argument("--system-key", help="the _system log's verifier key")
    ap.add_argument("--since-checkpoint", help="a checkpoint file you pinned earlier")
    ap.add_argument("--witness", action="append", default=[], help="a witness's cosignature/v1 verifier key (repeat)")
    ap.add_argument("--quorum", type=int, help="cosignatures needed (default: all --witness keys)")
    ap.add_argument("--tsa-root", help="require the bundle's RFC 3161 timestamp and check it against this root (PEM)")
    a = ap.parse_args()
    try:
        log_key = Key(a.key) if a.key else None
        system_key = Key(a.system_key) if a.system_key else None
        pinned = open(a.since_checkpoint, encoding="utf-8").read() if a.since_checkpoint else None
        witnesses = [WitnessKey(k) for k in a.witness]
        quorum = len(witnesses) if a.quorum is None else a.quorum
        if a.quorum is not None and not 1 <= a.quorum <= len(witnesses):
            raise Invalid(f"--quorum {a.quorum}: between 1 and the {len(witnesses)} --witness keys")
    except (Invalid, OSError) as e:
        print(f"verify_bundle.py: error: {e}", file=sys.stderr)
        return 2
    try:
        s = verify_bundle(a.bundle, log_key, system_key, pinned, witnesses, quorum, a.tsa_root)
    except Bad as e:
        print(f"verify_bundle.py: {a.bundle}: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"verify_bundle.py: error: {e}", file=sys.stderr)
        return 2
    if s["key_from_bundle"]:
        print("verify_bundle.py: warning: no --key; checked against the bundle's own key", file=sys.stderr)
    if s["system_key_from_bundle"]:
        print("verify_bundle.py: warning: no --system-key; the export record was checked against the bundle's own _system key", file=sys.stderr)
    since = f"; consistent with the pinned checkpoint at size {s['since']}" if s["since"] is not None else ""
    if s["witnessed"]:
        since += "; cosigned by " + ", ".join(s["witnessed"])
    if s["stamped"] is not None:
        since += f"; timestamped at size {s['stamped']}" + (" (token checked by openssl)" if s["stamp_checked"] else " (pass --tsa-root to check the token)")
    print(
        f"OK: {s['entries']} entries in {s['origin']} at tree size {s['size']} (root {s['root']}){since}; "
        f"export recorded in _system at index {s['system_index']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

// An independent verifier of veritrail entries, in the browser, from the
// specs alone: RFC 9162 leaf hashes and inclusion proofs (SHA-256 through
// WebCrypto), C2SP signed notes and checkpoints, and the note's Ed25519
// signature through WebCrypto where the browser has Ed25519. It shares no
// code with the server. Used by the console's Event page
// (docs/CONSOLE.md "Proof in the browser").

const enc = new TextEncoder();

export class Invalid extends Error {}

/** Strict standard base64 (canonical padding) to bytes. */
export function b64(s) {
  if (typeof s !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0) {
    throw new Invalid("not base64");
  }
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  if (toB64(out) !== s) throw new Invalid("not canonical base64");
  return out;
}

export function toB64(bytes) {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

function concat(...parts) {
  const n = parts.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function equal(a, b) {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

export async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

/** RFC 9162 §2.1.1: SHA-256(0x00 || entry). */
export async function leafHash(entry) {
  return sha256(concat(new Uint8Array([0]), entry));
}

/** RFC 9162 §2.1.3.2: the root an inclusion proof leads to. */
export async function rootFromInclusion(index, size, leaf, path) {
  if (!(index < size)) throw new Invalid(`index ${index} is not below the tree size ${size}`);
  let fn = BigInt(index);
  let sn = BigInt(size) - 1n;
  let r = leaf;
  for (const p of path) {
    if (sn === 0n) throw new Invalid("the inclusion proof is too long");
    if ((fn & 1n) === 1n || fn === sn) {
      r = await sha256(concat(new Uint8Array([1]), p, r));
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      r = await sha256(concat(new Uint8Array([1]), r, p));
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw new Invalid("the inclusion proof is too short");
  return r;
}

/** A C2SP note verifier key `name+hexid+base64(type || key)`. */
export async function parseKey(vkey) {
  const i = vkey.indexOf("+");
  const j = vkey.indexOf("+", i + 1);
  if (i <= 0 || j < 0) throw new Invalid("a verifier key is name+id+key");
  const name = vkey.slice(0, i);
  const hexid = vkey.slice(i + 1, j);
  const raw = b64(vkey.slice(j + 1));
  if (!/^[0-9a-f]{8}$/.test(hexid)) throw new Invalid("the key id is not 8 hex digits");
  if (raw.length !== 33) throw new Invalid("the key is not 33 bytes");
  const id = await sha256(concat(enc.encode(name + "\n"), raw));
  const want = Array.from(id.slice(0, 4), (b) => b.toString(16).padStart(2, "0")).join("");
  if (want !== hexid) throw new Invalid("the key id does not match the key");
  return { name, id: id.slice(0, 4), type: raw[0], public: raw.slice(1), vkey };
}

async function ed25519(publicKey, sig, msg) {
  let key;
  try {
    key = await crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
  } catch (e) {
    return null; // this browser has no Ed25519
  }
  return crypto.subtle.verify({ name: "Ed25519" }, key, sig, msg);
}

/**
 * Opens a signed checkpoint note with the log's key: returns its origin,
 * size and root, whether the signature was checked (null: the browser
 * cannot), and the names on the other signature lines (cosignatures).
 */
export async function openCheckpoint(note, key) {
  const sep = note.indexOf("\n\n");
  if (sep < 0 || !note.endsWith("\n")) throw new Invalid("not a signed note");
  const text = note.slice(0, sep + 1);
  const lines = note.slice(sep + 2, -1).split("\n");
  let signed = undefined;
  const others = [];
  for (const line of lines) {
    if (!line.startsWith("\u2014 ")) throw new Invalid("a malformed signature line");
    const k = line.lastIndexOf(" ");
    const name = line.slice(2, k);
    const sig = b64(line.slice(k + 1));
    if (name === key.name && sig.length >= 4 && equal(sig.slice(0, 4), key.id)) {
      if (key.type !== 1 || sig.length !== 68) throw new Invalid("not an Ed25519 signature");
      const ok = await ed25519(key.public, sig.slice(4), enc.encode(text));
      if (ok === false) throw new Invalid(`the signature by ${key.name} does not verify`);
      signed = ok === null ? null : true;
    } else {
      others.push(name);
    }
  }
  if (signed === undefined) throw new Invalid(`the checkpoint is not signed by ${key.name}`);
  const body = text.slice(0, -1).split("\n");
  if (body.length < 3) throw new Invalid("a checkpoint has origin, size and root lines");
  if (!/^(0|[1-9][0-9]*)$/.test(body[1])) throw new Invalid("the size is not a canonical number");
  if (body[0] !== key.name) throw new Invalid(`the checkpoint's origin ${body[0]} is not the key's name`);
  const root = b64(body[2]);
  if (root.length !== 32) throw new Invalid("the root is not 32 bytes");
  return { origin: body[0], size: BigInt(body[1]), root, signed, cosigners: others };
}

/**
 * Verifies one entry: its exact stored bytes, the leaf hash the server
 * states for it, the inclusion proof answer (`index`, `tree_size`, `proof`,
 * `checkpoint`) and the log's verifier key. Throws `Invalid` naming the
 * first thing that does not hold.
 */
export async function verifyEntry({ index, raw, leafHash: stated, inclusion, vkey }) {
  const key = await parseKey(vkey);
  const leaf = await leafHash(raw);
  if (stated !== undefined && toB64(leaf) !== stated) {
    throw new Invalid("the entry's bytes do not hash to the leaf hash the server states");
  }
  if (BigInt(inclusion.index) !== BigInt(index)) throw new Invalid("the proof is for another entry");
  const cp = await openCheckpoint(inclusion.checkpoint, key);
  if (BigInt(inclusion.tree_size) !== cp.size) throw new Invalid("the proof is for another tree size");
  const path = inclusion.proof.map((h) => {
    const x = b64(h);
    if (x.length !== 32) throw new Invalid("a proof hash is not 32 bytes");
    return x;
  });
  const root = await rootFromInclusion(BigInt(index), cp.size, leaf, path);
  if (!equal(root, cp.root)) throw new Invalid("the entry is not in the signed tree: the inclusion proof leads to another root");
  return { size: cp.size, origin: cp.origin, signed: cp.signed, cosigners: cp.cosigners, leaf: toB64(leaf) };
}

// veritrail-core's verifier compiled to WebAssembly (crates/verify-wasm),
// run beside the independent WebCrypto one in verify.js: the same code the
// server and `veritrail verify` run checks the entry's leaf hash, its
// inclusion proof and the log's signature on the checkpoint. The module
// needs no glue: a JSON request is written into its memory and a JSON
// answer read back (crates/verify-wasm/src/lib.rs).

let module = null;

async function instance() {
  if (!module) {
    module = WebAssembly.instantiateStreaming(fetch("/console/verify_core.wasm")).then((m) => m.instance.exports);
  }
  return module;
}

function b64(bytes) {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

/** {ok: true, origin, size, root, leaf_hash, other_signatures} or {ok: false, error}. */
export async function verifyWithCore({ index, raw, leafHash, inclusion, vkey }) {
  const x = await instance();
  const req = new TextEncoder().encode(
    JSON.stringify({
      index,
      entry: b64(raw),
      leaf_hash: leafHash,
      tree_size: inclusion.tree_size,
      proof: inclusion.proof,
      checkpoint: inclusion.checkpoint,
      key: vkey,
    }),
  );
  const at = x.input(req.length);
  new Uint8Array(x.memory.buffer, at, req.length).set(req);
  x.verify();
  const out = new Uint8Array(x.memory.buffer, x.output_ptr(), x.output_len());
  return JSON.parse(new TextDecoder().decode(out));
}

/** Fetches and compiles the module ahead of the first check. */
export function preload() {
  instance().catch(() => {
    module = null; // tried again at the first check, which reports why
  });
}

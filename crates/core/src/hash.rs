//! RFC 9162 §2.1.1 hashing: SHA-256 with domain separation between leaves and
//! interior nodes.
//!
//! `sha2` detects SHA-NI (x86) and the ARMv8 SHA extensions at run time, so the
//! hardware path is taken whenever the CPU has it.

use core::fmt;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// A SHA-256 value: a leaf hash, an interior node hash, or a tree root.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash(pub [u8; 32]);

/// The length of a [`Hash`] in bytes.
pub const HASH_SIZE: usize = 32;

impl Hash {
    /// MTH({}) — the root of the empty tree, SHA-256 of the empty string
    /// (RFC 9162 §2.1.1).
    pub const EMPTY_ROOT: Hash = Hash([
        0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9,
        0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52,
        0xb8, 0x55,
    ]);

    /// Builds a hash from a slice.
    ///
    /// # Errors
    /// Returns `None` unless `bytes` is exactly 32 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Option<Hash> {
        <[u8; 32]>::try_from(bytes).ok().map(Hash)
    }

    /// Standard base64 (RFC 4648 §4), as used in checkpoints and proofs.
    pub fn to_base64(&self) -> String {
        B64.encode(self.0)
    }

    /// Parses standard base64 of exactly 32 bytes.
    ///
    /// # Errors
    /// Returns `None` for invalid base64 or a length other than 32 bytes.
    pub fn from_base64(s: &str) -> Option<Hash> {
        // 32 bytes encode to exactly 44 characters; check before decoding.
        if s.len() != 44 {
            return None;
        }
        // The standard engine refuses non-canonical trailing bits and padding,
        // so every hash has exactly one accepted text form.
        let mut out = [0u8; 33];
        match B64.decode_slice(s, &mut out) {
            Ok(32) => Hash::from_slice(&out[..32]),
            _ => None,
        }
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        let mut s = String::with_capacity(64);
        for b in self.0 {
            s.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
            s.push(char::from_digit(u32::from(b & 15), 16).unwrap_or('0'));
        }
        s
    }

    /// Parses 64 hex digits (either case).
    ///
    /// # Errors
    /// Returns `None` for anything else.
    pub fn from_hex(s: &str) -> Option<Hash> {
        let b = s.as_bytes();
        if b.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, o) in out.iter_mut().enumerate() {
            let hi = (b[2 * i] as char).to_digit(16)?;
            let lo = (b[2 * i + 1] as char).to_digit(16)?;
            *o = (hi * 16 + lo) as u8;
        }
        Some(Hash(out))
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64())
    }
}

/// SHA-256 initial state (FIPS 180-4 §5.3.3).
const IV: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// Leaves up to this size are hashed from one stack buffer of pre-padded
/// blocks straight through the compression function (SHA-NI when present),
/// skipping the streaming API's buffering; larger ones stream.
const FAST_LEAF_MAX: usize = 8 * 64 - 1 - 9;

fn state_to_hash(st: &[u32; 8]) -> Hash {
    let mut out = [0u8; 32];
    for (o, w) in out.chunks_exact_mut(4).zip(st) {
        o.copy_from_slice(&w.to_be_bytes());
    }
    Hash(out)
}

/// Leaf hash, RFC 9162 §2.1.1: `SHA-256(0x00 ‖ entry)`.
#[inline]
pub fn leaf_hash(entry: &[u8]) -> Hash {
    if entry.len() > FAST_LEAF_MAX {
        let mut h = Sha256::new();
        h.update([0u8]);
        h.update(entry);
        return Hash(h.finalize().into());
    }
    // FIPS 180-4 §5.1.1 padding: message, 0x80, zeros, 64-bit big-endian bit length.
    let msg_len = 1 + entry.len();
    let nblocks = (msg_len + 9).div_ceil(64);
    let mut blocks =
        [sha2::digest::generic_array::GenericArray::<u8, sha2::digest::consts::U64>::default(); 8];
    // Message byte 0 is the 0x00 prefix (already zero); entry byte k is
    // message byte k + 1. Each block takes its part of the entry directly.
    for (b, block) in blocks.iter_mut().enumerate().take(nblocks) {
        let (lo, hi) = ((b * 64).max(1), ((b + 1) * 64).min(msg_len));
        if lo < hi {
            block[lo - b * 64..hi - b * 64].copy_from_slice(&entry[lo - 1..hi - 1]);
        }
    }
    blocks[msg_len / 64][msg_len % 64] = 0x80;
    blocks[nblocks - 1][56..64].copy_from_slice(&((msg_len as u64) * 8).to_be_bytes());
    let mut st = IV;
    sha2::compress256(&mut st, &blocks[..nblocks]);
    state_to_hash(&st)
}

/// Interior node hash, RFC 9162 §2.1.1: `SHA-256(0x01 ‖ left ‖ right)`.
///
/// The 65-byte message is two pre-padded blocks fed straight to the
/// compression function.
#[inline]
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut blocks =
        [sha2::digest::generic_array::GenericArray::<u8, sha2::digest::consts::U64>::default(); 2];
    blocks[0][0] = 1;
    blocks[0][1..33].copy_from_slice(&left.0);
    blocks[0][33..64].copy_from_slice(&right.0[..31]);
    blocks[1][0] = right.0[31];
    blocks[1][1] = 0x80;
    blocks[1][56..64].copy_from_slice(&(65u64 * 8).to_be_bytes());
    let mut st = IV;
    sha2::compress256(&mut st, &blocks);
    state_to_hash(&st)
}

/// Plain SHA-256 (used for key IDs and token hashes, not for tree nodes).
pub fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        assert_eq!(Hash(sha256(&[])), Hash::EMPTY_ROOT);
    }

    #[test]
    fn fast_paths_equal_the_streaming_definition() {
        for len in (0..600).chain([65_535]) {
            let e: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
            let want = Hash(sha256(&[&[0], &e]));
            assert_eq!(leaf_hash(&e), want, "leaf of {len} bytes");
        }
        let (l, r) = (leaf_hash(b"l"), leaf_hash(b"r"));
        assert_eq!(node_hash(&l, &r), Hash(sha256(&[&[1], &l.0, &r.0])));
    }

    #[test]
    fn base64_and_hex_round_trip_and_reject_wrong_lengths() {
        let h = leaf_hash(b"x");
        assert_eq!(Hash::from_base64(&h.to_base64()), Some(h));
        assert_eq!(Hash::from_hex(&h.to_hex()), Some(h));
        assert_eq!(Hash::from_base64("ZG9uJ3QgY2FyZSAx"), None);
        assert_eq!(Hash::from_hex("00"), None);
    }
}

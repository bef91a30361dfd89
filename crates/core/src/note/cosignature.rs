//! C2SP `tlog-cosignature`: what a witness's `cosignature/v1` signs.
//!
//! A cosignature is a signed-note signature of type 0x04 (timestamped
//! Ed25519) over two header lines — `cosignature/v1` and `time <POSIX
//! seconds>` — followed by the checkpoint text. Its signature bytes are the
//! 8-byte big-endian timestamp followed by the 64-byte Ed25519 signature;
//! [`super::signed::Signer`] writes them and [`super::signed::Verifier`]
//! checks them.

/// The message a `cosignature/v1` signs for note `text` at `timestamp`
/// (POSIX seconds): `cosignature/v1\ntime <timestamp>\n<text>`.
pub fn message(text: &str, timestamp: u64) -> Vec<u8> {
    let mut m = Vec::with_capacity(text.len() + 40);
    m.extend_from_slice(b"cosignature/v1\ntime ");
    m.extend_from_slice(timestamp.to_string().as_bytes());
    m.push(b'\n');
    m.extend_from_slice(text.as_bytes());
    m
}

#[cfg(test)]
mod tests {
    /// The header lines are exactly the spec's.
    #[test]
    fn the_signed_message_starts_with_the_two_header_lines() {
        assert_eq!(
            super::message("example.com/log\n1\nAAAA\n", 1_700_000_000),
            b"cosignature/v1\ntime 1700000000\nexample.com/log\n1\nAAAA\n".to_vec()
        );
    }
}

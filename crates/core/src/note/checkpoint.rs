//! C2SP tlog-checkpoint: `<origin>\n<size>\n<base64 root>\n[extension lines]`,
//! carried in a signed note.

use core::fmt;

use crate::note::{open_note, NoteError, OpenedNote, SigType, Signer, Verifier};
use crate::tlog::hash::Hash;
use crate::tlog::tree::TreeSize;

/// A log's origin line: non-empty, no control characters. (C2SP recommends a
/// schema-less URL without spaces or `+`; our logs use their key name.)
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Origin(String);

impl Origin {
    /// Validates an origin.
    ///
    /// # Errors
    /// [`CheckpointError::BadOrigin`].
    pub fn new(s: &str) -> Result<Origin, CheckpointError> {
        if s.is_empty() || s.len() > 256 || s.chars().any(char::is_control) {
            return Err(CheckpointError::BadOrigin);
        }
        Ok(Origin(s.to_owned()))
    }
    /// The origin text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a checkpoint was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The origin line is empty or has control characters.
    #[error("checkpoint origin must be non-empty text without control characters")]
    BadOrigin,
    /// Fewer than three lines, or an empty line.
    #[error("checkpoint text: {0}")]
    Malformed(&'static str),
    /// The size line is not a canonical decimal u64.
    #[error("checkpoint tree size is not a decimal number without leading zeros")]
    BadSize,
    /// The root line is not base64 of 32 bytes.
    #[error("checkpoint root hash is not base64 of 32 bytes")]
    BadRoot,
    /// The checkpoint is for another log.
    #[error("checkpoint origin {found:?} is not the expected {expected:?}")]
    WrongOrigin {
        /// expected origin
        expected: String,
        /// origin in the checkpoint
        found: String,
    },
    /// The log's own signature is missing (only cosignatures verified).
    #[error("checkpoint is not signed by the log key")]
    NoLogSignature,
    /// Signature problems.
    #[error(transparent)]
    Note(#[from] NoteError),
}

/// A tree head: origin, size, root and optional extension lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// Log identity.
    pub origin: Origin,
    /// Tree size.
    pub size: TreeSize,
    /// Root hash at that size.
    pub root: Hash,
    /// Opaque extension lines (non-empty each), usually none.
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// A checkpoint without extension lines.
    pub fn new(origin: Origin, size: TreeSize, root: Hash) -> Self {
        Checkpoint {
            origin,
            size,
            root,
            extensions: Vec::new(),
        }
    }

    /// The note text, ending with a newline.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size.0,
            self.root.to_base64()
        );
        for e in &self.extensions {
            s.push_str(e);
            s.push('\n');
        }
        s
    }

    /// Parses checkpoint text strictly.
    ///
    /// # Errors
    /// Any [`CheckpointError`] parse variant.
    pub fn parse_text(text: &str) -> Result<Checkpoint, CheckpointError> {
        let body = text
            .strip_suffix('\n')
            .ok_or(CheckpointError::Malformed("must end with a newline"))?;
        let mut lines = body.split('\n');
        let origin = Origin::new(lines.next().unwrap_or(""))?;
        let size_s = lines
            .next()
            .ok_or(CheckpointError::Malformed("missing size line"))?;
        let root_s = lines
            .next()
            .ok_or(CheckpointError::Malformed("missing root line"))?;
        if size_s.is_empty()
            || size_s.len() > 20
            || !size_s.bytes().all(|b| b.is_ascii_digit())
            || (size_s.len() > 1 && size_s.starts_with('0'))
        {
            return Err(CheckpointError::BadSize);
        }
        let size: u64 = size_s.parse().map_err(|_| CheckpointError::BadSize)?;
        let root = Hash::from_base64(root_s).ok_or(CheckpointError::BadRoot)?;
        let mut extensions = Vec::new();
        for l in lines {
            if l.is_empty() {
                return Err(CheckpointError::Malformed("empty extension line"));
            }
            if l.chars().any(char::is_control) {
                return Err(CheckpointError::Malformed(
                    "control character in an extension line",
                ));
            }
            extensions.push(l.to_owned());
        }
        Ok(Checkpoint {
            origin,
            size: TreeSize(size),
            root,
            extensions,
        })
    }

    /// Signs the checkpoint with the log key: a complete signed note.
    ///
    /// # Errors
    /// Signing errors (only for texts that cannot be notes).
    pub fn sign(&self, signer: &Signer) -> Result<String, CheckpointError> {
        Ok(signer.sign_note(&self.to_text())?)
    }
}

/// A checkpoint whose log signature verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedCheckpoint {
    /// The tree head.
    pub checkpoint: Checkpoint,
    /// What verified and what was ignored.
    pub note: OpenedNote,
}

/// Verifies a signed checkpoint of the log whose key is `log_key` (whose name
/// must equal the origin), with optional witness cosigner keys.
///
/// # Errors
/// Note and parse errors; [`CheckpointError::WrongOrigin`];
/// [`CheckpointError::NoLogSignature`].
pub fn open_checkpoint(
    msg: &[u8],
    log_key: &Verifier,
    witnesses: &[Verifier],
) -> Result<SignedCheckpoint, CheckpointError> {
    let mut known = Vec::with_capacity(1 + witnesses.len());
    known.push(log_key.clone());
    known.extend(witnesses.iter().cloned());
    let note = open_note(msg, &known)?;
    if !note
        .verified
        .iter()
        .any(|s| s.name == log_key.name() && s.id == log_key.key_id() && s.ty == SigType::Ed25519)
    {
        return Err(CheckpointError::NoLogSignature);
    }
    let checkpoint = Checkpoint::parse_text(&note.text)?;
    if checkpoint.origin.as_str() != log_key.name() {
        return Err(CheckpointError::WrongOrigin {
            expected: log_key.name().to_owned(),
            found: checkpoint.origin.as_str().to_owned(),
        });
    }
    Ok(SignedCheckpoint { checkpoint, note })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_parser_rejects_near_misses() {
        let ok = "o\n5\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n";
        assert!(Checkpoint::parse_text(ok).is_ok());
        for (t, why) in [
            (
                "o\n05\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
                "leading zero",
            ),
            (
                "o\n-5\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
                "sign",
            ),
            (
                "o\n5\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU\n",
                "unpadded",
            ),
            (
                "o\n5\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n",
                "empty ext",
            ),
            (
                "\n5\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
                "empty origin",
            ),
            (
                "o\n5\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
                "no newline",
            ),
            ("o\n5\n", "no root"),
            (
                "o\n18446744073709551616\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
                "overflow",
            ),
        ] {
            assert!(Checkpoint::parse_text(t).is_err(), "{why}");
        }
    }

    #[test]
    fn open_requires_the_log_signature_and_origin() {
        let log = Signer::from_seed("log.example/a", SigType::Ed25519, [3; 32]).unwrap();
        let imposter = Signer::from_seed("log.example/b", SigType::Ed25519, [3; 32]).unwrap();
        let cp = Checkpoint::new(
            Origin::new("log.example/a").unwrap(),
            TreeSize(0),
            Hash::EMPTY_ROOT,
        );
        let signed = cp.sign(&log).unwrap();
        let opened = open_checkpoint(signed.as_bytes(), &log.verifier(), &[]).unwrap();
        assert_eq!(opened.checkpoint, cp);
        // A checkpoint whose origin is not the key's name is refused.
        let other = Checkpoint::new(
            Origin::new("log.example/b").unwrap(),
            TreeSize(0),
            Hash::EMPTY_ROOT,
        );
        let s2 = other.sign(&log).unwrap();
        assert!(matches!(
            open_checkpoint(s2.as_bytes(), &log.verifier(), &[]),
            Err(CheckpointError::WrongOrigin { .. })
        ));
        let s3 = cp.sign(&imposter).unwrap();
        assert!(open_checkpoint(s3.as_bytes(), &log.verifier(), &[]).is_err());
    }
}

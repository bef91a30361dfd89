//! C2SP signed-note with Ed25519 (type 0x01) and timestamped Ed25519
//! cosignatures (type 0x04, C2SP tlog-cosignature `cosignature/v1`).
//!
//! Key text forms are those of golang.org/x/mod/sumdb/note:
//! signer `PRIVATE+KEY+<name>+<hex id>+<base64(type ‖ seed)>`,
//! verifier `<name>+<hex id>+<base64(type ‖ public key)>`.

use core::fmt;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::{Signature as EdSignature, Signer as _, SigningKey, VerifyingKey};

use crate::tlog::hash::sha256;

/// Largest note accepted by the parser, checked before anything else.
pub const MAX_NOTE_SIZE: usize = 1 << 20;
/// Most signature lines accepted (C2SP asks verifiers to accept at least 16).
pub const MAX_SIGNATURES: usize = 100;

const EM_DASH_SPACE: &str = "\u{2014} ";

/// Signature algorithm identifier bytes (C2SP signed-note "Signature types").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SigType {
    /// 0x01: Ed25519 over the note text.
    Ed25519,
    /// 0x04: timestamped Ed25519 witness cosignature, `cosignature/v1`.
    CosignatureV1,
}

impl SigType {
    fn byte(self) -> u8 {
        match self {
            SigType::Ed25519 => 0x01,
            SigType::CosignatureV1 => 0x04,
        }
    }
    fn from_byte(b: u8) -> Option<SigType> {
        match b {
            0x01 => Some(SigType::Ed25519),
            0x04 => Some(SigType::CosignatureV1),
            _ => None,
        }
    }
}

/// Why a key, a note or a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoteError {
    /// A key name that is empty, has spaces or `+`, or is not UTF-8.
    #[error("invalid key name {0:?}: must be non-empty, without spaces or '+'")]
    BadKeyName(String),
    /// Key text that does not parse.
    #[error("invalid key: {0}")]
    BadKey(&'static str),
    /// The key ID in the text does not match the key.
    #[error("key ID {stated:08x} does not match the key (computed {computed:08x})")]
    KeyIdMismatch {
        /// in the text
        stated: u32,
        /// from name and key
        computed: u32,
    },
    /// The note is larger than [`MAX_NOTE_SIZE`].
    #[error("note of {0} bytes exceeds the {MAX_NOTE_SIZE}-byte limit")]
    TooLarge(usize),
    /// More than [`MAX_SIGNATURES`] signature lines.
    #[error("note has more than {MAX_SIGNATURES} signature lines")]
    TooManySignatures,
    /// The note is not well formed.
    #[error("malformed note: {0}")]
    Malformed(&'static str),
    /// Text that cannot be signed (control characters, no final newline, …).
    #[error("invalid note text: {0}")]
    BadText(&'static str),
    /// A signature from a known key failed to verify.
    #[error("signature by {name} ({id:08x}) does not verify")]
    InvalidSignature {
        /// key name
        name: String,
        /// key ID
        id: u32,
    },
    /// No signature from any known key.
    #[error("note has no signature from a known key")]
    NoKnownSignature,
}

fn check_name(name: &str) -> Result<(), NoteError> {
    if name.is_empty() || name.contains('+') || name.chars().any(char::is_whitespace) {
        return Err(NoteError::BadKeyName(name.chars().take(100).collect()));
    }
    Ok(())
}

/// C2SP key ID: the first 4 bytes (big-endian) of
/// SHA-256(name ‖ 0x0A ‖ type ‖ public key).
pub fn key_id(name: &str, ty: SigType, public: &[u8; 32]) -> u32 {
    let d = sha256(&[name.as_bytes(), b"\n", &[ty.byte()], public]);
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

fn check_text(text: &str) -> Result<(), NoteError> {
    if !text.ends_with('\n') {
        return Err(NoteError::BadText("must end with a newline"));
    }
    if text.bytes().any(|b| b < 0x20 && b != b'\n') {
        return Err(NoteError::BadText("contains an ASCII control character"));
    }
    Ok(())
}

/// A private key that signs notes (type 0x01) or cosigns checkpoints
/// (type 0x04).
#[derive(Clone)]
pub struct Signer {
    name: String,
    id: u32,
    ty: SigType,
    key: SigningKey,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print key material.
        write!(f, "Signer({}+{:08x})", self.name, self.id)
    }
}

impl Signer {
    /// A signer from a 32-byte Ed25519 seed. The caller supplies the
    /// randomness: this crate has no I/O.
    ///
    /// # Errors
    /// [`NoteError::BadKeyName`].
    pub fn from_seed(name: &str, ty: SigType, seed: [u8; 32]) -> Result<Signer, NoteError> {
        check_name(name)?;
        let key = SigningKey::from_bytes(&seed);
        let id = key_id(name, ty, key.verifying_key().as_bytes());
        Ok(Signer {
            name: name.to_owned(),
            id,
            ty,
            key,
        })
    }

    /// Parses `PRIVATE+KEY+<name>+<hex id>+<base64(type ‖ seed)>`.
    ///
    /// # Errors
    /// [`NoteError::BadKey`], [`NoteError::BadKeyName`],
    /// [`NoteError::KeyIdMismatch`].
    pub fn parse(skey: &str) -> Result<Signer, NoteError> {
        let skey = skey.trim_end_matches(['\n', '\r']);
        let rest = skey
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(NoteError::BadKey("signer key must start with PRIVATE+KEY+"))?;
        let (name, id, ty, material) = split_key(rest)?;
        let seed: [u8; 32] = material
            .try_into()
            .map_err(|_| NoteError::BadKey("Ed25519 seed must be 32 bytes"))?;
        let s = Signer::from_seed(name, ty, seed)?;
        if s.id != id {
            return Err(NoteError::KeyIdMismatch {
                stated: id,
                computed: s.id,
            });
        }
        Ok(s)
    }

    /// The `PRIVATE+KEY+…` text. Treat it as a secret.
    pub fn to_skey(&self) -> String {
        let mut m = Vec::with_capacity(33);
        m.push(self.ty.byte());
        m.extend_from_slice(&self.key.to_bytes());
        format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.name,
            self.id,
            B64.encode(m)
        )
    }

    /// Key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Key ID.
    pub fn key_id(&self) -> u32 {
        self.id
    }

    /// The matching verifier.
    pub fn verifier(&self) -> Verifier {
        Verifier {
            name: self.name.clone(),
            id: self.id,
            ty: self.ty,
            key: self.key.verifying_key(),
        }
    }

    /// Signs `text` and returns the signature line (without the final
    /// newline). For a cosigner, `timestamp` (POSIX seconds) is signed too;
    /// plain Ed25519 signers ignore it.
    ///
    /// # Errors
    /// [`NoteError::BadText`] if the text could not be a note text.
    pub fn sign_line(&self, text: &str, timestamp: u64) -> Result<String, NoteError> {
        check_text(text)?;
        let mut payload = Vec::with_capacity(76);
        payload.extend_from_slice(&self.id.to_be_bytes());
        match self.ty {
            SigType::Ed25519 => {
                payload.extend_from_slice(&self.key.sign(text.as_bytes()).to_bytes());
            }
            SigType::CosignatureV1 => {
                if timestamp > i64::MAX as u64 {
                    return Err(NoteError::BadText("cosignature timestamp exceeds 2^63-1"));
                }
                payload.extend_from_slice(&timestamp.to_be_bytes());
                let sig = self.key.sign(&super::cosignature::message(text, timestamp));
                payload.extend_from_slice(&sig.to_bytes());
            }
        }
        Ok(format!(
            "{EM_DASH_SPACE}{} {}",
            self.name,
            B64.encode(payload)
        ))
    }

    /// Signs `text` into a complete signed note.
    ///
    /// # Errors
    /// [`NoteError::BadText`].
    pub fn sign_note(&self, text: &str) -> Result<String, NoteError> {
        let line = self.sign_line(text, 0)?;
        Ok(format!("{text}\n{line}\n"))
    }
}

fn split_key(rest: &str) -> Result<(&str, u32, SigType, Vec<u8>), NoteError> {
    let mut parts = rest.splitn(3, '+');
    let name = parts.next().ok_or(NoteError::BadKey("missing name"))?;
    let id_s = parts.next().ok_or(NoteError::BadKey("missing key ID"))?;
    let b64 = parts
        .next()
        .ok_or(NoteError::BadKey("missing key material"))?;
    check_name(name)?;
    if id_s.len() != 8 || !id_s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(NoteError::BadKey("key ID must be 8 hex digits"));
    }
    let id = u32::from_str_radix(id_s, 16).map_err(|_| NoteError::BadKey("bad key ID"))?;
    if b64.len() > 64 {
        return Err(NoteError::BadKey("key material too long"));
    }
    let raw = B64
        .decode(b64)
        .map_err(|_| NoteError::BadKey("key material is not base64"))?;
    let (&ty, material) = raw
        .split_first()
        .ok_or(NoteError::BadKey("empty key material"))?;
    let ty = SigType::from_byte(ty).ok_or(NoteError::BadKey(
        "unsupported key type (want 0x01 or 0x04)",
    ))?;
    Ok((name, id, ty, material.to_vec()))
}

/// A public key that verifies signatures of one name and key ID.
#[derive(Clone, PartialEq, Eq)]
pub struct Verifier {
    name: String,
    id: u32,
    ty: SigType,
    key: VerifyingKey,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_vkey())
    }
}

impl fmt::Display for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_vkey())
    }
}

impl Verifier {
    /// Parses `<name>+<hex id>+<base64(type ‖ public key)>`.
    ///
    /// # Errors
    /// [`NoteError::BadKey`], [`NoteError::BadKeyName`],
    /// [`NoteError::KeyIdMismatch`].
    pub fn parse(vkey: &str) -> Result<Verifier, NoteError> {
        let vkey = vkey.trim();
        let (name, id, ty, material) = split_key(vkey)?;
        let pk: [u8; 32] = material
            .try_into()
            .map_err(|_| NoteError::BadKey("Ed25519 public key must be 32 bytes"))?;
        let key =
            VerifyingKey::from_bytes(&pk).map_err(|_| NoteError::BadKey("not an Ed25519 point"))?;
        let computed = key_id(name, ty, &pk);
        if computed != id {
            return Err(NoteError::KeyIdMismatch {
                stated: id,
                computed,
            });
        }
        Ok(Verifier {
            name: name.to_owned(),
            id,
            ty,
            key,
        })
    }

    /// The vkey text.
    pub fn to_vkey(&self) -> String {
        let mut m = Vec::with_capacity(33);
        m.push(self.ty.byte());
        m.extend_from_slice(self.key.as_bytes());
        format!("{}+{:08x}+{}", self.name, self.id, B64.encode(m))
    }

    /// Key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Key ID.
    pub fn key_id(&self) -> u32 {
        self.id
    }

    /// Signature type.
    pub fn sig_type(&self) -> SigType {
        self.ty
    }

    /// Verifies a decoded signature (without the 4-byte key ID) over `text`.
    /// Returns the cosignature timestamp (0 for plain Ed25519).
    pub(crate) fn verify(&self, text: &str, sig: &[u8]) -> Option<u64> {
        match self.ty {
            SigType::Ed25519 => {
                let s = EdSignature::from_slice(sig).ok()?;
                self.key.verify_strict(text.as_bytes(), &s).ok().map(|()| 0)
            }
            SigType::CosignatureV1 => {
                if sig.len() != 72 {
                    return None;
                }
                let ts = u64::from_be_bytes(sig[..8].try_into().ok()?);
                if ts > i64::MAX as u64 {
                    return None;
                }
                let s = EdSignature::from_slice(&sig[8..]).ok()?;
                self.key
                    .verify_strict(&super::cosignature::message(text, ts), &s)
                    .ok()
                    .map(|()| ts)
            }
        }
    }
}

/// One signature line of a note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteSignature {
    /// Key name.
    pub name: String,
    /// Key ID (first 4 bytes of the decoded signature).
    pub id: u32,
    /// The signature bytes after the key ID.
    pub sig: Vec<u8>,
}

impl NoteSignature {
    /// The line, without its final newline.
    pub fn to_line(&self) -> String {
        let mut p = Vec::with_capacity(4 + self.sig.len());
        p.extend_from_slice(&self.id.to_be_bytes());
        p.extend_from_slice(&self.sig);
        format!("{EM_DASH_SPACE}{} {}", self.name, B64.encode(p))
    }
}

/// A parsed (not yet verified) signed note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// The text, including its final newline.
    pub text: String,
    /// Signature lines in order.
    pub signatures: Vec<NoteSignature>,
}

impl Note {
    /// Parses a signed note strictly. Size and signature-line count are
    /// checked before any other parsing.
    ///
    /// # Errors
    /// [`NoteError::TooLarge`], [`NoteError::TooManySignatures`],
    /// [`NoteError::Malformed`], [`NoteError::BadText`].
    pub fn parse(msg: &[u8]) -> Result<Note, NoteError> {
        if msg.len() > MAX_NOTE_SIZE {
            return Err(NoteError::TooLarge(msg.len()));
        }
        let msg = core::str::from_utf8(msg).map_err(|_| NoteError::Malformed("not UTF-8"))?;
        if !msg.ends_with('\n') {
            return Err(NoteError::Malformed("does not end with a newline"));
        }
        // The text is separated from the signatures by the last blank line.
        let split = msg
            .rfind("\n\n")
            .ok_or(NoteError::Malformed("no blank line before the signatures"))?;
        let text = &msg[..=split];
        let sigs = &msg[split + 2..];
        if sigs.is_empty() {
            return Err(NoteError::Malformed("no signature lines"));
        }
        if sigs.bytes().filter(|b| *b == b'\n').count() > MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures);
        }
        check_text(text)?;
        if sigs.bytes().any(|b| b < 0x20 && b != b'\n') {
            return Err(NoteError::Malformed(
                "control character in a signature line",
            ));
        }
        let mut signatures = Vec::new();
        for line in sigs[..sigs.len() - 1].split('\n') {
            let rest = line
                .strip_prefix(EM_DASH_SPACE)
                .ok_or(NoteError::Malformed(
                    "signature line must start with an em dash and a space",
                ))?;
            let (name, b64) = rest.split_once(' ').ok_or(NoteError::Malformed(
                "signature line needs a key name and a signature",
            ))?;
            check_name(name)
                .map_err(|_| NoteError::Malformed("invalid key name in signature line"))?;
            let raw = B64
                .decode(b64)
                .map_err(|_| NoteError::Malformed("signature is not standard base64"))?;
            if raw.len() < 5 {
                return Err(NoteError::Malformed(
                    "signature shorter than key ID plus one byte",
                ));
            }
            signatures.push(NoteSignature {
                name: name.to_owned(),
                id: u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]),
                sig: raw[4..].to_vec(),
            });
        }
        Ok(Note {
            text: text.to_owned(),
            signatures,
        })
    }

    /// The note bytes: text, blank line, signature lines.
    pub fn to_text(&self) -> String {
        let mut s = String::with_capacity(self.text.len() + 100 * self.signatures.len());
        s.push_str(&self.text);
        s.push('\n');
        for sig in &self.signatures {
            s.push_str(&sig.to_line());
            s.push('\n');
        }
        s
    }

    /// Adds a signature line made by `signer`.
    ///
    /// # Errors
    /// [`NoteError::BadText`].
    pub fn add_signature(&mut self, signer: &Signer, timestamp: u64) -> Result<(), NoteError> {
        let line = signer.sign_line(&self.text, timestamp)?;
        let parsed = Note::parse(format!("x\n\n{line}\n").as_bytes())?;
        self.signatures.extend(parsed.signatures);
        Ok(())
    }
}

/// A signature that verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedSignature {
    /// Key name.
    pub name: String,
    /// Key ID.
    pub id: u32,
    /// Signature type.
    pub ty: SigType,
    /// Cosignature timestamp (0 for plain Ed25519).
    pub timestamp: u64,
}

/// A note whose signatures were checked against known keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenedNote {
    /// The authenticated text.
    pub text: String,
    /// Signatures by known keys, all verified.
    pub verified: Vec<VerifiedSignature>,
    /// Signatures by unknown keys (ignored, as C2SP requires).
    pub unverified: Vec<NoteSignature>,
}

/// Parses `msg` and verifies it against `known` keys, following C2SP
/// signed-note: signatures by unknown keys (name and ID not both matching)
/// are ignored; a known key's signature that fails rejects the whole note;
/// at least one known signature must verify.
///
/// # Errors
/// Parse errors, [`NoteError::InvalidSignature`],
/// [`NoteError::NoKnownSignature`].
pub fn open_note(msg: &[u8], known: &[Verifier]) -> Result<OpenedNote, NoteError> {
    let note = Note::parse(msg)?;
    let mut verified: Vec<VerifiedSignature> = Vec::new();
    let mut unverified: Vec<NoteSignature> = Vec::new();
    for s in note.signatures {
        match known.iter().find(|v| v.name == s.name && v.id == s.id) {
            None => {
                if !unverified.contains(&s) {
                    unverified.push(s);
                }
            }
            Some(v) => {
                let ts =
                    v.verify(&note.text, &s.sig)
                        .ok_or_else(|| NoteError::InvalidSignature {
                            name: s.name.clone(),
                            id: s.id,
                        })?;
                if !verified.iter().any(|x| x.name == s.name && x.id == s.id) {
                    verified.push(VerifiedSignature {
                        name: s.name,
                        id: s.id,
                        ty: v.ty,
                        timestamp: ts,
                    });
                }
            }
        }
    }
    if verified.is_empty() {
        return Err(NoteError::NoKnownSignature);
    }
    Ok(OpenedNote {
        text: note.text,
        verified,
        unverified,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signer_round_trips_and_hides_its_key_in_debug() {
        let s = Signer::from_seed("example.com/log", SigType::Ed25519, [7; 32]).unwrap();
        let p = Signer::parse(&s.to_skey()).unwrap();
        assert_eq!(p.to_skey(), s.to_skey());
        assert!(!format!("{s:?}").contains("PRIVATE"));
        let v = Verifier::parse(&s.verifier().to_vkey()).unwrap();
        assert_eq!(v, s.verifier());
    }

    #[test]
    fn bad_names_and_texts_are_refused() {
        for n in ["", "a b", "a+b", "a\tb"] {
            assert!(matches!(
                Signer::from_seed(n, SigType::Ed25519, [1; 32]),
                Err(NoteError::BadKeyName(_))
            ));
        }
        let s = Signer::from_seed("n", SigType::Ed25519, [1; 32]).unwrap();
        assert!(matches!(
            s.sign_note("no newline"),
            Err(NoteError::BadText(_))
        ));
        assert!(matches!(
            s.sign_note("bell\x07\n"),
            Err(NoteError::BadText(_))
        ));
    }

    #[test]
    fn tampered_text_or_signature_fails_and_unknown_keys_are_ignored() {
        let s = Signer::from_seed("n", SigType::Ed25519, [1; 32]).unwrap();
        let other = Signer::from_seed("m", SigType::Ed25519, [2; 32]).unwrap();
        let note = s.sign_note("hello\n").unwrap();
        assert!(open_note(note.as_bytes(), &[s.verifier()]).is_ok());
        assert_eq!(
            open_note(note.as_bytes(), &[other.verifier()]),
            Err(NoteError::NoKnownSignature)
        );
        let tampered = note.replace("hello", "hellp");
        assert!(matches!(
            open_note(tampered.as_bytes(), &[s.verifier()]),
            Err(NoteError::InvalidSignature { .. })
        ));
        let mut n = Note::parse(note.as_bytes()).unwrap();
        n.add_signature(&other, 0).unwrap();
        let opened = open_note(n.to_text().as_bytes(), &[s.verifier()]).unwrap();
        assert_eq!(opened.unverified.len(), 1);
    }

    #[test]
    fn limits_are_checked_before_parsing() {
        let big = vec![b'a'; MAX_NOTE_SIZE + 1];
        assert_eq!(
            Note::parse(&big),
            Err(NoteError::TooLarge(MAX_NOTE_SIZE + 1))
        );
        let mut many = String::from("t\n\n");
        for _ in 0..=MAX_SIGNATURES {
            many.push_str("\u{2014} n AAAAAAA=\n");
        }
        assert_eq!(
            Note::parse(many.as_bytes()),
            Err(NoteError::TooManySignatures)
        );
    }
}

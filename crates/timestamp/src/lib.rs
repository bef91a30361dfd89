//! veritrail-timestamp: RFC 3161 timestamps over checkpoints
//! (docs/TRUST.md "Timestamps"). Pure: builds a request ([`request`]) and
//! checks a token ([`verify`]); the server's publishing step and the
//! verifiers do the I/O. The ASN.1 and CMS work is the RustCrypto crates'
//! (`x509-tsp`, `cms`, `x509-cert`, `der`); nothing here writes DER by hand.
//!
//! A token is accepted only when all of these hold: it is CMS SignedData
//! with an `id-ct-TSTInfo` content; its message imprint is SHA-256 of the
//! checkpoint bytes; its nonce is the request's (when one is given); its
//! signed attributes name that content type and carry the SHA-256 of the
//! TSTInfo; the signature over them verifies with the signer's certificate
//! (ECDSA P-256 or RSA PKCS #1 v1.5, SHA-256); that certificate's extended
//! key usage is `timeStamping` alone and critical (RFC 3161 §2.3), it was
//! valid at the token's time, and it is a configured root or is signed by
//! one.

#![forbid(unsafe_code)]

use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier};
use der::asn1::{Int, OctetString};
use der::oid::db::rfc5911::{ID_CONTENT_TYPE, ID_MESSAGE_DIGEST, ID_SIGNED_DATA};
use der::oid::db::rfc5912::{
    ECDSA_WITH_SHA_256, ID_CE_EXT_KEY_USAGE, ID_EC_PUBLIC_KEY, ID_KP_TIME_STAMPING, ID_SHA_256,
    RSA_ENCRYPTION, SHA_256_WITH_RSA_ENCRYPTION,
};
use der::oid::ObjectIdentifier;
use der::{Decode, Encode};
use sha2::{Digest, Sha256};
use x509_cert::ext::pkix::ExtendedKeyUsage;
pub use x509_cert::Certificate;
use x509_tsp::{MessageImprint, TimeStampReq, TimeStampResp, TspVersion, TstInfo};

/// `id-ct-TSTInfo` (RFC 3161 §2.4.2).
pub const ID_CT_TST_INFO: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");

/// Why a response or token is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimestampError {
    /// Not the expected ASN.1.
    #[error("malformed: {0}")]
    Malformed(String),
    /// The authority did not grant the request.
    #[error("the timestamp authority refused the request (status {0})")]
    Refused(u8),
    /// The token is for other bytes.
    #[error("the token's message imprint is not SHA-256 of this checkpoint")]
    WrongImprint,
    /// The nonce is not the request's.
    #[error("the token's nonce is not the request's")]
    WrongNonce,
    /// The CMS signature or its signed attributes do not hold.
    #[error("the token's signature does not verify: {0}")]
    BadSignature(String),
    /// The signer's certificate is not acceptable.
    #[error("the signing certificate: {0}")]
    BadCertificate(String),
}

fn malformed(e: impl std::fmt::Display) -> TimestampError {
    TimestampError::Malformed(e.to_string())
}

/// A DER `TimeStampReq` for `data` (SHA-256 imprint), asking for the
/// certificate, with `nonce`.
pub fn request(data: &[u8], nonce: u64) -> Vec<u8> {
    let req = TimeStampReq {
        version: TspVersion::V1,
        message_imprint: MessageImprint {
            hash_algorithm: spki::AlgorithmIdentifier {
                oid: ID_SHA_256,
                parameters: None,
            },
            hashed_message: OctetString::new(Sha256::digest(data).to_vec()).expect("32 bytes"),
        },
        req_policy: None,
        nonce: Some(Int::new(&nonce_bytes(nonce)).expect("an integer")),
        cert_req: true,
        extensions: None,
    };
    req.to_der().expect("a request encodes")
}

fn nonce_bytes(n: u64) -> Vec<u8> {
    // A positive INTEGER: big-endian, a leading 0 if the top bit is set.
    let mut b = n.to_be_bytes().to_vec();
    while b.len() > 1 && b[0] == 0 && b[1] & 0x80 == 0 {
        b.remove(0);
    }
    if b[0] & 0x80 != 0 {
        b.insert(0, 0);
    }
    b
}

/// The token (`ContentInfo` DER) out of a DER `TimeStampResp`.
///
/// # Errors
/// Malformed, or the authority refused.
pub fn token_of_response(resp: &[u8]) -> Result<Vec<u8>, TimestampError> {
    let r = TimeStampResp::from_der(resp).map_err(malformed)?;
    let status = r.status.status as u8;
    if status > 1 {
        return Err(TimestampError::Refused(status));
    }
    r.time_stamp_token
        .ok_or_else(|| malformed("a granted response without a token"))?
        .to_der()
        .map_err(malformed)
}

/// What a valid token says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stamp {
    /// `genTime`, Unix seconds.
    pub time: i64,
    /// The signer certificate's subject.
    pub tsa: String,
}

fn verify_sig(
    spki: &spki::SubjectPublicKeyInfoOwned,
    alg: ObjectIdentifier,
    msg: &[u8],
    sig: &[u8],
) -> Result<(), String> {
    use p256::ecdsa::signature::Verifier as _;
    let key_der = spki.to_der().map_err(|e| e.to_string())?;
    match (spki.algorithm.oid, alg) {
        (ID_EC_PUBLIC_KEY, ECDSA_WITH_SHA_256 | ID_SHA_256) => {
            use p256::pkcs8::DecodePublicKey as _;
            let k = p256::ecdsa::VerifyingKey::from_public_key_der(&key_der)
                .map_err(|e| e.to_string())?;
            let s = p256::ecdsa::Signature::from_der(sig).map_err(|e| e.to_string())?;
            k.verify(msg, &s).map_err(|e| e.to_string())
        }
        (RSA_ENCRYPTION, SHA_256_WITH_RSA_ENCRYPTION | RSA_ENCRYPTION | ID_SHA_256) => {
            use rsa::pkcs8::DecodePublicKey as _;
            let k = rsa::RsaPublicKey::from_public_key_der(&key_der).map_err(|e| e.to_string())?;
            let v = rsa::pkcs1v15::VerifyingKey::<Sha256>::new(k);
            let s = rsa::pkcs1v15::Signature::try_from(sig).map_err(|e| e.to_string())?;
            v.verify(msg, &s).map_err(|e| e.to_string())
        }
        (k, a) => Err(format!(
            "unsupported key {k} with signature algorithm {a} (ECDSA P-256 or RSA with SHA-256)"
        )),
    }
}

/// Root certificates from PEM text (one or more).
///
/// # Errors
/// Not PEM certificates.
pub fn roots_from_pem(pem: &[u8]) -> Result<Vec<Certificate>, TimestampError> {
    let v = Certificate::load_pem_chain(pem).map_err(malformed)?;
    if v.is_empty() {
        return Err(malformed("no certificate in the PEM"));
    }
    Ok(v)
}

/// Checks `token` (a `ContentInfo`, DER) over `data` against `roots`; with
/// `nonce`, the token must carry it.
///
/// # Errors
/// The first check that fails.
pub fn verify(
    token: &[u8],
    data: &[u8],
    nonce: Option<u64>,
    roots: &[Certificate],
) -> Result<Stamp, TimestampError> {
    let ci = ContentInfo::from_der(token).map_err(malformed)?;
    if ci.content_type != ID_SIGNED_DATA {
        return Err(malformed("not CMS SignedData"));
    }
    let sd: SignedData = ci.content.decode_as().map_err(malformed)?;
    if sd.encap_content_info.econtent_type != ID_CT_TST_INFO {
        return Err(malformed("the signed content is not a TSTInfo"));
    }
    let tst_der = sd
        .encap_content_info
        .econtent
        .as_ref()
        .ok_or_else(|| malformed("no TSTInfo"))?
        .decode_as::<OctetString>()
        .map_err(malformed)?
        .as_bytes()
        .to_vec();
    let tst = TstInfo::from_der(&tst_der).map_err(malformed)?;
    if tst.message_imprint.hash_algorithm.oid != ID_SHA_256
        || tst.message_imprint.hashed_message.as_bytes() != Sha256::digest(data).as_slice()
    {
        return Err(TimestampError::WrongImprint);
    }
    if let Some(n) = nonce {
        match &tst.nonce {
            Some(got) if got.as_bytes() == nonce_bytes(n).as_slice() => {}
            _ => return Err(TimestampError::WrongNonce),
        }
    }
    let si = sd
        .signer_infos
        .0
        .iter()
        .next()
        .ok_or_else(|| malformed("no signer"))?;
    if si.digest_alg.oid != ID_SHA_256 {
        return Err(TimestampError::BadSignature(format!(
            "digest algorithm {} is not SHA-256",
            si.digest_alg.oid
        )));
    }
    let attrs = si
        .signed_attrs
        .as_ref()
        .ok_or_else(|| TimestampError::BadSignature("no signed attributes".into()))?;
    let attr = |oid: ObjectIdentifier| {
        attrs
            .iter()
            .find(|a| a.oid == oid)
            .and_then(|a| a.values.iter().next().cloned())
            .ok_or_else(|| TimestampError::BadSignature(format!("no {oid} attribute")))
    };
    let ct: ObjectIdentifier = attr(ID_CONTENT_TYPE)?.decode_as().map_err(malformed)?;
    if ct != ID_CT_TST_INFO {
        return Err(TimestampError::BadSignature(
            "the content-type attribute is not id-ct-TSTInfo".into(),
        ));
    }
    let md: OctetString = attr(ID_MESSAGE_DIGEST)?.decode_as().map_err(malformed)?;
    if md.as_bytes() != Sha256::digest(&tst_der).as_slice() {
        return Err(TimestampError::BadSignature(
            "the message-digest attribute is not the TSTInfo's".into(),
        ));
    }
    let certs: Vec<&Certificate> = sd
        .certificates
        .as_ref()
        .map(|s| {
            s.0.iter()
                .filter_map(|c| match c {
                    CertificateChoices::Certificate(c) => Some(c),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let signer = certs
        .iter()
        .copied()
        .chain(roots.iter())
        .find(|c| match &si.sid {
            SignerIdentifier::IssuerAndSerialNumber(isn) => {
                c.tbs_certificate.issuer == isn.issuer
                    && c.tbs_certificate.serial_number == isn.serial_number
            }
            SignerIdentifier::SubjectKeyIdentifier(ski) => {
                c.tbs_certificate.extensions.iter().flatten().any(|e| {
                    e.extn_id == der::oid::db::rfc5912::ID_CE_SUBJECT_KEY_IDENTIFIER
                        && e.extn_value.as_bytes().ends_with(ski.0.as_bytes())
                })
            }
        })
        .ok_or_else(|| {
            TimestampError::BadCertificate("the signer's certificate is not in the token".into())
        })?;
    let signed = attrs.to_der().map_err(malformed)?;
    verify_sig(
        &signer.tbs_certificate.subject_public_key_info,
        si.signature_algorithm.oid,
        &signed,
        si.signature.as_bytes(),
    )
    .map_err(TimestampError::BadSignature)?;
    // RFC 3161 §2.3: the extended key usage is timeStamping alone, critical.
    let eku = signer
        .tbs_certificate
        .extensions
        .iter()
        .flatten()
        .find(|e| e.extn_id == ID_CE_EXT_KEY_USAGE)
        .ok_or_else(|| TimestampError::BadCertificate("no extended key usage".into()))?;
    let usages = ExtendedKeyUsage::from_der(eku.extn_value.as_bytes()).map_err(malformed)?;
    if !eku.critical || usages.0 != vec![ID_KP_TIME_STAMPING] {
        return Err(TimestampError::BadCertificate(
            "its extended key usage is not timeStamping alone and critical".into(),
        ));
    }
    let gen = tst.gen_time.to_unix_duration().as_secs() as i64;
    let v = &signer.tbs_certificate.validity;
    let (nb, na) = (
        v.not_before.to_unix_duration().as_secs() as i64,
        v.not_after.to_unix_duration().as_secs() as i64,
    );
    if gen < nb || gen > na {
        return Err(TimestampError::BadCertificate(
            "it was not valid at the token's time".into(),
        ));
    }
    // The chain: the signer is a root, or a root signed it.
    let signer_der = signer.to_der().map_err(malformed)?;
    let trusted = roots
        .iter()
        .any(|r| r.to_der().is_ok_and(|d| d == signer_der))
        || roots.iter().any(|r| {
            r.tbs_certificate.subject == signer.tbs_certificate.issuer
                && signer.tbs_certificate.to_der().is_ok_and(|tbs| {
                    // A signature BIT STRING with unused bits is not a signature.
                    signer.signature.as_bytes().is_some_and(|sig| {
                        verify_sig(
                            &r.tbs_certificate.subject_public_key_info,
                            signer.signature_algorithm.oid,
                            &tbs,
                            sig,
                        )
                        .is_ok()
                    })
                })
        });
    if !trusted {
        return Err(TimestampError::BadCertificate(
            "it does not chain to a configured root".into(),
        ));
    }
    Ok(Stamp {
        time: gen,
        tsa: signer.tbs_certificate.subject.to_string(),
    })
}

/// The parts of a token its signature covers: the TSTInfo (DER) and the
/// signature bytes (for diagnostics and tests).
///
/// # Errors
/// Malformed tokens.
pub fn signed_parts(token: &[u8]) -> Result<(Vec<u8>, Vec<u8>), TimestampError> {
    let ci = ContentInfo::from_der(token).map_err(malformed)?;
    let sd: SignedData = ci.content.decode_as().map_err(malformed)?;
    let tst = sd
        .encap_content_info
        .econtent
        .as_ref()
        .ok_or_else(|| malformed("no TSTInfo"))?
        .decode_as::<OctetString>()
        .map_err(malformed)?
        .as_bytes()
        .to_vec();
    let sig = sd
        .signer_infos
        .0
        .iter()
        .next()
        .ok_or_else(|| malformed("no signer"))?
        .signature
        .as_bytes()
        .to_vec();
    Ok((tst, sig))
}

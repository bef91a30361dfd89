//! RFC 3161 against a real timestamp authority: `openssl ts -reply` with a
//! self-made CA and TSA certificate (`extendedKeyUsage =
//! critical,timeStamping`). Our requests are answered; the tokens verify
//! with our code and with `openssl ts -verify`; a token for another
//! checkpoint, another root, another nonce and a flipped byte are refused.

use std::path::{Path, PathBuf};
use std::process::Command;

use veritrail_timestamp::{
    request, roots_from_pem, signed_parts, token_of_response, verify, TimestampError,
};

fn openssl(dir: &Path, args: &[&str]) {
    let o = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl");
    assert!(
        o.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A CA and a TSA certificate signed by it, in `dir`; returns the TSA config.
pub fn make_tsa(dir: &Path, name: &str) -> PathBuf {
    std::fs::write(dir.join("ext.cnf"), "[tsa_ext]\nextendedKeyUsage = critical,timeStamping\nbasicConstraints = CA:FALSE\nsubjectKeyIdentifier = hash\n").unwrap();
    openssl(
        dir,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "ca.key",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-x509",
            "-key",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "30",
            "-subj",
            &format!("/CN={name} root"),
        ],
    );
    openssl(
        dir,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "tsa.key",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-key",
            "tsa.key",
            "-out",
            "tsa.csr",
            "-subj",
            &format!("/CN={name} TSA"),
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "tsa.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "tsa.pem",
            "-days",
            "30",
            "-extfile",
            "ext.cnf",
            "-extensions",
            "tsa_ext",
        ],
    );
    let cnf = dir.join("tsa.cnf");
    std::fs::write(
        &cnf,
        format!(
            "[tsa]\ndefault_tsa = tsa_config\n[tsa_config]\ndir = {d}\nserial = $dir/serial\ncrypto_device = builtin\nsigner_cert = $dir/tsa.pem\nsigner_key = $dir/tsa.key\nsigner_digest = sha256\ndefault_policy = 1.2.3.4.1\ndigests = sha256\naccuracy = secs:1\nordering = no\ntsa_name = no\ness_cert_id_chain = no\ness_cert_id_alg = sha256\n",
            d = dir.display()
        ),
    )
    .unwrap();
    std::fs::write(dir.join("serial"), "01\n").unwrap();
    cnf
}

/// Asks `openssl ts -reply` for a timestamp over the request bytes.
pub fn stamp(dir: &Path, cnf: &Path, req: &[u8]) -> Vec<u8> {
    std::fs::write(dir.join("req.tsq"), req).unwrap();
    openssl(
        dir,
        &[
            "ts",
            "-reply",
            "-config",
            cnf.to_str().unwrap(),
            "-queryfile",
            "req.tsq",
            "-out",
            "resp.tsr",
        ],
    );
    std::fs::read(dir.join("resp.tsr")).unwrap()
}

#[test]
fn openssl_tokens_verify_both_ways_and_bad_ones_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let cnf = make_tsa(dir, "test");
    let checkpoint = b"example.com/log\n42\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\xe2\x80\x94 example.com/log abc=\n";
    let nonce = 0xfeed_beef_1234_5678;
    let token = token_of_response(&stamp(dir, &cnf, &request(checkpoint, nonce))).unwrap();
    let roots = roots_from_pem(&std::fs::read(dir.join("ca.pem")).unwrap()).unwrap();
    let s = verify(&token, checkpoint, Some(nonce), &roots).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((s.time - now).abs() < 120, "{s:?}");
    assert!(s.tsa.contains("test TSA"), "{s:?}");
    // openssl checks our stored token too.
    std::fs::write(dir.join("token.der"), &token).unwrap();
    std::fs::write(dir.join("checkpoint"), checkpoint).unwrap();
    openssl(
        dir,
        &[
            "ts",
            "-verify",
            "-data",
            "checkpoint",
            "-in",
            "token.der",
            "-token_in",
            "-CAfile",
            "ca.pem",
            "-untrusted",
            "tsa.pem",
        ],
    );
    // Refusals.
    assert_eq!(
        verify(&token, b"another checkpoint\n", Some(nonce), &roots),
        Err(TimestampError::WrongImprint)
    );
    assert_eq!(
        verify(&token, checkpoint, Some(nonce + 1), &roots),
        Err(TimestampError::WrongNonce)
    );
    let other = tempfile::tempdir().unwrap();
    make_tsa(other.path(), "other");
    let other_roots = roots_from_pem(&std::fs::read(other.path().join("ca.pem")).unwrap()).unwrap();
    assert!(matches!(
        verify(&token, checkpoint, Some(nonce), &other_roots),
        Err(TimestampError::BadCertificate(_))
    ));
    // Every flipped byte of what the signature covers (the TSTInfo), of
    // the signature itself and of the signing certificate is refused. (CMS
    // leaves some bytes unsigned — e.g. the digestAlgorithms list — and a
    // flip there changes nothing that is checked.)
    let (tst, sig) = signed_parts(&token).unwrap();
    let find = |part: &[u8]| token.windows(part.len()).position(|w| w == part).unwrap();
    let cert = std::fs::read_to_string(dir.join("tsa.pem")).unwrap();
    let cert_der = x509_der(&cert);
    let mut covered: Vec<usize> = Vec::new();
    for part in [&tst[..], &sig[..], &cert_der[..]] {
        let at = find(part);
        covered.extend(at..at + part.len());
    }
    for &k in &covered {
        let mut bad = token.clone();
        bad[k] ^= 0x01;
        assert!(
            verify(&bad, checkpoint, Some(nonce), &roots).is_err(),
            "a flipped byte at {k} of {} verified (tst at {}, sig at {}, cert at {} len {})",
            token.len(),
            find(&tst),
            find(&sig),
            find(&cert_der),
            cert_der.len()
        );
    }
    assert!(covered.len() > 300, "{}", covered.len());
}

/// The DER of a PEM certificate (base64 between the markers).
fn x509_der(pem: &str) -> Vec<u8> {
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let o = Command::new("openssl")
        .args(["base64", "-d", "-A"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    o.stdin.as_ref().unwrap().write_all(b64.as_bytes()).unwrap();
    o.wait_with_output().unwrap().stdout
}

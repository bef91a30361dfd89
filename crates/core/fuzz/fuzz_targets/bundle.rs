//! Evidence bundles and C2SP tlog-proofs: the parsers and the bundle verifier
//! never panic on any input; a proof that parses re-serializes to the same
//! bytes; nothing verifies under a key that did not sign it.
#![no_main]
use libfuzzer_sys::fuzz_target;
use veritrail_core::bundle::{verify, VerifyOptions};
use veritrail_core::tlog_proof::TlogProof;
use veritrail_core::Verifier;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(p) = TlogProof::parse(text) {
            assert_eq!(p.to_text(), text, "parse/format round trip");
        }
    }
    let stranger = Verifier::parse("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW").unwrap();
    let pinned = VerifyOptions {
        log_key: Some(stranger.clone()),
        system_key: Some(stranger),
        ..VerifyOptions::default()
    };
    assert!(verify(data, &pinned).is_err(), "verified under a key that signed nothing");
    let _ = verify(data, &VerifyOptions::default());
});

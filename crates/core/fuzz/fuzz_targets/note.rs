//! Signed-note parser and verifier: never panics; whatever parses re-serializes
//! to the same bytes; a note never verifies under a key that did not sign it.
#![no_main]
use libfuzzer_sys::fuzz_target;
use veritrail_core::note::{open_note, Note, Verifier};

fuzz_target!(|data: &[u8]| {
    if let Ok(n) = Note::parse(data) {
        assert_eq!(n.to_text().as_bytes(), data, "parse/format round trip");
    }
    let key = Verifier::parse("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW").unwrap();
    let _ = open_note(data, &[key]);
});

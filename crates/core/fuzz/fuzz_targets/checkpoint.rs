//! Checkpoint text parser: never panics; accepted text round-trips exactly.
#![no_main]
use libfuzzer_sys::fuzz_target;
use veritrail_core::checkpoint::Checkpoint;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(cp) = Checkpoint::parse_text(s) {
            assert_eq!(cp.to_text(), s, "checkpoint round trip");
        }
    }
});

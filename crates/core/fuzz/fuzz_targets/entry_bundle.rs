//! Entry bundle parser: never panics; accepted bundles re-encode exactly.
#![no_main]
use libfuzzer_sys::fuzz_target;
use veritrail_core::tile::{encode_entry_bundle, parse_entry_bundle};

fuzz_target!(|data: &[u8]| {
    if let Ok(entries) = parse_entry_bundle(data, None) {
        assert_eq!(encode_entry_bundle(&entries).unwrap(), data, "bundle round trip");
    }
});

//! Tile path parser: never panics; accepted paths are canonical.
#![no_main]
use libfuzzer_sys::fuzz_target;
use veritrail_core::Tile;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(t) = Tile::parse(s) {
            assert_eq!(t.path(), s, "only canonical paths parse");
        }
    }
});

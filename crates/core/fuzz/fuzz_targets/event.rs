//! Event parser: never panics; an accepted event's canonical form is itself
//! a valid event once `received_at` is removed, and canonicalizing is stable.
#![no_main]
use libfuzzer_sys::fuzz_target;
use veritrail_core::json::Json;
use veritrail_core::{Event, Timestamp};

fuzz_target!(|data: &[u8]| {
    if let Ok(e) = Event::parse(data) {
        if let Ok(bytes) = e.into_canonical(Timestamp::default()) {
            let again = Json::parse(&bytes).expect("canonical output parses");
            assert_eq!(again.to_canonical(), bytes, "JCS is idempotent");
        }
    }
});

//! JSON parser: never panics, and accepts exactly what the serde_json-based
//! reference accepts, with the same value.
#![no_main]
use libfuzzer_sys::fuzz_target;
use veritrail_core::json::Json;

fuzz_target!(|data: &[u8]| {
    let ours = Json::parse(data);
    let reference = Json::parse_reference(data);
    match (&ours, &reference) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "different values"),
        (Err(_), Err(_)) => {}
        _ => panic!("parsers disagree: ours {ours:?}, reference {reference:?}"),
    }
});

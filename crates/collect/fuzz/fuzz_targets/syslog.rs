//! Syslog mapping: never panics, and every message — whatever its bytes —
//! becomes an event the event model accepts.
#![no_main]
use libfuzzer_sys::fuzz_target;
use veritrail_collect::syslog::{to_event, Origin, Transport};

fuzz_target!(|data: &[u8]| {
    let origin = Origin {
        transport: Transport::Tcp,
        peer: Some("192.0.2.1:514".parse().unwrap()),
    };
    let ev = to_event(data, None, &origin);
    if let Err(e) = veritrail_core::Event::parse(&ev) {
        panic!("{e}: {}", String::from_utf8_lossy(&ev));
    }
    // And not only thanks to the last-resort fallback: the mapping itself
    // made an event the model takes.
    let v: serde_json::Value = serde_json::from_slice(&ev).unwrap();
    assert!(v["metadata"]["syslog"]["refused"].is_null(), "the mapping made an invalid event: {v}");
});

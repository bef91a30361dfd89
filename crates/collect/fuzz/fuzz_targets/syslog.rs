//! Syslog mapping: never panics, and every message — whatever its bytes —
//! becomes an event the event model accepts.
#![no_main]
use libfuzzer_sys::fuzz_target;
use veritrail_collect::syslog::{to_event, Origin, Transport};

fuzz_target!(|data: &[u8]| {
    let origin = Origin::new(Transport::Tcp, Some("192.0.2.1:514".parse().unwrap()));
    let ev = to_event(data, None, &origin);
    if let Err(e) = veritrail_core::Event::parse(&ev) {
        panic!("{e}: {}", String::from_utf8_lossy(&ev));
    }

});

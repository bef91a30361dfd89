//! Journal entries: never panics, and every line — whatever its bytes —
//! becomes an event the event model accepts (an entry, or `journal.unparsed`).
#![no_main]
use libfuzzer_sys::fuzz_target;
use veritrail_collect::journal::{to_event, unparsed_event};

fuzz_target!(|data: &[u8]| {
    let ev = match to_event(data, "fuzz-host") {
        Ok(e) => e.event,
        Err(why) => unparsed_event(data, &why, "fuzz-host"),
    };
    if let Err(e) = veritrail_core::Event::parse(&ev) {
        panic!("{e}: {}", String::from_utf8_lossy(&ev));
    }

});

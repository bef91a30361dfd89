//! The auditd assembler and mapping: never panics, and every line — whatever
//! its bytes — ends in events the event model accepts.
#![no_main]
use libfuzzer_sys::fuzz_target;
use veritrail_collect::auditd::{to_event, Assembler};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut a = Assembler::new();
    let mut out = Vec::new();
    for line in text.split('\n') {
        a.push(line, &mut out);
    }
    a.finish(&mut out);
    for o in &out {
        let ev = to_event(o, "fuzz-host");
        if let Err(e) = veritrail_core::Event::parse(&ev) {
            panic!("{e}: {}", String::from_utf8_lossy(&ev));
        }
    }
});

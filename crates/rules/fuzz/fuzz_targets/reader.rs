//! The rules' entry reader: never panics, and on any text the full parser
//! accepts it either steps aside or reads the same values as the parser.
#![no_main]
use libfuzzer_sys::fuzz_target;
use veritrail_core::json::Json;
use veritrail_rules::matcher::{Paths, Reader, Spans};

fuzz_target!(|data: &[u8]| {
    let mut paths = Paths::default();
    for p in [
        "action",
        "actor.id",
        "actor.ip",
        "source.host",
        "metadata.n",
        "received_at",
        "time",
    ] {
        paths.intern(p);
    }
    let reader = Reader::new(&paths);
    let mut spans = Spans::default();
    let fast = reader.read(data, &mut spans);
    if let (Some(fast), Ok(json)) = (fast, Json::parse(data)) {
        assert_eq!(fast, paths.read(&json), "the reader and the parser disagree");
    }
});

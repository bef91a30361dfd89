//! RFC 6587 framer: never panics, never keeps more than its limit per
//! frame, and gives the same frames however the stream is split into reads.
#![no_main]
use libfuzzer_sys::fuzz_target;
use veritrail_collect::framing::Framer;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, stream)) = data.split_first() else { return };
    let cut = (cut as usize).min(stream.len());
    let run = |chunks: &[&[u8]]| {
        let mut f = Framer::new(64);
        let mut out = Vec::new();
        let mut failed = false;
        for c in chunks {
            if f.push(c, &mut out).is_err() {
                failed = true;
                break;
            }
        }
        if !failed {
            f.finish(&mut out);
        }
        for fr in &out {
            assert!(fr.bytes.len() <= 64, "a frame over the limit");
        }
        (out, failed)
    };
    let whole = run(&[stream]);
    let split = run(&[&stream[..cut], &stream[cut..]]);
    assert_eq!(whole, split, "splitting the stream changed the frames");
});

//! Shared inputs for veritrail's benchmarks: deterministic 300-byte audit
//! events, so that every system hashes exactly the same bytes.

/// One contiguous buffer of `n` events of exactly `size` bytes each.
pub struct Events {
    buf: Vec<u8>,
    size: usize,
}

impl Events {
    /// Builds `n` JSON-looking events padded to `size` bytes.
    pub fn new(n: usize, size: usize) -> Events {
        let mut buf = Vec::with_capacity(n * size);
        for i in 0..n {
            push_event(&mut buf, i, size);
        }
        Events { buf, size }
    }

    /// Event `i`.
    pub fn get(&self, i: usize) -> &[u8] {
        &self.buf[i * self.size..(i + 1) * self.size]
    }

    /// The events as slices.
    pub fn slices(&self) -> Vec<&[u8]> {
        self.buf.chunks_exact(self.size).collect()
    }
}

/// Appends event `i` (valid JSON, exactly `size` bytes) to `buf`.
pub fn push_event(buf: &mut Vec<u8>, i: usize, size: usize) {
    let start = buf.len();
    buf.extend_from_slice(
        format!(
            r#"{{"action":"user.login","actor":{{"id":"user-{}","ip":"192.0.2.{}"}},"outcome":"success","received_at":"2026-11-26T07:52:01.{:09}Z","message":""#,
            i % 10_000,
            i % 250,
            i % 1_000_000_000
        )
        .as_bytes(),
    );
    while buf.len() < start + size - 2 {
        buf.push(b'x');
    }
    buf.extend_from_slice(b"\"}");
    buf.truncate(start + size);
}

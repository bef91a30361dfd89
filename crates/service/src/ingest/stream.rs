//! NDJSON from a stream (`veritrail append`'s standard input) → validated,
//! canonical batches, in parallel. One parallel pass per chunk of lines
//! parses, validates and canonicalizes each event straight into a WAL record
//! in the chunk's batch (the entry bytes are written once before they reach
//! the disk); blocks of input are prepared while the next is read. Every
//! invalid line is reported (1-based line numbers), and where any is, no
//! batch is returned, so nothing is stored.

use rayon::prelude::*;
use veritrail_core::{Event, EventError, Timestamp};
use veritrail_store::PreparedBatch;

/// Lines per chunk: each chunk becomes one batch (atomic, durable before its answer).
const CHUNK_LINES: usize = 10_000;

/// The events of one chunk of input, validated and written as WAL records
/// (canonical bytes, length and checksum), not yet hashed. Never empty.
pub struct Canonical(PreparedBatch);

impl Canonical {
    /// The finished batch: leaf hashes computed on all cores.
    pub fn into_batch(self) -> PreparedBatch {
        self.0
            .finish()
            .expect("a Canonical is only made from a non-empty batch")
    }

    /// Events in the batch.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the batch is empty (never).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A chunk of input lines: byte range and the 1-based number of its first line.
struct Chunk {
    start: usize,
    end: usize,
    first_line: usize,
}

fn chunks(input: &[u8], first: usize) -> Vec<Chunk> {
    let mut out = Vec::new();
    let (mut start, mut first_line, mut lines) = (0usize, first, 0usize);
    for nl in memchr::memchr_iter(b'\n', input) {
        lines += 1;
        if lines == CHUNK_LINES {
            out.push(Chunk {
                start,
                end: nl + 1,
                first_line,
            });
            start = nl + 1;
            first_line += lines;
            lines = 0;
        }
    }
    if start < input.len() {
        out.push(Chunk {
            start,
            end: input.len(),
            first_line,
        });
    }
    out
}

/// Validates, canonicalizes and prepares NDJSON whose first line is line
/// `first_line`, in parallel chunks; blank lines are skipped. Returns the
/// batches in input order, or every invalid line with its error.
fn prepare_ndjson_numbered(input: &[u8], received_at: Timestamp, first_line: usize) -> Prepared {
    let stamp = received_at.to_rfc3339_nanos();
    type ChunkResult = Result<Option<Canonical>, Vec<(usize, EventError)>>;
    let results: Vec<ChunkResult> = chunks(input, first_line)
        .par_iter()
        .map(|c| {
            let part = &input[c.start..c.end];
            let mut batch = PreparedBatch::builder(CHUNK_LINES, part.len() + CHUNK_LINES * 48);
            let mut bad = Vec::new();
            let mut scratch = Vec::new();
            let mut pos = 0usize;
            let mut k = 0usize;
            while pos < part.len() {
                let end = memchr::memchr(b'\n', &part[pos..]).map_or(part.len(), |i| pos + i);
                let line = &part[pos..end];
                let line_no = c.first_line + k;
                pos = end + 1;
                k += 1;
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let written = match Event::parse(line) {
                    // After an error only errors matter: nothing is kept.
                    Ok(e) if !bad.is_empty() => e.write_canonical_at(&stamp, &mut scratch),
                    Ok(e) => batch
                        .push_with(|out| e.append_canonical_at(&stamp, out))
                        .expect("a canonical event fits a WAL record"),
                    Err(e) => Err(e),
                };
                if let Err(e) = written {
                    bad.push((line_no, e));
                }
            }
            if !bad.is_empty() {
                return Err(bad);
            }
            Ok((!batch.is_empty()).then_some(Canonical(batch)))
        })
        .collect();
    let mut batches = Vec::with_capacity(results.len());
    let mut bad = Vec::new();
    for r in results {
        match r {
            Ok(Some(b)) => batches.push(b),
            Ok(None) => {}
            Err(mut e) => bad.append(&mut e),
        }
    }
    if bad.is_empty() {
        Ok(batches)
    } else {
        Err(bad)
    }
}

/// The canonical events of a whole input in chunks, or every invalid line
/// (1-based) with its error.
pub type Prepared = Result<Vec<Canonical>, Vec<(usize, EventError)>>;

/// Bytes of input per block: read, then validated in parallel while the next
/// block is being read.
const BLOCK: usize = 4 << 20;

/// Reads NDJSON from `input` in blocks of whole lines and prepares each block
/// in parallel as soon as it is read.
///
/// # Errors
/// I/O errors reading the input.
pub fn prepare_ndjson_stream(
    input: &mut (dyn std::io::Read + Send),
    received_at: Timestamp,
) -> std::io::Result<Prepared> {
    let results: std::sync::Mutex<Vec<(usize, Prepared)>> = std::sync::Mutex::new(Vec::new());
    let mut io_err = None;
    rayon::scope(|scope| {
        let mut carry: Vec<u8> = Vec::new();
        let mut first_line = 1usize;
        let mut block_no = 0usize;
        loop {
            let mut buf = std::mem::take(&mut carry);
            let start = buf.len();
            buf.resize(start + BLOCK, 0);
            let mut filled = start;
            let mut eof = false;
            while filled < buf.len() {
                match input.read(&mut buf[filled..]) {
                    Ok(0) => {
                        eof = true;
                        break;
                    }
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        io_err = Some(e);
                        return;
                    }
                }
            }
            buf.truncate(filled);
            // Keep a trailing partial line for the next block.
            if !eof {
                match memchr::memrchr(b'\n', &buf) {
                    Some(nl) => carry = buf.split_off(nl + 1),
                    None => {
                        carry = buf;
                        continue;
                    }
                }
            }
            let lines = memchr::memchr_iter(b'\n', &buf).count();
            let (n, fl, results) = (block_no, first_line, &results);
            scope.spawn(move |_| {
                let r = prepare_ndjson_numbered(&buf, received_at, fl);
                results.lock().expect("results lock").push((n, r));
            });
            first_line += lines;
            block_no += 1;
            if eof {
                break;
            }
        }
    });
    if let Some(e) = io_err {
        return Err(e);
    }
    let mut all = results.into_inner().expect("results lock");
    all.sort_by_key(|(n, _)| *n);
    let mut batches = Vec::new();
    let mut bad = Vec::new();
    for (_, r) in all {
        match r {
            Ok(mut b) => batches.append(&mut b),
            Err(mut e) => bad.append(&mut e),
        }
    }
    Ok(if bad.is_empty() {
        Ok(batches)
    } else {
        Err(bad)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_numbers_survive_block_and_chunk_boundaries() {
        let good = r#"{"action":"a.b","actor":"someone","message":"padding padding padding padding padding"}"#;
        let n = 2 * BLOCK / good.len() + 12_345;
        let bad_at = [1usize, CHUNK_LINES + 1, n / 2, n - 1];
        let mut input = String::new();
        for line in 1..=n {
            if bad_at.contains(&line) {
                input.push_str("{\"action\":\"a.b\"}\n");
            } else {
                input.push_str(good);
                input.push('\n');
            }
        }
        let t = Timestamp::default();
        let mut bad: Vec<usize> =
            match prepare_ndjson_stream(&mut std::io::Cursor::new(input.clone().into_bytes()), t)
                .unwrap()
            {
                Err(b) => b.into_iter().map(|(l, _)| l).collect(),
                Ok(_) => panic!("invalid lines accepted"),
            };
        bad.sort_unstable();
        assert_eq!(bad, bad_at.to_vec());
        // Without the bad lines, every event arrives, in order.
        let clean: String = input
            .lines()
            .filter(|l| !l.ends_with("\"a.b\"}"))
            .map(|l| format!("{l}\n"))
            .collect();
        let batches = prepare_ndjson_stream(&mut std::io::Cursor::new(clean.into_bytes()), t)
            .unwrap()
            .unwrap();
        assert_eq!(
            batches.iter().map(|c| c.len()).sum::<usize>(),
            n - bad_at.len()
        );
    }
}

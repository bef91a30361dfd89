//! RFC 6587 framing of syslog over a stream (TCP, and TLS per RFC 5425):
//! octet counting (`<len> <message>`) and non-transparent framing (each
//! message ends with LF), told apart per frame by its first byte — a digit
//! starts an octet count (a message itself starts with `<`). Both on one
//! connection, as rsyslog and syslog-ng may switch.
//!
//! Pure and bounded: the buffer never holds more than one frame's limit
//! plus one read, a frame longer than the limit is cut (the rest of it
//! dropped, and the frame marked), and an octet count that is not a number
//! or exceeds what anyone sends is an error that closes the connection.

/// Largest octet count accepted (larger is a framing error).
pub const MAX_OCTET_COUNT: usize = 16 << 20;

/// One message taken off the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The message bytes (at most the framer's limit).
    pub bytes: Vec<u8>,
    /// How many bytes the sender sent for it, when more than were kept.
    pub truncated_from: Option<usize>,
}

/// Why the stream cannot be framed any further.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    /// An octet count that is not a decimal number followed by a space.
    #[error("bad octet count {0:?}: expected digits and a space (RFC 6587 §3.4.1)")]
    BadCount(String),
    /// An octet count above [`MAX_OCTET_COUNT`].
    #[error("octet count {0} exceeds {MAX_OCTET_COUNT}")]
    CountTooLarge(usize),
}

/// What the framer is in the middle of.
#[derive(Debug)]
enum State {
    /// Between frames.
    Start,
    /// Inside an octet-counted frame: bytes still to come.
    Counted { want: usize, total: usize },
    /// Inside an LF-terminated frame (its start is in `current`).
    Line,
    /// Skipping the rest of an LF frame that went past the limit.
    SkipToNewline { total: usize },
}

/// Turns a byte stream into frames.
#[derive(Debug)]
pub struct Framer {
    buf: Vec<u8>,
    state: State,
    limit: usize,
    current: Vec<u8>,
}

impl Framer {
    /// A framer keeping at most `limit` bytes of each message.
    pub fn new(limit: usize) -> Framer {
        Framer {
            buf: Vec::new(),
            state: State::Start,
            limit,
            current: Vec::new(),
        }
    }

    /// Bytes received and not yet part of a complete frame.
    pub fn pending(&self) -> usize {
        self.buf.len() + self.current.len()
    }

    /// Feeds `data`; appends every frame it completes to `out`.
    ///
    /// # Errors
    /// [`FramingError`]: the stream cannot be framed from here on (the
    /// frames before the error are in `out`).
    pub fn push(&mut self, data: &[u8], out: &mut Vec<Frame>) -> Result<(), FramingError> {
        self.buf.extend_from_slice(data);
        let mut pos = 0;
        let result = loop {
            match self.state {
                State::Start => {
                    // Blank lines between frames carry nothing.
                    while pos < self.buf.len() && matches!(self.buf[pos], b'\n' | b'\r' | 0) {
                        pos += 1;
                    }
                    if pos == self.buf.len() {
                        break Ok(());
                    }
                    if self.buf[pos].is_ascii_digit() {
                        // `<count> `: at most 9 digits, then a space.
                        let digits = self.buf[pos..]
                            .iter()
                            .take_while(|b| b.is_ascii_digit())
                            .count();
                        if digits > 9 {
                            break Err(FramingError::BadCount(
                                String::from_utf8_lossy(&self.buf[pos..pos + 10]).into_owned(),
                            ));
                        }
                        if pos + digits == self.buf.len() {
                            break Ok(()); // the count continues in the next read
                        }
                        if self.buf[pos + digits] != b' ' {
                            let end = (pos + digits + 1).min(self.buf.len());
                            break Err(FramingError::BadCount(
                                String::from_utf8_lossy(&self.buf[pos..end]).into_owned(),
                            ));
                        }
                        let n: usize = std::str::from_utf8(&self.buf[pos..pos + digits])
                            .expect("digits")
                            .parse()
                            .expect("at most 9 digits");
                        if n > MAX_OCTET_COUNT {
                            break Err(FramingError::CountTooLarge(n));
                        }
                        pos += digits + 1;
                        self.state = State::Counted { want: n, total: n };
                    } else {
                        self.state = State::Line;
                    }
                }
                State::Line => match memchr(b'\n', &self.buf[pos..]) {
                    Some(i) => {
                        let line = &self.buf[pos..pos + i];
                        // A CR before the LF ends the line too, even when
                        // it came in the read before.
                        let cr = line.last().or(self.current.last()) == Some(&b'\r');
                        let room = self.limit - self.current.len();
                        // What the sender sent before the LF (a CR
                        // included), however the reads split it.
                        let total = self.current.len() + line.len();
                        let truncated = (total > self.limit).then_some(total);
                        self.current
                            .extend_from_slice(&line[..line.len().min(room)]);
                        if cr && truncated.is_none() {
                            self.current.pop();
                        }
                        out.push(self.take_current(truncated));
                        pos += i + 1;
                        self.state = State::Start;
                    }
                    None => {
                        // No end yet: keep what fits, skip the rest of it.
                        let rest = &self.buf[pos..];
                        let room = self.limit - self.current.len();
                        if rest.len() > room {
                            self.current.extend_from_slice(&rest[..room]);
                            self.state = State::SkipToNewline {
                                total: self.current.len() + (rest.len() - room),
                            };
                        } else {
                            self.current.extend_from_slice(rest);
                        }
                        pos = self.buf.len();
                        break Ok(());
                    }
                },
                State::Counted { want, total } => {
                    let take = want.min(self.buf.len() - pos);
                    let room = self.limit.saturating_sub(self.current.len());
                    self.current
                        .extend_from_slice(&self.buf[pos..pos + take.min(room)]);
                    pos += take;
                    if take == want {
                        let truncated = (total > self.limit).then_some(total);
                        out.push(self.take_current(truncated));
                        self.state = State::Start;
                    } else {
                        self.state = State::Counted {
                            want: want - take,
                            total,
                        };
                        break Ok(());
                    }
                }
                State::SkipToNewline { total } => match memchr(b'\n', &self.buf[pos..]) {
                    Some(i) => {
                        let total = total + i;
                        pos += i + 1;
                        out.push(self.take_current(Some(total)));
                        self.state = State::Start;
                    }
                    None => {
                        self.state = State::SkipToNewline {
                            total: total + (self.buf.len() - pos),
                        };
                        pos = self.buf.len();
                        break Ok(());
                    }
                },
            }
        };
        self.buf.drain(..pos);
        result
    }

    /// The connection ended: a message without its final LF is a frame
    /// too (a sender that closes after its last line); an octet-counted
    /// frame cut short is returned marked as truncated.
    pub fn finish(&mut self, out: &mut Vec<Frame>) {
        match self.state {
            // A count that never got its space: whatever came is a frame.
            State::Start if !self.buf.is_empty() => {
                let rest = std::mem::take(&mut self.buf);
                self.current = rest[..rest.len().min(self.limit)].to_vec();
                let truncated = (rest.len() > self.limit).then_some(rest.len());
                out.push(self.take_current(truncated));
            }
            State::Start => {}
            State::Line => {
                let line = self.current.strip_suffix(b"\r").map(<[u8]>::to_vec);
                if let Some(l) = line {
                    self.current = l;
                }
                out.push(self.take_current(None));
            }
            State::Counted { total, .. } => out.push(self.take_current(Some(total))),
            State::SkipToNewline { total } => out.push(self.take_current(Some(total))),
        }
        self.state = State::Start;
        self.buf.clear();
    }

    fn take_current(&mut self, truncated_from: Option<usize>) -> Frame {
        Frame {
            bytes: std::mem::take(&mut self.current),
            truncated_from,
        }
    }
}

fn memchr(b: u8, s: &[u8]) -> Option<usize> {
    s.iter().position(|&c| c == b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(limit: usize, chunks: &[&[u8]]) -> (Vec<Frame>, Option<FramingError>) {
        let mut f = Framer::new(limit);
        let mut out = Vec::new();
        for c in chunks {
            if let Err(e) = f.push(c, &mut out) {
                return (out, Some(e));
            }
        }
        f.finish(&mut out);
        (out, None)
    }

    fn texts(fr: &[Frame]) -> Vec<String> {
        fr.iter()
            .map(|f| String::from_utf8_lossy(&f.bytes).into_owned())
            .collect()
    }

    #[test]
    fn octet_counting_and_lf_framing_mix_on_one_stream_split_anywhere() {
        let stream = b"11 <13>hello a\n<13>line two\r\n5 <13>x12 <13>hi\nthere\n<13>last";
        let want = vec![
            "<13>hello a",
            "<13>line two",
            "<13>x",
            "<13>hi\nthere",
            "<13>last",
        ];
        // Every split of the stream into two reads gives the same frames.
        for cut in 0..=stream.len() {
            let (fr, err) = frames(1024, &[&stream[..cut], &stream[cut..]]);
            assert_eq!(err, None, "cut {cut}");
            assert_eq!(texts(&fr), want, "cut {cut}");
        }
        // And byte by byte.
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(texts(&frames(1024, &bytes).0), want);
    }

    #[test]
    fn long_frames_are_cut_and_marked_and_bad_counts_are_errors() {
        let long = format!("<13>{}\n<13>next\n", "x".repeat(100));
        let (fr, _) = frames(10, &[long.as_bytes()]);
        assert_eq!(fr[0].bytes.len(), 10);
        assert_eq!(fr[0].truncated_from, Some(104));
        assert_eq!(texts(&fr[1..]), vec!["<13>next"]);
        let counted = format!("104 <13>{}<13>x\n", "y".repeat(100));
        let (fr, _) = frames(10, &[counted.as_bytes()]);
        assert_eq!((fr[0].bytes.len(), fr[0].truncated_from), (10, Some(104)));
        assert_eq!(texts(&fr[1..]), vec!["<13>x"]);
        for bad in [&b"12x <13>"[..], b"1234567890 <13>"] {
            assert!(
                frames(64, &[bad]).1.is_some(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(
            frames(64, &[b"99999999 <"]).1,
            Some(FramingError::CountTooLarge(99_999_999))
        );
        // A counted frame cut short by the end of the stream is kept, marked.
        let (fr, _) = frames(64, &[b"20 <13>short"]);
        assert_eq!(
            (texts(&fr), fr[0].truncated_from),
            (vec!["<13>short".to_owned()], Some(20))
        );
    }
}

//! Following one file: reading its complete lines from where the
//! forwarder stands, and noticing rotation — by rename (the path now names
//! another file: this one is read to its end first) and by copytruncate
//! (the file got shorter than what was read: it starts anew, a new
//! generation of offsets).

use std::fs::File;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::os::unix::fs::MetadataExt as _;

use crate::cmd::ship::spool::{fingerprint, new_tag, Identity, HEAD_BYTES};

/// Longest line kept whole; longer ones are cut (and marked) in the event.
pub const MAX_LINE: usize = 64 * 1024;

/// One line read: its offset, its bytes (without the newline), and its
/// length when cut.
pub struct Line {
    pub offset: u64,
    pub bytes: Vec<u8>,
    pub truncated_from: Option<usize>,
}

/// Lines read from one file: byte offsets `start..end` and the lines.
pub struct Chunk {
    pub start: u64,
    pub end: u64,
    pub lines: Vec<Line>,
}

/// What became of the path since the last look.
#[derive(Debug, PartialEq, Eq)]
pub enum Change {
    /// Still the file being read.
    Same,
    /// The path names another file now (rotation by rename), or none.
    Replaced,
    /// The file is shorter than what was read (copytruncate).
    Truncated,
}

/// A file being followed.
pub struct Followed {
    /// The path it was opened by.
    pub path: String,
    file: File,
    /// Its identity.
    pub id: Identity,
    /// The next byte to read: every line before it is read.
    pub pos: u64,
    /// Lines after `pos` held back (an audit event not yet whole): the
    /// file's length then, and since when.
    pub held: Option<(u64, std::time::Instant)>,
}

impl Followed {
    /// Opens `path` at `pos`, as the file `known` (its tag and generation)
    /// or, without one, as a file seen for the first time.
    ///
    /// # Errors
    /// I/O errors.
    pub fn open(path: &str, known: Option<(u64, u32)>, pos: u64) -> std::io::Result<Followed> {
        let (tag, gen) = known.unwrap_or_else(|| (new_tag(), 0));
        let mut file = File::open(path)?;
        let m = file.metadata()?;
        let (head_len, head) = head_of(&mut file)?;
        Ok(Followed {
            path: path.to_owned(),
            id: Identity {
                dev: m.dev(),
                ino: m.ino(),
                gen,
                tag,
                head_len,
                head,
            },
            file,
            pos,
            held: None,
        })
    }

    /// Whether this is the file `known` names: the same device and inode,
    /// and the same first bytes (an inode number can be used again).
    ///
    /// # Errors
    /// I/O errors.
    pub fn is(&mut self, known: &Identity) -> std::io::Result<bool> {
        Ok(self.id.dev == known.dev && self.id.ino == known.ino && self.head_matches(known)?)
    }

    fn head_matches(&mut self, known: &Identity) -> std::io::Result<bool> {
        let mut buf = vec![0u8; known.head_len as usize];
        self.file.seek(SeekFrom::Start(0))?;
        let mut got = 0;
        while got < buf.len() {
            match self.file.read(&mut buf[got..])? {
                0 => return Ok(false),
                n => got += n,
            }
        }
        Ok(fingerprint(&buf) == known.head)
    }

    /// The file's current length.
    ///
    /// # Errors
    /// I/O errors.
    pub fn len(&self) -> std::io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    /// What became of the path. A file shorter than what was read, or
    /// whose first bytes changed, was truncated (and maybe written again
    /// since); the identity's fingerprint grows to [`HEAD_BYTES`] as the
    /// file does.
    ///
    /// # Errors
    /// I/O errors reading the file itself.
    pub fn change(&mut self) -> std::io::Result<Change> {
        let m = match std::fs::metadata(&self.path) {
            Ok(m) if m.dev() == self.id.dev && m.ino() == self.id.ino => m,
            _ => return Ok(Change::Replaced),
        };
        let id = self.id;
        if m.len() < self.pos || !self.head_matches(&id)? {
            return Ok(Change::Truncated);
        }
        if self.id.head_len < HEAD_BYTES && m.len() > u64::from(self.id.head_len) {
            let (head_len, head) = head_of(&mut self.file)?;
            self.id.head_len = head_len;
            self.id.head = head;
        }
        Ok(Change::Same)
    }

    /// Starts over at offset 0 with the next generation (after a truncation).
    ///
    /// # Errors
    /// I/O errors.
    pub fn restart(&mut self) -> std::io::Result<()> {
        self.id.gen += 1;
        self.pos = 0;
        let (head_len, head) = head_of(&mut self.file)?;
        self.id.head_len = head_len;
        self.id.head = head;
        Ok(())
    }

    /// Reads complete lines from `pos`: at most `max_bytes` of them (a line
    /// longer than fits is cut, marked, and the rest of it skipped). With
    /// `final_part`, a last line without its newline counts too (the file
    /// will grow no more: it was rotated away).
    ///
    /// # Errors
    /// I/O errors.
    pub fn read_lines(
        &mut self,
        max_bytes: usize,
        final_part: bool,
    ) -> std::io::Result<Option<Chunk>> {
        let len = self.len()?;
        if len <= self.pos {
            return Ok(None);
        }
        let want = ((len - self.pos) as usize).min(max_bytes);
        let mut buf = vec![0u8; want];
        self.file.seek(SeekFrom::Start(self.pos))?;
        self.file.read_exact(&mut buf)?;
        let start = self.pos;
        let mut lines = Vec::new();
        let mut at = 0usize;
        while at < buf.len() {
            match buf[at..].iter().position(|b| *b == b'\n') {
                Some(i) => {
                    push(&mut lines, start + at as u64, &buf[at..at + i]);
                    at += i + 1;
                }
                None => {
                    let rest = buf.len() - at;
                    // A last line without its newline: only when final, or
                    // when it cannot be whole (longer than a window).
                    if final_part && (start as usize + buf.len()) as u64 == len {
                        push(&mut lines, start + at as u64, &buf[at..]);
                        at = buf.len();
                    } else if at == 0 && rest == max_bytes {
                        // One line longer than the window: keep its start,
                        // skip to its end.
                        let (skip, newline) = self.skip_line(start + rest as u64)?;
                        let total = rest as u64 + skip;
                        lines.push(Line {
                            offset: start,
                            bytes: buf[..MAX_LINE.min(rest)].to_vec(),
                            truncated_from: Some((total - u64::from(newline)) as usize),
                        });
                        self.pos = start + total;
                        return Ok(Some(Chunk {
                            start,
                            end: self.pos,
                            lines,
                        }));
                    }
                    break;
                }
            }
        }
        if at == 0 {
            return Ok(None);
        }
        self.pos = start + at as u64;
        Ok(Some(Chunk {
            start,
            end: self.pos,
            lines,
        }))
    }

    /// Bytes from `from` up to and including the next newline (or the
    /// end), and whether a newline ended them.
    fn skip_line(&mut self, from: u64) -> std::io::Result<(u64, bool)> {
        self.file.seek(SeekFrom::Start(from))?;
        let mut buf = vec![0u8; 1 << 20];
        let mut n = 0u64;
        loop {
            let got = self.file.read(&mut buf)?;
            if got == 0 {
                return Ok((n, false));
            }
            if let Some(i) = buf[..got].iter().position(|b| *b == b'\n') {
                return Ok((n + i as u64 + 1, true));
            }
            n += got as u64;
        }
    }
}

/// The fingerprint of the first (up to [`HEAD_BYTES`]) bytes of `file`.
fn head_of(file: &mut File) -> std::io::Result<(u32, u64)> {
    let mut buf = Vec::with_capacity(HEAD_BYTES as usize);
    file.seek(SeekFrom::Start(0))?;
    file.by_ref()
        .take(u64::from(HEAD_BYTES))
        .read_to_end(&mut buf)?;
    Ok((buf.len() as u32, fingerprint(&buf)))
}

fn push(lines: &mut Vec<Line>, offset: u64, line: &[u8]) {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.iter().all(u8::is_ascii_whitespace) {
        return;
    }
    lines.push(Line {
        offset,
        bytes: line[..line.len().min(MAX_LINE)].to_vec(),
        truncated_from: (line.len() > MAX_LINE).then_some(line.len()),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    fn append(p: &std::path::Path, s: &str) {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .unwrap()
            .write_all(s.as_bytes())
            .unwrap();
    }

    #[test]
    fn lines_rotation_and_truncation_are_seen() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.log");
        append(&p, "one\ntwo\npart");
        let mut f = Followed::open(p.to_str().unwrap(), None, 0).unwrap();
        let c = f.read_lines(1 << 20, false).unwrap().unwrap();
        let got: Vec<&[u8]> = c.lines.iter().map(|l| l.bytes.as_slice()).collect();
        assert_eq!(got, [b"one".as_slice(), b"two"]);
        assert_eq!(
            (c.start, c.end, f.pos),
            (0, 8, 8),
            "the unfinished line waits"
        );
        append(&p, "ial\n");
        let c = f.read_lines(1 << 20, false).unwrap().unwrap();
        assert_eq!(
            (c.lines[0].offset, c.lines[0].bytes.as_slice()),
            (8, b"partial".as_slice())
        );
        assert_eq!(f.change().unwrap(), Change::Same);
        // copytruncate, then new lines: shorter than what was read.
        std::fs::OpenOptions::new()
            .write(true)
            .open(&p)
            .unwrap()
            .set_len(0)
            .unwrap();
        append(&p, "x\n");
        assert_eq!(f.change().unwrap(), Change::Truncated);
        let gen = f.id.gen;
        f.restart().unwrap();
        assert_eq!((f.id.gen, f.pos), (gen + 1, 0));
        // Truncated and written past the old offset before we looked: the
        // first bytes differ, so it is a truncation all the same.
        append(&p, &"y".repeat(64));
        append(&p, "\n");
        let _ = f.read_lines(1 << 20, false).unwrap();
        std::fs::write(&p, format!("{}\n", "z".repeat(100))).unwrap();
        assert_eq!(f.change().unwrap(), Change::Truncated);
        f.restart().unwrap();
        // Rotation by rename.
        std::fs::rename(&p, d.path().join("a.log.1")).unwrap();
        append(&p, "new\n");
        assert_eq!(f.change().unwrap(), Change::Replaced);
        // The file keeps its identity; the new one at the path is another.
        let g = Followed::open(p.to_str().unwrap(), None, 0).unwrap();
        assert_ne!(g.id.tag, f.id.tag);
        let mut again =
            Followed::open(d.path().join("a.log.1").to_str().unwrap(), None, 0).unwrap();
        assert!(again.is(&f.id).unwrap());
        assert!(!again.is(&g.id).unwrap());
    }

    #[test]
    fn a_line_longer_than_the_window_is_cut_and_marked() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("big.log");
        append(&p, &format!("{}\nafter\n", "x".repeat(300_000)));
        let mut f = Followed::open(p.to_str().unwrap(), None, 0).unwrap();
        let c = f.read_lines(100_000, false).unwrap().unwrap();
        assert_eq!(c.lines.len(), 1);
        assert_eq!(c.lines[0].bytes.len(), MAX_LINE);
        assert_eq!(c.lines[0].truncated_from, Some(300_000));
        let c = f.read_lines(100_000, false).unwrap().unwrap();
        assert_eq!(c.lines[0].bytes, b"after");
    }
}

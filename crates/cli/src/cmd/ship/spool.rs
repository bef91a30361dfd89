//! The forwarder's spool: batches read and not yet acknowledged, one file
//! each (`<sequence>.batch`, written whole: temporary name, fsync, rename),
//! sent in order. While the server is unreachable, reading goes on into the
//! spool up to its size limit; then reading stops (nothing is dropped)
//! until the spool drains.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What a batch is: the request to send and what its acknowledgement means.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// The `Idempotency-Key`: the same lines always get the same key.
    pub key: String,
    /// The file the lines came from (`-` for standard input).
    pub path: String,
    /// Its identity (none for standard input).
    pub id: Option<Identity>,
    /// Byte offsets of the lines in the file: `start..end`.
    pub start: u64,
    /// See `start`.
    pub end: u64,
    /// Lines (events) in the batch.
    pub lines: u64,
    /// The journal cursor after the batch (`--journal`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// One spooled batch.
#[derive(Debug)]
pub struct Batch {
    /// Its file.
    pub file: PathBuf,
    /// What it is.
    pub header: Header,
    /// The NDJSON body.
    pub body: Vec<u8>,
}

/// The spool directory.
pub struct Spool {
    dir: PathBuf,
    next: u64,
    bytes: u64,
    /// Largest total size.
    pub max: u64,
}

impl Spool {
    /// Opens (creating) the spool in `dir`, finding what is in it.
    ///
    /// # Errors
    /// I/O errors.
    pub fn open(dir: &Path, max: u64) -> anyhow::Result<Spool> {
        std::fs::create_dir_all(dir)?;
        let mut s = Spool {
            dir: dir.to_path_buf(),
            next: 0,
            bytes: 0,
            max,
        };
        for (seq, p) in s.list()? {
            s.next = s.next.max(seq + 1);
            s.bytes += std::fs::metadata(&p)?.len();
        }
        Ok(s)
    }

    fn list(&self) -> anyhow::Result<Vec<(u64, PathBuf)>> {
        let mut v = Vec::new();
        for e in std::fs::read_dir(&self.dir)? {
            let p = e?.path();
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if let Some(seq) = name
                .strip_suffix(".batch")
                .and_then(|s| s.parse::<u64>().ok())
            {
                v.push((seq, p));
            } else if name.ends_with(".tmp") {
                // A batch whose writing a crash cut short: never sent.
                let _ = std::fs::remove_file(&p);
            }
        }
        v.sort();
        Ok(v)
    }

    /// Bytes spooled.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Whether another batch may be read in.
    pub fn has_room(&self) -> bool {
        self.bytes < self.max
    }

    /// Every spooled batch's header, oldest first.
    ///
    /// # Errors
    /// I/O errors; a batch file that does not parse.
    pub fn headers(&self) -> anyhow::Result<Vec<Header>> {
        self.list()?
            .into_iter()
            .map(|(_, p)| Ok(read(&p)?.header))
            .collect()
    }

    /// The oldest batch.
    ///
    /// # Errors
    /// I/O errors.
    pub fn oldest(&self) -> anyhow::Result<Option<Batch>> {
        match self.list()?.into_iter().next() {
            Some((_, p)) => Ok(Some(read(&p)?)),
            None => Ok(None),
        }
    }

    /// Adds a batch, durably.
    ///
    /// # Errors
    /// I/O errors (nothing is added).
    pub fn push(&mut self, header: &Header, body: &[u8]) -> anyhow::Result<()> {
        let path = self.dir.join(format!("{:020}.batch", self.next));
        let tmp = self.dir.join(format!("{:020}.batch.tmp", self.next));
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&serde_json::to_vec(header)?)?;
        f.write_all(b"\n")?;
        f.write_all(body)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, &path)?;
        std::fs::File::open(&self.dir)?.sync_all()?;
        self.next += 1;
        self.bytes += std::fs::metadata(&path)?.len();
        Ok(())
    }

    /// Replaces a batch in place (same place in the order), durably.
    ///
    /// # Errors
    /// I/O errors (the old batch stays).
    pub fn rewrite(&mut self, b: &Batch, header: &Header, body: &[u8]) -> anyhow::Result<()> {
        let old = std::fs::metadata(&b.file)?.len();
        let mut tmp = b.file.clone().into_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&serde_json::to_vec(header)?)?;
        f.write_all(b"\n")?;
        f.write_all(body)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, &b.file)?;
        std::fs::File::open(&self.dir)?.sync_all()?;
        self.bytes = self.bytes.saturating_sub(old) + std::fs::metadata(&b.file)?.len();
        Ok(())
    }

    /// Removes a batch the server acknowledged.
    ///
    /// # Errors
    /// I/O errors.
    pub fn remove(&mut self, b: &Batch) -> anyhow::Result<()> {
        let n = std::fs::metadata(&b.file)?.len();
        std::fs::remove_file(&b.file)?;
        self.bytes = self.bytes.saturating_sub(n);
        Ok(())
    }
}

fn read(p: &Path) -> anyhow::Result<Batch> {
    let bytes = std::fs::read(p)?;
    let nl = bytes
        .iter()
        .position(|b| *b == b'\n')
        .ok_or_else(|| anyhow::anyhow!("{}: not a spooled batch", p.display()))?;
    let header: Header = serde_json::from_slice(&bytes[..nl])
        .map_err(|e| anyhow::anyhow!("{}: not a spooled batch: {e}", p.display()))?;
    Ok(Batch {
        file: p.to_path_buf(),
        header,
        body: bytes[nl + 1..].to_vec(),
    })
}

/// A file as the forwarder knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// Device number.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// Truncations seen (copytruncate rotation): each starts the offsets anew.
    pub gen: u32,
    /// Random, chosen when the forwarder first saw the file: an inode
    /// number used again later is another file, with another tag.
    #[serde(default)]
    pub tag: u64,
    /// How many of the file's first bytes `head` covers (at most
    /// [`HEAD_BYTES`]).
    #[serde(default)]
    pub head_len: u32,
    /// The first 8 bytes of SHA-256 of the file's first `head_len` bytes,
    /// as a number: an inode number used again for another file is told
    /// apart by its first bytes.
    #[serde(default)]
    pub head: u64,
}

/// How many of a file's first bytes identify it.
pub const HEAD_BYTES: u32 = 256;

/// The fingerprint of `bytes` (see [`Identity::head`]).
pub fn fingerprint(bytes: &[u8]) -> u64 {
    let h = veritrail_core::hash::sha256(&[bytes]);
    u64::from_be_bytes(h[..8].try_into().expect("8 bytes"))
}

impl Identity {
    /// The key of its entry in the state: `<dev>:<inode>`.
    pub fn key(&self) -> String {
        format!("{}:{}", self.dev, self.ino)
    }

    /// Whether `self` is the same file as `other`, in the same generation
    /// (no truncation between them).
    pub fn same_generation(&self, other: &Identity) -> bool {
        self.dev == other.dev
            && self.ino == other.ino
            && self.tag == other.tag
            && self.gen == other.gen
    }

    /// Whether a batch of `self` ending at `end` comes after what `other`
    /// ending at `other_end` stands for: another file on that inode, a
    /// later generation, or further on in the same one.
    pub fn supersedes(&self, end: u64, other: &Identity, other_end: u64) -> bool {
        self.tag != other.tag || self.gen > other.gen || (self.gen == other.gen && end > other_end)
    }
}

/// A new random tag (see [`Identity::tag`]).
pub fn new_tag() -> u64 {
    let mut b = [0u8; 8];
    getrandom::getrandom(&mut b).expect("OS randomness");
    u64::from_le_bytes(b)
}

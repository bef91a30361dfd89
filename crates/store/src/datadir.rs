//! A data directory: named logs, their signing keys and metadata
//! (docs/FORMAT.md "Directory layout").

use std::path::{Path, PathBuf};
use std::sync::Arc;

use veritrail_core::note::{SigType, Signer, Verifier};

use crate::clock::Clock;
use crate::config::LogConfig;
use crate::durable::write_new;
use crate::env::Env;
use crate::error::{Result, StoreError};
use crate::immutable::FlagReport;
use crate::log::Log;
use crate::read::LogReader;
use crate::recovery::Opening;
use crate::signer::CheckpointSigner;
use crate::vfs::{Flag, Vfs};

const MARKER: &str = "veritrail.data";
/// In a log directory: the log copies checkpoints signed elsewhere
/// ([`crate::adopt`]); the file names where it copies from.
const ADOPTS: &str = "adopts";
const MARKER_HEAD: &str = "veritrail data directory, format 1\n";
/// The log every data directory starts with.
pub const DEFAULT_LOG: &str = "default";
/// The server's own audit trail.
pub const SYSTEM_LOG: &str = "_system";

/// Whether `name` may name a log created by users.
pub fn valid_log_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'_' | b'.' | b'-')
        })
}

/// What `meta` records about a log.
#[derive(Clone, Debug)]
pub struct LogMeta {
    /// Checkpoint origin (= key name).
    pub origin: String,
    /// Verifier key.
    pub verifier: Verifier,
    /// Creation time as written.
    pub created: String,
    /// Whether the file carries the log key's signature (every `meta`
    /// written since format 1.1; one that carries it was checked).
    pub signed: bool,
}

/// A read-only summary of a log for `veritrail status`.
#[derive(Clone, Debug, Default)]
pub struct LogStatus {
    /// Checkpoint origin.
    pub origin: String,
    /// Size of the newest checkpoint.
    pub checkpoint_size: u64,
    /// When the checkpoint history was last written (Unix nanoseconds).
    pub checkpoint_time: Option<u64>,
    /// Entries whose leaf hashes are integrated (hash/0 records).
    pub wal_entries_estimate: u64,
    /// Bytes of all files of the log.
    pub disk_bytes: u64,
    /// Number of files.
    pub files: u64,
    /// Files carrying `+a`.
    pub append_only: u64,
    /// Files carrying `+i`.
    pub immutable: u64,
    /// Data files carrying neither.
    pub unflagged: u64,
    /// Why flags are missing, if they are.
    pub flag_note: String,
}

/// An opened data directory.
#[derive(Clone)]
pub struct DataDir {
    root: PathBuf,
    env: Env,
    prefix: String,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |e| StoreError::io(path, e)
}

fn read_all(vfs: &dyn Vfs, path: &Path) -> Result<String> {
    let f = vfs.open_read(path).map_err(io(path))?;
    let len = f.len().map_err(io(path))?;
    if len > 1 << 20 {
        return Err(StoreError::corrupted(path, 0, "file is unexpectedly large"));
    }
    let mut buf = vec![0u8; len as usize];
    f.read_exact_at(&mut buf, 0).map_err(io(path))?;
    String::from_utf8(buf).map_err(|_| StoreError::corrupted(path, 0, "not UTF-8"))
}

/// Whether `root` is empty, or holds only what an `init` that a crash
/// interrupted leaves (it writes its marker last): `keys/` with at most the
/// default log's key, `logs/` with at most the default log, and perhaps the
/// marker's temporary file. Anything else is refused.
fn interrupted_init(vfs: &dyn Vfs, root: &Path, first: &str) -> Result<bool> {
    let only = |dir: &Path, allowed: &[String]| -> Result<bool> {
        if !vfs.is_dir(dir) {
            return Ok(false);
        }
        let names = vfs.list(dir).map_err(io(dir))?;
        Ok(names.iter().all(|n| allowed.contains(n)))
    };
    for n in vfs.list(root).map_err(io(root))? {
        let p = root.join(&n);
        let ok = match n.as_str() {
            "keys" => only(&p, &[format!("{first}.key"), format!("{first}.key.tmp")])?,
            "logs" => only(&p, &[first.to_owned()])?,
            _ => n == format!("{MARKER}.tmp"),
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Reads and parses a signer key file.
fn read_signer(vfs: &dyn Vfs, path: &Path) -> Result<Signer> {
    let text = read_all(vfs, path)?;
    Signer::parse(text.trim()).map_err(|e| StoreError::Key(format!("{}: {e}", path.display())))
}

fn random_seed() -> Result<[u8; 32]> {
    let mut seed = [0u8; 32];
    getrandom::getrandom(&mut seed)
        .map_err(|e| StoreError::Key(format!("no OS randomness: {e}")))?;
    Ok(seed)
}

impl DataDir {
    /// Creates a data directory with the `default` log. Refuses an existing
    /// directory that is not empty, except for what an `init` interrupted by
    /// a crash leaves, which it finishes (keeping that attempt's origin
    /// prefix and key). `origin_prefix` defaults to
    /// `veritrail.local/<12 random hex digits>`.
    ///
    /// The marker file `veritrail.data` is written last: a directory with it
    /// is complete.
    ///
    /// # Errors
    /// `DataDirExists`, `Key` (a bad prefix, or one that differs from the
    /// interrupted attempt's), I/O errors.
    pub fn init(
        vfs: Arc<dyn Vfs>,
        root: &Path,
        origin_prefix: Option<&str>,
    ) -> Result<(DataDir, Verifier)> {
        Self::init_with(vfs, root, origin_prefix, DEFAULT_LOG)
    }

    /// Creates the data directory of a read replica: like [`DataDir::init`]
    /// but without a `default` log — its logs are copies of logs written
    /// elsewhere ([`DataDir::create_adopting_log`]), which may include one
    /// named `default` — so the marker is signed by its own `_system` log's
    /// key. Returns `_system`'s verifier key.
    ///
    /// # Errors
    /// As [`DataDir::init`].
    pub fn init_replica(
        vfs: Arc<dyn Vfs>,
        root: &Path,
        origin_prefix: Option<&str>,
    ) -> Result<(DataDir, Verifier)> {
        Self::init_with(vfs, root, origin_prefix, SYSTEM_LOG)
    }

    /// `init`, with `first` as the log created first, whose key signs the
    /// marker.
    fn init_with(
        vfs: Arc<dyn Vfs>,
        root: &Path,
        origin_prefix: Option<&str>,
        first: &str,
    ) -> Result<(DataDir, Verifier)> {
        if vfs.exists(root) && !interrupted_init(vfs.as_ref(), root, first)? {
            return Err(StoreError::DataDirExists(root.to_path_buf()));
        }
        // The prefix of an interrupted attempt is in its key's origin.
        let key_path = root.join("keys").join(format!("{first}.key"));
        let earlier = if vfs.exists(&key_path) {
            let s = read_signer(vfs.as_ref(), &key_path)?;
            let prefix = s
                .name()
                .strip_suffix(&format!("/{first}"))
                .map(str::to_owned);
            Some(prefix.ok_or_else(|| {
                StoreError::Key(format!("{} has origin {:?}", key_path.display(), s.name()))
            })?)
        } else {
            None
        };
        let prefix = match (origin_prefix.map(|p| p.trim_end_matches('/')), earlier) {
            (Some(p), Some(e)) if p != e => {
                return Err(StoreError::Key(format!(
                    "an interrupted init of {} chose origin prefix {e:?}, not {p:?}",
                    root.display()
                )))
            }
            (Some(p), _) => p.to_owned(),
            (None, Some(e)) => e,
            (None, None) => {
                let s = random_seed()?;
                format!(
                    "veritrail.local/{}",
                    s[..6]
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect::<String>()
                )
            }
        };
        if prefix.is_empty() || prefix.contains('+') || prefix.chars().any(char::is_whitespace) {
            return Err(StoreError::Key(format!(
                "origin prefix {prefix:?} must be non-empty without spaces or '+'"
            )));
        }
        vfs.create_dir_all(&root.join("keys")).map_err(io(root))?;
        vfs.create_dir_all(&root.join("logs")).map_err(io(root))?;
        let dd = DataDir {
            root: root.to_path_buf(),
            env: Env::new(vfs),
            prefix,
        };
        let v = match dd.create_log_unchecked(first) {
            Err(StoreError::LogExists(_)) => dd.meta(first)?.verifier,
            other => other?,
        };
        // Signed by the first log's key, like each log's `meta`.
        let marker = format!("{MARKER_HEAD}origin-prefix {}\n", dd.prefix);
        let meta = dd.meta(first)?;
        let marker = dd
            .signer(first, &meta)?
            .sign_note(&marker)
            .map_err(|e| StoreError::Key(e.to_string()))?;
        write_new(
            dd.env.vfs.as_ref(),
            &root.join(MARKER),
            marker.as_bytes(),
            0o644,
        )?;
        Ok((dd, v))
    }

    /// Opens an existing data directory.
    ///
    /// # Errors
    /// `NotADataDir`, I/O errors.
    pub fn open(vfs: Arc<dyn Vfs>, root: &Path) -> Result<DataDir> {
        let marker = root.join(MARKER);
        if !vfs.exists(&marker) {
            return Err(StoreError::NotADataDir(root.to_path_buf()));
        }
        let text = read_all(vfs.as_ref(), &marker)?;
        let prefix = text
            .strip_prefix(MARKER_HEAD)
            .and_then(|r| r.strip_prefix("origin-prefix "))
            .and_then(|r| r.split('\n').next())
            .map(str::to_owned)
            .ok_or_else(|| {
                StoreError::corrupted(&marker, 0, "unrecognised data directory marker")
            })?;
        Ok(DataDir {
            root: root.to_path_buf(),
            env: Env::new(vfs),
            prefix,
        })
    }

    /// The same data directory with `clock` stamping what is written
    /// through it (segment headers, `meta`, checkpoint times).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> DataDir {
        self.env.clock = clock;
        self
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The storage backend.
    pub fn vfs(&self) -> &Arc<dyn Vfs> {
        &self.env.vfs
    }

    /// Immutability flag report for files touched through this handle.
    pub fn flags(&self) -> &Arc<FlagReport> {
        &self.env.flags
    }

    /// File system, flag report and clock.
    pub fn env(&self) -> &Env {
        &self.env
    }

    /// Where the derived query index of log `name` lives (outside the
    /// append-only log directory: it is rebuilt, never trusted).
    pub fn query_index_path(&self, name: &str) -> PathBuf {
        self.root.join("query").join(format!("{name}.sqlite"))
    }

    /// The directory of log `name`.
    pub fn log_dir(&self, name: &str) -> PathBuf {
        self.root.join("logs").join(name)
    }

    /// Names of all logs, sorted.
    ///
    /// # Errors
    /// I/O errors.
    pub fn list_logs(&self) -> Result<Vec<String>> {
        let d = self.root.join("logs");
        let mut v = self.env.vfs.list(&d).map_err(io(&d))?;
        // A log exists once its meta file does (written last). A directory
        // without one that holds nothing is a creation a crash interrupted:
        // not listed, and finished by creating the log again. One that holds
        // data is damaged: listed, so that opening it says so.
        v.retain(|n| !matches!(self.unfinished(n), Ok(true)));
        v.sort();
        Ok(v)
    }

    /// Whether log `name` is a creation a crash interrupted: its directory
    /// exists without meta and no stream holds more than segment headers.
    ///
    /// # Errors
    /// `Corrupted` when meta is missing but the log holds data; I/O errors.
    fn unfinished(&self, name: &str) -> Result<bool> {
        let dir = self.log_dir(name);
        let meta = dir.join("meta");
        if self.env.vfs.exists(&meta) || !self.env.vfs.is_dir(&dir) {
            return Ok(false);
        }
        let mut stack = vec![dir];
        while let Some(d) = stack.pop() {
            for n in self.env.vfs.list(&d).map_err(io(&d))? {
                let p = d.join(&n);
                if self.env.vfs.is_dir(&p) {
                    stack.push(p);
                } else if n.ends_with(".seg") {
                    let len = self
                        .env
                        .vfs
                        .open_read(&p)
                        .and_then(|f| f.len())
                        .map_err(io(&p))?;
                    if len > crate::segment::HEADER_LEN {
                        return Err(StoreError::corrupted(
                            &meta,
                            0,
                            format!(
                                "meta is missing, but {} holds data: this is not an interrupted creation",
                                p.display()
                            ),
                        ));
                    }
                }
            }
        }
        Ok(true)
    }

    /// Creates log `name` with a fresh signing key; returns its verifier key.
    ///
    /// # Errors
    /// `BadLogName`, `LogExists`, I/O errors.
    pub fn create_log(&self, name: &str) -> Result<Verifier> {
        if !valid_log_name(name) {
            return Err(StoreError::BadLogName(name.to_owned()));
        }
        self.create_log_unchecked(name)
    }

    /// Finishes the creation of every log that a crash interrupted (a
    /// directory without meta; see `create_log`), as the server does at
    /// start. Returns their names.
    ///
    /// # Errors
    /// As `create_log`.
    pub fn finish_unfinished_logs(&self) -> Result<Vec<String>> {
        let mut names = self.unfinished_logs()?;
        // An interrupted copy of a log written elsewhere is finished by the
        // copy (create_adopting_log), never given a key here.
        names.retain(|n| self.adopts(n).is_none());
        for n in &names {
            self.create_log_unchecked(n)?;
        }
        Ok(names)
    }

    /// Logs whose creation a crash interrupted (directories without meta
    /// that hold nothing), sorted.
    ///
    /// # Errors
    /// `Corrupted` for a directory without meta that holds data; I/O errors.
    pub fn unfinished_logs(&self) -> Result<Vec<String>> {
        let d = self.root.join("logs");
        let mut names = Vec::new();
        for n in self.env.vfs.list(&d).map_err(io(&d))? {
            if self.unfinished(&n)? {
                names.push(n);
            }
        }
        names.sort();
        Ok(names)
    }

    /// Creates the reserved `_system` log if it does not exist.
    ///
    /// # Errors
    /// I/O errors.
    pub fn ensure_system_log(&self) -> Result<()> {
        if !self.env.vfs.exists(&self.log_dir(SYSTEM_LOG).join("meta")) {
            self.create_log_unchecked(SYSTEM_LOG)?;
        }
        Ok(())
    }

    fn create_log_unchecked(&self, name: &str) -> Result<Verifier> {
        let dir = self.log_dir(name);
        let meta_path = dir.join("meta");
        if self.env.vfs.exists(&meta_path) {
            return Err(StoreError::LogExists(name.to_owned()));
        }
        // Only a creation that holds nothing may be finished.
        self.unfinished(name)?;
        let origin = format!("{}/{}", self.prefix, name);
        // Key first (mode 0600), then the log directory, then meta last: a
        // directory with meta is a complete log. Without meta, a crash
        // interrupted an earlier creation: nothing was signed or appended
        // yet, so the creation is finished, keeping a key that was complete.
        let key_path = self.root.join("keys").join(format!("{name}.key"));
        if self.env.vfs.exists(&dir) || self.env.vfs.exists(&key_path) {
            tracing::warn!(
                log = name,
                "finishing the creation of a log that a crash interrupted"
            );
        }
        let signer = if self.env.vfs.exists(&key_path) {
            let s = read_signer(self.env.vfs.as_ref(), &key_path)?;
            if s.name() != origin {
                return Err(StoreError::Key(format!(
                    "{} is the key of {:?}, not of {origin:?}",
                    key_path.display(),
                    s.name()
                )));
            }
            s
        } else {
            let s = Signer::from_seed(&origin, SigType::Ed25519, random_seed()?)
                .map_err(|e| StoreError::Key(e.to_string()))?;
            write_new(
                self.env.vfs.as_ref(),
                &key_path,
                format!("{}\n", s.to_skey()).as_bytes(),
                0o600,
            )?;
            s
        };
        let verifier = signer.verifier();
        self.env.vfs.create_dir_all(&dir).map_err(io(&dir))?;
        crate::layout::create_streams(&self.env, &dir)?;
        // Signed by the log's own key (a C2SP signed note), so that an edit
        // of any line is found by opening or verifying the log.
        let meta = signer
            .sign_note(&self.meta_text(&verifier))
            .map_err(|e| StoreError::Key(e.to_string()))?;
        self.write_immutable(&meta_path, meta.as_bytes())?;
        let logs = self.root.join("logs");
        self.env.vfs.sync_dir(&logs).map_err(io(&logs))?;
        // Open once so that the empty tree gets its first signed checkpoint.
        drop(self.open_log(name, LogConfig::default())?);
        Ok(verifier)
    }

    /// Creates log `name` as a copy of a log written elsewhere, whose key
    /// is `verifier` (its origin is the key's name): no signing key here;
    /// its checkpoints are the writer's, handed to the open log's
    /// [`crate::adopt::Adopted`] ([`Log::adopted`]). `source` says where
    /// it is copied from. Finishes a creation a crash interrupted.
    ///
    /// # Errors
    /// `BadLogName`; `LogExists`; `Key` when this directory holds a key
    /// for `name` (it writes that log itself); I/O errors.
    pub fn create_adopting_log(&self, name: &str, verifier: &Verifier, source: &str) -> Result<()> {
        if !valid_log_name(name) {
            return Err(StoreError::BadLogName(name.to_owned()));
        }
        let dir = self.log_dir(name);
        let meta_path = dir.join("meta");
        if self.env.vfs.exists(&meta_path) {
            return Err(StoreError::LogExists(name.to_owned()));
        }
        let key_path = self.root.join("keys").join(format!("{name}.key"));
        if self.env.vfs.exists(&key_path) {
            return Err(StoreError::Key(format!(
                "{} exists: this directory writes log {name:?} itself and cannot copy it",
                key_path.display()
            )));
        }
        // Only a creation that holds nothing may be finished.
        self.unfinished(name)?;
        // `adopts` first: a crash from here on leaves a directory that is
        // finished only as a copy, never given a key.
        self.env.vfs.create_dir_all(&dir).map_err(io(&dir))?;
        let adopts = dir.join(ADOPTS);
        if !self.env.vfs.exists(&adopts) {
            self.write_immutable(&adopts, format!("{source}\n").as_bytes())?;
        }
        crate::layout::create_streams(&self.env, &dir)?;
        // Not signed: the key is the writer's. Its vkey is what every
        // adopted checkpoint is checked against.
        self.write_immutable(&meta_path, self.meta_text(verifier).as_bytes())?;
        let logs = self.root.join("logs");
        self.env.vfs.sync_dir(&logs).map_err(io(&logs))?;
        Ok(())
    }

    /// The four lines of a log's `meta` (docs/FORMAT.md): its origin (the
    /// key's name), its verifier key, now.
    fn meta_text(&self, verifier: &Verifier) -> String {
        format!(
            "veritrail-log 1\norigin {}\nvkey {}\ncreated {}\n",
            verifier.name(),
            verifier.to_vkey(),
            veritrail_core::Timestamp::from_unix_nanos(i128::from(self.env.now_nanos()))
                .to_rfc3339_nanos()
        )
    }

    /// Writes a new file whole (mode 0644) and marks it immutable.
    fn write_immutable(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        write_new(self.env.vfs.as_ref(), path, bytes, 0o644)?;
        self.env
            .flags
            .apply(self.env.vfs.as_ref(), path, Flag::Immutable);
        Ok(())
    }

    /// Where log `name` is copied from, if it adopts checkpoints signed
    /// elsewhere ([`DataDir::create_adopting_log`]).
    pub fn adopts(&self, name: &str) -> Option<String> {
        read_all(self.env.vfs.as_ref(), &self.log_dir(name).join(ADOPTS))
            .ok()
            .map(|s| s.trim_end().to_owned())
    }

    /// Reads a log's metadata.
    ///
    /// # Errors
    /// `NoSuchLog`, `UnfinishedLog` (a crash interrupted its creation), `Corrupted`.
    pub fn meta(&self, name: &str) -> Result<LogMeta> {
        let path = self.log_dir(name).join("meta");
        if !self.env.vfs.exists(&path) {
            if self.unfinished(name)? {
                return Err(StoreError::UnfinishedLog(name.to_owned()));
            }
            return Err(StoreError::NoSuchLog(name.to_owned()));
        }
        let text = read_all(self.env.vfs.as_ref(), &path)?;
        let bad = |why: &str| StoreError::corrupted(&path, 0, why.to_owned());
        // The four lines, then (since format 1.1) a blank line and the log
        // key's signature over them.
        let (body, signed) = match text.split_once("\n\n") {
            Some((b, _)) => (format!("{b}\n"), true),
            None => (text.clone(), false),
        };
        let mut lines = body.lines();
        if lines.next() != Some("veritrail-log 1") {
            return Err(bad("unknown meta version"));
        }
        let field = |l: Option<&str>, k: &str| l.and_then(|l| l.strip_prefix(k)).map(str::to_owned);
        let origin = field(lines.next(), "origin ").ok_or_else(|| bad("missing origin"))?;
        let vkey = field(lines.next(), "vkey ").ok_or_else(|| bad("missing vkey"))?;
        let created = field(lines.next(), "created ").ok_or_else(|| bad("missing created"))?;
        let verifier = Verifier::parse(&vkey).map_err(|e| bad(&format!("vkey: {e}")))?;
        if verifier.name() != origin {
            return Err(bad("vkey name differs from origin"));
        }
        if lines.next().is_some() {
            return Err(bad("unexpected line after created"));
        }
        if signed {
            veritrail_core::note::open_note(text.as_bytes(), std::slice::from_ref(&verifier))
                .map_err(|e| {
                    bad(&format!(
                        "its signature by the log's key does not verify ({e}): the file was changed"
                    ))
                })?;
        }
        Ok(LogMeta {
            origin,
            verifier,
            created,
            signed,
        })
    }

    fn signer(&self, name: &str, meta: &LogMeta) -> Result<Signer> {
        let path = self.root.join("keys").join(format!("{name}.key"));
        let s = read_signer(self.env.vfs.as_ref(), &path)?;
        if s.verifier() != meta.verifier {
            return Err(StoreError::Key(format!(
                "{} does not match the log's verifier key",
                path.display()
            )));
        }
        Ok(s)
    }

    /// A read-only summary of a log (works while another process writes it).
    ///
    /// # Errors
    /// `NoSuchLog`, `Corrupted`, I/O errors.
    pub fn status(&self, name: &str) -> Result<LogStatus> {
        use crate::segment::{Kind, Stream};
        let meta = self.meta(name)?;
        let dir = self.log_dir(name);
        let mut st = LogStatus {
            origin: meta.origin.clone(),
            ..LogStatus::default()
        };
        let cps = Stream::open(&self.env, &dir.join("checkpoints"), Kind::Checkpoints, 0)?;
        if let (Some(latest), _) = crate::checkpoints::latest(&cps)? {
            let c = veritrail_core::checkpoint::open_checkpoint(&latest.note, &meta.verifier, &[])
                .map_err(|e| {
                    StoreError::corrupted(&cps.last().path, latest.offset, e.to_string())
                })?;
            st.checkpoint_size = c.checkpoint.size.0;
        }
        st.checkpoint_time = self.env.vfs.modified_nanos(&cps.last().path).ok();
        let l0 = Stream::open(&self.env, &crate::layout::level_dir(&dir, 0), Kind::Hash, 0)?;
        st.wal_entries_estimate = l0.record_count(32);
        let mut stack = vec![dir.clone()];
        while let Some(d) = stack.pop() {
            for n in self.env.vfs.list(&d).map_err(io(&d))? {
                let p = d.join(&n);
                if self.env.vfs.is_dir(&p) {
                    stack.push(p);
                    continue;
                }
                st.files += 1;
                if let Ok(f) = self.env.vfs.open_read(&p) {
                    st.disk_bytes += f.len().unwrap_or(0);
                }
                if n == "LOCK" {
                    continue;
                }
                match self.env.vfs.flags(&p) {
                    Ok((true, _)) => st.append_only += 1,
                    Ok((_, true)) => st.immutable += 1,
                    Ok(_) => st.unflagged += 1,
                    Err(e) => {
                        st.unflagged += 1;
                        st.flag_note = e.to_string();
                    }
                }
            }
        }
        if st.unflagged > 0 && st.flag_note.is_empty() {
            st.flag_note = "setting chattr flags needs CAP_LINUX_IMMUTABLE (root) and a file system that supports them".into();
        }
        Ok(st)
    }

    /// Checks the small files that matter beside the streams: the marker
    /// and each log's `meta` (signed by the default log's key and by the
    /// log's own key since format 1.1), and that each readable key file's
    /// public half is the log's verifier key. Returns notes on what could
    /// not be checked (an unsigned file of an older version, a key file this
    /// user may not read).
    ///
    /// # Errors
    /// `Corrupted` naming the file whose signature or key does not match.
    pub fn check_small_files(&self) -> Result<Vec<String>> {
        let mut notes = Vec::new();
        let marker = self.root.join(MARKER);
        let text = read_all(self.env.vfs.as_ref(), &marker)?;
        // Signed by the default log's key (a replica's, without one: by
        // its `_system` log's key).
        let signing_log = if self.env.vfs.exists(&self.log_dir(DEFAULT_LOG).join("meta"))
            && self.adopts(DEFAULT_LOG).is_none()
        {
            DEFAULT_LOG
        } else {
            SYSTEM_LOG
        };
        let default = self.meta(signing_log)?;
        if text.contains("\n\n") {
            veritrail_core::note::open_note(text.as_bytes(), std::slice::from_ref(&default.verifier))
                .map_err(|e| {
                    StoreError::corrupted(
                        &marker,
                        0,
                        format!("its signature by the {signing_log} log's key does not verify ({e}): the file was changed"),
                    )
                })?;
        } else {
            notes.push(format!(
                "{} is not signed (written before format 1.1)",
                marker.display()
            ));
        }
        for name in self.list_logs()? {
            let meta = self.meta(&name)?;
            if let Some(source) = self.adopts(&name) {
                notes.push(format!(
                    "log {name:?} is a copy of {source}: its checkpoints are the writer's, checked against the vkey in {} (not signed here: the key is the writer's)",
                    self.log_dir(&name).join("meta").display()
                ));
                continue;
            }
            if !meta.signed {
                notes.push(format!(
                    "{} is not signed (written before format 1.1)",
                    self.log_dir(&name).join("meta").display()
                ));
            }
            let key = self.root.join("keys").join(format!("{name}.key"));
            match read_signer(self.env.vfs.as_ref(), &key) {
                Ok(s) if s.verifier() == meta.verifier => {}
                Ok(_) => {
                    return Err(StoreError::corrupted(
                        &key,
                        0,
                        "this key's public half is not the log's verifier key in meta",
                    ))
                }
                Err(StoreError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::PermissionDenied =>
                {
                    notes.push(format!(
                        "{} is not readable here; its public half was not compared",
                        key.display()
                    ));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(notes)
    }

    /// Opens (and so recovers) a log for writing, signing with its key in
    /// this directory. One process at a time.
    ///
    /// # Errors
    /// `NoSuchLog`, `Locked`, `Corrupted`, `Key`, I/O errors.
    pub fn open_log(&self, name: &str, config: LogConfig) -> Result<Log> {
        let meta = self.meta(name)?;
        if self.adopts(name).is_some() {
            let adopted = Arc::new(crate::adopt::Adopted::new(meta.verifier));
            let mut log = self.open_log_with(name, config, adopted.clone())?;
            log.adopted = Some(adopted);
            return Ok(log);
        }
        let signer = self.signer(name, &meta)?;
        self.open_log_with(name, config, Arc::new(signer))
    }

    /// Like [`DataDir::open_log`], with checkpoints signed by `signer` (a
    /// key held elsewhere), which must be the log's key.
    ///
    /// # Errors
    /// As [`DataDir::open_log`]; `Key` when `signer` is not the log's key.
    pub fn open_log_with(
        &self,
        name: &str,
        config: LogConfig,
        signer: Arc<dyn CheckpointSigner>,
    ) -> Result<Log> {
        let meta = self.meta(name)?;
        if signer.verifier() != meta.verifier {
            return Err(StoreError::Key(format!(
                "the signer given for log {name:?} is not the log's key ({})",
                meta.verifier.to_vkey()
            )));
        }
        let dir = self.log_dir(name);
        let lock_path = dir.join("LOCK");
        let lock = self.env.vfs.lock(&lock_path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::WouldBlock {
                StoreError::Locked(name.to_owned())
            } else {
                StoreError::io(&lock_path, e)
            }
        })?;
        let shared = crate::recovery::open(self.opening(name, meta, config), signer)?;
        Ok(Log::start(shared, lock))
    }

    /// Opens a log for reading only: no lock (a server may be writing it),
    /// no recovery, nothing written, no threads, no signing key needed. It
    /// serves what the newest complete checkpoint signed when it was opened.
    ///
    /// # Errors
    /// `NoSuchLog`, `Corrupted` (the newest checkpoint does not verify, or
    /// the hash levels do not reproduce it), I/O errors.
    pub fn open_log_read(&self, name: &str) -> Result<LogReader> {
        let meta = self.meta(name)?;
        let shared =
            crate::recovery::open_read_only(self.opening(name, meta, LogConfig::default()))?;
        Ok(LogReader::new(shared))
    }

    fn opening(&self, name: &str, meta: LogMeta, config: LogConfig) -> Opening {
        Opening {
            env: self.env.clone(),
            dir: self.log_dir(name),
            name: name.to_owned(),
            verifier: meta.verifier,
            config,
        }
    }
}

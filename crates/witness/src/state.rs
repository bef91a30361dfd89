//! The witness's durable state under its directory:
//!
//! - `witness.key` — its cosigning key (C2SP signed-note private key, type
//!   `cosignature/v1`), mode 0600, made by [`Witness::init`];
//! - `logs/<hex of the origin>` — the signed checkpoint it last cosigned for
//!   that log, replaced atomically (write a temporary file, `fsync`, rename,
//!   `fsync` the directory) before the cosignature is returned;
//! - `evidence/<unix ns>-<hex of the origin>.txt` — each refused request
//!   whose checkpoint was validly signed but contradicts what was cosigned
//!   (another root at a cosigned size, or a consistency proof that fails),
//!   with the checkpoint it contradicts: proof that the log misbehaved.
//!
//! One lock serializes check-and-persist, so two requests cannot roll the
//! state back (the race the spec describes).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use veritrail_core::checkpoint::Checkpoint;
use veritrail_core::note::{SigType, Signer, Verifier};

use crate::protocol::{decide, AddCheckpoint, Latest, Refusal};

/// Witness errors (its files).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WitnessError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file holds something else.
    #[error("{path}: {why}")]
    Bad {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> WitnessError + '_ {
    move |source| WitnessError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `bytes` to `path` atomically and durably.
fn write_durable(path: &Path, bytes: &[u8]) -> Result<(), WitnessError> {
    let dir = path.parent().expect("a directory");
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(bytes).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io(path))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))
}

/// What a request got: status, content type, body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Content type.
    pub content_type: &'static str,
    /// Body.
    pub body: String,
}

/// A witness over its directory.
pub struct Witness {
    dir: PathBuf,
    signer: Signer,
    trusted: Vec<Verifier>,
    latest: Mutex<BTreeMap<String, Latest>>,
}

fn key_path(dir: &Path) -> PathBuf {
    dir.join("witness.key")
}

impl Witness {
    /// Makes a witness key named `name` in `dir` (refusing to replace one)
    /// and returns its verifier key.
    ///
    /// # Errors
    /// A key exists; I/O errors; a bad name.
    pub fn init(dir: &Path, name: &str) -> Result<Verifier, WitnessError> {
        let path = key_path(dir);
        if path.exists() {
            return Err(WitnessError::Bad {
                path,
                why: "a witness key exists already (it is never replaced)".into(),
            });
        }
        let mut seed = [0u8; 32];
        getrandom::getrandom(&mut seed).map_err(|e| WitnessError::Bad {
            path: path.clone(),
            why: e.to_string(),
        })?;
        let signer = Signer::from_seed(name, SigType::CosignatureV1, seed).map_err(|e| {
            WitnessError::Bad {
                path: path.clone(),
                why: e.to_string(),
            }
        })?;
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode_0600()
            .open(&path)
            .map_err(io(&path))?;
        f.write_all(format!("{}\n", signer.to_skey()).as_bytes())
            .map_err(io(&path))?;
        f.sync_all().map_err(io(&path))?;
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(dir))?;
        Ok(signer.verifier())
    }

    /// Opens the witness in `dir`, trusting `logs` (each log's verifier
    /// key; its name is the log's origin).
    ///
    /// # Errors
    /// No key (run init); unreadable or damaged state files.
    pub fn open(dir: &Path, logs: Vec<Verifier>) -> Result<Witness, WitnessError> {
        let kp = key_path(dir);
        let text = std::fs::read_to_string(&kp).map_err(io(&kp))?;
        let signer = Signer::parse(text.trim()).map_err(|e| WitnessError::Bad {
            path: kp.clone(),
            why: e.to_string(),
        })?;
        if signer.verifier().sig_type() != SigType::CosignatureV1 {
            return Err(WitnessError::Bad {
                path: kp,
                why: "not a cosignature/v1 key".into(),
            });
        }
        let mut latest = BTreeMap::new();
        let ld = dir.join("logs");
        if ld.exists() {
            for e in std::fs::read_dir(&ld).map_err(io(&ld))? {
                let p = e.map_err(io(&ld))?.path();
                if p.extension().is_some_and(|x| x == "tmp") {
                    continue; // an interrupted replacement: the old file stands
                }
                let note = std::fs::read_to_string(&p).map_err(io(&p))?;
                let text = note.split("\n\n").next().unwrap_or("").to_owned() + "\n";
                let c = Checkpoint::parse_text(&text).map_err(|e| WitnessError::Bad {
                    path: p.clone(),
                    why: e.to_string(),
                })?;
                latest.insert(
                    c.origin.as_str().to_owned(),
                    Latest {
                        size: c.size.0,
                        root: c.root,
                    },
                );
            }
        }
        Ok(Witness {
            dir: dir.to_path_buf(),
            signer,
            trusted: logs,
            latest: Mutex::new(latest),
        })
    }

    /// The witness's verifier key.
    pub fn verifier(&self) -> Verifier {
        self.signer.verifier()
    }

    /// What it last cosigned, per origin.
    pub fn latest(&self) -> BTreeMap<String, (u64, String)> {
        self.latest
            .lock()
            .expect("witness lock")
            .iter()
            .map(|(o, l)| (o.clone(), (l.size, l.root.to_base64())))
            .collect()
    }

    /// The evidence files kept, oldest first.
    pub fn evidence(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(self.dir.join("evidence"))
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Handles one `add-checkpoint` body at `now` (POSIX seconds).
    pub fn add_checkpoint(&self, body: &[u8], now: u64) -> Answer {
        match self.add(body, now) {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(error = %e, "the witness could not store its state");
                Answer {
                    status: 500,
                    content_type: "text/plain",
                    body: "the witness could not store its state\n".into(),
                }
            }
        }
    }

    fn add(&self, body: &[u8], now: u64) -> Result<Answer, WitnessError> {
        let refused = |r: Refusal| Answer {
            status: r.status,
            content_type: if r.size_body {
                "text/x.tlog.size"
            } else {
                "text/plain"
            },
            body: r.body,
        };
        let req = match AddCheckpoint::parse(body) {
            Ok(r) => r,
            Err(r) => return Ok(refused(r)),
        };
        let mut latest = self.latest.lock().expect("witness lock");
        let accepted = match decide(&req, &self.trusted, |o| latest.get(o).cloned()) {
            Ok(a) => a,
            Err(r) => {
                if r.evidence {
                    self.keep_evidence(&req, &r)?;
                }
                return Ok(refused(r));
            }
        };
        let origin = accepted.checkpoint.origin.as_str().to_owned();
        let path = self.dir.join("logs").join(hex::encode(&origin));
        write_durable(&path, req.note.as_bytes())?;
        latest.insert(
            origin,
            Latest {
                size: accepted.checkpoint.size.0,
                root: accepted.checkpoint.root,
            },
        );
        drop(latest);
        let line = self
            .signer
            .sign_line(&accepted.text, now)
            .map_err(|e| WitnessError::Bad {
                path: path.clone(),
                why: e.to_string(),
            })?;
        Ok(Answer {
            status: 200,
            content_type: "text/plain",
            body: format!("{line}\n"),
        })
    }

    fn keep_evidence(&self, req: &AddCheckpoint, r: &Refusal) -> Result<(), WitnessError> {
        let origin = req.note.split('\n').next().unwrap_or("");
        let stored = std::fs::read_to_string(self.dir.join("logs").join(hex::encode(origin)))
            .unwrap_or_default();
        let ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let path = self
            .dir
            .join("evidence")
            .join(format!("{ns}-{}.txt", hex::encode(origin)));
        let text = format!(
            "refused ({}): {}--- the request ---\n{}--- the checkpoint cosigned before ---\n{stored}",
            r.status,
            r.body,
            req.to_body()
        );
        tracing::warn!(origin, evidence = %path.display(), "a log sent a checkpoint that contradicts what was cosigned");
        write_durable(&path, text.as_bytes())
    }
}

trait Mode0600 {
    fn mode_0600(&mut self) -> &mut Self;
}

impl Mode0600 for std::fs::OpenOptions {
    fn mode_0600(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt as _;
        self.mode(0o600)
    }
}

//! Storage-level immutability: `chattr +a` on live files, `+i` on closed
//! ones, where the process may. Failure to set a flag never stops the log
//! (the files are append-only by construction anyway) but is reported once in
//! the log output and in `veritrail status`.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use crate::vfs::{Flag, Vfs};

/// Whether immutability flags are being applied, and why not.
#[derive(Debug, Default)]
pub struct FlagReport {
    applied: AtomicU64,
    failed: AtomicU64,
    warned: AtomicBool,
    reason: Mutex<Option<String>>,
}

impl FlagReport {
    /// Sets `flag` on `path`, recording (and logging once) a failure.
    pub fn apply(&self, vfs: &dyn Vfs, path: &Path, flag: Flag) {
        match vfs.set_flag(path, flag) {
            Ok(()) => {
                self.applied.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                let why = match e.raw_os_error() {
                    Some(1) => {
                        "no CAP_LINUX_IMMUTABLE (run as root or grant the capability)".to_owned()
                    }
                    Some(25 | 95) => "the file system does not support inode flags".to_owned(),
                    _ => e.to_string(),
                };
                if !self.warned.swap(true, Ordering::AcqRel) {
                    tracing::warn!(
                        file = %path.display(),
                        reason = %why,
                        "cannot set chattr +a/+i; files stay append-only by construction but are not protected by the kernel"
                    );
                }
                *self.reason.lock().expect("flag reason lock") = Some(why);
            }
        }
    }

    /// `None` if every flag was set, else why not.
    pub fn problem(&self) -> Option<String> {
        self.reason.lock().expect("flag reason lock").clone()
    }

    /// Flags applied and failed so far.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.applied.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }
}

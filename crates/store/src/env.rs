//! What every file of a data directory is reached through: the file system
//! ([`Vfs`]), the report of immutability flags set or refused
//! ([`FlagReport`]) and the clock ([`Clock`]). One value, handed down from
//! the data directory to each log and stream.

use std::sync::Arc;

use crate::clock::{Clock, SystemClock};
use crate::immutable::FlagReport;
use crate::vfs::Vfs;

/// The storage environment of a data directory.
#[derive(Clone)]
pub struct Env {
    /// The file system.
    pub vfs: Arc<dyn Vfs>,
    /// Which immutability flags could not be set, and why.
    pub flags: Arc<FlagReport>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
}

impl Env {
    /// `vfs` with a fresh flag report and the system clock.
    pub fn new(vfs: Arc<dyn Vfs>) -> Env {
        Env {
            vfs,
            flags: Arc::new(FlagReport::default()),
            clock: Arc::new(SystemClock),
        }
    }

    /// Current time in Unix nanoseconds, from this environment's clock.
    pub fn now_nanos(&self) -> u64 {
        self.clock.now_nanos()
    }
}

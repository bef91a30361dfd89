//! The store's only clock. It stamps segment headers (`created`), the time a
//! checkpoint was signed ([`crate::Published::signed_at`]) and a log's
//! creation time in `meta`. None of these decides anything about the log's
//! contents, so a test may replace the clock ([`crate::DataDir::with_clock`])
//! without changing what is stored but those stamps.

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    /// Current time in Unix nanoseconds.
    fn now_nanos(&self) -> u64;
}

/// The system's real-time clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_nanos(&self) -> u64 {
        now_nanos()
    }
}

/// The system's current time in Unix nanoseconds (0 before 1970).
pub fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

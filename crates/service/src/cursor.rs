//! Durable positions of the consumers that follow a log
//! ([`veritrail_store::subscribe`]): `<data>/cursors/<log>/<consumer>`,
//! one line `position <N>`. A consumer saves its position after it has
//! made durable what it did with the entries before it; after a restart it
//! subscribes from the saved position, so it sees nothing twice that it
//! finished and misses nothing. (The query index keeps its position in its
//! own database instead, in the same transaction as its rows.)
//!
//! Saving replaces the file atomically: write `<consumer>.tmp`, `fdatasync`,
//! rename over the old one, `fsync` the directory. Cursors are derived
//! state, outside the append-only log directories.

use std::path::{Path, PathBuf};

use veritrail_store::datadir::valid_log_name;
use veritrail_store::DataDir;

use crate::error::{Result, ServiceError};

/// One consumer's saved position in one log.
#[derive(Clone, Debug)]
pub struct Cursor {
    path: PathBuf,
}

fn bad(path: &Path, why: impl Into<String>) -> ServiceError {
    ServiceError::Cursor {
        path: path.to_path_buf(),
        reason: why.into(),
    }
}

impl Cursor {
    /// The cursor of `consumer` (a name like a log's: `a-z 0-9 _ . -`) in
    /// log `log` of `data`.
    ///
    /// # Errors
    /// `Cursor` for a bad consumer name.
    pub fn of(data: &DataDir, log: &str, consumer: &str) -> Result<Cursor> {
        let path = data.root().join("cursors").join(log).join(consumer);
        if !valid_log_name(consumer) || !valid_log_name(log.trim_start_matches('_')) {
            return Err(bad(
                &path,
                "consumer and log names are 1-63 of a-z 0-9 _ . -",
            ));
        }
        Ok(Cursor { path })
    }

    /// Whether a position was ever saved.
    pub fn exists(&self) -> bool {
        self.path.exists()
    }

    /// The saved position (0 when none was saved yet).
    ///
    /// # Errors
    /// `Cursor` for a file that is not a cursor; I/O errors.
    pub fn load(&self) -> Result<u64> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(bad(&self.path, e.to_string())),
        };
        text.strip_prefix("position ")
            .and_then(|r| r.strip_suffix('\n'))
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or_else(|| bad(&self.path, "not a cursor file (expected `position <N>`)"))
    }

    /// Saves `position` durably, replacing the previous one.
    ///
    /// # Errors
    /// I/O errors (the previous position stays).
    pub fn save(&self, position: u64) -> Result<()> {
        crate::durable::replace(&self.path, format!("position {position}\n").as_bytes())
            .map_err(|e| bad(&self.path, e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use veritrail_store::{LogConfig, RealFs};

    use super::*;

    /// A consumer that saves its position after each delivery and is
    /// restarted (a new subscription from the saved cursor) sees every
    /// entry exactly once, in order.
    #[test]
    fn a_restarted_consumer_resumes_without_gap_or_repeat() {
        let tmp = tempfile::tempdir().unwrap();
        let (dd, _) =
            DataDir::init(Arc::new(RealFs), &tmp.path().join("d"), Some("c.example")).unwrap();
        let config = LogConfig {
            checkpoint_interval: Duration::from_millis(5),
            ..LogConfig::default()
        };
        let log = dd.open_log("default", config).unwrap();
        let cursor = Cursor::of(&dd, "default", "tester").unwrap();
        assert_eq!(cursor.load().unwrap(), 0);
        let mut seen: Vec<Vec<u8>> = Vec::new();
        for round in 0..5u32 {
            let batch: Vec<Vec<u8>> = (0..37)
                .map(|k| format!("{{\"round\":{round},\"k\":{k}}}").into_bytes())
                .collect();
            log.append(&batch).unwrap();
            // A new consumer process: subscribe from the saved position,
            // take one delivery of at most 50, save, stop.
            let mut sub = log.subscribe(cursor.load().unwrap()).with_chunk(50);
            let d = sub.next(Duration::from_secs(5)).unwrap().expect("entries");
            seen.extend(d.entries().map(<[u8]>::to_vec));
            cursor.save(sub.position()).unwrap();
        }
        // Drain what is left.
        let mut sub = log.subscribe(cursor.load().unwrap());
        while let Some(d) = sub.next(Duration::from_millis(200)).unwrap() {
            seen.extend(d.entries().map(<[u8]>::to_vec));
        }
        let want = log.entries(0, log.published().size).unwrap();
        assert_eq!(seen, want);
        assert_eq!(want.len(), 5 * 37);
        std::fs::write(tmp.path().join("d/cursors/default/tester"), "garbage").unwrap();
        assert!(cursor.load().is_err(), "a damaged cursor is refused");
        log.close();
        let _ = std::process::Command::new("chattr")
            .args(["-R", "-a", "-i"])
            .arg(tmp.path())
            .status();
    }
}

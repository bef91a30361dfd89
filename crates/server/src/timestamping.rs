//! RFC 3161 timestamps over checkpoints (docs/TRUST.md "Timestamps"): a
//! checkpoint publishing step that asks a timestamp authority for a token
//! over each published checkpoint note (at most one per `interval`: the
//! step waits out the rest of it, and by then a newer checkpoint may have
//! replaced this one, which covers everything it does), checks the token before keeping it
//! (imprint, nonce, signature, certificate chain to the configured root —
//! [`veritrail_timestamp::verify`]), and keeps it create-once in
//! `<data>/timestamps/<log>/<size>.tst` (DER `ContentInfo`), served at
//! `GET /v1/logs/{log}/timestamps/{size}`. Off the ack path, like every
//! publishing step.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use veritrail_service::store::{PublishStep, Published};
use veritrail_timestamp::Certificate;

/// A timestamp authority.
pub struct Tsa {
    url: String,
    roots: Vec<Certificate>,
    interval: Duration,
    root: PathBuf,
    last: Mutex<std::collections::BTreeMap<String, Instant>>,
    agent: ureq::Agent,
    /// Tokens kept.
    pub kept: std::sync::atomic::AtomicU64,
}

pub use veritrail_service::kept::timestamp_path as token_path;

impl Tsa {
    /// The authority at `url`, its tokens checked against `roots`.
    pub fn new(url: &str, roots: Vec<Certificate>, interval: Duration, data: &Path) -> Arc<Tsa> {
        Arc::new(Tsa {
            url: url.to_owned(),
            roots,
            interval,
            root: data.to_path_buf(),
            last: Mutex::new(std::collections::BTreeMap::new()),
            agent: ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(10))
                .build(),
            kept: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// The authority's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Checks a kept `token` against the `checkpoint` it stamps and the
    /// configured roots.
    ///
    /// # Errors
    /// Why the token does not verify.
    pub fn check(
        &self,
        token: &[u8],
        checkpoint: &[u8],
    ) -> Result<veritrail_timestamp::Stamp, veritrail_timestamp::TimestampError> {
        veritrail_timestamp::verify(token, checkpoint, None, &self.roots)
    }

    /// Adds the step to every log of `service`.
    pub fn attach(self: &Arc<Tsa>, service: &veritrail_service::Service) {
        for (_, log) in service.logs() {
            log.add_publish_step(Arc::new(Step(self.clone())));
        }
    }

    fn stamp(&self, log: &str, p: &Published) -> Result<(), String> {
        let path = token_path(&self.root, log, p.size);
        if path.exists() {
            return Ok(());
        }
        // At most one token per interval: wait out the rest of it (on this
        // publishing thread; newer checkpoints meanwhile replace this one).
        let wait = self
            .last
            .lock()
            .expect("tsa lock")
            .get(log)
            .map(|t| self.interval.saturating_sub(t.elapsed()));
        if let Some(w) = wait.filter(|w| !w.is_zero()) {
            std::thread::sleep(w);
        }
        self.last
            .lock()
            .expect("tsa lock")
            .insert(log.to_owned(), Instant::now());
        let mut n = [0u8; 8];
        getrandom::getrandom(&mut n).map_err(|e| e.to_string())?;
        let nonce = u64::from_be_bytes(n) >> 1;
        let data = p.checkpoint.as_bytes();
        let req = veritrail_timestamp::request(data, nonce);
        let resp = match self
            .agent
            .post(&self.url)
            .set("Content-Type", "application/timestamp-query")
            .send_bytes(&req)
        {
            Ok(r) => {
                let mut b = Vec::new();
                std::io::Read::read_to_end(&mut r.into_reader(), &mut b)
                    .map_err(|e| e.to_string())?;
                b
            }
            Err(e) => return Err(format!("timestamp authority {}: {e}", self.url)),
        };
        let token = veritrail_timestamp::token_of_response(&resp).map_err(|e| e.to_string())?;
        veritrail_timestamp::verify(&token, data, Some(nonce), &self.roots)
            .map_err(|e| format!("refused a token: {e}"))?;
        veritrail_service::durable::replace(&path, &token)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        self.kept.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}

struct Step(Arc<Tsa>);

impl PublishStep for Step {
    fn name(&self) -> &str {
        "timestamp"
    }

    fn publish(
        &self,
        log: &str,
        checkpoint: &Published,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.0.stamp(log, checkpoint).map_err(Into::into)
    }
}

//! What `veritrail forward` and `veritrail watch` share to ship events
//! to a server: the on-disk spool ([`spool`]), sending a batch with its
//! `Idempotency-Key` ([`Server::send`]), writing a small file durably, and
//! the progress line.

pub mod spool;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use self::spool::{Header, Spool};
use crate::exit::Exit;

/// This host's name (the `source.host` of events that name none).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// An `Idempotency-Key` from what identifies a batch.
pub fn key_of(parts: &str) -> String {
    veritrail_core::hash::Hash(veritrail_core::hash::sha256(&[parts.as_bytes()])).to_hex()[..32]
        .to_owned()
}

/// SHA-256 of `bytes`, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    veritrail_core::hash::Hash(veritrail_core::hash::sha256(&[bytes])).to_hex()
}

/// How a send ended.
pub enum Sent {
    /// The server stored the batch (or had, under the same key).
    Acked,
    /// Try again later (the server is unreachable or busy).
    Retry(String),
    /// The server refused one event of the batch (nothing was stored):
    /// which one, and why. See [`fix_refused`].
    Refused(usize, String),
}

/// The batch `body` (NDJSON) with its event `item` replaced by
/// `forward.unparsed` holding the refusal and the refused event, and the
/// header's key changed with it (the server kept nothing of the refused
/// request, but the body differs now).
pub fn fix_refused(
    header: &Header,
    body: &[u8],
    item: usize,
    why: &str,
) -> Option<(Header, Vec<u8>)> {
    let mut lines: Vec<&[u8]> = body
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let bad = lines.get(item)?;
    let replacement = veritrail_collect::refused(bad, why, "forward");
    lines[item] = &replacement;
    let mut out = Vec::with_capacity(body.len() + replacement.len());
    for l in lines {
        out.extend_from_slice(l);
        out.push(b'\n');
    }
    let mut h = header.clone();
    h.key = key_of(&format!("{}:refused:{item}", header.key));
    Some((h, out))
}

/// Where batches go.
pub struct Server {
    /// `…/v1/logs/<log>/events`.
    pub url: String,
    /// A writer token.
    pub token: String,
    agent: ureq::Agent,
}

impl Server {
    /// The server at `base` (`http://host:port`), log `log`.
    ///
    /// # Errors
    /// A URL that is not http(s), or a log name that is not valid.
    pub fn new(base: &str, token: String, log: &str) -> anyhow::Result<Server> {
        let base = base.trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(Exit::usage(format!(
                "--server {base:?}: expected http://host:port or https://host:port"
            )));
        }
        if !veritrail_store::datadir::valid_log_name(log) {
            return Err(Exit::usage(format!(
                "--log {log:?} is not a valid log name"
            )));
        }
        Ok(Server {
            url: format!("{base}/v1/logs/{log}/events"),
            token,
            agent: ureq::AgentBuilder::new()
                .timeout_connect(Duration::from_secs(5))
                .timeout(Duration::from_secs(120))
                .build(),
        })
    }

    /// Sends one spooled batch.
    ///
    /// # Errors
    /// The server refused the token or the log (nothing will change that
    /// by retrying), or refused the batch itself (it stays in the spool).
    pub fn send(&self, h: &Header, body: &[u8]) -> anyhow::Result<Sent> {
        let r = self
            .agent
            .post(&self.url)
            .set("Authorization", &format!("Bearer {}", self.token))
            .set("Content-Type", "application/x-ndjson")
            .set("Idempotency-Key", &h.key)
            .send_bytes(body);
        match r {
            Ok(resp) if resp.status() == 201 => Ok(Sent::Acked),
            Ok(resp) => Ok(Sent::Retry(format!("HTTP {}", resp.status()))),
            Err(ureq::Error::Status(code, resp)) => {
                let body = resp.into_string().unwrap_or_default();
                // One event refused: the answer names it.
                if matches!(code, 400 | 413) {
                    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
                    if let Some(item) = v["error"]["item"].as_u64() {
                        let why = v["error"]["message"]
                            .as_str()
                            .unwrap_or("refused")
                            .to_owned();
                        return Ok(Sent::Refused(item as usize, why));
                    }
                }
                match code {
                    401 | 403 | 404 => Err(Exit::usage(format!("the server refused the token or log (HTTP {code}): {}", body.trim()))),
                    400 | 413 | 415 | 422 => Err(anyhow::anyhow!(
                        "the server refused the batch of {} (offsets {}..{}, key {}): HTTP {code}: {}; it stays in the spool",
                        h.path,
                        h.start,
                        h.end,
                        h.key,
                        body.trim()
                    )),
                    _ => Ok(Sent::Retry(format!("HTTP {code}: {}", body.trim()))),
                }
            }
            Err(e) => Ok(Sent::Retry(e.to_string())),
        }
    }
}

/// Writes `bytes` to `path` durably, replacing what was there: a
/// temporary file, fsync, rename, fsync of the directory.
///
/// # Errors
/// I/O errors (the old file stays).
pub fn write_durably(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    let tmp: PathBuf = path.with_file_name(name);
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

/// A status line on a terminal, once a second.
pub struct Progress {
    /// Who speaks (`forward`, `watch`).
    pub who: &'static str,
    /// Whether standard error is a terminal.
    pub tty: bool,
    /// Events acknowledged.
    pub shipped: u64,
    last: Instant,
}

impl Progress {
    /// A progress line for `who`.
    pub fn new(who: &'static str) -> Progress {
        use std::io::IsTerminal as _;
        Progress {
            who,
            tty: std::io::stderr().is_terminal(),
            shipped: 0,
            last: Instant::now(),
        }
    }

    /// Shows the line (at most once a second), with `behind`: what is not
    /// yet read (e.g. "1234 bytes behind").
    pub fn show(&mut self, behind: &str, spool: &Spool) {
        if !self.tty || self.last.elapsed() < Duration::from_secs(1) {
            return;
        }
        self.last = Instant::now();
        eprint!(
            "\rveritrail {}: {} events shipped, {behind}, spool {:.1} MiB   ",
            self.who,
            self.shipped,
            spool.bytes() as f64 / (1 << 20) as f64
        );
        let _ = std::io::stderr().flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_event_is_replaced_and_the_key_changes() {
        let h = Header {
            key: "k1".into(),
            path: "/var/log/x".into(),
            id: None,
            start: 0,
            end: 30,
            lines: 3,
            cursor: None,
        };
        let body = b"{\"action\":\"a.b\",\"actor\":\"x\"}\n{\"action\":\"bad\",\"actor\":\"y\"}\n{\"action\":\"c.d\",\"actor\":\"z\"}\n";
        let (h2, fixed) =
            fix_refused(&h, body, 1, "item 1: field `action`: must be a dotted verb").unwrap();
        assert_ne!(h2.key, h.key);
        let lines: Vec<serde_json::Value> = fixed
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["action"], "a.b");
        assert_eq!(lines[1]["action"], "forward.unparsed");
        assert!(lines[1]["metadata"]["forward"]["mapped"]
            .as_str()
            .unwrap()
            .contains("\"bad\""));
        assert_eq!(lines[2]["action"], "c.d");
        // The replacement is an event the model takes.
        let second = fixed.split(|b| *b == b'\n').nth(1).unwrap();
        veritrail_core::Event::parse(second).unwrap();
        assert!(fix_refused(&h, body, 3, "no such item").is_none());
    }
}

//! A small HTTP client for a veritrail server: its query API and, for remote
//! verification and monitoring, its C2SP tlog-tiles endpoints
//! (`<server>/v1/logs/<log>/checkpoint`, `…/tile/…`).

use std::io::Read as _;
use std::time::Duration;

use veritrail_core::tile::Tile;

use crate::exit::Exit;

/// Largest response read (an entry bundle is at most 256 × 64 KiB).
const MAX_BODY: u64 = 64 << 20;

/// The HTTP agent every request goes through (connection reuse, timeouts).
fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(10))
        .timeout_read(Duration::from_secs(60))
        .build()
}

/// One log on one server.
pub struct Remote {
    agent: ureq::Agent,
    server: String,
    base: String,
    token: Option<String>,
    /// A tlog-tiles tree in a local directory (`--tiles DIR` or `file://`).
    local: Option<std::path::PathBuf>,
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// 404: the resource does not exist (yet).
    #[error("{0}: not found")]
    NotFound(String),
    /// Any other HTTP status, with the server's message.
    #[error("{url}: HTTP {status}: {body}")]
    Status {
        url: String,
        status: u16,
        body: String,
    },
    /// Connection or I/O failure.
    #[error("{url}: {reason}")]
    Transport { url: String, reason: String },
}

impl Remote {
    /// A client for `log` on `server` (`http://host:port`, `https://…`).
    ///
    /// # Errors
    /// A usage error for a URL that is not http(s).
    pub fn new(server: &str, log: &str, token: Option<String>) -> anyhow::Result<Remote> {
        let server = server.trim_end_matches('/').to_owned();
        if !(server.starts_with("http://") || server.starts_with("https://")) {
            return Err(Exit::usage(format!(
                "--server {server:?}: expected http://host:port or https://host:port"
            )));
        }
        if !veritrail_store::datadir::valid_log_name(log) {
            return Err(Exit::usage(format!(
                "--log {log:?} is not a valid log name"
            )));
        }
        Ok(Remote {
            agent: agent(),
            base: format!("{server}/v1/logs/{log}/"),
            server,
            token,
            local: None,
        })
    }

    /// A client for any C2SP tlog-tiles log under `prefix` (where
    /// `checkpoint` and `tile/…` are): an http(s) URL, or a directory (a
    /// path or a `file://` URL), such as a static mirror `export-tiles`
    /// wrote.
    ///
    /// # Errors
    /// A usage error for anything else.
    pub fn tiles(prefix: &str, token: Option<String>) -> anyhow::Result<Remote> {
        if !(prefix.starts_with("http://") || prefix.starts_with("https://")) {
            let dir = std::path::PathBuf::from(prefix.strip_prefix("file://").unwrap_or(prefix));
            if !dir.join("checkpoint").is_file() {
                return Err(Exit::usage(format!(
                    "--tiles {prefix:?}: expected an http:// or https:// URL, or a directory holding `checkpoint` and `tile/`"
                )));
            }
            return Ok(Remote {
                agent: agent(),
                server: dir.display().to_string(),
                base: format!("{}/", dir.display()),
                token,
                local: Some(dir),
            });
        }
        let base = format!("{}/", prefix.trim_end_matches('/'));
        Ok(Remote {
            agent: agent(),
            server: base.clone(),
            base,
            token,
            local: None,
        })
    }

    /// Either a log on a veritrail server or a tlog-tiles prefix.
    ///
    /// # Errors
    /// Usage errors for bad URLs, or when neither is given.
    pub fn pick(
        server: Option<&str>,
        tiles: Option<&str>,
        log: &str,
        token: Option<String>,
    ) -> anyhow::Result<Remote> {
        match (server, tiles) {
            (Some(s), None) => Remote::new(s, log, token),
            (None, Some(t)) => Remote::tiles(t, token),
            _ => Err(Exit::usage(
                "give exactly one of --server URL and --tiles URL",
            )),
        }
    }

    /// The server's base URL.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// GET `path` relative to the log's base URL.
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<Vec<u8>, RemoteError> {
        let url = format!("{}{path}", self.base);
        if let Some(dir) = &self.local {
            return match std::fs::read(dir.join(path)) {
                Ok(b) => Ok(b),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    Err(RemoteError::NotFound(url))
                }
                Err(e) => Err(RemoteError::Transport {
                    url,
                    reason: e.to_string(),
                }),
            };
        }
        let mut req = self.agent.get(&url);
        for (k, v) in query {
            req = req.query(k, v);
        }
        if let Some(t) = &self.token {
            req = req.set("Authorization", &format!("Bearer {t}"));
        }
        match req.call() {
            Ok(resp) => {
                let mut body = Vec::new();
                resp.into_reader()
                    .take(MAX_BODY)
                    .read_to_end(&mut body)
                    .map_err(|e| RemoteError::Transport {
                        url: url.clone(),
                        reason: e.to_string(),
                    })?;
                Ok(body)
            }
            Err(ureq::Error::Status(404, _)) => Err(RemoteError::NotFound(url)),
            Err(ureq::Error::Status(status, resp)) => {
                let body = resp.into_string().unwrap_or_default();
                Err(RemoteError::Status {
                    url,
                    status,
                    body: body.trim().chars().take(300).collect(),
                })
            }
            Err(e) => Err(RemoteError::Transport {
                url,
                reason: e.to_string(),
            }),
        }
    }

    /// The latest signed checkpoint (unverified text).
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn checkpoint(&self) -> Result<String, RemoteError> {
        let b = self.get("checkpoint", &[])?;
        String::from_utf8(b).map_err(|_| RemoteError::Transport {
            url: format!("{}checkpoint", self.base),
            reason: "checkpoint is not UTF-8".into(),
        })
    }

    /// A tile's bytes.
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn tile(&self, t: &Tile) -> Result<Vec<u8>, RemoteError> {
        self.get(&t.path(), &[])
    }
}

/// POSTs a JSON document (webhooks).
///
/// # Errors
/// Transport or status errors, as text.
pub fn post_json(url: &str, body: &serde_json::Value) -> Result<(), String> {
    ureq::post(url)
        .timeout(Duration::from_secs(10))
        .send_json(body.clone())
        .map(|_| ())
        .map_err(|e| e.to_string())
}

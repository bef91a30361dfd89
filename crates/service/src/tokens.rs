//! Bearer tokens: 256-bit random secrets shown once, stored only as SHA-256
//! hashes in `<data>/tokens.json`, compared in constant time, with a role and
//! (for writers and readers) the logs they may use.

use std::path::{Path, PathBuf};
use std::sync::RwLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq as _;
use veritrail_store::datadir::SYSTEM_LOG;

/// What a token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Append to its logs.
    Writer,
    /// Query and read entries of its logs.
    Reader,
    /// Read, query, export and verify every log.
    Auditor,
    /// Tokens, logs and configuration (not entries).
    Admin,
}

impl Role {
    /// Parses `writer|reader|auditor|admin`.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "writer" => Some(Role::Writer),
            "reader" => Some(Role::Reader),
            "auditor" => Some(Role::Auditor),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// A stored token (never the secret).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Token {
    /// Public identifier, e.g. `tok_1a2b3c4d`.
    pub id: String,
    /// Label.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Logs a writer or reader may use.
    pub logs: Vec<String>,
    /// Lowercase hex SHA-256 of the secret.
    pub hash: String,
    /// Creation time (Unix seconds).
    pub created: u64,
    /// Expiry (Unix seconds), if any.
    pub expires: Option<u64>,
    /// Revocation time (Unix seconds), if revoked.
    pub revoked: Option<u64>,
}

impl Token {
    /// Whether the token may append to `log`.
    pub fn can_write(&self, log: &str) -> bool {
        self.role == Role::Writer && self.logs.iter().any(|l| l == log)
    }
    /// Whether the token may read entries of `log`.
    pub fn can_read(&self, log: &str) -> bool {
        match self.role {
            Role::Auditor => true,
            Role::Reader => self.logs.iter().any(|l| l == log),
            _ => false,
        }
    }
    /// Whether the token may see that `log` exists.
    pub fn can_see(&self, log: &str) -> bool {
        matches!(self.role, Role::Auditor | Role::Admin) || self.logs.iter().any(|l| l == log)
    }
}

/// Why a token operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Reading or writing the token file.
    #[error("token file {path}: {source}")]
    Io {
        /// the file
        path: PathBuf,
        /// why
        #[source]
        source: std::io::Error,
    },
    /// The token file does not parse.
    #[error("token file {0} is corrupted: {1}")]
    Corrupted(PathBuf, String),
    /// No such token.
    #[error("no token with id {0:?}")]
    NotFound(String),
    /// Bad request (role without logs, …).
    #[error("{0}")]
    Invalid(String),
}

/// The longest a token may live: 10 years (365-day years), in seconds.
pub const MAX_TTL_SECS: u64 = 10 * 365 * 86_400;

/// The token store of a data directory.
pub struct TokenStore {
    path: PathBuf,
    tokens: RwLock<Vec<Token>>,
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn sha256_hex(s: &str) -> String {
    veritrail_core::hash::Hash(veritrail_core::hash::sha256(&[s.as_bytes()])).to_hex()
}

impl TokenStore {
    /// Opens (or starts empty) the token file of a data directory.
    ///
    /// # Errors
    /// I/O errors, a corrupted file.
    pub fn open(data_root: &Path) -> Result<TokenStore, TokenError> {
        let path = data_root.join("tokens.json");
        let tokens = match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|e| TokenError::Corrupted(path.clone(), e.to_string()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(source) => return Err(TokenError::Io { path, source }),
        };
        Ok(TokenStore {
            path,
            tokens: RwLock::new(tokens),
        })
    }

    /// Writes the file durably: temp file → fsync → rename → fsync directory.
    fn save(&self, tokens: &[Token]) -> Result<(), TokenError> {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let io = |source| TokenError::Io {
            path: self.path.clone(),
            source,
        };
        let tmp = self.path.with_extension("json.tmp");
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io)?;
        f.write_all(&serde_json::to_vec_pretty(tokens).expect("tokens serialize"))
            .map_err(io)?;
        f.sync_all().map_err(io)?;
        std::fs::rename(&tmp, &self.path).map_err(io)?;
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io)?;
        Ok(())
    }

    /// Creates a token; returns the secret (shown once) and the record.
    ///
    /// # Errors
    /// `Invalid` for a writer or reader without logs or with `_system`
    /// among them (only auditors and admins see `_system`, and nobody
    /// writes it), or a lifetime of 0 or over [`MAX_TTL_SECS`]; I/O errors.
    pub fn create(
        &self,
        role: Role,
        logs: Vec<String>,
        name: &str,
        ttl_secs: Option<u64>,
    ) -> Result<(String, Token), TokenError> {
        if matches!(role, Role::Writer | Role::Reader) && logs.is_empty() {
            return Err(TokenError::Invalid(
                "writer and reader tokens need at least one --log".into(),
            ));
        }
        if logs.iter().any(|l| l == SYSTEM_LOG) {
            return Err(TokenError::Invalid(format!(
                "{SYSTEM_LOG} cannot be given to a token: only the server writes it, and auditors and admins read it"
            )));
        }
        if let Some(t) = ttl_secs {
            if t == 0 || t > MAX_TTL_SECS {
                return Err(TokenError::Invalid(format!(
                    "expires_in_secs must be 1..={MAX_TTL_SECS} (10 years); got {t}"
                )));
            }
        }
        let mut secret_bytes = [0u8; 32];
        getrandom::getrandom(&mut secret_bytes)
            .map_err(|e| TokenError::Invalid(format!("no OS randomness: {e}")))?;
        let secret = format!("vt_{}", B64URL.encode(secret_bytes));
        let hash = sha256_hex(&secret);
        let now = now_secs();
        let token = Token {
            id: format!("tok_{}", &hash[..12]),
            name: name.to_owned(),
            role,
            logs,
            hash,
            created: now,
            expires: ttl_secs.map(|t| now.saturating_add(t)),
            revoked: None,
        };
        let mut all = self.tokens.write().expect("token lock");
        let mut next = all.clone();
        next.push(token.clone());
        self.save(&next)?;
        *all = next;
        Ok((secret, token))
    }

    /// Every token record.
    pub fn list(&self) -> Vec<Token> {
        self.tokens.read().expect("token lock").clone()
    }

    /// Revokes a token (it stays listed, marked revoked).
    ///
    /// # Errors
    /// `NotFound`; I/O errors.
    pub fn revoke(&self, id: &str) -> Result<Token, TokenError> {
        let mut all = self.tokens.write().expect("token lock");
        let mut next = all.clone();
        let t = next
            .iter_mut()
            .find(|t| t.id == id)
            .ok_or_else(|| TokenError::NotFound(id.to_owned()))?;
        if t.revoked.is_none() {
            t.revoked = Some(now_secs());
        }
        let out = t.clone();
        self.save(&next)?;
        *all = next;
        Ok(out)
    }

    /// The valid (not revoked, not expired) token with this secret.
    /// Every stored hash is compared in constant time.
    pub fn authenticate(&self, secret: &str) -> Option<Token> {
        let h = sha256_hex(secret);
        let now = now_secs();
        let all = self.tokens.read().expect("token lock");
        let mut found = None;
        for t in all.iter() {
            if bool::from(t.hash.as_bytes().ct_eq(h.as_bytes())) {
                found = Some(t.clone());
            }
        }
        found.filter(|t| t.revoked.is_none() && t.expires.is_none_or(|e| e > now))
    }

    /// The valid (not revoked, not expired) token with this id (console
    /// sessions hold the id, never the secret).
    pub fn active(&self, id: &str) -> Option<Token> {
        let now = now_secs();
        self.tokens
            .read()
            .expect("token lock")
            .iter()
            .find(|t| t.id == id)
            .filter(|t| t.revoked.is_none() && t.expires.is_none_or(|e| e > now))
            .cloned()
    }

    /// Whether any valid admin token exists.
    pub fn has_admin(&self) -> bool {
        let now = now_secs();
        self.tokens.read().expect("token lock").iter().any(|t| {
            t.role == Role::Admin && t.revoked.is_none() && t.expires.is_none_or(|e| e > now)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 18: `_system` in a reader's or writer's logs, and lifetimes
    /// that overflow or exceed 10 years, were accepted.
    #[test]
    fn system_logs_and_unbounded_lifetimes_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let store = TokenStore::open(tmp.path()).unwrap();
        for role in [Role::Reader, Role::Writer] {
            let e = store
                .create(role, vec!["default".into(), SYSTEM_LOG.into()], "x", None)
                .unwrap_err();
            assert!(matches!(e, TokenError::Invalid(_)), "{e}");
        }
        for ttl in [0, MAX_TTL_SECS + 1, 9_223_372_036_854_775_807, u64::MAX] {
            let e = store
                .create(Role::Auditor, vec![], "x", Some(ttl))
                .unwrap_err();
            assert!(matches!(e, TokenError::Invalid(_)), "{ttl}: {e}");
        }
        assert!(store.list().is_empty(), "nothing was stored");
        let (_, t) = store
            .create(
                Role::Reader,
                vec!["default".into()],
                "x",
                Some(MAX_TTL_SECS),
            )
            .unwrap();
        assert!(t.expires.unwrap() > t.created);
    }
}

//! Console sessions (docs/CONSOLE.md "Signing in"): a token is exchanged
//! once for a random session id, sent back as an `HttpOnly`,
//! `SameSite=Strict` cookie (`Secure` under TLS), and a CSRF token that the
//! page holds in memory and sends as `X-CSRF-Token` with every request that
//! changes something. Sessions live in memory: a restart signs everyone
//! out. The token behind a session is looked up on every request, so a
//! revoked or expired token ends its sessions at once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The cookie's name.
pub const COOKIE: &str = "vt_session";
/// The header carrying the CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// How long a session lasts without use.
pub const IDLE: Duration = Duration::from_secs(8 * 3600);
/// Sessions kept at most (the oldest are dropped beyond this).
const MAX_SESSIONS: usize = 10_000;

/// One signed-in browser.
#[derive(Clone, Debug)]
pub struct Session {
    /// The token it acts as.
    pub token_id: String,
    /// What state-changing requests must carry.
    pub csrf: String,
    last_use: Instant,
}

/// Every session of a server.
#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
}

/// 32 random bytes, hex.
fn random_hex() -> String {
    let mut b = [0u8; 32];
    getrandom::getrandom(&mut b).expect("OS randomness");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Sessions {
    /// A new session for `token_id`: its id (the cookie) and CSRF token.
    pub fn create(&self, token_id: &str) -> (String, Session) {
        let id = random_hex();
        let s = Session {
            token_id: token_id.to_owned(),
            csrf: random_hex(),
            last_use: Instant::now(),
        };
        let mut m = self.map.lock().expect("sessions lock");
        m.retain(|_, v| v.last_use.elapsed() < IDLE);
        if m.len() >= MAX_SESSIONS {
            if let Some(oldest) = m
                .iter()
                .min_by_key(|(_, v)| v.last_use)
                .map(|(k, _)| k.clone())
            {
                m.remove(&oldest);
            }
        }
        m.insert(id.clone(), s.clone());
        (id, s)
    }

    /// The live session `id`, its idle time reset.
    pub fn get(&self, id: &str) -> Option<Session> {
        let mut m = self.map.lock().expect("sessions lock");
        match m.get_mut(id) {
            Some(s) if s.last_use.elapsed() < IDLE => {
                s.last_use = Instant::now();
                Some(s.clone())
            }
            Some(_) => {
                m.remove(id);
                None
            }
            None => None,
        }
    }

    /// Ends session `id`.
    pub fn remove(&self, id: &str) {
        self.map.lock().expect("sessions lock").remove(id);
    }
}

/// The session id in a `Cookie` header, if any.
pub fn cookie(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_owned())
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Constant-time equality of two strings.
pub fn same(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq as _;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_and_cookies() {
        let s = Sessions::default();
        let (id, sess) = s.create("tok1");
        assert_eq!(id.len(), 64);
        assert_ne!(id, sess.csrf);
        assert_eq!(s.get(&id).unwrap().token_id, "tok1");
        let mut h = axum::http::HeaderMap::new();
        h.insert(
            axum::http::header::COOKIE,
            format!("a=b; {COOKIE}={id}; c=d").parse().unwrap(),
        );
        assert_eq!(cookie(&h).as_deref(), Some(id.as_str()));
        h.insert(
            axum::http::header::COOKIE,
            format!("{COOKIE}=../etc").parse().unwrap(),
        );
        assert_eq!(cookie(&h), None);
        s.remove(&id);
        assert!(s.get(&id).is_none());
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
    }
}

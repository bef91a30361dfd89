//! Slowing down token guessing: recent authentication failures per client
//! address, and how long to delay the next answer to that address.

use std::net::IpAddr;

/// Recent authentication failures per client address.
#[derive(Default)]
pub struct Failures {
    map: std::sync::Mutex<std::collections::HashMap<Option<IpAddr>, (u32, std::time::Instant)>>,
}

/// Failures are forgotten after this long without another.
const FORGET: std::time::Duration = std::time::Duration::from_secs(600);
/// The longest delay.
const MAX_DELAY: std::time::Duration = std::time::Duration::from_secs(5);

impl Failures {
    /// Records a failure from `ip` and returns how long to delay the answer:
    /// 100 ms, doubling with each failure in the last 10 minutes, at most 5 s.
    pub fn record(&self, ip: Option<IpAddr>) -> std::time::Duration {
        let now = std::time::Instant::now();
        let mut m = self.map.lock().expect("failures lock");
        if m.len() > 100_000 {
            m.retain(|_, (_, t)| now.duration_since(*t) < FORGET);
        }
        let e = m.entry(ip).or_insert((0, now));
        if now.duration_since(e.1) >= FORGET {
            e.0 = 0;
        }
        e.0 = e.0.saturating_add(1);
        e.1 = now;
        let exp = (e.0 - 1).min(16);
        (std::time::Duration::from_millis(100) * 2u32.pow(exp)).min(MAX_DELAY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_doubles_per_address_and_is_capped() {
        let f = Failures::default();
        let a = Some("192.0.2.1".parse().unwrap());
        let b = Some("192.0.2.2".parse().unwrap());
        let ms: Vec<u128> = (0..8).map(|_| f.record(a).as_millis()).collect();
        assert_eq!(ms, vec![100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        assert_eq!(
            f.record(b).as_millis(),
            100,
            "another address is not slowed down"
        );
    }
}

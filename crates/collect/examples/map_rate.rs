//! How fast messages become events, per core: `cargo run --release -p
//! veritrail-collect --example map_rate [N]`. The messages are loggen's
//! (RFC 5424, 200 bytes) and sshd lines the recognizers match.
use std::time::Instant;

use veritrail_collect::syslog::{to_event, Origin, Transport};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(500_000);
    let loggen = b"<38>1 2026-12-02T10:00:00+00:00 localhost prg00000 1234 - - seq: 0000000123, thread: 0007, runid: 1764669600, stamp: 2026-12-02T10:00:00 PADDPADDPADDPADDPADDPADDPADDPADDPADDPADDPADDPADDPADDPADDPADDPADDPADDPADDPADDPADDPADD";
    let sshd = b"<38>Dec  2 10:00:01 bastion sshd[4242]: Failed password for invalid user admin from 198.51.100.4 port 40022 ssh2";
    let origin = Origin::new(Transport::Tcp, Some("127.0.0.1:40000".parse().unwrap()));
    for (name, msg) in [("loggen 5424", &loggen[..]), ("sshd 3164", &sshd[..])] {
        let t = Instant::now();
        let mut bytes = 0;
        for _ in 0..n {
            bytes += to_event(msg, None, &origin).len();
        }
        let s = t.elapsed().as_secs_f64();
        println!(
            "{name}: {:.2} µs per message ({:.0}/s on one core), {} bytes per event",
            s * 1e6 / n as f64,
            n as f64 / s,
            bytes / n
        );
    }
}

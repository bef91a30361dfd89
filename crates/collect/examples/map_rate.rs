//! How fast messages become events, per core: `cargo run --release -p
//! veritrail-collect --example map_rate [N] [FILE]`. The messages are
//! loggen's (RFC 5424, 200 bytes) and sshd lines the recognizers match;
//! with FILE (e.g. one `bench/authlog.py` wrote), also its first N lines
//! mapped as the forwarder maps a file's lines.
use std::time::Instant;

use veritrail_collect::syslog::{line_to_event, to_event, FileLine, Origin, Transport};

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(500_000);
    let file = args.next();
    let loggen = b"<38>1 2026-12-02T10:00:00+00:00 localhost prg00000 1234 - - seq: 0000000123, thread: 0007, runid: 1764669600, stamp: 2026-12-02T10:00:00 PADDPADDPADDPADDPADDPADDPADDPADDPADDPADDPADDPADDPADDPADDPADDPADDPADDPADDPADDPADDPADD";
    let sshd = b"<38>Dec  2 10:00:01 bastion sshd[4242]: Failed password for invalid user admin from 198.51.100.4 port 40022 ssh2";
    let origin = Origin::new(Transport::Tcp, Some("127.0.0.1:40000".parse().unwrap()));
    for (name, msg) in [("loggen 5424", &loggen[..]), ("sshd 3164", &sshd[..])] {
        let t = Instant::now();
        let mut bytes = 0;
        for _ in 0..n {
            bytes += to_event(msg, None, &origin).len();
        }
        report(name, t.elapsed().as_secs_f64(), n, bytes);
    }
    if let Some(path) = file {
        let text = std::fs::read(&path).expect("the file of lines");
        let lines: Vec<&[u8]> = text.split(|b| *b == b'\n').take(n).collect();
        let t = Instant::now();
        let mut bytes = 0;
        let mut offset = 0u64;
        for l in &lines {
            let at = FileLine {
                path: "/var/log/auth.log",
                offset,
                host: "bastion",
            };
            bytes += line_to_event(l, None, &at).len();
            offset += l.len() as u64 + 1;
        }
        report(&path, t.elapsed().as_secs_f64(), lines.len(), bytes);
        // The parts of that no mapping can do without: the syslog parse
        // alone (the maintained crate), and SHA-256 over each event as
        // the log's leaf hash covers it.
        let t = Instant::now();
        let mut n = 0usize;
        for l in &lines {
            let text = std::str::from_utf8(l).unwrap_or("");
            n += syslog_loose::parse_message(text, syslog_loose::Variant::Either)
                .msg
                .len();
        }
        report(
            "  syslog_loose::parse_message alone",
            t.elapsed().as_secs_f64(),
            lines.len(),
            n,
        );
        let parsed: Vec<(Option<&str>, &str)> = lines
            .iter()
            .map(|l| {
                let m = syslog_loose::parse_message(
                    std::str::from_utf8(l).unwrap_or(""),
                    syslog_loose::Variant::Either,
                );
                (m.appname, m.msg)
            })
            .collect();
        let t = Instant::now();
        let mut n = 0usize;
        for (app, msg) in &parsed {
            n += usize::from(veritrail_collect::recognize::recognize(*app, msg).is_some());
        }
        report(
            "  the recognizers alone",
            t.elapsed().as_secs_f64(),
            parsed.len(),
            n,
        );
        let events: Vec<Vec<u8>> = lines
            .iter()
            .map(|l| {
                line_to_event(
                    l,
                    None,
                    &FileLine {
                        path: "/var/log/auth.log",
                        offset: 0,
                        host: "bastion",
                    },
                )
            })
            .collect();
        let t = Instant::now();
        let mut x = 0u8;
        for e in &events {
            x ^= veritrail_core::hash::sha256(&[&[0u8][..], e])[0];
        }
        report(
            "  SHA-256 of each event alone",
            t.elapsed().as_secs_f64(),
            events.len(),
            usize::from(x),
        );
        let t = Instant::now();
        let mut ok = 0usize;
        for e in &events {
            ok += usize::from(serde_json::from_slice::<serde::de::IgnoredAny>(e).is_ok());
        }
        report(
            "  serde_json validating each event alone",
            t.elapsed().as_secs_f64(),
            events.len(),
            ok,
        );
    }
}

fn report(name: &str, secs: f64, n: usize, bytes: usize) {
    println!(
        "{name}: {:.2} µs per message ({:.0}/s on one core), {} bytes per event",
        secs * 1e6 / n as f64,
        n as f64 / secs,
        bytes / n.max(1)
    );
}

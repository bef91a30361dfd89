//! How fast messages become events, per core: `cargo run --release -p
//! veritrail-collect --example map_rate [N] [FILE]`. The messages are
//! loggen's (RFC 5424, 200 bytes) and sshd lines the recognizers match;
//! with FILE (e.g. one `bench/authlog.py` wrote), also its first N lines
//! mapped as the forwarder maps a file's lines.
use std::hint::black_box;
use std::time::Instant;

use veritrail_collect::recognize::recognize;
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
        let mut offset = 0u64;
        let events: Vec<Vec<u8>> = lines
            .iter()
            .map(|l| {
                let at = FileLine {
                    path: "/var/log/auth.log",
                    offset,
                    host: "bastion",
                };
                offset += l.len() as u64 + 1;
                line_to_event(l, None, &at)
            })
            .collect();
        let bytes = events.iter().map(Vec::len).sum();
        report(&path, t.elapsed().as_secs_f64(), lines.len(), bytes);
        // The parts no mapping of a line can do without, each alone: the
        // syslog parse (the maintained crate), the recognizers, the leaf
        // hash of the event, and a server's check of the JSON it gets.
        let strs: Vec<&str> = lines
            .iter()
            .map(|l| std::str::from_utf8(l).unwrap_or(""))
            .collect();
        fn parse(s: &str) -> syslog_loose::Message<&str> {
            syslog_loose::parse_message(s, syslog_loose::Variant::Either)
        }
        alone("syslog_loose::parse_message", &strs, |s| {
            black_box(parse(s));
        });
        let parsed: Vec<(Option<&str>, &str)> = strs
            .iter()
            .map(|s| {
                let m = parse(s);
                (m.appname, m.msg)
            })
            .collect();
        alone("the recognizers", &parsed, |(app, msg)| {
            black_box(recognize(*app, msg));
        });
        alone("SHA-256 of each event (its leaf hash)", &events, |e| {
            black_box(veritrail_core::leaf_hash(e));
        });
        alone("serde_json validating each event", &events, |e| {
            black_box(serde_json::from_slice::<serde::de::IgnoredAny>(e).is_ok());
        });
    }
}

/// Times `f` over `items` and prints µs per item.
fn alone<T>(name: &str, items: &[T], f: impl Fn(&T)) {
    let t = Instant::now();
    items.iter().for_each(f);
    let secs = t.elapsed().as_secs_f64();
    println!(
        "  {name} alone: {:.2} µs per message ({:.0}/s on one core)",
        secs * 1e6 / items.len().max(1) as f64,
        items.len() as f64 / secs
    );
}

fn report(name: &str, secs: f64, n: usize, bytes: usize) {
    println!(
        "{name}: {:.2} µs per message ({:.0}/s on one core), {} bytes per event",
        secs * 1e6 / n as f64,
        n as f64 / secs,
        bytes / n.max(1)
    );
}

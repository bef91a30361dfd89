//! Issue 18.10: slow and greedy clients are cut off — a request head that
//! does not arrive within the header timeout, a body that does not arrive
//! within the body timeout, and connections past the per-address cap —
//! against the real `veritrail serve`.

mod common;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Reads until the server closes the connection (or `limit` passes);
/// returns what was read and how long it took.
fn until_closed(s: &mut TcpStream, limit: Duration) -> (Vec<u8>, Duration) {
    let t = Instant::now();
    s.set_read_timeout(Some(limit)).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
        if t.elapsed() > limit {
            break;
        }
    }
    (out, t.elapsed())
}

#[test]
fn trickling_heads_and_bodies_and_too_many_connections_are_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let common::Server {
        child, admin, addr, ..
    } = common::start_with(
        &data,
        &[
            "--listen",
            "127.0.0.1:0",
            "--header-timeout",
            "1s",
            "--body-timeout",
            "2s",
            "--max-connections-per-ip",
            "4",
        ],
        &[],
    );
    let writer = common::token(
        &addr,
        admin.as_deref().unwrap(),
        r#"{"role":"writer","logs":["default"]}"#,
    );

    // A head that never completes: closed after the header timeout.
    let mut s = TcpStream::connect(&addr).unwrap();
    s.write_all(b"POST /v1/logs/default/events HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let (_, took) = until_closed(&mut s, Duration::from_secs(10));
    assert!(
        took < Duration::from_secs(4),
        "a trickled head held the connection {took:?}"
    );

    // A body that trickles: 408 after the body timeout, nothing stored.
    let mut s = TcpStream::connect(&addr).unwrap();
    write!(
        s,
        "POST /v1/logs/default/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {writer}\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{{"
    )
    .unwrap();
    let t = Instant::now();
    let mut got = Vec::new();
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    while t.elapsed() < Duration::from_secs(8) {
        let _ = s.write_all(b" ");
        let mut buf = [0u8; 4096];
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                got.extend_from_slice(&buf[..n]);
                break;
            }
            Err(_) => {}
        }
    }
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 408"), "a trickled body: {text}");
    assert!(text.contains("body_timeout"), "{text}");
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "took {:?}",
        t.elapsed()
    );

    // Four connections from one address are held; a fifth is closed at once.
    let held: Vec<TcpStream> = (0..4).map(|_| TcpStream::connect(&addr).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(100));
    let mut fifth = TcpStream::connect(&addr).unwrap();
    let _ = fifth.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    let (answer, took) = until_closed(&mut fifth, Duration::from_secs(5));
    assert!(
        answer.is_empty() && took < Duration::from_millis(900),
        "the fifth connection was served: {took:?} {}",
        String::from_utf8_lossy(&answer)
    );
    drop(held);
    std::thread::sleep(Duration::from_millis(200));
    // Counted in /metrics, and the server still serves.
    let mut s = TcpStream::connect(&addr).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let (m, _) = until_closed(&mut s, Duration::from_secs(5));
    let m = String::from_utf8_lossy(&m);
    assert!(m.contains("veritrail_connections_refused_total 1"), "{m}");
    common::stop(child);
    common::unflag(dir.path());
}

//! Helpers for tests that run the real `veritrail serve`.
#![allow(dead_code)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_veritrail")
}

/// A port unlikely to clash between concurrently running tests.
pub fn port(salt: u16) -> u16 {
    15_000 + ((std::process::id() % 10_000) as u16) + salt * 10_000 % 20_000
}

/// Starts `veritrail serve` on `port`; waits until it listens. Returns the
/// child and the first admin token if this start printed one.
pub fn start(data: &Path, port: u16) -> (Child, Option<String>) {
    start_with(data, &["--listen", &format!("127.0.0.1:{port}")], &[])
}

/// Starts `veritrail serve --data DATA ARGS…` with extra environment.
pub fn start_with(data: &Path, args: &[&str], env: &[(&str, &str)]) -> (Child, Option<String>) {
    let mut child = Command::new(bin())
        .arg("serve")
        .args(args)
        .arg("--data")
        .arg(data)
        .envs(env.iter().copied())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut admin = None;
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let Some(Ok(l)) = lines.next() else { break };
        if l.starts_with("vt_") {
            admin = Some(l.clone());
        }
        if l.contains("serving") {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    (child, admin)
}

/// One HTTP/1.1 POST with `Connection: close`; returns (status, body).
pub fn post(addr: &str, path: &str, token: &str, body: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)?;
    let status = resp.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = resp.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    Ok((status, body))
}

/// Creates a token through the admin API and returns its secret.
pub fn token(addr: &str, admin: &str, body: &str) -> String {
    let (s, b) = post(addr, "/v1/tokens", admin, body).unwrap();
    assert_eq!(s, 201, "{b}");
    serde_json::from_str::<serde_json::Value>(&b).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Clears chattr +a/+i under `dir` so a temporary directory can be removed.
pub fn unflag(dir: &Path) {
    let _ = Command::new("chattr")
        .args(["-R", "-a", "-i"])
        .arg(dir)
        .stderr(Stdio::null())
        .status();
}

/// Stops a server child.
pub fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Runs this build of `veritrail` with `stdin` as input.
pub fn run(args: &[&str], stdin: &str) -> std::process::Output {
    let mut c = Command::new(bin())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input = stdin.to_owned();
    let mut sin = c.stdin.take().unwrap();
    std::thread::spawn(move || {
        let _ = sin.write_all(input.as_bytes());
    });
    c.wait_with_output().unwrap()
}

/// The verifier key of `log` in data directory `data` (from `log list`).
pub fn key_of(data: &Path, log: &str) -> String {
    let o = run(&["log", "list", "--data", data.to_str().unwrap()], "");
    String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .find_map(|l| {
            let mut f = l.split_whitespace();
            (f.next() == Some(log)).then(|| f.next().unwrap().to_owned())
        })
        .unwrap_or_else(|| panic!("no log {log:?} in {}", data.display()))
}

/// A verifier key nobody trusts (its private key is written into `dir`).
pub fn stranger_key(dir: &Path) -> String {
    let out = dir.join("stranger.key");
    let o = run(
        &[
            "keygen",
            "--origin",
            "stranger.example/log",
            "--out",
            out.to_str().unwrap(),
        ],
        "",
    );
    String::from_utf8(o.stdout).unwrap().trim().to_owned()
}

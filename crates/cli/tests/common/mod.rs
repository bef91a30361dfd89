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

/// A running `veritrail serve`: the child, the admin token its first start
/// printed (if this start printed one), and the address it listens on.
pub struct Server {
    pub child: ServerChild,
    pub admin: Option<String>,
    pub addr: String,
    /// Everything it printed before it was serving.
    pub lines: Vec<String>,
}

/// A server's process, killed when dropped: a test that panics before it
/// stops its server leaves no process behind.
pub struct ServerChild(Option<Child>);

impl std::ops::Deref for ServerChild {
    type Target = Child;
    fn deref(&self) -> &Child {
        self.0.as_ref().expect("present until dropped")
    }
}

impl std::ops::DerefMut for ServerChild {
    fn deref_mut(&mut self) -> &mut Child {
        self.0.as_mut().expect("present until dropped")
    }
}

impl From<ServerChild> for Child {
    fn from(mut c: ServerChild) -> Child {
        c.0.take().expect("present until dropped")
    }
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            if matches!(c.try_wait(), Ok(None)) {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

/// Starts `veritrail serve` on a port the kernel picks (never one another
/// test or a client socket holds); waits until it listens.
pub fn start(data: &Path) -> Server {
    start_with(data, &["--listen", "127.0.0.1:0"], &[])
}

/// Starts `veritrail serve --data DATA ARGS…` with extra environment and
/// waits for its "serving … on http(s)://ADDR" line. Panics with everything
/// the server printed if it exits or stays silent for 20 s instead.
pub fn start_with(data: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
    let mut cmd = Command::new(bin());
    cmd.arg("serve").args(args).arg("--data").arg(data);
    serve_child(cmd, env)
}

/// Spawns a prepared `veritrail serve` command and waits as `start_with` does.
pub fn serve_child(mut cmd: Command, env: &[(&str, &str)]) -> Server {
    let mut child = cmd
        .envs(env.iter().copied())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(stderr).lines() {
            let Ok(l) = l else { break };
            if tx.send(l).is_err() {
                // The test stopped listening; keep draining the pipe.
                continue;
            }
        }
    });
    let mut admin = None;
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) => {
                if l.starts_with("vt_") {
                    admin = Some(l.clone());
                }
                if let Some((_, addr)) = l
                    .rsplit_once(" on http://")
                    .or(l.rsplit_once(" on https://"))
                {
                    let addr = addr.trim().to_owned();
                    seen.push(l.clone());
                    return Server {
                        child: ServerChild(Some(child)),
                        admin,
                        addr,
                        lines: seen,
                    };
                }
                seen.push(l);
            }
            Err(e) => {
                let _ = child.kill();
                let status = child.wait().ok();
                panic!(
                    "veritrail serve did not start ({e:?}, exit {status:?}); it printed:\n{}",
                    seen.join("\n")
                );
            }
        }
    }
}

/// The address a syslog listener of `server` bound for `transport`
/// (`udp`, `tcp`, `tls`), from its startup lines.
pub fn syslog_addr(server: &Server, transport: &str) -> String {
    let key = format!("receiving syslog over {transport} on ");
    server
        .lines
        .iter()
        .find_map(|l| {
            l.split_once(&key)
                .map(|(_, r)| r.split(' ').next().unwrap().to_owned())
        })
        .unwrap_or_else(|| panic!("no {transport} syslog listener in {:?}", server.lines))
}

/// One HTTP/1.1 GET with a bearer token and `Connection: close`; returns
/// (status, body).
pub fn get(addr: &str, path: &str, token: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)?;
    let status = resp.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = resp.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    Ok((status, body))
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

/// Stops a server child as an operator does (SIGTERM) and waits for it to
/// finish; panics if it does not exit cleanly.
pub fn terminate(child: impl Into<Child>) {
    let mut child: Child = child.into();
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -TERM");
    let status = child.wait().unwrap();
    assert!(status.success(), "the server exited with {status}");
}

/// Stops a server child.
pub fn stop(child: impl Into<Child>) {
    let mut child: Child = child.into();
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

/// Runs this build with `args`; returns (exit code, stdout, stderr).
pub fn run3(args: &[&str], stdin: &str) -> (i32, String, String) {
    let o = run(args, stdin);
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Runs this build with `args --data DATA`; returns (exit code, stdout then
/// stderr).
pub fn run_on(args: &[&str], data: &Path, stdin: Option<&str>) -> (i32, String) {
    let mut all: Vec<&str> = args.to_vec();
    let d = data.to_str().unwrap();
    all.extend(["--data", d]);
    let o = run(&all, stdin.unwrap_or(""));
    (o.status.code().unwrap_or(-1), text(&o))
}

/// A flag-free copy of directory `from` at `to` (`cp -r`: immutability
/// flags are not copied, so the copy can be damaged on purpose).
pub fn copy_dir(from: &Path, to: &Path) {
    assert!(Command::new("cp")
        .arg("-r")
        .arg(from)
        .arg(to)
        .status()
        .unwrap()
        .success());
}

/// Stdout then stderr of a finished command, as text.
pub fn text(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

/// `veritrail init --data ROOT/data`; returns the data directory.
pub fn init_data(root: &Path) -> std::path::PathBuf {
    let data = root.join("data");
    let o = run(&["init", "--data", data.to_str().unwrap()], "");
    assert!(o.status.success(), "init: {}", text(&o));
    data
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

/// `GET /v1/integrity` as `token` sees it: the whole answer, and the part
/// for `log` (`Null` when it is not listed).
pub fn integrity(addr: &str, token: &str, log: &str) -> (serde_json::Value, serde_json::Value) {
    let (s, b) = get(addr, "/v1/integrity", token).unwrap();
    assert_eq!(s, 200, "{b}");
    let v: serde_json::Value = serde_json::from_str(&b).unwrap();
    let one = v["logs"]
        .as_array()
        .and_then(|l| l.iter().find(|x| x["log"] == log))
        .cloned()
        .unwrap_or_default();
    (v, one)
}

/// Waits up to `secs` until `veritrail verify --tiles URL --key KEY`
/// passes (a drainer uploads in the background); on time out, panics with
/// its output and `context()`.
#[allow(dead_code)]
pub fn wait_verified_tiles(url: &str, key: &str, secs: u64, context: &dyn Fn() -> String) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        let o = std::process::Command::new(bin())
            .args(["verify", "--tiles", url, "--key", key])
            .output()
            .unwrap();
        if o.status.success() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "verify --tiles {url}: {}\n{}",
            text(&o),
            context()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

//! Fork, rollback and truncation detection through the tlog-tiles API:
//! copies of one data directory (same key) diverge after a common prefix, as
//! if the operator rewrote history, and are served in turn at the same
//! address. `verify --server --trust` and `monitor` must both notice; the
//! monitor's webhook and staleness alert are checked too. A second test kills
//! a remote verification and resumes it.

mod common;

use common::{run, text};

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn append(data: &Path, tag: &str, n: usize) {
    let evs: String = (0..n)
        .map(|i| {
            format!("{{\"actor\":\"{tag}\",\"action\":\"history.{tag}\",\"message\":\"{i}\"}}\n")
        })
        .collect();
    let o = run(&["append", "--data", data.to_str().unwrap()], &evs);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn copy(from: &Path, to: &Path) {
    common::copy_dir(from, to);
}

/// A server for `data` with an auditor token; returns (child, url, token).
fn serve(data: &Path) -> (std::process::Child, String, String) {
    let common::Server {
        child, admin, addr, ..
    } = common::start(data);
    let admin = admin.expect("first start prints an admin token");
    let auditor = common::token(&addr, &admin, r#"{"role":"auditor"}"#);
    (child.into(), format!("http://{addr}"), auditor)
}

/// Captures one HTTP request body (a webhook) on a local port.
fn webhook_sink() -> (String, std::thread::JoinHandle<String>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    let h = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = s.read(&mut chunk).unwrap_or(0);
            buf.extend_from_slice(&chunk[..n]);
            let t = String::from_utf8_lossy(&buf);
            if let Some(i) = t.find("\r\n\r\n") {
                let len: usize = t
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap())
                    })
                    .unwrap_or(0);
                if buf.len() >= i + 4 + len || n == 0 {
                    let _ = s.write_all(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n");
                    return t[i + 4..].to_string();
                }
            }
            if n == 0 {
                return String::new();
            }
        }
    });
    (url, h)
}

#[test]
fn forks_rollbacks_and_truncations_are_detected() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let (b, c, d) = (
        tmp.path().join("b"),
        tmp.path().join("c"),
        tmp.path().join("d"),
    );
    assert!(run(&["init", "--data", a.to_str().unwrap()], "")
        .status
        .success());
    append(&a, "common", 50);
    copy(&a, &c); // c: 50 entries, will be "truncated then extended"
    append(&a, "common", 50);
    copy(&a, &b); // b: forks after 100
    copy(&a, &d); // d: the log as it was at 100 entries (a rollback)
    append(&a, "honest", 20); // a: 120
    append(&b, "rewritten", 30); // b: 130
    append(&c, "rewritten", 80); // c: 130
    let key = common::key_of(&a, "default");
    let trust = tmp.path().join("trust.checkpoint");
    let mtrust = tmp.path().join("monitor.checkpoint");

    // The honest log: full verification pins its checkpoint.
    let (child, url, tok) = serve(&a);
    let verify = |url: &str, tok: &str| {
        run(
            &[
                "verify",
                "--server",
                url,
                "--key",
                &key,
                "--token",
                tok,
                "--trust",
                trust.to_str().unwrap(),
            ],
            "",
        )
    };
    let o = verify(&url, &tok);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("120 entries verified"), "{}", text(&o));
    let monitor = |url: &str, tok: &str, extra: &[&str]| {
        let mut args = vec![
            "monitor",
            "--server",
            url,
            "--key",
            &key,
            "--token",
            tok,
            "--trust",
            mtrust.to_str().unwrap(),
            "--once",
            "--verify-entries",
        ];
        args.extend_from_slice(extra);
        run(&args, "")
    };
    let o = monitor(&url, &tok, &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("following"), "{}", text(&o));
    // The log grows (appended offline while the server is stopped).
    common::stop(child);
    append(&a, "honest", 5); // a: 125, appended offline while stopped
    let (child, url, tok) = serve_again(&a);
    let o = monitor(&url, &tok, &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("consistent with size 120 (+5 entries, each verified)"),
        "{}",
        text(&o)
    );
    let o = verify(&url, &tok);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("consistent with the trusted checkpoint at size 120"),
        "{}",
        text(&o)
    );
    // Staleness: nothing changes for longer than --max-age.
    std::thread::sleep(Duration::from_millis(2100));
    let o = monitor(&url, &tok, &["--max-age", "1s"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("ALERT stale"), "{}", text(&o));
    common::stop(child);

    // The operator swaps in rewritten histories at the same address.
    for (dir, what, expect) in [
        (&b, "fork after a common prefix", "FORK"),
        (&c, "truncated then extended", "FORK"),
        (&d, "rolled back", "ROLLBACK"),
    ] {
        let (child, url, tok) = serve(dir);
        let o = verify(&url, &tok);
        assert_eq!(o.status.code(), Some(1), "{what}: {}", text(&o));
        assert!(text(&o).contains(expect), "{what}: {}", text(&o));
        let (hook, got) = webhook_sink();
        let o = monitor(&url, &tok, &["--webhook", &hook]);
        assert_eq!(o.status.code(), Some(1), "{what}: {}", text(&o));
        assert!(
            text(&o).contains("ALERT inconsistent"),
            "{what}: {}",
            text(&o)
        );
        let body: serde_json::Value = serde_json::from_str(&got.join().unwrap()).unwrap();
        assert_eq!(body["alert"], "inconsistent", "{body}");
        assert_eq!(body["fatal"], true);
        assert!(body["message"].as_str().unwrap().contains(expect), "{body}");
        common::stop(child);
    }
    // An auditor who pinned a checkpoint of a rewritten history cannot get
    // an export from the honest log claiming consistency with it, and vice versa.
    append(&d, "rewritten", 10); // d: 110, diverged after 100
    let pinned_fork = tmp.path().join("fork.checkpoint");
    std::fs::write(
        &pinned_fork,
        run(&["checkpoint", "--data", d.to_str().unwrap()], "").stdout,
    )
    .unwrap();
    let o = run(
        &[
            "export",
            "--data",
            a.to_str().unwrap(),
            "-o",
            tmp.path().join("x.bundle").to_str().unwrap(),
            "--since-checkpoint",
            pinned_fork.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("history was rewritten"), "{}", text(&o));
    assert!(!tmp.path().join("x.bundle").exists());
    // The trust files still hold the honest checkpoint (never overwritten by a fork).
    let pinned = std::fs::read_to_string(&trust).unwrap();
    assert!(pinned.contains("\n125\n"), "{pinned}");
    // A checkpoint signed by another key is a bad signature.
    let (child, url, tok) = serve_again(&a);
    let other = common::stranger_key(tmp.path());
    let o = run(
        &[
            "monitor", "--server", &url, "--key", &other, "--token", &tok, "--once",
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("ALERT bad_signature"), "{}", text(&o));
    common::stop(child);
    common::unflag(tmp.path());
}

/// Restarts a server that already has tokens: makes a fresh auditor token
/// offline first.
fn serve_again(data: &Path) -> (std::process::Child, String, String) {
    let o = run(
        &[
            "token",
            "create",
            "--data",
            data.to_str().unwrap(),
            "--role",
            "auditor",
        ],
        "",
    );
    assert!(o.status.success(), "{}", text(&o));
    let tok = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .find(|l| l.starts_with("vt_"))
        .unwrap()
        .to_owned();
    let common::Server { child, addr, .. } = common::start(data);
    (child.into(), format!("http://{addr}"), tok)
}

#[test]
fn an_interrupted_remote_verification_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let o = run(
        &[
            "bench",
            "append",
            "--data",
            data.to_str().unwrap(),
            "--events",
            "1000000",
            "--batch",
            "10000",
        ],
        "",
    );
    assert!(o.status.success(), "{}", text(&o));
    let key = common::key_of(&data, "default");
    let (child, url, tok) = serve(&data);
    let state = tmp.path().join("progress.json");
    let args = [
        "verify",
        "--server",
        &url,
        "--key",
        &key,
        "--token",
        &tok,
        "--resume",
        state.to_str().unwrap(),
    ];
    let mut first = Command::new(common::bin())
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !state.exists() {
        assert!(Instant::now() < deadline, "no progress was saved");
        assert!(
            first.try_wait().unwrap().is_none(),
            "verification finished before it could be interrupted"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    first.kill().unwrap();
    let _ = first.wait();
    let o = run(&args, "");
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("resuming at entry"), "{}", text(&o));
    assert!(
        text(&o).contains("1000000 entries verified"),
        "{}",
        text(&o)
    );
    assert!(
        !state.exists(),
        "progress is removed once verification completes"
    );
    common::stop(child);
    common::unflag(tmp.path());
}

/// Any C2SP tlog-tiles log can be verified and monitored by URL prefix: here
/// a static mirror written by `export-tiles` and served by a plain web
/// server. A tampered entry bundle on the mirror fails verification.
#[test]
fn a_static_mirror_verifies_through_its_tiles() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    assert!(run(&["init", "--data", data.to_str().unwrap()], "")
        .status
        .success());
    append(&data, "mirror", 700);
    let key = common::key_of(&data, "default");
    let site = tmp.path().join("site");
    let o = run(
        &[
            "export-tiles",
            "--data",
            data.to_str().unwrap(),
            "--to",
            site.to_str().unwrap(),
        ],
        "",
    );
    assert!(o.status.success(), "{}", text(&o));
    // Port 0: the kernel picks a free port; the server prints the one it bound.
    let mut web = Command::new("python3")
        .args([
            "-u",
            "-m",
            "http.server",
            "0",
            "--bind",
            "127.0.0.1",
            "--directory",
        ])
        .arg(&site)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 for a static web server");
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(web.stdout.take().unwrap()),
        &mut first,
    )
    .unwrap();
    // "Serving HTTP on 127.0.0.1 port 40123 (http://127.0.0.1:40123/) ..."
    let port: u16 = first
        .split_once(" port ")
        .and_then(|(_, r)| r.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("web server did not report its port: {first:?}"));
    let url = format!("http://127.0.0.1:{port}/");
    let trust = tmp.path().join("mirror.checkpoint");
    let o = run(
        &[
            "verify",
            "--tiles",
            &url,
            "--key",
            &key,
            "--trust",
            trust.to_str().unwrap(),
        ],
        "",
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("700 entries verified"), "{}", text(&o));
    let o = run(
        &[
            "monitor",
            "--tiles",
            &url,
            "--key",
            &key,
            "--once",
            "--verify-entries",
            "--trust",
            trust.to_str().unwrap(),
        ],
        "",
    );
    assert!(o.status.success(), "{}", text(&o));
    // The same tree read as a directory, by path and as a file:// URL
    // (issue 18.11: README suggests it for an export-tiles mirror).
    let file_url = format!("file://{}", site.display());
    for prefix in [site.to_str().unwrap(), file_url.as_str()] {
        let o = run(&["verify", "--tiles", prefix, "--key", &key], "");
        assert!(o.status.success(), "{prefix}: {}", text(&o));
        assert!(
            text(&o).contains("700 entries verified"),
            "{prefix}: {}",
            text(&o)
        );
    }
    // Change one byte of a full entry bundle on the mirror.
    let bundle = site.join("tile/entries/001");
    let mut bytes = std::fs::read(&bundle).unwrap();
    let k = bytes.len() / 2
        + bytes[bytes.len() / 2..]
            .windows(6)
            .position(|w| w == b"mirror")
            .unwrap();
    bytes[k] = b'M';
    std::fs::write(&bundle, bytes).unwrap();
    let o = run(&["verify", "--tiles", &url, "--key", &key], "");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("entry 384: its leaf hash differs"),
        "names the altered entry: {}",
        text(&o)
    );
    let o = run(
        &["verify", "--tiles", site.to_str().unwrap(), "--key", &key],
        "",
    );
    assert_eq!(
        o.status.code(),
        Some(1),
        "a directory is checked as strictly: {}",
        text(&o)
    );
    let _ = web.kill();
    let _ = web.wait();
    common::unflag(tmp.path());
}

//! Transparent huge pages are off for the server (and every command but
//! `verify`), and left as the system sets them for `verify`.

mod common;

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The `THP_enabled` flag of a running process, where the kernel reports it.
fn thp_enabled(pid: u32) -> Option<bool> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("THP_enabled:"))?;
    Some(line.split_whitespace().nth(1)? == "1")
}

#[test]
fn the_server_runs_without_huge_pages_and_verify_with_them() {
    if thp_enabled(std::process::id()).is_none() {
        eprintln!("this kernel does not report THP_enabled: nothing to check");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let server = common::start(&tmp.path().join("d"));
    let server_thp = thp_enabled(server.child.id());
    common::stop(server.child);
    common::unflag(tmp.path());
    assert_eq!(server_thp, Some(false), "veritrail serve");

    // `verify --server` against a listener that never answers stays alive
    // long enough to be looked at.
    let init = common::run(
        &["init", "--data", tmp.path().join("k").to_str().unwrap()],
        "",
    );
    assert!(init.status.success(), "{init:?}");
    let key = String::from_utf8(init.stdout).unwrap().trim().to_owned();
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    silent.set_nonblocking(true).unwrap();
    let mut verify = Command::new(common::bin())
        .args(["verify", "--key", &key, "--server"])
        .arg(format!("http://{}", silent.local_addr().unwrap()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let _conn = loop {
        if let Ok((c, _)) = silent.accept() {
            break c;
        }
        if let Some(status) = verify.try_wait().unwrap() {
            let out = verify.wait_with_output().unwrap();
            panic!(
                "verify exited ({status}) without connecting: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert!(Instant::now() < deadline, "verify did not connect");
        std::thread::sleep(Duration::from_millis(10));
    };
    // Connected: it is past `main`'s setting of the flag.
    let verify_thp = thp_enabled(verify.id());
    let _ = verify.kill();
    let _ = verify.wait();
    common::unflag(tmp.path());
    assert_eq!(
        verify_thp,
        thp_enabled(std::process::id()),
        "veritrail verify"
    );
}

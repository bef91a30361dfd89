//! `veritrail forward` against the real server (issue 20): files appended
//! to, rotated by rename and by copytruncate while shipping; the forwarder
//! killed with SIGKILL and restarted, several times; the server stopped and
//! restarted mid-stream. Afterwards the log holds every line exactly once,
//! in order per file — compared with the files.

mod common;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Every `log.line` event's message, in log order.
fn shipped(addr: &str, auditor: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cursor: Option<u64> = None;
    loop {
        let path = match cursor {
            Some(c) => format!("/v1/logs/default/events?action=log.line&limit=1000&cursor={c}"),
            None => "/v1/logs/default/events?action=log.line&limit=1000".to_owned(),
        };
        let (s, body) = common::get(addr, &path, auditor).unwrap();
        assert_eq!(s, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        for e in v["events"].as_array().unwrap() {
            out.push(e["event"]["message"].as_str().unwrap().to_owned());
        }
        match v["next_cursor"].as_u64() {
            Some(c) => cursor = Some(c),
            None => return out,
        }
    }
}

/// Waits until `n` lines are shipped (and indexed).
fn wait_shipped(addr: &str, auditor: &str, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = shipped(addr, auditor);
        if got.len() >= n || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Every event of log `default` once at least `n` are indexed (and the
/// count held for a moment: nothing more arrives).
fn all_events(addr: &str, auditor: &str, n: usize) -> Vec<Value> {
    let fetch = || {
        let (s, body) = common::get(addr, "/v1/logs/default/events?limit=1000", auditor).unwrap();
        assert_eq!(s, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        v["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event"].clone())
            .collect::<Vec<Value>>()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while fetch().len() < n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    fetch()
}

fn append(path: &Path, lines: &[String]) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
}

fn lines(file: &str, from: usize, n: usize) -> Vec<String> {
    (from..from + n)
        .map(|i| format!("{file} line {i:06} {}", "payload ".repeat(i % 7)))
        .collect()
}

fn forwarder(server: &str, token: &str, dir: &Path) -> Child {
    Command::new(common::bin())
        .args([
            "forward",
            "--server",
            server,
            "--token",
            token,
            "--from-start",
        ])
        .arg("--state")
        .arg(dir.join("fwd.state"))
        .arg("--spool")
        .arg(dir.join("fwd.spool"))
        .arg(format!("{}/*.log", dir.join("logs").display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn writer_and_auditor(s: &common::Server) -> (String, String) {
    let admin = s.admin.as_deref().unwrap();
    (
        common::token(&s.addr, admin, r#"{"role":"writer","logs":["default"]}"#),
        common::token(&s.addr, admin, r#"{"role":"auditor"}"#),
    )
}

#[test]
fn every_line_exactly_once_through_rotation_kills_and_a_server_restart() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let logs = d.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let data = d.join("data");
    let server = common::start(&data);
    let (writer, auditor) = writer_and_auditor(&server);
    // The port stays the same across the server's restart.
    let addr = server.addr.clone();
    let url = format!("http://{addr}");
    let (a, b) = (logs.join("a.log"), logs.join("b.log"));
    let mut written: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let add =
        |file: &'static str, path: &Path, n: usize, written: &mut BTreeMap<&str, Vec<String>>| {
            let from = written.get(file).map_or(0, Vec::len);
            let ls = lines(file, from, n);
            append(path, &ls);
            written.entry(file).or_default().extend(ls);
        };
    add("a", &a, 3000, &mut written);
    add("b", &b, 2000, &mut written);
    let mut fwd = forwarder(&url, &writer, d);
    // Kill the forwarder while it ships, several times.
    for round in 0..4 {
        std::thread::sleep(Duration::from_millis(150 + 100 * round));
        fwd.kill().unwrap();
        fwd.wait().unwrap();
        add("a", &a, 500, &mut written);
        add("b", &b, 300, &mut written);
        fwd = forwarder(&url, &writer, d);
    }
    let total = |w: &BTreeMap<&str, Vec<String>>| w.values().map(Vec::len).sum::<usize>();
    let got = wait_shipped(&addr, &auditor, total(&written));
    assert_eq!(
        got.len(),
        total(&written),
        "everything written before the rotations arrived"
    );
    // Rotation by rename: a.log → a.log.1, a new a.log.
    std::fs::rename(&a, logs.join("a.log.1")).unwrap();
    let mut new_a: Vec<String> = lines("a2", 0, 400);
    append(&a, &new_a);
    written.insert("a2", std::mem::take(&mut new_a));
    // Rotation by copytruncate of b.log.
    std::fs::copy(&b, logs.join("b.log.1")).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&b)
        .unwrap()
        .set_len(0)
        .unwrap();
    let nb = lines("b2", 0, 350);
    append(&b, &nb);
    written.insert("b2", nb);
    // The server stops and comes back on the same port while lines go on.
    std::thread::sleep(Duration::from_millis(300));
    common::stop(server.child);
    add("a2", &a, 250, &mut written);
    std::thread::sleep(Duration::from_millis(800));
    let server = common::start_with(&data, &["--listen", &addr], &[]);
    add("b2", &b, 150, &mut written);
    std::thread::sleep(Duration::from_millis(300));
    fwd.kill().unwrap();
    fwd.wait().unwrap();
    let mut fwd = forwarder(&url, &writer, d);
    let got = wait_shipped(&server.addr, &auditor, total(&written));
    fwd.kill().unwrap();
    fwd.wait().unwrap();
    // Exactly once, in order per file.
    let mut per_file: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for m in &got {
        per_file
            .entry(m.split(' ').next().unwrap().to_owned())
            .or_default()
            .push(m.clone());
    }
    for (file, want) in &written {
        let have = per_file.get(*file).cloned().unwrap_or_default();
        let want: Vec<String> = want.clone();
        assert_eq!(
            have.len(),
            want.len(),
            "{file}: {} lines shipped, {} written",
            have.len(),
            want.len()
        );
        assert!(have == want, "{file}: lines out of order or changed");
    }
    assert_eq!(got.len(), total(&written), "no line twice");
    common::stop(server.child);
    common::unflag(d);
}

#[test]
fn once_and_stdin_ship_what_is_there_and_exit() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server = common::start(&d.join("data"));
    let (writer, auditor) = writer_and_auditor(&server);
    let url = format!("http://{}", server.addr);
    let auth = d.join("auth.log");
    std::fs::write(
        &auth,
        "Dec  2 10:00:01 bastion sshd[42]: Failed password for root from 203.0.113.9 port 5000 ssh2\n\
         Dec  2 10:00:02 bastion sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id\n\
         a line that is not syslog\n",
    )
    .unwrap();
    let o = Command::new(common::bin())
        .args([
            "forward",
            "--server",
            &url,
            "--token",
            &writer,
            "--once",
            "--from-start",
        ])
        .arg("--state")
        .arg(d.join("s"))
        .arg("--spool")
        .arg(d.join("sp"))
        .arg(&auth)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The same recognizers as syslog: the sshd and sudo lines are actions.
    let all = all_events(&server.addr, &auditor, 3);
    let actions: Vec<&str> = all.iter().filter_map(|e| e["action"].as_str()).collect();
    for want in ["auth.login", "privilege.sudo", "log.line"] {
        assert!(actions.contains(&want), "{want} not in {actions:?}");
    }
    // Run again: nothing new, nothing twice.
    let o = Command::new(common::bin())
        .args(["forward", "--server", &url, "--token", &writer, "--once"])
        .arg("--state")
        .arg(d.join("s"))
        .arg("--spool")
        .arg(d.join("sp"))
        .arg(&auth)
        .output()
        .unwrap();
    assert!(o.status.success());
    assert_eq!(all_events(&server.addr, &auditor, 3).len(), 3);
    // Standard input.
    let mut c = Command::new(common::bin())
        .args(["forward", "--server", &url, "--token", &writer, "--stdin"])
        .arg("--spool")
        .arg(d.join("sp2"))
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin
        .take()
        .unwrap()
        .write_all(b"from stdin one\nfrom stdin two\n")
        .unwrap();
    assert!(c.wait().unwrap().success());
    let got = wait_shipped(&server.addr, &auditor, 3);
    assert!(
        got.contains(&"from stdin one".to_owned()) && got.contains(&"from stdin two".to_owned()),
        "{got:?}"
    );
    common::stop(server.child);
    common::unflag(d);
}

#[test]
fn a_file_rotated_while_the_forwarder_was_stopped_is_shipped_to_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let logs = d.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let server = common::start(&d.join("data"));
    let (writer, auditor) = writer_and_auditor(&server);
    let url = format!("http://{}", server.addr);
    let a = logs.join("a.log");
    let first = lines("r1", 0, 200);
    append(&a, &first);
    let mut fwd = forwarder(&url, &writer, d);
    assert_eq!(wait_shipped(&server.addr, &auditor, 200).len(), 200);
    fwd.kill().unwrap();
    fwd.wait().unwrap();
    // While it is stopped: more lines, then rotation by rename, then a new
    // file under the old name.
    let more = lines("r1", 200, 150);
    append(&a, &more);
    std::fs::rename(&a, logs.join("a.log.1")).unwrap();
    let second = lines("r2", 0, 120);
    append(&a, &second);
    let mut fwd = forwarder(&url, &writer, d);
    let got = wait_shipped(&server.addr, &auditor, 470);
    fwd.kill().unwrap();
    fwd.wait().unwrap();
    let want: Vec<String> = first.iter().chain(&more).chain(&second).cloned().collect();
    assert_eq!(
        got, want,
        "every line once, the rotated file's rest before the new file"
    );
    common::stop(server.child);
    common::unflag(d);
}

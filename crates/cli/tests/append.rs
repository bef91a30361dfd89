//! `veritrail append`: what is printed, all-or-nothing input, and failing
//! before reading stdin when there is nowhere to append.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::{bin, run, unflag};

fn append(data: &Path, input: &str) -> (i32, String, String) {
    let out = run(&["append", "--data", data.to_str().unwrap()], input);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn checkpoint_size(data: &Path) -> u64 {
    let out = Command::new(bin())
        .args(["checkpoint", "--data"])
        .arg(data)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    text.lines().nth(1).unwrap().parse().unwrap()
}

fn event(i: usize) -> String {
    format!(r#"{{"actor":{{"id":"user-{i}"}},"action":"user.login","message":"m\u00e9 {i}"}}"#)
}

#[test]
fn prints_an_index_and_leaf_hash_per_event_and_refuses_bad_input_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    assert!(Command::new(bin())
        .args(["init", "--data"])
        .arg(&data)
        .output()
        .unwrap()
        .status
        .success());

    // Enough lines for several chunks; one bad line near the end.
    let n = 25_000;
    let mut input: String = (0..n).map(|i| event(i) + "\n").collect();
    input.push_str("{\"action\":\"user.login\",\"actor\":\"a\",\"colour\":\"red\"}\n");
    let (code, out, err) = append(&data, &input);
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains(&format!("line {}", n + 1)) && err.contains("colour"),
        "{err}"
    );
    assert!(err.contains("nothing was appended"), "{err}");
    assert_eq!(checkpoint_size(&data), 0);

    // The good lines alone: one answer per event, in order, and the leaf hash
    // is that of the entry the log serves.
    let good: String = (0..n).map(|i| event(i) + "\n").collect();
    let (code, out, err) = append(&data, &good);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), n);
    let served = Command::new(bin())
        .args(["query", "--format", "ndjson", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    let served: Vec<serde_json::Value> = String::from_utf8(served.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(served.len(), n);
    for (i, (l, s)) in lines.iter().zip(&served).enumerate() {
        assert_eq!(l["index"], i as u64);
        let h = base64::engine::general_purpose::STANDARD
            .decode(l["leaf_hash"].as_str().unwrap())
            .unwrap();
        assert_eq!(h.len(), 32);
        assert_eq!(l["leaf_hash"], s["leaf_hash"], "entry {i}");
        assert_eq!(s["event"]["actor"]["id"], format!("user-{i}"));
        assert_eq!(s["event"]["message"], format!("m\u{e9} {i}"));
    }
    assert_eq!(checkpoint_size(&data), n as u64);
    let v = Command::new(bin())
        .args(["verify", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
    unflag(&data);
}

#[test]
fn a_missing_data_directory_fails_before_reading_stdin() {
    let tmp = tempfile::tempdir().unwrap();
    let started = Instant::now();
    // stdin stays open and empty: a command that read it first would hang.
    let mut child = Command::new(bin())
        .args(["append", "--data"])
        .arg(tmp.path().join("missing"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert_eq!(status.code(), Some(2));
            break;
        }
        if started.elapsed() > Duration::from_secs(20) {
            child.kill().unwrap();
            panic!("append waited for stdin although the data directory is missing");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(stdin);
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(err.contains("not a veritrail data directory"), "{err}");
}

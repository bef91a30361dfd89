//! `veritrail query`: every output format against golden files, the same
//! answers from a data directory and from a server, and `| head` is no error.
//!
//! `received_at` and the leaf hashes (which cover it) change on every run and
//! are masked before comparing. Regenerate with `UPDATE_GOLDEN=1`.

mod common;

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::run3 as run;

/// An incident: alice logs in, reads, fails to escalate twice and comes back
/// after a pause; bob and a service account act in between.
fn incident() -> String {
    let ev = [
        (
            r#""alice""#,
            "auth.login",
            "success",
            "10:00:00",
            "web-1",
            "login from office",
        ),
        (
            r#"{"id":"bob","type":"user"}"#,
            "auth.login",
            "success",
            "10:01:30",
            "web-2",
            "login",
        ),
        (
            r#""alice""#,
            "file.read",
            "success",
            "10:02:10",
            "payroll.xlsx",
            "read, \"quarterly\" file",
        ),
        (
            r#""alice""#,
            "iam.role.assume",
            "failure",
            "10:03:00",
            "admin-role",
            "denied",
        ),
        (
            r#"{"id":"svc-backup","type":"service"}"#,
            "backup.run",
            "success",
            "10:05:00",
            "db-1",
            "nightly backup",
        ),
        (
            r#""alice""#,
            "iam.role.assume",
            "failure",
            "10:03:20",
            "admin-role",
            "denied again",
        ),
        (
            r#"{"id":"bob","type":"user"}"#,
            "auth.logout",
            "success",
            "10:40:00",
            "web-2",
            "",
        ),
        (
            r#""alice""#,
            "auth.login",
            "success",
            "11:15:00",
            "vpn",
            "login from unknown network",
        ),
        (
            r#""alice""#,
            "config.change",
            "success",
            "11:16:45",
            "firewall",
            "opened port 22",
        ),
    ];
    ev.iter()
        .map(|(actor, action, outcome, t, target, msg)| {
            let message = if msg.is_empty() {
                String::new()
            } else {
                format!(",\"message\":{}", serde_json::json!(msg))
            };
            format!(
                "{{\"actor\":{actor},\"action\":\"{action}\",\"outcome\":\"{outcome}\",\"time\":\"2026-11-26T{t}Z\",\"target\":{{\"id\":\"{target}\"}},\"source\":{{\"host\":\"h1\",\"app\":\"portal\"}}{message}}}\n"
            )
        })
        .collect()
}

/// Replaces the value after each `"key":"` (up to the closing quote) with `*`.
fn mask_json(s: &str, key: &str) -> String {
    let pat = format!("\"{key}\":\"");
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find(&pat) {
        out.push_str(&rest[..i + pat.len()]);
        rest = &rest[i + pat.len()..];
        let end = rest.find('"').unwrap();
        out.push('*');
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Masks CSV columns `received_at` (3rd) and `leaf_hash` (last).
fn mask_csv(s: &str) -> String {
    s.split_inclusive("\r\n")
        .enumerate()
        .map(|(k, line)| {
            if k == 0 {
                return line.to_owned();
            }
            let body = line.trim_end_matches("\r\n");
            let mut cols: Vec<&str> = body.split(',').collect();
            cols[2] = "*";
            let n = cols.len();
            cols[n - 1] = "*";
            format!("{}\r\n", cols.join(","))
        })
        .collect()
}

fn golden(name: &str, actual: &str) {
    let path: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    assert_eq!(actual, want, "output differs from {}", path.display());
}

#[test]
fn formats_match_golden_files_and_server_agrees() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let d = data.to_str().unwrap();
    assert_eq!(run(&["init", "--data", d], "").0, 0);
    let (code, _, err) = run(&["append", "--data", d], &incident());
    assert_eq!(code, 0, "{err}");

    let q = |extra: &[&str]| {
        let mut a = vec!["query", "--data", d];
        a.extend_from_slice(extra);
        let (code, out, err) = run(&a, "");
        assert_eq!(code, 0, "query {extra:?}: {err}");
        out
    };
    golden("all.table", &q(&["--format", "table"]));
    golden(
        "alice.csv",
        &mask_csv(&q(&["--actor", "alice", "--format", "csv"])),
    );
    golden(
        "failures.json",
        &mask_json(
            &mask_json(
                &q(&["--outcome", "failure", "--format", "json"]),
                "received_at",
            ),
            "leaf_hash",
        ),
    );
    let ndjson = q(&["--action", "auth.*", "--format", "ndjson"]);
    golden(
        "logins.ndjson",
        &mask_json(&mask_json(&ndjson, "received_at"), "leaf_hash"),
    );
    golden("timeline.txt", &q(&["--timeline", "--gap", "10m"]));
    golden("none.json", &q(&["--actor", "nobody", "--format", "json"]));
    golden("none.csv", &q(&["--actor", "nobody", "--format", "csv"]));
    assert_eq!(
        q(&["--limit", "2", "--format", "ndjson"]).lines().count(),
        2
    );
    assert_eq!(
        q(&["-q", "quarterly", "--format", "ndjson"])
            .lines()
            .count(),
        1
    );

    // Bad input: precise message, exit 2.
    for (args, says) in [
        (vec!["--since", "yesterday"], "--since"),
        (vec!["--outcome", "maybe"], "--outcome"),
        (vec!["--timeline", "--format", "csv"], "--timeline"),
    ] {
        let mut a = vec!["query", "--data", d];
        a.extend(args);
        let (code, _, err) = run(&a, "");
        assert_eq!(code, 2, "{err}");
        assert!(err.contains(says), "{err}");
    }

    // The same answers through a server.
    let common::Server {
        child, admin, addr, ..
    } = common::start(&data);
    let reader = common::token(&addr, admin.as_deref().unwrap(), r#"{"role":"auditor"}"#);
    let url = format!("http://{addr}");
    let (code, out, err) = run(
        &[
            "query", "--server", &url, "--token", &reader, "--action", "auth.*", "--format",
            "ndjson",
        ],
        "",
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, ndjson, "server and data directory answers differ");
    // Reading the data directory takes no lock: with the server running,
    // the command line answers the same from the files (it used to refuse).
    let (code, out, err) = run(
        &[
            "query", "--data", d, "--action", "auth.*", "--format", "ndjson",
        ],
        "",
    );
    assert_eq!(code, 0, "a read-only query beside a running server: {err}");
    assert_eq!(
        out, ndjson,
        "the data directory's answer changed with a server running"
    );
    common::stop(child);
    common::unflag(dir.path());
}

#[test]
fn a_closed_pipe_is_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("d");
    let d = d.to_str().unwrap();
    assert_eq!(run(&["init", "--data", d], "").0, 0);
    let many: String = (0..5000)
        .map(|i| {
            format!(
                "{{\"actor\":\"a{i}\",\"action\":\"x.y\",\"message\":\"{}\"}}\n",
                "m".repeat(200)
            )
        })
        .collect();
    assert_eq!(run(&["append", "--data", d], &many).0, 0);
    let mut c = Command::new(common::bin())
        .args(["query", "--data", d, "--format", "ndjson"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(c.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("{\"index\":0,"), "{first}");
    // stdout is closed here, like `| head -1`.
    let o = c.wait_with_output().unwrap();
    assert!(
        o.status.success(),
        "exit {:?}: {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

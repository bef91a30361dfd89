//! Every `curl` example in docs/API.md runs against a real server and gets a
//! successful answer, so the API document cannot drift from the server.

mod common;

use std::process::Command;

#[test]
fn api_md_curl_examples_work() {
    if Command::new("curl").arg("--version").output().is_err() {
        panic!("curl is needed for this test (scripts/test.sh installs it)");
    }
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/API.md")).unwrap();
    // Commands: lines starting with `curl` inside ```sh blocks, with `\` continuations joined.
    let mut cmds = Vec::new();
    let mut in_sh = false;
    let mut cur = String::new();
    for line in doc.lines() {
        if line.starts_with("```") {
            in_sh = line == "```sh";
            continue;
        }
        if !in_sh {
            continue;
        }
        let l = line.trim();
        if cur.is_empty() && !l.starts_with("curl ") {
            continue;
        }
        cur.push_str(l.trim_end_matches('\\'));
        cur.push(' ');
        if !l.ends_with('\\') {
            cmds.push(std::mem::take(&mut cur));
        }
    }
    assert!(cmds.len() >= 5, "expected the API examples, found {cmds:?}");
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let common::Server {
        mut child,
        admin,
        addr,
        ..
    } = common::start(&data);
    let admin = admin.expect("admin token");
    let writer = common::token(&addr, &admin, r#"{"role":"writer","logs":["default"]}"#);
    let reader = common::token(&addr, &admin, r#"{"role":"reader","logs":["default"]}"#);
    let auditor = common::token(&addr, &admin, r#"{"role":"auditor"}"#);
    for cmd in &cmds {
        let cmd = cmd.replace("127.0.0.1:7878", &addr);
        let run = || {
            Command::new("bash")
                .args([
                    "-c",
                    &format!("set -o pipefail; {cmd} --fail-with-body --max-time 20"),
                ])
                .env("ADMIN", &admin)
                .env("WRITER", &writer)
                .env("READER", &reader)
                .env("AUDITOR", &auditor)
                // Files the examples write (`-o`) land here.
                .current_dir(tmp.path())
                .output()
                .unwrap()
        };
        let mut out = run();
        if !out.status.success() {
            // As documented: entries are readable once a checkpoint covers
            // them, at most 1 s after they were appended.
            std::thread::sleep(std::time::Duration::from_millis(1100));
            out = run();
        }
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "docs/API.md example failed:\n{cmd}\n{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !text.contains("\"error\""),
            "docs/API.md example answered an error:\n{cmd}\n{text}"
        );
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let _ = Command::new("chattr")
        .args(["-R", "-a", "-i"])
        .arg(tmp.path())
        .status();
}

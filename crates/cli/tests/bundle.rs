//! Evidence bundles end to end: `export`, then `verify-bundle` (Rust, core
//! crate only) and `tools/verify_bundle.py` (Python, independent) must both
//! accept the bundle and both reject every kind of tampering.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn run(args: &[&str], stdin: Option<&str>) -> Output {
    common::run(args, stdin.unwrap_or(""))
}

fn ok(args: &[&str], stdin: Option<&str>) -> String {
    let o = run(args, stdin);
    assert!(
        o.status.success(),
        "veritrail {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn events(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| {
            let outcome = if i % 7 == 3 { "failure" } else { "success" };
            format!(
                "{{\"action\":\"auth.login\",\"actor\":{{\"id\":\"user-{}\"}},\"outcome\":\"{outcome}\",\"target\":{{\"id\":\"web-{}\"}},\"message\":\"login \\\"quoted\\\" number {i}\"}}\n",
                i % 3,
                i % 2
            )
        })
        .collect()
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// (rust exit code, python exit code, rust stderr)
fn both(bundle: &Path, extra: &[&str]) -> (i32, i32, String) {
    let mut args = vec!["verify-bundle", bundle.to_str().unwrap()];
    args.extend_from_slice(extra);
    let r = run(&args, None);
    let py = Command::new("python3")
        .arg(repo_root().join("tools/verify_bundle.py"))
        .arg(bundle)
        .args(extra)
        .output()
        .expect("python3 with the cryptography package (scripts/test.sh installs it)");
    (
        r.status.code().unwrap(),
        py.status.code().unwrap(),
        String::from_utf8_lossy(&r.stderr).into_owned() + &String::from_utf8_lossy(&py.stderr),
    )
}

fn rewrite(src: &Path, dst: &Path, f: impl FnOnce(&mut Vec<String>)) {
    let text = std::fs::read_to_string(src).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    f(&mut lines);
    std::fs::write(dst, lines.join("\n") + "\n").unwrap();
}

/// One way of changing a bundle's lines.
type Tamper = Box<dyn FnOnce(&mut Vec<String>)>;

fn header(lines: &[String]) -> serde_json::Value {
    serde_json::from_str(&lines[0]).unwrap()
}

#[test]
fn bundles_round_trip_and_every_tampering_fails_in_both_verifiers() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("data");
    let data = d.to_str().unwrap();
    ok(&["init", "--data", data], None);
    ok(&["append", "--data", data], Some(&events(0, 300)));
    let pinned = dir.path().join("pinned.checkpoint");
    std::fs::write(&pinned, ok(&["checkpoint", "--data", data], None)).unwrap();
    ok(&["append", "--data", data], Some(&events(300, 300)));
    let old_checkpoint = std::fs::read_to_string(&pinned).unwrap();
    let key = common::key_of(&d, "default");

    let good = dir.path().join("user1.bundle");
    let out = ok(
        &[
            "export",
            "--data",
            data,
            "--actor",
            "user-1",
            "-o",
            good.to_str().unwrap(),
            "--since-checkpoint",
            pinned.to_str().unwrap(),
        ],
        None,
    );
    assert!(out.contains("exported 200 entries"), "{out}");
    let sys_key = common::key_of(&d, "_system");
    let keys = ["--key", key.as_str(), "--system-key", sys_key.as_str()];
    assert!(
        run(
            &["export", "--data", data, "-o", good.to_str().unwrap()],
            None
        )
        .status
        .code()
            == Some(2),
        "an existing bundle must never be overwritten"
    );
    let (r, p, msg) = both(&good, &keys);
    assert_eq!((r, p), (0, 0), "good bundle refused: {msg}");
    let mut pinned_args = keys.to_vec();
    pinned_args.extend(["--since-checkpoint", pinned.to_str().unwrap()]);
    assert_eq!(both(&good, &pinned_args).0, 0);
    // Every entry's tlog-proof stands alone: the standard text form.
    let first: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(&good)
            .unwrap()
            .lines()
            .nth(1)
            .unwrap(),
    )
    .unwrap();
    let proof = first["proof"].as_str().unwrap();
    assert!(
        proof.starts_with("c2sp.org/tlog-proof@v1\nindex 1\n"),
        "{proof}"
    );
    let parsed = veritrail_core::tlog_proof::TlogProof::parse(proof).unwrap();
    parsed
        .verify(
            first["entry"].as_str().unwrap().as_bytes(),
            &veritrail_core::Verifier::parse(&key).unwrap(),
        )
        .unwrap();
    // The export is recorded in _system.
    let sys = ok(
        &[
            "query",
            "--data",
            data,
            "--log",
            "_system",
            "--action",
            "evidence.export",
            "--format",
            "ndjson",
        ],
        None,
    );
    assert_eq!(sys.lines().count(), 1, "{sys}");

    // A second, valid export to borrow a genuine entry line from.
    let other = dir.path().join("user0.bundle");
    ok(
        &[
            "export",
            "--data",
            data,
            "--actor",
            "user-0",
            "-o",
            other.to_str().unwrap(),
        ],
        None,
    );
    let foreign_line = std::fs::read_to_string(&other)
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .to_owned();

    let t = |name: &str| dir.path().join(format!("{name}.bundle"));
    let cases: Vec<(&str, Tamper)> = vec![
        (
            "edited entry",
            Box::new(|l| l[5] = l[5].replacen("number", "numbr", 1)),
        ),
        (
            "dropped entry",
            Box::new(|l| {
                l.remove(7);
            }),
        ),
        (
            "dropped entry, header count fixed",
            Box::new(|l| {
                l.remove(7);
                let mut h = header(l);
                h["entries"] = serde_json::json!(199);
                l[0] = h.to_string();
            }),
        ),
        (
            "dropped last entry, header count fixed",
            Box::new(|l| {
                let n = l.len();
                l.remove(n - 2);
                let mut h = header(l);
                h["entries"] = serde_json::json!(199);
                l[0] = h.to_string();
            }),
        ),
        (
            "added genuine entry, header count fixed",
            Box::new(move |l| {
                l.insert(1, foreign_line);
                let mut h = header(l);
                h["entries"] = serde_json::json!(201);
                l[0] = h.to_string();
            }),
        ),
        (
            "duplicated entry",
            Box::new(|l| {
                let x = l[3].clone();
                l.insert(3, x);
            }),
        ),
        ("reordered entries", Box::new(|l| l.swap(2, 3))),
        (
            "swapped checkpoint",
            Box::new(move |l| {
                let mut h = header(l);
                h["checkpoint"] = serde_json::json!(old_checkpoint);
                l[0] = h.to_string();
            }),
        ),
        (
            "flipped proof hash",
            Box::new(|l| {
                let mut e: serde_json::Value = serde_json::from_str(&l[4]).unwrap();
                let p = e["proof"].as_str().unwrap().to_owned();
                let line = p.lines().nth(3).unwrap().to_owned();
                let flipped = if line.starts_with('A') {
                    line.replacen('A', "B", 1)
                } else {
                    format!("A{}", &line[1..])
                };
                e["proof"] = serde_json::json!(p.replacen(&line, &flipped, 1));
                l[4] = e.to_string();
            }),
        ),
        (
            "edited query",
            Box::new(|l| {
                let mut h = header(l);
                h["query"] = serde_json::json!({"actor": "user-2"});
                l[0] = h.to_string();
            }),
        ),
        (
            "edited exporter",
            Box::new(|l| {
                let mut h = header(l);
                h["exported_by"] = serde_json::json!("someone@else");
                l[0] = h.to_string();
            }),
        ),
        (
            "edited manifest",
            Box::new(|l| {
                let n = l.len() - 1;
                let mut tr: serde_json::Value = serde_json::from_str(&l[n]).unwrap();
                tr["manifest"] = serde_json::json!(veritrail_core::Hash([7; 32]).to_base64());
                l[n] = tr.to_string();
            }),
        ),
        (
            "truncated",
            Box::new(|l| {
                l.pop();
            }),
        ),
        (
            "future version",
            Box::new(|l| {
                let mut h = header(l);
                h["version"] = serde_json::json!(2);
                l[0] = h.to_string();
            }),
        ),
        (
            "unknown header field",
            Box::new(|l| {
                let mut h = header(l);
                h["note"] = serde_json::json!("hi");
                l[0] = h.to_string();
            }),
        ),
    ];
    for (name, f) in cases {
        let path = t(&name.replace([' ', ','], "_"));
        rewrite(&good, &path, f);
        let (r, p, msg) = both(&path, &keys);
        assert_eq!(
            (r, p),
            (1, 1),
            "{name}: rust exit {r}, python exit {p}: {msg}"
        );
    }
    // A wrong key, for the log and for _system.
    let other_key = common::stranger_key(dir.path());
    for args in [
        [
            "--key",
            other_key.as_str(),
            "--system-key",
            sys_key.as_str(),
        ],
        ["--key", key.as_str(), "--system-key", other_key.as_str()],
        ["--key", sys_key.as_str(), "--system-key", sys_key.as_str()],
    ] {
        let (r, p, msg) = both(&good, &args);
        assert_eq!((r, p), (1, 1), "wrong key {args:?} accepted: {msg}");
    }
    // Pinning a checkpoint the bundle does not start from.
    let newer = dir.path().join("newer.checkpoint");
    std::fs::write(&newer, ok(&["checkpoint", "--data", data], None)).unwrap();
    let mut a = keys.to_vec();
    a.extend(["--since-checkpoint", newer.to_str().unwrap()]);
    let (r, p, msg) = both(&good, &a);
    assert_eq!((r, p), (1, 1), "wrong pinned checkpoint accepted: {msg}");

    // An empty selection still makes a verifiable bundle.
    let empty = dir.path().join("empty.bundle");
    ok(
        &[
            "export",
            "--data",
            data,
            "--actor",
            "nobody",
            "-o",
            empty.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(both(&empty, &keys).0, 0);
    // Exporting _system itself: its own key signs both parts.
    let sysb = dir.path().join("system.bundle");
    ok(
        &[
            "export",
            "--data",
            data,
            "--log",
            "_system",
            "-o",
            sysb.to_str().unwrap(),
        ],
        None,
    );
    let (r, p, msg) = both(&sysb, &["--key", sys_key.as_str()]);
    assert_eq!((r, p), (0, 0), "{msg}");
    common::unflag(dir.path());
}

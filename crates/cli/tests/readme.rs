//! The README's commands run as written (with `cargo run --release --`
//! standing for this build of the binary): the server it starts first, the
//! curl + receipt steps against it, and the command-line path. After tessera's
//! README_test.go: the README cannot drift from the program.

mod common;

use std::process::Command;

/// The ```sh blocks that follow `heading`, in order.
fn blocks(readme: &str, heading: &str) -> Vec<String> {
    let start = readme
        .find(heading)
        .unwrap_or_else(|| panic!("README has {heading:?}"));
    let end = readme[start + heading.len()..]
        .find("\n## ")
        .map_or(readme.len(), |e| start + heading.len() + e);
    let mut out = Vec::new();
    let mut rest = &readme[start..end];
    while let Some(o) = rest.find("```sh\n") {
        let body = &rest[o + 6..];
        let c = body.find("```").unwrap();
        out.push(body[..c].to_owned());
        rest = &body[c..][3..];
    }
    out
}

fn sh(script: &str, dir: &std::path::Path, env: &[(&str, &str)]) -> String {
    // `cargo run --release -- ARGS` → this binary with ARGS (that cargo
    // itself resolves the command to this binary is checked by
    // `cargo_run_in_the_workspace_root_runs_veritrail`).
    let prelude = format!(
        "set -e\ncargo() {{ [ \"$1 $2 $3\" = 'run --release --' ] || {{ echo \"README runs 'cargo $*'; only 'cargo run --release -- ARGS' is known here\" >&2; exit 97; }}; shift 3; \"{}\" \"$@\"; }}\n",
        common::bin()
    );
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("{prelude}{script}"))
        .current_dir(dir)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "README block failed:\n{script}\n---\n{text}"
    );
    text
}

#[test]
fn readme_runs_as_written() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let start = blocks(&readme, "## Start here");
    assert_eq!(
        start[0].trim(),
        "cargo run --release -- serve",
        "the first command is the server"
    );
    assert_eq!(
        start[1].trim(),
        "scripts/test.sh",
        "the second command runs the tests"
    );
    let tmp = tempfile::tempdir().unwrap();
    // The first command, as written (the port comes from the environment;
    // the kernel picks it and the server reports it).
    let mut cmd = Command::new(common::bin());
    cmd.arg("serve").current_dir(tmp.path());
    let common::Server {
        child: mut server,
        admin,
        addr,
        ..
    } = common::serve_child(cmd, &[("VERITRAIL_LISTEN", "127.0.0.1:0")]);
    let admin = admin.expect("serve printed a first admin token");
    assert!(
        tmp.path().join("veritrail-data/veritrail.data").exists(),
        "serve created ./veritrail-data"
    );
    // First steps: token, append with receipt, verify the receipt.
    let first = blocks(&readme, "## First steps");
    let out = sh(
        &first[0].replace("127.0.0.1:7878", &addr),
        tmp.path(),
        &[("ADMIN", &admin)],
    );
    assert!(
        out.contains("OK: 1 entry included"),
        "receipt not verified:\n{out}"
    );
    // A tampered receipt, or one checked against another key, fails with exit 1.
    let receipt: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("receipt.json")).unwrap()).unwrap();
    let mut bad = receipt.clone();
    let leaf = bad["entries"][0]["leaf_hash"].as_str().unwrap().to_owned();
    let flipped = if leaf.starts_with('A') {
        leaf.replacen('A', "B", 1)
    } else {
        format!("A{}", &leaf[1..])
    };
    bad["entries"][0]["leaf_hash"] = serde_json::json!(flipped);
    std::fs::write(tmp.path().join("bad.json"), bad.to_string()).unwrap();
    let other_key = Command::new(common::bin())
        .args(["keygen", "--origin", "someone.else/log", "--out"])
        .arg(tmp.path().join("k"))
        .output()
        .unwrap();
    let other_key = String::from_utf8_lossy(&other_key.stdout).trim().to_owned();
    for (file, key) in [
        ("bad.json", None),
        ("receipt.json", Some(other_key.as_str())),
    ] {
        let mut c = Command::new(common::bin());
        c.arg("verify-receipt").arg(tmp.path().join(file));
        if let Some(k) = key {
            c.args(["--key", k]);
        }
        let o = c.output().unwrap();
        assert_eq!(
            o.status.code(),
            Some(1),
            "{file} with {key:?} must fail: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    server.kill().unwrap();
    server.wait().unwrap();
    // Without a server.
    let cli = blocks(&readme, "## Without a server");
    let out = sh(&cli[0], tmp.path(), &[]);
    assert!(
        out.contains("OK: log \"default\""),
        "verify did not report OK:\n{out}"
    );
    assert!(
        out.contains("\"index\":0"),
        "append did not print the ack:\n{out}"
    );
    // For auditors: timeline, export with a pinned checkpoint, verify-bundle.
    let audit = blocks(&readme, "## For auditors");
    let out = sh(&audit[0], tmp.path(), &[]);
    assert!(
        out.contains("== alice: 2 events, 1 failure"),
        "no timeline:\n{out}"
    );
    assert!(
        out.contains("OK: 2 entries")
            && out.contains("consistent with the pinned checkpoint at size 1"),
        "bundle not verified:\n{out}"
    );
    let py = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tools/verify_bundle.py"
        ))
        .arg(tmp.path().join("alice.bundle"))
        .output()
        .unwrap();
    assert!(
        py.status.success(),
        "{}",
        String::from_utf8_lossy(&py.stderr)
    );
    let _ = Command::new("chattr")
        .args(["-R", "-a", "-i"])
        .arg(tmp.path())
        .status();
}

/// Every command in README is `cargo run --release -- …` in the workspace
/// root, so cargo itself must resolve that to the `veritrail` binary (it
/// refused while the workspace's default members built several binaries:
/// "could not determine which binary to run"). Runs the real cargo, as a
/// newcomer would, in this checkout.
#[test]
fn cargo_run_in_the_workspace_root_runs_veritrail() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["run", "--release", "--quiet", "--", "--version"])
        .current_dir(root)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.starts_with("veritrail "),
        "`cargo run --release -- --version` in the workspace root failed:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

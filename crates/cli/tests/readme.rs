//! The README's first command block is run as written (with `cargo run
//! --release --` standing for this build of the binary), so the README cannot
//! drift from the program. After tessera's README_test.go.

use std::process::Command;

#[test]
fn readme_quick_start_runs() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let start = readme
        .find("## Start here")
        .expect("README has a Start here section");
    let rest = &readme[start..];
    let open = rest.find("```sh\n").expect("a sh block") + 6;
    let close = open + rest[open..].find("```").expect("block end");
    let script = &rest[open..close];
    assert!(
        script.contains("cargo run --release --"),
        "the quick start runs the binary"
    );
    let tmp = tempfile::tempdir().unwrap();
    // `cargo run --release -- ARGS` → this binary with ARGS.
    let prelude = format!(
        "set -e\ncargo() {{ shift 3; \"{}\" \"$@\"; }}\n",
        env!("CARGO_BIN_EXE_veritrail")
    );
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("{prelude}{script}"))
        .current_dir(tmp.path())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "README quick start failed:\n{script}\n---\n{text}"
    );
    assert!(
        text.contains("OK: log \"default\""),
        "verify did not report OK:\n{text}"
    );
    assert!(
        text.contains("\"index\":0"),
        "append did not print the ack:\n{text}"
    );
    let _ = Command::new("chattr")
        .args(["-R", "-a", "-i"])
        .arg(tmp.path())
        .status();
}

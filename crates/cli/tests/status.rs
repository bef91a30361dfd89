//! `veritrail status` names a log whose creation a crash interrupted, and
//! `veritrail log create` finishes it.

mod common;

#[test]
fn status_names_an_unfinished_log_and_log_create_finishes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let data = common::init_data(tmp.path());
    let d = data.to_str().unwrap();
    // What a crash right after the log's directory was made leaves.
    std::fs::create_dir_all(data.join("logs/half/wal")).unwrap();
    let text = |o: std::process::Output| common::text(&o);
    let out = text(common::run(&["status", "--data", d], ""));
    assert!(out.contains("log half: unfinished"), "{out}");
    assert!(out.contains("log default\n"), "{out}");
    let o = common::run(&["checkpoint", "--data", d, "--log", "half"], "");
    assert_eq!(o.status.code(), Some(2));
    let out = text(o);
    assert!(
        out.contains("incomplete") && out.contains("log create half"),
        "{out}"
    );
    let o = common::run(&["log", "create", "half", "--data", d], "");
    assert!(o.status.success(), "{}", text(o));
    let out = text(common::run(&["status", "--data", d], ""));
    assert!(!out.contains("unfinished"), "{out}");
    assert!(out.contains("log half\n"), "{out}");
    let o = common::run(&["verify", "--data", d, "--log", "half"], "");
    assert!(o.status.success(), "{}", text(o));
    common::unflag(tmp.path());
}

/// Each `veritrail verify` run is kept in the data directory, and `status`
/// says how the last one ended — a failed one with the log and why.
#[test]
fn status_shows_the_last_verify_run() {
    let tmp = tempfile::tempdir().unwrap();
    let data = common::init_data(tmp.path());
    let (_, out) = common::run_on(&["status"], &data, None);
    assert!(out.contains("last verify: never run"), "{out}");
    let (code, out) = common::run_on(&["verify", "--quiet"], &data, None);
    assert_eq!(code, 0, "{out}");
    let (_, out) = common::run_on(&["status"], &data, None);
    assert!(out.contains("last verify: OK at "), "{out}");
    assert!(out.contains("(every log)"), "{out}");
    // A key that is not the log's: the run fails, and status says so.
    let stranger = common::stranger_key(tmp.path());
    let (code, out) = common::run_on(
        &["verify", "--quiet", "--key", &stranger, "--log", "default"],
        &data,
        None,
    );
    assert_eq!(code, 1, "{out}");
    let (_, out) = common::run_on(&["status"], &data, None);
    assert!(out.contains("last verify: FAILED at "), "{out}");
    assert!(out.contains("(log default, key pinned)"), "{out}");
    assert!(out.contains("FAILED: default: the log's key"), "{out}");
    common::unflag(tmp.path());
}

//! SIGTERM: the server finishes, signs a final checkpoint covering every
//! acknowledged entry, records its stop, and exits 0.

mod common;

use std::process::Command;
use std::sync::Arc;

#[test]
fn sigterm_signs_a_final_checkpoint_and_exits_zero() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let common::Server {
        mut child,
        admin,
        addr,
        ..
    } = common::start(&data);
    let writer = common::token(
        &addr,
        &admin.expect("admin token"),
        r#"{"role":"writer","logs":["default"]}"#,
    );
    let mut acked = 0;
    for i in 0..20 {
        let (s, b) = common::post(
            &addr,
            "/v1/logs/default/events",
            &writer,
            &format!(r#"{{"action":"a.b","actor":"u{i}"}}"#),
        )
        .unwrap();
        assert_eq!(s, 201, "{b}");
        acked += 1;
    }
    // Right away, before the 1 s checkpoint interval has passed.
    let st = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "graceful shutdown must exit 0");
    // Read-only: the history's newest checkpoint was signed by the server on its way out.
    let dd = veritrail_store::DataDir::open(Arc::new(veritrail_store::RealFs), &data).unwrap();
    assert_eq!(dd.status("default").unwrap().checkpoint_size, acked);
    let sys = dd.status("_system").unwrap();
    assert!(
        sys.checkpoint_size >= 3,
        "start, token creation and stop are recorded: {}",
        sys.checkpoint_size
    );
    let _ = Command::new("chattr")
        .args(["-R", "-a", "-i"])
        .arg(tmp.path())
        .status();
}

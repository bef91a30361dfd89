//! `veritrail token create|list|revoke` work offline on a data directory, and
//! the tokens they make are the ones the server accepts.

mod common;

use std::process::Command;

fn run(args: &[&str]) -> (i32, String, String) {
    common::run3(args, "")
}

#[test]
fn token_lifecycle_offline() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("d");
    let ds = d.to_str().unwrap();
    assert_eq!(run(&["init", "--data", ds]).0, 0);
    let (code, secret, err) = run(&[
        "token",
        "create",
        "--data",
        ds,
        "--role",
        "writer",
        "--log",
        "default",
        "--name",
        "app",
        "--expires",
        "30d",
    ]);
    assert_eq!(code, 0, "{err}");
    let secret = secret.trim().to_owned();
    assert!(secret.starts_with("vt_") && secret.len() > 40, "{secret}");
    // Only the hash is stored.
    let file = std::fs::read_to_string(d.join("tokens.json")).unwrap();
    assert!(!file.contains(&secret), "the secret must never be stored");
    let store = veritrail_server::tokens::TokenStore::open(&d).unwrap();
    let t = store
        .authenticate(&secret)
        .expect("the CLI's token authenticates");
    assert!(t.can_write("default") && !t.can_write("other"));
    // Bad requests are refused with exit 2 and change nothing.
    for args in [
        vec!["token", "create", "--data", ds, "--role", "writer"],
        vec!["token", "create", "--data", ds, "--role", "king"],
        vec![
            "token", "create", "--data", ds, "--role", "reader", "--log", "nope",
        ],
        vec![
            "token",
            "create",
            "--data",
            ds,
            "--role",
            "admin",
            "--expires",
            "soon",
        ],
        vec!["token", "revoke", "--data", ds, "tok_nothere"],
    ] {
        let (code, _, err) = run(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
    }
    let (_, list, _) = run(&["token", "list", "--data", ds]);
    assert_eq!(list.lines().count(), 1, "{list}");
    assert!(list.contains("active"));
    assert_eq!(run(&["token", "revoke", "--data", ds, &t.id]).0, 0);
    let (_, list, _) = run(&["token", "list", "--data", ds]);
    assert!(list.contains("revoked"), "{list}");
    let store = veritrail_server::tokens::TokenStore::open(&d).unwrap();
    assert!(
        store.authenticate(&secret).is_none(),
        "a revoked token must not authenticate"
    );
    // Both changes are in the audit trail.
    let dd =
        veritrail_store::DataDir::open(std::sync::Arc::new(veritrail_store::RealFs), &d).unwrap();
    let sys = dd
        .open_log("_system", veritrail_store::LogConfig::default())
        .unwrap();
    let size = sys.published().size;
    let all: Vec<String> = sys
        .entries(0, size)
        .unwrap()
        .iter()
        .map(|e| String::from_utf8_lossy(e).into_owned())
        .collect();
    assert!(
        all.iter()
            .any(|e| e.contains("\"token.create\"") && e.contains(&t.id)),
        "{all:?}"
    );
    assert!(
        all.iter()
            .any(|e| e.contains("\"token.revoke\"") && e.contains(&t.id)),
        "{all:?}"
    );
    drop(sys);
    let _ = Command::new("chattr")
        .args(["-R", "-a", "-i"])
        .arg(tmp.path())
        .status();
}

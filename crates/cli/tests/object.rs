//! Object storage (issue 23) against a real S3 API on loopback:
//! `moto_server` (PyPI `moto[server]`) with an Object Lock bucket in
//! COMPLIANCE mode, boto3 (`tools/s3ctl.py`) as the third party, and the
//! bucket verified over its HTTP endpoint by our verifier and by
//! golang.org/x/mod's.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use veritrail_bucket::testing::Moto;

const CREDS: [(&str, &str); 2] = [
    ("AWS_ACCESS_KEY_ID", "testing"),
    ("AWS_SECRET_ACCESS_KEY", "testing"),
];

/// golang.org/x/mod's checker of tlog-tiles trees (interop/go), built once.
fn go_checker() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/go");
            let out =
                std::env::temp_dir().join(format!("veritrail-interop-{}", std::process::id()));
            let o = Command::new("go")
                .args(["build", "-o"])
                .arg(&out)
                .arg(".")
                .current_dir(&src)
                .env("GO111MODULE", "off")
                .env("GOPATH", "/usr/share/gocode")
                .env("GOFLAGS", "")
                .env("GOCACHE", std::env::temp_dir().join("veritrail-gocache"))
                .output()
                .expect("go (Debian golang-go)");
            assert!(
                o.status.success(),
                "go build: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            out
        })
        .clone()
}

fn doctor(m: &Moto, url: &str) -> (i32, String) {
    let o = Command::new(common::bin())
        .args(["doctor", "--store", url, "--s3-endpoint", &m.endpoint])
        .envs(CREDS)
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

/// The size of the checkpoint at `path` of the bucket's endpoint, fetched
/// anonymously over HTTP (0 when there is none).
fn bucket_size(m: &Moto, path: &str) -> u64 {
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", m.port)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    if !resp.starts_with("HTTP/1.1 200") {
        return 0;
    }
    let body = resp.split("\r\n\r\n").nth(1).unwrap_or("");
    body.lines()
        .nth(1)
        .and_then(|l| l.parse().ok())
        .unwrap_or(0)
}

fn metric(addr: &str, admin: &str, line_start: &str) -> Option<String> {
    let (_, m) = common::get(addr, "/metrics", admin).unwrap();
    m.lines()
        .find(|l| l.starts_with(line_start))
        .map(|l| l.rsplit(' ').next().unwrap().to_owned())
}

/// Waits (up to 20 s) until `_system` holds an `action` record whose JSON
/// contains `needle`.
fn wait_in_system(addr: &str, auditor: &str, action: &str, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (s, body) = common::get(
            addr,
            &format!("/v1/logs/_system/events?action={action}"),
            auditor,
        )
        .unwrap();
        assert_eq!(s, 200, "{body}");
        if body.contains(needle) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no {action} with {needle:?} in _system: {body}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Waits (up to 10 s) until `veritrail status` shows `needle`; returns its output.
fn wait_in_status(data: &Path, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let t = common::text(&common::run(
            &["status", "--data", data.to_str().unwrap()],
            "",
        ));
        if t.contains(needle) {
            return t;
        }
        assert!(Instant::now() < deadline, "status: {t}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn serve(data: &Path, m: &Moto, extra: &[&str]) -> common::Server {
    let mut args = vec![
        "--listen",
        "127.0.0.1:0",
        "--checkpoint-interval",
        "100ms",
        "--s3-endpoint",
        &m.endpoint,
    ];
    args.extend_from_slice(extra);
    common::start_with(data, &args, &CREDS)
}

#[test]
fn serve_keeps_a_locked_bucket_that_verifies_and_reports_tampering() {
    let m = Moto::start();
    m.locked_bucket("evidence", 1);
    // A public log: anyone may read the tiles (docs/SCALE.md).
    let (rc, out) = m.s3ctl(&["public-read", "evidence", "prod"]);
    assert_eq!(rc, 0, "{out}");
    let (code, out) = doctor(&m, "s3://evidence/prod");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("may hold evidence"), "{out}");

    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let server = serve(
        &data,
        &m,
        &[
            "--store",
            "s3://evidence/prod",
            "--durability",
            "object",
            "--object-scan-interval",
            "1s",
        ],
    );
    let admin = server.admin.clone().unwrap();
    let writer = common::token(
        &server.addr,
        &admin,
        r#"{"role":"writer","logs":["default"]}"#,
    );
    let auditor = common::token(&server.addr, &admin, r#"{"role":"auditor"}"#);
    // With --durability object, an acknowledged event is in the bucket,
    // under a checkpoint that covers it, when the answer arrives.
    let mut end = 0;
    for b in 0..12 {
        let body: Vec<String> = (0..(b * 31 + 1))
            .map(|i| format!(r#"{{"action":"user.login","actor":"u{b}-{i}"}}"#))
            .collect();
        let (s, r) = common::post(
            &server.addr,
            "/v1/logs/default/events",
            &writer,
            &format!("[{}]", body.join(",")),
        )
        .unwrap();
        assert_eq!(s, 201, "{r}");
        let v: serde_json::Value = serde_json::from_str(&r).unwrap();
        let entries = v["entries"].as_array().unwrap();
        assert_eq!(entries.len(), body.len());
        end = entries.last().unwrap()["index"].as_u64().unwrap() + 1;
        let held = bucket_size(&m, "/evidence/prod/default/checkpoint");
        assert!(held >= end, "acked up to {end}, the bucket holds {held}");
    }
    assert_eq!(
        metric(
            &server.addr,
            &admin,
            "veritrail_object_state{log=\"default\"}"
        )
        .as_deref(),
        Some("0")
    );
    let vkey = common::key_of(&data, "default");
    let bucket_url = format!("{}/evidence/prod/default", m.endpoint);
    // Our verifier, over the bucket's HTTP endpoint.
    let o = Command::new(common::bin())
        .args(["verify", "--tiles", &bucket_url, "--key", &vkey])
        .output()
        .unwrap();
    assert!(o.status.success(), "verify --tiles: {}", common::text(&o));
    // golang.org/x/mod's, over the same endpoint.
    let o = Command::new(go_checker())
        .args(["check-tiles", &bucket_url, &vkey])
        .output()
        .unwrap();
    assert!(o.status.success(), "x/mod: {}", common::text(&o));
    assert!(
        common::text(&o).contains(&format!("tiles of {end} entries")),
        "{}",
        common::text(&o)
    );

    // The bucket refuses to delete a locked version, credentials or not.
    let (rc, out) = m.s3ctl(&[
        "delete-version",
        "evidence",
        "prod/default/tile/entries/000",
    ]);
    assert_eq!(rc, 3, "{out}");
    // A delete marker is allowed by S3 and hides the object: the server
    // records it in _system and /metrics shows it.
    let (rc, out) = m.s3ctl(&["delete", "evidence", "prod/default/tile/entries/000"]);
    assert_eq!(rc, 0, "{out}");
    wait_in_system(
        &server.addr,
        &auditor,
        "object_storage.tampered",
        "prod/default/tile/entries/000: a delete marker",
    );
    assert_eq!(
        metric(
            &server.addr,
            &admin,
            "veritrail_object_tampered{log=\"default\"}"
        )
        .as_deref(),
        Some("1")
    );
    // `veritrail status` shows it too, from the running server.
    let t = wait_in_status(
        &data,
        "tampered: prod/default/tile/entries/000: a delete marker",
    );
    assert!(
        t.contains("object storage: s3://evidence/prod (durability object)"),
        "{t}"
    );
    assert!(t.contains("log default: the bucket holds"), "{t}");
    let (code, out) = doctor(&m, "s3://evidence/prod");
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("prod/default/tile/entries/000: a delete marker"),
        "{out}"
    );

    // kill -9 and start again: the drainer reads the bucket's checkpoint,
    // finds it is this log's, and carries on; uploads repeated after the
    // crash find their objects already there with the same bytes.
    let mut child = server.child;
    child.kill().unwrap();
    child.wait().unwrap();
    let server = serve(
        &data,
        &m,
        &["--store", "s3://evidence/prod", "--durability", "object"],
    );
    let (s, r) = common::post(
        &server.addr,
        "/v1/logs/default/events",
        &writer,
        r#"{"action":"user.logout","actor":"after-restart"}"#,
    )
    .unwrap();
    assert_eq!(s, 201, "{r}");
    assert!(bucket_size(&m, "/evidence/prod/default/checkpoint") > end);
    // The _system log is in the bucket too, and verifies.
    let skey = common::key_of(&data, "_system");
    common::wait_verified_tiles(
        &format!("{}/evidence/prod/_system", m.endpoint),
        &skey,
        20,
        &|| "_system in the bucket".into(),
    );
    common::terminate(server.child);
    common::unflag(tmp.path());
}

#[test]
fn a_bucket_that_refuses_uploads_stops_ingest_until_it_takes_them() {
    let m = Moto::start();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    // An integrity rule watching object storage.
    let rules = tmp.path().join("rules.toml");
    std::fs::write(
        &rules,
        "[[rule]]\nname = \"bucket-trouble\"\nkind = \"integrity\"\nseverity = \"critical\"\ndescription = \"the bucket\"\ncheck = \"object_storage\"\n",
    )
    .unwrap();
    // The bucket does not exist: S3 answers 404 NoSuchBucket to every upload.
    let server = serve(
        &data,
        &m,
        &[
            "--store",
            "s3://not-there-yet/x",
            "--rules",
            rules.to_str().unwrap(),
        ],
    );
    assert!(
        server
            .lines
            .iter()
            .any(|l| l.contains("WARNING") && l.contains("not-there-yet")),
        "{:?}",
        server.lines
    );
    let admin = server.admin.clone().unwrap();
    let writer = common::token(
        &server.addr,
        &admin,
        r#"{"role":"writer","logs":["default"]}"#,
    );
    let event = r#"{"action":"user.login","actor":"a"}"#;
    let deadline = Instant::now() + Duration::from_secs(30);
    let body = loop {
        let (s, b) = common::post(&server.addr, "/v1/logs/default/events", &writer, event).unwrap();
        if s == 503 {
            break b;
        }
        assert_eq!(s, 201, "{b}");
        assert!(Instant::now() < deadline, "ingest never stopped");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(body.contains("log_unavailable"), "{body}");
    // The client hears that, not the bucket's name or the store's words.
    assert!(
        !body.contains("not-there-yet") && !body.contains("NoSuchBucket"),
        "{body}"
    );
    assert_eq!(
        metric(
            &server.addr,
            &admin,
            "veritrail_object_state{log=\"default\"}"
        )
        .as_deref(),
        Some("2")
    );
    let t = wait_in_status(&data, "log default: the bucket holds 0 entries, refused");
    assert!(
        t.contains("NoSuchBucket"),
        "the operator sees the store's words: {t}"
    );
    // The rule fired, and its alert is evidence in _system.
    let auditor = common::token(&server.addr, &admin, r#"{"role":"auditor"}"#);
    wait_in_system(&server.addr, &auditor, "alert.fired", "bucket-trouble");
    // Once the bucket exists, uploads work on the next retry and ingest resumes.
    m.locked_bucket("not-there-yet", 1);
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (s, b) = common::post(&server.addr, "/v1/logs/default/events", &writer, event).unwrap();
        if s == 201 {
            break;
        }
        assert_eq!(s, 503, "{b}");
        assert!(Instant::now() < deadline, "ingest did not resume");
        std::thread::sleep(Duration::from_millis(250));
    }
    common::terminate(server.child);
    common::unflag(tmp.path());
}

#[test]
fn doctor_says_what_a_plain_bucket_lacks() {
    let m = Moto::start();
    let (rc, out) = m.s3ctl(&["create-plain", "plain"]);
    assert_eq!(rc, 0, "{out}");
    let (code, out) = doctor(&m, "s3://plain/logs");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAIL versioning: never enabled"), "{out}");
    assert!(
        out.contains("put-bucket-versioning --bucket plain"),
        "{out}"
    );
    assert!(out.contains("FAIL Object Lock: not configured"), "{out}");
    let (code, out) = doctor(&m, "http://plain/logs");
    assert_eq!(code, 2, "{out}");
}

//! Many nodes, one bucket (issue 23): three real `veritrail serve` nodes
//! share an Object Lock bucket on `moto_server`; each log has exactly one
//! writer (the holder of its lease); writes sent to another node are
//! redirected; SIGKILL of a log's owner during ingest hands the log to
//! another node within the lease time, every event acknowledged under
//! `--durability object` is in the bucket afterwards, and every checkpoint
//! the bucket ever held is on one chain.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use veritrail_bucket::testing::Moto;
use veritrail_bucket::{Bucket, Location};

const CREDS: [(&str, &str); 2] = [
    ("AWS_ACCESS_KEY_ID", "testing"),
    ("AWS_SECRET_ACCESS_KEY", "testing"),
];

struct Node {
    name: String,
    server: Option<common::Server>,
    writer: String,
    auditor: String,
}

fn start(data: &Path, m: &Moto, name: &str) -> common::Server {
    common::start_with(
        data,
        &[
            "--listen",
            "127.0.0.1:0",
            "--checkpoint-interval",
            "100ms",
            "--s3-endpoint",
            &m.endpoint,
            "--store",
            "s3://shared/c",
            "--durability",
            "object",
            "--node",
            name,
            "--lease-ttl",
            "2s",
            "--object-scan-interval",
            "off",
        ],
        &CREDS,
    )
}

fn lease_of(b: &Bucket, log: &str) -> Option<serde_json::Value> {
    b.get(&format!("c/{log}/lease"))
        .unwrap()
        .map(|(bytes, _)| serde_json::from_slice(&bytes).unwrap())
}

/// Posts one event; (status, first index or the Location header, body).
fn post(addr: &str, token: &str, body: &str) -> (u16, String) {
    let (s, b) = common::post(addr, "/v1/logs/payments/events", token, body).unwrap();
    (s, b)
}

fn raw_post(addr: &str, token: &str, body: &str) -> String {
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST /v1/logs/payments/events HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut r = String::new();
    s.read_to_string(&mut r).unwrap();
    r
}

#[test]
fn one_writer_per_log_redirects_and_failover_without_loss_or_fork() {
    let m = Moto::start();
    m.locked_bucket("shared", 1);
    let (rc, out) = m.s3ctl(&["public-read", "shared", "c"]);
    assert_eq!(rc, 0, "{out}");
    let tmp = tempfile::tempdir().unwrap();
    let d1 = tmp.path().join("n1");
    let o = common::run(
        &[
            "init",
            "--data",
            d1.to_str().unwrap(),
            "--origin-prefix",
            "audit.test",
        ],
        "",
    );
    assert!(o.status.success(), "{}", common::text(&o));
    let o = common::run(
        &["log", "create", "payments", "--data", d1.to_str().unwrap()],
        "",
    );
    assert!(o.status.success(), "{}", common::text(&o));
    let vkey = String::from_utf8(o.stdout).unwrap().trim().to_owned();
    let mut dirs = vec![d1.clone()];
    for n in ["n2", "n3"] {
        let d = tmp.path().join(n);
        let o = common::run(
            &[
                "init",
                "--data",
                d.to_str().unwrap(),
                "--join",
                d1.to_str().unwrap(),
            ],
            "",
        );
        assert!(o.status.success(), "{}", common::text(&o));
        assert!(
            common::text(&o).contains("payments"),
            "{}",
            common::text(&o)
        );
        dirs.push(d);
    }
    let mut nodes: Vec<Node> = Vec::new();
    for (k, d) in dirs.iter().enumerate() {
        let name = format!("n{}", k + 1);
        let server = start(d, &m, &name);
        let admin = server.admin.clone().unwrap();
        let writer = common::token(
            &server.addr,
            &admin,
            r#"{"role":"writer","logs":["payments","default"]}"#,
        );
        let auditor = common::token(&server.addr, &admin, r#"{"role":"auditor"}"#);
        nodes.push(Node {
            name,
            server: Some(server),
            writer,
            auditor,
        });
    }
    let b = Bucket::open(&Location::parse("s3://shared/c").unwrap(), &m.settings()).unwrap();
    // Exactly one node holds the lease, and only it takes writes; the
    // others redirect to it.
    let deadline = Instant::now() + Duration::from_secs(30);
    let owner = loop {
        if let Some(l) = lease_of(&b, "payments") {
            let o = l["owner"].as_str().unwrap().to_owned();
            let k = nodes.iter().position(|n| n.name == o).unwrap();
            let (s, _) = post(
                &nodes[k].server.as_ref().unwrap().addr,
                &nodes[k].writer,
                r#"{"action":"a.b","actor":"x"}"#,
            );
            if s == 201 {
                break k;
            }
        }
        assert!(Instant::now() < deadline, "no node took payments");
        std::thread::sleep(Duration::from_millis(100));
    };
    let owner_addr = nodes[owner].server.as_ref().unwrap().addr.clone();
    for (k, n) in nodes.iter().enumerate() {
        if k == owner {
            continue;
        }
        // A node that has not yet read the lease answers 503 with
        // Retry-After (never 404: the cluster has the log).
        let deadline = Instant::now() + Duration::from_secs(10);
        let r = loop {
            let r = raw_post(
                &n.server.as_ref().unwrap().addr,
                &n.writer,
                r#"{"action":"a.b","actor":"y"}"#,
            );
            if !r.starts_with("HTTP/1.1 503") || Instant::now() > deadline {
                break r;
            }
            assert!(r.to_ascii_lowercase().contains("retry-after: 1"), "{r}");
            std::thread::sleep(Duration::from_millis(100));
        };
        assert!(r.starts_with("HTTP/1.1 307"), "{r}");
        assert!(
            r.to_ascii_lowercase().contains(&format!(
                "location: http://{owner_addr}/v1/logs/payments/events"
            )),
            "{r}"
        );
    }

    // Ingest into the owner from a client thread, then SIGKILL the owner.
    let acked: Arc<Mutex<Vec<(u64, String)>>> = Arc::default();
    let (a2, addr, token) = (
        acked.clone(),
        owner_addr.clone(),
        nodes[owner].writer.clone(),
    );
    let client = std::thread::spawn(move || {
        for i in 0.. {
            let body: Vec<String> = (0..20)
                .map(|k| format!(r#"{{"action":"payment.create","actor":"c{i}-{k}"}}"#))
                .collect();
            let Ok((s, r)) = common::post(
                &addr,
                "/v1/logs/payments/events",
                &token,
                &format!("[{}]", body.join(",")),
            ) else {
                return;
            };
            if s != 201 {
                return;
            }
            let v: serde_json::Value = serde_json::from_str(&r).unwrap();
            for e in v["entries"].as_array().unwrap() {
                a2.lock().unwrap().push((
                    e["index"].as_u64().unwrap(),
                    e["leaf_hash"].as_str().unwrap().to_owned(),
                ));
            }
        }
    });
    std::thread::sleep(Duration::from_millis(1500));
    let mut dead = nodes[owner].server.take().unwrap();
    dead.child.kill().unwrap();
    let killed_at = Instant::now();
    dead.child.wait().unwrap();
    client.join().unwrap();
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 40,
        "only {} events acknowledged before the kill",
        acked.len()
    );

    // Another node takes over within the lease time (plus a round).
    let deadline = Instant::now() + Duration::from_secs(30);
    let (next, first_after) = loop {
        let mut got = None;
        for (k, n) in nodes.iter().enumerate() {
            let Some(s) = &n.server else { continue };
            let (st, r) = post(
                &s.addr,
                &n.writer,
                r#"{"action":"after.failover","actor":"z"}"#,
            );
            if st == 201 {
                let v: serde_json::Value = serde_json::from_str(&r).unwrap();
                got = Some((k, v["entries"][0]["index"].as_u64().unwrap()));
                break;
            }
        }
        if let Some(g) = got {
            break g;
        }
        assert!(Instant::now() < deadline, "no node took payments over");
        std::thread::sleep(Duration::from_millis(100));
    };
    let took = killed_at.elapsed();
    eprintln!(
        "failover: {} took payments over {took:?} after the kill",
        nodes[next].name
    );
    assert!(took < Duration::from_secs(10), "{took:?}");
    // Every acknowledged event keeps its index; the new one comes after.
    let max_acked = acked.iter().map(|a| a.0).max().unwrap();
    assert!(first_after > max_acked, "{first_after} <= {max_acked}");
    let remote = veritrail_bucket::read::RemoteLog::new(
        b.clone(),
        "payments",
        veritrail_core::note::Verifier::parse(&vkey).unwrap(),
    );
    // The bucket holds the new owner's checkpoint after the write.
    let deadline = Instant::now() + Duration::from_secs(20);
    let (cp, _) = loop {
        let (cp, bytes) = remote.checkpoint().unwrap().unwrap();
        if cp.size.0 > first_after {
            break (cp, bytes);
        }
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(100));
    };
    let entries = remote.entries(&cp, 0, max_acked + 1).unwrap();
    for (i, h) in &acked {
        let lh = veritrail_core::hash::leaf_hash(&entries[*i as usize]);
        assert_eq!(&lh.to_base64(), h, "entry {i}");
    }
    // One chain: every checkpoint version the bucket kept is a prefix of the last.
    let (rc, out) = m.s3ctl(&["versions", "shared", "c/payments/checkpoint"]);
    assert_eq!(rc, 0);
    let mut n = 0;
    for line in out.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let (rc, body) = m.s3ctl(&[
            "get-version",
            "shared",
            "c/payments/checkpoint",
            v["version"].as_str().unwrap(),
        ]);
        assert_eq!(rc, 0);
        let c = veritrail_core::open_checkpoint(
            body.as_bytes(),
            &veritrail_core::note::Verifier::parse(&vkey).unwrap(),
            &[],
        )
        .unwrap();
        assert_eq!(
            remote.root_at(&cp, c.checkpoint.size.0).unwrap(),
            c.checkpoint.root
        );
        n += 1;
    }
    assert!(n > 3, "{n} checkpoint versions");
    // The takeover is evidence, with what the dead owner had said it held.
    let s = nodes[next].server.as_ref().unwrap();
    let (st, body) = common::get(
        &s.addr,
        "/v1/logs/_system/events?action=cluster.takeover",
        &nodes[next].auditor,
    )
    .unwrap();
    assert_eq!(st, 200, "{body}");
    assert!(
        body.contains(&format!("\"previous_owner\":\"{}\"", nodes[owner].name)),
        "{body}"
    );
    // The bucket verifies with our verifier after all that.
    let o = Command::new(common::bin())
        .args([
            "verify",
            "--tiles",
            &format!("{}/shared/c/payments", m.endpoint),
            "--key",
            &vkey,
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "verify --tiles: {}", common::text(&o));
    // And through the S3 API with credentials, every kept checkpoint
    // version included.
    let verify_bucket = || {
        Command::new(common::bin())
            .args([
                "verify-bucket",
                "--store",
                "s3://shared/c",
                "--s3-endpoint",
                &m.endpoint,
                "--log",
                "payments",
                "--key",
                &vkey,
            ])
            .envs(CREDS)
            .output()
            .unwrap()
    };
    let o = verify_bucket();
    assert!(o.status.success(), "verify-bucket: {}", common::text(&o));
    assert!(
        common::text(&o).contains("all on one chain"),
        "{}",
        common::text(&o)
    );
    // Someone with write access overwrites an entry bundle (a new version
    // on top of the locked one): verify-bucket says so.
    let (rc, out) = m.s3ctl(&[
        "overwrite",
        "shared",
        "c/payments/tile/entries/000",
        "forged",
    ]);
    assert_eq!(rc, 0, "{out}");
    let o = verify_bucket();
    assert_eq!(o.status.code(), Some(1), "{}", common::text(&o));
    assert!(
        common::text(&o).contains("tile/entries/000"),
        "{}",
        common::text(&o)
    );
    for n in &mut nodes {
        if let Some(s) = n.server.take() {
            common::terminate(s.child);
        }
    }
    common::unflag(tmp.path());
}

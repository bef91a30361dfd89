//! Read replicas (issue 23) against a real S3 API on loopback
//! (`moto_server`): a writer drains its log into an Object Lock bucket, a
//! `serve --read-only` replica with no signing key copies it from there and
//! serves checkpoints, tiles, proofs, entries and query. While the writer
//! ingests, the replica's proofs verify against the writer's checkpoints
//! (signed by the writer's key, byte for byte); writes to the replica are
//! refused; after SIGKILL the replica resumes its copy; the replica's tiles
//! verify with our verifier and the replica's copy with `veritrail verify`.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use veritrail_bucket::testing::Moto;
use veritrail_core::hash::{leaf_hash, Hash};
use veritrail_core::note::Verifier;
use veritrail_core::proof::verify_inclusion;
use veritrail_core::tree::{LeafIndex, TreeSize};

const CREDS: [(&str, &str); 2] = [
    ("AWS_ACCESS_KEY_ID", "testing"),
    ("AWS_SECRET_ACCESS_KEY", "testing"),
];

fn replica(data: &Path, m: &Moto, vkey: &str) -> common::Server {
    replica_with(data, m, vkey, &[])
}

fn replica_with(data: &Path, m: &Moto, vkey: &str, extra: &[&str]) -> common::Server {
    let key = format!("default={vkey}");
    let mut args = vec![
        "--listen",
        "127.0.0.1:0",
        "--s3-endpoint",
        &m.endpoint,
        "--store",
        "s3://mirror/p",
        "--read-only",
        "--log-key",
        &key,
        "--replica-poll",
        "200ms",
    ];
    args.extend_from_slice(extra);
    common::start_with(data, &args, &CREDS)
}

/// A writer draining into the bucket `mirror/p` (checkpoints every
/// `interval`), with its admin and a writer token for `default`.
fn writer(data: &Path, m: &Moto, interval: &str) -> (common::Server, String, String) {
    let w = common::start_with(
        data,
        &[
            "--listen",
            "127.0.0.1:0",
            "--checkpoint-interval",
            interval,
            "--s3-endpoint",
            &m.endpoint,
            "--store",
            "s3://mirror/p",
            "--object-scan-interval",
            "off",
        ],
        &CREDS,
    );
    let admin = w.admin.clone().unwrap();
    let token = common::token(&w.addr, &admin, r#"{"role":"writer","logs":["default"]}"#);
    (w, admin, token)
}

/// `veritrail verify` of the copy of `default` in `data`, with the
/// writer's key; its output.
fn verify_copy(data: &Path, vkey: &str) -> String {
    let o = common::run(
        &[
            "verify",
            "--data",
            data.to_str().unwrap(),
            "--log",
            "default",
            "--key",
            vkey,
        ],
        "",
    );
    assert!(o.status.success(), "verify --data: {}", common::text(&o));
    common::text(&o)
}

/// The query for actor `u<n>` on `addr` (answered 200): its body.
fn by_actor(addr: &str, token: &str, n: u64) -> String {
    let (s, b) = common::get(addr, &format!("/v1/logs/default/events?actor=u{n}"), token).unwrap();
    assert_eq!(s, 200, "{b}");
    b
}

/// One POST of `body` to `default`'s events; the whole response.
fn raw_post(addr: &str, token: &str, body: &str) -> String {
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST /v1/logs/default/events HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut r = String::new();
    s.read_to_string(&mut r).unwrap();
    r
}

/// GET without a token (checkpoints, tiles and proofs are public).
fn get_public(addr: &str, path: &str) -> (u16, String) {
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = resp.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    (status, body)
}

/// The replica's checkpoint: its size and text (0 and "" before the first).
fn checkpoint(addr: &str) -> (u64, String) {
    match get_public(addr, "/v1/logs/default/checkpoint") {
        (200, body) => (body.lines().nth(1).unwrap().parse().unwrap(), body),
        _ => (0, String::new()),
    }
}

fn wait_for_size(addr: &str, want: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (n, cp) = checkpoint(addr);
        if n >= want {
            return cp;
        }
        assert!(
            Instant::now() < deadline,
            "the replica holds {n} entries, not {want}, after 60 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn post_batch(addr: &str, token: &str, first: u64, n: u64) {
    let body: Vec<String> = (first..first + n)
        .map(|i| format!(r#"{{"action":"user.login","actor":"u{i}","outcome":"success"}}"#))
        .collect();
    let (s, r) = common::post(
        addr,
        "/v1/logs/default/events",
        token,
        &format!("[{}]", body.join(",")),
    )
    .unwrap();
    assert_eq!(s, 201, "{r}");
}

/// Checks, against the writer's key, that the replica's checkpoint is the
/// writer's and that its inclusion proofs for a few entries verify.
fn check_proofs(addr: &str, reader: &str, key: &Verifier, writer_cp: &dyn Fn(u64) -> String) {
    let (n, cp) = checkpoint(addr);
    assert!(n > 0);
    let opened = veritrail_core::open_checkpoint(cp.as_bytes(), key, &[])
        .unwrap_or_else(|e| panic!("the replica's checkpoint is not the writer's: {e}\n{cp}"));
    assert_eq!(
        cp,
        writer_cp(n),
        "the writer's checkpoint at {n}, byte for byte"
    );
    for i in [0, n / 3, n / 2, n - 1] {
        let (s, raw) =
            common::get(addr, &format!("/v1/logs/default/events/{i}/raw"), reader).unwrap();
        assert_eq!(s, 200, "{raw}");
        let (s, p) = get_public(
            addr,
            &format!("/v1/logs/default/proof/inclusion?index={i}&tree_size={n}"),
        );
        assert_eq!(s, 200, "{p}");
        let v: serde_json::Value = serde_json::from_str(&p).unwrap();
        let proof: Vec<Hash> = v["proof"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                let b = base64::engine::general_purpose::STANDARD
                    .decode(h.as_str().unwrap())
                    .unwrap();
                Hash(b.try_into().unwrap())
            })
            .collect();
        verify_inclusion(
            &leaf_hash(raw.as_bytes()),
            LeafIndex(i),
            TreeSize(n),
            &proof,
            &opened.checkpoint.root,
        )
        .unwrap_or_else(|e| panic!("entry {i} at size {n}: {e}"));
    }
}

#[test]
fn a_replica_without_the_key_serves_what_the_writer_signed() {
    let m = Moto::start();
    m.locked_bucket("mirror", 1);
    let tmp = tempfile::tempdir().unwrap();
    let wdata = common::init_data(&tmp.path().join("w"));
    let vkey = common::key_of(&wdata, "default");
    let key = Verifier::parse(&vkey).unwrap();
    let (writer, wadmin, wtoken) = writer(&wdata, &m, "100ms");
    let wauditor = common::token(&writer.addr, &wadmin, r#"{"role":"auditor"}"#);
    let waddr = writer.addr.clone();
    let writer_cp = move |n: u64| -> String {
        let (s, b) = common::get(
            &waddr,
            &format!("/v1/logs/default/checkpoints/{n}"),
            &wauditor,
        )
        .unwrap();
        assert_eq!(s, 200, "the writer's checkpoint at {n}: {b}");
        b
    };
    for b in 0..10 {
        post_batch(&writer.addr, &wtoken, b * 300, 300);
    }
    // A replica started from nothing copies the log from the bucket.
    let rdata = tmp.path().join("r");
    let r = replica(&rdata, &m, &vkey);
    assert!(
        r.lines.iter().any(|l| l.contains("as a read replica")),
        "{:?}",
        r.lines
    );
    let radmin = r.admin.clone().unwrap();
    let reader = common::token(&r.addr, &radmin, r#"{"role":"auditor"}"#);
    wait_for_size(&r.addr, 3000);
    check_proofs(&r.addr, &reader, &key, &writer_cp);

    // While the writer ingests, the replica follows and its proofs verify.
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(3000));
    let ingest = {
        let (stop, sent, addr, token) = (
            stop.clone(),
            sent.clone(),
            writer.addr.clone(),
            wtoken.clone(),
        );
        std::thread::spawn(move || {
            while !stop.load(Ordering::Acquire) {
                let first = sent.load(Ordering::Acquire);
                post_batch(&addr, &token, first, 200);
                sent.store(first + 200, Ordering::Release);
                // ~4,000 events/s: what the bucket (moto) and the copy
                // keep up with beside the test's own checks.
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let mut seen = 3000;
    let deadline = Instant::now() + Duration::from_secs(8);
    while Instant::now() < deadline {
        let (n, _) = checkpoint(&r.addr);
        assert!(n >= seen, "the replica went back from {seen} to {n}");
        seen = n;
        check_proofs(&r.addr, &reader, &key, &writer_cp);
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(seen > 3000, "the replica did not follow the writer");

    // Writes are refused, with a reason.
    let rwriter = common::token(&r.addr, &radmin, r#"{"role":"writer","logs":["default"]}"#);
    let (s, b) = common::post(
        &r.addr,
        "/v1/logs/default/events",
        &rwriter,
        r#"{"action":"user.login","actor":"x"}"#,
    )
    .unwrap();
    assert_eq!(s, 403, "{b}");
    assert!(b.contains("read_only"), "{b}");
    let (s, b) = common::post(&r.addr, "/v1/logs", &radmin, r#"{"name":"more"}"#).unwrap();
    assert_eq!(s, 403, "{b}");
    // When the writers share the bucket with leases, a writer is sent to
    // the lease holder (307 keeps the method and body).
    let bucket = veritrail_bucket::Bucket::open(
        &veritrail_bucket::Location::parse("s3://mirror/p").unwrap(),
        &m.settings(),
    )
    .unwrap();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let lease = serde_json::json!({"owner": "n9", "url": "http://127.0.0.1:9", "epoch": 1,
        "expires_unix_ms": now_ms + 60_000, "durable": 0});
    bucket
        .replace("p/default/lease", lease.to_string().into_bytes().into())
        .unwrap();
    let resp = raw_post(&r.addr, &rwriter, r#"{"action":"user.login","actor":"x"}"#);
    assert!(resp.starts_with("HTTP/1.1 307"), "{resp}");
    assert!(
        resp.to_ascii_lowercase()
            .contains("location: http://127.0.0.1:9/v1/logs/default/events"),
        "{resp}"
    );
    // An expired lease sends nobody anywhere.
    let lease = serde_json::json!({"owner": "n9", "url": "http://127.0.0.1:9", "epoch": 1,
        "expires_unix_ms": now_ms - 1, "durable": 0});
    bucket
        .replace("p/default/lease", lease.to_string().into_bytes().into())
        .unwrap();
    let resp = raw_post(&r.addr, &rwriter, r#"{"action":"user.login","actor":"x"}"#);
    assert!(resp.starts_with("HTTP/1.1 403"), "{resp}");

    // What the operator sees: /metrics and `veritrail status`.
    let (s, metrics) = common::get(&r.addr, "/metrics", &radmin).unwrap();
    assert_eq!(s, 200, "{metrics}");
    assert!(
        metrics.contains("veritrail_replica_state{log=\"default\"} 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("veritrail_replica_copied_size{log=\"default\"}"),
        "{metrics}"
    );
    std::thread::sleep(Duration::from_millis(2500));
    let o = common::run(&["status", "--data", rdata.to_str().unwrap()], "");
    let out = common::text(&o);
    assert!(out.contains("read replica of s3://mirror/p"), "{out}");
    assert!(out.contains("log default: the copy holds"), "{out}");

    // SIGKILL mid-copy; a restart resumes from what the copy holds.
    let killed = r.child;
    drop(killed);
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Release);
    ingest.join().unwrap();
    let total = sent.load(Ordering::Acquire);
    // The writer's bucket catches up with everything it acknowledged.
    // Restarted with --trail-name, the replica uploads its own _system.
    let r = replica_with(&rdata, &m, &vkey, &["--trail-name", "r1"]);
    assert!(
        r.lines
            .iter()
            .any(|l| l.contains("own _system to s3://mirror/p/_replica.r1")),
        "{:?}",
        r.lines
    );
    let cp = wait_for_size(&r.addr, total);
    assert_eq!(cp, writer_cp(total));
    check_proofs(&r.addr, &reader, &key, &writer_cp);
    // Query, from the copy's own index.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let b = by_actor(&r.addr, &reader, total - 1);
        if b.contains(&format!("\"u{}\"", total - 1)) {
            break;
        }
        assert!(Instant::now() < deadline, "query on the replica: {b}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // Our verifier, through the replica's tlog-tiles API, with the
    // writer's key.
    let o = common::run(
        &[
            "verify",
            "--server",
            &format!("http://{}", r.addr),
            "--key",
            &vkey,
            "--token",
            &reader,
        ],
        "",
    );
    assert!(o.status.success(), "verify --server: {}", common::text(&o));
    // Who read what on the replica is in the bucket, under the replica's
    // name, and verifies there with the replica's _system key.
    let skey = common::key_of(&rdata, "_system");
    // Public tiles, as an auditor would read them (docs/SCALE.md).
    let (rc, out) = m.s3ctl(&["public-read", "mirror", "p"]);
    assert_eq!(rc, 0, "{out}");
    common::wait_verified_tiles(
        &format!("{}/mirror/p/_replica.r1", m.endpoint),
        &skey,
        30,
        &|| {
            common::text(&common::run(
                &["status", "--data", rdata.to_str().unwrap()],
                "",
            ))
        },
    );
    let (cp, _) = bucket
        .get("p/_replica.r1/checkpoint")
        .unwrap()
        .expect("the trail's checkpoint");
    let size: u64 = std::str::from_utf8(&cp)
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert!(size > 0, "the trail holds the replica's records");
    let (s, metrics) = common::get(&r.addr, "/metrics", &radmin).unwrap();
    assert_eq!(s, 200, "{metrics}");
    assert!(
        metrics.contains("veritrail_object_uploaded_size{log=\"_system\"}"),
        "{metrics}"
    );
    let o = common::run(&["status", "--data", rdata.to_str().unwrap()], "");
    let out = common::text(&o);
    assert!(
        out.contains("the replica's own _system is uploaded to the bucket"),
        "{out}"
    );
    assert!(out.contains("log _system: the bucket holds"), "{out}");
    common::stop(r.child);
    common::stop(writer.child);
    // And the copy on disk, offline.
    verify_copy(&rdata, &vkey);
    // The whole replica directory: its own _system, the copy, the marker
    // signed by _system's key, and a note that the copy's key is the writer's.
    let o = common::run(&["verify", "--data", rdata.to_str().unwrap()], "");
    let out = common::text(&o);
    assert!(o.status.success(), "verify --data (every log): {out}");
    assert!(out.contains("is a copy of s3://mirror/p/default"), "{out}");
    common::unflag(tmp.path());
}

/// `VERITRAIL_REPLICA_EVENTS` events (default 100,000; a million by hand:
/// `VERITRAIL_REPLICA_EVENTS=1000000 cargo test --release -p veritrail
/// --test replica`): a replica started on a bucket that holds them
/// rebuilds its copy and its query index from the bucket alone, and the
/// copy verifies on disk against the writer's key.
#[test]
fn a_replica_rebuilds_a_large_log_and_its_index_from_the_bucket() {
    let events: u64 = std::env::var("VERITRAIL_REPLICA_EVENTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let m = Moto::start();
    m.locked_bucket("mirror", 1);
    let tmp = tempfile::tempdir().unwrap();
    let wdata = common::init_data(&tmp.path().join("w"));
    let vkey = common::key_of(&wdata, "default");
    let (writer, wadmin, wtoken) = writer(&wdata, &m, "1s");
    let mut sent = 0;
    while sent < events {
        let n = (events - sent).min(10_000);
        post_batch(&writer.addr, &wtoken, sent, n);
        sent += n;
    }
    // The bucket holds them all.
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let (_, metrics) = common::get(&writer.addr, "/metrics", &wadmin).unwrap();
        let up: u64 = metrics
            .lines()
            .find_map(|l| l.strip_prefix("veritrail_object_uploaded_size{log=\"default\"} "))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if up >= events {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the bucket holds {up} of {events}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    common::stop(writer.child);
    // A replica from nothing, with the writer gone.
    let rdata = tmp.path().join("r");
    let started = Instant::now();
    let r = replica(&rdata, &m, &vkey);
    let radmin = r.admin.clone().unwrap();
    let reader = common::token(&r.addr, &radmin, r#"{"role":"auditor"}"#);
    let deadline = Instant::now() + Duration::from_secs(900);
    let copied = loop {
        let (n, _) = checkpoint(&r.addr);
        if n >= events {
            break started.elapsed();
        }
        assert!(Instant::now() < deadline, "the copy holds {n} of {events}");
        std::thread::sleep(Duration::from_millis(200));
    };
    // Its index covers them: a query for the last actor finds it, and
    // the index says it has everything.
    let indexed = loop {
        let b = by_actor(&r.addr, &reader, events - 1);
        let v: serde_json::Value = serde_json::from_str(&b).unwrap();
        if v["indexed_through"].as_u64() == Some(events) {
            assert_eq!(v["events"].as_array().unwrap().len(), 1, "{b}");
            break started.elapsed();
        }
        assert!(Instant::now() < deadline, "query on the replica: {b}");
        std::thread::sleep(Duration::from_millis(200));
    };
    eprintln!(
        "replica of {events} events: copy {:.1} s, index {:.1} s",
        copied.as_secs_f64(),
        indexed.as_secs_f64()
    );
    common::stop(r.child);
    let verified = verify_copy(&rdata, &vkey);
    assert!(
        verified.contains(&format!("{events} entries")),
        "{verified}"
    );
    common::unflag(tmp.path());
}

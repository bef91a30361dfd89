//! Witnesses (issue 22), with real processes: three `veritrail witness`
//! servers on loopback and a `veritrail serve` asking them, policy 2 of 3.
//! Checkpoints get cosigned; one witness down still meets the policy; two
//! down and checkpoints are served unwitnessed; the witnesses come back and
//! later checkpoints are witnessed again (a consistency proof over the
//! gap). Then the insider: the same signing key, an edited history — every
//! witness refuses it and keeps the evidence, and `verify --witness` fails.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use veritrail_core::note::policy::WitnessPolicy;
use veritrail_core::note::Verifier;

struct W {
    dir: std::path::PathBuf,
    key: String,
    server: Option<common::Server>,
    addr: String,
}

fn witness_init(dir: &Path, name: &str) -> String {
    let (code, out, err) = common::run3(
        &[
            "witness",
            "init",
            "--data",
            dir.to_str().unwrap(),
            "--name",
            name,
        ],
        "",
    );
    assert_eq!(code, 0, "{err}");
    out.trim().to_owned()
}

fn witness_start(dir: &Path, listen: &str, log_keys: &[String]) -> common::Server {
    let mut cmd = Command::new(common::bin());
    cmd.args([
        "witness",
        "serve",
        "--data",
        dir.to_str().unwrap(),
        "--listen",
        listen,
    ]);
    for k in log_keys {
        cmd.args(["--log-key", k]);
    }
    common::serve_child(cmd, &[])
}

fn post(addr: &str, token: &str, body: &str, query: &str) -> (u16, Value) {
    let (s, b) = common::post(
        addr,
        &format!("/v1/logs/default/events{query}"),
        token,
        body,
    )
    .unwrap();
    (s, serde_json::from_str(&b).unwrap_or(Value::Null))
}

fn metric(addr: &str, line_start: &str) -> Option<u64> {
    let (_, m) = common::get(addr, "/metrics", "").unwrap();
    m.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn witnesses_cosign_and_an_edited_history_is_caught() {
    let tmp = tempfile::tempdir().unwrap();
    let data = common::init_data(tmp.path());
    // A first start makes `_system` (witnessed too) and the admin token.
    let first = common::start(&data);
    let admin = first.admin.clone().unwrap();
    common::terminate(first.child);
    let log_keys = vec![
        common::key_of(&data, "default"),
        common::key_of(&data, "_system"),
    ];
    let mut ws: Vec<W> = (0..3)
        .map(|i| {
            let dir = tmp.path().join(format!("w{i}"));
            let key = witness_init(&dir, &format!("w{i}.example"));
            let server = witness_start(&dir, "127.0.0.1:0", &log_keys);
            let addr = server.addr.clone();
            W {
                dir,
                key,
                server: Some(server),
                addr,
            }
        })
        .collect();
    // An integrity rule for witnessing that stopped moving.
    let rules = tmp.path().join("rules.toml");
    std::fs::write(
        &rules,
        "[[rule]]\nname = \"witness-lag\"\nkind = \"integrity\"\ncheck = \"witness_lag\"\nafter = \"1s\"\n",
    )
    .unwrap();
    let mut args: Vec<String> = vec![
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--witness-quorum".into(),
        "2".into(),
        "--rules".into(),
        rules.to_str().unwrap().into(),
    ];
    for w in &ws {
        args.push("--witness".into());
        args.push(format!("{}@http://{}", w.key, w.addr));
    }
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = common::start_with(&data, &argv, &[("VERITRAIL_CHECKPOINT_INTERVAL", "200ms")]);
    let writer = common::token(
        &server.addr,
        &admin,
        r#"{"role":"writer","logs":["default"]}"#,
    );
    let policy = WitnessPolicy::threshold(
        ws.iter()
            .map(|w| Verifier::parse(&w.key).unwrap())
            .collect(),
        2,
    )
    .unwrap();
    // All three up: a witnessed receipt.
    let (s, r) = post(
        &server.addr,
        &writer,
        r#"{"action":"a.one","actor":"x"}"#,
        "?wait=witnessed",
    );
    assert_eq!(s, 201, "{r}");
    assert_eq!(r["witnessed"], true);
    let ok = policy
        .check(r["checkpoint"].as_str().unwrap().as_bytes())
        .unwrap();
    assert!(ok.len() >= 2, "{ok:?}");
    // verify-receipt checks the policy too, and a receipt without the
    // cosignatures fails it.
    let receipt = tmp.path().join("receipt.json");
    std::fs::write(&receipt, r.to_string()).unwrap();
    let mut v: Vec<String> = vec![
        "verify-receipt".into(),
        receipt.to_str().unwrap().into(),
        "--quorum".into(),
        "2".into(),
    ];
    for w in &ws {
        v.push("--witness".into());
        v.push(w.key.clone());
    }
    let argv_r: Vec<&str> = v.iter().map(String::as_str).collect();
    let (code, out, err) = common::run3(&argv_r, "");
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("cosigned by"), "{out}");
    let mut stripped = r.clone();
    let log_only: String = r["checkpoint"]
        .as_str()
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("\u{2014} w"))
        .map(|l| format!("{l}\n"))
        .collect();
    stripped["checkpoint"] = Value::String(log_only);
    std::fs::write(&receipt, stripped.to_string()).unwrap();
    let (code, out, err) = common::run3(&argv_r, "");
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("not witnessed"), "{out}{err}");
    // The Integrity page's data: each witness and what it cosigned, the
    // cosigners of the newest checkpoints.
    let (_, d) = common::integrity(&server.addr, &admin, "default");
    let b = d.to_string();
    assert_eq!(d["witnesses"]["quorum"], 2, "{b}");
    assert_eq!(d["witnesses"]["peers"].as_array().unwrap().len(), 3, "{b}");
    assert!(d["witnesses"]["witnessed_size"].as_u64() >= Some(1), "{b}");
    assert!(d["cosignatures"]["kept"].as_u64() >= Some(1), "{b}");
    let cosigned = d["checkpoints"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["cosigned_by"].as_array().unwrap().len() >= 2)
        .count();
    assert!(cosigned >= 1, "a checkpoint cosigned by the witnesses: {b}");
    // One down: still 2 of 3.
    common::stop(ws[2].server.take().unwrap().child);
    let (s, r) = post(
        &server.addr,
        &writer,
        r#"{"action":"a.two","actor":"x"}"#,
        "?wait=witnessed",
    );
    assert_eq!(s, 201, "{r}");
    let ok = policy
        .check(r["checkpoint"].as_str().unwrap().as_bytes())
        .unwrap();
    assert!(!ok.contains(&"w2.example".to_owned()));
    // Two down: served unwitnessed, and /metrics says so.
    common::stop(ws[1].server.take().unwrap().child);
    let (s, r) = post(
        &server.addr,
        &writer,
        r#"{"action":"a.three","actor":"x"}"#,
        "",
    );
    assert_eq!(s, 201, "{r}");
    let size_now = r["entries"][0]["index"].as_u64().unwrap() + 1;
    std::thread::sleep(Duration::from_millis(1500));
    let (_, cp) = common::get(&server.addr, "/v1/logs/default/checkpoint", &admin).unwrap();
    assert!(cp.lines().nth(1).unwrap().parse::<u64>().unwrap() >= size_now);
    assert!(
        policy.check(cp.as_bytes()).is_err(),
        "served, but not witnessed: {cp}"
    );
    assert!(
        metric(
            &server.addr,
            "veritrail_log_witnessed_size{log=\"default\"}"
        )
        .unwrap()
            < size_now
    );
    assert_eq!(
        metric(
            &server.addr,
            "veritrail_witness_up{log=\"default\",witness=\"w1.example\"}"
        ),
        Some(0)
    );
    // The integrity rule fires: an `alert.fired` record in `_system`.
    let auditor = common::token(&server.addr, &admin, r#"{"role":"auditor"}"#);
    wait_until("a witness_lag alert", 30, || {
        let (s, body) = common::get(
            &server.addr,
            "/v1/logs/_system/events?action=alert.fired",
            &auditor,
        )
        .unwrap();
        assert_eq!(s, 200, "{body}");
        body.contains("witness-lag") && body.contains("cosigned only")
    });
    // Back (same directories, same ports): later checkpoints are witnessed
    // again, with a consistency proof over the gap.
    for k in [1, 2] {
        let listen = ws[k].addr.clone();
        ws[k].server = Some(witness_start(&ws[k].dir, &listen, &log_keys));
    }
    for n in 0..3 {
        post(
            &server.addr,
            &writer,
            &format!(r#"{{"action":"a.back{n}","actor":"x"}}"#),
            "",
        );
    }
    wait_until("witnessed again", 90, || {
        let (_, cp) = common::get(&server.addr, "/v1/logs/default/checkpoint", &admin).unwrap();
        policy
            .check(cp.as_bytes())
            .map(|ok| ok.len() == 3)
            .unwrap_or(false)
    });
    // The monitor checks a policy file (groups, the log pinned) on the
    // served checkpoint; one that needs a witness who never cosigned
    // alerts `not_witnessed`.
    let default_key = common::key_of(&data, "default");
    let pfile = tmp.path().join("policy");
    std::fs::write(
        &pfile,
        format!(
            "# ours\nlog {default_key}\nwitness a {}\nwitness b {}\nwitness c {}\ngroup all3 2 a b c\nquorum all3\n",
            ws[0].key, ws[1].key, ws[2].key
        ),
    )
    .unwrap();
    let base = format!("http://{}", server.addr);
    let (code, out, err) = common::run3(
        &[
            "monitor",
            "--server",
            &base,
            "--token",
            &admin,
            "--key",
            &default_key,
            "--once",
            "--witness-policy",
            pfile.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("cosigned by"), "{out}{err}");
    let stranger = witness_init(&tmp.path().join("w-stranger"), "stranger.example");
    let (code, out, err) = common::run3(
        &[
            "monitor",
            "--server",
            &base,
            "--token",
            &admin,
            "--key",
            &default_key,
            "--once",
            "--witness",
            &stranger,
        ],
        "",
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("ALERT not_witnessed"), "{out}{err}");
    assert!(err.contains("stranger.example"), "{out}{err}");
    // A policy file that names another log is a usage error.
    let other_log = tmp.path().join("policy-other");
    std::fs::write(
        &other_log,
        format!(
            "log {}\nwitness a {}\nquorum a\n",
            common::key_of(&data, "_system"),
            ws[0].key
        ),
    )
    .unwrap();
    let (code, out, err) = common::run3(
        &[
            "monitor",
            "--server",
            &base,
            "--token",
            &admin,
            "--key",
            &default_key,
            "--once",
            "--witness-policy",
            other_log.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(code, 2, "{out}{err}");
    common::terminate(server.child);
    let wargs: Vec<String> = ws
        .iter()
        .flat_map(|w| ["--witness".to_owned(), w.key.clone()])
        .collect();
    let mut v: Vec<&str> = vec!["verify", "--quorum", "2"];
    v.extend(wargs.iter().map(String::as_str));
    let (code, out) = common::run_on(&v, &data, None);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("OK: log \"default\": latest checkpoint"),
        "{out}"
    );
    // Evidence bundles carry the cosigned checkpoint; both verifiers check
    // the policy on it.
    let bundle = tmp.path().join("witnessed.bundle");
    let (code, out) = common::run_on(
        &[
            "export",
            "--log",
            "default",
            "--witnessed",
            "-o",
            bundle.to_str().unwrap(),
        ],
        &data,
        None,
    );
    assert_eq!(code, 0, "{out}");
    let (code, out, err) = common::run3(
        &[
            "verify-bundle",
            bundle.to_str().unwrap(),
            "--key",
            &default_key,
            "--witness-policy",
            pfile.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("cosigned by"), "{out}");
    let (code, out, err) = common::run3(
        &[
            "verify-bundle",
            bundle.to_str().unwrap(),
            "--witness",
            &stranger,
        ],
        "",
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("header.checkpoint") && err.contains("not witnessed"),
        "{err}"
    );
    let py = |extra: &[&str]| {
        let o = Command::new("python3")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/verify_bundle.py"))
            .arg(&bundle)
            .args(extra)
            .output()
            .unwrap();
        (
            o.status.code().unwrap(),
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr),
        )
    };
    let mut pargs: Vec<&str> = vec!["--key", &default_key, "--quorum", "2"];
    for w in &ws {
        pargs.extend(["--witness", w.key.as_str()]);
    }
    let (code, out) = py(&pargs);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("cosigned by"), "{out}");
    let (code, out) = py(&["--witness", &stranger]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("not witnessed"), "{out}");

    // The insider: the same keys, an edited history, the old cosignatures
    // kept to look witnessed.
    let rebuilt = tmp.path().join("rebuilt");
    std::fs::create_dir_all(rebuilt.join("keys")).unwrap();
    // What an interrupted `init` leaves: the key, which init then reuses.
    std::fs::copy(
        data.join("keys/default.key"),
        rebuilt.join("keys/default.key"),
    )
    .unwrap();
    let o = common::run(&["init", "--data", rebuilt.to_str().unwrap()], "");
    assert!(o.status.success(), "{}", common::text(&o));
    if !rebuilt.join("keys/_system.key").exists() {
        std::fs::copy(
            data.join("keys/_system.key"),
            rebuilt.join("keys/_system.key"),
        )
        .unwrap();
    }
    assert_eq!(
        common::key_of(&rebuilt, "default"),
        common::key_of(&data, "default"),
        "the same key"
    );
    let edited: String = [
        "a.one", "a.EDITED", "a.three", "a.back0", "a.back1", "a.back2",
    ]
    .iter()
    .map(|a| format!("{{\"action\":\"{a}\",\"actor\":\"x\"}}\n"))
    .collect();
    let (code, out) = common::run_on(&["append"], &rebuilt, Some(&edited));
    assert_eq!(code, 0, "{out}");
    assert!(Command::new("cp")
        .arg("-r")
        .arg(data.join("cosignatures"))
        .arg(&rebuilt)
        .status()
        .unwrap()
        .success());
    // Plain verify passes: the signatures are the operator's own.
    let (code, out) = common::run_on(&["verify", "--log", "default"], &rebuilt, None);
    assert_eq!(code, 0, "{out}");
    // With the witnesses, it fails, naming the checkpoint.
    let mut v: Vec<&str> = vec!["verify", "--log", "default", "--quorum", "2"];
    v.extend(wargs.iter().map(String::as_str));
    let (code, out) = common::run_on(&v, &rebuilt, None);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAILED: log \"default\": checkpoint"), "{out}");
    // Served to the witnesses: every one refuses and keeps the evidence.
    let server = common::start_with(
        &rebuilt,
        &argv,
        &[("VERITRAIL_CHECKPOINT_INTERVAL", "200ms")],
    );
    wait_until("refusals", 30, || {
        ws.iter().all(|w| {
            let (code, _, _) = common::run3(
                &["witness", "status", "--data", w.dir.to_str().unwrap()],
                "",
            );
            code == 1
        })
    });
    let (_, out, _) = common::run3(
        &["witness", "status", "--data", ws[0].dir.to_str().unwrap()],
        "",
    );
    assert!(out.contains("kept as evidence"), "{out}");
    let (_, cp) = common::get(&server.addr, "/v1/logs/default/checkpoint", &admin).unwrap();
    assert!(
        policy.check(cp.as_bytes()).is_err(),
        "never witnessed: {cp}"
    );
    common::terminate(server.child);
    for w in ws.iter_mut() {
        if let Some(s) = w.server.take() {
            common::terminate(s.child);
        }
    }
    common::unflag(tmp.path());
}

/// A witness killed with SIGKILL at random moments while a log sends it
/// growing checkpoints, again and again: after each restart its size is
/// at least the largest it returned a cosignature for (it never goes
/// backwards), it refuses a fork of any size it cosigned, and its
/// cosignatures verify with Python's `cryptography` from the specs alone.
#[test]
fn a_witness_killed_mid_request_never_goes_back_or_cosigns_a_fork() {
    use veritrail_core::checkpoint::{Checkpoint, Origin};
    use veritrail_core::note::{SigType, Signer};
    use veritrail_core::tree::{prove_consistency, tree_hash, MemoryTree, TreeSize};
    let tmp = tempfile::tempdir().unwrap();
    let origin = "crash.example/log";
    let log_key = Signer::from_seed(origin, SigType::Ed25519, [5; 32]).unwrap();
    let fork_key = log_key.clone();
    let mut tree = MemoryTree::new();
    let mut fork = MemoryTree::new();
    let dir = tmp.path().join("w");
    let wkey = witness_init(&dir, "crash-witness.example");
    let note = |t: &MemoryTree, size: u64, k: &Signer| {
        Checkpoint::new(
            Origin::new(origin).unwrap(),
            TreeSize(size),
            tree_hash(TreeSize(size), t).unwrap(),
        )
        .sign(k)
        .unwrap()
    };
    let send = |addr: &str, body: &str| -> (u16, String) {
        let mut s = match std::net::TcpStream::connect(addr) {
            Ok(s) => s,
            Err(_) => return (0, String::new()),
        };
        use std::io::{Read as _, Write as _};
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        if write!(s, "POST /add-checkpoint HTTP/1.1\r\nHost: w\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).is_err() {
            return (0, String::new());
        }
        let mut r = String::new();
        let _ = s.read_to_string(&mut r);
        let status = r.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
        (status, r.split("\r\n\r\n").nth(1).unwrap_or("").to_owned())
    };
    let mut cosigned_max = 0u64;
    let mut last_good_note = String::new();
    let mut sizes_cosigned = Vec::new();
    let mut rng = 12345u64;
    for round in 0..6 {
        let w = witness_start(&dir, "127.0.0.1:0", &[log_key.verifier().to_vkey()]);
        let addr = w.addr.clone();
        // After a restart: never behind what it cosigned.
        let (s, b) = send(
            &addr,
            &format!("old 0\n\n{}", note(&tree, tree.size().0, &log_key)),
        );
        if tree.size().0 > 0 {
            assert_eq!(s, 409, "{b}");
            let size: u64 = b.trim().parse().unwrap();
            assert!(
                size >= cosigned_max,
                "round {round}: the witness went back from {cosigned_max} to {size}"
            );
        }
        // A fork of a size it cosigned: refused.
        for &k in sizes_cosigned.iter().rev().take(1) {
            let (s, _) = send(&addr, &format!("old {k}\n\n{}", note(&fork, k, &fork_key)));
            assert!(s == 409 || s == 422, "round {round}: a fork at {k} got {s}");
        }
        // Grow and send from a thread; kill the witness mid-stream.
        let killer = {
            rng = rng
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let wait = 20 + (rng >> 33) % 200;
            let pid = w.child.id();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(wait));
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            })
        };
        let mut old = {
            let (s, b) = send(
                &addr,
                &format!("old 0\n\n{}", note(&tree, tree.size().0, &log_key)),
            );
            if s == 409 {
                b.trim().parse().unwrap_or(0)
            } else {
                0
            }
        };
        for _ in 0..400 {
            for k in 0..3u64 {
                let leaf = veritrail_core::leaf_hash(format!("e{}-{k}", tree.size().0).as_bytes());
                tree.push(leaf);
                fork.push(veritrail_core::leaf_hash(
                    format!("fork{}-{k}", fork.size().0).as_bytes(),
                ));
            }
            let size = tree.size().0;
            let proof = if old == 0 {
                vec![]
            } else {
                prove_consistency(TreeSize(old), TreeSize(size), &tree).unwrap()
            };
            let mut body = format!("old {old}\n");
            for h in &proof {
                body.push_str(&h.to_base64());
                body.push('\n');
            }
            let n = note(&tree, size, &log_key);
            body.push('\n');
            body.push_str(&n);
            let (s, b) = send(&addr, &body);
            match s {
                200 => {
                    cosigned_max = cosigned_max.max(size);
                    sizes_cosigned.push(size);
                    old = size;
                    last_good_note = format!("{n}{b}");
                }
                0 => break, // killed
                409 => old = b.trim().parse().unwrap(),
                other => panic!("round {round}: {other}: {b}"),
            }
        }
        killer.join().unwrap();
        let mut child = w.child;
        let _ = child.wait();
    }
    assert!(cosigned_max > 0);
    // An implementation we did not write checks the cosignature.
    let f = tmp.path().join("note");
    std::fs::write(&f, &last_good_note).unwrap();
    let tool = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tools/verify_cosignature.py"
    );
    let o = Command::new("python3")
        .arg(tool)
        .arg(&wkey)
        .arg(&f)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let bad = last_good_note.replacen("crash.example/log\n", "crash.example/log\n1", 1);
    std::fs::write(&f, bad).unwrap();
    let o = Command::new("python3")
        .arg(tool)
        .arg(&wkey)
        .arg(&f)
        .output()
        .unwrap();
    assert!(!o.status.success(), "a changed checkpoint must not verify");
}

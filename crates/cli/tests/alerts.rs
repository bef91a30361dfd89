//! Alert rules, webhooks and live streams in the real `veritrail serve`
//! (issue 21): a webhook that answers 500 twice, then 200, gets the alert
//! once, signed; the alert is an `alert.fired` record in `_system`, proven
//! included, naming the right events; a restart in the middle of a
//! threshold window fires exactly once; a bad file on reload leaves the old
//! rules running and says so in `_system`; a live stream replays then goes
//! live with 8 writers, every index once, in order; a client that does not
//! read is cut off with its resume index and resumes without a gap.

mod common;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde_json::Value;

/// One request a receiver got: headers (lower-case names), body, the status answered.
type Request = (Vec<(String, String)>, Vec<u8>, u16);

/// A webhook receiver on loopback: answers the statuses given in turn
/// (then 200), keeps every request (headers, body).
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Request>>>,
}

fn receiver(statuses: Vec<u16>) -> Receiver {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    std::thread::spawn(move || {
        let mut k = 0;
        for s in l.incoming() {
            let Ok(s) = s else { continue };
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut headers = Vec::new();
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            loop {
                line.clear();
                r.read_line(&mut line).unwrap();
                let t = line.trim_end();
                if t.is_empty() {
                    break;
                }
                let (k, v) = t.split_once(':').unwrap();
                headers.push((k.to_ascii_lowercase(), v.trim().to_owned()));
            }
            let n: usize = headers
                .iter()
                .find(|(k, _)| k == "content-length")
                .map_or(0, |(_, v)| v.parse().unwrap());
            let mut body = vec![0; n];
            r.read_exact(&mut body).unwrap();
            let status = statuses.get(k).copied().unwrap_or(200);
            k += 1;
            g.lock().unwrap().push((headers, body, status));
            let mut s = s;
            let _ = write!(
                s,
                "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    Receiver { url, got }
}

fn header<'a>(h: &'a [(String, String)], name: &str) -> &'a str {
    h.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

fn post_events(addr: &str, token: &str, events: &[String]) -> Vec<(u64, String)> {
    let body = format!("[{}]", events.join(","));
    let (s, b) = common::post(addr, "/v1/logs/default/events", token, &body).unwrap();
    assert_eq!(s, 201, "{b}");
    let v: Value = serde_json::from_str(&b).unwrap();
    v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["index"].as_u64().unwrap(),
                e["leaf_hash"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn failure(ip: &str) -> String {
    format!(r#"{{"action":"auth.login","outcome":"failure","actor":{{"id":"root","ip":"{ip}"}}}}"#)
}

/// The `alert.fired` records in `_system`, read from the log itself.
fn fired(addr: &str, auditor: &str, rule: &str) -> Vec<(u64, Value)> {
    let (s, b) = common::get(addr, "/v1/logs/_system/checkpoint", auditor).unwrap();
    assert_eq!(s, 200, "{b}");
    let size: u64 = b.lines().nth(1).unwrap().parse().unwrap();
    let mut out = Vec::new();
    for i in 0..size {
        let (s, b) = common::get(addr, &format!("/v1/logs/_system/events/{i}"), auditor).unwrap();
        assert_eq!(s, 200, "{b}");
        let v: Value = serde_json::from_str(&b).unwrap();
        let ev = v["event"].clone();
        if ev["action"] == "alert.fired" && ev["metadata"]["rule"] == rule {
            out.push((i, ev));
        }
    }
    out
}

fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn write_rules(path: &Path, url: &str, count: u32) {
    std::fs::write(
        path,
        format!(
            r#"
[webhooks.soc]
url = "{url}"
secret = "s3cret"

[[rule]]
name = "brute"
kind = "threshold"
severity = "high"
match = {{ action = "auth.login", outcome = "failure" }}
group_by = ["actor.ip"]
count = {count}
window = "10m"
actions = ["webhook:soc", "stderr"]
"#
        ),
    )
    .unwrap();
}

#[test]
fn webhook_retried_delivered_once_signed_and_the_alert_is_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let hook = receiver(vec![500, 500]);
    let rules = dir.path().join("rules.toml");
    write_rules(&rules, &hook.url, 3);
    let server = common::start_with(
        &data,
        &[
            "--listen",
            "127.0.0.1:0",
            "--rules",
            rules.to_str().unwrap(),
        ],
        &[],
    );
    let admin = server.admin.clone().unwrap();
    let writer = common::token(
        &server.addr,
        &admin,
        r#"{"role":"writer","logs":["default"]}"#,
    );
    let auditor = common::token(&server.addr, &admin, r#"{"role":"auditor"}"#);
    let mut sent = post_events(
        &server.addr,
        &writer,
        &[failure("192.0.2.7"), failure("198.51.100.1")],
    );
    sent.extend(post_events(
        &server.addr,
        &writer,
        &[failure("192.0.2.7"), failure("192.0.2.7")],
    ));
    wait_until("three attempts", 30, || hook.got.lock().unwrap().len() >= 3);
    std::thread::sleep(Duration::from_millis(1500));
    let got = hook.got.lock().unwrap().clone();
    assert_eq!(got.len(), 3, "500, 500, then 200: and nothing after");
    assert_eq!(
        got.iter().map(|g| g.2).collect::<Vec<_>>(),
        vec![500, 500, 200]
    );
    let (h, body, _) = &got[2];
    // The signature: t=<ts>,v1=HMAC-SHA256(secret, "<ts>.<body>").
    let sig = header(h, "x-veritrail-signature");
    let (t, v1) = sig.strip_prefix("t=").unwrap().split_once(",v1=").unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"s3cret").unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    mac.verify_slice(&hex_decode(v1))
        .expect("the signature verifies");
    assert_eq!(
        header(&got[0].0, "x-veritrail-delivery"),
        header(h, "x-veritrail-delivery"),
        "the same delivery retried"
    );
    let alert: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(alert["rule"], "brute");
    assert_eq!(alert["group"]["actor.ip"], "192.0.2.7");
    // The triggers are the three events from 192.0.2.7, by index and leaf hash.
    let want: Vec<(u64, String)> = [0usize, 2, 3].iter().map(|&k| sent[k].clone()).collect();
    let trig: Vec<(u64, String)> = alert["event"]["metadata"]["triggers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["index"].as_u64().unwrap(),
                t["leaf_hash"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(trig, want);
    // The record in _system, with an inclusion proof to a signed checkpoint.
    let sys_index = alert["system_index"].as_u64().unwrap();
    wait_until("a checkpoint covering the alert", 10, || {
        let (_, b) = common::get(&server.addr, "/v1/logs/_system/checkpoint", &auditor).unwrap();
        b.lines().nth(1).unwrap().parse::<u64>().unwrap() > sys_index
    });
    let recs = fired(&server.addr, &auditor, "brute");
    assert_eq!(recs.len(), 1, "one alert: {recs:?}");
    assert_eq!(recs[0].0, sys_index);
    assert_eq!(recs[0].1, alert["event"]);
    let (s, b) = common::get(
        &server.addr,
        &format!("/v1/logs/_system/proof/inclusion?index={sys_index}"),
        &auditor,
    )
    .unwrap();
    assert_eq!(s, 200, "{b}");
    let p: Value = serde_json::from_str(&b).unwrap();
    let cp = p["checkpoint"].as_str().unwrap();
    let mut lines = cp.lines();
    lines.next();
    let size: u64 = lines.next().unwrap().parse().unwrap();
    let root = veritrail_core::Hash::from_base64(lines.next().unwrap()).unwrap();
    let proof: Vec<veritrail_core::Hash> = p["proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| veritrail_core::Hash::from_base64(h.as_str().unwrap()).unwrap())
        .collect();
    let leaf = veritrail_core::Hash::from_base64(alert["leaf_hash"].as_str().unwrap()).unwrap();
    veritrail_core::verify_inclusion(
        &leaf,
        veritrail_core::tree::LeafIndex(sys_index),
        veritrail_core::tree::TreeSize(size),
        &proof,
        &root,
    )
    .expect("alert.fired is included in _system");
    // GET /v1/alerts lists it (once the index has it).
    wait_until("/v1/alerts", 20, || {
        let (s, b) = common::get(&server.addr, "/v1/alerts?rule=brute", &auditor).unwrap();
        assert_eq!(s, 200, "{b}");
        let v: Value = serde_json::from_str(&b).unwrap();
        v["alerts"].as_array().unwrap().len() == 1 && v["alerts"][0]["system_index"] == sys_index
    });
    let (s, _) = common::get(&server.addr, "/v1/alerts", &writer).unwrap();
    assert_eq!(s, 403, "a writer cannot read alerts");
    common::terminate(server.child);
    common::unflag(dir.path());
}

fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Waits until the server's rules have evaluated every entry and saved.
fn rules_caught_up(addr: &str) {
    wait_until("rules caught up", 20, || {
        let (_, m) = common::get(addr, "/metrics", "").unwrap();
        m.lines()
            .any(|l| l == "veritrail_rules_lag_entries{log=\"default\"} 0")
    });
    std::thread::sleep(Duration::from_millis(1600));
}

#[test]
fn a_restart_in_the_middle_of_a_window_fires_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let hook = receiver(vec![]);
    let rules = dir.path().join("rules.toml");
    write_rules(&rules, &hook.url, 5);
    let args = [
        "--listen",
        "127.0.0.1:0",
        "--rules",
        rules.to_str().unwrap(),
    ];
    let server = common::start_with(&data, &args, &[]);
    let admin = server.admin.clone().unwrap();
    let writer = common::token(
        &server.addr,
        &admin,
        r#"{"role":"writer","logs":["default"]}"#,
    );
    let auditor = common::token(&server.addr, &admin, r#"{"role":"auditor"}"#);
    post_events(
        &server.addr,
        &writer,
        &[
            failure("192.0.2.7"),
            failure("192.0.2.7"),
            failure("192.0.2.7"),
        ],
    );
    rules_caught_up(&server.addr);
    // kill -9 in the middle of the window.
    common::stop(server.child);
    let server = common::start_with(&data, &args, &[]);
    post_events(&server.addr, &writer, &[failure("192.0.2.7")]);
    rules_caught_up(&server.addr);
    assert!(hook.got.lock().unwrap().is_empty(), "four is not five");
    post_events(&server.addr, &writer, &[failure("192.0.2.7")]);
    wait_until("the alert", 20, || !hook.got.lock().unwrap().is_empty());
    rules_caught_up(&server.addr);
    // And another restart after it fired: nothing fires again.
    common::stop(server.child);
    let server = common::start_with(&data, &args, &[]);
    rules_caught_up(&server.addr);
    std::thread::sleep(Duration::from_millis(1000));
    let recs = fired(&server.addr, &auditor, "brute");
    assert_eq!(recs.len(), 1, "exactly once: {recs:#?}");
    let idx: Vec<u64> = recs[0].1["metadata"]["triggers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["index"].as_u64().unwrap())
        .collect();
    assert_eq!(idx, vec![0, 1, 2, 3, 4]);
    assert_eq!(hook.got.lock().unwrap().len(), 1, "delivered once");
    common::terminate(server.child);
    common::unflag(dir.path());
}

#[test]
fn a_bad_file_on_reload_keeps_the_old_rules_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let hook = receiver(vec![]);
    let rules = dir.path().join("rules.toml");
    write_rules(&rules, &hook.url, 2);
    let server = common::start_with(
        &data,
        &[
            "--listen",
            "127.0.0.1:0",
            "--rules",
            rules.to_str().unwrap(),
        ],
        &[],
    );
    let admin = server.admin.clone().unwrap();
    let writer = common::token(
        &server.addr,
        &admin,
        r#"{"role":"writer","logs":["default"]}"#,
    );
    let auditor = common::token(&server.addr, &admin, r#"{"role":"auditor"}"#);
    std::fs::write(&rules, "[[rule]]\nname = \"x\"\nkind = \"threshold\"\n").unwrap();
    let ok = std::process::Command::new("kill")
        .args(["-HUP", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    post_events(
        &server.addr,
        &writer,
        &[failure("192.0.2.9"), failure("192.0.2.9")],
    );
    wait_until("the old rule fires", 20, || {
        !hook.got.lock().unwrap().is_empty()
    });
    // _system holds the refusal with the line and the reason.
    wait_until("rules.reload_failed", 20, || {
        let (_, b) = common::get(
            &server.addr,
            "/v1/logs/_system/events?action=rules.reload_failed",
            &auditor,
        )
        .unwrap();
        let v: Value = serde_json::from_str(&b).unwrap();
        v["events"].as_array().is_some_and(|e| {
            e.iter().any(|e| {
                let m = e["event"]["metadata"]["error"].as_str().unwrap_or_default();
                m.contains("rules.toml:1: rule \"x\": a threshold rule needs count")
            })
        })
    });
    common::terminate(server.child);
    common::unflag(dir.path());
}

/// Reads SSE events from a stream: (event, id, data) until `stop` says so.
fn sse(addr: &str, token: &str, path: &str, mut each: impl FnMut(&str, Option<u64>, &str) -> bool) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n").unwrap();
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert!(line.contains(" 200 "), "{line}");
    let chunked = {
        let mut chunked = false;
        loop {
            line.clear();
            r.read_line(&mut line).unwrap();
            if line.trim().is_empty() {
                break;
            }
            chunked |= line
                .to_ascii_lowercase()
                .contains("transfer-encoding: chunked");
        }
        chunked
    };
    assert!(chunked);
    // Undo chunked framing into a byte stream, then parse SSE lines.
    let mut buf = String::new();
    let (mut event, mut id, mut data) = (String::new(), None, String::new());
    loop {
        line.clear();
        if r.read_line(&mut line).unwrap() == 0 {
            return;
        }
        let n = usize::from_str_radix(line.trim(), 16).unwrap();
        if n == 0 {
            return;
        }
        let mut chunk = vec![0; n + 2];
        r.read_exact(&mut chunk).unwrap();
        buf.push_str(std::str::from_utf8(&chunk[..n]).unwrap());
        while let Some(p) = buf.find('\n') {
            let l: String = buf.drain(..=p).collect();
            let l = l.trim_end_matches('\n');
            if l.is_empty() {
                if (!event.is_empty() || !data.is_empty()) && !each(&event, id, &data) {
                    return;
                }
                (event, id, data) = (String::new(), None, String::new());
            } else if let Some(v) = l.strip_prefix("event: ") {
                event = v.to_owned();
            } else if let Some(v) = l.strip_prefix("id: ") {
                id = v.parse().ok();
            } else if let Some(v) = l.strip_prefix("data: ") {
                data.push_str(v);
            }
        }
    }
}

#[test]
fn a_stream_replays_then_goes_live_every_index_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let server = common::start(&data);
    let admin = server.admin.clone().unwrap();
    let writer = common::token(
        &server.addr,
        &admin,
        r#"{"role":"writer","logs":["default"]}"#,
    );
    let reader = common::token(
        &server.addr,
        &admin,
        r#"{"role":"reader","logs":["default"]}"#,
    );
    let batch = |w: usize, k: usize| -> Vec<String> {
        (0..50)
            .map(|j| format!(r#"{{"action":"t.w{w}","actor":"a{k}-{j}"}}"#))
            .collect()
    };
    // History first, then 8 writers while the stream runs.
    post_events(&server.addr, &writer, &batch(9, 0));
    let total = 50 + 8 * 20 * 50;
    let addr = server.addr.clone();
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let (addr, writer) = (addr.clone(), writer.clone());
            std::thread::spawn(move || {
                for k in 0..20 {
                    post_events(&addr, &writer, &batch(w, k));
                }
            })
        })
        .collect();
    let mut seen = Vec::new();
    sse(
        &server.addr,
        &reader,
        "/v1/logs/default/stream?from=0",
        |ev, id, data| {
            assert_eq!(ev, "entry");
            let v: Value = serde_json::from_str(data).unwrap();
            assert_eq!(v["index"].as_u64(), id);
            assert!(v["event"]["action"].as_str().unwrap().starts_with("t.w"));
            seen.push(id.unwrap());
            seen.len() < total
        },
    );
    for w in writers {
        w.join().unwrap();
    }
    assert_eq!(
        seen,
        (0..total as u64).collect::<Vec<_>>(),
        "every index once, in order"
    );
    // Filters apply; Last-Event-ID resumes after the id.
    let mut got = Vec::new();
    let mut s = TcpStream::connect(&server.addr).unwrap();
    let _ = &mut s;
    sse(
        &server.addr,
        &reader,
        "/v1/logs/default/stream?from=0&action=t.w3",
        |_, id, _| {
            got.push(id.unwrap());
            got.len() < 1000
        },
    );
    assert_eq!(got.len(), 1000);
    common::terminate(server.child);
    common::unflag(dir.path());
}

#[test]
fn a_client_that_does_not_read_is_cut_off_and_resumes_without_a_gap() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let server = common::start(&data);
    let admin = server.admin.clone().unwrap();
    let writer = common::token(
        &server.addr,
        &admin,
        r#"{"role":"writer","logs":["default"]}"#,
    );
    let reader = common::token(
        &server.addr,
        &admin,
        r#"{"role":"reader","logs":["default"]}"#,
    );
    // Big entries, so the socket buffers hold few and the queue fills.
    let pad = "x".repeat(4000);
    let n = 12_000usize;
    for k in 0..(n / 200) {
        let evs: Vec<String> = (0..200)
            .map(|j| format!(r#"{{"action":"t.big","actor":"a{k}-{j}","message":"{pad}"}}"#))
            .collect();
        post_events(&server.addr, &writer, &evs);
    }
    // Open a stream from 0 and read nothing for a while.
    let mut s = TcpStream::connect(&server.addr).unwrap();
    write!(s, "GET /v1/logs/default/stream?from=0 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {reader}\r\n\r\n").unwrap();
    std::thread::sleep(Duration::from_secs(5));
    // Now read everything it sent: entries 0.. in order, then `cut`.
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    let text = String::from_utf8_lossy(&all);
    let ids: Vec<u64> = text
        .lines()
        .filter_map(|l| l.strip_prefix("id: "))
        .map(|v| v.parse().unwrap())
        .collect();
    assert!(!ids.is_empty());
    assert_eq!(
        ids,
        (0..ids.len() as u64).collect::<Vec<_>>(),
        "in order, no gap"
    );
    let cut = text
        .lines()
        .skip_while(|l| *l != "event: cut")
        .nth(1)
        .expect("a cut event");
    let v: Value = serde_json::from_str(cut.strip_prefix("data: ").unwrap()).unwrap();
    let resume = v["resume_from"].as_u64().unwrap();
    assert_eq!(
        resume,
        ids.len() as u64,
        "it resumes right after what it got"
    );
    assert!(resume < n as u64);
    // Resume from there, reading this time: no gap to the end.
    let mut next = resume;
    sse(
        &server.addr,
        &reader,
        &format!("/v1/logs/default/stream?from={resume}"),
        |_, id, _| {
            assert_eq!(id, Some(next));
            next += 1;
            next < n as u64
        },
    );
    let (_, m) = common::get(&server.addr, "/metrics", "").unwrap();
    assert!(m.contains("veritrail_streams_cut_total 1"), "{m}");
    common::terminate(server.child);
    common::unflag(dir.path());
}

/// `rules check` names the problem; `rules test` replays history and says
/// what would have fired; `tail` prints the newest events; the ready-made
/// rules in `rules/` pass the check.
#[test]
fn rules_check_test_and_tail_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = common::init_data(dir.path());
    let rules = dir.path().join("rules.toml");
    std::fs::write(&rules, "[[rule]]\nname = \"b\"\nkind = \"threshold\"\nmatch = { action = \"auth.login\" }\ncount = 3\n").unwrap();
    let (code, _, err) = common::run3(&["rules", "check", rules.to_str().unwrap()], "");
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("rules.toml:1: rule \"b\": a threshold rule needs window"),
        "{err}"
    );
    std::fs::write(&rules, "[[rule]]\nname = \"b\"\nkind = \"threshold\"\nmatch = { action = \"auth.login\", outcome = \"failure\" }\ngroup_by = [\"actor.ip\"]\ncount = 3\nwindow = \"1m\"\n").unwrap();
    let (code, out, err) = common::run3(&["rules", "check", rules.to_str().unwrap()], "");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("1 rules"), "{out}");
    let events: String = (0..7)
        .map(|k| {
            format!(
                "{}\n",
                failure(if k % 2 == 0 { "192.0.2.1" } else { "192.0.2.2" })
            )
        })
        .collect();
    let (code, out) = common::run_on(&["append"], &data, Some(&events));
    assert_eq!(code, 0, "{out}");
    let (code, out) = common::run_on(&["checkpoint"], &data, None);
    assert_eq!(code, 0, "{out}");
    let (code, out) = common::run_on(&["rules", "test", rules.to_str().unwrap()], &data, None);
    assert_eq!(code, 0, "{out}");
    let lines: Vec<&str> = out.lines().filter(|l| l.contains("[medium] b:")).collect();
    assert_eq!(
        lines.len(),
        2,
        "192.0.2.1 (events 0 2 4) and 192.0.2.2 (1 3 5): {out}"
    );
    assert!(lines[0].contains("(default #0 #2 #4)"), "{out}");
    assert!(out.contains("7 events replayed"), "{out}");
    let (code, out) = common::run_on(&["tail", "--from", "5"], &data, None);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out.lines()
            .filter(|l| l.contains("auth.login root"))
            .count(),
        2,
        "{out}"
    );
    assert!(
        out.contains("#6 auth.login root outcome=failure ip=192.0.2.1"),
        "{out}"
    );
    // Silences are timed on the events' clock: a host quiet for 1 s while
    // another logs is reported (the first tick used to be lost to an
    // overflow of "the last tick", which started at the oldest time).
    let quiet = dir.path().join("quiet.toml");
    std::fs::write(&quiet, "[[rule]]\nname = \"q\"\nkind = \"absence\"\ngroup_by = [\"source.host\"]\nafter = \"1s\"\n").unwrap();
    let host = |h: &str| {
        format!("{{\"action\":\"x.y\",\"actor\":\"a\",\"source\":{{\"host\":\"{h}\"}}}}\n")
    };
    let (code, out) = common::run_on(&["append"], &data, Some(&host("h1")));
    assert_eq!(code, 0, "{out}");
    std::thread::sleep(std::time::Duration::from_millis(2200));
    let (code, out) = common::run_on(&["append"], &data, Some(&host("h2")));
    assert_eq!(code, 0, "{out}");
    let (code, out) = common::run_on(&["checkpoint"], &data, None);
    assert_eq!(code, 0, "{out}");
    let (code, out) = common::run_on(&["rules", "test", quiet.to_str().unwrap()], &data, None);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("q: no matching event for source.host=h1"),
        "{out}"
    );
    assert!(!out.contains("source.host=h2"), "{out}");
    // The ready-made rules.
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/../../rules");
    for f in std::fs::read_dir(shipped).unwrap() {
        let p = f.unwrap().path();
        if p.extension().is_some_and(|e| e == "toml") {
            let (code, out, err) = common::run3(&["rules", "check", p.to_str().unwrap()], "");
            assert_eq!(code, 0, "{}: {out}{err}", p.display());
        }
    }
    common::unflag(dir.path());
}

//! The web console (docs/CONSOLE.md), tested two ways:
//!
//! - its HTTP surface, with raw requests: the strict Content-Security-Policy
//!   and other headers, sign-in with a token for a session cookie
//!   (`HttpOnly`, `SameSite=Strict`), writers refused, no session → 401,
//!   another role's session → 403, a request that changes something
//!   without the CSRF token → 403 and nothing done, sign-in from another
//!   origin refused;
//! - in a real browser: Playwright (npm `playwright-core`, installed by
//!   scripts/test.sh in crates/cli/tests/console/) driving Debian's
//!   `chromium` headless through `console/browser.mjs`: sign in, filter,
//!   open an event and see it verified in the browser, a byte flipped by a
//!   proxy turns the badge red, a stored event holding HTML and script is
//!   shown as text and never runs, the live tail receives new events.
//!   Screenshots of every page go to `target/console-screenshots/`.

mod common;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// One raw HTTP/1.1 request; returns the whole response (head and body).
fn http(addr: &str, head: &str, body: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "{head}\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut r = String::new();
    s.read_to_string(&mut r).unwrap();
    r
}

fn status(resp: &str) -> u16 {
    resp.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0)
}

fn body_json(resp: &str) -> serde_json::Value {
    serde_json::from_str(resp.split("\r\n\r\n").nth(1).unwrap_or("")).unwrap_or_default()
}

/// Signs in with `token`; returns (cookie pair, CSRF token, the response).
fn sign_in(addr: &str, token: &str) -> (String, String, String) {
    let r = http(
        addr,
        "POST /console/session HTTP/1.1\r\nContent-Type: application/json",
        &format!(r#"{{"token":"{token}"}}"#),
    );
    let cookie = r
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .starts_with("set-cookie:")
                .then(|| l[11..].trim().to_owned())
        })
        .unwrap_or_default();
    let pair = cookie.split(';').next().unwrap_or("").to_owned();
    let csrf = body_json(&r)["csrf"].as_str().unwrap_or("").to_owned();
    (pair, csrf, r)
}

#[test]
fn sessions_roles_csrf_and_headers() {
    let tmp = tempfile::tempdir().unwrap();
    let data = common::init_data(tmp.path());
    let server = common::start(&data);
    let addr = server.addr.clone();
    let admin = server.admin.clone().unwrap();
    let writer = common::token(&addr, &admin, r#"{"role":"writer","logs":["default"]}"#);
    let reader = common::token(&addr, &admin, r#"{"role":"reader","logs":["default"]}"#);

    // The page, with its policy.
    let r = http(&addr, "GET / HTTP/1.1", "");
    assert_eq!(status(&r), 200, "{r}");
    let head = r.split("\r\n\r\n").next().unwrap().to_ascii_lowercase();
    assert!(
        head.contains("content-security-policy: default-src 'none'; script-src 'self'"),
        "{head}"
    );
    assert!(head.contains("x-frame-options: deny"), "{head}");
    assert!(head.contains("x-content-type-options: nosniff"), "{head}");
    assert!(r.contains("/console/app.js"), "{r}");
    assert!(!r.contains("<script>"), "no inline script: {r}");
    for asset in ["/console/app.js", "/console/verify.js", "/console/app.css"] {
        let r = http(&addr, &format!("GET {asset} HTTP/1.1"), "");
        assert_eq!(status(&r), 200, "{asset}");
    }

    // Sign-in: a bad token is 401, a writer 403, a reader gets a session.
    let (_, _, r) = sign_in(&addr, "vt_nope");
    assert_eq!(status(&r), 401, "{r}");
    let (_, _, r) = sign_in(&addr, &writer);
    assert_eq!(status(&r), 403, "{r}");
    let (rcookie, rcsrf, r) = sign_in(&addr, &reader);
    assert_eq!(status(&r), 200, "{r}");
    let set = r
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    assert!(!set.contains("Secure"), "plain HTTP: {set}");
    assert_eq!(body_json(&r)["role"], "reader");
    assert_eq!(rcsrf.len(), 64);
    // From another site: refused.
    let r = http(
        &addr,
        "POST /console/session HTTP/1.1\r\nContent-Type: application/json\r\nOrigin: http://evil.example",
        &format!(r#"{{"token":"{reader}"}}"#),
    );
    assert_eq!(status(&r), 403, "{r}");
    assert_eq!(body_json(&r)["error"]["code"], "csrf");

    // No session: 401. The reader's session reads its log, not tokens.
    let r = http(&addr, "GET /v1/logs/default/events HTTP/1.1", "");
    assert_eq!(status(&r), 401, "{r}");
    let r = http(
        &addr,
        &format!("GET /v1/logs/default/events HTTP/1.1\r\nCookie: {rcookie}"),
        "",
    );
    assert_eq!(status(&r), 200, "{r}");
    let r = http(
        &addr,
        &format!("GET /v1/tokens HTTP/1.1\r\nCookie: {rcookie}"),
        "",
    );
    assert_eq!(status(&r), 403, "{r}");
    let r = http(
        &addr,
        &format!("GET /console/session HTTP/1.1\r\nCookie: {rcookie}"),
        "",
    );
    assert_eq!(body_json(&r)["csrf"], rcsrf.as_str());

    // An admin session: a change without the CSRF token is refused and
    // nothing is created; with it, it works.
    let (acookie, acsrf, r) = sign_in(&addr, &admin);
    assert_eq!(status(&r), 200, "{r}");
    let count = |c: &str| {
        let r = http(
            &addr,
            &format!("GET /v1/tokens HTTP/1.1\r\nCookie: {c}"),
            "",
        );
        body_json(&r)["tokens"].as_array().unwrap().len()
    };
    let before = count(&acookie);
    let create = r#"{"role":"reader","logs":["default"]}"#;
    for bad in ["", "\r\nX-CSRF-Token: 0000"] {
        let r = http(
            &addr,
            &format!("POST /v1/tokens HTTP/1.1\r\nContent-Type: application/json\r\nCookie: {acookie}{bad}"),
            create,
        );
        assert_eq!(status(&r), 403, "{r}");
        assert_eq!(body_json(&r)["error"]["code"], "csrf");
    }
    // Another session's CSRF token does not do either.
    let r = http(
        &addr,
        &format!("POST /v1/tokens HTTP/1.1\r\nContent-Type: application/json\r\nCookie: {acookie}\r\nX-CSRF-Token: {rcsrf}"),
        create,
    );
    assert_eq!(status(&r), 403, "{r}");
    assert_eq!(count(&acookie), before, "nothing created");
    let r = http(
        &addr,
        &format!("POST /v1/tokens HTTP/1.1\r\nContent-Type: application/json\r\nCookie: {acookie}\r\nX-CSRF-Token: {acsrf}"),
        create,
    );
    assert_eq!(status(&r), 201, "{r}");
    assert_eq!(count(&acookie), before + 1);

    // Revoking the reader's token ends its session at once.
    let rid = body_json(&http(
        &addr,
        &format!("GET /console/session HTTP/1.1\r\nCookie: {rcookie}"),
        "",
    ))["token_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = http(
        &addr,
        &format!("DELETE /v1/tokens/{rid} HTTP/1.1\r\nCookie: {acookie}\r\nX-CSRF-Token: {acsrf}"),
        "",
    );
    assert_eq!(status(&r), 200, "{r}");
    let r = http(
        &addr,
        &format!("GET /v1/logs/default/events HTTP/1.1\r\nCookie: {rcookie}"),
        "",
    );
    assert_eq!(status(&r), 401, "{r}");
    // Signing out needs the CSRF token too, then the session is gone.
    let r = http(
        &addr,
        &format!("DELETE /console/session HTTP/1.1\r\nCookie: {acookie}"),
        "",
    );
    assert_eq!(status(&r), 403, "{r}");
    let r = http(
        &addr,
        &format!("DELETE /console/session HTTP/1.1\r\nCookie: {acookie}\r\nX-CSRF-Token: {acsrf}"),
        "",
    );
    assert_eq!(status(&r), 204, "{r}");
    let r = http(
        &addr,
        &format!("GET /v1/tokens HTTP/1.1\r\nCookie: {acookie}"),
        "",
    );
    assert_eq!(status(&r), 401, "{r}");
    // Sign-ins and sign-outs are in `_system`.
    let auditor = common::token(&addr, &admin, r#"{"role":"auditor"}"#);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (s, b) =
            common::get(&addr, "/v1/logs/_system/events?action=console.*", &auditor).unwrap();
        assert_eq!(s, 200, "{b}");
        if b.contains("console.sign_in") && b.contains("console.sign_out") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{b}");
        std::thread::sleep(Duration::from_millis(200));
    }
    common::terminate(server.child);
    common::unflag(tmp.path());
}

fn console_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/console")
}

#[test]
fn in_chromium_sign_in_filter_verify_tamper_xss_and_live_tail() {
    let dir = console_dir();
    assert!(
        dir.join("node_modules/playwright-core").exists(),
        "npm packages missing: run `npm ci --prefix crates/cli/tests/console` (scripts/test.sh does)"
    );
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "{chromium} missing: apt-get install chromium (scripts/test.sh does)"
    );
    let tmp = tempfile::tempdir().unwrap();
    let data = common::init_data(tmp.path());
    // A rule that bob's failed logins fire, to acknowledge in the browser.
    let rules = tmp.path().join("rules.toml");
    std::fs::write(
        &rules,
        r#"
[[rule]]
name = "failed-logins"
kind = "threshold"
severity = "high"
match = { action = "auth.login", outcome = "failure" }
group_by = ["actor.id"]
count = 20
window = "1h"
actions = ["stderr"]
"#,
    )
    .unwrap();
    let server = common::start_with(&data, &["--rules", rules.to_str().unwrap()], &[]);
    let addr = server.addr.clone();
    let admin = server.admin.clone().unwrap();
    let writer = common::token(&addr, &admin, r#"{"role":"writer","logs":["default"]}"#);
    let auditor = common::token(
        &addr,
        &admin,
        r#"{"role":"auditor","name":"alice-auditor"}"#,
    );
    // Events to look at, one of them carrying HTML and script in every
    // field a page shows.
    let mut events: Vec<String> = Vec::new();
    for i in 0..60 {
        let (actor, outcome) = match i % 3 {
            0 => ("alice", "success"),
            1 => ("bob", "failure"),
            _ => ("carol", "success"),
        };
        events.push(format!(
            r#"{{"action":"auth.login","actor":{{"id":"{actor}","ip":"10.0.0.{i}"}},"outcome":"{outcome}","source":{{"host":"web-{}"}},"message":"login {i}"}}"#,
            i % 4
        ));
    }
    let xss = r#"<img src=x onerror=\"window.__xss=1;alert(1)\"><script>window.__xss=2</script>"#;
    events.push(format!(
        r#"{{"action":"xss.test","actor":"{xss}","target":{{"id":"{xss}"}},"message":"{xss}","source":{{"host":"{xss}"}}}}"#
    ));
    let (s, b) = common::post(
        &addr,
        "/v1/logs/default/events?wait=proof",
        &writer,
        &format!("[{}]", events.join(",")),
    )
    .unwrap();
    assert_eq!(s, 201, "{b}");
    // The index catches up within a second or two.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (_, b) = common::get(&addr, "/v1/logs/default/events?limit=1", &auditor).unwrap();
        let v: serde_json::Value = serde_json::from_str(&b).unwrap();
        if v["indexed_through"].as_u64() >= Some(61) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "index lag: {b}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // The counts the charts draw, over HTTP: exact, filtered, and refused
    // when malformed.
    let (s, b) = common::get(&addr, "/v1/logs/default/stats?top=2", &auditor).unwrap();
    assert_eq!(s, 200, "{b}");
    let v: serde_json::Value = serde_json::from_str(&b).unwrap();
    assert_eq!(v["total"], 61, "{b}");
    assert_eq!(v["failed_logins_by_source"]["total"], 20, "{b}");
    assert_eq!(
        v["failed_logins_by_source"]["rows"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "{b}"
    );
    assert_eq!(
        v["top_actors"]["rows"][0],
        serde_json::json!({"value":"alice","count":20}),
        "{b}"
    );
    let per_hour: u64 = v["per_hour"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["count"].as_u64().unwrap())
        .sum();
    assert_eq!(per_hour, 61, "{b}");
    let (s, b) = common::get(&addr, "/v1/logs/default/stats?actor=bob", &auditor).unwrap();
    assert_eq!(s, 200, "{b}");
    let v: serde_json::Value = serde_json::from_str(&b).unwrap();
    assert_eq!(
        (
            v["total"].as_u64(),
            v["failed_logins_by_source"]["total"].as_u64()
        ),
        (Some(20), Some(20)),
        "{b}"
    );
    assert_eq!(
        v["per_hour"]["query"],
        serde_json::json!({"actor":"bob"}),
        "{b}"
    );
    for bad in ["top=0", "top=101", "limit=5", "since=yesterday"] {
        let (s, b) =
            common::get(&addr, &format!("/v1/logs/default/stats?{bad}"), &auditor).unwrap();
        assert_eq!(s, 400, "{bad}: {b}");
    }
    let (s, _) = common::get(&addr, "/v1/logs/default/stats", &writer).unwrap();
    assert_eq!(s, 403);
    // The rule has fired, and /v1/alerts lists it, not acknowledged.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let alert = loop {
        let (s, b) = common::get(&addr, "/v1/alerts?rule=failed-logins", &auditor).unwrap();
        assert_eq!(s, 200, "{b}");
        let v: serde_json::Value = serde_json::from_str(&b).unwrap();
        if let Some(a) = v["alerts"].as_array().and_then(|a| a.first()) {
            assert!(a["acknowledged"].is_null(), "{b}");
            break a["system_index"].as_u64().unwrap();
        }
        assert!(std::time::Instant::now() < deadline, "no alert: {b}");
        std::thread::sleep(Duration::from_millis(200));
    };
    // Refusals before the browser acknowledges it: a writer, a record that
    // is not an alert, an empty note.
    let ack = |i: u64, token: &str, body: &str| {
        common::post(&addr, &format!("/v1/alerts/{i}/ack"), token, body).unwrap()
    };
    assert_eq!(ack(alert, &writer, r#"{"note":"x"}"#).0, 403);
    assert_eq!(ack(0, &auditor, r#"{"note":"x"}"#).0, 404);
    assert_eq!(ack(alert, &auditor, r#"{"note":"  "}"#).0, 400);
    assert_eq!(ack(alert, &auditor, r#"{"nope":1}"#).0, 400);
    // The Integrity page's data: a verify run recorded in the data
    // directory (while the server runs), each log's checkpoints; per role.
    let (code, out) = common::run_on(&["verify", "--quiet"], &data, None);
    assert_eq!(code, 0, "{out}");
    let (v, default) = common::integrity(&addr, &auditor, "default");
    let b = v.to_string();
    assert_eq!(v["last_verify"]["ok"], true, "{b}");
    assert_eq!(v["damaged"], serde_json::json!([]), "{b}");
    assert_eq!(default["size"], 61, "{b}");
    let sizes: Vec<u64> = default["checkpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["size"].as_u64().unwrap())
        .collect();
    assert_eq!(sizes.last(), Some(&61), "{b}");
    assert!(sizes.windows(2).all(|w| w[0] < w[1]), "{b}");
    assert!(
        default["immutability"]["append_only_files"].as_u64() > Some(0),
        "{b}"
    );
    assert_eq!(default["witnesses"], serde_json::Value::Null, "{b}");
    let reader = common::token(&addr, &admin, r#"{"role":"reader","logs":["default"]}"#);
    let (s, b) = common::get(&addr, "/v1/integrity?history=1", &reader).unwrap();
    assert_eq!(s, 200, "{b}");
    let v: serde_json::Value = serde_json::from_str(&b).unwrap();
    let names: Vec<&str> = v["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["log"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["default"], "a reader sees its own logs: {b}");
    assert_eq!(
        v["logs"][0]["checkpoints"].as_array().unwrap().len(),
        1,
        "{b}"
    );
    assert!(
        v.get("last_verify").is_none(),
        "server-wide parts are for auditors: {b}"
    );
    assert_eq!(common::get(&addr, "/v1/integrity", &writer).unwrap().0, 403);
    for bad in ["history=0", "history=1001", "log=default"] {
        let (s, b) = common::get(&addr, &format!("/v1/integrity?{bad}"), &auditor).unwrap();
        assert_eq!(s, 400, "{bad}: {b}");
    }
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/console-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let out = Command::new("node")
        .arg(dir.join("browser.mjs"))
        .env("BASE", format!("http://{addr}"))
        .env("AUDITOR", &auditor)
        .env("WRITER", &writer)
        .env("ADMIN", &admin)
        .env("CHROMIUM", &chromium)
        .env("SHOTS", &shots)
        .output()
        .expect("node (scripts/test.sh installs nodejs)");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    // The browser's timings (first page, each verifier), for
    // BENCHMARKS.md: shown with `--nocapture`.
    for l in text.lines().filter(|l| l.starts_with("timings ")) {
        eprintln!("console {l}");
    }
    for step in [
        "signed in",
        "filtered",
        "exported",
        "verified",
        "tampered entry refused",
        "xss shown as text",
        "live tail",
        "timeline",
        "review recorded",
        "alert acknowledged",
        "charts",
        "report",
        "integrity",
    ] {
        assert!(text.contains(&format!("ok: {step}")), "{step}: {text}");
    }
    // The bundle the browser downloaded verifies with both verifiers, holds
    // bob's 20 failures, and its export is in `_system`.
    let bundle = shots.join("console-export.bundle");
    let key = common::key_of(&data, "default");
    let sys_key = common::key_of(&data, "_system");
    let keys = ["--key", key.as_str(), "--system-key", sys_key.as_str()];
    let mut a = vec!["verify-bundle", bundle.to_str().unwrap()];
    a.extend(keys);
    let o = common::run(&a, "");
    assert!(o.status.success(), "{}", common::text(&o));
    let header: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(&bundle)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["entries"], 20, "{header}");
    assert_eq!(
        header["query"],
        serde_json::json!({"actor":"bob","outcome":"failure"}),
        "{header}"
    );
    let py = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/verify_bundle.py"))
        .arg(&bundle)
        .args(keys)
        .output()
        .unwrap();
    assert!(py.status.success(), "{}", common::text(&py));
    // A flipped byte in the downloaded file is refused.
    let mut bytes = std::fs::read(&bundle).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    let bad = tmp.path().join("flipped.bundle");
    std::fs::write(&bad, bytes).unwrap();
    let mut a = vec!["verify-bundle", bad.to_str().unwrap()];
    a.extend(keys);
    assert!(!common::run(&a, "").status.success());
    let (s, b) = common::get(
        &addr,
        "/v1/logs/_system/events?action=evidence.export",
        &auditor,
    )
    .unwrap();
    assert_eq!(s, 200, "{b}");
    assert!(b.contains("bundle_sha256"), "{b}");
    // Refusals: a writer, a bad flag, a cosigned checkpoint nobody made.
    let (s, _) = common::get(&addr, "/v1/logs/default/export", &writer).unwrap();
    assert_eq!(s, 403);
    let (s, b) = common::get(&addr, "/v1/logs/default/export?witnessed=yes", &auditor).unwrap();
    assert_eq!(s, 400, "{b}");
    let (s, b) = common::get(&addr, "/v1/logs/default/export?witnessed=true", &auditor).unwrap();
    assert_eq!(s, 409, "{b}");
    assert!(b.contains("cosigned"), "{b}");
    // The browser's acknowledgement is in `_system` and in /v1/alerts; a
    // second one is refused.
    let (s, b) = common::get(&addr, "/v1/alerts?rule=failed-logins", &auditor).unwrap();
    assert_eq!(s, 200, "{b}");
    let v: serde_json::Value = serde_json::from_str(&b).unwrap();
    let a = &v["alerts"][0]["acknowledged"];
    assert_eq!(a["by"]["name"], "alice-auditor", "{b}");
    assert_eq!(a["note"], "bob locked out; password reset", "{b}");
    // The period report counts it: one alert fired, one acknowledged.
    let (s, b) = common::get(&addr, "/v1/logs/default/report", &auditor).unwrap();
    assert_eq!(s, 200, "{b}");
    let r: serde_json::Value = serde_json::from_str(&b).unwrap();
    let alerts = r["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "alerts")
        .unwrap();
    assert_eq!(
        (alerts["total"].as_u64(), alerts["acknowledged"].as_u64()),
        (Some(1), Some(1)),
        "{alerts}"
    );
    let (s, b) = ack(alert, &auditor, r#"{"note":"again"}"#);
    assert_eq!(s, 409, "{b}");
    assert!(b.contains("already"), "{b}");
    let (s, b) = common::get(
        &addr,
        &format!("/v1/logs/_system/events?action=alert.acknowledged&target=alert/{alert}"),
        &auditor,
    )
    .unwrap();
    assert_eq!(s, 200, "{b}");
    assert!(
        b.contains("alert_leaf_hash") && b.contains("bob locked out"),
        "{b}"
    );
    // The review made in the browser is a `review.completed` record in
    // `_system`, naming the auditor's token.
    let (s, b) = common::get(
        &addr,
        "/v1/logs/_system/events?action=review.completed",
        &auditor,
    )
    .unwrap();
    assert_eq!(s, 200, "{b}");
    assert!(
        b.contains("daily review: failed logins of bob checked") && b.contains("alice-auditor"),
        "{b}"
    );
    common::terminate(server.child);
    common::unflag(tmp.path());
}

#[test]
fn reviews_recorded_with_the_cli_covered_and_alerted_when_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = common::init_data(tmp.path());
    let rules = tmp.path().join("rules.toml");
    std::fs::write(
        &rules,
        "[[rule]]\nname = \"unreviewed\"\nkind = \"integrity\"\ncheck = \"not_reviewed\"\nafter = \"2s\"\nlogs = [\"default\"]\n",
    )
    .unwrap();
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
    let addr = server.addr.clone();
    let base = format!("http://{addr}");
    let admin = server.admin.clone().unwrap();
    let writer = common::token(&addr, &admin, r#"{"role":"writer","logs":["default"]}"#);
    let auditor = common::token(&addr, &admin, r#"{"role":"auditor","name":"rita"}"#);
    let reader = common::token(&addr, &admin, r#"{"role":"reader","logs":["default"]}"#);
    let append = |n: usize| {
        let body: Vec<String> = (0..n)
            .map(|i| format!(r#"{{"action":"a.b","actor":"u{i}"}}"#))
            .collect();
        let (s, b) = common::post(
            &addr,
            "/v1/logs/default/events?wait=proof",
            &writer,
            &format!("[{}]", body.join(",")),
        )
        .unwrap();
        assert_eq!(s, 201, "{b}");
        serde_json::from_str::<serde_json::Value>(&b).unwrap()["checkpoint"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let cp10 = append(10);
    let cp_file = tmp.path().join("cp10");
    std::fs::write(&cp_file, &cp10).unwrap();
    let review = |token: &str, extra: &[&str]| {
        let mut a = vec![
            "review", "--server", &base, "--token", token, "--log", "default",
        ];
        a.extend_from_slice(extra);
        common::run3(&a, "")
    };
    // Not an auditor: refused. No note: refused. A checkpoint of another
    // log (`_system`'s): refused.
    let (code, _, err) = review(&reader, &["--note", "x"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("403"), "{err}");
    let (code, _, err) = review(&auditor, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--note"), "{err}");
    let (_, sys_cp) = common::get(&addr, "/v1/logs/_system/checkpoint", &auditor).unwrap();
    let bad = tmp.path().join("bad");
    std::fs::write(&bad, sys_cp).unwrap();
    let (code, _, err) = review(
        &auditor,
        &["--note", "x", "--to-checkpoint", bad.to_str().unwrap()],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("checkpoint"), "{err}");
    // Entries 0..10 reviewed up to the pinned checkpoint.
    let (code, out, err) = review(
        &auditor,
        &[
            "--note",
            "weekly review",
            "--finding",
            "nothing unusual",
            "--to-checkpoint",
            cp_file.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("entries 0..10"), "{out}");
    // More entries: a gap from 10, and the rule fires for it.
    append(5);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        let (code, out, err) = common::run3(
            &[
                "review", "status", "--server", &base, "--token", &auditor, "--log", "default",
            ],
            "",
        );
        assert_eq!(code, 0, "{err}");
        if out.contains("gaps: 10..15") {
            break out;
        }
        assert!(std::time::Instant::now() < deadline, "{out}");
        std::thread::sleep(Duration::from_millis(300));
    };
    assert!(status.contains("10 of 15 entries reviewed"), "{status}");
    assert!(
        status.contains("0..10 by") && status.contains("(rita)"),
        "{status}"
    );
    assert!(status.contains("weekly review"), "{status}");
    loop {
        let (s, b) = common::get(
            &addr,
            "/v1/logs/_system/events?action=alert.fired",
            &auditor,
        )
        .unwrap();
        assert_eq!(s, 200, "{b}");
        if b.contains("unreviewed") && b.contains("entries 10..15 have not been reviewed") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{b}");
        std::thread::sleep(Duration::from_millis(300));
    }
    // The review itself is evidence: in `_system`, with the reviewer, the
    // range, the checkpoint and the findings.
    let (_, b) = common::get(
        &addr,
        "/v1/logs/_system/events?action=review.completed",
        &auditor,
    )
    .unwrap();
    let v: serde_json::Value = serde_json::from_str(&b).unwrap();
    let m = &v["events"][0]["event"]["metadata"];
    assert_eq!(m["from"], 0);
    assert_eq!(m["to"], 10);
    assert_eq!(m["checkpoint"], cp10.as_str());
    assert_eq!(m["findings"][0], "nothing unusual");
    assert_eq!(m["reviewer"]["name"], "rita");
    // The next review starts where the last ended.
    let (code, out, err) = review(&auditor, &["--note", "catch-up"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("entries 10..15"), "{out}");
    common::terminate(server.child);
    common::unflag(tmp.path());
}

//! Period reports (docs/COMPLIANCE.md "Period reports"): `veritrail report` in
//! JSON, HTML and PDF from a server; every figure equals the same query
//! run through `veritrail query`, the HTML shows stored text as text, the
//! PDF renders (poppler's pdftoppm and pdftotext), and the period's
//! evidence bundle verifies.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

fn count(addr: &str, token: &str, filter: &[&str]) -> usize {
    let server = format!("http://{addr}");
    let mut a = vec![
        "query", "--server", &server, "--token", token, "--format", "ndjson",
    ];
    a.extend_from_slice(filter);
    let o = common::run(&a, "");
    assert!(o.status.success(), "{}", common::text(&o));
    String::from_utf8(o.stdout).unwrap().lines().count()
}

/// `veritrail report --server URL --token TOKEN ARGS…`.
fn report(url: &str, token: &str, args: &[&str]) -> std::process::Output {
    let mut a = vec!["report", "--server", url, "--token", token];
    a.extend_from_slice(args);
    common::run(&a, "")
}

#[test]
fn report_figures_match_queries_and_render_as_html_and_pdf() {
    let tmp = tempfile::tempdir().unwrap();
    let data = common::init_data(tmp.path());
    let server = common::start(&data);
    let addr = server.addr.clone();
    let admin = server.admin.clone().unwrap();
    let writer = common::token(&addr, &admin, r#"{"role":"writer","logs":["default"]}"#);
    let auditor = common::token(&addr, &admin, r#"{"role":"auditor","name":"rita"}"#);
    let mut events = Vec::new();
    for i in 0..30 {
        events.push(format!(
            r#"{{"action":"auth.login","actor":{{"id":"u{}"}},"outcome":"{}","source":{{"host":"h{}"}}}}"#,
            i % 4,
            if i % 3 == 0 { "failure" } else { "success" },
            i % 5
        ));
    }
    for (a, n) in [
        ("privilege.sudo", 4),
        ("account.create", 2),
        ("account.delete", 1),
        ("file.modify", 3),
    ] {
        for i in 0..n {
            events.push(format!(
                r#"{{"action":"{a}","actor":"admin{}","target":{{"id":"<b>t{i}</b>"}}}}"#,
                i % 2
            ));
        }
    }
    let (s, b) = common::post(
        &addr,
        "/v1/logs/default/events?wait=proof",
        &writer,
        &format!("[{}]", events.join(",")),
    )
    .unwrap();
    assert_eq!(s, 201, "{b}");
    let url = format!("http://{addr}");
    // A review of everything so far.
    let o = common::run(
        &[
            "review",
            "--server",
            &url,
            "--token",
            &auditor,
            "--log",
            "default",
            "--note",
            "monthly review",
        ],
        "",
    );
    assert!(o.status.success(), "{}", common::text(&o));

    // JSON.
    let json_out = tmp.path().join("r.json");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let o = report(
            &url,
            &auditor,
            &["--format", "json", "-o", json_out.to_str().unwrap()],
        );
        if o.status.success() {
            break;
        }
        assert!(
            common::text(&o).contains("index") && Instant::now() < deadline,
            "{}",
            common::text(&o)
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&json_out).unwrap()).unwrap();
    assert_eq!(r["format"], "veritrail-report/v1");
    assert_eq!(r["tree_size"], 40, "{r}");
    assert_eq!(r["integrity"]["verdict"], "ok", "{r}");
    let section = |id: &str| {
        r["sections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .unwrap_or_else(|| panic!("no section {id}: {r}"))
            .clone()
    };
    // Each figure is what its query gives through `veritrail query`.
    for id in ["events", "auth_failures", "privileged", "accounts", "files"] {
        let s = section(id);
        let mut args: Vec<String> = Vec::new();
        for (k, v) in s["query"].as_object().unwrap() {
            args.push(format!("--{}", if k == "q" { "text" } else { k }));
            args.push(v.as_str().unwrap().to_owned());
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let n = count(&addr, &auditor, &refs);
        assert_eq!(s["total"].as_u64(), Some(n as u64), "{id}: {s}");
        let rows: u64 = s["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["count"].as_u64().unwrap())
            .sum();
        assert_eq!(rows, n as u64, "{id}: rows {s}");
    }
    assert_eq!(section("auth_failures")["total"], 10);
    assert_eq!(section("privileged")["total"], 4);
    assert_eq!(section("accounts")["total"], 3);
    assert_eq!(section("files")["total"], 3);
    let src = section("auth_failures");
    let h0 = src["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["value"] == "h0")
        .unwrap()["count"]
        .clone();
    assert_eq!(
        h0.as_u64(),
        Some(count(
            &addr,
            &auditor,
            &[
                "--action",
                "auth.*",
                "--outcome",
                "failure",
                "--source",
                "h0"
            ]
        ) as u64)
    );
    // No witnesses here: the log's own signature is not a cosignature.
    assert_eq!(section("trust")["cosignatures"], 0, "{r}");
    let rev = section("reviews");
    assert_eq!(rev["unreviewed_entries"], 0, "{rev}");
    assert_eq!(rev["rows"][0]["by"], "rita", "{rev}");
    // A period with nothing in it.
    let empty = tmp.path().join("empty.json");
    let o = report(
        &url,
        &auditor,
        &[
            "--format",
            "json",
            "--from",
            "2000-01-01T00:00:00Z",
            "--to",
            "2000-02-01T00:00:00Z",
            "-o",
            empty.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", common::text(&o));
    let e: Value = serde_json::from_str(&std::fs::read_to_string(&empty).unwrap()).unwrap();
    assert_eq!(e["sections"][0]["total"], 0, "{e}");
    // Refusals: a writer, a backwards period, an unknown format, an
    // existing file.
    let (s, _) = common::get(&addr, "/v1/logs/default/report", &writer).unwrap();
    assert_eq!(s, 403);
    let (s, _) = common::get(
        &addr,
        "/v1/logs/default/report?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z",
        &auditor,
    )
    .unwrap();
    assert_eq!(s, 400);
    let (s, _) = common::get(&addr, "/v1/logs/default/report?format=doc", &auditor).unwrap();
    assert_eq!(s, 400);
    let o = report(
        &url,
        &auditor,
        &["--format", "json", "-o", json_out.to_str().unwrap()],
    );
    assert!(!o.status.success());

    // HTML, with the period's bundle beside it.
    let html = tmp.path().join("r.html");
    let bundle = tmp.path().join("r.bundle");
    let o = report(
        &url,
        &auditor,
        &[
            "-o",
            html.to_str().unwrap(),
            "--bundle",
            bundle.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", common::text(&o));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("Audit log report: default"), "{page}");
    assert!(page.contains("Authentication failures by source"));
    assert!(!page.contains("<script"), "no scripts in a report");
    let key = common::key_of(&data, "default");
    let sys_key = common::key_of(&data, "_system");
    let o = common::run(
        &[
            "verify-bundle",
            bundle.to_str().unwrap(),
            "--key",
            &key,
            "--system-key",
            &sys_key,
        ],
        "",
    );
    assert!(o.status.success(), "{}", common::text(&o));

    // PDF, printed by chromium; poppler renders its pages and reads its text.
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "{chromium} missing: apt-get install chromium (scripts/test.sh does)"
    );
    let pdf = tmp.path().join("r.pdf");
    let o = report(
        &url,
        &auditor,
        &[
            "--format",
            "pdf",
            "--chromium",
            &chromium,
            "-o",
            pdf.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", common::text(&o));
    let png = tmp.path().join("page");
    let o = Command::new("pdftoppm")
        .args([
            "-png",
            "-r",
            "50",
            pdf.to_str().unwrap(),
            png.to_str().unwrap(),
        ])
        .output()
        .expect("pdftoppm (apt-get install poppler-utils; scripts/test.sh does)");
    assert!(o.status.success(), "{}", common::text(&o));
    let pages: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("page"))
        .collect();
    assert!(!pages.is_empty(), "no pages rendered");
    for p in &pages {
        assert!(
            p.metadata().unwrap().len() > 2000,
            "{:?} is empty",
            p.path()
        );
    }
    let o = Command::new("pdftotext")
        .args([pdf.to_str().unwrap(), "-"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("Audit log report") && text.contains("Integrity checks"),
        "{text}"
    );
    // Reports are recorded in `_system`.
    let (s, b) = common::get(
        &addr,
        "/v1/logs/_system/events?action=report.generated",
        &auditor,
    )
    .unwrap();
    assert_eq!(s, 200, "{b}");
    common::terminate(server.child);
    common::unflag(tmp.path());
}

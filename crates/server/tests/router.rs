//! Router tests with `oneshot`: ingest in every body form, a table of bad
//! inputs (each refused with its documented status and nothing stored), the
//! role matrix, receipts verified with veritrail-core alone, revoked and
//! expired tokens, and the `_system` audit trail.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine as _;
use http_body_util::BodyExt as _;
use serde_json::{json, Value};
use tower::ServiceExt as _;
use veritrail_core::checkpoint::open_checkpoint;
use veritrail_core::hash::Hash;
use veritrail_core::note::Verifier;
use veritrail_core::proof::verify_inclusion;
use veritrail_core::tree::{LeafIndex, TreeSize};
use veritrail_server::tokens::Role;
use veritrail_server::{app, AppState, ServerConfig};
use veritrail_store::{DataDir, LogConfig, RealFs};

struct Fixture {
    _tmp: tempfile::TempDir,
    st: Arc<AppState>,
    admin: String,
    writer: String,
    reader: String,
    auditor: String,
    other_writer: String,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("d");
    let (dd, _) = DataDir::init(Arc::new(RealFs), &root, Some("test.example")).unwrap();
    dd.create_log("other").unwrap();
    let config = ServerConfig {
        log: LogConfig {
            checkpoint_interval: Duration::from_millis(100),
            min_checkpoint_interval: Duration::from_millis(5),
            ..LogConfig::default()
        },
        ..ServerConfig::default()
    };
    let st = AppState::open(dd, config).unwrap();
    let mk = |role, logs: &[&str]| {
        st.tokens
            .create(
                role,
                logs.iter().map(|s| s.to_string()).collect(),
                "t",
                None,
            )
            .unwrap()
            .0
    };
    Fixture {
        admin: mk(Role::Admin, &[]),
        writer: mk(Role::Writer, &["default"]),
        reader: mk(Role::Reader, &["default"]),
        auditor: mk(Role::Auditor, &[]),
        other_writer: mk(Role::Writer, &["other"]),
        st,
        _tmp: tmp,
    }
}

async fn call(
    st: &Arc<AppState>,
    method: &str,
    uri: &str,
    token: Option<&str>,
    ct: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, Vec<u8>) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    if let Some(c) = ct {
        req = req.header("Content-Type", c);
    }
    let resp = app(st.clone())
        .oneshot(req.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    (
        status,
        resp.into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
}

fn json_of(b: &[u8]) -> Value {
    serde_json::from_slice(b).unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(b)))
}

fn durable(st: &AppState, log: &str) -> u64 {
    st.log(log).unwrap().durable_size()
}

const EV: &str =
    r#"{"action":"user.login","actor":{"id":"alice","ip":"192.0.2.7"},"outcome":"success"}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_object_array_and_ndjson() {
    let f = fixture();
    let (s, b) = call(
        &f.st,
        "POST",
        "/v1/logs/default/events",
        Some(&f.writer),
        Some("application/json"),
        EV.into(),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{}", String::from_utf8_lossy(&b));
    assert_eq!(json_of(&b)["entries"][0]["index"], 0);
    let arr = format!("[{EV},{EV},{EV}]");
    let (s, b) = call(
        &f.st,
        "POST",
        "/v1/logs/default/events",
        Some(&f.writer),
        Some("application/json"),
        arr.into(),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(json_of(&b)["entries"].as_array().unwrap().len(), 3);
    let nd = format!("{EV}\n\n{EV}\n");
    let (s, b) = call(
        &f.st,
        "POST",
        "/v1/logs/default/events",
        Some(&f.writer),
        Some("application/x-ndjson"),
        nd.into(),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(json_of(&b)["entries"][1]["index"], 5);
    assert_eq!(durable(&f.st, "default"), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_are_refused_and_store_nothing() {
    let f = fixture();
    call(
        &f.st,
        "POST",
        "/v1/logs/default/events",
        Some(&f.writer),
        Some("application/json"),
        EV.into(),
    )
    .await;
    let too_many = format!("[{}]", vec![EV; 10_001].join(","));
    // Every field within its own limit, the canonical event over 65,535 bytes.
    let huge_event = format!(
        r#"{{"action":"a.b","actor":"x","message":"{}","metadata":{{"k":"{}"}}}}"#,
        "m".repeat(40_000),
        "v".repeat(30_000)
    );
    let big_body = vec![b' '; 17 << 20];
    /// (what, content type, body, expected status, expected error code)
    type Case<'a> = (&'a str, Option<&'a str>, Vec<u8>, StatusCode, &'a str);
    let cases: Vec<Case<'_>> = vec![
        (
            "malformed JSON",
            Some("application/json"),
            b"{\"action\":".to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "wrong type",
            Some("application/json"),
            br#"{"action":5,"actor":"x"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_field",
        ),
        (
            "float",
            Some("application/json"),
            br#"{"action":"a.b","actor":"x","metadata":{"n":1.5}}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "unknown field",
            Some("application/json"),
            br#"{"action":"a.b","actor":"x","acter":"y"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_field",
        ),
        (
            "empty body",
            Some("application/json"),
            vec![],
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "empty NDJSON",
            Some("application/x-ndjson"),
            b"\n\n".to_vec(),
            StatusCode::BAD_REQUEST,
            "empty",
        ),
        (
            "wrong content type",
            Some("text/plain"),
            EV.as_bytes().to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "invalid UTF-8",
            Some("application/json"),
            b"{\"action\":\"a.b\",\"actor\":\"\xff\"}".to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "a scalar body",
            Some("application/json"),
            b"42".to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            "one bad item in a batch",
            Some("application/json"),
            format!("[{EV},{{\"action\":\"x.y\"}}]").into_bytes(),
            StatusCode::BAD_REQUEST,
            "invalid_field",
        ),
        (
            "10,001 events",
            Some("application/json"),
            too_many.into_bytes(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
        ),
        (
            "an oversized event",
            Some("application/json"),
            huge_event.into_bytes(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "event_too_large",
        ),
        (
            "a 17 MiB body",
            Some("application/json"),
            big_body,
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
        ),
    ];
    for (what, ct, body, status, code) in cases {
        let before = durable(&f.st, "default");
        let (s, b) = call(
            &f.st,
            "POST",
            "/v1/logs/default/events",
            Some(&f.writer),
            ct,
            body,
        )
        .await;
        assert_eq!(s, status, "{what}: {}", String::from_utf8_lossy(&b));
        let v = json_of(&b);
        assert_eq!(v["error"]["code"], code, "{what}: {v}");
        assert_eq!(durable(&f.st, "default"), before, "{what} changed the log");
    }
    // The failing batch names the item and the field.
    let (_, b) = call(
        &f.st,
        "POST",
        "/v1/logs/default/events",
        Some(&f.writer),
        Some("application/json"),
        format!("[{EV},{{\"action\":\"x.y\"}}]").into(),
    )
    .await;
    let v = json_of(&b);
    assert_eq!(v["error"]["item"], 1);
    assert_eq!(v["error"]["field"], "actor");
    // Unknown log and bad proof queries.
    let (s, _) = call(
        &f.st,
        "POST",
        "/v1/logs/nope/events",
        Some(&f.writer),
        Some("application/json"),
        EV.into(),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    for q in [
        "index=99&tree_size=1",
        "index=0&tree_size=99",
        "index=x",
        "tree_size=1",
    ] {
        let (s, b) = call(
            &f.st,
            "GET",
            &format!("/v1/logs/default/proof/inclusion?{q}"),
            None,
            None,
            vec![],
        )
        .await;
        assert_eq!(
            s,
            StatusCode::BAD_REQUEST,
            "{q}: {}",
            String::from_utf8_lossy(&b)
        );
    }
    let (s, _) = call(
        &f.st,
        "GET",
        "/v1/logs/default/proof/consistency?from=0&to=1",
        None,
        None,
        vec![],
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_matrix() {
    let f = fixture();
    let post = |t: Option<String>, log: &'static str| {
        let st = f.st.clone();
        async move {
            call(
                &st,
                "POST",
                &format!("/v1/logs/{log}/events"),
                t.as_deref(),
                Some("application/json"),
                EV.into(),
            )
            .await
            .0
        }
    };
    assert_eq!(post(None, "default").await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        post(Some("vt_wrong".into()), "default").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        post(Some(f.writer.clone()), "default").await,
        StatusCode::CREATED
    );
    assert_eq!(
        post(Some(f.writer.clone()), "other").await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post(Some(f.other_writer.clone()), "other").await,
        StatusCode::CREATED
    );
    for t in [&f.reader, &f.auditor, &f.admin] {
        assert_eq!(
            post(Some(t.clone()), "default").await,
            StatusCode::FORBIDDEN
        );
    }
    assert_eq!(
        post(Some(f.admin.clone()), "_system").await,
        StatusCode::FORBIDDEN
    );
    f.st.log("default")
        .unwrap()
        .wait_for_checkpoint(1, Duration::from_secs(5))
        .unwrap();
    f.st.log("other")
        .unwrap()
        .wait_for_checkpoint(1, Duration::from_secs(5))
        .unwrap();
    // (token, request, expected status)
    let none = None;
    let (r, a, w, ad) = (
        Some(f.reader.clone()),
        Some(f.auditor.clone()),
        Some(f.writer.clone()),
        Some(f.admin.clone()),
    );
    let table: Vec<(&Option<String>, &str, StatusCode)> = vec![
        // Entries: readers of the log and auditors only.
        (&none, "/v1/logs/default/events/0", StatusCode::UNAUTHORIZED),
        (&r, "/v1/logs/default/events/0", StatusCode::OK),
        (&a, "/v1/logs/other/events/0", StatusCode::OK),
        (&r, "/v1/logs/other/events/0", StatusCode::FORBIDDEN),
        (&w, "/v1/logs/default/events/0", StatusCode::FORBIDDEN),
        (&ad, "/v1/logs/default/events/0", StatusCode::FORBIDDEN),
        (&r, "/v1/logs/default/tile/entries/000.p/1", StatusCode::OK),
        (
            &none,
            "/v1/logs/default/tile/entries/000.p/1",
            StatusCode::UNAUTHORIZED,
        ),
        (
            &w,
            "/v1/logs/default/tile/entries/000.p/1",
            StatusCode::FORBIDDEN,
        ),
        // Checkpoints, hash tiles and proofs are public; _system is not.
        (&none, "/v1/logs/default/checkpoint", StatusCode::OK),
        (&none, "/v1/logs/default/tile/0/000.p/1", StatusCode::OK),
        (
            &none,
            "/v1/logs/default/proof/inclusion?index=0",
            StatusCode::OK,
        ),
        (
            &none,
            "/v1/logs/_system/checkpoint",
            StatusCode::UNAUTHORIZED,
        ),
        (&w, "/v1/logs/_system/checkpoint", StatusCode::FORBIDDEN),
        (&a, "/v1/logs/_system/checkpoint", StatusCode::OK),
        (&ad, "/v1/logs/_system/checkpoint", StatusCode::OK),
        // Listing needs a token; token administration needs admin.
        (&none, "/v1/logs", StatusCode::UNAUTHORIZED),
        (&a, "/v1/tokens", StatusCode::FORBIDDEN),
        (&w, "/v1/tokens", StatusCode::FORBIDDEN),
        (&ad, "/v1/tokens", StatusCode::OK),
    ];
    for (token, uri, want) in table {
        let (got, body) = call(&f.st, "GET", uri, token.as_deref(), None, vec![]).await;
        assert_eq!(
            got,
            want,
            "GET {uri} with {:?}: {}",
            token.as_ref().map(|t| &t[..6]),
            String::from_utf8_lossy(&body)
        );
    }
    // Listing shows only the logs a token may see.
    let (_, b) = call(&f.st, "GET", "/v1/logs", Some(&f.writer), None, vec![]).await;
    let names: Vec<String> = json_of(&b)["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, vec!["default".to_owned()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_and_expired_tokens_are_refused() {
    let f = fixture();
    let (s, b) = call(
        &f.st,
        "POST",
        "/v1/tokens",
        Some(&f.admin),
        Some("application/json"),
        br#"{"role":"writer","logs":["default"],"name":"temp"}"#.to_vec(),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let v = json_of(&b);
    let (secret, id) = (
        v["token"].as_str().unwrap().to_owned(),
        v["id"].as_str().unwrap().to_owned(),
    );
    let (s, _) = call(
        &f.st,
        "POST",
        "/v1/logs/default/events",
        Some(&secret),
        Some("application/json"),
        EV.into(),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _) = call(
        &f.st,
        "DELETE",
        &format!("/v1/tokens/{id}"),
        Some(&f.admin),
        None,
        vec![],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = call(
        &f.st,
        "POST",
        "/v1/logs/default/events",
        Some(&secret),
        Some("application/json"),
        EV.into(),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (expired, _) =
        f.st.tokens
            .create(Role::Writer, vec!["default".into()], "exp", Some(1))
            .unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (s, _) = call(
        &f.st,
        "POST",
        "/v1/logs/default/events",
        Some(&expired),
        Some("application/json"),
        EV.into(),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // Token changes and failed authentications are in the audit trail.
    let sys = f.st.log("_system").unwrap();
    let p = sys
        .wait_for_checkpoint(sys.durable_size(), Duration::from_secs(5))
        .unwrap();
    let entries = sys.entries(0, p.size).unwrap();
    let text: Vec<String> = entries
        .iter()
        .map(|e| String::from_utf8_lossy(e).into_owned())
        .collect();
    assert!(
        text.iter().any(|e| e.contains("\"token.create\"")),
        "{text:?}"
    );
    assert!(text.iter().any(|e| e.contains("\"token.revoke\"")));
    assert!(text.iter().any(|e| e.contains("\"auth.failure\"")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipt_verifies_offline_with_core_alone() {
    let f = fixture();
    let body = format!("[{EV},{EV}]");
    let (s, b) = call(
        &f.st,
        "POST",
        "/v1/logs/default/events?wait=proof",
        Some(&f.writer),
        Some("application/json"),
        body.into(),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{}", String::from_utf8_lossy(&b));
    let r = json_of(&b);
    // Everything below uses only the receipt and veritrail-core.
    let key = Verifier::parse(r["verifier_key"].as_str().unwrap()).unwrap();
    let cp = open_checkpoint(r["checkpoint"].as_str().unwrap().as_bytes(), &key, &[])
        .unwrap()
        .checkpoint;
    assert_eq!(cp.size.0, r["tree_size"].as_u64().unwrap());
    for e in r["entries"].as_array().unwrap() {
        let leaf = Hash::from_slice(
            &base64::engine::general_purpose::STANDARD
                .decode(e["leaf_hash"].as_str().unwrap())
                .unwrap(),
        )
        .unwrap();
        let proof: Vec<Hash> = e["inclusion_proof"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| Hash::from_base64(h.as_str().unwrap()).unwrap())
            .collect();
        verify_inclusion(
            &leaf,
            LeafIndex(e["index"].as_u64().unwrap()),
            cp.size,
            &proof,
            &cp.root,
        )
        .unwrap();
    }
    // And the stored event hashes to the acknowledged leaf.
    let (s, b) = call(
        &f.st,
        "GET",
        "/v1/logs/default/events/1",
        Some(&f.reader),
        None,
        vec![],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let v = json_of(&b);
    assert_eq!(v["leaf_hash"], r["entries"][1]["leaf_hash"]);
    let _ = json!(TreeSize(0).0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_filters_pages_and_reads_from_the_log() {
    let f = fixture();
    let mut nd = String::new();
    for i in 0..30 {
        let action = ["auth.login", "auth.logout", "file.modify"][i % 3];
        nd.push_str(&format!(
            "{{\"action\":\"{action}\",\"actor\":{{\"id\":\"user-{}\"}},\"message\":\"{} ticket-{i}\",\"source\":{{\"host\":\"web-{}\"}}}}\n",
            i % 4,
            if i == 7 { "breach suspected" } else { "routine" },
            i % 2
        ));
    }
    let (s, _) = call(
        &f.st,
        "POST",
        "/v1/logs/default/events",
        Some(&f.writer),
        Some("application/x-ndjson"),
        nd.into(),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    // The index is fed asynchronously: wait until it has caught up.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, b) = call(
            &f.st,
            "GET",
            "/v1/logs/default/events?limit=1",
            Some(&f.reader),
            None,
            vec![],
        )
        .await;
        if json_of(&b)["indexed_through"].as_u64() == Some(30) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "index did not catch up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ids = |b: &[u8]| -> Vec<u64> {
        json_of(b)["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["index"].as_u64().unwrap())
            .collect()
    };
    let get = |uri: String| {
        let st = f.st.clone();
        let r = f.reader.clone();
        async move { call(&st, "GET", &uri, Some(&r), None, vec![]).await }
    };
    let (s, b) = get("/v1/logs/default/events?actor=user-1".into()).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        ids(&b),
        (0..30).filter(|i| i % 4 == 1).collect::<Vec<u64>>()
    );
    let (_, b) = get("/v1/logs/default/events?action=auth.*&source=web-0".into()).await;
    assert_eq!(
        ids(&b),
        (0..30)
            .filter(|i| i % 3 != 2 && i % 2 == 0)
            .collect::<Vec<u64>>()
    );
    let (_, b) = get("/v1/logs/default/events?q=breach".into()).await;
    assert_eq!(ids(&b), vec![7]);
    // The event comes from the log, byte for byte, with its leaf hash.
    let v = json_of(&b);
    let stored =
        f.st.log("default")
            .unwrap()
            .entries(7, 1)
            .unwrap()
            .remove(0);
    assert_eq!(
        serde_json::to_vec(&v["events"][0]["event"]).unwrap().len(),
        stored.len()
    );
    assert_eq!(
        v["events"][0]["leaf_hash"],
        veritrail_core::leaf_hash(&stored).to_base64()
    );
    // Paging.
    let (_, b) = get("/v1/logs/default/events?limit=10".into()).await;
    assert_eq!(json_of(&b)["next_cursor"], 9);
    let (_, b) = get("/v1/logs/default/events?limit=10&cursor=19".into()).await;
    assert_eq!(ids(&b), (20..30).collect::<Vec<u64>>());
    assert!(json_of(&b)["next_cursor"].is_null());
    // Bad queries, wrong roles.
    for q in [
        "since=yesterday",
        "limit=0",
        "limit=5000",
        "colour=red",
        "cursor=x",
    ] {
        let (s, _) = get(format!("/v1/logs/default/events?{q}")).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{q}");
    }
    let (s, _) = call(
        &f.st,
        "GET",
        "/v1/logs/default/events",
        Some(&f.writer),
        None,
        vec![],
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = call(
        &f.st,
        "GET",
        "/v1/logs/other/events",
        Some(&f.reader),
        None,
        vec![],
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // Queries are recorded in the audit trail.
    let sys = f.st.log("_system").unwrap();
    let p = sys
        .wait_for_checkpoint(sys.durable_size(), Duration::from_secs(5))
        .unwrap();
    let all: Vec<String> = sys
        .entries(0, p.size)
        .unwrap()
        .iter()
        .map(|e| String::from_utf8_lossy(e).into_owned())
        .collect();
    assert!(all.iter().any(|e| e.contains("\"evidence.query\"")));
}

/// Regression: a token created without a name made every audit record invalid
/// (`actor.name` must not be empty), so its reads failed with 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_without_a_name_are_audited_and_served() {
    let f = fixture();
    let (nameless, _) =
        f.st.tokens
            .create(Role::Reader, vec!["default".into()], "", None)
            .unwrap();
    let (s, b) = call(
        &f.st,
        "GET",
        "/v1/logs/default/events?limit=1",
        Some(&nameless),
        None,
        vec![],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_appends_fsyncs_and_responses() {
    let f = fixture();
    for _ in 0..3 {
        let (s, _) = call(
            &f.st,
            "POST",
            "/v1/logs/default/events",
            Some(&f.writer),
            Some("application/json"),
            format!("[{EV},{EV}]").into(),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED);
    }
    call(
        &f.st,
        "POST",
        "/v1/logs/default/events",
        None,
        Some("application/json"),
        EV.into(),
    )
    .await;
    let (s, b) = call(&f.st, "GET", "/metrics", None, None, vec![]).await;
    assert_eq!(s, StatusCode::OK);
    let text = String::from_utf8(b).unwrap();
    for want in [
        "veritrail_appended_entries_total{log=\"default\"} 6",
        "veritrail_batch_entries_count{log=\"default\"} 3",
        "veritrail_batch_entries_sum{log=\"default\"} 6",
        "veritrail_http_responses_total{code=\"201\"} 3",
        "veritrail_http_responses_total{code=\"401\"} 1",
        "# TYPE veritrail_fsync_seconds histogram",
        "veritrail_checkpoint_age_seconds{log=\"default\"}",
        "veritrail_index_lag_entries{log=\"default\"}",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    let groups: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("veritrail_fsync_seconds_count{log=\"default\"} "))
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3).contains(&groups), "{groups} fsyncs for 3 appends");
}

/// Every path and method in the OpenAPI document is routed (answers
/// something other than the router's own 404/405), so the document cannot
/// list endpoints that do not exist.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_matches_the_router() {
    let f = fixture();
    let (s, b) = call(&f.st, "GET", "/v1/openapi.json", None, None, vec![]).await;
    assert_eq!(s, StatusCode::OK);
    let doc = json_of(&b);
    assert_eq!(doc["openapi"], "3.0.3");
    let mut n = 0;
    for (path, ops) in doc["paths"].as_object().unwrap() {
        let uri = path
            .replace("{log}", "default")
            .replace("{index}", "0")
            .replace("{path}", "0/000")
            .replace("{id}", "tok_x");
        for method in ops.as_object().unwrap().keys() {
            let (s, b) = call(
                &f.st,
                &method.to_uppercase(),
                &uri,
                Some(&f.admin),
                Some("application/json"),
                b"{}".to_vec(),
            )
            .await;
            let routed = !(s == StatusCode::METHOD_NOT_ALLOWED
                || (s == StatusCode::NOT_FOUND && b.is_empty()));
            assert!(routed, "{method} {path} is documented but not routed ({s})");
            n += 1;
        }
    }
    assert!(n >= 14, "{n} operations documented");
}

async fn call_with(
    st: &Arc<AppState>,
    uri: &str,
    token: &str,
    key: &str,
    body: &str,
) -> (StatusCode, Option<String>, Vec<u8>) {
    let req = Request::builder()
        .method("POST")
        .uri(uri)
        .header("Authorization", format!("Bearer {token}"))
        .header("Content-Type", "application/json")
        .header("Idempotency-Key", key)
        .body(Body::from(body.to_owned()))
        .unwrap();
    let resp = app(st.clone()).oneshot(req).await.unwrap();
    let replayed = resp
        .headers()
        .get("idempotent-replayed")
        .map(|v| v.to_str().unwrap().to_owned());
    let status = resp.status();
    (
        status,
        replayed,
        resp.into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_key_replays_and_appends_nothing() {
    let f = fixture();
    let uri = "/v1/logs/default/events";
    let (s, r, first) = call_with(&f.st, uri, &f.writer, "order-42", EV).await;
    assert_eq!((s, r), (StatusCode::CREATED, None));
    let size = durable(&f.st, "default");
    // The retry gets the same answer and appends nothing.
    let (s, r, again) = call_with(&f.st, uri, &f.writer, "order-42", EV).await;
    assert_eq!((s, r.as_deref()), (StatusCode::CREATED, Some("true")));
    assert_eq!(again, first);
    assert_eq!(durable(&f.st, "default"), size);
    // The same key with another request is refused.
    let other = r#"{"action":"user.logout","actor":"alice"}"#;
    let (s, _, b) = call_with(&f.st, uri, &f.writer, "order-42", other).await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        String::from_utf8_lossy(&b)
    );
    assert_eq!(durable(&f.st, "default"), size);
    // Keys are per token.
    let (w2, _) =
        f.st.tokens
            .create(Role::Writer, vec!["default".into()], "w2", None)
            .unwrap();
    let (s, r, _) = call_with(&f.st, uri, &w2, "order-42", EV).await;
    assert_eq!((s, r), (StatusCode::CREATED, None));
    assert_eq!(durable(&f.st, "default"), size + 1);
    // Bad keys.
    for bad in ["", "has space", &"k".repeat(256)] {
        let (s, _, _) = call_with(&f.st, uri, &f.writer, bad, EV).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_checkpoints_need_a_token_that_sees_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    let (dd, _) = DataDir::init(
        Arc::new(RealFs),
        &tmp.path().join("d"),
        Some("test.example"),
    )
    .unwrap();
    dd.create_log("other").unwrap();
    let config = ServerConfig {
        private_checkpoints: true,
        ..ServerConfig::default()
    };
    let st = AppState::open(dd, config).unwrap();
    let (reader, _) = st
        .tokens
        .create(Role::Reader, vec!["default".into()], "r", None)
        .unwrap();
    for uri in [
        "/v1/logs/default/checkpoint",
        "/v1/logs/default/tile/0/000.p/1",
        "/v1/logs/default/proof/consistency?from=1&to=1",
    ] {
        let (s, _) = call(&st, "GET", uri, None, None, vec![]).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{uri}");
    }
    let (s, _) = call(
        &st,
        "GET",
        "/v1/logs/default/checkpoint",
        Some(&reader),
        None,
        vec![],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = call(
        &st,
        "GET",
        "/v1/logs/other/checkpoint",
        Some(&reader),
        None,
        vec![],
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_creates_logs_that_are_usable_at_once() {
    let f = fixture();
    let body = br#"{"name":"payments"}"#.to_vec();
    let (s, _) = call(
        &f.st,
        "POST",
        "/v1/logs",
        Some(&f.writer),
        Some("application/json"),
        body.clone(),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, b) = call(
        &f.st,
        "POST",
        "/v1/logs",
        Some(&f.admin),
        Some("application/json"),
        body.clone(),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{}", String::from_utf8_lossy(&b));
    let v = json_of(&b);
    let key = Verifier::parse(v["verifier_key"].as_str().unwrap()).unwrap();
    assert!(key.name().ends_with("/payments"));
    let (s, _) = call(
        &f.st,
        "POST",
        "/v1/logs",
        Some(&f.admin),
        Some("application/json"),
        body,
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, _) = call(
        &f.st,
        "POST",
        "/v1/logs",
        Some(&f.admin),
        Some("application/json"),
        br#"{"name":"Bad Name"}"#.to_vec(),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // A writer for it can append right away, and the checkpoint verifies with the returned key.
    let (pw, _) =
        f.st.tokens
            .create(Role::Writer, vec!["payments".into()], "pay", None)
            .unwrap();
    let (s, b) = call(
        &f.st,
        "POST",
        "/v1/logs/payments/events?wait=proof",
        Some(&pw),
        Some("application/json"),
        EV.into(),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{}", String::from_utf8_lossy(&b));
    let r = json_of(&b);
    open_checkpoint(r["checkpoint"].as_str().unwrap().as_bytes(), &key, &[]).unwrap();
    let sys = f.st.log("_system").unwrap();
    let p = sys
        .wait_for_checkpoint(sys.durable_size(), Duration::from_secs(5))
        .unwrap();
    let all: Vec<String> = sys
        .entries(0, p.size)
        .unwrap()
        .iter()
        .map(|e| String::from_utf8_lossy(e).into_owned())
        .collect();
    assert!(all
        .iter()
        .any(|e| e.contains("\"log.create\"") && e.contains("payments")));
}

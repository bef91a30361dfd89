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
use veritrail_service::store::{DataDir, LogConfig, RealFs};

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

/// One request to the router, built up and sent by [`Req::send`] (every
/// request of these tests goes through it).
struct Req {
    method: String,
    uri: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// What the router answered.
struct Resp {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

impl Resp {
    /// Status and body.
    fn parts(self) -> (StatusCode, Vec<u8>) {
        (self.status, self.body)
    }
}

impl Req {
    fn new(method: &str, uri: impl Into<String>) -> Req {
        Req {
            method: method.to_owned(),
            uri: uri.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }
    fn header(mut self, k: &str, v: impl Into<String>) -> Req {
        self.headers.push((k.to_owned(), v.into()));
        self
    }
    fn token(self, t: &str) -> Req {
        self.header("Authorization", format!("Bearer {t}"))
    }
    fn maybe_token(self, t: Option<&str>) -> Req {
        match t {
            Some(t) => self.token(t),
            None => self,
        }
    }
    /// The body, with its Content-Type if any.
    fn body(mut self, ct: Option<&str>, body: Vec<u8>) -> Req {
        if let Some(c) = ct {
            self = self.header("Content-Type", c);
        }
        self.body = body;
        self
    }
    async fn send(self, st: &Arc<AppState>) -> Resp {
        let mut req = Request::builder()
            .method(self.method.as_str())
            .uri(&self.uri);
        for (k, v) in &self.headers {
            req = req.header(k.as_str(), v);
        }
        let resp = app(st.clone())
            .oneshot(req.body(Body::from(self.body)).unwrap())
            .await
            .unwrap();
        let (status, headers) = (resp.status(), resp.headers().clone());
        let body = resp
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        Resp {
            status,
            headers,
            body,
        }
    }
}

/// The common case: method, URI, token, Content-Type and body.
async fn call(
    st: &Arc<AppState>,
    method: &str,
    uri: &str,
    token: Option<&str>,
    ct: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, Vec<u8>) {
    Req::new(method, uri)
        .maybe_token(token)
        .body(ct, body)
        .send(st)
        .await
        .parts()
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
    let (s, b) = Req::new("POST", "/v1/logs/default/events")
        .maybe_token(Some(&f.writer))
        .body(Some("application/json"), EV.into())
        .send(&f.st)
        .await
        .parts();
    assert_eq!(s, StatusCode::CREATED, "{}", String::from_utf8_lossy(&b));
    assert_eq!(json_of(&b)["entries"][0]["index"], 0);
    let arr = format!("[{EV},{EV},{EV}]");
    let (s, b) = Req::new("POST", "/v1/logs/default/events")
        .maybe_token(Some(&f.writer))
        .body(Some("application/json"), arr.into())
        .send(&f.st)
        .await
        .parts();
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(json_of(&b)["entries"].as_array().unwrap().len(), 3);
    let nd = format!("{EV}\n\n{EV}\n");
    let (s, b) = Req::new("POST", "/v1/logs/default/events")
        .maybe_token(Some(&f.writer))
        .body(Some("application/x-ndjson"), nd.into())
        .send(&f.st)
        .await
        .parts();
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(json_of(&b)["entries"][1]["index"], 5);
    assert_eq!(durable(&f.st, "default"), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_are_refused_and_store_nothing() {
    let f = fixture();
    Req::new("POST", "/v1/logs/default/events")
        .maybe_token(Some(&f.writer))
        .body(Some("application/json"), EV.into())
        .send(&f.st)
        .await
        .parts();
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
    let (_, b) = Req::new("POST", "/v1/logs/default/events")
        .maybe_token(Some(&f.writer))
        .body(
            Some("application/json"),
            format!("[{EV},{{\"action\":\"x.y\"}}]").into(),
        )
        .send(&f.st)
        .await
        .parts();
    let v = json_of(&b);
    assert_eq!(v["error"]["item"], 1);
    assert_eq!(v["error"]["field"], "actor");
    // Unknown log and bad proof queries.
    let (s, _) = Req::new("POST", "/v1/logs/nope/events")
        .maybe_token(Some(&f.writer))
        .body(Some("application/json"), EV.into())
        .send(&f.st)
        .await
        .parts();
    assert_eq!(s, StatusCode::NOT_FOUND);
    for q in [
        "index=99&tree_size=1",
        "index=0&tree_size=99",
        "index=x",
        "tree_size=1",
    ] {
        let (s, b) = Req::new("GET", format!("/v1/logs/default/proof/inclusion?{q}"))
            .send(&f.st)
            .await
            .parts();
        assert_eq!(
            s,
            StatusCode::BAD_REQUEST,
            "{q}: {}",
            String::from_utf8_lossy(&b)
        );
    }
    let (s, _) = Req::new("GET", "/v1/logs/default/proof/consistency?from=0&to=1")
        .send(&f.st)
        .await
        .parts();
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_matrix() {
    let f = fixture();
    let post = |t: Option<String>, log: &'static str| {
        let st = f.st.clone();
        async move {
            Req::new("POST", format!("/v1/logs/{log}/events"))
                .maybe_token(t.as_deref())
                .body(Some("application/json"), EV.into())
                .send(&st)
                .await
                .parts()
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
    let (s, b) = Req::new("POST", "/v1/tokens")
        .maybe_token(Some(&f.admin))
        .body(
            Some("application/json"),
            br#"{"role":"writer","logs":["default"],"name":"temp"}"#.to_vec(),
        )
        .send(&f.st)
        .await
        .parts();
    assert_eq!(s, StatusCode::CREATED);
    let v = json_of(&b);
    let (secret, id) = (
        v["token"].as_str().unwrap().to_owned(),
        v["id"].as_str().unwrap().to_owned(),
    );
    let (s, _) = Req::new("POST", "/v1/logs/default/events")
        .maybe_token(Some(&secret))
        .body(Some("application/json"), EV.into())
        .send(&f.st)
        .await
        .parts();
    assert_eq!(s, StatusCode::CREATED);
    let (s, _) = Req::new("DELETE", format!("/v1/tokens/{id}"))
        .maybe_token(Some(&f.admin))
        .send(&f.st)
        .await
        .parts();
    assert_eq!(s, StatusCode::OK);
    let (s, _) = Req::new("POST", "/v1/logs/default/events")
        .maybe_token(Some(&secret))
        .body(Some("application/json"), EV.into())
        .send(&f.st)
        .await
        .parts();
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (expired, _) =
        f.st.tokens
            .create(Role::Writer, vec!["default".into()], "exp", Some(1))
            .unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (s, _) = Req::new("POST", "/v1/logs/default/events")
        .maybe_token(Some(&expired))
        .body(Some("application/json"), EV.into())
        .send(&f.st)
        .await
        .parts();
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
    let (s, b) = Req::new("POST", "/v1/logs/default/events?wait=proof")
        .maybe_token(Some(&f.writer))
        .body(Some("application/json"), body.into())
        .send(&f.st)
        .await
        .parts();
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
    let (s, b) = Req::new("GET", "/v1/logs/default/events/1")
        .maybe_token(Some(&f.reader))
        .send(&f.st)
        .await
        .parts();
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
    let (s, _) = Req::new("POST", "/v1/logs/default/events")
        .maybe_token(Some(&f.writer))
        .body(Some("application/x-ndjson"), nd.into())
        .send(&f.st)
        .await
        .parts();
    assert_eq!(s, StatusCode::CREATED);
    // The index is fed asynchronously: wait until it has caught up.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, b) = Req::new("GET", "/v1/logs/default/events?limit=1")
            .maybe_token(Some(&f.reader))
            .send(&f.st)
            .await
            .parts();
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
    let (s, _) = Req::new("GET", "/v1/logs/default/events")
        .maybe_token(Some(&f.writer))
        .send(&f.st)
        .await
        .parts();
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = Req::new("GET", "/v1/logs/other/events")
        .maybe_token(Some(&f.reader))
        .send(&f.st)
        .await
        .parts();
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
    let (s, b) = Req::new("GET", "/v1/logs/default/events?limit=1")
        .maybe_token(Some(&nameless))
        .send(&f.st)
        .await
        .parts();
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_appends_fsyncs_and_responses() {
    let f = fixture();
    for _ in 0..3 {
        let (s, _) = Req::new("POST", "/v1/logs/default/events")
            .maybe_token(Some(&f.writer))
            .body(Some("application/json"), format!("[{EV},{EV}]").into())
            .send(&f.st)
            .await
            .parts();
        assert_eq!(s, StatusCode::CREATED);
    }
    Req::new("POST", "/v1/logs/default/events")
        .body(Some("application/json"), EV.into())
        .send(&f.st)
        .await
        .parts();
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
    call_typed(st, uri, token, key, "application/json", body).await
}

const NDJSON: &str = "application/x-ndjson";

async fn call_typed(
    st: &Arc<AppState>,
    uri: &str,
    token: &str,
    key: &str,
    media_type: &str,
    body: &str,
) -> (StatusCode, Option<String>, Vec<u8>) {
    let r = Req::new("POST", uri)
        .token(token)
        .header("Idempotency-Key", key)
        .body(Some(media_type), body.as_bytes().to_vec())
        .send(st)
        .await;
    let replayed = r
        .headers
        .get("idempotent-replayed")
        .map(|v| v.to_str().unwrap().to_owned());
    (r.status, replayed, r.body)
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
    // A batch, remembered as the range of entries it names and answered
    // again from them: the same bytes, nothing appended.
    let batch = "{\"action\":\"user.login\",\"actor\":\"a\"}\n{\"action\":\"user.login\",\"actor\":\"b\"}\n{\"action\":\"user.logout\",\"actor\":\"a\"}\n";
    let (s, r, first) = call_typed(&f.st, uri, &f.writer, "batch-7", NDJSON, batch).await;
    assert_eq!((s, r), (StatusCode::CREATED, None));
    assert_eq!(json_of(&first)["entries"].as_array().unwrap().len(), 3);
    let size = durable(&f.st, "default");
    let (s, r, again) = call_typed(&f.st, uri, &f.writer, "batch-7", NDJSON, batch).await;
    assert_eq!((s, r.as_deref()), (StatusCode::CREATED, Some("true")));
    assert_eq!(again, first);
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
    let (s, _) = Req::new("GET", "/v1/logs/default/checkpoint")
        .maybe_token(Some(&reader))
        .send(&st)
        .await
        .parts();
    assert_eq!(s, StatusCode::OK);
    let (s, _) = Req::new("GET", "/v1/logs/other/checkpoint")
        .maybe_token(Some(&reader))
        .send(&st)
        .await
        .parts();
    assert_eq!(s, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_creates_logs_that_are_usable_at_once() {
    let f = fixture();
    let body = br#"{"name":"payments"}"#.to_vec();
    let (s, _) = Req::new("POST", "/v1/logs")
        .maybe_token(Some(&f.writer))
        .body(Some("application/json"), body.clone())
        .send(&f.st)
        .await
        .parts();
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, b) = Req::new("POST", "/v1/logs")
        .maybe_token(Some(&f.admin))
        .body(Some("application/json"), body.clone())
        .send(&f.st)
        .await
        .parts();
    assert_eq!(s, StatusCode::CREATED, "{}", String::from_utf8_lossy(&b));
    let v = json_of(&b);
    let key = Verifier::parse(v["verifier_key"].as_str().unwrap()).unwrap();
    assert!(key.name().ends_with("/payments"));
    let (s, _) = Req::new("POST", "/v1/logs")
        .maybe_token(Some(&f.admin))
        .body(Some("application/json"), body)
        .send(&f.st)
        .await
        .parts();
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, _) = Req::new("POST", "/v1/logs")
        .maybe_token(Some(&f.admin))
        .body(Some("application/json"), br#"{"name":"Bad Name"}"#.to_vec())
        .send(&f.st)
        .await
        .parts();
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // A writer for it can append right away, and the checkpoint verifies with the returned key.
    let (pw, _) =
        f.st.tokens
            .create(Role::Writer, vec!["payments".into()], "pay", None)
            .unwrap();
    let (s, b) = Req::new("POST", "/v1/logs/payments/events?wait=proof")
        .maybe_token(Some(&pw))
        .body(Some("application/json"), EV.into())
        .send(&f.st)
        .await
        .parts();
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

/// Issue 18, items 6-9 and 11: every refusal is the documented JSON body in
/// our words, with a bounded echo, and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refusal_is_json_in_our_words_and_changes_nothing() {
    let f = fixture();
    let long_name = "n".repeat(5_000);
    let long_uri = format!("/v1/logs/default/checkpoint?x={}", "y".repeat(9_000));
    // (what, method, uri, token, content type, extra header, body, status, code)
    type Case<'a> = (
        &'a str,
        &'a str,
        String,
        Option<&'a str>,
        Option<&'a str>,
        Option<(&'a str, &'a str)>,
        Vec<u8>,
        StatusCode,
        &'a str,
    );
    let post = "/v1/logs/default/events".to_owned();
    let cases: Vec<Case<'_>> = vec![
        (
            "a parameter twice",
            "POST",
            format!("{post}?wait=proof&wait=none"),
            Some(&f.writer),
            Some("application/json"),
            None,
            EV.into(),
            StatusCode::BAD_REQUEST,
            "bad_query",
        ),
        (
            "a wait mode that does not exist",
            "POST",
            format!("{post}?wait=garbage"),
            Some(&f.writer),
            Some("application/json"),
            None,
            EV.into(),
            StatusCode::BAD_REQUEST,
            "bad_query",
        ),
        (
            "an unknown parameter on ingest",
            "POST",
            format!("{post}?bogus=1"),
            Some(&f.writer),
            Some("application/json"),
            None,
            EV.into(),
            StatusCode::BAD_REQUEST,
            "bad_query",
        ),
        (
            "no Content-Type",
            "POST",
            post.clone(),
            Some(&f.writer),
            None,
            None,
            EV.into(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "a latin1 charset",
            "POST",
            post.clone(),
            Some(&f.writer),
            Some("application/json; charset=latin1"),
            None,
            EV.into(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "gzip declared over a plain body",
            "POST",
            post.clone(),
            Some(&f.writer),
            Some("application/json"),
            Some(("Content-Encoding", "gzip")),
            EV.into(),
            StatusCode::BAD_REQUEST,
            "bad_encoding",
        ),
        (
            "an unknown encoding",
            "POST",
            post.clone(),
            Some(&f.writer),
            Some("application/json"),
            Some(("Content-Encoding", "br")),
            EV.into(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_encoding",
        ),
        (
            "a gzip bomb",
            "POST",
            post.clone(),
            Some(&f.writer),
            Some("application/json"),
            Some(("Content-Encoding", "gzip")),
            gzip(&vec![b' '; 20 << 20]),
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
        ),
        (
            "an action without a dot",
            "POST",
            post.clone(),
            Some(&f.writer),
            Some("application/json"),
            None,
            br#"{"action":"login","actor":"a"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_field",
        ),
        (
            "a message over 65,535 bytes",
            "POST",
            post.clone(),
            Some(&f.writer),
            Some("application/json"),
            None,
            format!(
                r#"{{"action":"a.b","actor":"a","message":"{}"}}"#,
                "m".repeat(70_000)
            )
            .into_bytes(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "event_too_large",
        ),
        (
            "an unknown parameter on a proof",
            "GET",
            "/v1/logs/default/proof/inclusion?index=0&bogus=1".into(),
            None,
            None,
            None,
            vec![],
            StatusCode::BAD_REQUEST,
            "bad_query",
        ),
        (
            "an unknown route",
            "GET",
            "/v1/nothing/here".into(),
            None,
            None,
            None,
            vec![],
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "a wrong method",
            "PUT",
            "/v1/logs".into(),
            Some(&f.admin),
            None,
            None,
            vec![],
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            "an over-long URI",
            "GET",
            long_uri,
            None,
            None,
            None,
            vec![],
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
        ),
        (
            "a 10,000-character log name",
            "GET",
            format!("/v1/logs/{long_name}/checkpoint"),
            None,
            None,
            None,
            vec![],
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "a reader token for _system",
            "POST",
            "/v1/tokens".into(),
            Some(&f.admin),
            Some("application/json"),
            None,
            br#"{"role":"reader","logs":["_system"]}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_token_request",
        ),
        (
            "a writer token for _system",
            "POST",
            "/v1/tokens".into(),
            Some(&f.admin),
            Some("application/json"),
            None,
            br#"{"role":"writer","logs":["_system"]}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_token_request",
        ),
        (
            "an expiry that overflows",
            "POST",
            "/v1/tokens".into(),
            Some(&f.admin),
            Some("application/json"),
            None,
            br#"{"role":"auditor","expires_in_secs":18446744073709551615}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_field",
        ),
        (
            "an expiry near 9.2e18",
            "POST",
            "/v1/tokens".into(),
            Some(&f.admin),
            Some("application/json"),
            None,
            br#"{"role":"auditor","expires_in_secs":9223372036854775000}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_field",
        ),
        (
            "an expiry over 10 years",
            "POST",
            "/v1/tokens".into(),
            Some(&f.admin),
            Some("application/json"),
            None,
            br#"{"role":"auditor","expires_in_secs":315360001}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_field",
        ),
        (
            "an expiry of the wrong type",
            "POST",
            "/v1/tokens".into(),
            Some(&f.admin),
            Some("application/json"),
            None,
            br#"{"role":"auditor","expires_in_secs":"soon"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_field",
        ),
        (
            "an unknown token field",
            "POST",
            "/v1/tokens".into(),
            Some(&f.admin),
            Some("application/json"),
            None,
            br#"{"role":"auditor","lgos":[]}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_field",
        ),
        (
            "a token body that is not JSON",
            "POST",
            "/v1/tokens".into(),
            Some(&f.admin),
            Some("application/json"),
            None,
            b"role=admin".to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "a token request without Content-Type",
            "POST",
            "/v1/tokens".into(),
            Some(&f.admin),
            None,
            None,
            br#"{"role":"auditor"}"#.to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "a log name that is not a string",
            "POST",
            "/v1/logs".into(),
            Some(&f.admin),
            Some("application/json"),
            None,
            br#"{"name":7}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_field",
        ),
    ];
    let tokens_before = f.st.tokens.list().len();
    for (what, method, uri, token, ct, extra, body, status, code) in cases {
        let before = durable(&f.st, "default");
        let mut req = Req::new(method, uri).maybe_token(token).body(ct, body);
        if let Some((k, v)) = extra {
            req = req.header(k, v);
        }
        let r = req.send(&f.st).await;
        let (s, b) = (r.status, r.body);
        let ctype = r
            .headers
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(s, status, "{what}: {}", String::from_utf8_lossy(&b));
        assert_eq!(ctype.as_deref(), Some("application/json"), "{what}");
        let v = json_of(&b);
        assert_eq!(v["error"]["code"], code, "{what}: {v}");
        let message = v["error"]["message"].as_str().unwrap();
        assert!(
            message.len() < 400,
            "{what}: the echo is bounded: {} bytes",
            message.len()
        );
        for leak in [
            "expected u64",
            "invalid type",
            "Failed to deserialize",
            "serde",
        ] {
            assert!(!message.contains(leak), "{what}: {message}");
        }
        assert_eq!(durable(&f.st, "default"), before, "{what} changed the log");
    }
    assert_eq!(f.st.tokens.list().len(), tokens_before, "no token was made");
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Issue 18.9: forwarders send gzip and zstd; both are decoded and stored as
/// if sent plain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_and_zstd_bodies_are_decoded() {
    let f = fixture();
    let ndjson = format!("{EV}\n{EV}\n");
    for (enc, body) in [
        ("gzip", gzip(ndjson.as_bytes())),
        ("zstd", zstd(ndjson.as_bytes())),
    ] {
        let before = durable(&f.st, "default");
        let r = Req::new("POST", "/v1/logs/default/events")
            .token(&f.writer)
            .header("Content-Encoding", enc)
            .body(Some("application/x-ndjson; charset=utf-8"), body)
            .send(&f.st)
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{enc}");
        assert_eq!(durable(&f.st, "default"), before + 2, "{enc}");
    }
}

fn zstd(data: &[u8]) -> Vec<u8> {
    ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
}

/// Issue 18.11: historical checkpoints, proofs that carry the checkpoint
/// they are for (and only for signed sizes), the raw stored bytes, and
/// `//` in a path read as `/`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verifiers_get_checkpoints_proofs_with_them_and_raw_entries() {
    let f = fixture();
    for _ in 0..3 {
        let (s, _) = Req::new("POST", "/v1/logs/default/events?wait=proof")
            .maybe_token(Some(&f.writer))
            .body(Some("application/json"), format!("[{EV},{EV}]").into())
            .send(&f.st)
            .await
            .parts();
        assert_eq!(s, StatusCode::CREATED);
    }
    let get = |uri: String, token: Option<String>| {
        let st = f.st.clone();
        async move { call(&st, "GET", &uri, token.as_deref(), None, vec![]).await }
    };
    let (s, b) = get("/v1/logs/default/checkpoints".into(), None).await;
    assert_eq!(s, StatusCode::OK);
    let sizes: Vec<u64> = json_of(&b)["sizes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(
        sizes.first(),
        Some(&0),
        "the empty tree's checkpoint is first"
    );
    assert!(
        sizes.contains(&2) && sizes.contains(&4) && sizes.contains(&6),
        "{sizes:?}"
    );
    let vkey = f.st.log("default").unwrap().verifier().clone();
    for size in [2u64, 4, 6] {
        let (s, b) = get(format!("/v1/logs/default/checkpoints/{size}"), None).await;
        assert_eq!(s, StatusCode::OK);
        let cp = open_checkpoint(&b, &vkey, &[]).unwrap();
        assert_eq!(cp.checkpoint.size.0, size);
        // A proof to that size carries that checkpoint, and verifies with it.
        let (s, b) = get(
            format!("/v1/logs/default/proof/inclusion?index=1&tree_size={size}"),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
        let v = json_of(&b);
        let text = v["checkpoint"].as_str().unwrap();
        let cp = open_checkpoint(text.as_bytes(), &vkey, &[]).unwrap();
        assert_eq!(cp.checkpoint.size.0, size);
        let proof: Vec<Hash> = v["proof"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| Hash::from_base64(h.as_str().unwrap()).unwrap())
            .collect();
        let (_, raw) = get(
            "/v1/logs/default/events/1/raw".into(),
            Some(f.reader.clone()),
        )
        .await;
        let leaf = veritrail_core::leaf_hash(&raw);
        verify_inclusion(
            &leaf,
            LeafIndex(1),
            TreeSize(size),
            &proof,
            &cp.checkpoint.root,
        )
        .unwrap();
    }
    // A size no checkpoint signed: refused, not proven.
    let (s, b) = get(
        "/v1/logs/default/proof/inclusion?index=0&tree_size=3".into(),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{}", String::from_utf8_lossy(&b));
    let (s, _) = get("/v1/logs/default/checkpoints/3".into(), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, b) = get(
        "/v1/logs/default/proof/consistency?from=2&to=6".into(),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let v = json_of(&b);
    assert!(v["from_checkpoint"].as_str().unwrap().contains("\n2\n"));
    assert!(v["to_checkpoint"].as_str().unwrap().contains("\n6\n"));
    // The raw bytes are exactly the event embedded in the JSON answer.
    let (_, json) = get("/v1/logs/default/events/1".into(), Some(f.reader.clone())).await;
    let (s, raw) = get(
        "/v1/logs/default/events/1/raw".into(),
        Some(f.reader.clone()),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let text = String::from_utf8(json).unwrap();
    assert!(text.contains(std::str::from_utf8(&raw).unwrap()));
    let r = Req::new("GET", "/v1/logs/default/events/1")
        .token(&f.reader)
        .header("Accept", "application/octet-stream")
        .send(&f.st)
        .await;
    assert_eq!(r.body, raw);
    // `//` reads as `/` (a tlog-tiles client given a prefix ending in /).
    let (s, b) = get("/v1/logs/default//checkpoint".into(), None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(b.starts_with(b"test.example/default\n"));
}

/// Issue 18.12: a flood of bad tokens from one address is recorded once at
/// once, then as one record with a count per minute.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unauthenticated_flood_is_aggregated_in_system() {
    let f = fixture();
    let sys = f.st.log("_system").unwrap();
    let before = sys.durable_size();
    let calls = (0..40).map(|_| {
        let st = f.st.clone();
        async move {
            call(&st, "GET", "/v1/logs", Some("vt_wrong"), None, vec![])
                .await
                .0
        }
    });
    for s in futures_join_all(calls).await {
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    // The oneshot requests carry no address: they are one source.
    assert_eq!(
        sys.durable_size() - before,
        1,
        "the first failure alone is recorded at once"
    );
    f.st.flush_auth_failures(true).await;
    assert_eq!(
        sys.durable_size() - before,
        2,
        "the other 39 are one record"
    );
    sys.wait_for_checkpoint(sys.durable_size(), Duration::from_secs(5))
        .unwrap();
    let last = sys.entries(sys.durable_size() - 1, 1).unwrap().remove(0);
    let v: Value = serde_json::from_slice(&last).unwrap();
    assert_eq!(v["action"], "auth.failure");
    assert_eq!(v["metadata"]["repeats"], 39);
}

async fn futures_join_all<F: std::future::Future + Send + 'static>(
    fs: impl Iterator<Item = F>,
) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = fs.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

/// Issue 18.4: an entry whose stored bytes were changed (its WAL checksum
/// recomputed, so only the tree can tell) is never served: 500
/// `integrity_error`, recorded in `_system`, counted in /metrics, and
/// /healthz stops saying ok.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_entry_is_refused_recorded_counted_and_unhealthy() {
    let f = fixture();
    let marker = "entry-number-3-original";
    for i in 0..6 {
        let ev = format!(
            r#"{{"action":"user.login","actor":"a","message":"entry-number-{i}-original"}}"#
        );
        let (s, _) = call(
            &f.st,
            "POST",
            "/v1/logs/default/events?wait=proof",
            Some(&f.writer),
            Some("application/json"),
            ev.into(),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED);
    }
    let (s, _) = call(&f.st, "GET", "/healthz", None, None, vec![]).await;
    assert_eq!(s, StatusCode::OK);
    // Change the entry on disk and recompute its WAL record's CRC-32C.
    let wal = f.st.log("default").unwrap().dir().join("wal");
    let seg = std::fs::read_dir(&wal)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "seg"))
        .unwrap();
    let _ = std::process::Command::new("chattr")
        .args(["-a", "-i"])
        .arg(&seg)
        .status();
    let mut bytes = std::fs::read(&seg).unwrap();
    let at = bytes
        .windows(marker.len())
        .position(|w| w == marker.as_bytes())
        .unwrap();
    bytes[at + marker.len() - 8..at + marker.len()].copy_from_slice(b"FORGED!!");
    // The record starts 8 bytes before its payload, which starts at `{`.
    let start = bytes[..at].iter().rposition(|b| *b == b'{').unwrap() - 8;
    let word = u32::from_le_bytes(bytes[start..start + 4].try_into().unwrap());
    let len = (word & 0x7fff_ffff) as usize;
    let crc = crc32c::crc32c_append(
        crc32c::crc32c(&bytes[start..start + 4]),
        &bytes[start + 8..start + 8 + len],
    );
    bytes[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    {
        use std::io::{Seek as _, Write as _};
        let mut file = std::fs::OpenOptions::new().write(true).open(&seg).unwrap();
        file.seek(std::io::SeekFrom::Start(0)).unwrap();
        file.write_all(&bytes).unwrap();
        file.sync_all().unwrap();
    }
    let sys = f.st.log("_system").unwrap();
    let sys_before = sys.durable_size();
    let (s, b) = call(
        &f.st,
        "GET",
        "/v1/logs/default/events/3",
        Some(&f.reader),
        None,
        vec![],
    )
    .await;
    assert_eq!(
        s,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{}",
        String::from_utf8_lossy(&b)
    );
    assert_eq!(json_of(&b)["error"]["code"], "integrity_error");
    assert!(
        !String::from_utf8_lossy(&b).contains("FORGED"),
        "the altered bytes are never served"
    );
    // Entries around it are still served; the query path refuses it too.
    let (s, _) = call(
        &f.st,
        "GET",
        "/v1/logs/default/events/2",
        Some(&f.reader),
        None,
        vec![],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    // Recorded (the read's own evidence.read, then integrity.error).
    let recs = sys.durable_size() - sys_before;
    assert!(recs >= 2, "{recs} records");
    sys.wait_for_checkpoint(sys.durable_size(), Duration::from_secs(5))
        .unwrap();
    let all: Vec<String> = sys
        .entries(sys_before, recs)
        .unwrap()
        .into_iter()
        .map(|e| String::from_utf8(e).unwrap())
        .collect();
    assert!(
        all.iter()
            .any(|e| e.contains("\"integrity.error\"") && e.contains("\"index\":3")),
        "{all:?}"
    );
    let (_, m) = call(&f.st, "GET", "/metrics", None, None, vec![]).await;
    let m = String::from_utf8(m).unwrap();
    assert!(
        m.contains("veritrail_integrity_errors_total{log=\"default\"} 1"),
        "{m}"
    );
    let (s, b) = call(&f.st, "GET", "/healthz", None, None, vec![]).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(json_of(&b)["damaged"][0]["log"], "default");
    let _ = std::process::Command::new("chattr")
        .args(["-R", "-a", "-i"])
        .arg(f.st.root())
        .status();
}

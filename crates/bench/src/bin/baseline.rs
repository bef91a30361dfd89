//! The baselines veritrail is compared with (issue 6), driven the way a
//! competent engineer would build them:
//!
//! - PostgreSQL: an append-only `audit_events` table whose BEFORE INSERT
//!   trigger chains `hash = sha256(prev_hash || row bytes)` under a lock on
//!   the chain head, `synchronous_commit = on`, UPDATE/DELETE/TRUNCATE revoked;
//! - SQLite (WAL, `synchronous=FULL`) with the same chain computed by the
//!   application inside an IMMEDIATE transaction.
//!
//! Every run prints one JSON object on stdout. `bench/run.sh` drives it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use serde_json::json;
use sha2::{Digest, Sha256};
use veritrail_bench::push_event;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// (Re)create the PostgreSQL schema: table, chain head, trigger, grants.
    PgSetup {
        #[arg(long)]
        url: String,
    },
    /// Durable inserts into PostgreSQL: `clients` connections, `batch` rows per transaction.
    PgIngest {
        #[arg(long)]
        url: String,
        #[arg(long)]
        events: u64,
        #[arg(long, default_value_t = 1)]
        clients: usize,
        #[arg(long, default_value_t = 1)]
        batch: usize,
        /// Index of the first event (to append to an existing chain).
        #[arg(long, default_value_t = 0)]
        offset: u64,
    },
    /// Walk the PostgreSQL chain in id order, recomputing every hash.
    PgVerify {
        #[arg(long)]
        url: String,
    },
    /// Bytes of the table with its indexes and TOAST, per row.
    PgSize {
        #[arg(long)]
        url: String,
    },
    /// Durable inserts into SQLite (WAL, synchronous=FULL), chain in the application.
    SqliteIngest {
        #[arg(long)]
        path: String,
        #[arg(long)]
        events: u64,
        #[arg(long, default_value_t = 1)]
        clients: usize,
        #[arg(long, default_value_t = 1)]
        batch: usize,
    },
    /// Walk the SQLite chain, recomputing every hash.
    SqliteVerify {
        #[arg(long)]
        path: String,
    },
}

const SCHEMA: &str = r"
DROP TABLE IF EXISTS audit_events;
DROP FUNCTION IF EXISTS audit_chain();
CREATE TABLE audit_events (
    id        bigserial PRIMARY KEY,
    ts        timestamptz NOT NULL DEFAULT now(),
    actor     text NOT NULL,
    action    text NOT NULL,
    target    text,
    outcome   text,
    payload   jsonb NOT NULL,
    prev_hash bytea NOT NULL,
    hash      bytea NOT NULL
);
CREATE FUNCTION audit_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE prev bytea;
BEGIN
    -- One writer at a time extends the chain (held to the end of the transaction).
    PERFORM pg_advisory_xact_lock(727372);
    SELECT hash INTO prev FROM audit_events ORDER BY id DESC LIMIT 1;
    IF prev IS NULL THEN
        prev := decode(repeat('00', 32), 'hex');
    END IF;
    -- Drawn after the lock, so id order is chain order (a bigserial default
    -- is evaluated before the trigger runs, racing with other writers).
    NEW.id := nextval(pg_get_serial_sequence('audit_events', 'id'));
    NEW.prev_hash := prev;
    NEW.hash := sha256(prev || convert_to(concat_ws(chr(31), NEW.id, NEW.ts, NEW.actor,
        NEW.action, NEW.target, NEW.outcome, NEW.payload::text), 'UTF8'));
    RETURN NEW;
END $$;
CREATE TRIGGER audit_chain BEFORE INSERT ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_chain();
REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM PUBLIC;
";

/// The bytes the trigger hashes, recomputed by the server for the walk.
const PG_WALK: &str =
    "SELECT id, prev_hash, hash, convert_to(concat_ws(chr(31), id, ts, actor, action, \
     target, outcome, payload::text), 'UTF8') FROM audit_events ORDER BY id";

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let k = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[k]
}

/// Runs `clients` threads that each take the next chunk of `batch` events
/// and call `insert`; returns (seconds, sorted per-transaction latencies in ms).
fn drive<C: Send>(
    events: u64,
    clients: usize,
    batch: usize,
    connect: impl Fn() -> C + Sync,
    insert: impl Fn(&mut C, u64, usize) + Sync,
) -> (f64, Vec<f64>) {
    let next = AtomicU64::new(0);
    let lat = Mutex::new(Vec::with_capacity((events as usize / batch.max(1)) + 1));
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..clients {
            s.spawn(|| {
                let mut c = connect();
                let mut mine = Vec::new();
                loop {
                    let first = next.fetch_add(batch as u64, Ordering::Relaxed);
                    if first >= events {
                        break;
                    }
                    let n = batch.min((events - first) as usize);
                    let t = Instant::now();
                    insert(&mut c, first, n);
                    mine.push(t.elapsed().as_secs_f64() * 1e3);
                }
                lat.lock().unwrap().extend(mine);
            });
        }
    });
    let secs = start.elapsed().as_secs_f64();
    let mut l = lat.into_inner().unwrap();
    l.sort_by(f64::total_cmp);
    (secs, l)
}

fn report(
    system: &str,
    what: &str,
    events: u64,
    clients: usize,
    batch: usize,
    secs: f64,
    lat: &[f64],
) {
    println!(
        "{}",
        json!({
            "system": system, "what": what, "events": events, "clients": clients, "batch": batch,
            "secs": secs, "events_per_s": events as f64 / secs,
            "p50_ms": percentile(lat, 0.5), "p99_ms": percentile(lat, 0.99),
        })
    );
}

fn report_verify(system: &str, rows: u64, start: Instant) {
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({"system": system, "what": "verify", "events": rows, "secs": secs, "events_per_s": rows as f64 / secs})
    );
}

fn actor(i: u64) -> String {
    format!("user-{}", i % 10_000)
}

fn pg_ingest(url: &str, events: u64, clients: usize, batch: usize, offset: u64) {
    let (secs, lat) = drive(
        events,
        clients,
        batch,
        || postgres::Client::connect(url, postgres::NoTls).expect("connect to PostgreSQL"),
        |c, first, n| {
            let mut buf = Vec::with_capacity(300);
            let mut actors = Vec::with_capacity(n);
            let mut payloads = Vec::with_capacity(n);
            for k in 0..n as u64 {
                let i = first + k + offset;
                buf.clear();
                push_event(&mut buf, i as usize, 300);
                actors.push(actor(i));
                payloads.push(String::from_utf8(buf.clone()).expect("utf8"));
            }
            // One statement per transaction: a single row, or all rows of a
            // batch through unnest (one round trip; the trigger still runs
            // once per row, in order).
            if n == 1 {
                c.execute(
                    "INSERT INTO audit_events (actor, action, target, outcome, payload) VALUES ($1, 'user.login', 'web', 'success', $2::text::jsonb)",
                    &[&actors[0], &payloads[0]],
                )
                .expect("insert");
            } else {
                c.execute(
                    "INSERT INTO audit_events (actor, action, target, outcome, payload) \
                     SELECT a, 'user.login', 'web', 'success', p::jsonb FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS t(a, p, o) ORDER BY o",
                    &[&actors, &payloads],
                )
                .expect("insert batch");
            }
        },
    );
    report("postgresql", "ingest", events, clients, batch, secs, &lat);
}

fn pg_verify(url: &str) {
    let mut c = postgres::Client::connect(url, postgres::NoTls).expect("connect");
    let start = Instant::now();
    let mut prev = vec![0u8; 32];
    let mut rows = 0u64;
    let mut last_id = 0i64;
    let mut it = c
        .query_raw(PG_WALK, std::iter::empty::<i64>())
        .expect("walk");
    use postgres::fallible_iterator::FallibleIterator as _;
    while let Some(r) = it.next().expect("row") {
        let id: i64 = r.get(0);
        let p: &[u8] = r.get(1);
        let h: &[u8] = r.get(2);
        let body: &[u8] = r.get(3);
        assert!(id > last_id, "ids out of order at {id}");
        assert_eq!(p, prev.as_slice(), "chain broken at id {id}: prev_hash");
        let mut s = Sha256::new();
        s.update(p);
        s.update(body);
        let want = s.finalize();
        assert_eq!(h, want.as_slice(), "chain broken at id {id}: hash");
        prev = h.to_vec();
        last_id = id;
        rows += 1;
    }
    report_verify("postgresql", rows, start);
}

fn pg_size(url: &str) {
    let mut c = postgres::Client::connect(url, postgres::NoTls).expect("connect");
    let r = c
        .query_one(
            "SELECT pg_total_relation_size('audit_events'), count(*) FROM audit_events",
            &[],
        )
        .expect("size");
    let bytes: i64 = r.get(0);
    let rows: i64 = r.get(1);
    println!(
        "{}",
        json!({"system": "postgresql", "what": "disk", "events": rows, "bytes": bytes, "bytes_per_event": bytes as f64 / rows.max(1) as f64})
    );
}

/// A connection for one client: waits on the writer lock, syncs fully.
fn sqlite_open(path: &str) -> rusqlite::Connection {
    let c = rusqlite::Connection::open(path).expect("open SQLite");
    c.busy_timeout(Duration::from_secs(60))
        .expect("busy timeout");
    c.execute_batch("PRAGMA synchronous=FULL;")
        .expect("synchronous=FULL");
    c
}

/// Creates the database once, before any client connects (WAL mode is
/// persistent, and switching to it needs the database to itself).
fn sqlite_schema(path: &str) {
    let c = sqlite_open(path);
    c.execute_batch(
        "PRAGMA journal_mode=WAL;
         CREATE TABLE IF NOT EXISTS audit_events (
            id INTEGER PRIMARY KEY, ts TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
            target TEXT, outcome TEXT, payload TEXT NOT NULL, prev_hash BLOB NOT NULL, hash BLOB NOT NULL);
         CREATE TRIGGER IF NOT EXISTS no_update BEFORE UPDATE ON audit_events BEGIN SELECT RAISE(ABORT, 'append-only'); END;
         CREATE TRIGGER IF NOT EXISTS no_delete BEFORE DELETE ON audit_events BEGIN SELECT RAISE(ABORT, 'append-only'); END;",
    )
    .expect("schema");
}

fn sqlite_body(id: i64, ts: &str, actor: &str, payload: &str) -> Vec<u8> {
    format!("{id}\x1f{ts}\x1f{actor}\x1fuser.login\x1fweb\x1fsuccess\x1f{payload}").into_bytes()
}

fn sqlite_ingest(path: &str, events: u64, clients: usize, batch: usize) {
    sqlite_schema(path);
    let (secs, lat) = drive(
        events,
        clients,
        batch,
        || sqlite_open(path),
        |c, first, n| {
            let tx = c
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .expect("begin immediate");
            let (mut id, mut prev): (i64, Vec<u8>) = tx
                .query_row(
                    "SELECT id, hash FROM audit_events ORDER BY id DESC LIMIT 1",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .unwrap_or((0, vec![0u8; 32]));
            {
                let mut st = tx
                    .prepare_cached("INSERT INTO audit_events VALUES (?1, ?2, ?3, 'user.login', 'web', 'success', ?4, ?5, ?6)")
                    .expect("prepare");
                let ts = "2026-11-26T00:00:00.000000Z";
                let mut buf = Vec::with_capacity(300);
                for k in 0..n as u64 {
                    let i = first + k;
                    id += 1;
                    buf.clear();
                    push_event(&mut buf, i as usize, 300);
                    let payload = std::str::from_utf8(&buf).expect("utf8");
                    let a = actor(i);
                    let mut s = Sha256::new();
                    s.update(&prev);
                    s.update(sqlite_body(id, ts, &a, payload));
                    let h = s.finalize().to_vec();
                    st.execute(rusqlite::params![id, ts, a, payload, prev, h])
                        .expect("insert");
                    prev = h;
                }
            }
            tx.commit().expect("commit");
        },
    );
    report("sqlite", "ingest", events, clients, batch, secs, &lat);
}

fn sqlite_verify(path: &str) {
    let c = sqlite_open(path);
    let start = Instant::now();
    let mut st = c
        .prepare("SELECT id, ts, actor, payload, prev_hash, hash FROM audit_events ORDER BY id")
        .expect("prepare");
    let mut rows = st.query([]).expect("walk");
    let mut prev = vec![0u8; 32];
    let mut n = 0u64;
    while let Some(r) = rows.next().expect("row") {
        let id: i64 = r.get(0).expect("id");
        let ts: String = r.get(1).expect("ts");
        let a: String = r.get(2).expect("actor");
        let payload: String = r.get(3).expect("payload");
        let p: Vec<u8> = r.get(4).expect("prev");
        let h: Vec<u8> = r.get(5).expect("hash");
        assert_eq!(p, prev, "chain broken at id {id}");
        let mut s = Sha256::new();
        s.update(&p);
        s.update(sqlite_body(id, &ts, &a, &payload));
        assert_eq!(
            h.as_slice(),
            s.finalize().as_slice(),
            "chain broken at id {id}"
        );
        prev = h;
        n += 1;
    }
    report_verify("sqlite", n, start);
}

fn main() {
    match Cli::parse().cmd {
        Cmd::PgSetup { url } => {
            let mut c = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
            c.batch_execute(SCHEMA).expect("schema");
        }
        Cmd::PgIngest {
            url,
            events,
            clients,
            batch,
            offset,
        } => pg_ingest(&url, events, clients, batch, offset),
        Cmd::PgVerify { url } => pg_verify(&url),
        Cmd::PgSize { url } => pg_size(&url),
        Cmd::SqliteIngest {
            path,
            events,
            clients,
            batch,
        } => sqlite_ingest(&path, events, clients, batch),
        Cmd::SqliteVerify { path } => sqlite_verify(&path),
    }
}

//! `GET /metrics`: Prometheus text exposition. Counts only; nothing about
//! event contents.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use veritrail_service::store::stats::{BATCH_BUCKETS, FSYNC_BUCKETS};

use crate::state::AppState;

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// The handler.
pub async fn metrics(State(st): State<Arc<AppState>>) -> Response {
    let now = veritrail_service::store::now_nanos();
    let logs: Vec<(String, Arc<veritrail_service::store::Log>)> = st.logs();
    let mut o = String::with_capacity(4096);
    header(
        &mut o,
        "veritrail_appended_entries_total",
        "counter",
        "Entries made durable since the server started.",
    );
    for (n, l) in &logs {
        let _ = writeln!(
            o,
            "veritrail_appended_entries_total{{log=\"{n}\"}} {}",
            l.stats().entries.load(Ordering::Relaxed)
        );
    }
    header(
        &mut o,
        "veritrail_commit_groups_total",
        "counter",
        "Commit groups (one write and one fdatasync each).",
    );
    for (n, l) in &logs {
        let _ = writeln!(
            o,
            "veritrail_commit_groups_total{{log=\"{n}\"}} {}",
            l.stats().groups.load(Ordering::Relaxed)
        );
    }
    header(
        &mut o,
        "veritrail_fsync_seconds",
        "histogram",
        "fdatasync latency of the append log.",
    );
    for (n, l) in &logs {
        let (cum, count, sum_ns) = l.stats().fsync.snapshot();
        for (b, c) in FSYNC_BUCKETS.iter().zip(cum) {
            let _ = writeln!(
                o,
                "veritrail_fsync_seconds_bucket{{log=\"{n}\",le=\"{b}\"}} {c}"
            );
        }
        let _ = writeln!(
            o,
            "veritrail_fsync_seconds_bucket{{log=\"{n}\",le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            o,
            "veritrail_fsync_seconds_sum{{log=\"{n}\"}} {}",
            sum_ns as f64 / 1e9
        );
        let _ = writeln!(o, "veritrail_fsync_seconds_count{{log=\"{n}\"}} {count}");
    }
    header(
        &mut o,
        "veritrail_batch_entries",
        "histogram",
        "Entries per append request.",
    );
    for (n, l) in &logs {
        let (cum, count, sum) = l.stats().batches.snapshot();
        for (b, c) in BATCH_BUCKETS.iter().zip(cum) {
            let _ = writeln!(
                o,
                "veritrail_batch_entries_bucket{{log=\"{n}\",le=\"{b}\"}} {c}"
            );
        }
        let _ = writeln!(
            o,
            "veritrail_batch_entries_bucket{{log=\"{n}\",le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(o, "veritrail_batch_entries_sum{{log=\"{n}\"}} {sum}");
        let _ = writeln!(o, "veritrail_batch_entries_count{{log=\"{n}\"}} {count}");
    }
    header(
        &mut o,
        "veritrail_tree_size",
        "gauge",
        "Entries covered by the latest signed checkpoint.",
    );
    for (n, l) in &logs {
        let _ = writeln!(
            o,
            "veritrail_tree_size{{log=\"{n}\"}} {}",
            l.published().size
        );
    }
    header(
        &mut o,
        "veritrail_checkpoint_age_seconds",
        "gauge",
        "Seconds since the latest checkpoint was signed or loaded.",
    );
    for (n, l) in &logs {
        let age = now.saturating_sub(l.published().signed_at) as f64 / 1e9;
        let _ = writeln!(
            o,
            "veritrail_checkpoint_age_seconds{{log=\"{n}\"}} {age:.3}"
        );
    }
    header(
        &mut o,
        "veritrail_index_lag_entries",
        "gauge",
        "Entries covered by a checkpoint but not yet in the query index.",
    );
    for (n, l) in &logs {
        if let Ok(qi) = st.index(n) {
            let lag = l
                .published()
                .size
                .saturating_sub(qi.indexed_through().unwrap_or(0));
            let _ = writeln!(o, "veritrail_index_lag_entries{{log=\"{n}\"}} {lag}");
        }
    }
    header(
        &mut o,
        "veritrail_integrity_errors_total",
        "counter",
        "Entries read back that did not match their leaf hash (refused, never served).",
    );
    for (n, l) in &logs {
        let v = l.stats().integrity_errors.load(Ordering::Relaxed);
        let _ = writeln!(o, "veritrail_integrity_errors_total{{log=\"{n}\"}} {v}");
    }
    header(
        &mut o,
        "veritrail_log_damaged",
        "gauge",
        "1 for a log found damaged (refused at start, or an entry failed its check); /healthz lists them.",
    );
    for (n, _) in st.damaged() {
        let _ = writeln!(o, "veritrail_log_damaged{{log=\"{n}\"}} 1");
    }
    header(
        &mut o,
        "veritrail_publish_errors_total",
        "counter",
        "Checkpoint publishing steps that failed.",
    );
    for (n, l) in &logs {
        let v = l.stats().publish_errors.load(Ordering::Relaxed);
        let _ = writeln!(o, "veritrail_publish_errors_total{{log=\"{n}\"}} {v}");
    }
    header(
        &mut o,
        "veritrail_connections_refused_total",
        "counter",
        "Connections closed at once because their address held the most allowed.",
    );
    let _ = writeln!(
        o,
        "veritrail_connections_refused_total {}",
        crate::listen::REFUSED.load(Ordering::Relaxed)
    );
    header(
        &mut o,
        "veritrail_syslog_messages_total",
        "counter",
        "Syslog messages stored, by transport.",
    );
    for (i, t) in ["udp", "tcp", "tls"].iter().enumerate() {
        let v = st.syslog_stats.stored[i].load(Ordering::Relaxed);
        let _ = writeln!(
            o,
            "veritrail_syslog_messages_total{{transport=\"{t}\"}} {v}"
        );
    }
    header(
        &mut o,
        "veritrail_syslog_refused_total",
        "counter",
        "Syslog connections refused (TLS handshake) or closed on a framing error.",
    );
    let _ = writeln!(
        o,
        "veritrail_syslog_refused_total {}",
        st.syslog_stats.refused.load(Ordering::Relaxed)
    );
    if let Some(d) = st.syslog_stats.udp_drops() {
        header(
            &mut o,
            "veritrail_syslog_udp_drops_total",
            "counter",
            "Datagrams the kernel dropped on the syslog UDP socket (its receive buffer was full), from /proc/net/udp.",
        );
        let _ = writeln!(o, "veritrail_syslog_udp_drops_total {d}");
    }
    let witnessing = st.witnessing.lock().expect("witnessing lock").clone();
    if let Some(w) = witnessing {
        let (peers, quorum, logs_w) = w.status();
        header(
            &mut o,
            "veritrail_witness_quorum",
            "gauge",
            "Cosignatures a checkpoint needs to count as witnessed.",
        );
        let _ = writeln!(o, "veritrail_witness_quorum {quorum}");
        header(
            &mut o,
            "veritrail_log_witnessed_size",
            "gauge",
            "The largest checkpoint size the witnesses' quorum cosigned, per log.",
        );
        for (n, (witnessed, _)) in &logs_w {
            let _ = writeln!(o, "veritrail_log_witnessed_size{{log=\"{n}\"}} {witnessed}");
        }
        header(
            &mut o,
            "veritrail_witness_cosigned_size",
            "gauge",
            "The size each witness last cosigned, per log.",
        );
        header(
            &mut o,
            "veritrail_witness_up",
            "gauge",
            "1 if the witness's last answer was a cosignature, 0 if it failed.",
        );
        for (n, (_, ps)) in &logs_w {
            for (p, s) in peers.iter().zip(ps) {
                let name = p.key.name();
                let _ = writeln!(
                    o,
                    "veritrail_witness_cosigned_size{{log=\"{n}\",witness=\"{name}\"}} {}",
                    s.cosigned
                );
                let _ = writeln!(
                    o,
                    "veritrail_witness_up{{log=\"{n}\",witness=\"{name}\"}} {}",
                    u8::from(s.last_error.is_none())
                );
            }
        }
    }
    let object_storage = st
        .object_storage
        .lock()
        .expect("object storage lock")
        .clone();
    if let Some(os) = object_storage {
        object_storage_metrics(&mut o, &os);
    }
    if let Some(r) = st.replica.get() {
        replica_metrics(&mut o, r);
        if let Some(t) = r.trail() {
            object_storage_metrics(&mut o, t);
        }
    }
    header(
        &mut o,
        "veritrail_streams_open",
        "gauge",
        "Live streams (GET /v1/logs/{log}/stream) open now.",
    );
    let _ = writeln!(
        o,
        "veritrail_streams_open {}",
        st.streams_open.load(Ordering::Relaxed)
    );
    header(
        &mut o,
        "veritrail_streams_cut_total",
        "counter",
        "Live streams cut off because their client did not keep up.",
    );
    let _ = writeln!(
        o,
        "veritrail_streams_cut_total {}",
        st.streams_cut.load(Ordering::Relaxed)
    );
    let alerts = st.alerts.lock().expect("alerts lock").clone();
    if let Some(a) = alerts {
        let s = a.stats();
        for (name, help, v) in [
            (
                "veritrail_rules_evaluated_total",
                "Entries the alert rules evaluated.",
                &s.evaluated,
            ),
            (
                "veritrail_alerts_fired_total",
                "Alerts recorded in _system.",
                &s.fired,
            ),
            (
                "veritrail_webhook_deliveries_total",
                "Webhook deliveries answered 2xx.",
                &s.delivered,
            ),
            (
                "veritrail_webhook_failures_total",
                "Webhook attempts that failed (retried).",
                &s.delivery_failures,
            ),
            (
                "veritrail_rules_reload_failures_total",
                "Rules files refused on reload (the old rules kept running).",
                &s.reload_failures,
            ),
        ] {
            header(&mut o, name, "counter", help);
            let _ = writeln!(o, "{name} {}", v.load(Ordering::Relaxed));
        }
        header(
            &mut o,
            "veritrail_rules_lag_entries",
            "gauge",
            "Durable entries the alert rules have not evaluated yet, per log.",
        );
        let pos = a.positions();
        for (n, l) in &logs {
            let p = pos.get(n.as_str()).copied().unwrap_or(0);
            let _ = writeln!(
                o,
                "veritrail_rules_lag_entries{{log=\"{n}\"}} {}",
                l.durable_size().saturating_sub(p)
            );
        }
    }
    header(
        &mut o,
        "veritrail_http_responses_total",
        "counter",
        "HTTP responses by status code.",
    );
    for (code, c) in st.http_status.iter().enumerate() {
        let v = c.load(Ordering::Relaxed);
        if v > 0 {
            let _ = writeln!(o, "veritrail_http_responses_total{{code=\"{code}\"}} {v}");
        }
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], o).into_response()
}

/// A read replica's lines: each copy against the bucket.
fn replica_metrics(o: &mut String, r: &crate::replica::Replica) {
    let status = r.status();
    for (name, help, f) in [
        (
            "veritrail_replica_bucket_size",
            "A read replica: the size of the bucket's checkpoint, per log, as last read.",
            (|s: &crate::replica::CopyStatus| s.bucket_size) as fn(&crate::replica::CopyStatus) -> u64,
        ),
        (
            "veritrail_replica_copied_size",
            "A read replica: the size of the writer's checkpoint its copy holds, per log.",
            |s| s.copied,
        ),
        (
            "veritrail_replica_state",
            "A read replica, per log: 0 the copy keeps up, 1 its last round failed (status says why).",
            |s| u64::from(s.problem.is_some()),
        ),
    ] {
        header(o, name, "gauge", help);
        for (log, s) in &status {
            let _ = writeln!(o, "{name}{{log=\"{log}\"}} {}", f(s));
        }
    }
}

/// The object-storage tier's lines.
fn object_storage_metrics(o: &mut String, os: &crate::storage::ObjectStorage) {
    use veritrail_bucket::Problem;
    let status = os.drainer.status();
    header(
        o,
        "veritrail_object_uploaded_size",
        "gauge",
        "Size of the checkpoint the bucket holds, per log.",
    );
    for s in &status {
        let _ = writeln!(
            o,
            "veritrail_object_uploaded_size{{log=\"{}\"}} {}",
            s.log, s.uploaded
        );
    }
    header(
        o,
        "veritrail_object_state",
        "gauge",
        "Per log: 0 uploads keep up, 1 retrying after failures, 2 the store refuses uploads (the log refuses writes), 3 uploads stopped (another writer, a changed object; the log refuses writes).",
    );
    for s in &status {
        let v = match s.problem {
            None => 0,
            Some(Problem::Retrying(_)) => 1,
            Some(Problem::Refused(_)) => 2,
            Some(Problem::Stopped(_)) => 3,
        };
        let _ = writeln!(o, "veritrail_object_state{{log=\"{}\"}} {v}", s.log);
    }
    header(
        o,
        "veritrail_object_tampered",
        "gauge",
        "Per log: deleted or rewritten objects the last scan of the bucket's versions found.",
    );
    for s in &status {
        let _ = writeln!(
            o,
            "veritrail_object_tampered{{log=\"{}\"}} {}",
            s.log,
            s.tampered.len()
        );
    }
    let st = &os.drainer.stats;
    for (name, help, v) in [
        (
            "veritrail_object_puts_total",
            "Objects (tiles, entry bundles) created in the bucket.",
            &st.objects,
        ),
        (
            "veritrail_object_bytes_total",
            "Bytes of the objects created.",
            &st.bytes,
        ),
        (
            "veritrail_object_checkpoints_total",
            "Checkpoints stored in the bucket.",
            &st.checkpoints,
        ),
        (
            "veritrail_object_errors_total",
            "Failed uploads and scans.",
            &st.errors,
        ),
    ] {
        header(o, name, "counter", help);
        let _ = writeln!(o, "{name} {}", v.load(Ordering::Relaxed));
    }
}

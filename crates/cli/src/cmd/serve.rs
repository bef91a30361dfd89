//! `veritrail serve`: settings from flags > environment > config file > defaults.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use serde::Deserialize;
use veritrail_core::note::Verifier;
use veritrail_server::tls::TlsFiles;
use veritrail_server::{AppState, ServerConfig};
use veritrail_service::tokens::{Role, TokenStore};
use veritrail_store::{DataDir, LogConfig, RealFs};

use super::store_err;
use crate::args::ServeArgs;
use crate::exit::Exit;

/// The config file: the same settings as the flags.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data: Option<PathBuf>,
    listen: Option<String>,
    private_checkpoints: Option<bool>,
    checkpoint_interval: Option<String>,
    recent_mib: Option<usize>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    client_ca: Option<PathBuf>,
    header_timeout: Option<String>,
    body_timeout: Option<String>,
    max_connections_per_ip: Option<usize>,
    syslog_udp: Option<String>,
    syslog_tcp: Option<String>,
    syslog_tls: Option<String>,
    syslog_tls_cert: Option<PathBuf>,
    syslog_tls_key: Option<PathBuf>,
    syslog_client_ca: Option<PathBuf>,
    syslog_log: Option<String>,
    rules: Option<PathBuf>,
    witness: Option<Vec<String>>,
    witness_quorum: Option<usize>,
    tsa: Option<String>,
    tsa_root: Option<PathBuf>,
    tsa_interval: Option<String>,
    store: Option<String>,
    s3_endpoint: Option<String>,
    s3_region: Option<String>,
    durability: Option<String>,
    object_ack_timeout: Option<String>,
    object_scan_interval: Option<String>,
    node: Option<String>,
    advertise: Option<String>,
    lease_ttl: Option<String>,
    read_only: Option<bool>,
    log_keys: Option<Vec<String>>,
    replica_poll: Option<String>,
    trail_name: Option<String>,
}

/// Parses `250ms`, `1s`, `2m`.
fn interval(s: &str) -> Option<Duration> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().ok()?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" | "" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.checked_mul(60)?),
        _ => return None,
    };
    (!d.is_zero()).then_some(d)
}

/// The effective settings: each flag (or its environment variable) wins over
/// the file, which wins over the default.
pub struct Settings {
    pub data: PathBuf,
    pub listen: String,
    pub private_checkpoints: bool,
    pub checkpoint_interval: Duration,
    /// Bytes of each log's newest entries kept for its followers.
    pub recent_bytes: usize,
    pub tls: Option<TlsFiles>,
    pub limits: veritrail_server::listen::Limits,
    pub syslog: veritrail_server::syslog::SyslogConfig,
    pub rules: Option<PathBuf>,
    pub witnesses: Vec<veritrail_server::witnessing::WitnessPeer>,
    pub witness_quorum: usize,
    pub tsa: Option<(String, PathBuf, Duration)>,
    pub object: Option<ObjectSettings>,
    /// `--read-only`.
    pub replica: Option<ReplicaSettings>,
}

/// A read replica's settings.
pub struct ReplicaSettings {
    /// The logs to copy from the bucket, with the writer's keys.
    pub keys: Vec<(String, Verifier)>,
    /// How often to look for a new checkpoint.
    pub poll: Duration,
    /// Where in the bucket the replica's own `_system` goes
    /// (`_replica.<name>`), if it is uploaded.
    pub trail: Option<String>,
}

/// The object-storage tier's settings.
pub struct ObjectSettings {
    pub at: crate::args::ObjectArgs,
    pub durability: veritrail_server::storage::Durability,
    pub ack_timeout: Duration,
    pub scan: Option<Duration>,
    /// With several nodes: this node's name, its URL, the lease TTL.
    pub node: Option<(String, Option<String>, Duration)>,
}

pub fn settings(a: ServeArgs) -> anyhow::Result<Settings> {
    let file: FileConfig = match &a.config {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            toml::from_str(&text).map_err(|e| Exit::usage(format!("{}: {e}", p.display())))?
        }
        None => FileConfig::default(),
    };
    let object = object_settings(&a, &file)?;
    let replica = replica_settings(&a, &file, object.as_ref())?;
    let iv = a.checkpoint_interval.or(file.checkpoint_interval);
    let checkpoint_interval = match iv {
        Some(s) => interval(&s).ok_or_else(|| {
            Exit::usage(format!(
                "checkpoint_interval {s:?}: use e.g. 250ms, 1s or 2m"
            ))
        })?,
        None => Duration::from_secs(1),
    };
    let recent_bytes = match a.recent_mib.or(file.recent_mib) {
        Some(m) => m
            .checked_mul(1 << 20)
            .ok_or_else(|| Exit::usage(format!("recent_mib {m}: too large")))?,
        None => veritrail_service::store::DEFAULT_RECENT_BYTES,
    };
    let defaults = veritrail_server::listen::Limits::default();
    let duration = |name: &str, v: Option<String>, default: Duration| match v {
        Some(s) => {
            interval(&s).ok_or_else(|| Exit::usage(format!("{name} {s:?}: use e.g. 10s or 2m")))
        }
        None => Ok(default),
    };
    let limits = veritrail_server::listen::Limits {
        header_timeout: duration(
            "header_timeout",
            a.header_timeout.or(file.header_timeout),
            defaults.header_timeout,
        )?,
        body_timeout: duration(
            "body_timeout",
            a.body_timeout.or(file.body_timeout),
            defaults.body_timeout,
        )?,
        per_ip: match a.max_connections_per_ip.or(file.max_connections_per_ip) {
            Some(0) => return Err(Exit::usage("max_connections_per_ip must be at least 1")),
            Some(n) => n,
            None => defaults.per_ip,
        },
    };
    let syslog_tls_files = match (
        a.syslog_tls_cert
            .or(file.syslog_tls_cert)
            .or(a.tls_cert.clone())
            .or(file.tls_cert.clone()),
        a.syslog_tls_key
            .or(file.syslog_tls_key)
            .or(a.tls_key.clone())
            .or(file.tls_key.clone()),
    ) {
        (Some(cert), Some(key)) => Some(TlsFiles {
            cert,
            key,
            client_ca: a.syslog_client_ca.or(file.syslog_client_ca),
        }),
        _ => None,
    };
    let syslog = veritrail_server::syslog::SyslogConfig {
        udp: a.syslog_udp.or(file.syslog_udp),
        tcp: a.syslog_tcp.or(file.syslog_tcp),
        tls: a.syslog_tls.or(file.syslog_tls),
        tls_files: syslog_tls_files,
        log: a
            .syslog_log
            .or(file.syslog_log)
            .unwrap_or_else(|| veritrail_store::datadir::DEFAULT_LOG.to_owned()),
    };
    if syslog.tls.is_some() && syslog.tls_files.is_none() {
        return Err(Exit::usage(
            "syslog over TLS needs a certificate and key: syslog_tls_cert and syslog_tls_key, or tls_cert and tls_key",
        ));
    }
    let (cert, key, ca) = (
        a.tls_cert.or(file.tls_cert),
        a.tls_key.or(file.tls_key),
        a.client_ca.or(file.client_ca),
    );
    let tls = match (cert, key) {
        (Some(cert), Some(key)) => Some(TlsFiles {
            cert,
            key,
            client_ca: ca,
        }),
        (None, None) if ca.is_none() => None,
        _ => {
            return Err(Exit::usage(
                "TLS needs both tls_cert and tls_key (client_ca only with them)",
            ))
        }
    };
    let witnesses = if a.witness.is_empty() {
        file.witness.unwrap_or_default()
    } else {
        a.witness.clone()
    }
    .iter()
    .map(|w| veritrail_server::witnessing::WitnessPeer::parse(w).map_err(Exit::usage))
    .collect::<Result<Vec<_>, _>>()?;
    let s = Settings {
        data: a
            .data
            .or(file.data)
            .unwrap_or_else(|| PathBuf::from("./veritrail-data")),
        listen: a
            .listen
            .or(file.listen)
            .unwrap_or_else(|| "127.0.0.1:7878".into()),
        private_checkpoints: a
            .private_checkpoints
            .or(file.private_checkpoints)
            .unwrap_or(false),
        checkpoint_interval,
        recent_bytes,
        tls,
        limits,
        syslog,
        rules: a.rules.or(file.rules),
        witness_quorum: {
            let n = witnesses.len();
            let q = a
                .witness_quorum
                .or(file.witness_quorum)
                .unwrap_or(n / 2 + 1);
            if n > 0 && (q == 0 || q > n) {
                return Err(Exit::usage(format!(
                    "witness_quorum {q}: between 1 and the {n} witnesses"
                )));
            }
            q
        },
        witnesses,
        tsa: match (a.tsa.or(file.tsa), a.tsa_root.or(file.tsa_root)) {
            (Some(url), Some(root)) => {
                let iv = a.tsa_interval.or(file.tsa_interval).unwrap_or_else(|| "1s".into());
                let d = interval(&iv).ok_or_else(|| Exit::usage(format!("tsa_interval {iv:?}: use e.g. 1s or 1m")))?;
                Some((url, root, d))
            }
            (None, None) => None,
            _ => return Err(Exit::usage("a timestamp authority needs both tsa (its URL) and tsa_root (the root certificate its tokens chain to)")),
        },
        object,
        replica,
    };
    if s.replica.is_some() {
        let mut refused = Vec::new();
        if s.syslog.udp.is_some() || s.syslog.tcp.is_some() || s.syslog.tls.is_some() {
            refused.push("syslog listeners");
        }
        if !s.witnesses.is_empty() {
            refused.push("witnesses (the writer asks them)");
        }
        if s.tsa.is_some() {
            refused.push("a timestamp authority (the writer asks it)");
        }
        if !refused.is_empty() {
            return Err(Exit::usage(format!(
                "read_only: a read replica takes no writes and signs nothing, so it has no {}",
                refused.join(", no ")
            )));
        }
    }
    Ok(s)
}

/// `--read-only` and what goes with it.
fn replica_settings(
    a: &ServeArgs,
    file: &FileConfig,
    object: Option<&ObjectSettings>,
) -> anyhow::Result<Option<ReplicaSettings>> {
    let read_only = a.read_only || file.read_only.unwrap_or(false);
    let keys: Vec<String> = if a.log_key.is_empty() {
        file.log_keys.clone().unwrap_or_default()
    } else {
        a.log_key.clone()
    };
    let poll = a.replica_poll.clone().or(file.replica_poll.clone());
    let trail = a.trail_name.clone().or(file.trail_name.clone());
    if !read_only {
        if !keys.is_empty() || poll.is_some() || trail.is_some() {
            return Err(Exit::usage(
                "log_key, replica_poll and trail_name are for a read replica: add read_only = true (--read-only)",
            ));
        }
        return Ok(None);
    }
    if let Some(t) = &trail {
        if !veritrail_store::datadir::valid_log_name(t) {
            return Err(Exit::usage(format!(
                "trail_name {t:?}: use a-z 0-9 . _ -, starting with a letter or digit"
            )));
        }
    }
    let Some(o) = object else {
        return Err(Exit::usage(
            "read_only: a read replica copies logs from object storage: store = \"s3://BUCKET/PREFIX\"",
        ));
    };
    if o.node.is_some() {
        return Err(Exit::usage(
            "read_only: a read replica writes no log, so it takes no part in leases (drop node)",
        ));
    }
    if o.durability != veritrail_server::storage::Durability::Local {
        return Err(Exit::usage(
            "read_only: a read replica acknowledges nothing (drop durability)",
        ));
    }
    if keys.is_empty() {
        return Err(Exit::usage(
            "read_only: name the logs to copy with the writer's keys: --log-key NAME=VKEY (`veritrail log list` on the writer prints them)",
        ));
    }
    let mut out: Vec<(String, Verifier)> = Vec::new();
    for k in &keys {
        let (name, vkey) = k
            .split_once('=')
            .ok_or_else(|| Exit::usage(format!("log_key {k:?}: use NAME=VKEY")))?;
        if !veritrail_store::datadir::valid_log_name(name) {
            return Err(Exit::usage(format!(
                "log_key {k:?}: {name:?} is not a log name"
            )));
        }
        let v = Verifier::parse(vkey).map_err(|e| Exit::usage(format!("log_key {name}: {e}")))?;
        if out.iter().any(|(n, _)| n == name) {
            return Err(Exit::usage(format!("log_key: {name} is named twice")));
        }
        out.push((name.to_owned(), v));
    }
    let poll = match poll {
        Some(s) => interval(&s)
            .ok_or_else(|| Exit::usage(format!("replica_poll {s:?}: use e.g. 1s or 500ms")))?,
        None => Duration::from_secs(1),
    };
    Ok(Some(ReplicaSettings {
        keys: out,
        poll,
        trail: trail.map(|t| format!("_replica.{t}")),
    }))
}

fn object_settings(a: &ServeArgs, file: &FileConfig) -> anyhow::Result<Option<ObjectSettings>> {
    use veritrail_server::storage::Durability;
    let durability = match a.durability.clone().or(file.durability.clone()) {
        Some(d) => Durability::parse(&d)
            .ok_or_else(|| Exit::usage(format!("durability {d:?}: use local or object")))?,
        None => Durability::Local,
    };
    let at = crate::args::ObjectArgs {
        store: a.object.store.clone().or(file.store.clone()),
        s3_endpoint: a.object.s3_endpoint.clone().or(file.s3_endpoint.clone()),
        s3_region: a.object.s3_region.clone().or(file.s3_region.clone()),
    };
    let node = a.node.clone().or(file.node.clone());
    if at.store.is_none() {
        if node.is_some() {
            return Err(Exit::usage(
                "node: several nodes share a bucket; name it with store = \"s3://BUCKET/PREFIX\"",
            ));
        }
        if durability == Durability::Object {
            return Err(Exit::usage(
                "durability = \"object\" needs object storage: store = \"s3://BUCKET/PREFIX\"",
            ));
        }
        return Ok(None);
    }
    let ack_timeout = match a
        .object_ack_timeout
        .clone()
        .or(file.object_ack_timeout.clone())
    {
        Some(s) => interval(&s)
            .ok_or_else(|| Exit::usage(format!("object_ack_timeout {s:?}: use e.g. 30s or 2m")))?,
        None => Duration::from_secs(30),
    };
    let scan = match a
        .object_scan_interval
        .clone()
        .or(file.object_scan_interval.clone())
    {
        Some(s) if s == "off" => None,
        Some(s) => Some(interval(&s).ok_or_else(|| {
            Exit::usage(format!(
                "object_scan_interval {s:?}: use e.g. 5m, 30s or off"
            ))
        })?),
        None => Some(Duration::from_secs(300)),
    };
    let node = match node {
        Some(n) => {
            if n.is_empty()
                || n.len() > 63
                || !n
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(Exit::usage(format!("node {n:?}: 1-63 of a-z A-Z 0-9 - _")));
            }
            let ttl = match a.lease_ttl.clone().or(file.lease_ttl.clone()) {
                Some(s) => interval(&s)
                    .filter(|d| *d >= Duration::from_secs(1))
                    .ok_or_else(|| {
                        Exit::usage(format!("lease_ttl {s:?}: at least 1s, e.g. 10s"))
                    })?,
                None => Duration::from_secs(10),
            };
            Some((n, a.advertise.clone().or(file.advertise.clone()), ttl))
        }
        None => None,
    };
    Ok(Some(ObjectSettings {
        at,
        durability,
        ack_timeout,
        scan,
        node,
    }))
}

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    // The shared rayon pool's threads take the priority of the thread that
    // starts them: start them here, on the ack path's priority, before a
    // background thread (which runs below it) can be the first to use it.
    let _ = rayon::ThreadPoolBuilder::new().build_global();
    let s = settings(args)?;
    let data = s.data.as_path();
    let dd = if data.join("veritrail.data").exists() {
        super::open_data(data)?
    } else if s.replica.is_some() {
        let (dd, _) = DataDir::init_replica(Arc::new(RealFs), data, None).map_err(store_err)?;
        eprintln!(
            "veritrail: initialised {} as a read replica (its logs are copied from the bucket)",
            data.display()
        );
        dd
    } else {
        let (dd, v) = DataDir::init(Arc::new(RealFs), data, None).map_err(store_err)?;
        eprintln!(
            "veritrail: initialised {}; verifier key of log \"default\": {}",
            data.display(),
            v.to_vkey()
        );
        dd
    };
    let tokens = TokenStore::open(data)?;
    let mut first_admin = None;
    if !tokens.has_admin() {
        let (secret, t) = tokens.create(Role::Admin, vec![], "first admin", None)?;
        first_admin = Some(t.id.clone());
        eprintln!(
            "veritrail: first admin token ({}), shown only this once — store it now:\n{secret}",
            t.id
        );
    }
    drop(tokens);
    if let Some(t) = &s.tls {
        // Fail before opening anything if the certificate or key is unusable.
        veritrail_server::tls::server_config(t).map_err(|e| Exit::usage(format!("TLS: {e}")))?;
    }
    let config = ServerConfig {
        private_checkpoints: s.private_checkpoints,
        secure_cookies: s.tls.is_some(),
        limits: s.limits,
        log: LogConfig {
            checkpoint_interval: s.checkpoint_interval,
            recent_bytes: s.recent_bytes,
            ..LogConfig::default()
        },
        ..ServerConfig::default()
    };
    let state = AppState::open(dd, config)
        .map_err(|e| anyhow::anyhow!(e))
        .context("opening the logs")?;
    if !s.witnesses.is_empty() {
        let w = veritrail_server::witnessing::Witnessing::new(
            state.service.clone(),
            s.witnesses.clone(),
            s.witness_quorum,
        );
        w.attach();
        eprintln!(
            "veritrail: asking {} witness(es) to cosign checkpoints, {} needed",
            s.witnesses.len(),
            s.witness_quorum
        );
        *state.witnessing.lock().expect("witnessing lock") = Some(w);
    }
    if let Some((url, root, every)) = &s.tsa {
        let pem = std::fs::read(root).with_context(|| format!("reading {}", root.display()))?;
        let roots = veritrail_timestamp::roots_from_pem(&pem)
            .map_err(|e| Exit::usage(format!("tsa_root {}: {e}", root.display())))?;
        let tsa = veritrail_server::timestamping::Tsa::new(url, roots, *every, data);
        tsa.attach(&state.service);
        *state.tsa.lock().expect("tsa lock") = Some(tsa.clone());
        eprintln!(
            "veritrail: timestamping checkpoints with {url} (at most one per {every:?} per log)"
        );
    }
    if let (Some(o), Some(ReplicaSettings { keys, poll, trail })) = (&s.object, &s.replica) {
        let bucket = super::doctor::open_bucket(&o.at)?.expect("store is set");
        warn_unless_worm(&bucket);
        state
            .service
            .set_ack_gate(Arc::new(veritrail_server::replica::ReadOnly));
        let r = veritrail_server::replica::Replica::start(
            state.service.clone(),
            bucket.clone(),
            keys.clone(),
            *poll,
            replica_progress(),
        );
        if let Some(dir) = trail {
            let t = veritrail_server::storage::ObjectStorage::start_trail(
                &state.service,
                bucket.clone(),
                o.scan,
                dir,
            );
            r.set_trail(t);
            eprintln!(
                "veritrail: uploading this replica's own _system to {}/{dir}",
                bucket.location()
            );
        }
        let _ = state.replica.set(r);
        eprintln!(
            "veritrail: read replica of {}: copying {} every {poll:?}; writes are refused",
            bucket.location(),
            keys.iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    } else if let Some(o) = &s.object {
        let bucket = super::doctor::open_bucket(&o.at)?.expect("store is set");
        warn_unless_worm(&bucket);
        let os = veritrail_server::storage::ObjectStorage::start(
            &state.service,
            bucket.clone(),
            o.durability,
            o.scan,
            o.ack_timeout,
            o.node.as_ref().map(|n| n.0.as_str()),
        );
        eprintln!(
            "veritrail: copying every log to {} (durability {})",
            bucket.location(),
            o.durability.name()
        );
        *state.object_storage.lock().expect("object storage lock") = Some(os);
    }
    if let Some(path) = &s.rules {
        let alerts = veritrail_server::alerts::Alerts::start(state.service.clone(), path)
            .map_err(|e| Exit::usage(format!("alert rules: {e}")))?;
        let os = state
            .object_storage
            .lock()
            .expect("object storage lock")
            .clone();
        if let Some(os) = os {
            alerts.set_object_storage_health(Arc::new(move || os.problems()));
        } else if let Some(r) = state.replica.get().cloned() {
            // A replica's copy that fails (a fork, an unreadable bucket)
            // raises `check = "object_storage"` rules.
            alerts.set_object_storage_health(Arc::new(move || r.problems()));
        }
        let w = state.witnessing.lock().expect("witnessing lock").clone();
        if let Some(w) = w {
            alerts.set_witnessed_size(Arc::new(move |log: &str| w.witnessed(log)));
        }
        let (reviews, started) = (state.last_reviews.clone(), state.started_ns);
        alerts.set_last_review(Arc::new(move |log: &str| {
            reviews.get(log).unwrap_or((0, started))
        }));
        eprintln!(
            "veritrail: alert rules from {} (version {})",
            path.display(),
            &alerts.version()[..12]
        );
        *state.alerts.lock().expect("alerts lock") = Some(Arc::new(alerts));
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        if let Some(id) = first_admin {
            state
                .audit(
                    "token.create",
                    None,
                    None,
                    None,
                    serde_json::json!({"token": id, "role": "admin", "first_start": true}),
                )
                .await
                .map_err(|e| anyhow::anyhow!(e.message))?;
        }
        // The last review of each log, for `not_reviewed` rules.
        tokio::spawn(veritrail_server::reviews::load(state.clone()));
        // The handlers are installed now, before the server says it serves:
        // a SIGTERM that arrives right after that line stops it cleanly
        // instead of killing it.
        let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
            .expect("SIGINT handler");
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        let shutdown = async move {
            tokio::select! {
                _ = int.recv() => {},
                _ = term.recv() => {},
            }
            eprintln!("veritrail: shutting down: finishing requests, signing final checkpoints");
        };
        // SIGHUP: read the rules file again.
        let st = state.clone();
        tokio::spawn(async move {
            let Ok(mut hup) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            else {
                return;
            };
            while hup.recv().await.is_some() {
                let a = st.alerts.lock().expect("alerts lock").clone();
                match a {
                    Some(a) => {
                        let _ = tokio::task::spawn_blocking(move || a.reload("SIGHUP")).await;
                    }
                    None => eprintln!("veritrail: SIGHUP: no rules file to reload (--rules)"),
                }
            }
        });
        // A read replica takes no writes: no syslog listeners.
        let run_file = if s.replica.is_none() {
            let handle = veritrail_server::syslog::start(state.clone(), &s.syslog)
                .await
                .context("starting the syslog listeners")?;
            for (t, a) in &handle.bound {
                eprintln!(
                    "veritrail: receiving syslog over {} on {a} into log {:?}",
                    t.name(),
                    s.syslog.log
                );
            }
            let run_file = syslog_run_file(
                data,
                &s.syslog.log,
                &handle.bound,
                *state.syslog_stats.udp_socket.lock().expect("stats lock"),
            )?;
            *state.syslog.lock().await = Some(handle);
            run_file
        } else {
            None
        };
        let listener = tokio::net::TcpListener::bind(&s.listen)
            .await
            .with_context(|| format!("listening on {}", s.listen))?;
        if let Some((name, advertise, ttl)) = s.object.as_ref().and_then(|o| o.node.clone()) {
            let os = state
                .object_storage
                .lock()
                .expect("object storage lock")
                .clone()
                .expect("node needs store");
            let url = advertise.unwrap_or_else(|| {
                format!(
                    "{}://{}",
                    if s.tls.is_some() { "https" } else { "http" },
                    listener.local_addr().expect("bound")
                )
            });
            let leases =
                veritrail_bucket::lease::Leases::new(os.drainer.bucket().clone(), &name, &url, ttl);
            let weak = Arc::downgrade(&state);
            let host = veritrail_server::cluster::Host {
                service: state.service.clone(),
                create_log: Arc::new(move |name: &str| match weak.upgrade() {
                    Some(st) => st.create_log(name).map(|_| ()).map_err(|e| e.message),
                    None => Err("the server is stopping".into()),
                }),
            };
            let c = veritrail_server::cluster::Cluster::start(host, &os, leases);
            let _ = os.cluster.set(c);
            eprintln!(
                "veritrail: node {name} ({url}) writes the logs whose leases it holds (TTL {ttl:?})"
            );
        }
        eprintln!(
            "veritrail: serving {} on {}://{}",
            data.display(),
            if s.tls.is_some() { "https" } else { "http" },
            listener.local_addr()?
        );
        let os = state
            .object_storage
            .lock()
            .expect("object storage lock")
            .clone();
        let object_file = match (os, state.replica.get().cloned()) {
            (Some(os), _) => Some(object_run_file(data, move || os.status_json())),
            (None, Some(r)) => Some(object_run_file(data, move || r.status_json())),
            (None, None) => None,
        };
        veritrail_server::serve(state, listener, s.tls.as_ref(), shutdown).await?;
        if let Some(f) = object_file {
            let _ = std::fs::remove_file(f);
        }
        if let Some(f) = run_file {
            let _ = std::fs::remove_file(f);
        }
        eprintln!("veritrail: stopped cleanly");
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// How a replica's copies catch up when far behind (a first start on a
/// large bucket): a bar per log on a terminal, a line every ten seconds
/// otherwise.
fn replica_progress() -> veritrail_server::replica::Progress {
    use std::collections::BTreeMap;
    use std::sync::Mutex;
    struct Shown {
        bar: indicatif::ProgressBar,
        said: std::time::Instant,
    }
    let shown: Mutex<BTreeMap<String, Shown>> = Mutex::new(BTreeMap::new());
    Arc::new(move |log: &str, done: u64, total: u64| {
        let mut m = shown.lock().expect("progress lock");
        if done >= total {
            if let Some(s) = m.remove(log) {
                s.bar.finish_and_clear();
                eprintln!("veritrail: copy of log {log:?} is at the bucket's checkpoint ({total} entries)");
            }
            return;
        }
        // Steady state (a few new entries per poll) stays quiet.
        if !m.contains_key(log) && total - done < 50_000 {
            return;
        }
        let s = m.entry(log.to_owned()).or_insert_with(|| {
            eprintln!(
                "veritrail: copying log {log:?} from the bucket: {done} of {total} entries here"
            );
            Shown {
                bar: super::progress::bar(total, &format!("copying {log}")),
                said: std::time::Instant::now(),
            }
        });
        s.bar.set_length(total);
        s.bar.set_position(done);
        if s.bar.is_hidden() && s.said.elapsed() >= Duration::from_secs(10) {
            s.said = std::time::Instant::now();
            eprintln!("veritrail: copying log {log:?}: {done} of {total} entries");
        }
    })
}

/// Says so when the bucket is not WORM (`veritrail doctor` says how to fix it).
fn warn_unless_worm(b: &veritrail_bucket::Bucket) {
    let loc = b.location();
    match (b.versioning(), b.object_lock()) {
        (Ok(v), Ok(l)) => {
            for f in veritrail_bucket::worm::assess(&loc.bucket, &v, l.as_ref()) {
                if !f.ok {
                    eprintln!(
                        "veritrail: WARNING: {loc}: {}: objects there can be deleted or overwritten; `veritrail doctor --store {loc}` says how to fix it",
                        f.what
                    );
                }
            }
        }
        (Err(e), _) | (_, Err(e)) => eprintln!(
            "veritrail: WARNING: could not check that {loc} is WORM ({e}); uploads are retried until the bucket answers"
        ),
    }
}

/// Where a running server says how its uploads to object storage stand,
/// for `veritrail status` (rewritten every 2 s, removed when it stops
/// cleanly).
pub fn object_run_path(data: &std::path::Path) -> PathBuf {
    data.join("run").join("object.json")
}

/// Keeps [`object_run_path`] up to date while the server runs.
fn object_run_file(
    data: &std::path::Path,
    status: impl Fn() -> serde_json::Value + Send + 'static,
) -> PathBuf {
    let path = object_run_path(data);
    let p = path.clone();
    tokio::spawn(async move {
        loop {
            let mut v = status();
            v["pid"] = serde_json::json!(std::process::id());
            v["written_unix"] = serde_json::json!(std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()));
            let tmp = p.with_extension("json.tmp");
            let ok = std::fs::create_dir_all(p.parent().expect("has a parent")).is_ok()
                && std::fs::write(&tmp, serde_json::to_vec_pretty(&v).unwrap_or_default()).is_ok()
                && std::fs::rename(&tmp, &p).is_ok();
            if !ok {
                tracing::warn!(path = %p.display(), "could not write the object storage status file");
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    });
    path
}

/// Where a running server says which syslog listeners it has, for
/// `veritrail status` (removed when it stops cleanly).
pub fn syslog_run_path(data: &std::path::Path) -> PathBuf {
    data.join("run").join("syslog.json")
}

/// Writes [`syslog_run_path`] when any listener runs.
fn syslog_run_file(
    data: &std::path::Path,
    log: &str,
    bound: &[(veritrail_collect::syslog::Transport, std::net::SocketAddr)],
    udp_socket: Option<(u64, u16)>,
) -> anyhow::Result<Option<PathBuf>> {
    if bound.is_empty() {
        return Ok(None);
    }
    let path = syslog_run_path(data);
    let listeners: Vec<serde_json::Value> = bound
        .iter()
        .map(|(t, a)| serde_json::json!({"transport": t.name(), "addr": a.to_string()}))
        .collect();
    let body = serde_json::json!({
        "pid": std::process::id(),
        "log": log,
        "listeners": listeners,
        "udp_socket": udp_socket.map(|(inode, port)| serde_json::json!({"inode": inode, "port": port})),
    });
    std::fs::create_dir_all(path.parent().expect("has a parent"))?;
    std::fs::write(&path, serde_json::to_vec_pretty(&body)?)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(Some(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_the_file_which_beats_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("v.toml");
        std::fs::write(&cfg, "listen = \"127.0.0.1:9000\"\nprivate_checkpoints = true\ncheckpoint_interval = \"250ms\"\nrecent_mib = 16\n").unwrap();
        let s = settings(ServeArgs {
            config: Some(cfg.clone()),
            ..ServeArgs::default()
        })
        .unwrap();
        assert_eq!(s.listen, "127.0.0.1:9000");
        assert!(s.private_checkpoints);
        assert_eq!(s.checkpoint_interval, Duration::from_millis(250));
        assert_eq!(s.recent_bytes, 16 << 20);
        assert_eq!(s.data, PathBuf::from("./veritrail-data"));
        let s = settings(ServeArgs {
            config: Some(cfg.clone()),
            listen: Some("127.0.0.1:9001".into()),
            private_checkpoints: Some(false),
            recent_mib: Some(0),
            ..ServeArgs::default()
        })
        .unwrap();
        assert_eq!(s.listen, "127.0.0.1:9001");
        assert!(!s.private_checkpoints);
        assert_eq!(s.recent_bytes, 0);
        std::fs::write(&cfg, "lisen = \"x\"\n").unwrap();
        assert!(
            settings(ServeArgs {
                config: Some(cfg.clone()),
                ..ServeArgs::default()
            })
            .is_err(),
            "unknown keys are refused"
        );
        assert!(
            settings(ServeArgs {
                tls_cert: Some("c.pem".into()),
                ..ServeArgs::default()
            })
            .is_err(),
            "cert without key"
        );
        assert!(settings(ServeArgs {
            checkpoint_interval: Some("soon".into()),
            ..ServeArgs::default()
        })
        .is_err());
    }

    #[test]
    fn a_read_replica_from_the_file_and_what_it_refuses() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("r.toml");
        let vkey = veritrail_core::note::Signer::from_seed(
            "w.example/default",
            veritrail_core::note::SigType::Ed25519,
            [1; 32],
        )
        .unwrap()
        .verifier()
        .to_vkey();
        let write = |extra: &str| {
            std::fs::write(
                &cfg,
                format!("store = \"s3://b/p\"\nread_only = true\nlog_keys = [\"default={vkey}\"]\nreplica_poll = \"500ms\"\n{extra}"),
            )
            .unwrap();
        };
        let from = |extra: &str| {
            write(extra);
            settings(ServeArgs {
                config: Some(cfg.clone()),
                ..ServeArgs::default()
            })
        };
        let s = from("").unwrap();
        let r = s.replica.expect("a replica");
        assert_eq!(r.keys.len(), 1);
        assert_eq!(r.keys[0].0, "default");
        assert_eq!(r.poll, Duration::from_millis(500));
        assert_eq!(r.trail, None, "the trail stays on the replica unless named");
        let r = from("trail_name = \"r1\"\n").unwrap().replica.unwrap();
        assert_eq!(r.trail.as_deref(), Some("_replica.r1"));
        for (extra, why) in [
            ("trail_name = \"R 1\"\n", "trail_name \"R 1\": use a-z 0-9"),
            ("syslog_tcp = \"127.0.0.1:0\"\n", "syslog listeners"),
            ("durability = \"object\"\n", "acknowledges nothing"),
            ("node = \"n1\"\n", "leases"),
            (
                format!("witness = [\"{vkey}@http://127.0.0.1:1\"]\n").leak() as &str,
                "witnesses (the writer asks them)",
            ),
        ] {
            let e = from(extra)
                .err()
                .unwrap_or_else(|| panic!("{extra} accepted"));
            assert!(e.to_string().contains(why), "{extra}: {e}");
        }
        std::fs::write(&cfg, "read_only = true\n").unwrap();
        let e = settings(ServeArgs {
            config: Some(cfg.clone()),
            ..ServeArgs::default()
        })
        .err()
        .unwrap();
        assert!(e.to_string().contains("store ="), "{e}");
        let e = settings(ServeArgs {
            log_key: vec!["default=x".into()],
            ..ServeArgs::default()
        })
        .err()
        .unwrap();
        assert!(e.to_string().contains("read_only = true"), "{e}");
        let e = settings(ServeArgs {
            trail_name: Some("r1".into()),
            ..ServeArgs::default()
        })
        .err()
        .unwrap();
        assert!(
            e.to_string().contains("trail_name are for a read replica"),
            "{e}"
        );
        let e = settings(ServeArgs {
            read_only: true,
            object: crate::args::ObjectArgs {
                store: Some("s3://b/p".into()),
                ..Default::default()
            },
            log_key: vec!["default=not-a-key".into()],
            ..ServeArgs::default()
        })
        .err()
        .unwrap();
        assert!(e.to_string().contains("log_key default"), "{e}");
    }
}

//! Syslog listeners (docs/COLLECT.md): UDP, TCP and TLS (RFC 5425) on
//! the addresses `veritrail serve` is given, each writing to one log
//! through the service's ingest API. Parsing and mapping are
//! `veritrail-collect`'s; this module moves bytes.
//!
//! Nothing is dropped here. On TCP and TLS, the frames of each read are
//! made durable before the next read, so a store that is behind stops the
//! reading (TCP flow control pushes back on the sender) and a message is
//! on disk before any byte after it is read. UDP cannot push back: its
//! datagrams wait in a large socket buffer while a batch is stored, and
//! what the kernel drops when that is full is counted from the kernel's own
//! counters (`/proc/net/udp`, in `/metrics`). A message no parser
//! understands is stored as `syslog.unparsed`; one longer than 64 KiB is
//! stored cut, marked. Each TCP or TLS connection's open and close (with
//! its message count) and each new UDP sender is recorded in `_system`.

pub use crate::syslog_state::{SyslogHandle, SyslogStats};
use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt as _};
use veritrail_collect::framing::Framer;
use veritrail_collect::syslog::{to_event, Origin, Transport};
use veritrail_service::{Input, Options};

use crate::state::AppState;

/// Bytes of one message kept at most (longer ones are cut, marked).
pub const MAX_MESSAGE: usize = 64 * 1024;
/// Messages per batch handed to the store at most.
const BATCH: usize = 5_000;
/// The UDP socket's receive buffer asked for.
const UDP_BUFFER: usize = 16 << 20;
/// The largest read from a TCP or TLS connection (a buffer grows to it
/// while reads fill it).
const MAX_READ: usize = 1 << 20;
/// Batches of datagrams waiting to be stored, at most.
const UDP_QUEUE: usize = 4;
/// Tasks storing UDP batches side by side.
const UDP_STORERS: usize = 2;
/// UDP senders remembered (their first datagram is recorded in `_system`).
const MAX_UDP_SENDERS: usize = 10_000;
/// A connection silent this long in the middle of a frame is closed (the
/// part is stored, marked cut). A connection silent between frames stays.
const PARTIAL_FRAME_IDLE: Duration = Duration::from_secs(60);

/// Where the listeners listen and what they write to.
#[derive(Clone, Debug, Default)]
pub struct SyslogConfig {
    /// UDP address.
    pub udp: Option<String>,
    /// TCP address.
    pub tcp: Option<String>,
    /// TLS address.
    pub tls: Option<String>,
    /// Certificate, key and optional client CA for TLS.
    pub tls_files: Option<crate::tls::TlsFiles>,
    /// The log the messages go to.
    pub log: String,
}

fn slot(t: Transport) -> usize {
    match t {
        Transport::Udp => 0,
        Transport::Tcp => 1,
        _ => 2,
    }
}

/// Binds every configured listener and starts serving them.
///
/// # Errors
/// An address that cannot be bound; the log does not exist; TLS files that
/// do not load.
pub async fn start(st: Arc<AppState>, cfg: &SyslogConfig) -> std::io::Result<SyslogHandle> {
    st.log(&cfg.log)
        .map_err(|e| std::io::Error::other(format!("syslog: {e}")))?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut bound = Vec::new();
    let mut tasks = Vec::new();
    if let Some(a) = &cfg.udp {
        let sock = udp_socket(a)?;
        let addr = sock.local_addr()?;
        *st.syslog_stats.udp_socket.lock().expect("stats lock") = rustix::fs::fstat(&sock)
            .ok()
            .map(|s| (s.st_ino, addr.port()));
        bound.push((Transport::Udp, addr));
        tasks.push(tokio::spawn(serve_udp(
            st.clone(),
            cfg.log.clone(),
            sock,
            stopped.clone(),
        )));
    }
    for (transport, a) in [(Transport::Tcp, &cfg.tcp), (Transport::Tls, &cfg.tls)] {
        let Some(a) = a else { continue };
        let acceptor = if transport == Transport::Tls {
            let files = cfg.tls_files.as_ref().ok_or_else(|| {
                std::io::Error::other("syslog over TLS needs a certificate and key (--syslog-tls-cert/--syslog-tls-key, or the server's)")
            })?;
            let c = crate::tls::server_config(files).map_err(std::io::Error::other)?;
            Some(tokio_rustls::TlsAcceptor::from(Arc::new(c)))
        } else {
            None
        };
        let listener = tokio::net::TcpListener::bind(a).await?;
        bound.push((transport, listener.local_addr()?));
        tasks.push(tokio::spawn(serve_stream(
            st.clone(),
            cfg.log.clone(),
            listener,
            acceptor,
            stopped.clone(),
        )));
    }
    Ok(SyslogHandle { bound, stop, tasks })
}

fn udp_socket(addr: &str) -> std::io::Result<tokio::net::UdpSocket> {
    let std_sock = std::net::UdpSocket::bind(addr)?;
    // A large receive buffer: datagrams wait there while the storers are
    // busy. Beyond net.core.rmem_max when the server may (CAP_NET_ADMIN).
    if rustix::net::sockopt::set_socket_recv_buffer_size_force(&std_sock, UDP_BUFFER).is_err() {
        let _ = rustix::net::sockopt::set_socket_recv_buffer_size(&std_sock, UDP_BUFFER);
    }
    std_sock.set_nonblocking(true)?;
    tokio::net::UdpSocket::from_std(std_sock)
}

/// Validates each event on its own (a bad one becomes `syslog.unparsed`
/// with its raw bytes, so one cannot fail a batch) and stores them all.
async fn store(
    st: &AppState,
    log: &str,
    mut events: Vec<Vec<u8>>,
    transport: Transport,
    remap: &(dyn Fn() -> Vec<Vec<u8>> + Sync),
) -> Result<(), String> {
    if events.is_empty() {
        return Ok(());
    }
    let n = events.len() as u64;
    // The mapping makes only events the model takes (tested, and fuzzed);
    // should the store refuse one all the same, the batch is mapped again
    // (`remap`), that event replaced by `syslog.unparsed` with the refusal,
    // and stored.
    let mut refused = Vec::new();
    loop {
        match st
            .service
            .ingest(log, Input::Events(events), Options::default())
            .await
        {
            Ok(_) => break,
            Err(veritrail_service::IngestError::Event { item, error }) if refused.len() < 16 => {
                refused.push((item, error.to_string()));
                events = remap();
                for (item, why) in &refused {
                    events[*item] = serde_json::to_vec(&json!({
                        "action": "syslog.unparsed",
                        "actor": {"id": "unknown", "type": "syslog_sender"},
                        "metadata": {"syslog": {"mapped": head(&String::from_utf8_lossy(&events[*item]), 16 * 1024), "refused": why}},
                    }))
                    .expect("JSON");
                }
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    st.syslog_stats.stored[slot(transport)].fetch_add(n, Ordering::Relaxed);
    Ok(())
}

/// At most `max` bytes of `s`, cut on a character boundary.
fn head(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

async fn audit(
    st: &AppState,
    action: &str,
    peer: SocketAddr,
    metadata: serde_json::Value,
    log: &str,
) {
    let record = veritrail_service::audit::AuditRecord {
        action,
        actor: veritrail_service::audit::Actor {
            id: peer.ip().to_string(),
            kind: "syslog_sender".into(),
            name: None,
            ip: Some(peer.ip()),
        },
        app: "veritrail-server",
        target: Some(log),
        metadata,
    };
    if let Err(e) = st.service.audit(&record).await {
        tracing::error!(error = %e, "could not record a syslog source in _system");
    }
}

/// A batch of datagrams and their senders.
type Datagrams = Vec<(Vec<u8>, SocketAddr)>;

/// UDP: one task receives — it only copies datagrams into batches, so
/// that it is back at the socket at once — and [`UDP_STORERS`] tasks map
/// and store the batches. A bounded queue between them: when storing falls
/// behind, receiving waits and the socket's buffer fills, and what the
/// kernel then drops is counted.
async fn serve_udp(
    st: Arc<AppState>,
    log: String,
    sock: tokio::net::UdpSocket,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let (tx, rx) = tokio::sync::mpsc::channel::<Datagrams>(UDP_QUEUE);
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let senders = Arc::new(Mutex::new(HashSet::new()));
    let storers: Vec<_> = (0..UDP_STORERS)
        .map(|_| {
            tokio::spawn(store_udp(
                st.clone(),
                log.clone(),
                rx.clone(),
                senders.clone(),
            ))
        })
        .collect();
    let mut buf = vec![0u8; MAX_MESSAGE + 1];
    'receive: loop {
        let first = tokio::select! {
            r = sock.recv_from(&mut buf) => r,
            _ = stopped.changed() => break 'receive,
        };
        let mut batch = Vec::new();
        let mut next = first;
        loop {
            match next {
                // Kept whole up to the limit plus one byte, which says it
                // was cut (the datagram's size is then unknown).
                Ok((n, peer)) => batch.push((buf[..n].to_vec(), peer)),
                Err(e) => tracing::warn!(error = %e, "syslog over UDP: receive failed"),
            }
            if batch.len() >= BATCH {
                break;
            }
            next = match sock.try_recv_from(&mut buf) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                r => r,
            };
        }
        if tx.send(batch).await.is_err() {
            break; // every storer stopped (the store failed)
        }
    }
    drop(tx);
    for s in storers {
        let _ = s.await;
    }
}

/// Maps and stores the batches the UDP receiver queues, until it stops.
async fn store_udp(
    st: Arc<AppState>,
    log: String,
    rx: Arc<tokio::sync::Mutex<tokio::sync::mpsc::Receiver<Datagrams>>>,
    senders: Arc<Mutex<HashSet<IpAddr>>>,
) {
    loop {
        let Some(batch) = rx.lock().await.recv().await else {
            return;
        };
        let mut new_senders = Vec::new();
        {
            let mut known = senders.lock().expect("senders lock");
            for (_, peer) in &batch {
                if known.len() < MAX_UDP_SENDERS && known.insert(peer.ip()) {
                    new_senders.push(*peer);
                }
            }
        }
        let map = || -> Vec<Vec<u8>> {
            batch
                .iter()
                .map(|(bytes, peer)| {
                    let truncated = (bytes.len() > MAX_MESSAGE).then_some(bytes.len());
                    let origin = Origin::new(Transport::Udp, Some(*peer));
                    to_event(&bytes[..bytes.len().min(MAX_MESSAGE)], truncated, &origin)
                })
                .collect()
        };
        let events = map();
        for peer in new_senders {
            audit(
                &st,
                "syslog.source",
                peer,
                json!({"transport": "udp", "peer": peer.to_string()}),
                &log,
            )
            .await;
        }
        if let Err(e) = store(&st, &log, events, Transport::Udp, &map).await {
            tracing::error!(error = %e, "syslog over UDP: a batch could not be stored; the listener stops");
            return;
        }
    }
}

async fn serve_stream(
    st: Arc<AppState>,
    log: String,
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let transport = if tls.is_some() {
        Transport::Tls
    } else {
        Transport::Tcp
    };
    let mut conns = Vec::new();
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "syslog: accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stopped.changed() => break,
        };
        let (st, log, tls, stopped) = (st.clone(), log.clone(), tls.clone(), stopped.clone());
        conns.retain(|t: &tokio::task::JoinHandle<()>| !t.is_finished());
        conns.push(tokio::spawn(async move {
            match tls {
                None => connection(&st, &log, stream, peer, transport, stopped).await,
                Some(acceptor) => match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await {
                    Ok(Ok(s)) => connection(&st, &log, s, peer, transport, stopped).await,
                    Ok(Err(e)) => {
                        st.syslog_stats.refused.fetch_add(1, Ordering::Relaxed);
                        audit(&st, "syslog.refused", peer, json!({"transport": "tls", "reason": format!("TLS handshake failed: {e}")}), &log).await;
                    }
                    Err(_) => {
                        st.syslog_stats.refused.fetch_add(1, Ordering::Relaxed);
                        audit(&st, "syslog.refused", peer, json!({"transport": "tls", "reason": "TLS handshake not done within 10 s"}), &log).await;
                    }
                },
            }
        }));
    }
    for c in conns {
        let _ = c.await;
    }
}

/// One TCP or TLS connection: read, frame, store, then read again.
async fn connection<S: AsyncRead + Unpin>(
    st: &AppState,
    log: &str,
    mut stream: S,
    peer: SocketAddr,
    transport: Transport,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    audit(
        st,
        "syslog.connect",
        peer,
        json!({"transport": transport.name(), "peer": peer.to_string()}),
        log,
    )
    .await;
    let origin = Origin::new(transport, Some(peer));
    let mut framer = Framer::new(MAX_MESSAGE);
    // Grows while reads fill it (a sender ahead of the store): one durable
    // write then covers more messages.
    let mut buf = vec![0u8; 64 * 1024];
    let mut count = 0u64;
    let mut frames = Vec::new();
    let why: String = loop {
        let partial = framer.pending() > 0;
        let n = tokio::select! {
            r = stream.read(&mut buf) => match r {
                Ok(0) => break "closed by the sender".into(),
                Ok(n) => n,
                Err(e) => break format!("read failed: {e}"),
            },
            _ = stopped.changed() => break "the server stopped".into(),
            _ = tokio::time::sleep(PARTIAL_FRAME_IDLE), if partial => {
                break format!("silent for {} s in the middle of a frame", PARTIAL_FRAME_IDLE.as_secs())
            }
        };
        frames.clear();
        let framing = framer.push(&buf[..n], &mut frames);
        if n == buf.len() && buf.len() < MAX_READ {
            buf.resize(buf.len() * 2, 0);
        }
        let map = || -> Vec<Vec<u8>> {
            frames
                .iter()
                .map(|f| to_event(&f.bytes, f.truncated_from, &origin))
                .collect()
        };
        let events = map();
        count += events.len() as u64;
        // Durable before the next byte is read.
        if let Err(e) = store(st, log, events, transport, &map).await {
            break format!("the store refused a batch: {e}");
        }
        if let Err(e) = framing {
            st.syslog_stats.refused.fetch_add(1, Ordering::Relaxed);
            break format!("framing error: {e}");
        }
    };
    frames.clear();
    framer.finish(&mut frames);
    let map = || -> Vec<Vec<u8>> {
        frames
            .iter()
            .map(|f| to_event(&f.bytes, f.truncated_from, &origin))
            .collect()
    };
    let rest = map();
    count += rest.len() as u64;
    if let Err(e) = store(st, log, rest, transport, &map).await {
        tracing::error!(error = %e, "syslog: the last frames of a connection could not be stored");
    }
    audit(st, "syslog.disconnect", peer, json!({"transport": transport.name(), "peer": peer.to_string(), "messages": count, "reason": why}), log).await;
}

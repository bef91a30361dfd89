//! What the server keeps of its syslog listeners ([`crate::syslog`]): their
//! counters, for `/metrics` and `veritrail status`, and the handle that
//! stops them.

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;
use std::time::Duration;

use veritrail_collect::syslog::Transport;

/// Counters of the listeners, for `/metrics`.
#[derive(Default, Debug)]
pub struct SyslogStats {
    /// Messages stored, by transport (udp, tcp, tls).
    pub stored: [AtomicU64; 3],
    /// TCP and TLS connections refused or closed on a framing error.
    pub refused: AtomicU64,
    /// The UDP socket's inode and port, to read its drops from the kernel.
    pub udp_socket: Mutex<Option<(u64, u16)>>,
}

impl SyslogStats {
    /// Datagrams the kernel dropped on the UDP listener's socket (its
    /// receive buffer was full), from `/proc/net/udp{,6}`.
    pub fn udp_drops(&self) -> Option<u64> {
        let (inode, port) = (*self.udp_socket.lock().expect("stats lock"))?;
        veritrail_collect::kernel::udp_drops(inode, port)
    }
}

/// The listeners' bound addresses, and how to stop them.
pub struct SyslogHandle {
    /// (transport, address) of each listener.
    pub bound: Vec<(Transport, SocketAddr)>,
    pub(crate) stop: tokio::sync::watch::Sender<bool>,
    pub(crate) tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl SyslogHandle {
    /// Stops accepting and reading; each connection stores what it has
    /// read, records its close, and ends (waited for up to 10 s).
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let all = futures_join(self.tasks);
        if tokio::time::timeout(Duration::from_secs(10), all)
            .await
            .is_err()
        {
            tracing::warn!("syslog connections still busy after 10 s; stopping anyway");
        }
    }
}

async fn futures_join(tasks: Vec<tokio::task::JoinHandle<()>>) {
    for t in tasks {
        let _ = t.await;
    }
}

//! The kernel's own count of datagrams a UDP socket dropped because its
//! receive buffer was full: the `drops` column of `/proc/net/udp` and
//! `/proc/net/udp6`, found by the socket's inode and local port.

/// Drops of the socket with `inode` bound to `port`, from the text of a
/// `/proc/net/udp{,6}` table; `None` when no row is that socket.
pub fn udp_drops_in(table: &str, inode: u64, port: u16) -> Option<u64> {
    for line in table.lines().skip(1) {
        // sl local_address rem_address st tx_queue:rx_queue tr:tm->when
        // retrnsmt uid timeout inode ref pointer drops
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 13 || f[9].parse::<u64>().ok() != Some(inode) {
            continue;
        }
        let local_port = f[1]
            .rsplit(':')
            .next()
            .and_then(|p| u16::from_str_radix(p, 16).ok());
        if local_port == Some(port) {
            return f[12].parse().ok();
        }
    }
    None
}

/// Drops of the socket with `inode` bound to `port`, read now from
/// `/proc/net/udp` and `/proc/net/udp6`; `None` when it is not open.
pub fn udp_drops(inode: u64, port: u16) -> Option<u64> {
    ["/proc/net/udp", "/proc/net/udp6"]
        .into_iter()
        .find_map(|t| {
            let text = std::fs::read_to_string(t).ok()?;
            udp_drops_in(&text, inode, port)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Recorded from this machine (Linux 6.1) with a listener on port 5140.
    const TABLE: &str = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
  226: 0100007F:1414 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 918273 2 0000000000000000 37\n\
 1021: 00000000:0044 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 12345 2 0000000000000000 0\n";

    #[test]
    fn the_socket_is_found_by_inode_and_port() {
        assert_eq!(udp_drops_in(TABLE, 918_273, 5140), Some(37));
        assert_eq!(udp_drops_in(TABLE, 12_345, 68), Some(0));
        // Same inode, other port; other inode: not this socket.
        assert_eq!(udp_drops_in(TABLE, 918_273, 68), None);
        assert_eq!(udp_drops_in(TABLE, 1, 5140), None);
        assert_eq!(udp_drops_in("", 1, 1), None);
    }

    #[test]
    fn a_live_socket_reads_zero_drops() {
        use std::os::fd::AsFd as _;
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = s.local_addr().unwrap().port();
        let inode = rustix::fs::fstat(s.as_fd()).unwrap().st_ino;
        assert_eq!(udp_drops(inode, port), Some(0));
    }
}

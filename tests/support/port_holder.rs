//! Which process holds a loopback port, read from Linux's `/proc`: lets a harness that starts a server on a
//! port it chose tell the server's own listener from one another test (or process) opened on that port first.
//!
//! rsyslogd is why this exists: when one of its inputs cannot bind, it logs the error and runs on, so "the
//! port accepts connections" is no proof that rsyslogd listens there.

use std::collections::HashSet;

/// Who holds a port, seen from one process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortHolder {
    /// Nothing listens on the port (yet).
    Nobody,
    /// The process listens on it.
    Process,
    /// Something else listens on it.
    Other,
}

/// Which socket table of `/proc/net` to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// TCP listeners (state `LISTEN`).
    Tcp,
    /// Unconnected UDP sockets (state `CLOSE`, as the kernel shows a bound UDP socket).
    Udp,
}

/// Who holds `port` for `protocol` (IPv4 and IPv6), seen from the process `pid`.
pub fn holder(pid: u32, protocol: Protocol, port: u16) -> PortHolder {
    let holders = bound_socket_inodes(protocol, port);
    if holders.is_empty() {
        return PortHolder::Nobody;
    }
    let own = socket_inodes_of(pid);
    if holders.iter().any(|inode| own.contains(inode)) {
        PortHolder::Process
    } else {
        PortHolder::Other
    }
}

/// Inodes of the sockets bound to `port` in the wanted state, from `/proc/net/{tcp,tcp6}` or `{udp,udp6}`.
fn bound_socket_inodes(protocol: Protocol, port: u16) -> Vec<u64> {
    // Columns: sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode …
    let (tables, state) = match protocol {
        Protocol::Tcp => (["/proc/net/tcp", "/proc/net/tcp6"], "0A"),
        Protocol::Udp => (["/proc/net/udp", "/proc/net/udp6"], "07"),
    };
    let wanted_port = format!("{port:04X}");
    let mut inodes = Vec::new();
    for table in tables {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let columns: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(st), Some(inode)) =
                (columns.get(1), columns.get(3), columns.get(9))
            else {
                continue;
            };
            let local_port = local.rsplit(':').next().unwrap_or_default();
            if local_port == wanted_port && *st == state {
                if let Ok(inode) = inode.parse() {
                    inodes.push(inode);
                }
            }
        }
    }
    inodes
}

/// Inodes of the sockets a process has open (`/proc/<pid>/fd/*` → `socket:[inode]`).
fn socket_inodes_of(pid: u32) -> HashSet<u64> {
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return HashSet::new();
    };
    entries
        .flatten()
        .filter_map(|entry| std::fs::read_link(entry.path()).ok())
        .filter_map(|target| {
            let target = target.to_string_lossy().into_owned();
            target
                .strip_prefix("socket:[")?
                .strip_suffix(']')?
                .parse()
                .ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listener_is_held_by_this_process_and_a_closed_port_by_nobody() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        assert_eq!(
            holder(std::process::id(), Protocol::Tcp, port),
            PortHolder::Process
        );
        // PID 1 is not this process: the same listener is someone else's from there.
        assert_eq!(holder(1, Protocol::Tcp, port), PortHolder::Other);
        drop(listener);
        assert_eq!(
            holder(std::process::id(), Protocol::Tcp, port),
            PortHolder::Nobody
        );
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let port = socket.local_addr().expect("address").port();
        assert_eq!(
            holder(std::process::id(), Protocol::Udp, port),
            PortHolder::Process
        );
    }
}

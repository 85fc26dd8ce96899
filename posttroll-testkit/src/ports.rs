//! Free ports on loopback.
//!
//! Each function binds `127.0.0.1:0`, reads the port the system chose, and
//! releases it. **There is a small race**: between the release and the
//! moment the test binds the port itself, another process (or another test
//! of the same process) may take it. The system hands out ephemeral ports
//! in rotation, so this is rare; a test that fails with "address in use"
//! can simply ask for a new port and try again (as
//! [`NameServerFixture::start`](crate::NameServerFixture::start) does).
//! Ports are never reserved: the functions can return a port again once it
//! has been released.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};

fn port_of(addr: std::io::Result<SocketAddr>, what: &str) -> u16 {
    match addr {
        Ok(addr) => addr.port(),
        Err(e) => panic!("cannot read the port of a {what} socket bound on 127.0.0.1:0: {e}"),
    }
}

fn tcp_listener() -> TcpListener {
    match TcpListener::bind((Ipv4Addr::LOCALHOST, 0)) {
        Ok(listener) => listener,
        Err(e) => panic!("cannot bind a TCP socket on 127.0.0.1:0 to find a free port: {e}"),
    }
}

/// A TCP port free on `127.0.0.1` right now (see the [module
/// documentation](self) for the race).
///
/// # Panics
///
/// When no TCP socket can be bound on loopback.
///
/// # Examples
///
/// ```
/// let port = posttroll_testkit::free_tcp_port();
/// assert_ne!(port, 0);
/// std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
/// ```
pub fn free_tcp_port() -> u16 {
    let listener = tcp_listener();
    port_of(listener.local_addr(), "TCP")
}

/// `n` distinct TCP ports free on `127.0.0.1` right now: all are held at
/// once while they are chosen, so none repeats (see the [module
/// documentation](self) for the race).
///
/// # Panics
///
/// When no TCP socket can be bound on loopback.
///
/// # Examples
///
/// ```
/// let ports = posttroll_testkit::free_tcp_ports(3);
/// assert_eq!(ports.len(), 3);
/// assert!(ports[0] != ports[1] && ports[1] != ports[2] && ports[0] != ports[2]);
/// ```
pub fn free_tcp_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n).map(|_| tcp_listener()).collect();
    listeners
        .iter()
        .map(|l| port_of(l.local_addr(), "TCP"))
        .collect()
}

/// A UDP port free on `127.0.0.1` right now (see the [module
/// documentation](self) for the race).
///
/// # Panics
///
/// When no UDP socket can be bound on loopback.
///
/// # Examples
///
/// ```
/// let port = posttroll_testkit::free_udp_port();
/// std::net::UdpSocket::bind(("127.0.0.1", port)).unwrap();
/// ```
pub fn free_udp_port() -> u16 {
    match UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)) {
        Ok(socket) => port_of(socket.local_addr(), "UDP"),
        Err(e) => panic!("cannot bind a UDP socket on 127.0.0.1:0 to find a free port: {e}"),
    }
}

/// A port free on `127.0.0.1` for both TCP and UDP right now, distinct from
/// `avoid` (the nameserver's `broadcast_port` is a UDP port with multicast
/// and a TCP port without).
pub(crate) fn free_tcp_and_udp_port(avoid: &[u16]) -> u16 {
    let mut held = Vec::new();
    for _ in 0..64 {
        let listener = tcp_listener();
        let port = port_of(listener.local_addr(), "TCP");
        if !avoid.contains(&port) && UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return port;
        }
        // Keep it bound, so that the next try gets another port.
        held.push(listener);
    }
    panic!("no port free for both TCP and UDP on 127.0.0.1 after 64 tries")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_bindable_and_distinct() {
        let ports = free_tcp_ports(8);
        let mut sorted = ports.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 8);
        for port in ports {
            assert_ne!(port, 0);
            TcpListener::bind((Ipv4Addr::LOCALHOST, port)).unwrap();
        }
        UdpSocket::bind((Ipv4Addr::LOCALHOST, free_udp_port())).unwrap();
        let both = free_tcp_and_udp_port(&[]);
        TcpListener::bind((Ipv4Addr::LOCALHOST, both)).unwrap();
        UdpSocket::bind((Ipv4Addr::LOCALHOST, both)).unwrap();
        assert!(free_tcp_ports(0).is_empty());
    }
}

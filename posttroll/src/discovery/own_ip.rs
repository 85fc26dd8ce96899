//! The IP address a named publisher announces.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use posttroll_core::Config;

/// The host's IP address, as the reference's `get_own_ip` finds it:
///
/// 1. the `own_ip` config key when set (not a key of the reference: it lets
///    a multi-homed host choose what it announces);
/// 2. the local address of a UDP socket `connect`ed to `8.8.8.8:80` (no
///    packet is sent): the address of the interface with the default route;
/// 3. the IPv4 address the host name resolves to, unless it is a loopback
///    address;
/// 4. `127.0.0.1`.
///
/// # Examples
///
/// ```
/// use posttroll::{discovery::own_ip, Config};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let config = Config { own_ip: Some("192.0.2.7".into()), ..Config::default() };
/// assert_eq!(own_ip(&config).await, "192.0.2.7");
///
/// let detected = own_ip(&Config::default()).await;
/// assert!(detected.parse::<std::net::IpAddr>().is_ok());
/// # });
/// ```
pub async fn own_ip(config: &Config) -> String {
    if let Some(ip) = config
        .own_ip
        .as_deref()
        .map(str::trim)
        .filter(|ip| !ip.is_empty())
    {
        return ip.to_owned();
    }
    if let Some(ip) = routed_ip() {
        return ip.to_string();
    }
    if let Some(ip) = host_name_ip().await {
        return ip.to_string();
    }
    Ipv4Addr::LOCALHOST.to_string()
}

/// The local address of a UDP socket connected towards 8.8.8.8 (a UDP
/// `connect` only picks the route; nothing is sent).
fn routed_ip() -> Option<IpAddr> {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    socket
        .connect(SocketAddr::from((Ipv4Addr::new(8, 8, 8, 8), 80)))
        .ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_unspecified()).then_some(ip)
}

/// The first non-loopback IPv4 address the host name resolves to (Python's
/// `gethostbyname(gethostname())`, which is IPv4 only).
async fn host_name_ip() -> Option<IpAddr> {
    let sender = posttroll_core::message::default_sender();
    let host = sender.split_once('@').map_or(sender, |(_, host)| host);
    if host.is_empty() {
        return None;
    }
    let lookup = tokio::net::lookup_host((host, 0));
    let addrs = tokio::time::timeout(Duration::from_secs(2), lookup)
        .await
        .ok()?
        .ok()?;
    addrs
        .map(|a| a.ip())
        .find(|ip| ip.is_ipv4() && !ip.is_loopback())
}

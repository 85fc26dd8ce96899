//! UDP multicast (or broadcast) announcements for posttroll, on the wire
//! what the Python reference's `posttroll.bbmcast` sends and receives.
//!
//! [`MulticastDiscovery`] implements [`posttroll_core::Discovery`] from
//! four [`Config`] keys: `mc_group`, `broadcast_port`, `mc_ttl` and
//! `multicast_interface`, over IPv4 as the reference, or over IPv6 when
//! `mc_group` is an IPv6 group.
//!
//! # Sender (like `bbmcast.mcast_sender`)
//!
//! A UDP socket with `SO_REUSEADDR`, sending each datagram as is to
//! (`mc_group`, `broadcast_port`):
//!
//! - a group of `0.0.0.0`, `255.255.255.255`, `<broadcast>` or the empty
//!   string means UDP broadcast: `SO_BROADCAST` on, datagrams go to
//!   `255.255.255.255` (the reference's `"<broadcast>"`); the TTL and the
//!   interface are not applied, as in the reference;
//! - a group in `224.0.0.0`–`239.255.255.255` means multicast:
//!   `IP_MULTICAST_TTL` = `mc_ttl`, `IP_MULTICAST_LOOP` on, and
//!   `IP_MULTICAST_IF` = `multicast_interface` when it is set;
//! - an IPv6 multicast group (`ff00::/8`, not in the reference: see
//!   [below](#ipv6-groups)) means IPv6 multicast;
//! - any other group is refused with an error naming it.
//!
//! # Receiver (like `bbmcast.mcast_receiver`)
//!
//! A UDP socket with `SO_REUSEADDR` (and, like the reference, no
//! `SO_REUSEPORT`), bound to `0.0.0.0:broadcast_port` — the wildcard
//! address, not the group — so that several receivers on one host share the
//! port and broadcast datagrams to that port arrive as well. For a
//! multicast group it joins the group (`IP_ADD_MEMBERSHIP`) on
//! `multicast_interface`, else on `INADDR_ANY` (the system's choice). Each
//! datagram is read into a [`MAX_DATAGRAM`]-byte (1024) buffer: longer ones
//! are cut, as the reference's `recvfrom(1024)` cuts them.
//!
//! As with the reference on Linux, a receiver bound to the wildcard address
//! also gets datagrams of other groups joined on the same port by other
//! sockets of the host (`IP_MULTICAST_ALL` is left at its default).
//!
//! # IPv6 groups
//!
//! The reference is IPv4-only. When `mc_group` is an IPv6 multicast group
//! (`ff00::/8`, e.g. `ff02::…` link-local or `ff05::…` site-local;
//! brackets allowed), the same is done over IPv6:
//!
//! - `multicast_interface` names the interface: its name (`eth0`), its
//!   index (`2`) or one of its addresses (`fe80::…`, `192.168.1.2`);
//!   unset, the system chooses (index 0). A link-local group needs it on a
//!   host with several interfaces.
//! - The sender binds `[::]:0` and sets `IPV6_MULTICAST_HOPS` = `mc_ttl`
//!   (the hop limit), `IPV6_MULTICAST_LOOP` on and `IPV6_MULTICAST_IF`;
//!   datagrams go to (group, `broadcast_port`, scope id = the interface).
//! - The receiver binds `[::]:broadcast_port`, IPv6 only
//!   (`IPV6_V6ONLY`, so an IPv4 receiver may share the port), and joins
//!   the group on the interface (`IPV6_JOIN_GROUP`). Sources are IPv6
//!   addresses (`::1` on loopback), which the nameserver's local-only
//!   filter knows as this host's.
//!
//! Only posttroll-rs peers announce and listen on IPv6 groups: a Python
//! nameserver never sees them, and a Rust nameserver on an IPv6 group no
//! longer hears Python publishers (which multicast on IPv4).
//!
//! # Errors are raised when a socket opens
//!
//! [`MulticastDiscovery::new`] only records the keys; the group and the
//! interface are checked by [`MulticastDiscovery::open_sender`] and
//! [`MulticastDiscovery::open_receiver`], as the reference checks them when
//! it makes its sockets, so that a configuration that never uses multicast
//! (designated nameservers, `--no-multicast`) is not refused for a bad
//! group.
//!
//! # Testing on loopback
//!
//! Multicast works on loopback only when both sides use the interface
//! `127.0.0.1` and a TTL of 0; see this crate's tests. IPv6 multicast on
//! Linux's `lo` needs a local route for `ff00::/8` there (routes through
//! `lo` are otherwise reject routes); the tests add it in a network
//! namespace of their own (`posttroll_testkit::ipv6`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};

use async_trait::async_trait;
use bytes::Bytes;
use posttroll_core::{Config, DatagramReceiver, DatagramSender, Discovery, Error, Result};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;

/// The size of a receiver's buffer, as in the reference
/// (`MulticastReceiver.BUFSIZE`): longer datagrams are cut to this length.
pub const MAX_DATAGRAM: usize = 1024;

/// What the receiver expects of a group, quoted in errors.
const GROUP_EXPECTED: &str = "expected 224.x.x.x–239.x.x.x, an IPv6 multicast group in ff00::/8 \
     (e.g. ff05::1:5eed), or 0.0.0.0/255.255.255.255 for broadcast";

/// Where announcements go, as read from the `mc_group` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Group {
    /// A multicast group (`224.0.0.0`–`239.255.255.255`).
    Multicast(Ipv4Addr),
    /// An IPv6 multicast group (`ff00::/8`; see the [crate
    /// documentation](crate#ipv6-groups)).
    MulticastV6(Ipv6Addr),
    /// UDP broadcast to `255.255.255.255` (group `0.0.0.0`,
    /// `255.255.255.255`, `<broadcast>` or empty).
    Broadcast,
}

impl Group {
    /// Reads an `mc_group` value.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidAddress`] naming `group` when it is not an IPv4
    /// address in `224.0.0.0`–`239.255.255.255`, an IPv6 address in
    /// `ff00::/8` (in brackets or not) nor one of the broadcast spellings.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::Ipv4Addr;
    /// use posttroll_discovery_multicast::Group;
    ///
    /// assert_eq!(
    ///     Group::parse("225.0.0.212")?,
    ///     Group::Multicast(Ipv4Addr::new(225, 0, 0, 212))
    /// );
    /// assert_eq!(Group::parse("0.0.0.0")?, Group::Broadcast);
    /// assert!(Group::parse("10.0.0.1").is_err());
    /// assert_eq!(
    ///     Group::parse("ff05::1:5eed")?,
    ///     Group::MulticastV6("ff05::1:5eed".parse().unwrap())
    /// );
    /// assert!(Group::parse("fe80::1").is_err());
    /// # Ok::<(), posttroll_core::Error>(())
    /// ```
    pub fn parse(group: &str) -> Result<Group> {
        let trimmed = group.trim();
        if trimmed.is_empty() || trimmed == "<broadcast>" {
            return Ok(Group::Broadcast);
        }
        let invalid = || Error::InvalidAddress {
            address: group.to_string(),
            reason: format!(
                "invalid multicast group {group} (config key mc_group): {GROUP_EXPECTED}"
            ),
        };
        let bare = trimmed
            .strip_prefix('[')
            .and_then(|g| g.strip_suffix(']'))
            .unwrap_or(trimmed);
        if let Ok(ip) = bare.parse::<Ipv6Addr>() {
            return if ip.is_multicast() {
                Ok(Group::MulticastV6(ip))
            } else {
                Err(invalid())
            };
        }
        let ip: Ipv4Addr = trimmed.parse().map_err(|_| invalid())?;
        if ip.is_unspecified() || ip.is_broadcast() {
            Ok(Group::Broadcast)
        } else if ip.is_multicast() {
            Ok(Group::Multicast(ip))
        } else {
            Err(invalid())
        }
    }

    /// The address datagrams are sent to: the group, or `255.255.255.255`.
    pub fn destination(&self) -> IpAddr {
        match self {
            Group::Multicast(ip) => IpAddr::V4(*ip),
            Group::MulticastV6(ip) => IpAddr::V6(*ip),
            Group::Broadcast => IpAddr::V4(Ipv4Addr::BROADCAST),
        }
    }
}

/// Reads a `multicast_interface` value: the IPv4 address of a local
/// interface.
fn parse_interface(interface: &str) -> Result<Ipv4Addr> {
    interface.trim().parse().map_err(|_| Error::InvalidAddress {
        address: interface.to_string(),
        reason: "invalid multicast interface (config key multicast_interface): expected the \
                 IPv4 address of a local interface, e.g. 192.168.1.2"
            .to_string(),
    })
}

/// Reads a `multicast_interface` value for an IPv6 group: the index of
/// the interface it names (a name, an index, or an address of it).
fn parse_interface_index(interface: &str) -> Result<u32> {
    let trimmed = interface.trim();
    if let Ok(index) = trimmed.parse::<u32>() {
        return Ok(index);
    }
    let invalid = |why: String| Error::InvalidAddress {
        address: interface.to_string(),
        reason: format!(
            "invalid multicast interface (config key multicast_interface) for an IPv6 group: \
             {why}; expected the name, index or an address of an interface of this host"
        ),
    };
    let interfaces = if_addrs::get_if_addrs()
        .map_err(|e| Error::io("listing the network interfaces for multicast_interface", e))?;
    let bare = trimmed
        .strip_prefix('[')
        .and_then(|i| i.strip_suffix(']'))
        .unwrap_or(trimmed);
    let found = match bare.parse::<IpAddr>() {
        Ok(ip) => interfaces.iter().find(|i| i.ip() == ip),
        Err(_) => interfaces.iter().find(|i| i.name == trimmed),
    };
    match found {
        Some(found) => found
            .index
            .ok_or_else(|| invalid(format!("the system gives {} no index", found.name))),
        None if bare.parse::<IpAddr>().is_ok() => {
            Err(invalid("no interface of this host has that address".into()))
        }
        None => Err(invalid("no interface of this host has that name".into())),
    }
}

/// An error of the OS refusing `interface` as the multicast interface.
fn interface_refused(interface: impl std::fmt::Display, source: &std::io::Error) -> Error {
    Error::InvalidAddress {
        address: interface.to_string(),
        reason: format!(
            "the system refused it as the multicast interface (config key \
             multicast_interface; is it an address of this host?): {source}"
        ),
    }
}

/// The UDP multicast/broadcast announcement channel of the reference.
///
/// Cheap to clone; each [`Discovery::sender`] or [`Discovery::receiver`]
/// opens a new socket. See the [crate documentation](crate) for the socket
/// options.
///
/// # Examples
///
/// ```no_run
/// use posttroll_core::{Config, Discovery};
/// use posttroll_discovery_multicast::MulticastDiscovery;
///
/// # async fn run() -> posttroll_core::Result<()> {
/// let discovery = MulticastDiscovery::new(&Config::default())?;
/// let mut receiver = discovery.receiver().await?;
/// let (datagram, from) = receiver.recv().await?;
/// println!("{} bytes from {from:?}", datagram.len());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MulticastDiscovery {
    group: String,
    port: u16,
    ttl: u8,
    interface: Option<String>,
}

impl MulticastDiscovery {
    /// The channel of `config`'s `mc_group`, `broadcast_port`, `mc_ttl`
    /// and `multicast_interface`.
    ///
    /// # Errors
    ///
    /// None at present: the group and interface are checked when a socket
    /// opens (see the [crate documentation](crate#errors-are-raised-when-a-socket-opens)).
    pub fn new(config: &Config) -> Result<MulticastDiscovery> {
        Ok(MulticastDiscovery {
            group: config.mc_group.clone(),
            port: config.broadcast_port,
            ttl: config.mc_ttl,
            interface: config.multicast_interface.clone(),
        })
    }

    /// The configured group, parsed.
    ///
    /// # Errors
    ///
    /// See [`Group::parse`].
    pub fn group(&self) -> Result<Group> {
        Group::parse(&self.group)
    }

    /// The UDP port datagrams are sent to and received on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The configured multicast interface of an IPv4 group, parsed (`None`
    /// when unset).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidAddress`] naming it when it is not an IPv4 address.
    pub fn interface(&self) -> Result<Option<Ipv4Addr>> {
        self.interface.as_deref().map(parse_interface).transpose()
    }

    /// The index of the configured multicast interface of an IPv6 group:
    /// the interface `multicast_interface` names by name, index or one of
    /// its addresses; 0 (the system's choice) when unset.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidAddress`] naming it when no interface of this host
    /// has that name or address; [`Error::Io`] when the interfaces cannot
    /// be listed.
    pub fn interface_index(&self) -> Result<u32> {
        self.interface
            .as_deref()
            .map_or(Ok(0), parse_interface_index)
    }

    /// The error of the system refusing the interface of an IPv6 group
    /// (with none configured: of `what`, e.g. joining the group).
    fn v6_refused(&self, e: std::io::Error, what: String) -> Error {
        match &self.interface {
            Some(interface) => interface_refused(interface, &e),
            None => Error::io(what, e),
        }
    }

    /// Opens a sender (see the [crate documentation](crate#sender-like-bbmcastmcast_sender)).
    /// Must be called inside a Tokio runtime.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidAddress`] for an invalid group or interface, or an
    /// interface the system refuses; [`Error::Io`] when the socket cannot
    /// be made.
    pub fn open_sender(&self) -> Result<MulticastSender> {
        let group = self.group()?;
        if let Group::MulticastV6(ip) = group {
            return self.open_sender_v6(ip);
        }
        let interface = self.interface()?;
        let io = sender_io;
        let socket = udp_socket(Domain::IPV4, io)?;
        match group {
            Group::Broadcast => socket
                .set_broadcast(true)
                .map_err(io("setting SO_BROADCAST"))?,
            Group::Multicast(_) => {
                multicast_options(&socket, Domain::IPV4, self.ttl, io)?;
                if let Some(interface) = interface {
                    socket
                        .set_multicast_if_v4(&interface)
                        .map_err(|e| interface_refused(interface, &e))?;
                }
            }
            Group::MulticastV6(_) => {}
        }
        let any = SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0));
        socket.bind(&any.into()).map_err(io("binding 0.0.0.0:0"))?;
        let target = SocketAddr::new(group.destination(), self.port);
        tracing::debug!(%target, ttl = self.ttl, ?interface, "announcement sender opened");
        MulticastSender::new(socket, target)
    }

    /// [`MulticastDiscovery::open_sender`] for an IPv6 group.
    fn open_sender_v6(&self, group: Ipv6Addr) -> Result<MulticastSender> {
        let index = self.interface_index()?;
        let io = sender_io;
        let socket = udp_socket(Domain::IPV6, io)?;
        multicast_options(&socket, Domain::IPV6, self.ttl, io)?;
        if index != 0 {
            socket
                .set_multicast_if_v6(index)
                .map_err(|e| self.v6_refused(e, format!("setting IPV6_MULTICAST_IF {index}")))?;
        }
        let any = SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0));
        socket.bind(&any.into()).map_err(io("binding [::]:0"))?;
        let target = SocketAddr::V6(SocketAddrV6::new(group, self.port, 0, index));
        tracing::debug!(%target, hops = self.ttl, index, "announcement sender opened");
        MulticastSender::new(socket, target)
    }

    /// Opens a receiver (see the [crate documentation](crate#receiver-like-bbmcastmcast_receiver)).
    /// Must be called inside a Tokio runtime.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidAddress`] for an invalid group or interface, or an
    /// interface the system cannot join the group on; [`Error::Bind`] when
    /// the port cannot be bound; [`Error::Io`] for other socket failures.
    pub fn open_receiver(&self) -> Result<MulticastReceiver> {
        let group = self.group()?;
        if let Group::MulticastV6(ip) = group {
            return self.open_receiver_v6(ip);
        }
        let interface = self.interface()?;
        let io = receiver_io;
        let socket = udp_socket(Domain::IPV4, io)?;
        if let Group::Multicast(_) = group {
            // As the reference does (both are the defaults, and only matter
            // for sending).
            multicast_options(&socket, Domain::IPV4, self.ttl, io)?;
        }
        bind_receiver(
            &socket,
            SocketAddr::from((Ipv4Addr::UNSPECIFIED, self.port)),
        )?;
        if let Group::Multicast(ip) = group {
            let on = interface.unwrap_or(Ipv4Addr::UNSPECIFIED);
            socket
                .join_multicast_v4(&ip, &on)
                .map_err(|e| match interface {
                    Some(interface) => interface_refused(interface, &e),
                    None => Error::io(format!("joining the multicast group {ip}"), e),
                })?;
        }
        tracing::debug!(
            port = self.port,
            ?group,
            ?interface,
            "announcement receiver opened"
        );
        MulticastReceiver::new(socket, group)
    }

    /// [`MulticastDiscovery::open_receiver`] for an IPv6 group.
    fn open_receiver_v6(&self, group: Ipv6Addr) -> Result<MulticastReceiver> {
        let index = self.interface_index()?;
        let io = receiver_io;
        let socket = udp_socket(Domain::IPV6, io)?;
        // IPv6 datagrams only: an IPv4 receiver may share the port.
        socket
            .set_only_v6(true)
            .map_err(io("setting IPV6_V6ONLY"))?;
        multicast_options(&socket, Domain::IPV6, self.ttl, io)?;
        bind_receiver(
            &socket,
            SocketAddr::from((Ipv6Addr::UNSPECIFIED, self.port)),
        )?;
        socket
            .join_multicast_v6(&group, index)
            .map_err(|e| self.v6_refused(e, format!("joining the multicast group {group}")))?;
        tracing::debug!(port = self.port, %group, index, "announcement receiver opened");
        MulticastReceiver::new(socket, Group::MulticastV6(group))
    }
}

/// An I/O error of the announcement sender, saying what was being done.
fn sender_io(what: &'static str) -> impl Fn(std::io::Error) -> Error {
    move |e| Error::io(format!("{what} of the announcement sender"), e)
}

/// An I/O error of the announcement receiver, saying what was being done.
fn receiver_io(what: &'static str) -> impl Fn(std::io::Error) -> Error {
    move |e| Error::io(format!("{what} of the announcement receiver"), e)
}

/// A UDP socket of `domain` with `SO_REUSEADDR` (errors through `io`).
fn udp_socket<F>(domain: Domain, io: fn(&'static str) -> F) -> Result<Socket>
where
    F: Fn(std::io::Error) -> Error,
{
    let socket = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))
        .map_err(io("creating the UDP socket"))?;
    socket
        .set_reuse_address(true)
        .map_err(io("setting SO_REUSEADDR"))?;
    Ok(socket)
}

/// Sets the TTL (for IPv6: the hop limit) of the multicast `socket` of
/// `domain` sends, and loopback on (errors through `io`).
fn multicast_options<F>(
    socket: &Socket,
    domain: Domain,
    ttl: u8,
    io: fn(&'static str) -> F,
) -> Result<()>
where
    F: Fn(std::io::Error) -> Error,
{
    if domain == Domain::IPV6 {
        socket
            .set_multicast_hops_v6(u32::from(ttl))
            .map_err(io("setting IPV6_MULTICAST_HOPS"))?;
        socket
            .set_multicast_loop_v6(true)
            .map_err(io("setting IPV6_MULTICAST_LOOP"))
    } else {
        socket
            .set_multicast_ttl_v4(u32::from(ttl))
            .map_err(io("setting IP_MULTICAST_TTL"))?;
        socket
            .set_multicast_loop_v4(true)
            .map_err(io("setting IP_MULTICAST_LOOP"))
    }
}

/// Binds a receiver's socket to the wildcard address at its port.
fn bind_receiver(socket: &Socket, bind_to: SocketAddr) -> Result<()> {
    socket.bind(&bind_to.into()).map_err(|e| Error::Bind {
        endpoint: format!("udp://{bind_to}"),
        reason: e.to_string(),
    })
}

/// `socket`, non-blocking and registered with tokio (errors through `io`).
fn registered<F>(socket: Socket, io: fn(&'static str) -> F) -> Result<UdpSocket>
where
    F: Fn(std::io::Error) -> Error,
{
    socket
        .set_nonblocking(true)
        .map_err(io("making non-blocking"))?;
    UdpSocket::from_std(socket.into()).map_err(io("registering"))
}

#[async_trait]
impl Discovery for MulticastDiscovery {
    async fn sender(&self) -> Result<Box<dyn DatagramSender>> {
        Ok(Box::new(self.open_sender()?))
    }

    async fn receiver(&self) -> Result<Box<dyn DatagramReceiver>> {
        Ok(Box::new(self.open_receiver()?))
    }
}

/// Sends announcement datagrams to the group (or broadcast) and port.
#[derive(Debug)]
pub struct MulticastSender {
    socket: UdpSocket,
    target: SocketAddr,
}

impl MulticastSender {
    /// A sender on the bound `socket`, sending to `target`.
    fn new(socket: Socket, target: SocketAddr) -> Result<MulticastSender> {
        let socket = registered(socket, sender_io)?;
        Ok(MulticastSender { socket, target })
    }

    /// Where datagrams go: (group or `255.255.255.255`, port), with the
    /// interface as scope id for an IPv6 group.
    pub fn target(&self) -> SocketAddr {
        self.target
    }

    /// The local address of the socket.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the system cannot tell.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.socket
            .local_addr()
            .map_err(|e| Error::io("reading the address of the announcement sender", e))
    }
}

#[async_trait]
impl DatagramSender for MulticastSender {
    async fn send(&self, datagram: Bytes) -> Result<()> {
        if datagram.len() > MAX_DATAGRAM {
            tracing::debug!(
                len = datagram.len(),
                "announcement longer than {MAX_DATAGRAM} bytes: receivers will cut it"
            );
        }
        self.socket
            .send_to(&datagram, self.target)
            .await
            .map_err(|e| Error::io(format!("sending an announcement to {}", self.target), e))?;
        Ok(())
    }
}

/// Receives announcement datagrams, each cut to [`MAX_DATAGRAM`] bytes.
#[derive(Debug)]
pub struct MulticastReceiver {
    socket: UdpSocket,
    group: Group,
}

impl MulticastReceiver {
    /// A receiver on the bound `socket`, of `group`.
    fn new(socket: Socket, group: Group) -> Result<MulticastReceiver> {
        let socket = registered(socket, receiver_io)?;
        Ok(MulticastReceiver { socket, group })
    }

    /// The group this receiver joined, or [`Group::Broadcast`].
    pub fn group(&self) -> Group {
        self.group
    }

    /// The local address of the socket (`0.0.0.0:<port>`, `[::]:<port>`
    /// for an IPv6 group).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the system cannot tell.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.socket
            .local_addr()
            .map_err(|e| Error::io("reading the address of the announcement receiver", e))
    }
}

#[async_trait]
impl DatagramReceiver for MulticastReceiver {
    async fn recv(&mut self) -> Result<(Bytes, Option<IpAddr>)> {
        let mut buf = [0u8; MAX_DATAGRAM];
        // `recv_from` is cancel-safe: nothing is read unless it completes,
        // and the copy below runs without another await.
        let (len, from) = self
            .socket
            .recv_from(&mut buf)
            .await
            .map_err(|e| Error::io("receiving an announcement", e))?;
        Ok((Bytes::copy_from_slice(&buf[..len]), Some(from.ip())))
    }
}

/// This host's IP addresses, loopback included (`127.0.0.1` always), for
/// the nameserver's local-only filter: a datagram whose source is not in
/// this list came from another host.
///
/// IPv4 addresses come first (announcement sources are IPv4 unless
/// `mc_group` is an IPv6 group), then IPv6, each once. When the interfaces cannot be listed, a warning is logged
/// and only the loopback addresses are returned.
pub fn local_ips() -> Vec<IpAddr> {
    let mut v4 = vec![IpAddr::V4(Ipv4Addr::LOCALHOST)];
    let mut v6 = Vec::new();
    match if_addrs::get_if_addrs() {
        Ok(interfaces) => {
            for interface in interfaces {
                let ip = interface.ip();
                let list = if ip.is_ipv4() { &mut v4 } else { &mut v6 };
                if !list.contains(&ip) {
                    list.push(ip);
                }
            }
        }
        Err(e) => {
            tracing::warn!("cannot list the network interfaces ({e}): only loopback is local");
            v6.push(IpAddr::V6(Ipv6Addr::LOCALHOST));
        }
    }
    v4.extend(v6);
    v4
}

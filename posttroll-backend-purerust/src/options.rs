//! The omq options of a socket: the TCP keepalive from the config (the
//! system's values filled in, as omq needs all three), a bind's size
//! limit, and the [`SocketOptions`] snapshot for diagnostics and tests.
//! The libzmq engine has the same module.

use std::time::Duration;

use omq_tokio::{KeepAlive, MechanismSetup, Options, SocketType};
use posttroll_core::engine::TcpKeepalive;
use posttroll_core::{BindSpec, Config};

/// The TCP keepalive omq applies to every TCP connection of a socket, from
/// the configuration's four keys (see the crate docs).
pub(crate) fn keepalive_from_config(config: &Config) -> KeepAlive {
    keepalive_with_defaults(TcpKeepalive::from_config(config), &system_keepalive())
}

/// The system's keepalive settings (idle s, interval s, count), read from
/// `/proc/sys/net/ipv4`, else Linux's defaults.
fn system_keepalive() -> (u64, u64, u32) {
    let read = |name: &str| {
        std::fs::read_to_string(format!("/proc/sys/net/ipv4/{name}"))
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
    };
    (
        read("tcp_keepalive_time").unwrap_or(7200),
        read("tcp_keepalive_intvl").unwrap_or(75),
        read("tcp_keepalive_probes")
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(9),
    )
}

fn keepalive_with_defaults(keepalive: TcpKeepalive, system: &(u64, u64, u32)) -> KeepAlive {
    match keepalive {
        TcpKeepalive::System => KeepAlive::Default,
        TcpKeepalive::Off => KeepAlive::Disabled,
        TcpKeepalive::On {
            idle,
            interval,
            count,
        } => KeepAlive::Enabled {
            idle: idle.unwrap_or(Duration::from_secs(system.0)),
            intvl: interval.unwrap_or(Duration::from_secs(system.1)),
            cnt: count.unwrap_or(system.2),
        },
    }
}

/// A snapshot of the omq options a socket was made with, for diagnostics
/// and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketOptions {
    /// The socket type (`Pub`, `Sub`, `Rep`, `Req`).
    pub socket_type: String,
    /// The TCP keepalive applied to its connections (the system's values
    /// filled in for the keys left unset).
    pub tcp_keepalive: TcpKeepalive,
    /// The send high-water mark (frames).
    pub send_high_water_mark: u32,
    /// The receive high-water mark (frames).
    pub receive_high_water_mark: u32,
    /// `xpub_nodrop` (publishers that wait rather than drop).
    pub no_drop: bool,
    /// The linger on close.
    pub linger: Option<Duration>,
    /// The largest frame accepted from a peer.
    pub max_message_size: Option<usize>,
    /// The ZMTP heartbeat: PING interval and the silence that closes the
    /// connection (subscribers and requesters).
    pub heartbeat: Option<(Duration, Duration)>,
    /// The security mechanism: `NULL`, `NULL` with an admission check
    /// (`NULL+auth`), `CURVE-server`, `CURVE-client`.
    pub mechanism: String,
}

impl SocketOptions {
    pub(crate) fn of(kind: SocketType, options: &Options) -> SocketOptions {
        SocketOptions {
            socket_type: format!("{kind:?}"),
            tcp_keepalive: match options.tcp_keepalive {
                KeepAlive::Disabled => TcpKeepalive::Off,
                KeepAlive::Enabled { idle, intvl, cnt } => TcpKeepalive::On {
                    idle: Some(idle),
                    interval: Some(intvl),
                    count: Some(cnt),
                },
                _ => TcpKeepalive::System,
            },
            send_high_water_mark: options.send_hwm,
            receive_high_water_mark: options.recv_hwm,
            no_drop: options.xpub_nodrop,
            linger: options.linger,
            max_message_size: options.max_message_size,
            heartbeat: options
                .heartbeat_interval
                .map(|i| (i, options.heartbeat_timeout.unwrap_or(i))),
            mechanism: match &options.mechanism {
                MechanismSetup::Null => "NULL",
                MechanismSetup::NullServer { .. } => "NULL+auth",
                MechanismSetup::CurveServer { .. } => "CURVE-server",
                MechanismSetup::CurveClient { .. } => "CURVE-client",
                _ => "other",
            }
            .to_owned(),
        }
    }
}

/// Applies a bind's own size limit, when it has one.
pub(crate) fn limit(options: Options, spec: &BindSpec) -> Options {
    match spec.max_message_size {
        Some(max) => options.max_message_size(usize::try_from(max).unwrap_or(usize::MAX)),
        None => options,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalive_takes_the_systems_values_for_unset_keys() {
        let system = (7200, 75, 9);
        assert_eq!(
            keepalive_with_defaults(TcpKeepalive::System, &system),
            KeepAlive::Default
        );
        assert_eq!(
            keepalive_with_defaults(TcpKeepalive::Off, &system),
            KeepAlive::Disabled
        );
        assert_eq!(
            keepalive_with_defaults(
                TcpKeepalive::On {
                    idle: Some(Duration::from_secs(61)),
                    interval: None,
                    count: Some(7)
                },
                &system
            ),
            KeepAlive::Enabled {
                idle: Duration::from_secs(61),
                intvl: Duration::from_secs(75),
                cnt: 7
            }
        );
    }
}

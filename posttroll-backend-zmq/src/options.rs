//! The libzmq options of a socket: the TCP keepalive from the config, a
//! bind's size limit, and the [`SocketOptions`] snapshot for diagnostics
//! and tests. The pure-Rust engine has the same module.

use std::time::Duration;

use posttroll_core::engine::TcpKeepalive;
use posttroll_core::{BindSpec, Result};

use crate::util::zmq_error;

/// Sets the TCP keepalive options of `keepalive` on `socket` (nothing for
/// [`TcpKeepalive::System`]; the unset values of
/// [`TcpKeepalive::On`] left to the system, as libzmq does).
pub(crate) fn apply_keepalive(keepalive: TcpKeepalive, socket: &zmq::Socket) -> Result<()> {
    let secs = |d: Duration| i32::try_from(d.as_secs()).unwrap_or(i32::MAX);
    match keepalive {
        TcpKeepalive::System => Ok(()),
        TcpKeepalive::Off => socket.set_tcp_keepalive(0).map_err(zmq_error(
            "setting ZMQ_TCP_KEEPALIVE (config tcp_keepalive)",
        )),
        TcpKeepalive::On {
            idle,
            interval,
            count,
        } => {
            socket.set_tcp_keepalive(1).map_err(zmq_error(
                "setting ZMQ_TCP_KEEPALIVE (config tcp_keepalive)",
            ))?;
            if let Some(n) = count {
                socket
                    .set_tcp_keepalive_cnt(i32::try_from(n).unwrap_or(i32::MAX))
                    .map_err(zmq_error(
                        "setting ZMQ_TCP_KEEPALIVE_CNT (config tcp_keepalive_cnt)",
                    ))?;
            }
            if let Some(d) = idle {
                socket.set_tcp_keepalive_idle(secs(d)).map_err(zmq_error(
                    "setting ZMQ_TCP_KEEPALIVE_IDLE (config tcp_keepalive_idle)",
                ))?;
            }
            if let Some(d) = interval {
                socket.set_tcp_keepalive_intvl(secs(d)).map_err(zmq_error(
                    "setting ZMQ_TCP_KEEPALIVE_INTVL (config tcp_keepalive_intvl)",
                ))?;
            }
            Ok(())
        }
    }
}

/// A duration in whole milliseconds for a libzmq option.
pub(crate) fn duration_ms(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

/// Applies a bind's own size limit (`ZMQ_MAXMSGSIZE`), when it has one.
pub(crate) fn limit(socket: &zmq::Socket, spec: &BindSpec) -> Result<()> {
    if let Some(max) = spec.max_message_size {
        socket
            .set_maxmsgsize(i64::try_from(max).unwrap_or(i64::MAX))
            .map_err(zmq_error("setting ZMQ_MAXMSGSIZE"))?;
    }
    Ok(())
}

/// A snapshot of a socket's ZeroMQ options, for diagnostics and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketOptions {
    /// The socket type (`PUB`, `SUB`, `REP`, ...).
    pub socket_type: String,
    /// The TCP keepalive, read back from `ZMQ_TCP_KEEPALIVE` and (when
    /// on) `ZMQ_TCP_KEEPALIVE_IDLE`, `_INTVL`, `_CNT` (-1, the system's
    /// value: `None`).
    pub tcp_keepalive: TcpKeepalive,
    /// `ZMQ_SNDHWM`.
    pub send_high_water_mark: i32,
    /// `ZMQ_RCVHWM`.
    pub receive_high_water_mark: i32,
    /// `ZMQ_LINGER` in milliseconds.
    pub linger: i32,
    /// `ZMQ_ZAP_DOMAIN` (empty: no ZAP).
    pub zap_domain: String,
    /// `ZMQ_MECHANISM` (`ZMQ_NULL`, `ZMQ_CURVE`, ...).
    pub mechanism: String,
}

impl SocketOptions {
    pub(crate) fn read(socket: &zmq::Socket) -> Result<SocketOptions> {
        let e = zmq_error("reading socket options");
        Ok(SocketOptions {
            socket_type: format!("{:?}", socket.get_socket_type().map_err(&e)?),
            tcp_keepalive: match socket.get_tcp_keepalive().map_err(&e)? {
                0 => TcpKeepalive::Off,
                1 => {
                    let secs = |v: i32| u64::try_from(v).ok().map(Duration::from_secs);
                    TcpKeepalive::On {
                        idle: secs(socket.get_tcp_keepalive_idle().map_err(&e)?),
                        interval: secs(socket.get_tcp_keepalive_intvl().map_err(&e)?),
                        count: u32::try_from(socket.get_tcp_keepalive_cnt().map_err(&e)?).ok(),
                    }
                }
                _ => TcpKeepalive::System,
            },
            send_high_water_mark: socket.get_sndhwm().map_err(&e)?,
            receive_high_water_mark: socket.get_rcvhwm().map_err(&e)?,
            linger: socket.get_linger().map_err(&e)?,
            zap_domain: match socket.get_zap_domain().map_err(&e)? {
                Ok(s) => s,
                Err(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            },
            mechanism: format!("{:?}", socket.get_mechanism().map_err(&e)?),
        })
    }
}

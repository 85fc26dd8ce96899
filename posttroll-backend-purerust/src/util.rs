//! The plumbing of every socket: omq errors mapped to ours, and connecting
//! and binding an omq socket to an [`Endpoint`] (binding through
//! posttroll-core's random-port loop). The libzmq engine has the same
//! module.

use omq_tokio::Socket;
use posttroll_core::engine::{bind_endpoint_async, BindAttempt};
use posttroll_core::{BindSpec, Endpoint, Error, Result};

/// Maps an omq error to ours, saying what was being done.
pub(crate) fn omq_error(context: &'static str) -> impl Fn(omq_tokio::Error) -> Error {
    move |e| match e {
        omq_tokio::Error::Closed => Error::closed(format!("the socket ({context})")),
        omq_tokio::Error::Io(io) => Error::io(context, io),
        other => Error::io(context, std::io::Error::other(other)),
    }
}

/// Connects `socket` to `endpoint` (succeeds before the peer exists).
pub(crate) async fn connect(socket: &Socket, endpoint: &Endpoint) -> Result<()> {
    let url = endpoint.to_string();
    let parsed: omq_tokio::Endpoint = url.parse().map_err(|e| Error::InvalidAddress {
        address: url.clone(),
        reason: format!("{e}"),
    })?;
    socket.connect(parsed).await.map_err(|e| Error::Connect {
        endpoint: url.clone(),
        reason: e.to_string(),
    })
}

/// True when a bind failed because the address is taken.
fn in_use(e: &omq_tokio::Error) -> bool {
    match e {
        omq_tokio::Error::Io(io) => io.kind() == std::io::ErrorKind::AddrInUse,
        other => other.to_string().to_ascii_lowercase().contains("in use"),
    }
}

/// Binds `socket` as `spec` says and returns the endpoint bound (a TCP
/// port 0 replaced by the port picked; the host kept as given): core's
/// bind loop with omq's bind.
pub(crate) async fn bind(socket: &Socket, spec: &BindSpec) -> Result<Endpoint> {
    bind_endpoint_async(spec, |candidate| async move {
        let url = candidate.to_string();
        let parsed = url
            .parse::<omq_tokio::Endpoint>()
            .map_err(|e| Error::InvalidAddress {
                address: url.clone(),
                reason: e.to_string(),
            })?;
        Ok(match socket.bind(parsed).await {
            Ok(omq_tokio::Endpoint::Tcp { port, .. }) => BindAttempt::Bound(port),
            Ok(_) => BindAttempt::Bound(candidate.port().unwrap_or(0)),
            Err(e) if in_use(&e) => BindAttempt::InUse(e.to_string()),
            Err(e) => BindAttempt::Failed(e.to_string()),
        })
    })
    .await
}

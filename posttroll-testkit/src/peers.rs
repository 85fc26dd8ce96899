//! Raw ZMTP peers that misbehave on purpose, to test that our sockets
//! survive them whatever engine serves them (pure Rust, on omq).

use bytes::Bytes;
use omq_tokio::{MechanismSetup, Message, Options, Socket, SocketType};
use posttroll::{Config, Endpoint, Error, Result};
use posttroll_backend_purerust::CurveConfig;

fn omq_error(what: &'static str) -> impl Fn(omq_tokio::Error) -> Error {
    move |e| Error::io(what, std::io::Error::other(e))
}

/// A DEALER that sends requests the way a REQ does (an empty delimiter,
/// then the body) but never reads the replies, with the smallest receive
/// queue and socket buffer: the peer's replies to it pile up until its
/// queues are full.
#[derive(Debug)]
pub struct Dealer {
    socket: Socket,
}

impl Dealer {
    /// Connects to `endpoint` (a `tcp://` endpoint of a reply socket).
    ///
    /// # Errors
    ///
    /// The socket cannot be made or connected.
    pub async fn connect(endpoint: &Endpoint) -> Result<Dealer> {
        Dealer::connect_with(endpoint, MechanismSetup::Null).await
    }

    /// Connects to a CURVE reply socket at `endpoint` as a client with the
    /// keys of `config` (`client_secret_key_file`, `server_public_key_file`).
    ///
    /// # Errors
    ///
    /// A key file that cannot be read, or as [`Dealer::connect`].
    pub async fn connect_curve(endpoint: &Endpoint, config: &Config) -> Result<Dealer> {
        let mechanism = CurveConfig::from_config(config)?.client_mechanism()?;
        Dealer::connect_with(endpoint, mechanism).await
    }

    async fn connect_with(endpoint: &Endpoint, mechanism: MechanismSetup) -> Result<Dealer> {
        // The smallest queue and kernel buffer: replies back up at once.
        let mut options = Options::default()
            .recv_hwm(1)
            .recv_buffer_size(4096)
            .linger(std::time::Duration::ZERO);
        options.mechanism = mechanism;
        let socket =
            Socket::try_new(SocketType::Dealer, options).map_err(omq_error("making a DEALER"))?;
        socket
            .connect(endpoint.to_string().as_str())
            .await
            .map_err(omq_error("connecting a DEALER"))?;
        Ok(Dealer { socket })
    }

    /// Sends one request (`["", body]`), waiting for room.
    ///
    /// # Errors
    ///
    /// The socket failed.
    pub async fn send_request(&self, body: Bytes) -> Result<()> {
        self.socket
            .send(Message::multipart([Bytes::new(), body]))
            .await
            .map_err(omq_error("sending on a DEALER"))
    }

    /// Closes the connection (linger 0).
    pub async fn close(self) {
        let _ = self.socket.close().await;
    }
}

//! Raw ZMTP peers that misbehave on purpose, to test that our sockets
//! survive them whatever engine serves them (pure Rust, on omq).

use std::time::Duration;

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
    events: tokio::sync::Mutex<omq_tokio::MonitorStream>,
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
        let events = tokio::sync::Mutex::new(socket.monitor());
        socket
            .connect(endpoint.to_string().as_str())
            .await
            .map_err(omq_error("connecting a DEALER"))?;
        Ok(Dealer { socket, events })
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

    /// Waits at most `timeout` until the peer has closed a connection of
    /// this dealer (as a server does with a client that sent a frame over
    /// its size limit); true when it did.
    pub async fn wait_disconnected(&self, timeout: std::time::Duration) -> bool {
        let mut events = self.events.lock().await;
        let wait = async {
            loop {
                match events.recv().await {
                    Ok(omq_tokio::MonitorEvent::Disconnected { .. }) => return true,
                    Ok(_) => {}
                    Err(omq_tokio::MonitorRecvError::Lagged(_)) => {}
                    Err(_) => return false,
                }
            }
        };
        tokio::time::timeout(timeout, wait).await.unwrap_or(false)
    }

    /// Closes the connection (linger 0).
    pub async fn close(self) {
        let _ = self.socket.close().await;
    }
}

/// A plain (NULL mechanism) ZMTP 3.0 DEALER written by hand over a TCP
/// stream that is read only for the handshake: it sends its greeting and
/// READY, reads the peer's, then sends requests (`["", body]`) and leaves
/// everything the peer sends after the handshake in the kernel's buffers. Unlike an engine's socket, its sending never
/// depends on its receiving, so it can flood for as long as the peer
/// reads.
#[derive(Debug)]
pub struct RawDealer {
    stream: tokio::net::TcpStream,
}

impl RawDealer {
    /// Connects to a plain `tcp://host:port` reply socket, sends the
    /// greeting and READY and reads the peer's (at most 5 s).
    ///
    /// # Errors
    ///
    /// Not a tcp endpoint, or the connection fails.
    pub async fn connect(endpoint: &Endpoint) -> Result<RawDealer> {
        use tokio::io::AsyncWriteExt;
        let (Some(host), Some(port)) = (endpoint.host(), endpoint.port()) else {
            return Err(Error::InvalidAddress {
                address: endpoint.to_string(),
                reason: "a raw dealer needs a tcp://host:port endpoint".to_owned(),
            });
        };
        let stream = tokio::net::TcpStream::connect((host, port))
            .await
            .map_err(|e| Error::io("connecting a raw dealer", e))?;
        // The smallest receive buffer: what the peer sends backs up soon.
        let socket = socket2::SockRef::from(&stream);
        let _ = socket.set_recv_buffer_size(4096);
        let mut dealer = RawDealer { stream };
        let mut greeting = vec![0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 3, 0];
        let mut mechanism = b"NULL".to_vec();
        mechanism.resize(20, 0);
        greeting.extend_from_slice(&mechanism);
        greeting.push(0); // as-server: no
        greeting.resize(64, 0);
        let mut ready = vec![5];
        ready.extend_from_slice(b"READY");
        ready.push(11);
        ready.extend_from_slice(b"Socket-Type");
        ready.extend_from_slice(&6u32.to_be_bytes());
        ready.extend_from_slice(b"DEALER");
        greeting.push(0x04); // a short command
        greeting.push(u8::try_from(ready.len()).unwrap_or(u8::MAX));
        greeting.extend_from_slice(&ready);
        dealer
            .stream
            .write_all(&greeting)
            .await
            .map_err(|e| Error::io("greeting as a raw dealer", e))?;
        // A client may send messages only once the handshake is done: a
        // server that asks its ZAP handler (libzmq with an allow-list) cuts
        // off a client whose messages come before its own READY.
        tokio::time::timeout(Duration::from_secs(5), dealer.read_handshake())
            .await
            .map_err(|_| {
                Error::io(
                    "a raw dealer's handshake",
                    std::io::ErrorKind::TimedOut.into(),
                )
            })??;
        Ok(dealer)
    }

    /// Reads the peer's greeting (64 bytes) and its READY command.
    async fn read_handshake(&mut self) -> Result<()> {
        use tokio::io::AsyncReadExt;
        let read = |e| Error::io("reading the handshake as a raw dealer", e);
        let mut greeting = [0u8; 64];
        self.stream.read_exact(&mut greeting).await.map_err(read)?;
        let mut flags = [0u8; 1];
        self.stream.read_exact(&mut flags).await.map_err(read)?;
        let size = if flags[0] & 0x02 == 0 {
            let mut size = [0u8; 1];
            self.stream.read_exact(&mut size).await.map_err(read)?;
            u64::from(size[0])
        } else {
            let mut size = [0u8; 8];
            self.stream.read_exact(&mut size).await.map_err(read)?;
            u64::from_be_bytes(size)
        };
        if flags[0] & 0x04 == 0 || size > 4096 {
            return Err(Error::io(
                "reading the handshake as a raw dealer",
                std::io::Error::new(std::io::ErrorKind::InvalidData, "no READY command"),
            ));
        }
        let mut body = vec![0u8; usize::try_from(size).unwrap_or(0)];
        self.stream.read_exact(&mut body).await.map_err(read)?;
        Ok(())
    }

    /// Sends one request (`["", body]`).
    ///
    /// # Errors
    ///
    /// The connection failed.
    pub async fn send_request(&mut self, body: &[u8]) -> Result<()> {
        use tokio::io::AsyncWriteExt;
        let mut frames = vec![0x01, 0]; // the empty delimiter, more to come
        match u8::try_from(body.len()) {
            Ok(short) => frames.extend_from_slice(&[0x00, short]),
            Err(_) => {
                frames.push(0x02);
                frames.extend_from_slice(&(body.len() as u64).to_be_bytes());
            }
        }
        frames.extend_from_slice(body);
        self.stream
            .write_all(&frames)
            .await
            .map_err(|e| Error::io("sending as a raw dealer", e))
    }
}

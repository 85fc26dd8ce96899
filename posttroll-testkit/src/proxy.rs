//! A TCP forwarding proxy on loopback that can be told to black-hole: it
//! keeps both sides of every connection open and forwards nothing (what
//! it reads meanwhile is held, and sent on when it heals), as a crashed
//! host or a firewall that drops a flow does: no FIN, no RST.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

/// A forwarding proxy from a free port of 127.0.0.1 to a target.
#[derive(Debug)]
pub struct BlackHoleProxy {
    port: u16,
    holes: watch::Sender<bool>,
    state: Arc<State>,
    acceptor: JoinHandle<()>,
}

#[derive(Debug, Default)]
struct State {
    accepted: AtomicU64,
    closed_by_client: AtomicU64,
    changed: Notify,
}

impl State {
    fn bump(&self, counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::SeqCst);
        self.changed.notify_waiters();
    }
}

impl BlackHoleProxy {
    /// Starts a proxy to `target`, forwarding.
    ///
    /// # Errors
    ///
    /// The listening socket cannot be bound.
    pub async fn start(target: SocketAddr) -> std::io::Result<BlackHoleProxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let port = listener.local_addr()?.port();
        let (holes, _) = watch::channel(false);
        let state = Arc::new(State::default());
        let acceptor = tokio::spawn(accept(listener, target, holes.clone(), state.clone()));
        Ok(BlackHoleProxy {
            port,
            holes,
            state,
            acceptor,
        })
    }

    /// The port clients connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops forwarding, both ways, on every connection (new ones too),
    /// keeping the connections open.
    pub fn black_hole(&self) {
        self.holes.send_replace(true);
    }

    /// Forwards again, first what was held.
    pub fn heal(&self) {
        self.holes.send_replace(false);
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.state.accepted.load(Ordering::SeqCst)
    }

    /// Connections their client has closed so far.
    pub fn closed_by_client(&self) -> u64 {
        self.state.closed_by_client.load(Ordering::SeqCst)
    }

    /// Waits at most `timeout` until `test(accepted, closed_by_client)`
    /// holds; true when it did.
    pub async fn wait_for(&self, timeout: Duration, test: impl Fn(u64, u64) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let changed = self.state.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if test(self.accepted(), self.closed_by_client()) {
                return true;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return test(self.accepted(), self.closed_by_client());
            }
        }
    }
}

impl Drop for BlackHoleProxy {
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

async fn accept(
    listener: TcpListener,
    target: SocketAddr,
    holes: watch::Sender<bool>,
    state: Arc<State>,
) {
    let mut pipes: Vec<JoinHandle<()>> = Vec::new();
    while let Ok((client, _)) = listener.accept().await {
        state.bump(&state.accepted);
        let Ok(server) = TcpStream::connect(target).await else {
            continue;
        };
        pipes.retain(|pipe| !pipe.is_finished());
        pipes.push(tokio::spawn(pipe(
            client,
            server,
            holes.subscribe(),
            state.clone(),
        )));
    }
}

/// Forwards both ways; ends (closing both sides) when either side closes.
async fn pipe(
    client: TcpStream,
    server: TcpStream,
    holes: watch::Receiver<bool>,
    state: Arc<State>,
) {
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    tokio::select! {
        () = forward(client_read, server_write, holes.clone()) => {
            state.bump(&state.closed_by_client);
        }
        () = forward(server_read, client_write, holes) => {}
    }
}

/// Copies `from` to `to`; while black-holed, holds what it reads (a closed
/// `from` is still seen) and sends it on when healed.
async fn forward(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    mut holes: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut held: Vec<u8> = Vec::new();
    loop {
        if !*holes.borrow() && !held.is_empty() {
            if to.write_all(&held).await.is_err() {
                return;
            }
            held.clear();
        }
        tokio::select! {
            read = from.read(&mut buf) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) if *holes.borrow() => held.extend_from_slice(&buf[..n]),
                Ok(n) => {
                    if to.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            },
            changed = holes.changed() => if changed.is_err() { return },
        }
    }
}

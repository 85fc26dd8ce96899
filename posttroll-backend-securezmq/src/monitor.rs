//! [`HandshakeMonitor`]: logs the failed handshakes of CURVE server
//! sockets, which libzmq reports only through `zmq_socket_monitor`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;

use posttroll_backend_zmq::zmq_error;
use posttroll_core::engine::lock;
use posttroll_core::{Error, Result};

/// The events watched on every CURVE server socket.
const EVENTS: i32 = zmq::SocketEvent::HANDSHAKE_FAILED_NO_DETAIL as i32
    | zmq::SocketEvent::HANDSHAKE_FAILED_PROTOCOL as i32
    | zmq::SocketEvent::HANDSHAKE_FAILED_AUTH as i32
    | zmq::SocketEvent::MONITOR_STOPPED as i32;

/// The monitor thread.
#[derive(Default)]
struct Running {
    /// Wakes the thread (a `PAIR` connected to its control socket).
    waker: Option<zmq::Socket>,
    thread: Option<JoinHandle<()>>,
}

/// Watches the handshakes of CURVE server sockets: one thread per
/// transport (started with the first socket), reading each socket's
/// monitor events; every failed handshake is logged with
/// `tracing::warn!` (naming the socket's endpoint and why) and counted.
#[derive(Default)]
pub struct HandshakeMonitor {
    context: OnceLock<zmq::Context>,
    /// Monitor sockets (PAIR) for the thread to pick up.
    queue: Arc<Mutex<Vec<zmq::Socket>>>,
    running: Mutex<Running>,
    failures: Arc<AtomicU64>,
}

impl std::fmt::Debug for HandshakeMonitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandshakeMonitor")
            .field("failures", &self.failures())
            .finish_non_exhaustive()
    }
}

impl HandshakeMonitor {
    /// A monitor with no context yet (it watches nothing until
    /// [`set_context`](HandshakeMonitor::set_context)).
    pub fn new() -> HandshakeMonitor {
        HandshakeMonitor::default()
    }

    /// The context of the sockets to watch (monitor sockets are `inproc://`
    /// and must share it).
    pub fn set_context(&self, context: zmq::Context) {
        let _ = self.context.set(context);
    }

    /// Failed handshakes seen so far.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Starts watching `socket` (before it binds, so no event is missed).
    ///
    /// # Errors
    ///
    /// libzmq refusing the monitor or the thread failing to start.
    pub fn watch(&self, socket: &zmq::Socket) -> Result<()> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let Some(context) = self.context.get() else {
            return Ok(());
        };
        let endpoint = format!(
            "inproc://posttroll-curve-monitor-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        socket
            .monitor(&endpoint, EVENTS)
            .map_err(zmq_error("monitoring a CURVE server socket"))?;
        let reader = context
            .socket(zmq::PAIR)
            .map_err(zmq_error("creating a monitor socket"))?;
        reader
            .set_linger(0)
            .map_err(zmq_error("setting LINGER on a monitor socket"))?;
        reader
            .connect(&endpoint)
            .map_err(zmq_error("connecting a monitor socket"))?;
        lock(&self.queue).push(reader);
        let mut running = lock(&self.running);
        if running.thread.is_none() {
            self.start(context, &mut running)?;
        }
        if let Some(waker) = &running.waker {
            // A full queue already wakes the thread: ignore EAGAIN.
            let _ = waker.send(&b"W"[..], zmq::DONTWAIT);
        }
        Ok(())
    }

    fn start(&self, context: &zmq::Context, running: &mut Running) -> Result<()> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let control_endpoint = format!(
            "inproc://posttroll-curve-monitor-control-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let control = context
            .socket(zmq::PAIR)
            .map_err(zmq_error("creating the monitor control socket"))?;
        control
            .set_linger(0)
            .map_err(zmq_error("setting LINGER on the monitor control socket"))?;
        control
            .bind(&control_endpoint)
            .map_err(zmq_error("binding the monitor control socket"))?;
        let waker = context
            .socket(zmq::PAIR)
            .map_err(zmq_error("creating the monitor control socket"))?;
        waker
            .set_linger(0)
            .map_err(zmq_error("setting LINGER on the monitor control socket"))?;
        waker
            .connect(&control_endpoint)
            .map_err(zmq_error("connecting the monitor control socket"))?;
        let queue = self.queue.clone();
        let failures = self.failures.clone();
        let thread = std::thread::Builder::new()
            .name("posttroll-curve-monitor".to_owned())
            .spawn(move || run(&control, &queue, &failures))
            .map_err(|e| Error::io("starting the CURVE monitor thread", e))?;
        running.waker = Some(waker);
        running.thread = Some(thread);
        Ok(())
    }
}

fn describe_protocol_error(code: u32) -> String {
    match code {
        0x1100_0002 => "security mechanism mismatch (a plain client on a CURVE socket?)".to_owned(),
        0x1100_0001 => {
            "cryptographic error (did the client use the wrong server public key?)".to_owned()
        }
        0x1000_0003 => "key exchange failed".to_owned(),
        code if code & 0xf000_0000 == 0x2000_0000 => {
            format!("malformed ZAP exchange (protocol error {code:#x})")
        }
        code => format!("ZMTP protocol error {code:#x}"),
    }
}

/// Reads one monitor event: (event, value, endpoint).
fn read_event(socket: &zmq::Socket) -> Option<(u16, u32, String)> {
    let frames = match socket.recv_multipart(zmq::DONTWAIT) {
        Ok(frames) => frames,
        Err(_) => return None,
    };
    let head = frames.first()?;
    if head.len() < 6 {
        return None;
    }
    let event = u16::from_ne_bytes([head[0], head[1]]);
    let value = u32::from_ne_bytes([head[2], head[3], head[4], head[5]]);
    let endpoint = frames
        .get(1)
        .map(|e| String::from_utf8_lossy(e).into_owned())
        .unwrap_or_default();
    Some((event, value, endpoint))
}

fn run(control: &zmq::Socket, queue: &Mutex<Vec<zmq::Socket>>, failures: &AtomicU64) {
    let mut readers: Vec<zmq::Socket> = Vec::new();
    loop {
        readers.append(&mut lock(queue));
        let mut items = Vec::with_capacity(readers.len() + 1);
        items.push(control.as_poll_item(zmq::POLLIN));
        items.extend(readers.iter().map(|r| r.as_poll_item(zmq::POLLIN)));
        match zmq::poll(&mut items, -1) {
            Ok(_) => {}
            Err(zmq::Error::EINTR) => continue,
            Err(e) => {
                tracing::error!("the CURVE monitor stops: poll failed: {e}");
                return;
            }
        }
        let readable: Vec<bool> = items.iter().map(|i| i.is_readable()).collect();
        drop(items);
        if readable[0] {
            match control.recv_bytes(zmq::DONTWAIT) {
                Ok(msg) if msg == b"STOP" => return,
                _ => {}
            }
        }
        let mut stopped = Vec::new();
        for (index, reader) in readers.iter().enumerate() {
            if !readable[index + 1] {
                continue;
            }
            while let Some((event, value, endpoint)) = read_event(reader) {
                match zmq::SocketEvent::from_raw(event) {
                    zmq::SocketEvent::MONITOR_STOPPED => stopped.push(index),
                    zmq::SocketEvent::HANDSHAKE_FAILED_PROTOCOL => {
                        failures.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(
                            socket = %endpoint,
                            "CURVE: refused a client on {endpoint}: {}",
                            describe_protocol_error(value)
                        );
                    }
                    zmq::SocketEvent::HANDSHAKE_FAILED_AUTH => {
                        failures.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(
                            socket = %endpoint,
                            "CURVE: refused a client on {endpoint}: the ZAP handler said {value}"
                        );
                    }
                    zmq::SocketEvent::HANDSHAKE_FAILED_NO_DETAIL => {
                        failures.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(
                            socket = %endpoint,
                            "CURVE: refused a client on {endpoint}: the handshake failed ({})",
                            std::io::Error::from_raw_os_error(i32::try_from(value).unwrap_or(0))
                        );
                    }
                    _ => {}
                }
            }
        }
        for index in stopped.into_iter().rev() {
            readers.remove(index);
        }
    }
}

impl Drop for HandshakeMonitor {
    fn drop(&mut self) {
        let mut running = lock(&self.running);
        if let Some(waker) = running.waker.take() {
            if let Err(e) = waker.send(&b"STOP"[..], zmq::DONTWAIT) {
                tracing::error!("cannot stop the CURVE monitor thread: {e}");
                return;
            }
        }
        if let Some(thread) = running.thread.take() {
            if thread.join().is_err() {
                tracing::error!("the CURVE monitor thread panicked");
            }
        }
    }
}

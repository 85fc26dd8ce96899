//! The only place of the crate that uses `unsafe`:
//!
//! - setting `ZMQ_XPUB_NODROP` and `ZMQ_XPUB_VERBOSER`, the socket options
//!   the `zmq` crate (0.9) has no setter for;
//! - stopping a socket monitor (`zmq_socket_monitor` with a null endpoint,
//!   which the `zmq` crate cannot pass);
//! - registering a socket's `ZMQ_FD` with the tokio reactor (tokio 1.54
//!   made that `unsafe`: the caller vouches that the descriptor stays open).

#![allow(unsafe_code)]

use std::os::raw::{c_int, c_void};

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use crate::util::Guarded;

/// Sets `ZMQ_XPUB_NODROP` on a PUB or XPUB socket: with it on, a send that
/// would overflow a subscriber's high-water mark fails with `EAGAIN`
/// instead of silently dropping the frame for that subscriber.
pub(crate) fn set_xpub_nodrop(socket: &mut zmq::Socket, on: bool) -> Result<(), zmq::Error> {
    set_int_option(socket, zmq_sys::ZMQ_XPUB_NODROP, c_int::from(on))
}

/// Sets `ZMQ_XPUB_VERBOSER` on an XPUB socket: every subscription and
/// every unsubscription (a subscriber's topics when it goes) is passed to
/// the application, not only the first and the last of each topic.
pub(crate) fn set_xpub_verboser(socket: &mut zmq::Socket, on: bool) -> Result<(), zmq::Error> {
    set_int_option(socket, zmq_sys::ZMQ_XPUB_VERBOSER, c_int::from(on))
}

/// Sets an `int` socket option by its number.
fn set_int_option(socket: &mut zmq::Socket, option: u32, value: c_int) -> Result<(), zmq::Error> {
    let option = c_int::try_from(option).map_err(|_| zmq::Error::EINVAL)?;
    // SAFETY: `socket.as_mut_ptr()` is the live libzmq socket `socket` owns
    // (it is closed only when `socket` drops, and the `&mut` borrow keeps
    // every other user away during the call); `optval` points to a live
    // `c_int` and `optvallen` is its size, as zmq_setsockopt(3) requires for
    // the `int` options this is called with.
    let rc = unsafe {
        zmq_sys::zmq_setsockopt(
            socket.as_mut_ptr(),
            option,
            (&value as *const c_int).cast::<c_void>(),
            std::mem::size_of::<c_int>(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        // SAFETY: zmq_errno(3) only reads the calling thread's errno.
        Err(zmq::Error::from_raw(unsafe { zmq_sys::zmq_errno() }))
    }
}

/// Stops the monitor `zmq::Socket::monitor` started on `socket`: once this
/// returns, libzmq sends no more events (and has closed its end of the
/// monitor), so the reading end may close without ever leaving libzmq's
/// I/O thread blocked on an event nobody reads. Stopping a socket that has
/// no monitor does nothing.
pub(crate) fn stop_monitor(socket: &mut zmq::Socket) -> Result<(), zmq::Error> {
    // SAFETY: as in `set_int_option` for the socket; a null endpoint is
    // what zmq_socket_monitor(3) documents for stopping a monitor, and the
    // events argument is then ignored.
    let rc = unsafe { zmq_sys::zmq_socket_monitor(socket.as_mut_ptr(), std::ptr::null(), 0) };
    if rc == 0 {
        Ok(())
    } else {
        // SAFETY: zmq_errno(3) only reads the calling thread's errno.
        Err(zmq::Error::from_raw(unsafe { zmq_sys::zmq_errno() }))
    }
}

/// Registers a socket's `ZMQ_FD` with the current tokio runtime, for
/// readability (the only event that descriptor signals).
pub(crate) fn register_readable(socket: Guarded) -> std::io::Result<AsyncFd<Guarded>> {
    // SAFETY: the descriptor is the `ZMQ_FD` of the libzmq socket that
    // `socket` owns, read once when `socket` was made and never changed; the
    // socket, and with it the descriptor, is closed only when `socket`
    // drops, which `AsyncFd` does after deregistering the descriptor. So it
    // stays open, and the same file description, for the whole life of the
    // `AsyncFd`, and `as_raw_fd` always returns it.
    unsafe { AsyncFd::register_with_interest(socket, Interest::READABLE) }
        .map_err(|e| e.into_parts().1)
}

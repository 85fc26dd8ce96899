//! The only place of the crate that uses `unsafe`:
//!
//! - setting `ZMQ_XPUB_NODROP`, the one socket option the `zmq` crate (0.9)
//!   has no setter for;
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
    let value: c_int = c_int::from(on);
    // SAFETY: `socket.as_mut_ptr()` is the live libzmq socket `socket` owns
    // (it is closed only when `socket` drops, and the `&mut` borrow keeps
    // every other user away during the call); `optval` points to a live
    // `c_int` and `optvallen` is its size, as zmq_setsockopt(3) requires for
    // this option.
    let rc = unsafe {
        zmq_sys::zmq_setsockopt(
            socket.as_mut_ptr(),
            zmq_sys::ZMQ_XPUB_NODROP as c_int,
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

//! The facade's background tasks: [`posttroll_core::task`], where the
//! nameserver crate finds them too.

pub(crate) use posttroll_core::task::{stop_all, StopSignal, Worker, STOP_GRACE};

//! Background tasks that stop on request: a signal, a bounded wait, then an
//! abort. Shared by the publishers, subscribers and announcers of the
//! facade and by the nameserver (feature `task`: needs a tokio runtime).
//!
//! # Examples
//!
//! ```
//! use posttroll_core::task::Worker;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let worker = Worker::spawn(None, |mut stop| async move {
//!     // Serve until asked to stop.
//!     stop.stopped().await;
//! });
//! assert!(!worker.is_finished());
//! worker.stop().await; // signals, waits at most STOP_GRACE, then aborts
//! # });
//! ```

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How long [`stop_all`] waits for tasks to end by themselves before
/// aborting them (every public `stop()` must return within 1 s).
pub const STOP_GRACE: Duration = Duration::from_millis(800);

/// The receiving end of a [`Worker`]'s stop request.
#[derive(Debug)]
pub struct StopSignal(watch::Receiver<bool>);

impl StopSignal {
    /// Resolves once a stop was asked for (or the [`Worker`] is gone).
    /// Cancel-safe.
    pub async fn stopped(&mut self) {
        // An error means the sender is gone: stop as well.
        let _ = self.0.wait_for(|stop| *stop).await;
    }

    /// True once a stop was asked for: a cheap check for loops that may
    /// never wait (e.g. a reader whose socket always has a frame ready).
    pub fn is_stopped(&self) -> bool {
        *self.0.borrow()
    }
}

/// One spawned task with its stop request. Dropping it aborts the task.
#[derive(Debug)]
pub struct Worker {
    stop: watch::Sender<bool>,
    handle: Option<JoinHandle<()>>,
}

impl Worker {
    /// Spawns `make(signal)` on the current runtime. `token`, when given, is
    /// held by the task's future until it is dropped, so
    /// `Arc::strong_count(token) - 1` counts the live tasks of an object.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, as `tokio::spawn`.
    pub fn spawn<F, Fut>(token: Option<&Arc<()>>, make: F) -> Worker
    where
        F: FnOnce(StopSignal) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (stop, rx) = watch::channel(false);
        let fut = make(StopSignal(rx));
        let token = token.cloned();
        let handle = tokio::spawn(async move {
            let _token = token;
            fut.await;
        });
        Worker {
            stop,
            handle: Some(handle),
        }
    }

    /// Asks the task to stop (does not wait).
    pub fn signal(&self) {
        self.stop.send_replace(true);
    }

    /// True once the task has ended.
    pub fn is_finished(&self) -> bool {
        self.handle.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Waits for the task until `deadline`, then aborts it; returns once
    /// its future is dropped.
    pub async fn join(mut self, deadline: Instant) {
        if let Some(mut handle) = self.handle.take() {
            if tokio::time::timeout_at(deadline, &mut handle)
                .await
                .is_err()
            {
                tracing::debug!("a task did not stop in time; aborting it");
                handle.abort();
                let _ = handle.await;
            }
        }
    }

    /// Signals the task and waits for it (at most [`STOP_GRACE`]).
    pub async fn stop(self) {
        stop_all(vec![self]).await;
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            handle.abort();
        }
    }
}

/// Signals every worker at once, then waits for them all with one shared
/// deadline ([`STOP_GRACE`] from now), aborting those still running.
pub async fn stop_all(workers: Vec<Worker>) {
    for worker in &workers {
        worker.signal();
    }
    let deadline = Instant::now() + STOP_GRACE;
    for worker in workers {
        worker.join(deadline).await;
    }
}

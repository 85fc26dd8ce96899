//! systemd integration (`Type=notify`): readiness once the nameserver
//! serves, watchdog pings while it runs when the unit sets `WatchdogSec`
//! (`WATCHDOG_USEC`), and "stopping" on the way out. Without
//! `NOTIFY_SOCKET` (not started by systemd) all of it does nothing.
//!
//! The unit file is `contrib/systemd/nameserver.service`.

use std::time::Duration;

use sd_notify::NotifyState;

/// Tells systemd that the service is ready (its ports are bound and its
/// loops run), with a status line.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// Tells systemd that the service is stopping.
pub fn stopping() {
    send(&[NotifyState::Stopping]);
}

/// The interval of watchdog pings: half of `WATCHDOG_USEC` (as
/// `sd_watchdog_enabled(3)` advises), or `None` without a watchdog.
pub fn watchdog_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled().map(|timeout| timeout / 2)
}

/// Pings the watchdog every [`watchdog_interval`] for as long as it is
/// polled (it is polled by the loop that serves, so a wedged loop stops the
/// pings and systemd restarts the service); never ends without a watchdog.
pub async fn watchdog() {
    let Some(every) = watchdog_interval() else {
        return std::future::pending().await;
    };
    let mut ticks = tokio::time::interval(every.max(Duration::from_millis(1)));
    loop {
        ticks.tick().await;
        send(&[NotifyState::Watchdog]);
    }
}

fn send(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!("cannot notify systemd (NOTIFY_SOCKET): {e}");
    }
}

//! The byte budget of the queues between a subscriber's sockets and its
//! consumer.
//!
//! A [`Budget`] is a semaphore whose permits are bytes. A reader that took
//! a frame from its socket counts it ([`Budget::hold`]) and then waits for
//! room for it ([`Charge::reserve`]) before it reads the next one, so a
//! consumer that does not read makes the readers stop reading their sockets
//! (and the engine's high-water mark then applies). The [`Charge`] travels
//! with the frame, and with the message decoded from it, through every
//! queue up to the consumer; dropping it gives the room back.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{AcquireError, OwnedSemaphorePermit, Semaphore};

/// Room for received frames, in bytes, shared by the queues it bounds.
/// Cheap to clone: clones share the room.
#[derive(Debug, Clone)]
pub(crate) struct Budget {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    permits: Arc<Semaphore>,
    /// The whole budget, in bytes (= permits).
    capacity: u32,
    /// The bytes of the frames counted and not yet dropped, reserved or
    /// not.
    held: AtomicUsize,
}

/// The largest budget: what one acquisition of a tokio semaphore can take
/// (`u32::MAX` permits) and what a semaphore can hold, whichever is less.
pub(crate) fn max_budget() -> u64 {
    let semaphore = u64::try_from(Semaphore::MAX_PERMITS).unwrap_or(u64::MAX);
    semaphore.min(u64::from(u32::MAX))
}

impl Budget {
    /// A budget of `bytes`, clamped to `1..=`[`max_budget`] (a budget of
    /// 0 would stop every reader for good: it lets one frame at a time
    /// through instead).
    pub(crate) fn new(bytes: u64) -> Budget {
        let capacity = u32::try_from(bytes.clamp(1, max_budget())).unwrap_or(u32::MAX);
        Budget {
            shared: Arc::new(Shared {
                permits: Arc::new(Semaphore::new(capacity as usize)),
                capacity,
                held: AtomicUsize::new(0),
            }),
        }
    }

    /// The whole budget, in bytes.
    pub(crate) fn capacity(&self) -> u64 {
        u64::from(self.shared.capacity)
    }

    /// The bytes of the frames held now: queued, or taken from a socket and
    /// waiting for room.
    pub(crate) fn held(&self) -> u64 {
        u64::try_from(self.shared.held.load(Ordering::Relaxed)).unwrap_or(u64::MAX)
    }

    /// Counts a frame of `len` bytes as held; it has no room yet (see
    /// [`Charge::reserve`]).
    pub(crate) fn hold(&self, len: usize) -> Charge {
        self.shared.held.fetch_add(len, Ordering::Relaxed);
        Charge {
            shared: self.shared.clone(),
            len,
            permit: None,
        }
    }
}

/// One held frame's bytes: counted from [`Budget::hold`], taking room from
/// [`Charge::reserve`], both given back when dropped.
#[derive(Debug)]
pub(crate) struct Charge {
    shared: Arc<Shared>,
    len: usize,
    permit: Option<OwnedSemaphorePermit>,
}

impl Charge {
    /// The room this frame takes: its length, at least 1 and at most the
    /// whole budget (a larger frame waits for an empty queue and fills it).
    fn permits(&self) -> u32 {
        u32::try_from(self.len)
            .unwrap_or(u32::MAX)
            .clamp(1, self.shared.capacity)
    }

    /// Takes room for the frame if there is enough now; true when it has
    /// room.
    pub(crate) fn try_reserve(&mut self) -> bool {
        if self.permit.is_some() {
            return true;
        }
        let n = self.permits();
        match self.shared.permits.clone().try_acquire_many_owned(n) {
            Ok(permit) => {
                self.permit = Some(permit);
                true
            }
            Err(_) => false,
        }
    }

    /// Waits for room for the frame. Cancel-safe: cancelled, it takes
    /// nothing. Errors only if the semaphore was closed, which nothing
    /// does.
    pub(crate) async fn reserve(&mut self) -> Result<(), AcquireError> {
        if self.permit.is_none() {
            let n = self.permits();
            self.permit = Some(self.shared.permits.clone().acquire_many_owned(n).await?);
        }
        Ok(())
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.shared.held.fetch_sub(self.len, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Duration;

    use super::*;

    #[test]
    fn the_budget_is_clamped() {
        assert_eq!(Budget::new(0).capacity(), 1);
        assert_eq!(Budget::new(10).capacity(), 10);
        assert_eq!(Budget::new(u64::MAX).capacity(), max_budget());
    }

    #[tokio::test]
    async fn room_is_taken_until_the_charge_is_dropped() {
        let budget = Budget::new(100);
        let mut a = budget.hold(60);
        assert!(a.try_reserve());
        let mut b = budget.hold(60);
        assert!(!b.try_reserve());
        assert_eq!(budget.held(), 120);
        // Waiting for room is cancel-safe and ends when room is given back.
        assert!(tokio::time::timeout(Duration::from_millis(10), b.reserve())
            .await
            .is_err());
        drop(a);
        assert_eq!(budget.held(), 60);
        b.reserve().await.unwrap();
        drop(b);
        assert_eq!(budget.held(), 0);
    }

    #[tokio::test]
    async fn a_frame_larger_than_the_budget_takes_all_of_it() {
        let budget = Budget::new(100);
        let mut small = budget.hold(1);
        assert!(small.try_reserve());
        let mut big = budget.hold(1000);
        assert!(!big.try_reserve());
        drop(small);
        assert!(big.try_reserve());
        assert_eq!(budget.held(), 1000);
        // An empty frame still takes one byte of room.
        let mut empty = budget.hold(0);
        assert!(!empty.try_reserve());
        drop(big);
        assert!(empty.try_reserve());
        assert_eq!(budget.held(), 0);
    }
}

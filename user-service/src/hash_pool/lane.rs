//! A lane of the pool: permits, and a bounded queue of the calls waiting for
//! one, each until a deadline.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use tokio::{
    sync::{OwnedSemaphorePermit, Semaphore},
    time::Instant,
};

/// Why a hash was not admitted.
#[derive(Debug, Clone, Copy)]
pub(super) enum Refusal {
    QueueFull,
    Waited,
}

impl Refusal {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::QueueFull => "queue_full",
            Self::Waited => "waited",
        }
    }
}

/// Permits, and a count of those waiting for one.
#[derive(Debug)]
pub(super) struct Lane {
    permits: Arc<Semaphore>,
    /// Calls in the queue now.
    pub(super) waiting: AtomicUsize,
}

impl Lane {
    pub(super) fn new(permits: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(permits)),
            waiting: AtomicUsize::new(0),
        }
    }

    /// A permit: at once if one is free, else after waiting until
    /// `deadline` — in a queue of `queue` places when given, refused at
    /// once when they are all taken.
    pub(super) async fn admit(
        &self,
        queue: Option<usize>,
        deadline: Instant,
    ) -> Result<OwnedSemaphorePermit, Refusal> {
        // tokio's semaphore hands a released permit to the first waiter, so
        // a free one means nobody waits: taking it jumps no queue.
        if let Ok(permit) = self.permits.clone().try_acquire_owned() {
            return Ok(permit);
        }
        let _place = match queue {
            Some(places) => Some(Place::take(&self.waiting, places).ok_or(Refusal::QueueFull)?),
            None => None,
        };
        match tokio::time::timeout_at(deadline, self.permits.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            // Elapsed (the semaphores are never closed).
            Ok(Err(_)) | Err(_) => Err(Refusal::Waited),
        }
    }
}

/// A place in a lane's queue, given back when dropped.
struct Place<'a>(&'a AtomicUsize);

impl<'a> Place<'a> {
    fn take(waiting: &'a AtomicUsize, places: usize) -> Option<Self> {
        waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < places).then_some(n + 1)
            })
            .ok()
            .map(|_| Self(waiting))
    }
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn past_the_queue_a_call_is_refused_at_once_in_it_after_the_deadline() {
        let lane = Arc::new(Lane::new(1));
        let far = Instant::now() + Duration::from_secs(30);
        let held = lane.admit(Some(1), far).await.unwrap();
        let queued = tokio::spawn({
            let lane = lane.clone();
            async move { lane.admit(Some(1), far).await.map(drop) }
        });
        while lane.waiting.load(Ordering::Acquire) == 0 {
            tokio::task::yield_now().await;
        }

        let past_the_queue = lane.admit(Some(1), far).await;
        let soon = Instant::now() + Duration::from_millis(10);
        let waited = lane.admit(Some(2), soon).await;
        drop(held);

        assert!(matches!(past_the_queue, Err(Refusal::QueueFull)));
        assert!(matches!(waited, Err(Refusal::Waited)));
        assert!(
            queued.await.unwrap().is_ok(),
            "the queued call got the permit"
        );
        assert_eq!(lane.waiting.load(Ordering::Acquire), 0, "places given back");
    }
}

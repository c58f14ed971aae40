//! A value fetched at most once a period, however many ask at once: the
//! public routes that would otherwise fan out to the services on every
//! request — `/health` (every service and broker) and the JWKS (a gRPC call)
//! — answer from one, so a flood of either costs the services one call a
//! period, not one per request.
//!
//! One fetch at a time: callers arriving while it runs wait for it (each
//! within its own request timeout) and share its result.

use std::{
    future::Future,
    time::{Duration, Instant},
};

use tokio::sync::Mutex;

#[derive(Debug)]
pub struct Recent<T> {
    ttl: Duration,
    slot: Mutex<Option<(Instant, T)>>,
}

impl<T: Clone> Recent<T> {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            slot: Mutex::new(None),
        }
    }

    /// The value fetched within the last period, else a new one from
    /// `fetch`, kept whatever it says (a health report that is down is as
    /// much an answer as one that is up).
    pub async fn get<F, Fut>(&self, fetch: F) -> T
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        let mut slot = self.slot.lock().await;
        if let Some((at, value)) = slot.as_ref()
            && at.elapsed() < self.ttl
        {
            return value.clone();
        }
        let value = fetch().await;
        *slot = Some((Instant::now(), value.clone()));
        value
    }

    /// Like [`Recent::get`], but an error is not kept: the next caller tries
    /// again.
    pub async fn try_get<E, F, Fut>(&self, fetch: F) -> Result<T, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut slot = self.slot.lock().await;
        if let Some((at, value)) = slot.as_ref()
            && at.elapsed() < self.ttl
        {
            return Ok(value.clone());
        }
        let value = fetch().await?;
        *slot = Some((Instant::now(), value.clone()));
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn concurrent_callers_share_one_fetch_and_errors_are_not_kept() {
        let recent = Recent::new(Duration::from_secs(60));
        let fetches = AtomicUsize::new(0);
        let fetch = || async {
            fetches.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            7
        };
        let values = tokio::join!(recent.get(fetch), recent.get(fetch), recent.get(fetch));
        assert_eq!(values, (7, 7, 7));
        assert_eq!(fetches.load(Ordering::SeqCst), 1);

        let failing: Recent<u8> = Recent::new(Duration::from_secs(60));
        assert!(
            failing
                .try_get(|| async { Err::<u8, _>("down") })
                .await
                .is_err()
        );
        assert_eq!(failing.try_get(|| async { Ok::<_, &str>(1) }).await, Ok(1));
    }

    #[tokio::test]
    async fn a_value_older_than_the_period_is_fetched_again() {
        let recent = Recent::new(Duration::ZERO);
        assert_eq!(recent.get(|| async { 1 }).await, 1);
        assert_eq!(recent.get(|| async { 2 }).await, 2);
    }
}

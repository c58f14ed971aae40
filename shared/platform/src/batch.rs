//! Group commit: many concurrent callers, one write.
//!
//! Each event a service records is one statement and one commit — one round
//! trip, one WAL flush, one wake-up of a Postgres backend. Under load many of
//! them are in flight at once (a consumer runs up to its prefetch in
//! parallel), so a [`Batcher`] hands them to one task that writes whatever
//! has queued up as a single statement, then answers each caller with its
//! own result. Nothing waits for a batch to fill: a lone item is written at
//! once, alone; while one batch is being written the next one gathers, so
//! batches grow with the load by themselves (Postgres's own group commit,
//! one level up). Every caller still learns its own outcome before it acks
//! its message, so the guarantees of one-at-a-time are kept.
//!
//! When a batch of several fails, its items are written again one by one,
//! concurrently: one bad item fails alone instead of failing its neighbours,
//! and a database outage fails each of them as fast as it would have alone.
//!
//! `group_commit_batches_total` and `group_commit_items_total` (by `writer`)
//! count the writes and what they carried: their ratio is the mean batch.

use std::{fmt::Display, future::Future, panic::AssertUnwindSafe, sync::Arc};

use futures_util::FutureExt;
use tokio::sync::{mpsc, oneshot};
use tracing::{Instrument, Span};

/// The most items one write takes.
pub const MAX_BATCH: usize = 64;

/// An item, where its outcome goes, and the caller's span. Every error is
/// one item's own: a batch of several that fails is retried one by one.
type Job<T, R, E> = (T, oneshot::Sender<Result<R, E>>, Span);

/// A handle to a batching task; clones share it. The task ends when the
/// last handle is dropped, after writing what was queued.
pub struct Batcher<T, R, E> {
    jobs: mpsc::Sender<Job<T, R, E>>,
}

impl<T, R, E> Clone for Batcher<T, R, E> {
    fn clone(&self) -> Self {
        Self {
            jobs: self.jobs.clone(),
        }
    }
}

impl<T, R, E> std::fmt::Debug for Batcher<T, R, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher").finish_non_exhaustive()
    }
}

/// Why an item got no result.
#[derive(Debug, thiserror::Error)]
pub enum BatchError<E> {
    /// The write of this item failed (alone: a batch of one, or the
    /// one-by-one retry of a larger batch that failed).
    #[error(transparent)]
    Write(E),
    /// No outcome: the batching task is gone (the runtime is shutting
    /// down), or the write panicked (logged; the task goes on).
    #[error("the batch write gave no outcome")]
    Stopped,
}

impl<T, R, E> Batcher<T, R, E>
where
    T: Clone + Send + Sync + 'static,
    R: Send + 'static,
    E: Display + Send + 'static,
{
    /// Starts the task; `writer` names it in metrics and logs. `write` gets
    /// at most [`MAX_BATCH`] items — shared, so the batch is not copied in
    /// case it must be retried one by one — and must return exactly one
    /// outcome per item, in order, or fail as a whole.
    pub fn spawn<F, Fut>(writer: &'static str, write: F) -> Self
    where
        F: Fn(Arc<[T]>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<R>, E>> + Send + 'static,
    {
        // Room for a few batches: callers beyond it wait to enqueue, which
        // is the back-pressure a consumer's prefetch already bounds.
        let (jobs, queue) = mpsc::channel(MAX_BATCH * 4);
        tokio::spawn(run(writer, queue, write));
        Self { jobs }
    }

    /// Writes `item` with whatever else is queued, and returns its outcome.
    pub async fn write(&self, item: T) -> Result<R, BatchError<E>> {
        let (answer, outcome) = oneshot::channel();
        self.jobs
            .send((item, answer, Span::current()))
            .await
            .map_err(|_| BatchError::Stopped)?;
        match outcome.await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => Err(BatchError::Write(e)),
            Err(_) => Err(BatchError::Stopped),
        }
    }
}

async fn run<T, R, E, F, Fut>(
    writer: &'static str,
    mut queue: mpsc::Receiver<Job<T, R, E>>,
    write: F,
) where
    T: Clone + Send + Sync + 'static,
    R: Send + 'static,
    E: Display + Send + 'static,
    F: Fn(Arc<[T]>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Vec<R>, E>> + Send + 'static,
{
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    // Waits for one job, then takes whatever else is already queued.
    while queue.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        let (mut items, mut answers, mut spans) = (Vec::new(), Vec::new(), Vec::new());
        for (item, answer, span) in jobs.drain(..) {
            items.push(item);
            answers.push(answer);
            spans.push(span);
        }
        let items: Arc<[T]> = items.into();
        let count = items.len();
        metrics::counter!("group_commit_batches_total", "writer" => writer).increment(1);
        metrics::counter!("group_commit_items_total", "writer" => writer).increment(count as u64);
        // The write belongs to its first caller's trace (its logs and spans
        // name that trace), and follows from the others'.
        let batch = tracing::info_span!(parent: &spans[0], "group_commit", writer, items = count);
        for other in &spans[1..] {
            batch.follows_from(other);
        }
        // One outcome per item; `None` where the write panicked or returned
        // the wrong number of outcomes (a bug in it): that caller is
        // answered "stopped" rather than handed someone else's outcome.
        let first = guarded(write(Arc::clone(&items)))
            .instrument(batch.clone())
            .await;
        let outcomes: Vec<Option<Result<R, E>>> = match first {
            Some(Ok(outcomes)) if outcomes.len() == count => {
                outcomes.into_iter().map(|r| Some(Ok(r))).collect()
            }
            Some(Err(e)) if count > 1 => {
                batch.in_scope(|| {
                    tracing::warn!(writer, items = count, error = %e, "a batch failed; writing its items one by one");
                });
                // Each alone, concurrently, in its own caller's trace: its
                // own error, or its success.
                let alone = items.iter().zip(&spans).map(|(item, span)| {
                    guarded(write(Arc::from([item.clone()]))).instrument(span.clone())
                });
                let outcomes = futures_util::future::join_all(alone).await;
                outcomes.into_iter().map(|o| o.and_then(single)).collect()
            }
            Some(Err(e)) => vec![Some(Err(e))],
            _ => Vec::new(),
        };
        let answered = outcomes.iter().flatten().count();
        if answered < count {
            tracing::error!(
                writer,
                items = count,
                answered,
                "a batch write panicked or returned the wrong number of outcomes"
            );
        }
        for (answer, outcome) in answers.into_iter().zip(outcomes) {
            if let Some(outcome) = outcome {
                // The caller may have given up (its task cancelled): fine.
                let _ = answer.send(outcome);
            }
        }
    }
}

/// A write, with a panic caught (`None`): the task lives on for the next
/// batch instead of leaving every later caller without an answer.
async fn guarded<O>(write: impl Future<Output = O>) -> Option<O> {
    AssertUnwindSafe(write).catch_unwind().await.ok()
}

/// The one outcome of a write of one item.
fn single<R, E>(outcome: Result<Vec<R>, E>) -> Option<Result<R, E>> {
    match outcome {
        Ok(mut outcomes) if outcomes.len() == 1 => outcomes.pop().map(Ok),
        Ok(_) => None,
        Err(e) => Some(Err(e)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Mutex;

    use tokio::{sync::Semaphore, task::JoinHandle};

    use super::*;

    /// The batches a write was given, in order.
    type Seen = Arc<Mutex<Vec<Vec<u32>>>>;

    /// Records the batches it is given, then waits for a permit (so a test
    /// can hold a write), doubles each item, and fails a batch holding 13.
    fn doubler(gate: Arc<Semaphore>) -> (Batcher<u32, u32, String>, Seen) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let batches = seen.clone();
        let batcher = Batcher::spawn("test", move |items: Arc<[u32]>| {
            let (gate, batches) = (gate.clone(), batches.clone());
            async move {
                batches.lock().unwrap().push(items.to_vec());
                gate.acquire().await.unwrap().forget();
                if items.contains(&13) {
                    return Err(format!("13 in {items:?}"));
                }
                Ok(items.iter().map(|i| i * 2).collect())
            }
        });
        (batcher, seen)
    }

    async fn started(seen: &Mutex<Vec<Vec<u32>>>, batches: usize) {
        while seen.lock().unwrap().len() < batches {
            tokio::task::yield_now().await;
        }
    }

    /// A caller writing `item` from a task of its own.
    fn spawn_write(
        batcher: &Batcher<u32, u32, String>,
        item: u32,
    ) -> JoinHandle<Result<u32, BatchError<String>>> {
        let batcher = batcher.clone();
        tokio::spawn(async move { batcher.write(item).await })
    }

    async fn queued(batcher: &Batcher<u32, u32, String>, jobs: usize) {
        while batcher.jobs.max_capacity() - batcher.jobs.capacity() < jobs {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn callers_queued_behind_a_write_share_the_next_one() {
        let gate = Arc::new(Semaphore::new(0));
        let (batcher, seen) = doubler(gate.clone());
        let first = spawn_write(&batcher, 1);
        // The first write is held; forty more queue up behind it.
        started(&seen, 1).await;
        let rest: Vec<_> = (100..140).map(|i| spawn_write(&batcher, i)).collect();
        queued(&batcher, 40).await;
        gate.add_permits(100);
        assert_eq!(first.await.unwrap().unwrap(), 2);
        for (i, handle) in (100..140).zip(rest) {
            assert_eq!(handle.await.unwrap().unwrap(), i * 2, "item {i}");
        }
        let batches = seen.lock().unwrap().clone();
        assert_eq!(batches, vec![vec![1], (100..140).collect::<Vec<_>>()]);
    }

    #[tokio::test]
    async fn a_bad_item_fails_alone_and_its_batch_is_written_one_by_one() {
        let gate = Arc::new(Semaphore::new(0));
        let (batcher, seen) = doubler(gate.clone());
        let held = spawn_write(&batcher, 1);
        started(&seen, 1).await;
        let rest: Vec<_> = [12, 13, 14].map(|i| spawn_write(&batcher, i)).into();
        queued(&batcher, 3).await;
        gate.add_permits(100);
        held.await.unwrap().unwrap();
        let outcomes: Vec<_> = futures_util::future::join_all(rest)
            .await
            .into_iter()
            .map(|r| r.unwrap().map_err(|e| e.to_string()))
            .collect();
        assert_eq!(outcomes, vec![Ok(24), Err("13 in [13]".to_owned()), Ok(28)]);
        let mut batches = seen.lock().unwrap().clone();
        batches[2..].sort();
        assert_eq!(
            batches,
            vec![vec![1], vec![12, 13, 14], vec![12], vec![13], vec![14]]
        );
    }

    #[tokio::test]
    async fn a_write_that_panics_answers_stopped_and_the_next_one_is_written() {
        let batcher: Batcher<u32, u32, String> =
            Batcher::spawn("test", |items: Arc<[u32]>| async move {
                assert!(!items.contains(&7), "a bug");
                Ok(items.iter().map(|i| i * 2).collect())
            });
        assert!(matches!(batcher.write(7).await, Err(BatchError::Stopped)));
        assert_eq!(batcher.write(8).await.unwrap(), 16);
    }

    #[tokio::test]
    async fn a_write_with_the_wrong_number_of_outcomes_answers_stopped() {
        let batcher: Batcher<u32, u32, String> =
            Batcher::spawn("test", |_items: Arc<[u32]>| async { Ok(Vec::new()) });
        assert!(matches!(batcher.write(1).await, Err(BatchError::Stopped)));
    }
}

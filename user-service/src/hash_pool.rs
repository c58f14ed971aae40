//! Password hashing as a bounded resource: a pool of hashers, shared by
//! sign-ups and log-ins, that refuses what it cannot start soon.
//!
//! A hash costs a core for ~20 ms and 19 MiB of memory
//! (`crate::passwords`), and `POST /users` and `POST /auth/token` are
//! public, so hashing is what a flood reaches first. Queueing every hash,
//! as before, let a burst of sign-ups push log-ins past their deadline; a
//! call that timed out freed its place while its hash went on running; and
//! each such hash took another 19 MiB. What the pool keeps:
//!
//! - **At most `PASSWORD_HASH_CONCURRENCY` hashes run at once**, each with a
//!   working buffer taken from the pool's and given back, so hashing never
//!   holds more than that many × 19 MiB ([`HashStats::buffers`]).
//! - **A hash holds its place until it ends, not until its call does.** A
//!   call cancelled mid-hash (its deadline passed, its client went away)
//!   cannot stop the hash on the blocking pool, so the permits move into
//!   the blocking closure and are released when the hash returns.
//! - **Sign-ups cannot take the whole pool.** A sign-up first takes one of
//!   the sign-up permits — half the hashers, at least one — then a hasher; a
//!   log-in (the dummy verification of an unknown email included) takes a
//!   hasher only. A sign-up flood leaves the other half to log-ins; with a
//!   single hasher it puts at most one sign-up ahead of a log-in, since the
//!   semaphores serve first come, first served.
//! - **Waiting is bounded, refusing is immediate.** A hash that cannot start
//!   at once waits in its kind's queue of `PASSWORD_HASH_QUEUE` places for at
//!   most `PASSWORD_HASH_WAIT`; with the queue full it is refused at once.
//!   A refusal is [`Error::HashersBusy`]: RESOURCE_EXHAUSTED, which the
//!   gateway answers 503.
//!
//! Rejected: one semaphore with a reserve checked by hand (two first-come
//! first-served semaphores say the same with no lock of our own); waiting
//! for the caller's own `grpc-timeout` (a fixed bound is simpler to reason
//! about, and chosen below the gateway's deadline).
//!
//! # Metrics
//! `password_hashes_total{purpose}` (hashes started),
//! `password_hash_refusals_total{purpose, reason}` (`queue_full`, `waited`),
//! and, read at each scrape ([`HashPool::sampler`]), `password_hashes_running`,
//! `password_hashes_waiting{purpose}`, `password_hashers` and
//! `password_hash_memory_bytes`.
//!
//! # Layout
//! - this file: the pool, what it admits, the hashes it runs, its stats.
//! - `lane`: permits and a bounded queue for them (a pool has two lanes,
//!   one for all hashes and one for sign-ups).
//! - `reporting`: its gauges, and the `# HELP` of each of its metrics.

mod lane;
mod reporting;

pub(crate) use reporting::describe as describe_metrics;

use std::{
    num::NonZeroUsize,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
};

use argon2::Block;
use tokio::{sync::OwnedSemaphorePermit, time::Instant};

use self::lane::{Lane, Refusal};
use crate::{config::HashingConfig, error::Error};

/// What a hash is for, which decides the hashers it may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A new password (sign-up, the first admin): half the hashers at most.
    SignUp,
    /// A log-in's verification: any hasher.
    LogIn,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Self::SignUp => "sign_up",
            Self::LogIn => "log_in",
        }
    }
}

/// A value per [`Purpose`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ByPurpose<T> {
    pub sign_up: T,
    pub log_in: T,
}

/// What the pool is doing and has done, for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HashStats {
    /// Hashes running now, whether or not their calls still wait for them.
    pub running: usize,
    /// Calls waiting for a hasher.
    pub waiting: ByPurpose<usize>,
    /// Hashes started since the pool was made.
    pub hashed: ByPurpose<u64>,
    /// Calls refused without a hash.
    pub refused: ByPurpose<u64>,
    /// Working buffers allocated: never more than the hashers.
    pub buffers: usize,
}

/// The hashers; cheap to clone.
#[derive(Debug, Clone)]
pub struct HashPool {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    hashers: Lane,
    sign_ups: Lane,
    concurrency: NonZeroUsize,
    queue: usize,
    wait: std::time::Duration,
    /// Blocks in one working buffer.
    buffer_blocks: usize,
    /// Buffers not in use; each is returned before its permits are.
    memory: Mutex<Vec<Vec<Block>>>,
    buffers: AtomicUsize,
    running: AtomicUsize,
    hashed: [AtomicU64; 2],
    refused: [AtomicU64; 2],
}

/// The right to run one hash, held until the hash ends.
#[derive(Debug)]
pub struct Admission {
    pool: Arc<Inner>,
    purpose: Purpose,
    _hasher: OwnedSemaphorePermit,
    _sign_up: Option<OwnedSemaphorePermit>,
}

impl HashPool {
    /// Hashers as `config` says, each with a buffer of `buffer_blocks`
    /// argon2 blocks (allocated on first use).
    pub fn new(config: &HashingConfig, buffer_blocks: usize) -> Self {
        let hashers = config.concurrency.get();
        Self {
            inner: Arc::new(Inner {
                hashers: Lane::new(hashers),
                sign_ups: Lane::new((hashers / 2).max(1)),
                concurrency: config.concurrency,
                queue: config.queue,
                wait: config.wait,
                buffer_blocks,
                memory: Mutex::default(),
                buffers: AtomicUsize::new(0),
                running: AtomicUsize::new(0),
                hashed: Default::default(),
                refused: Default::default(),
            }),
        }
    }

    /// A place for one hash of `purpose`: at once when a hasher is free,
    /// after a bounded wait otherwise, or [`Error::HashersBusy`].
    pub async fn admit(&self, purpose: Purpose) -> Result<Admission, Error> {
        let pool = &self.inner;
        let deadline = Instant::now() + pool.wait;
        let queue = Some(pool.queue);
        let admitted = async {
            Ok::<_, Refusal>(match purpose {
                Purpose::LogIn => (pool.hashers.admit(queue, deadline).await?, None),
                // Sign-ups queue on their own lane; the few holding a
                // sign-up permit (half the hashers) then wait for a hasher
                // in line with the log-ins, outside their queue's count.
                Purpose::SignUp => {
                    let sign_up = pool.sign_ups.admit(queue, deadline).await?;
                    (pool.hashers.admit(None, deadline).await?, Some(sign_up))
                }
            })
        };
        match admitted.await {
            Ok((hasher, sign_up)) => Ok(Admission {
                pool: pool.clone(),
                purpose,
                _hasher: hasher,
                _sign_up: sign_up,
            }),
            Err(refusal) => {
                pool.refused[purpose as usize].fetch_add(1, Ordering::Relaxed);
                metrics::counter!(
                    "password_hash_refusals_total",
                    "purpose" => purpose.as_str(),
                    "reason" => refusal.as_str()
                )
                .increment(1);
                Err(Error::HashersBusy)
            }
        }
    }

    /// Admits, then runs `work` ([`Admission::run`]).
    pub async fn run<T: Send + 'static>(
        &self,
        purpose: Purpose,
        work: impl FnOnce(&mut [Block]) -> T + Send + 'static,
    ) -> Result<T, Error> {
        self.admit(purpose).await?.run(work).await
    }

    pub fn stats(&self) -> HashStats {
        let pool = &self.inner;
        let count = |counters: &[AtomicU64; 2]| ByPurpose {
            sign_up: counters[Purpose::SignUp as usize].load(Ordering::Relaxed),
            log_in: counters[Purpose::LogIn as usize].load(Ordering::Relaxed),
        };
        HashStats {
            running: pool.running.load(Ordering::Relaxed),
            waiting: ByPurpose {
                sign_up: pool.sign_ups.waiting.load(Ordering::Relaxed),
                log_in: pool.hashers.waiting.load(Ordering::Relaxed),
            },
            hashed: count(&pool.hashed),
            refused: count(&pool.refused),
            buffers: pool.buffers.load(Ordering::Relaxed),
        }
    }
}

impl Admission {
    /// Runs `work` on the blocking pool with a working buffer. The
    /// admission goes with it and is released when `work` returns, even if
    /// the caller stopped waiting long before.
    pub async fn run<T: Send + 'static>(
        self,
        work: impl FnOnce(&mut [Block]) -> T + Send + 'static,
    ) -> Result<T, Error> {
        tokio::task::spawn_blocking(move || {
            let pool = self.pool.clone();
            pool.hashed[self.purpose as usize].fetch_add(1, Ordering::Relaxed);
            metrics::counter!("password_hashes_total", "purpose" => self.purpose.as_str())
                .increment(1);
            let running = Running::start(&pool.running);
            let mut memory = pool.take_buffer();
            let result = work(&mut memory);
            // The buffer goes back before the permits (`self`), so the next
            // hash finds it.
            pool.memory
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(memory);
            drop(running);
            drop(self);
            result
        })
        .await
        .map_err(|_| Error::Hashing)
    }
}

impl Inner {
    fn take_buffer(&self) -> Vec<Block> {
        let reused = self
            .memory
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        reused.unwrap_or_else(|| {
            self.buffers.fetch_add(1, Ordering::Relaxed);
            vec![Block::default(); self.buffer_blocks]
        })
    }
}

/// A hash counted as running while this lives (a panicking hash included).
struct Running<'a>(&'a AtomicUsize);

impl<'a> Running<'a> {
    fn start(running: &'a AtomicUsize) -> Self {
        running.fetch_add(1, Ordering::AcqRel);
        Self(running)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn pool(concurrency: usize, queue: usize, wait: Duration) -> HashPool {
        let config = HashingConfig {
            concurrency: NonZeroUsize::new(concurrency).unwrap(),
            queue,
            wait,
        };
        HashPool::new(&config, 1)
    }

    /// Every place `purpose` gets with the queue empty.
    async fn fill(pool: &HashPool, purpose: Purpose) -> Vec<Admission> {
        let mut held = Vec::new();
        while let Ok(place) = pool.admit(purpose).await {
            held.push(place);
        }
        held
    }

    #[tokio::test]
    async fn sign_ups_get_half_the_hashers_and_at_least_one_log_ins_the_rest() {
        for (hashers, sign_ups) in [(1, 1), (2, 1), (3, 1), (4, 2), (8, 4)] {
            let pool = pool(hashers, 0, Duration::from_secs(30));
            let signing_up = fill(&pool, Purpose::SignUp).await;
            let logging_in = fill(&pool, Purpose::LogIn).await;
            assert_eq!(signing_up.len(), sign_ups, "{hashers} hashers");
            assert_eq!(signing_up.len() + logging_in.len(), hashers);
        }
    }

    #[tokio::test]
    async fn a_hash_returns_its_buffer_for_the_next_one() {
        let pool = pool(2, 4, Duration::from_secs(30));
        for _ in 0..3 {
            pool.run(Purpose::SignUp, |memory| memory.len())
                .await
                .unwrap();
        }
        let stats = pool.stats();
        assert_eq!((stats.buffers, stats.hashed.sign_up), (1, 3));
    }
}

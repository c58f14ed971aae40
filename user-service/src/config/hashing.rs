//! Password hashing, a bounded resource (see [`crate::hash_pool`]): its
//! variables, and the configuration they resolve to — whose defaults are
//! computed from the machine, so the declaration states them in words.

use std::{num::NonZeroUsize, time::Duration};

use platform::config::duration;

/// The default number of password hashers is the cores available (the
/// container's CPU quota, as the standard library reads it), at most this:
/// two 19 MiB buffers and ~32 MiB idle fit the 128 MiB the deployments
/// give user-service with room to spare, four would not. More hashers are a
/// choice made with the memory and CPU limits, in one place
/// (`PASSWORD_HASH_CONCURRENCY`).
pub const MAX_DEFAULT_PASSWORD_HASH_CONCURRENCY: usize = 2;
/// Default places in each queue (sign-ups, log-ins) per hasher: at ~20 ms a
/// hash, 32 queued per hasher is about 0.6 s of work for log-ins (1.3 s for
/// sign-ups, which have half the hashers), inside `PASSWORD_HASH_WAIT`'s
/// default with room for a slower CPU. Past it a call is refused at once
/// instead of waiting to be refused.
pub const DEFAULT_PASSWORD_HASH_QUEUE_PER_HASHER: usize = 32;

/// `PASSWORD_HASH_*` as declared.
#[derive(Debug, Clone, clap::Args)]
pub struct HashingArgs {
    /// Password hashes (Argon2id, ~20 ms of a core and 19 MiB each) that
    /// run at once; sign-ups may use half of them (at least one), log-ins
    /// all of them. Default: the cores available, at most 2.
    #[arg(long = "password-hash-concurrency", env = "PASSWORD_HASH_CONCURRENCY")]
    concurrency: Option<NonZeroUsize>,
    /// Calls that may wait for a hasher, sign-ups and log-ins each; one
    /// more is refused at once (RESOURCE_EXHAUSTED). Default: 32 per hasher.
    #[arg(long = "password-hash-queue", env = "PASSWORD_HASH_QUEUE")]
    queue: Option<usize>,
    /// How long a call may wait for a hasher before it is refused the same
    /// way.
    //
    // With the hash (~20 ms) and the database, inside the gateway's 3 s
    // deadline (`USER_SERVICE_TIMEOUT`), so a crowd gets a 503 from the
    // service that knows rather than a 504 from a gateway that gave up.
    #[arg(long = "password-hash-wait", env = "PASSWORD_HASH_WAIT", default_value = "2s", value_parser = duration)]
    wait: Duration,
}

impl platform::config::Resolve for HashingArgs {
    fn resolve(&mut self, _: &clap::ArgMatches) -> Result<(), platform::env::ConfigError> {
        Ok(())
    }
}

impl HashingArgs {
    /// The configuration, the machine's defaults filled in.
    pub fn config(&self) -> HashingConfig {
        let concurrency = self
            .concurrency
            .unwrap_or_else(HashingConfig::default_concurrency);
        HashingConfig {
            concurrency,
            queue: self
                .queue
                .unwrap_or_else(|| HashingConfig::default_queue(concurrency)),
            wait: self.wait,
        }
    }
}

/// How many passwords are hashed at once, how many may wait, how long.
#[derive(Debug, Clone)]
pub struct HashingConfig {
    /// Hashes that run at once, each on a core with 19 MiB of memory.
    /// Sign-ups may use half of them (at least one); log-ins all of them.
    pub concurrency: NonZeroUsize,
    /// Hashes that may wait for a hasher, sign-ups and log-ins each; one
    /// more is refused at once.
    pub queue: usize,
    /// How long a hash may wait for a hasher before it is refused.
    pub wait: Duration,
}

impl HashingConfig {
    /// The available cores, at most [`MAX_DEFAULT_PASSWORD_HASH_CONCURRENCY`].
    pub fn default_concurrency() -> NonZeroUsize {
        let cores = std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN);
        cores.min(
            NonZeroUsize::new(MAX_DEFAULT_PASSWORD_HASH_CONCURRENCY).expect("a non-zero constant"),
        )
    }

    /// [`DEFAULT_PASSWORD_HASH_QUEUE_PER_HASHER`] per hasher.
    pub fn default_queue(concurrency: NonZeroUsize) -> usize {
        concurrency
            .get()
            .saturating_mul(DEFAULT_PASSWORD_HASH_QUEUE_PER_HASHER)
    }
}

impl Default for HashingConfig {
    /// The declared defaults, nothing read from the environment.
    fn default() -> Self {
        platform::config::group_defaults::<HashingArgs>(&[]).config()
    }
}

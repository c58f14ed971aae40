//! What the pool reports on `/metrics`: the counters are counted where
//! hashes start and calls are refused ([`super::HashPool::admit`],
//! [`super::Admission::run`]); the gauges are read at each scrape.

use argon2::Block;

use super::{HashPool, Purpose};

impl HashPool {
    /// The pool's gauges on `/metrics`, read at each scrape.
    pub fn sampler(&self) -> platform::admin::Sampler {
        let pool = self.clone();
        platform::admin::Sampler::new(move || {
            let stats = pool.stats();
            let hashers = pool.inner.concurrency.get();
            let buffer_bytes = pool.inner.buffer_blocks * size_of::<Block>();
            async move {
                #[allow(clippy::cast_precision_loss)] // counts far below 2^52
                let gauge = |n: usize| n as f64;
                metrics::gauge!("password_hashes_running").set(gauge(stats.running));
                for (purpose, waiting) in [
                    (Purpose::SignUp, stats.waiting.sign_up),
                    (Purpose::LogIn, stats.waiting.log_in),
                ] {
                    metrics::gauge!("password_hashes_waiting", "purpose" => purpose.as_str())
                        .set(gauge(waiting));
                }
                metrics::gauge!("password_hashers").set(gauge(hashers));
                metrics::gauge!("password_hash_memory_bytes")
                    .set(gauge(stats.buffers.saturating_mul(buffer_bytes)));
            }
        })
    }
}

/// The `# HELP` text of the pool's metrics; called once the recorder is
/// installed.
pub(crate) fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge};
    describe_counter!(
        "password_hashes_total",
        "Password hashes started, by purpose (sign_up, log_in)."
    );
    describe_counter!(
        "password_hash_refusals_total",
        "Calls refused RESOURCE_EXHAUSTED without a hash, by purpose and reason (queue_full: \
         every place in the queue taken; waited: no hasher came free within PASSWORD_HASH_WAIT)."
    );
    describe_gauge!(
        "password_hashes_running",
        "Password hashes running, including those whose calls were cancelled."
    );
    describe_gauge!(
        "password_hashes_waiting",
        "Calls waiting for a password hasher, by purpose."
    );
    describe_gauge!(
        "password_hashers",
        "Password hashes that may run at once (PASSWORD_HASH_CONCURRENCY)."
    );
    describe_gauge!(
        "password_hash_memory_bytes",
        Unit::Bytes,
        "Working memory allocated for password hashing; at most one buffer per hasher."
    );
}

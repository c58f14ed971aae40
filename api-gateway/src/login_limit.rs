//! Log-in attempts, rate limited twice: per client address (one machine
//! guessing many accounts) and per email (many machines guessing one
//! account). GCRA from `governor`: `n` attempts per minute, in bursts of up
//! to `n`. Both are checked before the password is: a refused attempt costs
//! no hash.
//!
//! The client address is the TCP peer's. Behind a reverse proxy that is the
//! proxy's — then limit at the proxy, or teach this a trusted
//! `X-Forwarded-For` (docs/security.md).

use std::{hash::Hash, net::IpAddr, num::NonZeroU32, sync::Arc, time::Duration};

use governor::{
    DefaultKeyedRateLimiter, Quota, RateLimiter,
    clock::{Clock, DefaultClock},
};

/// Keys remembered before stale ones are dropped: bounds memory under a
/// flood of distinct addresses or emails.
const MAX_KEYS: usize = 100_000;
/// user-service's longest email.
const MAX_EMAIL_CHARS: usize = 254;

#[derive(Clone)]
pub struct LoginLimit {
    per_address: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    per_email: Arc<DefaultKeyedRateLimiter<String>>,
}

impl std::fmt::Debug for LoginLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginLimit").finish_non_exhaustive()
    }
}

impl LoginLimit {
    pub fn new(per_address: u32, per_email: u32) -> Self {
        let quota = |n: u32| Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN));
        Self {
            per_address: Arc::new(RateLimiter::keyed(quota(per_address))),
            per_email: Arc::new(RateLimiter::keyed(quota(per_email))),
        }
    }

    /// Counts an attempt; `Err(wait)` when either limit is reached.
    pub fn check(&self, address: IpAddr, email: &str) -> Result<(), Duration> {
        // Case and surrounding spaces do not make another account; past the
        // longest address an account can have (RFC 5321), the rest is cut, so
        // a key is never the 64 KiB a body can carry.
        let email: String = email.trim().chars().take(MAX_EMAIL_CHARS).collect();
        let email = email.to_lowercase();
        check(&self.per_address, &address)?;
        check(&self.per_email, &email)
    }
}

fn check<K: Clone + Hash + Eq>(
    limiter: &DefaultKeyedRateLimiter<K>,
    key: &K,
) -> Result<(), Duration> {
    if limiter.len() > MAX_KEYS {
        limiter.retain_recent();
    }
    limiter
        .check_key(key)
        .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_email_is_limited_whatever_its_case_and_address() {
        let limit = LoginLimit::new(100, 2);
        let (a, b) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        assert!(limit.check(a, "ada@example.com").is_ok());
        assert!(limit.check(b, "ADA@example.com ").is_ok());
        let wait = limit.check(a, "ada@example.com").unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        assert!(
            limit.check(a, "bob@example.com").is_ok(),
            "other emails go on"
        );
    }

    #[test]
    fn an_address_is_limited_across_emails() {
        let limit = LoginLimit::new(2, 100);
        let a = "10.0.0.1".parse().unwrap();
        assert!(limit.check(a, "1@example.com").is_ok());
        assert!(limit.check(a, "2@example.com").is_ok());
        assert!(limit.check(a, "3@example.com").is_err());
        assert!(
            limit
                .check("10.0.0.2".parse().unwrap(), "3@example.com")
                .is_ok()
        );
    }
}

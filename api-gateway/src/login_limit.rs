//! Attempts on the public routes that cost user-service a password hash,
//! rate limited before the hash: log-ins per client address (one machine
//! guessing many accounts) and per account *from that address* (one
//! machine guessing one account), and sign-ups per address. GCRA from
//! `governor`: `n` attempts per minute, in bursts of up to `n`.
//!
//! Not per account from anywhere: a limit that anyone can reach for any
//! email lets anyone lock any customer — or the admin — out (OWASP,
//! "Authentication Cheat Sheet": throttle the account *and* address, never
//! lock the account). Guessing one account from many addresses is bounded
//! by the per-address limit of each, by the cost of every guess (Argon2id,
//! in user-service's bounded hash pool) and by the passwords' minimum
//! length; `login_attempts_total{outcome="refused"}` shows it.
//!
//! The client address is the TCP peer's, or behind the reverse proxies
//! named in `TRUSTED_PROXIES` the one they forwarded for
//! ([`crate::clients`]).

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
    per_account: Arc<DefaultKeyedRateLimiter<(String, IpAddr)>>,
    sign_ups: Arc<DefaultKeyedRateLimiter<IpAddr>>,
}

impl std::fmt::Debug for LoginLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginLimit").finish_non_exhaustive()
    }
}

/// Attempts a minute: [`LoginLimit::new`]'s limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `LOGIN_LIMIT_PER_ADDRESS`.
    pub per_address: u32,
    /// `LOGIN_LIMIT_PER_ACCOUNT_AND_ADDRESS`.
    pub per_account_and_address: u32,
    /// `SIGNUP_LIMIT_PER_ADDRESS`.
    pub sign_ups_per_address: u32,
}

impl LoginLimit {
    pub fn new(limits: Limits) -> Self {
        let quota = |n: u32| Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN));
        Self {
            per_address: Arc::new(RateLimiter::keyed(quota(limits.per_address))),
            per_account: Arc::new(RateLimiter::keyed(quota(limits.per_account_and_address))),
            sign_ups: Arc::new(RateLimiter::keyed(quota(limits.sign_ups_per_address))),
        }
    }

    /// Counts a log-in attempt; `Err(wait)` when either limit is reached.
    pub fn check(&self, address: IpAddr, email: &str) -> Result<(), Duration> {
        // Case and surrounding spaces do not make another account; past the
        // longest address an account can have (RFC 5321), the rest is cut, so
        // a key is never the 64 KiB a body can carry.
        let email: String = email.trim().chars().take(MAX_EMAIL_CHARS).collect();
        let email = email.to_lowercase();
        check(&self.per_address, &address)?;
        check(&self.per_account, &(email, address))
    }

    /// Counts a sign-up; `Err(wait)` past the address's limit.
    pub fn check_sign_up(&self, address: IpAddr) -> Result<(), Duration> {
        check(&self.sign_ups, &address)
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

    fn limit(per_address: u32, per_account_and_address: u32) -> LoginLimit {
        LoginLimit::new(Limits {
            per_address,
            per_account_and_address,
            sign_ups_per_address: 1,
        })
    }

    #[test]
    fn an_account_is_limited_from_one_address_whatever_the_emails_case() {
        let limit = limit(100, 2);
        let a = "10.0.0.1".parse().unwrap();
        assert!(limit.check(a, "ada@example.com").is_ok());
        assert!(limit.check(a, "ADA@example.com ").is_ok());
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
    fn guesses_from_one_address_never_lock_the_account_out_elsewhere() {
        let limit = limit(100, 2);
        let (attacker, ada) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        for _ in 0..2 {
            assert!(limit.check(attacker, "ada@example.com").is_ok());
        }
        assert!(limit.check(attacker, "ada@example.com").is_err());
        assert!(limit.check(ada, "ada@example.com").is_ok());
    }

    #[test]
    fn an_address_is_limited_across_emails() {
        let limit = limit(2, 100);
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

    #[test]
    fn sign_ups_are_limited_per_address() {
        let limit = limit(100, 100);
        let (a, b) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        assert!(limit.check_sign_up(a).is_ok());
        assert!(limit.check_sign_up(a).is_err());
        assert!(limit.check_sign_up(b).is_ok());
    }
}

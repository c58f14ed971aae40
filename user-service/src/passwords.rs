//! Passwords: checked for length, stored only as an Argon2id hash, verified
//! in constant time — and in about the same time whether the account exists
//! or not, so a log-in answer does not tell which emails have accounts.
//!
//! Hashing is deliberately expensive (OWASP's Argon2id parameters: 19 MiB,
//! two passes, one lane; ~20 ms of a core). It runs on the blocking pool,
//! never on the async workers, and at most [`Passwords`]' permit count at
//! once, so a flood of log-ins queues (and meets its deadline) instead of
//! taking every core and 19 MiB per attempt.

use std::sync::Arc;

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};
use password_hash::{SaltString, rand_core::OsRng};
use tokio::sync::Semaphore;

use crate::error::Error;

pub const PASSWORD_MIN_CHARS: usize = 12;
pub const PASSWORD_MAX_CHARS: usize = 128;

/// OWASP Password Storage Cheat Sheet, Argon2id: m = 19 MiB, t = 2, p = 1.
const MEMORY_KIB: u32 = 19 * 1024;
const PASSES: u32 = 2;
const LANES: u32 = 1;

#[derive(Clone)]
pub struct Passwords {
    permits: Arc<Semaphore>,
    /// A hash of a random password: unknown emails are verified against it,
    /// so they cost what a wrong password costs.
    dummy: Arc<str>,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passwords")
            .field("permits", &self.permits.available_permits())
            .finish_non_exhaustive()
    }
}

impl Passwords {
    /// Hashes the dummy password once (tens of milliseconds at start-up).
    pub async fn new() -> Result<Self, Error> {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        let permits = Arc::new(Semaphore::new(cores));
        let random = SaltString::generate(&mut OsRng);
        let dummy = hash_blocking(random.as_str().to_owned()).await?;
        Ok(Self {
            permits,
            dummy: dummy.into(),
        })
    }

    /// The PHC string of a new password, after checking its length.
    pub async fn hash(&self, password: &str) -> Result<String, Error> {
        check(password)?;
        let _permit = self.permits.acquire().await.map_err(|_| Error::Hashing)?;
        hash_blocking(password.to_owned()).await
    }

    /// Whether `password` matches `stored`; with no stored hash (no such
    /// account, or one without a password) the dummy is verified and the
    /// answer is `false`, in the same time.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> Result<bool, Error> {
        let exists = stored.is_some();
        let stored = stored.unwrap_or(&self.dummy).to_owned();
        // Over-long input is hashed too (truncated): its answer must not be
        // faster than a wrong password's.
        let password: String = password.chars().take(PASSWORD_MAX_CHARS).collect();
        let _permit = self.permits.acquire().await.map_err(|_| Error::Hashing)?;
        let matches = tokio::task::spawn_blocking(move || {
            let Ok(parsed) = PasswordHash::new(&stored) else {
                return false;
            };
            argon2()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .await
        .map_err(|_| Error::Hashing)?;
        Ok(exists && matches)
    }
}

/// Length in characters, 12 to 128: long passphrases welcome, the upper
/// bound keeps a hash's input (and an attacker's cost to us) bounded.
pub fn check(password: &str) -> Result<(), Error> {
    let chars = password.chars().count();
    if (PASSWORD_MIN_CHARS..=PASSWORD_MAX_CHARS).contains(&chars) {
        Ok(())
    } else {
        Err(Error::invalid(
            "password",
            format!("must be {PASSWORD_MIN_CHARS} to {PASSWORD_MAX_CHARS} characters, got {chars}"),
        ))
    }
}

fn argon2() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, PASSES, LANES, None).expect("OWASP parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

async fn hash_blocking(password: String) -> Result<String, Error> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        argon2()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|_| Error::Hashing)
    })
    .await
    .map_err(|_| Error::Hashing)?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn verifies_its_own_hashes_and_nothing_else() {
        let passwords = Passwords::new().await.unwrap();
        let hash = passwords.hash("correct horse battery").await.unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(!hash.contains("correct horse"));
        assert!(
            passwords
                .verify("correct horse battery", Some(&hash))
                .await
                .unwrap()
        );
        assert!(
            !passwords
                .verify("correct horse battery!", Some(&hash))
                .await
                .unwrap()
        );
        // No account: false, after the same work.
        assert!(
            !passwords
                .verify("correct horse battery", None)
                .await
                .unwrap()
        );
    }

    #[test]
    fn length_is_counted_in_characters() {
        assert!(check(&"x".repeat(11)).is_err());
        assert!(check(&"é".repeat(12)).is_ok());
        assert!(check(&"x".repeat(128)).is_ok());
        assert!(check(&"x".repeat(129)).is_err());
    }
}

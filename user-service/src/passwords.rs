//! Passwords: checked for length, stored only as an Argon2id hash, verified
//! in constant time — and in about the same time whether the account exists
//! or not, so a log-in answer does not tell which emails have accounts.
//!
//! Hashing is deliberately expensive (OWASP's Argon2id parameters: 19 MiB,
//! two passes, one lane; ~20 ms of a core). It runs on the blocking pool,
//! never on the async workers, and only with a place in the [`HashPool`]:
//! a bounded number at once, sign-ups limited to their share, and a call
//! that cannot get a place soon refused rather than queued past its
//! deadline.
//!
//! Its 19 MiB of working memory is allocated once per hasher and reused.
//! Left to allocate its own, argon2 takes 19 MiB from whichever blocking
//! thread runs it, the allocator keeps what is freed in that thread's arena,
//! and the service's RSS grew to 760 MiB while 1,000 users signed up (`just
//! bench`, measured) — past any container limit. Reused, it stays at
//! `PASSWORD_HASH_CONCURRENCY` × 19 MiB.

use std::sync::Arc;

use argon2::{Algorithm, Argon2, Block, Params, PasswordHash, Version};
use password_hash::{Output, SaltString, rand_core::OsRng};

use crate::{
    config::HashingConfig,
    error::Error,
    hash_pool::{HashPool, Purpose},
};

use contracts::limits::{PASSWORD_MAX_CHARS, PASSWORD_MIN_CHARS};

/// OWASP Password Storage Cheat Sheet, Argon2id: m = 19 MiB, t = 2, p = 1.
const MEMORY_KIB: u32 = 19 * 1024;
const PASSES: u32 = 2;
const LANES: u32 = 1;

#[derive(Clone)]
pub(crate) struct Passwords {
    /// Where every hash and verification runs.
    pool: HashPool,
    /// A hash of a random password: unknown emails are verified against it,
    /// so they cost what a wrong password costs.
    dummy: Arc<str>,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passwords")
            .field("pool", &self.pool.stats())
            .finish_non_exhaustive()
    }
}

impl Passwords {
    /// Hashes the dummy password once (tens of milliseconds at start-up).
    pub(crate) async fn new(config: &HashingConfig) -> Result<Self, Error> {
        let mut passwords = Self {
            pool: HashPool::new(config, params().block_count()),
            dummy: Arc::from(""),
        };
        let random = SaltString::generate(&mut OsRng);
        passwords.dummy = passwords.hash(random.as_str()).await?.into();
        Ok(passwords)
    }

    /// The hashers this runs on (their stats, their gauges).
    pub(crate) fn pool(&self) -> &HashPool {
        &self.pool
    }

    /// The PHC string of a new password, hashed with a sign-up's place in
    /// the pool. Its length is checked before, with the other fields of the
    /// account ([`crate::users::NewUser::parse`]).
    pub(crate) async fn hash(&self, password: &str) -> Result<String, Error> {
        let password = password.to_owned();
        self.pool
            .run(Purpose::SignUp, move |memory| {
                let salt = SaltString::generate(&mut OsRng);
                let mut salt_bytes = [0; 64];
                let salt_bytes = salt.decode_b64(&mut salt_bytes).ok()?;
                let mut output = [0; 32];
                argon2()
                    .hash_password_into_with_memory(
                        password.as_bytes(),
                        salt_bytes,
                        &mut output,
                        memory,
                    )
                    .ok()?;
                let phc = PasswordHash {
                    algorithm: Algorithm::Argon2id.ident(),
                    version: Some(Version::V0x13.into()),
                    params: params().try_into().ok()?,
                    salt: Some(salt.as_salt()),
                    hash: Some(Output::new(&output).ok()?),
                };
                Some(phc.to_string())
            })
            .await?
            .ok_or(Error::Hashing)
    }

    /// Whether `password` matches `stored`, verified with a log-in's place
    /// in the pool; with no stored hash (no such account, or one without a
    /// password) the dummy is verified and the answer is `false`, in the
    /// same time and with the same place (or the same refusal).
    pub(crate) async fn verify(&self, password: &str, stored: Option<&str>) -> Result<bool, Error> {
        let exists = stored.is_some();
        let stored = stored.unwrap_or(&self.dummy).to_owned();
        // Over-long input is hashed too (truncated): its answer must not be
        // faster than a wrong password's.
        let password: String = password.chars().take(PASSWORD_MAX_CHARS).collect();
        let matches = self
            .pool
            .run(Purpose::LogIn, move |memory| {
                matches(&password, &stored, memory)
            })
            .await?;
        Ok(exists && matches)
    }
}

/// Whether `password` hashes to the PHC string `stored`, compared in
/// constant time. A stored hash of other parameters (older, or stronger)
/// is verified with its own, in memory of its own.
fn matches(password: &str, stored: &str, memory: &mut [Block]) -> bool {
    let Ok(phc) = PasswordHash::new(stored) else {
        return false;
    };
    if phc.algorithm != Algorithm::Argon2id.ident() {
        return false;
    }
    let (Some(salt), Some(expected)) = (phc.salt, phc.hash) else {
        return false;
    };
    let Ok(params) = Params::try_from(&phc) else {
        return false;
    };
    let mut salt_bytes = [0; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let hasher = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut output = vec![0; expected.len()];
    let hashed = if params.block_count() == memory.len() {
        hasher.hash_password_into_with_memory(password.as_bytes(), salt, &mut output, memory)
    } else {
        hasher.hash_password_into(password.as_bytes(), salt, &mut output)
    };
    hashed.is_ok() && Output::new(&output).is_ok_and(|output| output == expected)
}

/// What is wrong with a new password, if anything. Length in characters, 12
/// to 128: long passphrases welcome, the upper bound keeps a hash's input
/// (and an attacker's cost to us) bounded.
pub(crate) fn check(password: &str) -> Option<String> {
    let chars = password.chars().count();
    (!(PASSWORD_MIN_CHARS..=PASSWORD_MAX_CHARS).contains(&chars)).then(|| {
        format!("must be {PASSWORD_MIN_CHARS} to {PASSWORD_MAX_CHARS} characters, got {chars}")
    })
}

fn params() -> Params {
    Params::new(MEMORY_KIB, PASSES, LANES, None).expect("OWASP parameters are valid")
}

fn argon2() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn verifies_its_own_hashes_and_nothing_else() {
        let passwords = Passwords::new(&HashingConfig::default()).await.unwrap();
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

    #[tokio::test]
    async fn reads_standard_phc_strings_of_other_parameters() {
        use argon2::PasswordHasher;
        // What another Argon2id implementation (or an older version of this
        // one) stored: still verified, with its own parameters.
        let salt = SaltString::generate(&mut OsRng);
        let weaker = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8 * 1024, 1, 1, None).unwrap(),
        );
        let stored = weaker
            .hash_password(b"correct horse battery", &salt)
            .unwrap()
            .to_string();
        let passwords = Passwords::new(&HashingConfig::default()).await.unwrap();
        assert!(
            passwords
                .verify("correct horse battery", Some(&stored))
                .await
                .unwrap()
        );
        assert!(
            !passwords
                .verify("correct horse batterY", Some(&stored))
                .await
                .unwrap()
        );
        // And what this one stores, a standard verifier reads.
        let ours = passwords.hash("correct horse battery").await.unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            argon2::PasswordVerifier::verify_password(&argon2(), b"correct horse battery", &parsed)
                .is_ok()
        );
    }

    #[test]
    fn length_is_counted_in_characters() {
        assert!(check(&"x".repeat(11)).is_some());
        assert!(check(&"é".repeat(12)).is_none());
        assert!(check(&"x".repeat(128)).is_none());
        assert!(check(&"x".repeat(129)).is_some());
    }
}

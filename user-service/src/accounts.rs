//! Accounts: logging in with an email and a password, and the first admin.

use anyhow::Context;
use secrecy::ExposeSecret;
use sqlx::PgPool;

use crate::{
    config::AdminAccount,
    error::Error,
    passwords::Passwords,
    users::{self, NewUser},
};

pub(crate) use crate::users::Account;

/// The account `email` and `password` log in to. A wrong password and an
/// unknown email are one error, reached after the same work: the password
/// is verified against a dummy hash when there is no account, so the
/// answer's time tells nothing either.
pub(crate) async fn log_in(
    pool: &PgPool,
    passwords: &Passwords,
    email: &str,
    password: &str,
) -> Result<Account, Error> {
    let account = users::account(pool, email).await?;
    let stored = account.as_ref().and_then(|a| a.password_hash.as_deref());
    let valid = passwords.verify(password, stored).await?;
    account
        .filter(|_| valid)
        .ok_or(Error::Unauthenticated("wrong email or password"))
}

/// Creates the first admin from `ADMIN_EMAIL` / `ADMIN_PASSWORD`, or makes
/// that account an admin with that password: every start, idempotently, so
/// changing the password in the environment and restarting resets it.
pub(crate) async fn bootstrap_admin(
    pool: &PgPool,
    passwords: &Passwords,
    admin: &AdminAccount,
) -> anyhow::Result<()> {
    let password = admin.password.expose_secret();
    NewUser::parse("Administrator", &admin.email, password)
        .context("ADMIN_EMAIL / ADMIN_PASSWORD")?;
    let hash = passwords.hash(password).await?;
    let id = users::upsert_admin(pool, &admin.email, &hash)
        .await
        .context("creating the admin account")?;
    tracing::info!(user_id = %id, "admin account ready");
    // A new ADMIN_EMAIL adds an admin; it never demotes the previous one,
    // which an operator may not expect: say so at every start.
    let others = users::other_admins(pool, id)
        .await
        .context("counting admin accounts")?;
    if others > 0 {
        tracing::warn!(
            others,
            "other accounts are admins too: ADMIN_EMAIL only adds one; demote a previous admin \
             with UPDATE users SET role = 'customer' WHERE lower(email) = lower('…')"
        );
    }
    Ok(())
}

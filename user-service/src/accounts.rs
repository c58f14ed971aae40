//! Accounts: logging in with an email and a password, and the first admin.

use anyhow::Context;
use contracts::identity::Role;
use secrecy::ExposeSecret;
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use crate::{config::AdminAccount, error::Error, passwords::Passwords, users::NewUser};

/// What a log-in needs of an account.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Account {
    pub id: Uuid,
    #[sqlx(try_from = "String")]
    pub role: Role,
    /// `None` for users created before accounts had passwords.
    pub password_hash: Option<String>,
}

/// The account `email` and `password` log in to. A wrong password and an
/// unknown email are one error, reached after the same work: the password
/// is verified against a dummy hash when there is no account, so the
/// answer's time tells nothing either.
pub async fn log_in(
    pool: &PgPool,
    passwords: &Passwords,
    email: &str,
    password: &str,
) -> Result<Account, Error> {
    let account = find(pool, email).await?;
    let stored = account.as_ref().and_then(|a| a.password_hash.as_deref());
    let valid = passwords.verify(password, stored).await?;
    account
        .filter(|_| valid)
        .ok_or(Error::Unauthenticated("wrong email or password"))
}

/// The account an email logs in to, if any (emails match whatever their
/// case, like the unique index).
pub async fn find(db: impl PgExecutor<'_>, email: &str) -> Result<Option<Account>, Error> {
    Ok(sqlx::query_as::<_, Account>(
        "SELECT id, role, password_hash FROM users WHERE lower(email) = lower($1)",
    )
    .bind(email.trim())
    .fetch_optional(db)
    .await?)
}

/// Creates the first admin from `ADMIN_EMAIL` / `ADMIN_PASSWORD`, or makes
/// that account an admin with that password: every start, idempotently, so
/// changing the password in the environment and restarting resets it.
pub async fn bootstrap_admin(
    pool: &PgPool,
    passwords: &Passwords,
    admin: &AdminAccount,
) -> anyhow::Result<()> {
    let password = admin.password.expose_secret();
    NewUser::parse("Administrator", &admin.email, password)
        .context("ADMIN_EMAIL / ADMIN_PASSWORD")?;
    let hash = passwords.hash(password).await?;
    let id = upsert_admin(pool, &admin.email, &hash)
        .await
        .context("creating the admin account")?;
    tracing::info!(user_id = %id, "admin account ready");
    // A new ADMIN_EMAIL adds an admin; it never demotes the previous one,
    // which an operator may not expect: say so at every start.
    let others: i64 =
        sqlx::query_scalar("SELECT count(*) FROM users WHERE role = 'admin' AND id <> $1")
            .bind(id)
            .fetch_one(pool)
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

/// Makes the account of `email` an admin with this password hash, creating
/// it when missing. Returns its id.
async fn upsert_admin(
    db: impl PgExecutor<'_>,
    email: &str,
    password_hash: &str,
) -> Result<Uuid, Error> {
    Ok(sqlx::query_scalar(
        r#"
        INSERT INTO users (id, name, email, password_hash, role)
        VALUES ($1, 'Administrator', $2, $3, 'admin')
        ON CONFLICT ((lower(email)))
        DO UPDATE SET password_hash = EXCLUDED.password_hash, role = 'admin'
        RETURNING id
        "#,
    )
    .bind(Uuid::now_v7())
    .bind(email.trim())
    .bind(password_hash)
    .fetch_one(db)
    .await?)
}

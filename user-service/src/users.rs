//! Users: validation of new users, and the `users` table — every statement
//! on it but the balance's, which moves with the credit ledger
//! ([`crate::credit`]). Log-ins ([`crate::accounts`]) read their accounts
//! here.
//!
//! Queries take `impl PgExecutor` so they run on the pool or inside a
//! transaction alike; `query!` checks each against the migrations at
//! compile time.

use chrono::{DateTime, Utc};
use contracts::{identity::Role, user as pb};
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::error::{Error, FieldViolation};

use contracts::limits::{EMAIL_MAX_CHARS, MAX_OFFSET, MAX_PAGE_SIZE, NAME_MAX_CHARS};

pub(crate) const DEFAULT_PAGE_SIZE: u32 = 50;

/// A stored user.
#[derive(Debug, Clone)]
pub struct User {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    pub created_at: DateTime<Utc>,
    pub balance_cents: i64,
    pub role: Role,
}

/// What a log-in needs of an account.
#[derive(Debug, Clone)]
pub(crate) struct Account {
    pub id: Uuid,
    pub role: Role,
    /// `None` for users created before accounts had passwords.
    pub password_hash: Option<String>,
}

impl From<User> for pb::User {
    fn from(u: User) -> Self {
        Self {
            id: u.id.to_string(),
            name: u.name,
            email: u.email,
            created_at: contracts::timestamp::format(&u.created_at),
            balance_cents: u.balance_cents,
            role: u.role.as_str().to_owned(),
        }
    }
}

/// A user that passed validation and can be inserted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NewUser {
    pub name: String,
    pub email: String,
}

impl NewUser {
    /// Trims name and email and checks them and the password's length,
    /// reporting every bad field at once so a client can fix its request in
    /// one round trip. (The password is not trimmed: every character counts.)
    pub(crate) fn parse(name: &str, email: &str, password: &str) -> Result<Self, Error> {
        let name = name.trim();
        let email = email.trim();
        let violations: Vec<FieldViolation> = [
            check_name(name).map(|d| ("name", d)),
            check_email(email).map(|d| ("email", d)),
            crate::passwords::check(password).map(|d| ("password", d)),
        ]
        .into_iter()
        .flatten()
        .map(|(field, description)| FieldViolation { field, description })
        .collect();
        if !violations.is_empty() {
            return Err(Error::InvalidArgument(violations));
        }
        Ok(Self {
            name: name.to_owned(),
            email: email.to_owned(),
        })
    }
}

/// Parses a user id, naming the field when it is not a UUID.
pub(crate) fn parse_id(id: &str) -> Result<Uuid, Error> {
    Uuid::parse_str(id.trim()).map_err(|_| Error::invalid("id", format!("{id:?} is not a UUID")))
}

/// Whether an account has this email, whatever its case (as the unique
/// index compares). A sign-up asks before hashing, so a taken email costs
/// one indexed read, not a hash; [`insert`] still decides between two
/// sign-ups racing for one email.
pub(crate) async fn email_taken(db: impl PgExecutor<'_>, email: &str) -> Result<bool, Error> {
    Ok(sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM users WHERE lower(email) = lower($1)) AS "taken!""#,
        email,
    )
    .fetch_one(db)
    .await?)
}

/// Inserts a customer with the hash of their password. A taken email is
/// detected by the unique index, atomically, and reported as
/// [`Error::EmailTaken`].
pub(crate) async fn insert(
    db: impl PgExecutor<'_>,
    new: NewUser,
    password_hash: &str,
) -> Result<User, Error> {
    sqlx::query_as!(
        User,
        r#"
        INSERT INTO users (id, name, email, password_hash)
        VALUES ($1, $2, $3, $4)
        RETURNING id, name, email, created_at, balance_cents, role AS "role: Role"
        "#,
        Uuid::now_v7(),
        new.name,
        new.email,
        password_hash,
    )
    .fetch_one(db)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(db_err) if db_err.constraint() == Some("users_email_key") => {
            Error::EmailTaken(new.email.clone())
        }
        _ => e.into(),
    })
}

pub(crate) async fn find(db: impl PgExecutor<'_>, id: Uuid) -> Result<User, Error> {
    sqlx::query_as!(
        User,
        r#"
        SELECT id, name, email, created_at, balance_cents, role AS "role: Role"
        FROM users
        WHERE id = $1
        "#,
        id,
    )
    .fetch_optional(db)
    .await?
    .ok_or(Error::NotFound(id))
}

/// One page of users in creation order. `limit` 0 means the default page
/// size; larger limits are capped rather than rejected.
pub(crate) async fn list(
    db: impl PgExecutor<'_>,
    limit: u32,
    offset: u64,
) -> Result<Vec<User>, Error> {
    let limit = match limit {
        0 => DEFAULT_PAGE_SIZE,
        n => n.min(MAX_PAGE_SIZE),
    };
    if offset > MAX_OFFSET {
        return Err(Error::invalid(
            "offset",
            format!("must be at most {MAX_OFFSET}"),
        ));
    }
    let offset = i64::try_from(offset).expect("bounded above");
    Ok(sqlx::query_as!(
        User,
        r#"
        SELECT id, name, email, created_at, balance_cents, role AS "role: Role"
        FROM users
        ORDER BY id
        LIMIT $1 OFFSET $2
        "#,
        i64::from(limit),
        offset,
    )
    .fetch_all(db)
    .await?)
}

/// The account an email logs in to, if any (emails match whatever their
/// case, like the unique index).
pub(crate) async fn account(
    db: impl PgExecutor<'_>,
    email: &str,
) -> Result<Option<Account>, Error> {
    Ok(sqlx::query_as!(
        Account,
        r#"SELECT id, role AS "role: Role", password_hash FROM users WHERE lower(email) = lower($1)"#,
        email.trim(),
    )
    .fetch_optional(db)
    .await?)
}

/// Makes the account of `email` an admin with this password hash, creating
/// it when missing. Returns its id.
pub(crate) async fn upsert_admin(
    db: impl PgExecutor<'_>,
    email: &str,
    password_hash: &str,
) -> Result<Uuid, Error> {
    Ok(sqlx::query_scalar!(
        r#"
        INSERT INTO users (id, name, email, password_hash, role)
        VALUES ($1, 'Administrator', $2, $3, $4)
        ON CONFLICT ((lower(email)))
        DO UPDATE SET password_hash = EXCLUDED.password_hash, role = EXCLUDED.role
        RETURNING id
        "#,
        Uuid::now_v7(),
        email.trim(),
        password_hash,
        Role::Admin as _,
    )
    .fetch_one(db)
    .await?)
}

/// How many admins there are besides the account `id`.
pub(crate) async fn other_admins(db: impl PgExecutor<'_>, id: Uuid) -> Result<i64, Error> {
    Ok(sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM users WHERE role = $1 AND id <> $2"#,
        Role::Admin as _,
        id,
    )
    .fetch_one(db)
    .await?)
}

fn check_name(name: &str) -> Option<String> {
    let chars = name.chars().count();
    if chars == 0 {
        Some("must not be empty".into())
    } else if chars > NAME_MAX_CHARS {
        Some(format!(
            "must be at most {NAME_MAX_CHARS} characters, got {chars}"
        ))
    } else if name.chars().any(char::is_control) {
        Some("must not contain control characters".into())
    } else {
        None
    }
}

/// Deliberately simple: one `@`, a non-empty local part, a dotted domain, no
/// whitespace. Full RFC 5322 parsing accepts addresses no mail server takes;
/// the real proof of an address is a confirmation email, not a regex.
fn check_email(email: &str) -> Option<String> {
    let chars = email.chars().count();
    if chars == 0 {
        return Some("must not be empty".into());
    }
    if chars > EMAIL_MAX_CHARS {
        return Some(format!(
            "must be at most {EMAIL_MAX_CHARS} characters, got {chars}"
        ));
    }
    let valid = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && local.len() <= 64
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    };
    (!valid).then(|| format!("{email:?} is not an email address like name@example.com"))
}

#[cfg(test)]
mod tests;

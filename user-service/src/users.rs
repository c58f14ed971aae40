//! Users: validation of new users, and their storage in Postgres.
//!
//! Queries take `impl PgExecutor` so they run on the pool or inside a
//! transaction alike.

use chrono::{DateTime, Utc};
use contracts::{identity::Role, user as pb};
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::error::{Error, FieldViolation};

use contracts::limits::{EMAIL_MAX_CHARS, MAX_OFFSET, MAX_PAGE_SIZE, NAME_MAX_CHARS};

pub const DEFAULT_PAGE_SIZE: u32 = 50;

/// A stored user.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct User {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    pub created_at: DateTime<Utc>,
    pub balance_cents: i64,
    #[sqlx(try_from = "String")]
    pub role: Role,
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
pub struct NewUser {
    pub name: String,
    pub email: String,
}

impl NewUser {
    /// Trims name and email and checks them and the password's length,
    /// reporting every bad field at once so a client can fix its request in
    /// one round trip. (The password is not trimmed: every character counts.)
    pub fn parse(name: &str, email: &str, password: &str) -> Result<Self, Error> {
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
pub fn parse_id(id: &str) -> Result<Uuid, Error> {
    Uuid::parse_str(id.trim()).map_err(|_| Error::invalid("id", format!("{id:?} is not a UUID")))
}

/// Whether an account has this email, whatever its case (as the unique
/// index compares). A sign-up asks before hashing, so a taken email costs
/// one indexed read, not a hash; [`insert`] still decides between two
/// sign-ups racing for one email.
pub async fn email_taken(db: impl PgExecutor<'_>, email: &str) -> Result<bool, Error> {
    Ok(sqlx::query_scalar(
        r#"
        SELECT EXISTS (SELECT 1 FROM users WHERE lower(email) = lower($1))
        "#,
    )
    .bind(email)
    .fetch_one(db)
    .await?)
}

/// Inserts a customer with the hash of their password. A taken email is
/// detected by the unique index, atomically, and reported as
/// [`Error::EmailTaken`].
pub async fn insert(
    db: impl PgExecutor<'_>,
    new: NewUser,
    password_hash: &str,
) -> Result<User, Error> {
    sqlx::query_as::<_, User>(
        r#"
        INSERT INTO users (id, name, email, password_hash)
        VALUES ($1, $2, $3, $4)
        RETURNING id, name, email, created_at, balance_cents, role
        "#,
    )
    .bind(Uuid::now_v7())
    .bind(&new.name)
    .bind(&new.email)
    .bind(password_hash)
    .fetch_one(db)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(db_err) if db_err.constraint() == Some("users_email_key") => {
            Error::EmailTaken(new.email.clone())
        }
        _ => e.into(),
    })
}

pub async fn find(db: impl PgExecutor<'_>, id: Uuid) -> Result<User, Error> {
    sqlx::query_as::<_, User>(
        r#"
        SELECT id, name, email, created_at, balance_cents, role
        FROM users
        WHERE id = $1
        "#,
    )
    .bind(id)
    .fetch_optional(db)
    .await?
    .ok_or(Error::NotFound(id))
}

/// One page of users in creation order. `limit` 0 means the default page
/// size; larger limits are capped rather than rejected.
pub async fn list(db: impl PgExecutor<'_>, limit: u32, offset: u64) -> Result<Vec<User>, Error> {
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
    Ok(sqlx::query_as::<_, User>(
        r#"
        SELECT id, name, email, created_at, balance_cents, role
        FROM users
        ORDER BY id
        LIMIT $1 OFFSET $2
        "#,
    )
    .bind(i64::from(limit))
    .bind(offset)
    .fetch_all(db)
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
mod tests {
    use super::*;

    const PASSWORD: &str = "correct horse battery";

    fn fields(err: Error) -> Vec<&'static str> {
        match err {
            Error::InvalidArgument(v) => v.into_iter().map(|v| v.field).collect(),
            other => panic!("expected InvalidArgument, got {other:?}"),
        }
    }

    #[test]
    fn trims_valid_input() {
        let user = NewUser::parse("  Ada Lovelace ", " ada@example.com ", PASSWORD).unwrap();
        assert_eq!(user.name, "Ada Lovelace");
        assert_eq!(user.email, "ada@example.com");
    }

    #[test]
    fn reports_every_bad_field_at_once() {
        assert_eq!(
            fields(NewUser::parse(" ", "nope", "short").unwrap_err()),
            ["name", "email", "password"]
        );
    }

    #[test]
    fn rejects_oversized_and_control_character_names() {
        let long = "x".repeat(NAME_MAX_CHARS + 1);
        assert_eq!(
            fields(NewUser::parse(&long, "a@b.co", PASSWORD).unwrap_err()),
            ["name"]
        );
        assert_eq!(
            fields(NewUser::parse("a\u{0}b", "a@b.co", PASSWORD).unwrap_err()),
            ["name"]
        );
        // Multi-byte characters count as one each.
        assert!(NewUser::parse(&"é".repeat(NAME_MAX_CHARS), "a@b.co", PASSWORD).is_ok());
    }

    #[test]
    fn rejects_malformed_emails() {
        for bad in [
            "plain",
            "@example.com",
            "a@b",
            "a@@b.co",
            "a b@c.co",
            "a@.co",
            "a@co.",
        ] {
            assert_eq!(
                fields(NewUser::parse("Ada", bad, PASSWORD).unwrap_err()),
                ["email"],
                "{bad}"
            );
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(
            fields(NewUser::parse("Ada", &long, PASSWORD).unwrap_err()),
            ["email"]
        );
    }

    #[test]
    fn parses_ids_or_names_the_field() {
        assert!(parse_id("0191e5f0-7a1e-7cc3-8f0e-8d1f4a2b3c4d").is_ok());
        assert_eq!(fields(parse_id("42").unwrap_err()), ["id"]);
    }
}

//! Typed configuration from environment variables.
//!
//! Each service has one `Config` struct built with these helpers. Defaults are
//! named constants in the service and work against Postgres and RabbitMQ on
//! localhost; a value that does not parse stops start-up with an error that
//! names the variable, the value and what was expected.

use std::{str::FromStr, time::Duration};

use secrecy::SecretString;

/// A configuration variable that is set but unusable.
#[derive(Debug, thiserror::Error)]
#[error("invalid value {value:?} for environment variable {name}: {reason}")]
pub struct ConfigError {
    pub name: String,
    pub value: String,
    pub reason: String,
}

/// Reads `name` and parses it, or returns `default` when it is unset or empty.
pub fn parse_or<T>(name: &str, default: T) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    parse_value(name, raw(name), default)
}

fn parse_value<T>(name: &str, raw: Option<String>, default: T) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    match raw {
        None => Ok(default),
        Some(value) => value.parse().map_err(|e: T::Err| ConfigError {
            name: name.to_owned(),
            reason: e.to_string(),
            value,
        }),
    }
}

/// Reads `name` as a string, or returns `default` when it is unset or empty.
pub fn string_or(name: &str, default: &str) -> String {
    raw(name).unwrap_or_else(|| default.to_owned())
}

/// Reads `name`, `None` when it is unset or empty.
pub fn optional(name: &str) -> Option<String> {
    raw(name)
}

/// A secret: the value of `name`, or else the contents of the file named by
/// `{name}_FILE` (how Docker and Kubernetes mount secrets). `None` when
/// neither is set; an unreadable file is an error that names the variable,
/// never the value.
pub fn secret(name: &str) -> Result<Option<secrecy::SecretString>, ConfigError> {
    if let Some(value) = raw(name) {
        return Ok(Some(value.into()));
    }
    let file_var = format!("{name}_FILE");
    let Some(path) = raw(&file_var) else {
        return Ok(None);
    };
    std::fs::read_to_string(&path)
        .map(|value| Some(value.into()))
        .map_err(|e| invalid(&file_var, &path, format!("cannot read the file: {e}")))
}

/// The broker every service uses unless `AMQP_URL` names another: the
/// local RabbitMQ `just run` expects, as its default account.
pub const DEFAULT_AMQP_URL: &str = "amqp://guest:guest@localhost:5672/%2f";

/// `AMQP_URL`, or [`DEFAULT_AMQP_URL`]: an `amqp://` or `amqps://` URL, held
/// as a secret (it carries the broker password), so neither a `Debug` print
/// of a config nor the error for a bad value shows it.
pub fn amqp_url() -> Result<SecretString, ConfigError> {
    url_or("AMQP_URL", DEFAULT_AMQP_URL, ["amqp://", "amqps://"])
}

/// The NATS server every service uses unless `NATS_URL` names another.
pub const DEFAULT_NATS_URL: &str = "nats://127.0.0.1:4222";

/// `NATS_URL`, or [`DEFAULT_NATS_URL`]: a `nats://` or `tls://` URL, held as
/// a secret like `AMQP_URL` (it may carry a password).
pub fn nats_url() -> Result<SecretString, ConfigError> {
    url_or("NATS_URL", DEFAULT_NATS_URL, ["nats://", "tls://"])
}

/// The Redis server every service uses unless `REDIS_URL` names another.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

/// `REDIS_URL`, or [`DEFAULT_REDIS_URL`]: a `redis://` or `rediss://` (TLS)
/// URL, held as a secret (it may carry a password).
pub fn redis_url() -> Result<SecretString, ConfigError> {
    url_or("REDIS_URL", DEFAULT_REDIS_URL, ["redis://", "rediss://"])
}

/// `name`, or `default`: a URL starting with one of `schemes`. Held as a
/// secret, as it may carry a password: the error for a bad value does not
/// show it either. (The brokers' URLs above, `DATABASE_URL` in `db`.)
pub fn url_or(name: &str, default: &str, schemes: [&str; 2]) -> Result<SecretString, ConfigError> {
    let url = string_or(name, default);
    if !schemes.iter().any(|scheme| url.starts_with(scheme)) {
        let reason = format!("expected a URL starting with {}", schemes.join(" or "));
        return Err(invalid(name, "<redacted>", reason));
    }
    Ok(url.into())
}

/// Reads `name` as a human-readable duration (`"3s"`, `"250ms"`, `"1m 30s"`).
pub fn duration_or(name: &str, default: Duration) -> Result<Duration, ConfigError> {
    duration_value(name, raw(name), default)
}

fn duration_value(
    name: &str,
    raw: Option<String>,
    default: Duration,
) -> Result<Duration, ConfigError> {
    match raw {
        None => Ok(default),
        Some(value) => humantime::parse_duration(&value).map_err(|e| ConfigError {
            name: name.to_owned(),
            reason: format!("{e} (expected a duration such as \"3s\" or \"250ms\")"),
            value,
        }),
    }
}

/// Builds a [`ConfigError`] for checks beyond parsing (ranges, URL schemes).
pub fn invalid(name: &str, value: impl ToString, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        name: name.to_owned(),
        value: value.to_string(),
        reason: reason.into(),
    }
}

fn raw(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_means_default_and_a_bad_value_names_the_variable() {
        assert_eq!(parse_value("PORT", None, 7u16).unwrap(), 7);
        assert_eq!(parse_value("PORT", Some("8".into()), 7u16).unwrap(), 8);

        let err = parse_value("PORT", Some("eighty".into()), 7u16).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("PORT") && message.contains("\"eighty\""),
            "{message}"
        );
    }

    #[test]
    fn durations_are_human_readable() {
        let parsed = duration_value("T", Some("1m 30s".into()), Duration::ZERO).unwrap();
        assert_eq!(parsed, Duration::from_secs(90));

        let err = duration_value("T", Some("soon".into()), Duration::ZERO).unwrap_err();
        assert!(err.to_string().contains("expected a duration"), "{err}");
    }
}

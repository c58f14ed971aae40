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
/// `{name}_FILE` (how Docker and Kubernetes mount secrets), without the line
/// ending that ends it — as the official images read their `_FILE`s, so
/// `echo password > file` works. `None` when neither is set; an unreadable
/// file is an error that names the variable, never the value.
pub fn secret(name: &str) -> Result<Option<secrecy::SecretString>, ConfigError> {
    if let Some(value) = raw(name) {
        return Ok(Some(value.into()));
    }
    let file_var = format!("{name}_FILE");
    let Some(path) = raw(&file_var) else {
        return Ok(None);
    };
    read_secret_file(&file_var, &path).map(|value| Some(value.into()))
}

/// The contents of the file at `path` (named by `file_var`), without the
/// line ending that ends it.
fn read_secret_file(file_var: &str, path: &str) -> Result<String, ConfigError> {
    let mut value = std::fs::read_to_string(path)
        .map_err(|e| invalid(file_var, path, format!("cannot read the file: {e}")))?;
    let end = value.trim_end_matches(['\r', '\n']).len();
    value.truncate(end);
    Ok(value)
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

/// `name` (e.g. `AMQP_URL`), or the file `{name}_FILE` names ([`secret`]),
/// or `default`: a URL starting with one of `schemes` — with the password
/// in the file `{prefix}_PASSWORD_FILE` names put in (`AMQP_PASSWORD_FILE`
/// for `AMQP_URL`), when it is set. So compose keeps the URL in plain sight
/// and the password in a secret file, and the password needs no
/// percent-encoding by hand. (A file only: a plain `DATABASE_PASSWORD` is
/// too common a name on hosting platforms to be read by surprise.) Held as a secret, as it may
/// carry a password: the error for a bad value does not show it either.
/// (The brokers' URLs above, `DATABASE_URL` in `db`.)
pub fn url_or(name: &str, default: &str, schemes: [&str; 2]) -> Result<SecretString, ConfigError> {
    use secrecy::ExposeSecret;
    let url = secret(name)?.unwrap_or_else(|| default.into());
    let password_var = format!(
        "{}_PASSWORD_FILE",
        name.strip_suffix("_URL").unwrap_or(name)
    );
    let password = match raw(&password_var) {
        Some(path) => Some(read_secret_file(&password_var, &path)?.into()),
        None => None,
    };
    with_password(name, url.expose_secret(), &password_var, password, schemes)
}

/// `url`, checked against `schemes`, with `password` (from `password_var`)
/// put in when there is one.
fn with_password(
    name: &str,
    url: &str,
    password_var: &str,
    password: Option<SecretString>,
    schemes: [&str; 2],
) -> Result<SecretString, ConfigError> {
    use secrecy::ExposeSecret;
    if !schemes.iter().any(|scheme| url.starts_with(scheme)) {
        let reason = format!("expected a URL starting with {}", schemes.join(" or "));
        return Err(invalid(name, "<redacted>", reason));
    }
    let Some(password) = password else {
        return Ok(url.into());
    };
    let mut parsed =
        url::Url::parse(url).map_err(|e| invalid(name, "<redacted>", format!("not a URL: {e}")))?;
    if parsed.password().is_some() {
        let reason = format!("has a password, and {password_var} names another: keep one");
        return Err(invalid(name, "<redacted>", reason));
    }
    if parsed.username().is_empty() {
        let reason = format!("names no user for the password of {password_var}");
        return Err(invalid(name, "<redacted>", reason));
    }
    parsed
        .set_password(Some(password.expose_secret()))
        .map_err(|()| invalid(name, "<redacted>", "cannot carry a password"))?;
    Ok(String::from(parsed).into())
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
    fn a_secret_file_is_read_without_its_final_line_ending() {
        let path = std::env::temp_dir().join(format!("secret-{}", std::process::id()));
        for (written, read) in [
            ("pw\n", "pw"),
            ("pw\r\n", "pw"),
            ("pw", "pw"),
            ("a\nb\n", "a\nb"),
        ] {
            std::fs::write(&path, written).unwrap();
            let value = read_secret_file("X_FILE", path.to_str().unwrap()).unwrap();
            assert_eq!(value, read, "{written:?}");
        }
        std::fs::remove_file(&path).unwrap();
        let missing = read_secret_file("X_FILE", "/nonexistent/secret").unwrap_err();
        assert!(missing.to_string().contains("X_FILE"), "{missing}");
    }

    #[test]
    fn a_password_from_its_own_variable_is_put_into_the_url() {
        use secrecy::ExposeSecret;
        let amqp = ["amqp://", "amqps://"];
        let url = |u: &str, p: Option<&str>| {
            with_password("AMQP_URL", u, "AMQP_PASSWORD_FILE", p.map(Into::into), amqp)
        };
        let joined = url("amqp://gw@rabbitmq:5672/%2f", Some("pa ss/@")).unwrap();
        assert_eq!(
            joined.expose_secret(),
            "amqp://gw:pa%20ss%2F%40@rabbitmq:5672/%2f"
        );
        let untouched = url("amqp://gw:pw@rabbitmq:5672/%2f", None).unwrap();
        assert_eq!(untouched.expose_secret(), "amqp://gw:pw@rabbitmq:5672/%2f");
        for (bad, why) in [
            ("amqp://gw:pw@rabbitmq/%2f", "keep one"),
            ("amqp://rabbitmq/%2f", "no user"),
            ("http://gw@rabbitmq/", "expected a URL"),
        ] {
            let err = url(bad, Some("secret-value")).unwrap_err().to_string();
            assert!(err.contains(why) && !err.contains("secret-value"), "{err}");
        }
    }

    #[test]
    fn durations_are_human_readable() {
        let parsed = duration_value("T", Some("1m 30s".into()), Duration::ZERO).unwrap();
        assert_eq!(parsed, Duration::from_secs(90));

        let err = duration_value("T", Some("soon".into()), Duration::ZERO).unwrap_err();
        assert!(err.to_string().contains("expected a duration"), "{err}");
    }
}

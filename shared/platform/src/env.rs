//! The configuration error, and what the services' declarations
//! (`crate::config`) share with the few readers outside them: a secret
//! file's contents, a password put into a URL, and `parse_or` /
//! `duration_or` for the bench's own variables (bench/, not a service).

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

/// The contents of the file at `path` (named by `file_var`), without the
/// line ending that ends it.
pub fn read_secret_file(file_var: &str, path: &str) -> Result<String, ConfigError> {
    let mut value = std::fs::read_to_string(path)
        .map_err(|e| invalid(file_var, path, format!("cannot read the file: {e}")))?;
    let end = value.trim_end_matches(['\r', '\n']).len();
    value.truncate(end);
    Ok(value)
}

/// `url`, checked against `schemes`, with `password` (from `password_var`)
/// put in when there is one.
pub fn with_password(
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
        Some(value) => duration(&value).map_err(|reason| ConfigError {
            name: name.to_owned(),
            reason,
            value,
        }),
    }
}

/// A human-readable duration: `250ms`, `3s`, `1m 30s`
/// (`humantime`, the format every duration here has always taken).
pub fn duration(value: &str) -> Result<Duration, String> {
    humantime::parse_duration(value.trim())
        .map_err(|e| format!("{e} (expected a duration such as \"3s\" or \"250ms\")"))
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

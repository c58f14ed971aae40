//! The brokers' URLs, each with its `_FILE` (the whole URL from a file)
//! and `_PASSWORD_FILE` (the password apart, put in percent-encoded): the
//! same three variables wherever a service reads one. Held as secrets — a
//! URL may carry a password — and never shown by `--help` or `Debug`.

use std::path::PathBuf;

use clap::ArgMatches;
use secrecy::SecretString;

use super::{Resolve, resolve_url, secret};
use crate::env::ConfigError;

/// RabbitMQ, as the service's own account.
#[derive(Debug, Clone, clap::Args)]
pub struct AmqpUrl {
    /// RabbitMQ connection, as the service's own account (`amqps://` for a
    /// remote broker); its account name is also the `user_id` of the events
    /// the service publishes.
    #[arg(
        id = "amqp_url",
        long = "amqp-url",
        env = "AMQP_URL",
        default_value = "amqp://guest:guest@localhost:5672/%2f",
        value_parser = secret,
        hide_env_values = true
    )]
    pub url: SecretString,
    /// A file holding the whole `AMQP_URL` (a Docker or Kubernetes secret),
    /// read when `AMQP_URL` is unset.
    #[arg(id = "amqp_url_file", long = "amqp-url-file", env = "AMQP_URL_FILE")]
    url_file: Option<PathBuf>,
    /// A file holding the password of `AMQP_URL`, which then names only
    /// its user.
    #[arg(
        id = "amqp_password_file",
        long = "amqp-password-file",
        env = "AMQP_PASSWORD_FILE"
    )]
    password_file: Option<PathBuf>,
}

impl Resolve for AmqpUrl {
    fn resolve(&mut self, matches: &ArgMatches) -> Result<(), ConfigError> {
        let files = (self.url_file.as_deref(), self.password_file.as_deref());
        let id = ("AMQP_URL", "amqp_url");
        resolve_url(&mut self.url, id, matches, files, ["amqp://", "amqps://"])
    }
}

/// NATS, when a transport is `nats`.
#[derive(Debug, Clone, clap::Args)]
pub struct NatsUrl {
    /// The NATS server, when a transport is `nats`:
    /// `nats://[user:password@]host:port`, or `tls://`.
    #[arg(
        id = "nats_url",
        long = "nats-url",
        env = "NATS_URL",
        default_value = "nats://127.0.0.1:4222",
        value_parser = secret,
        hide_env_values = true
    )]
    pub url: SecretString,
    /// A file holding the whole `NATS_URL`, read when `NATS_URL` is unset.
    #[arg(id = "nats_url_file", long = "nats-url-file", env = "NATS_URL_FILE")]
    url_file: Option<PathBuf>,
    /// A file holding the password of `NATS_URL`.
    #[arg(
        id = "nats_password_file",
        long = "nats-password-file",
        env = "NATS_PASSWORD_FILE"
    )]
    password_file: Option<PathBuf>,
}

impl Resolve for NatsUrl {
    fn resolve(&mut self, matches: &ArgMatches) -> Result<(), ConfigError> {
        let files = (self.url_file.as_deref(), self.password_file.as_deref());
        let id = ("NATS_URL", "nats_url");
        resolve_url(&mut self.url, id, matches, files, ["nats://", "tls://"])
    }
}

/// Redis, when a transport is `redis`.
#[derive(Debug, Clone, clap::Args)]
pub struct RedisUrl {
    /// The Redis server, when a transport is `redis`:
    /// `redis://[user:password@]host:port`, or `rediss://` for TLS.
    #[arg(
        id = "redis_url",
        long = "redis-url",
        env = "REDIS_URL",
        default_value = "redis://127.0.0.1:6379",
        value_parser = secret,
        hide_env_values = true
    )]
    pub url: SecretString,
    /// A file holding the whole `REDIS_URL`, read when `REDIS_URL` is unset.
    #[arg(id = "redis_url_file", long = "redis-url-file", env = "REDIS_URL_FILE")]
    url_file: Option<PathBuf>,
    /// A file holding the password of `REDIS_URL`.
    #[arg(
        id = "redis_password_file",
        long = "redis-password-file",
        env = "REDIS_PASSWORD_FILE"
    )]
    password_file: Option<PathBuf>,
}

impl Resolve for RedisUrl {
    fn resolve(&mut self, matches: &ArgMatches) -> Result<(), ConfigError> {
        let files = (self.url_file.as_deref(), self.password_file.as_deref());
        let id = ("REDIS_URL", "redis_url");
        resolve_url(&mut self.url, id, matches, files, ["redis://", "rediss://"])
    }
}

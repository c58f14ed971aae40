//! Helpers the crates' integration tests share. A dev-dependency only: no
//! service links it.
//!
//! # Layout
//! - [`amqp_url`], [`nats_url`]: the brokers tests use.
//! - [`rabbitmqctl`], [`output`]: the broker's control tool (for tests that
//!   close connections or stop the broker), and any other command.
//! - [`nestjs`]: real NestJS RabbitMQ peers from `interop/nestjs/`.
//! - [`broker_accounts`]: a vhost with the services' own broker accounts.
//! - [`http_client`]: an HTTP client calling the gateway as one user.
//! - [`tools`]: the real tools `scripts/tools.sh` installs, found and run.
//! - [`repo`]: the repository's root, files and workspace members.
//! - [`databases`]: a database of its own for each further service a test
//!   starts.
//! - [`schema`]: whether a migrated table is the one a module defines.

// A panic is how a test helper reports failure.
#![allow(clippy::unwrap_used)]

pub mod broker_accounts;
pub mod databases;
pub mod nestjs;
pub mod repo;
pub mod schema;
pub mod tools;

/// `AMQP_URL`, or the local RabbitMQ the README asks for.
pub fn amqp_url() -> String {
    std::env::var("AMQP_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// `NATS_URL`, or the local NATS server the README asks for.
pub fn nats_url() -> String {
    std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// `REDIS_URL`, or the local Redis server the README asks for.
pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// How long [`http_client`] keeps an idle connection: below the gateway's
/// default `HEADER_READ_TIMEOUT`.
pub const POOL_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// An HTTP client sending `token` as its bearer token, if given. Its
/// `timeout` turns a hang into a test failure instead of a stuck run.
///
/// It drops a pooled connection idle for [`POOL_IDLE_TIMEOUT`], before the
/// gateway would (`HEADER_READ_TIMEOUT`, 10 s, is also its idle timeout):
/// a request sent on a connection the server is closing at that moment
/// gets no answer, and a POST cannot be retried blindly. Clients and load
/// balancers in front of the gateway need the same (docs/configuration.md).
pub fn http_client(token: Option<&str>, timeout: std::time::Duration) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(token) = token {
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {token}").parse().unwrap(),
        );
    }
    reqwest::Client::builder()
        .timeout(timeout)
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .default_headers(headers)
        .build()
        .unwrap()
}

/// The `NAME=value` lines of a `dev.env` file (the public development
/// passwords of `deploy/rabbitmq/` and `deploy/postgres/`).
pub fn dev_env(path: &std::path::Path) -> std::collections::BTreeMap<String, String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

/// Runs `rabbitmqctl -q <args>` and returns its output; panics with the
/// output when it fails. `RABBITMQCTL` replaces the command for a broker
/// that is not local, e.g. `docker compose exec -T rabbitmq rabbitmqctl`.
pub fn rabbitmqctl(args: &[&str]) -> String {
    let configured = std::env::var("RABBITMQCTL").unwrap_or_else(|_| "rabbitmqctl".into());
    let mut words = configured.split_whitespace();
    let mut command = std::process::Command::new(words.next().unwrap_or("rabbitmqctl"));
    command.args(words).arg("-q").args(args);
    output(&mut command)
}

/// Runs `command` and returns its standard output; panics with everything
/// it printed when it cannot start or fails.
pub fn output(command: &mut std::process::Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// For each `$name`, a `#[tokio::test]` per pub/sub transport — in modules
/// `nats` and `redis` — running the invoking module's
/// `async fn $name(transport: messaging::Transport)`: one test body, both
/// transports (the invoking crate depends on `messaging` and `tokio`).
#[macro_export]
macro_rules! tests_on_nats_and_redis {
    ($($name:ident),* $(,)?) => {
        mod nats {
            $(#[tokio::test]
            async fn $name() {
                super::$name(messaging::Transport::Nats).await;
            })*
        }
        mod redis {
            $(#[tokio::test]
            async fn $name() {
                super::$name(messaging::Transport::Redis).await;
            })*
        }
    };
}

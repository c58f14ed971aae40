//! user-service configuration: every variable declared once, here and in
//! the groups flattened in (`user-service --help` lists them; the table in
//! docs/configuration.md and `.env.example` are checked against this).

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{ArgAction, ArgMatches};
use contracts::{
    events::EVENTS_EXCHANGE,
    identity::{TOKEN_AUDIENCE, TOKEN_ISSUER, USER_SERVICE},
};
use platform::{
    config::{AmqpUrl, Resolve, duration, secret, secret_or_file},
    db::DbConfig,
    env::{ConfigError, invalid},
    tls::{GrpcTls, TlsConfig},
};
use secrecy::SecretString;

mod hashing;

pub use hashing::{
    DEFAULT_PASSWORD_HASH_QUEUE_PER_HASHER, HashingArgs, HashingConfig,
    MAX_DEFAULT_PASSWORD_HASH_CONCURRENCY,
};

/// How access tokens are signed (see [`crate::tokens`]).
#[derive(Debug, Clone, clap::Args)]
pub struct TokenConfig {
    /// The Ed25519 private key (PKCS#8 PEM) access tokens are signed with
    /// (`user-service generate-signing-key` makes one). Unset: a development
    /// key is generated at start (the log says so) and tokens die with the
    /// process.
    #[arg(long, env = "JWT_SIGNING_KEY", value_parser = secret, hide_env_values = true)]
    pub signing_key: Option<SecretString>,
    /// A file holding JWT_SIGNING_KEY, read when it is unset.
    #[arg(long, env = "JWT_SIGNING_KEY_FILE")]
    pub signing_key_file: Option<PathBuf>,
    /// The key used before a rotation (private or public PEM); still
    /// published in the JWKS so its tokens verify until they expire.
    #[arg(long, env = "JWT_PREVIOUS_KEY", value_parser = secret, hide_env_values = true)]
    pub previous_key: Option<SecretString>,
    /// A file holding JWT_PREVIOUS_KEY, read when it is unset.
    #[arg(long, env = "JWT_PREVIOUS_KEY_FILE")]
    pub previous_key_file: Option<PathBuf>,
    /// Lifetime of an access token (`exp - iat`).
    #[arg(long = "token-ttl", env = "TOKEN_TTL", default_value = "15m", value_parser = duration)]
    pub ttl: Duration,
    /// The `iss` of the tokens it signs (the gateway's AUTH_ISSUER).
    #[arg(long = "token-issuer", env = "TOKEN_ISSUER", default_value = TOKEN_ISSUER)]
    pub issuer: String,
    /// The `aud` of the tokens it signs (the gateway's AUTH_AUDIENCE).
    #[arg(long = "token-audience", env = "TOKEN_AUDIENCE", default_value = TOKEN_AUDIENCE)]
    pub audience: String,
}

impl Resolve for TokenConfig {
    fn resolve(&mut self, _: &ArgMatches) -> Result<(), ConfigError> {
        let (signing, previous) = (self.signing_key.take(), self.previous_key.take());
        let signing_file = self.signing_key_file.as_deref();
        self.signing_key = secret_or_file(signing, "JWT_SIGNING_KEY_FILE", signing_file)?;
        let previous_file = self.previous_key_file.as_deref();
        self.previous_key = secret_or_file(previous, "JWT_PREVIOUS_KEY_FILE", previous_file)?;
        Ok(())
    }
}

impl Default for TokenConfig {
    /// The declared defaults, nothing read from the environment.
    fn default() -> Self {
        platform::config::group_defaults(&[])
    }
}

/// The first admin, created or updated at start-up.
#[derive(Debug, Clone)]
pub struct AdminAccount {
    /// `ADMIN_EMAIL`.
    pub email: String,
    /// `ADMIN_PASSWORD` (or `ADMIN_PASSWORD_FILE`): 12 to 128 characters.
    pub password: SecretString,
}

#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "user-service",
    version,
    about = "Accounts, passwords and access tokens, over gRPC.",
    after_help = "Commands: `user-service generate-signing-key` prints a JWT signing key; \
                  `user-service generate-dev-certs [--per-service] DIR` writes a development \
                  CA and every service's certificate; `user-service healthcheck` probes /readyz.",
    // The service's own role and database as `just run` creates them
    // (deploy/postgres/roles.sql, with the development password of dev.env).
    mut_arg("database_url", |arg| arg.default_value(
        "postgres://user_service:dev-user-service-db@localhost:5432/users?sslmode=disable"
    )),
)]
pub struct Config {
    /// gRPC listen address (`0.0.0.0:5000` in containers).
    #[arg(
        long = "user-service-listen-addr",
        env = "USER_SERVICE_LISTEN_ADDR",
        default_value = "127.0.0.1:5000"
    )]
    pub listen_addr: SocketAddr,
    #[command(flatten)]
    pub database: DbConfig,
    /// How often the database is pinged for grpc.health.v1.
    #[arg(long, env = "HEALTH_CHECK_INTERVAL", default_value = "5s", value_parser = duration)]
    pub health_check_interval: Duration,
    /// RabbitMQ, for publishing events.
    #[command(flatten)]
    pub amqp: AmqpUrl,
    /// The topic exchange the outbox relay publishes events to.
    //
    // `None` (only from `Config::new`) keeps events in the outbox unpublished.
    #[arg(long, env = "EVENTS_EXCHANGE", default_value = EVENTS_EXCHANGE)]
    pub events_exchange: Option<String>,
    /// How often the outbox relay looks for events that waited out a broker
    /// outage (new events are published right after their commit).
    #[arg(long, env = "OUTBOX_POLL_INTERVAL", default_value = "1s", value_parser = duration)]
    pub outbox_poll_interval: Duration,
    /// The admin HTTP port: /livez, /readyz, /metrics.
    #[arg(
        long = "admin-listen-addr",
        env = "ADMIN_LISTEN_ADDR",
        default_value = "127.0.0.1:9103"
    )]
    pub admin_addr: SocketAddr,
    /// Access tokens: keys, lifetime, issuer, audience.
    #[command(flatten)]
    pub tokens: TokenConfig,
    #[command(flatten)]
    hashing_args: HashingArgs,
    /// How many passwords are hashed at once, and how many may wait, from
    /// `hashing_args`.
    #[arg(skip)]
    pub hashing: HashingConfig,
    /// The first admin, created — or its password reset and role made admin
    /// — at every start. Both ADMIN_EMAIL and ADMIN_PASSWORD, or neither.
    #[arg(long, env = "ADMIN_EMAIL")]
    admin_email: Option<String>,
    /// The first admin's password, 12 to 128 characters.
    #[arg(long, env = "ADMIN_PASSWORD", value_parser = secret, hide_env_values = true)]
    admin_password: Option<SecretString>,
    /// A file holding ADMIN_PASSWORD, read when it is unset.
    #[arg(long, env = "ADMIN_PASSWORD_FILE")]
    admin_password_file: Option<PathBuf>,
    /// The first admin, from the three above.
    #[arg(skip)]
    pub admin_account: Option<AdminAccount>,
    #[command(flatten)]
    grpc_tls: TlsConfig,
    /// Mutual TLS, which is how callers are known (`crate::peers`), from
    /// `grpc_tls`. `None`: plaintext, and every RPC but health is refused
    /// UNAUTHENTICATED.
    #[arg(skip)]
    pub tls: Option<GrpcTls>,
    /// Serve gRPC server reflection (`grpcurl list`): it describes the API
    /// to whoever connects.
    #[arg(long = "grpc-reflection", env = "GRPC_REFLECTION", default_value_t = false, action = ArgAction::Set)]
    pub reflection: bool,
}

impl Resolve for Config {
    fn resolve(&mut self, matches: &ArgMatches) -> Result<(), ConfigError> {
        self.database.resolve(matches)?;
        self.amqp.resolve(matches)?;
        self.tokens.resolve(matches)?;
        self.hashing = self.hashing_args.config();
        let password = secret_or_file(
            self.admin_password.clone(),
            "ADMIN_PASSWORD_FILE",
            self.admin_password_file.as_deref(),
        )?;
        self.admin_account = match (self.admin_email.clone(), password) {
            (Some(email), Some(password)) => Some(AdminAccount { email, password }),
            (None, None) => None,
            _ => {
                return Err(invalid(
                    "ADMIN_EMAIL",
                    "<redacted>",
                    "ADMIN_EMAIL and ADMIN_PASSWORD are set together, or neither",
                ));
            }
        };
        self.tls = self.grpc_tls.identity(USER_SERVICE)?;
        Ok(())
    }
}

impl Config {
    /// The declared defaults with a chosen listen address — nothing read
    /// from the environment — an admin port chosen by the OS, and no event
    /// publishing; for tests and embedding.
    pub fn new(listen_addr: SocketAddr) -> Self {
        let mut config: Self = platform::config::defaults();
        config.listen_addr = listen_addr;
        config.events_exchange = None;
        config.admin_addr = SocketAddr::from(([127, 0, 0, 1], 0));
        config
    }
}

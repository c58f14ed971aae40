//! user-service configuration, from environment variables (see the table in
//! docs/configuration.md and `.env.example`).

use std::{net::SocketAddr, num::NonZeroUsize, time::Duration};

use contracts::events::EVENTS_EXCHANGE;
use platform::{
    db::DbConfig,
    env::{ConfigError, duration_or, optional, parse_or, secret, string_or},
};
use secrecy::SecretString;

pub const DEFAULT_LISTEN_ADDR: &str = "127.0.0.1:5000";
/// The service's own role and database as `just run` creates them
/// (deploy/postgres/roles.sql, with the development password of dev.env).
pub const DEFAULT_DATABASE_URL: &str =
    "postgres://user_service:dev-user-service-db@localhost:5432/users?sslmode=disable";
pub const DEFAULT_HEALTH_CHECK_INTERVAL: Duration = Duration::from_secs(5);
pub const DEFAULT_OUTBOX_POLL_INTERVAL: Duration = Duration::from_secs(1);
pub const DEFAULT_ADMIN_ADDR: &str = "127.0.0.1:9103";
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(15 * 60);
/// The `iss` of the tokens user-service signs (the gateway's `AUTH_ISSUER`
/// default).
pub const DEFAULT_TOKEN_ISSUER: &str = contracts::identity::TOKEN_ISSUER;
/// The `aud` of the tokens user-service signs (the gateway's
/// `AUTH_AUDIENCE` default).
pub const DEFAULT_TOKEN_AUDIENCE: &str = contracts::identity::TOKEN_AUDIENCE;
/// The default number of password hashers is the cores available (the
/// container's CPU quota, as the standard library reads it), at most this:
/// two 19 MiB buffers and ~32 MiB idle fit the 128 MiB the deployments
/// give user-service with room to spare, four would not. More hashers are a
/// choice made with the memory and CPU limits, in one place
/// (`PASSWORD_HASH_CONCURRENCY`).
pub const MAX_DEFAULT_PASSWORD_HASH_CONCURRENCY: usize = 2;
/// Default places in each queue (sign-ups, log-ins) per hasher: at ~20 ms a
/// hash, 32 queued per hasher is about 0.6 s of work for log-ins (1.3 s for
/// sign-ups, which have half the hashers), inside
/// [`DEFAULT_PASSWORD_HASH_WAIT`] with room for a slower CPU. Past it a call
/// is refused at once instead of waiting to be refused.
pub const DEFAULT_PASSWORD_HASH_QUEUE_PER_HASHER: usize = 32;
/// How long a hash may wait for a hasher before it is refused: with the
/// hash (~20 ms) and the database, inside the gateway's 3 s deadline
/// (`USER_SERVICE_TIMEOUT`), so a crowd gets a 503 from the service that
/// knows rather than a 504 from a gateway that gave up.
pub const DEFAULT_PASSWORD_HASH_WAIT: Duration = Duration::from_secs(2);

/// How access tokens are signed (see [`crate::tokens`]).
#[derive(Debug, Clone)]
pub struct TokenConfig {
    /// `JWT_SIGNING_KEY` or the file named by `JWT_SIGNING_KEY_FILE`: an
    /// Ed25519 private key, PKCS#8 PEM. `None`: a development key is
    /// generated at start-up (and the log says so).
    pub signing_key: Option<SecretString>,
    /// `JWT_PREVIOUS_KEY` / `JWT_PREVIOUS_KEY_FILE`: the key signing used
    /// before a rotation, still published so its tokens verify until they
    /// expire.
    pub previous_key: Option<SecretString>,
    /// `TOKEN_TTL`: how long an access token is valid.
    pub ttl: Duration,
    /// `TOKEN_ISSUER`: the `iss` claim.
    pub issuer: String,
    /// `TOKEN_AUDIENCE`: the `aud` claim.
    pub audience: String,
}

impl Default for TokenConfig {
    fn default() -> Self {
        Self {
            signing_key: None,
            previous_key: None,
            ttl: DEFAULT_TOKEN_TTL,
            issuer: DEFAULT_TOKEN_ISSUER.to_owned(),
            audience: DEFAULT_TOKEN_AUDIENCE.to_owned(),
        }
    }
}

/// Password hashing, a bounded resource (see [`crate::hash_pool`]).
#[derive(Debug, Clone)]
pub struct HashingConfig {
    /// `PASSWORD_HASH_CONCURRENCY`: hashes that run at once, each on a core
    /// with 19 MiB of memory. Sign-ups may use half of them (at least one);
    /// log-ins all of them.
    pub concurrency: NonZeroUsize,
    /// `PASSWORD_HASH_QUEUE`: hashes that may wait for a hasher, sign-ups
    /// and log-ins each; one more is refused at once.
    pub queue: usize,
    /// `PASSWORD_HASH_WAIT`: how long a hash may wait for a hasher before
    /// it is refused.
    pub wait: Duration,
}

impl HashingConfig {
    /// The available cores, at most [`MAX_DEFAULT_PASSWORD_HASH_CONCURRENCY`].
    pub fn default_concurrency() -> NonZeroUsize {
        let cores = std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN);
        cores.min(
            NonZeroUsize::new(MAX_DEFAULT_PASSWORD_HASH_CONCURRENCY).expect("a non-zero constant"),
        )
    }

    /// [`DEFAULT_PASSWORD_HASH_QUEUE_PER_HASHER`] per hasher.
    pub fn default_queue(concurrency: NonZeroUsize) -> usize {
        concurrency
            .get()
            .saturating_mul(DEFAULT_PASSWORD_HASH_QUEUE_PER_HASHER)
    }
}

impl Default for HashingConfig {
    fn default() -> Self {
        let concurrency = Self::default_concurrency();
        Self {
            concurrency,
            queue: Self::default_queue(concurrency),
            wait: DEFAULT_PASSWORD_HASH_WAIT,
        }
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

#[derive(Debug, Clone)]
pub struct Config {
    /// `USER_SERVICE_LISTEN_ADDR`: where the gRPC server listens.
    pub listen_addr: SocketAddr,
    /// `DATABASE_URL`, `DATABASE_MAX_CONNECTIONS`, `DATABASE_ACQUIRE_TIMEOUT`:
    /// this service's own database (created at start-up when missing).
    pub database: DbConfig,
    /// `HEALTH_CHECK_INTERVAL`: how often the database is pinged to keep the
    /// `grpc.health.v1` status true.
    pub health_check_interval: Duration,
    /// `AMQP_URL`: RabbitMQ, for publishing events.
    pub amqp_url: SecretString,
    /// `EVENTS_EXCHANGE`: where the outbox relay publishes events. `None`
    /// (only from [`Config::new`]) keeps events in the outbox unpublished.
    pub events_exchange: Option<String>,
    /// `OUTBOX_POLL_INTERVAL`: how often the relay looks for events that
    /// waited out a broker outage (new events are published at once).
    pub outbox_poll_interval: Duration,
    /// `ADMIN_LISTEN_ADDR`: the admin HTTP port (`/livez`, `/readyz`,
    /// `/metrics`).
    pub admin_addr: SocketAddr,
    /// Access tokens: keys, lifetime, issuer, audience.
    pub tokens: TokenConfig,
    /// How many passwords are hashed at once, and how many may wait.
    pub hashing: HashingConfig,
    /// `ADMIN_EMAIL` and `ADMIN_PASSWORD`, both or neither: the first admin.
    pub admin_account: Option<AdminAccount>,
    /// `GRPC_TLS_CA`, `GRPC_TLS_CERT`, `GRPC_TLS_KEY` (or `_FILE`s): mutual
    /// TLS, which is how callers are known ([`crate::peers`]). `None`:
    /// plaintext, and every RPC but health is refused UNAUTHENTICATED.
    pub tls: Option<platform::tls::GrpcTls>,
    /// `GRPC_REFLECTION`: serve gRPC server reflection (`grpcurl list`).
    /// Off unless `true`: it describes the API to anyone who connects.
    pub reflection: bool,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        // Defaults computed from the machine, which the docs state in words.
        let cores_at_most_two = HashingConfig::default_concurrency();
        let hash_concurrency = parse_or("PASSWORD_HASH_CONCURRENCY", cores_at_most_two)?;
        let per_hasher_queue = HashingConfig::default_queue(hash_concurrency);
        Ok(Self {
            listen_addr: parse_or(
                "USER_SERVICE_LISTEN_ADDR",
                DEFAULT_LISTEN_ADDR.parse().expect("valid default address"),
            )?,
            database: DbConfig::from_env(DEFAULT_DATABASE_URL)?,
            health_check_interval: duration_or(
                "HEALTH_CHECK_INTERVAL",
                DEFAULT_HEALTH_CHECK_INTERVAL,
            )?,
            amqp_url: platform::env::amqp_url()?,
            events_exchange: Some(string_or("EVENTS_EXCHANGE", EVENTS_EXCHANGE)),
            outbox_poll_interval: duration_or(
                "OUTBOX_POLL_INTERVAL",
                DEFAULT_OUTBOX_POLL_INTERVAL,
            )?,
            admin_addr: parse_or(
                "ADMIN_LISTEN_ADDR",
                DEFAULT_ADMIN_ADDR.parse().expect("valid default address"),
            )?,
            tokens: TokenConfig {
                signing_key: secret("JWT_SIGNING_KEY")?,
                previous_key: secret("JWT_PREVIOUS_KEY")?,
                ttl: duration_or("TOKEN_TTL", DEFAULT_TOKEN_TTL)?,
                issuer: string_or("TOKEN_ISSUER", DEFAULT_TOKEN_ISSUER),
                audience: string_or("TOKEN_AUDIENCE", DEFAULT_TOKEN_AUDIENCE),
            },
            hashing: HashingConfig {
                concurrency: hash_concurrency,
                queue: parse_or("PASSWORD_HASH_QUEUE", per_hasher_queue)?,
                wait: duration_or("PASSWORD_HASH_WAIT", DEFAULT_PASSWORD_HASH_WAIT)?,
            },
            admin_account: admin_account()?,
            tls: platform::tls::GrpcTls::from_env(contracts::identity::USER_SERVICE)?,
            reflection: parse_or("GRPC_REFLECTION", false)?,
        })
    }

    /// Defaults with a chosen listen address, an admin port chosen by the OS,
    /// and no event publishing; for
    /// tests and embedding.
    pub fn new(listen_addr: SocketAddr) -> Self {
        Self {
            listen_addr,
            database: DbConfig::new(DEFAULT_DATABASE_URL),
            health_check_interval: DEFAULT_HEALTH_CHECK_INTERVAL,
            amqp_url: platform::env::DEFAULT_AMQP_URL.into(),
            events_exchange: None,
            outbox_poll_interval: DEFAULT_OUTBOX_POLL_INTERVAL,
            admin_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            tokens: TokenConfig::default(),
            hashing: HashingConfig::default(),
            admin_account: None,
            tls: None,
            reflection: false,
        }
    }
}

fn admin_account() -> Result<Option<AdminAccount>, ConfigError> {
    match (optional("ADMIN_EMAIL"), secret("ADMIN_PASSWORD")?) {
        (Some(email), Some(password)) => Ok(Some(AdminAccount { email, password })),
        (None, None) => Ok(None),
        _ => Err(platform::env::invalid(
            "ADMIN_EMAIL",
            "<redacted>",
            "ADMIN_EMAIL and ADMIN_PASSWORD are set together, or neither",
        )),
    }
}

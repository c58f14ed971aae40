//! api-gateway configuration, from environment variables (see the table in
//! docs/configuration.md and `.env.example`).

use std::{net::SocketAddr, time::Duration};

use contracts::patterns::{NOTIFICATIONS_QUEUE, ORDERS_QUEUE};
use messaging::Transport;
use platform::env::{ConfigError, duration_or, invalid, optional, parse_or, string_or};
use secrecy::SecretString;

mod auth;

pub use auth::AuthConfig;

pub const DEFAULT_LISTEN_ADDR: &str = "127.0.0.1:3000";
pub const DEFAULT_USER_SERVICE_URL: &str = "http://127.0.0.1:5000";
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
pub const DEFAULT_USER_SERVICE_TIMEOUT: Duration = Duration::from_secs(3);
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_HEALTH_TIMEOUT: Duration = Duration::from_secs(1);
pub const DEFAULT_BODY_LIMIT_BYTES: usize = 64 * 1024;
pub const DEFAULT_ORDER_SERVICE_TIMEOUT: Duration = Duration::from_secs(5);
pub const DEFAULT_ADMIN_ADDR: &str = "127.0.0.1:9100";
/// How order-service and notification-service are reached unless
/// configured: RabbitMQ.
pub const DEFAULT_TRANSPORT: &str = "amqp";
/// Where order-service and notification-service listen by default when
/// their transport is `tcp` (their `TCP_LISTEN_ADDR` defaults).
pub const DEFAULT_ORDER_SERVICE_TCP_ADDR: &str = "127.0.0.1:4001";
pub const DEFAULT_NOTIFICATION_SERVICE_TCP_ADDR: &str = "127.0.0.1:4002";
/// user-service's `TOKEN_ISSUER` default.
pub const DEFAULT_AUTH_ISSUER: &str = contracts::identity::TOKEN_ISSUER;
/// user-service's `TOKEN_AUDIENCE` default.
pub const DEFAULT_AUTH_AUDIENCE: &str = contracts::identity::TOKEN_AUDIENCE;
pub const DEFAULT_LOGIN_LIMIT_PER_ADDRESS: u32 = 30;
pub const DEFAULT_LOGIN_LIMIT_PER_ACCOUNT_AND_ADDRESS: u32 = 5;
pub const DEFAULT_SIGNUP_LIMIT_PER_ADDRESS: u32 = 10;
pub const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 512;
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// A client's share: 64 in flight, what `just bench` drives from one address.
pub const DEFAULT_MAX_CONCURRENT_REQUESTS_PER_CLIENT: usize = 64;
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(5);
pub const DEFAULT_MAX_CONNECTIONS: usize = 8192;
pub const DEFAULT_MAX_CONNECTIONS_PER_CLIENT: usize = 256;

#[derive(Debug, Clone)]
pub struct Config {
    /// `GATEWAY_LISTEN_ADDR`: where the HTTP server listens.
    pub listen_addr: SocketAddr,
    /// `USER_SERVICE_URL`: user-service's gRPC servers, comma-separated
    /// (`http://host:port,...`); calls are balanced over them and over every
    /// address a host name resolves to.
    pub user_service_url: String,
    /// `GRPC_TLS_CA`, `GRPC_TLS_CERT`, `GRPC_TLS_KEY`: this service's
    /// certificate for mutual TLS with user-service (then every
    /// `USER_SERVICE_URL` is `https://`); `None`: plaintext, and user-service
    /// refuses every call.
    pub tls: Option<platform::tls::GrpcTls>,
    /// `USER_SERVICE_CONNECT_TIMEOUT`: how long to wait for a TCP connection
    /// to user-service; bounds the answer when it is down.
    pub connect_timeout: Duration,
    /// `USER_SERVICE_TIMEOUT`: deadline of each gRPC call; past it the
    /// gateway answers 504 and user-service sees the call cancelled.
    pub user_service_timeout: Duration,
    /// `REQUEST_TIMEOUT`: upper bound on any HTTP request, whatever it waits on.
    pub request_timeout: Duration,
    /// `HEALTH_TIMEOUT`: how long `/health` waits for each dependency.
    pub health_timeout: Duration,
    /// `BODY_LIMIT_BYTES`: larger request bodies get 413.
    pub body_limit_bytes: usize,
    /// `AMQP_URL`: RabbitMQ, to reach order-service and
    /// notification-service when their transport is `amqp`.
    pub amqp_url: SecretString,
    /// `NATS_URL`: NATS, when a service's transport is `nats`.
    pub nats_url: SecretString,
    /// `REDIS_URL`: Redis, when a service's transport is `redis`.
    pub redis_url: SecretString,
    /// `ORDERS_TRANSPORT`: how order-service is reached (`amqp`, `nats`,
    /// `redis`, `tcp`; `tcp` is mutual TLS and needs `GRPC_TLS_*`).
    pub orders_transport: Transport,
    /// `NOTIFICATIONS_TRANSPORT`: how notification-service is reached.
    pub notifications_transport: Transport,
    /// `ORDERS_QUEUE`: the queue order-service consumes.
    pub orders_queue: String,
    /// `ORDER_SERVICE_TIMEOUT`: deadline of each request to order-service,
    /// also sent as the message's AMQP expiration; past it: 504.
    pub order_service_timeout: Duration,
    /// `NOTIFICATIONS_QUEUE`: the queue notification-service consumes.
    pub notifications_queue: String,
    /// `ORDER_SERVICE_TCP_ADDR`: `host:port` of order-service when its
    /// transport is `tcp`.
    pub order_service_tcp_addr: String,
    /// `NOTIFICATION_SERVICE_TCP_ADDR`: likewise notification-service.
    pub notification_service_tcp_addr: String,
    /// `ADMIN_LISTEN_ADDR`: the admin HTTP port (`/livez`, `/readyz`,
    /// `/metrics`), kept off the public port.
    pub admin_addr: SocketAddr,
    /// Which access tokens the gateway accepts.
    pub auth: AuthConfig,
    /// `LOGIN_LIMIT_PER_ADDRESS`: log-in attempts per minute from one client
    /// address (bursts of as many); past it, 429.
    pub login_limit_per_address: u32,
    /// `LOGIN_LIMIT_PER_ACCOUNT_AND_ADDRESS`: log-in attempts per minute
    /// for one email from one address: a guessed password slows down there,
    /// and the account still works from everywhere else.
    pub login_limit_per_account_and_address: u32,
    /// `SIGNUP_LIMIT_PER_ADDRESS`: sign-ups per minute from one address
    /// (each costs a password hash); past it, 429.
    pub signup_limit_per_address: u32,
    /// `MAX_CONCURRENT_REQUESTS`: requests served at once; more are shed
    /// at once with 503 and `Retry-After` instead of queueing.
    pub max_concurrent_requests: usize,
    /// `HEADER_READ_TIMEOUT`: a connection that has not sent a request's
    /// headers within this is closed (slowloris); so is one with no request
    /// in flight for as long (HTTP/1.1 keep-alive and HTTP/2 alike).
    pub header_read_timeout: Duration,
    /// `MAX_CONCURRENT_REQUESTS_PER_CLIENT`: requests one client — one
    /// address, and one signed-in user — may have in flight; more get 429.
    pub max_concurrent_requests_per_client: usize,
    /// `BODY_READ_TIMEOUT`: a request's body must arrive within this of its
    /// headers, else 408; until then it holds only its client's share.
    pub body_read_timeout: Duration,
    /// `MAX_CONNECTIONS`: open connections at once; more are closed as
    /// soon as accepted.
    pub max_connections: usize,
    /// `MAX_CONNECTIONS_PER_CLIENT`: open connections from one address
    /// (a trusted proxy's are not counted: they carry many clients).
    pub max_connections_per_client: usize,
    /// `TRUSTED_PROXIES`: CIDRs of the reverse proxies in front of the
    /// gateway; only from them are `X-Forwarded-For` / `Forwarded` believed.
    pub trusted_proxies: crate::clients::TrustedProxies,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        let user_service_url = string_or("USER_SERVICE_URL", DEFAULT_USER_SERVICE_URL);
        let tls = platform::tls::GrpcTls::from_env(contracts::identity::API_GATEWAY)?;
        platform::tls::check_urls("USER_SERVICE_URL", &user_service_url, tls.is_some())?;
        let amqp_url = platform::env::amqp_url()?;
        let default_transport: Transport = DEFAULT_TRANSPORT.parse().expect("a known transport");
        let orders_transport = parse_or("ORDERS_TRANSPORT", default_transport)?;
        let notifications_transport = parse_or("NOTIFICATIONS_TRANSPORT", default_transport)?;
        // tcp is mutual TLS with this service's certificate, or nothing.
        Transport::check_tls(&[orders_transport], "ORDERS_TRANSPORT", tls.is_some())?;
        let notifications = [notifications_transport];
        Transport::check_tls(&notifications, "NOTIFICATIONS_TRANSPORT", tls.is_some())?;
        Ok(Self {
            listen_addr: parse_or(
                "GATEWAY_LISTEN_ADDR",
                DEFAULT_LISTEN_ADDR.parse().expect("valid default address"),
            )?,
            user_service_url,
            tls,
            connect_timeout: duration_or("USER_SERVICE_CONNECT_TIMEOUT", DEFAULT_CONNECT_TIMEOUT)?,
            user_service_timeout: duration_or(
                "USER_SERVICE_TIMEOUT",
                DEFAULT_USER_SERVICE_TIMEOUT,
            )?,
            request_timeout: duration_or("REQUEST_TIMEOUT", DEFAULT_REQUEST_TIMEOUT)?,
            health_timeout: duration_or("HEALTH_TIMEOUT", DEFAULT_HEALTH_TIMEOUT)?,
            body_limit_bytes: parse_or("BODY_LIMIT_BYTES", DEFAULT_BODY_LIMIT_BYTES)?,
            amqp_url,
            nats_url: platform::env::nats_url()?,
            redis_url: platform::env::redis_url()?,
            orders_transport,
            notifications_transport,
            orders_queue: string_or("ORDERS_QUEUE", ORDERS_QUEUE),
            order_service_timeout: duration_or(
                "ORDER_SERVICE_TIMEOUT",
                DEFAULT_ORDER_SERVICE_TIMEOUT,
            )?,
            notifications_queue: string_or("NOTIFICATIONS_QUEUE", NOTIFICATIONS_QUEUE),
            order_service_tcp_addr: string_or(
                "ORDER_SERVICE_TCP_ADDR",
                DEFAULT_ORDER_SERVICE_TCP_ADDR,
            ),
            notification_service_tcp_addr: string_or(
                "NOTIFICATION_SERVICE_TCP_ADDR",
                DEFAULT_NOTIFICATION_SERVICE_TCP_ADDR,
            ),
            admin_addr: parse_or(
                "ADMIN_LISTEN_ADDR",
                DEFAULT_ADMIN_ADDR.parse().expect("valid default address"),
            )?,
            auth: AuthConfig::external(
                string_or("AUTH_ISSUER", DEFAULT_AUTH_ISSUER),
                string_or("AUTH_AUDIENCE", DEFAULT_AUTH_AUDIENCE),
                optional("AUTH_JWKS_URL"),
                parse_or("AUTH_ALLOW_INSECURE_HTTP", false)?,
            )?,
            login_limit_per_address: positive(
                "LOGIN_LIMIT_PER_ADDRESS",
                DEFAULT_LOGIN_LIMIT_PER_ADDRESS,
            )?,
            login_limit_per_account_and_address: positive(
                "LOGIN_LIMIT_PER_ACCOUNT_AND_ADDRESS",
                DEFAULT_LOGIN_LIMIT_PER_ACCOUNT_AND_ADDRESS,
            )?,
            signup_limit_per_address: positive(
                "SIGNUP_LIMIT_PER_ADDRESS",
                DEFAULT_SIGNUP_LIMIT_PER_ADDRESS,
            )?,
            max_concurrent_requests: parse_or(
                "MAX_CONCURRENT_REQUESTS",
                DEFAULT_MAX_CONCURRENT_REQUESTS,
            )?
            .max(1),
            header_read_timeout: duration_or("HEADER_READ_TIMEOUT", DEFAULT_HEADER_READ_TIMEOUT)?,
            max_concurrent_requests_per_client: at_least_one(
                "MAX_CONCURRENT_REQUESTS_PER_CLIENT",
                DEFAULT_MAX_CONCURRENT_REQUESTS_PER_CLIENT,
            )?,
            body_read_timeout: duration_or("BODY_READ_TIMEOUT", DEFAULT_BODY_READ_TIMEOUT)?,
            max_connections: at_least_one("MAX_CONNECTIONS", DEFAULT_MAX_CONNECTIONS)?,
            max_connections_per_client: at_least_one(
                "MAX_CONNECTIONS_PER_CLIENT",
                DEFAULT_MAX_CONNECTIONS_PER_CLIENT,
            )?,
            trusted_proxies: trusted_proxies()?,
        })
    }

    /// Defaults with a chosen listen address and user-service URL, and an
    /// admin port chosen by the OS; for tests and embedding.
    pub fn new(listen_addr: SocketAddr, user_service_url: impl Into<String>) -> Self {
        Self {
            listen_addr,
            user_service_url: user_service_url.into(),
            tls: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            user_service_timeout: DEFAULT_USER_SERVICE_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            health_timeout: DEFAULT_HEALTH_TIMEOUT,
            body_limit_bytes: DEFAULT_BODY_LIMIT_BYTES,
            amqp_url: platform::env::DEFAULT_AMQP_URL.into(),
            nats_url: platform::env::DEFAULT_NATS_URL.into(),
            redis_url: platform::env::DEFAULT_REDIS_URL.into(),
            orders_transport: Transport::Amqp,
            notifications_transport: Transport::Amqp,
            orders_queue: ORDERS_QUEUE.to_owned(),
            order_service_timeout: DEFAULT_ORDER_SERVICE_TIMEOUT,
            notifications_queue: NOTIFICATIONS_QUEUE.to_owned(),
            order_service_tcp_addr: DEFAULT_ORDER_SERVICE_TCP_ADDR.to_owned(),
            notification_service_tcp_addr: DEFAULT_NOTIFICATION_SERVICE_TCP_ADDR.to_owned(),
            admin_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            auth: AuthConfig::default(),
            login_limit_per_address: DEFAULT_LOGIN_LIMIT_PER_ADDRESS,
            login_limit_per_account_and_address: DEFAULT_LOGIN_LIMIT_PER_ACCOUNT_AND_ADDRESS,
            signup_limit_per_address: DEFAULT_SIGNUP_LIMIT_PER_ADDRESS,
            max_concurrent_requests: DEFAULT_MAX_CONCURRENT_REQUESTS,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            max_concurrent_requests_per_client: DEFAULT_MAX_CONCURRENT_REQUESTS_PER_CLIENT,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_client: DEFAULT_MAX_CONNECTIONS_PER_CLIENT,
            trusted_proxies: crate::clients::TrustedProxies::default(),
        }
    }
}

fn at_least_one(name: &str, default: usize) -> Result<usize, ConfigError> {
    let value = parse_or(name, default)?;
    if value == 0 {
        return Err(invalid(name, value, "must be at least 1"));
    }
    Ok(value)
}

fn trusted_proxies() -> Result<crate::clients::TrustedProxies, ConfigError> {
    let list = optional("TRUSTED_PROXIES").unwrap_or_default();
    crate::clients::TrustedProxies::parse(&list)
        .map_err(|reason| invalid("TRUSTED_PROXIES", &list, reason))
}

fn positive(name: &str, default: u32) -> Result<u32, ConfigError> {
    let value = parse_or(name, default)?;
    if value == 0 {
        return Err(invalid(name, value, "must be at least 1"));
    }
    Ok(value)
}

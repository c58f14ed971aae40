//! api-gateway configuration: every variable declared once, here and in
//! the groups flattened in (`api-gateway --help` lists them; the table in
//! docs/configuration.md and `.env.example` are checked against this).

use std::{net::SocketAddr, time::Duration};

use clap::ArgMatches;
use contracts::{
    identity::API_GATEWAY,
    patterns::{NOTIFICATIONS_QUEUE, ORDERS_QUEUE},
};
use messaging::Transport;
use platform::{
    config::{AmqpUrl, NatsUrl, RedisUrl, Resolve, duration},
    env::ConfigError,
    tls::{GrpcTls, TlsConfig},
};

use crate::clients::TrustedProxies;

mod auth;

pub use auth::AuthConfig;

/// A count of at least one.
fn at_least_one() -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::new().range(1..)
}

#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "api-gateway",
    version,
    about = "The HTTP API in front of user-service, order-service and notification-service.",
    after_help = "Commands: `api-gateway openapi` prints the OpenAPI document; \
                  `api-gateway healthcheck` probes /readyz."
)]
pub struct Config {
    /// HTTP listen address (`0.0.0.0:3000` in containers).
    #[arg(
        long = "gateway-listen-addr",
        env = "GATEWAY_LISTEN_ADDR",
        default_value = "127.0.0.1:3000"
    )]
    pub listen_addr: SocketAddr,
    /// user-service's gRPC servers, comma-separated, all `https://` with
    /// GRPC_TLS_* (`http://` otherwise); calls are balanced over them and
    /// over every address a host name resolves to.
    #[arg(
        long,
        env = "USER_SERVICE_URL",
        default_value = "http://127.0.0.1:5000"
    )]
    pub user_service_url: String,
    #[command(flatten)]
    grpc_tls: TlsConfig,
    /// This service's certificate for mutual TLS with user-service (then
    /// every `USER_SERVICE_URL` is `https://`) and on TCP, from `grpc_tls`;
    /// `None`: plaintext, and user-service refuses every call.
    #[arg(skip)]
    pub tls: Option<GrpcTls>,
    /// TCP connect timeout to user-service; bounds the 503 when it is down.
    #[arg(long = "user-service-connect-timeout", env = "USER_SERVICE_CONNECT_TIMEOUT", default_value = "1s", value_parser = duration)]
    pub connect_timeout: Duration,
    /// Deadline of each gRPC call (sent as grpc-timeout); past it: 504.
    #[arg(long, env = "USER_SERVICE_TIMEOUT", default_value = "3s", value_parser = duration)]
    pub user_service_timeout: Duration,
    /// Upper bound on any HTTP request, whatever it waits on.
    #[arg(long, env = "REQUEST_TIMEOUT", default_value = "10s", value_parser = duration)]
    pub request_timeout: Duration,
    /// How long `/health` waits for each dependency.
    #[arg(long, env = "HEALTH_TIMEOUT", default_value = "1s", value_parser = duration)]
    pub health_timeout: Duration,
    /// Larger request bodies get 413.
    #[arg(long, env = "BODY_LIMIT_BYTES", default_value_t = 64 * 1024)]
    pub body_limit_bytes: usize,
    /// RabbitMQ, to reach order-service and notification-service when their
    /// transport is `amqp`.
    #[command(flatten)]
    pub amqp: AmqpUrl,
    #[command(flatten)]
    pub nats: NatsUrl,
    #[command(flatten)]
    pub redis: RedisUrl,
    /// How order-service is reached: amqp, nats, redis or tcp (tcp is
    /// mutual TLS and needs GRPC_TLS_*); it must serve on it.
    #[arg(long, env = "ORDERS_TRANSPORT", default_value = "amqp")]
    pub orders_transport: Transport,
    /// How notification-service is reached, likewise.
    #[arg(long, env = "NOTIFICATIONS_TRANSPORT", default_value = "amqp")]
    pub notifications_transport: Transport,
    /// The queue order-service consumes.
    #[arg(long, env = "ORDERS_QUEUE", default_value = ORDERS_QUEUE)]
    pub orders_queue: String,
    /// Deadline of each request to order-service and notification-service,
    /// on any transport (on RabbitMQ also the message's expiration); past
    /// it: 504.
    #[arg(long, env = "ORDER_SERVICE_TIMEOUT", default_value = "5s", value_parser = duration)]
    pub order_service_timeout: Duration,
    /// The queue notification-service consumes.
    #[arg(long, env = "NOTIFICATIONS_QUEUE", default_value = NOTIFICATIONS_QUEUE)]
    pub notifications_queue: String,
    /// `host:port` of order-service when its transport is tcp (its
    /// TCP_LISTEN_ADDR); resolved at each connection.
    #[arg(long, env = "ORDER_SERVICE_TCP_ADDR", default_value = "127.0.0.1:4001")]
    pub order_service_tcp_addr: String,
    /// `host:port` of notification-service when its transport is tcp.
    #[arg(
        long,
        env = "NOTIFICATION_SERVICE_TCP_ADDR",
        default_value = "127.0.0.1:4002"
    )]
    pub notification_service_tcp_addr: String,
    /// The admin HTTP port (/livez, /readyz, /metrics), kept off the public
    /// port.
    #[arg(
        long = "admin-listen-addr",
        env = "ADMIN_LISTEN_ADDR",
        default_value = "127.0.0.1:9100"
    )]
    pub admin_addr: SocketAddr,
    /// Which access tokens the gateway accepts.
    #[command(flatten)]
    pub auth: AuthConfig,
    /// POST /auth/token attempts per minute from one client address (bursts
    /// of as many); past it, 429.
    #[arg(long, env = "LOGIN_LIMIT_PER_ADDRESS", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..))]
    pub login_limit_per_address: u32,
    /// Log-in attempts per minute for one email from one address: a guessed
    /// password slows down there, and the account still works from
    /// everywhere else.
    #[arg(long, env = "LOGIN_LIMIT_PER_ACCOUNT_AND_ADDRESS", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub login_limit_per_account_and_address: u32,
    /// Sign-ups per minute from one address (each costs a password hash);
    /// past it, 429.
    #[arg(long, env = "SIGNUP_LIMIT_PER_ADDRESS", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub signup_limit_per_address: u32,
    /// Requests served at once; more are refused at once with 503 and
    /// Retry-After (load shedding), not queued (0 counts as 1).
    #[arg(long, env = "MAX_CONCURRENT_REQUESTS", default_value_t = 512)]
    pub max_concurrent_requests: usize,
    /// A connection that has not sent a request's headers within this is
    /// closed (slowloris); so is one with no request in flight for as long.
    #[arg(long, env = "HEADER_READ_TIMEOUT", default_value = "10s", value_parser = duration)]
    pub header_read_timeout: Duration,
    /// Requests one client — one address, and one signed-in user — may
    /// have in flight; more get 429.
    //
    // 64: what `just bench` drives from one address.
    #[arg(long, env = "MAX_CONCURRENT_REQUESTS_PER_CLIENT", default_value_t = 64, value_parser = at_least_one())]
    pub max_concurrent_requests_per_client: usize,
    /// A request's body must arrive within this of its headers, else 408.
    #[arg(long, env = "BODY_READ_TIMEOUT", default_value = "5s", value_parser = duration)]
    pub body_read_timeout: Duration,
    /// Open connections at once; more are closed as soon as accepted.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = 8192, value_parser = at_least_one())]
    pub max_connections: usize,
    /// Open connections from one address (a trusted proxy's are not
    /// counted: they carry many clients).
    #[arg(long, env = "MAX_CONNECTIONS_PER_CLIENT", default_value_t = 256, value_parser = at_least_one())]
    pub max_connections_per_client: usize,
    /// The reverse proxies in front of the gateway, as CIDRs
    /// (`10.0.0.0/8,192.168.1.7`): only from them is the client's address
    /// taken from X-Forwarded-For / Forwarded. Empty: none.
    #[arg(long, env = "TRUSTED_PROXIES", default_value = "", value_parser = TrustedProxies::parse)]
    pub trusted_proxies: TrustedProxies,
}

impl Resolve for Config {
    fn resolve(&mut self, matches: &ArgMatches) -> Result<(), ConfigError> {
        self.amqp.resolve(matches)?;
        self.nats.resolve(matches)?;
        self.redis.resolve(matches)?;
        self.auth.resolve(matches)?;
        self.tls = self.grpc_tls.identity(API_GATEWAY)?;
        let tls = self.tls.is_some();
        platform::tls::check_urls("USER_SERVICE_URL", &self.user_service_url, tls)?;
        // tcp is mutual TLS with this service's certificate, or nothing.
        Transport::check_tls(&[self.orders_transport], "ORDERS_TRANSPORT", tls)?;
        let notifications = [self.notifications_transport];
        Transport::check_tls(&notifications, "NOTIFICATIONS_TRANSPORT", tls)?;
        self.max_concurrent_requests = self.max_concurrent_requests.max(1);
        Ok(())
    }
}

impl Config {
    /// The declared defaults with a chosen listen address and user-service
    /// URL — nothing read from the environment — and an admin port chosen
    /// by the OS; for tests and embedding.
    pub fn new(listen_addr: SocketAddr, user_service_url: impl Into<String>) -> Self {
        let mut config: Self = platform::config::defaults();
        config.listen_addr = listen_addr;
        config.user_service_url = user_service_url.into();
        config.admin_addr = SocketAddr::from(([127, 0, 0, 1], 0));
        config
    }
}

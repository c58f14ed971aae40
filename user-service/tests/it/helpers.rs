use std::time::Duration;

use contracts::{
    identity::{
        API_GATEWAY, CALLER_ID_HEADER, CALLER_ROLE_HEADER, Caller, ORDER_SERVICE, Role,
        USER_SERVICE,
    },
    user::user_service_client::UserServiceClient,
};
use sqlx::PgPool;
use tokio::sync::oneshot;
use tonic::{
    service::interceptor::InterceptedService,
    transport::{Certificate, Channel, ClientTlsConfig},
};
use user_service::{App, Config, dev_pki::DevPki, hash_pool::HashPool};

/// A password that passes the length check.
pub(crate) const PASSWORD: &str = "correct horse battery";

/// A client that names `caller` in every call's metadata, as the gateway
/// does for the user it verified (`None`: no caller at all).
pub(crate) type Client = UserServiceClient<InterceptedService<Channel, AsCaller>>;

#[derive(Debug, Clone, Copy)]
pub(crate) struct AsCaller(pub(crate) Option<Caller>);

impl tonic::service::Interceptor for AsCaller {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(caller) = self.0 {
            let metadata = req.metadata_mut();
            metadata.insert(
                CALLER_ID_HEADER,
                caller.user_id.to_string().parse().unwrap(),
            );
            metadata.insert(CALLER_ROLE_HEADER, caller.role.as_str().parse().unwrap());
        }
        Ok(req)
    }
}

/// A running user-service, serving mutual TLS with a development PKI of
/// its own. Dropping it shuts the server down.
pub(crate) struct TestApp {
    /// Calls as the gateway for an admin, who may do everything but the
    /// saga's RPCs: for tests of what the service does, not of who may ask.
    pub(crate) users: Client,
    /// Calls as order-service (no user): the saga's `Debit` and `Refund`.
    pub(crate) saga: Client,
    /// A channel presenting the gateway's certificate.
    pub(crate) channel: Channel,
    pub(crate) addr: std::net::SocketAddr,
    pub(crate) pki: DevPki,
    /// The server's password hashers: their stats, and places in them.
    pub(crate) hashing: HashPool,
    _shutdown: oneshot::Sender<()>,
}

impl TestApp {
    pub(crate) async fn spawn(pool: PgPool) -> Self {
        Self::spawn_with(pool, Duration::from_secs(5)).await
    }

    pub(crate) async fn spawn_with(pool: PgPool, health_check_interval: Duration) -> Self {
        let mut config = Config::new("127.0.0.1:0".parse().unwrap());
        config.health_check_interval = health_check_interval;
        Self::spawn_config(pool, config).await
    }

    pub(crate) async fn spawn_config(pool: PgPool, mut config: Config) -> Self {
        // With the gateway's name minted in another namespace by the same CA,
        // for the tests of what a SPIFFE ID proves.
        let elsewhere = platform::tls::Spiffe::new("cluster.local", "elsewhere").unwrap();
        let pki = DevPki::generate_in(&Default::default(), &[(elsewhere, API_GATEWAY)]).unwrap();
        config.tls = pki.tls(USER_SERVICE);
        // Bound before spawning: the port accepts connections from here on,
        // so no readiness sleep is needed.
        let app = App::with_pool(config, pool).await.unwrap();
        let addr = app.local_addr();
        let hashing = app.hash_pool();
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(app.run_until(async {
            let _ = rx.await;
        }));
        let channel = connect(addr, &pki, Some(API_GATEWAY)).await;
        let saga = connect(addr, &pki, Some(ORDER_SERVICE)).await;
        let admin = Caller {
            user_id: uuid::Uuid::now_v7(),
            role: Role::Admin,
        };
        Self {
            users: Self::client(&channel, Some(admin)),
            saga: Self::client(&saga, None),
            channel,
            addr,
            pki,
            hashing,
            _shutdown: tx,
        }
    }

    /// A client calling as `caller`.
    pub(crate) fn client(channel: &Channel, caller: Option<Caller>) -> Client {
        UserServiceClient::with_interceptor(channel.clone(), AsCaller(caller))
    }

    /// A client of the gateway's calling as `caller`.
    pub(crate) fn as_caller(&self, caller: Option<Caller>) -> Client {
        Self::client(&self.channel, caller)
    }

    /// A channel presenting `service`'s certificate (`None`: none at all).
    pub(crate) async fn channel_as(&self, service: Option<&str>) -> Channel {
        connect(self.addr, &self.pki, service).await
    }
}

/// The SPIFFE ID of the certificate every [`TestApp`]'s CA also signed: the
/// gateway's name in another namespace.
pub(crate) const GATEWAY_ELSEWHERE: &str = "spiffe://cluster.local/ns/elsewhere/sa/api-gateway";

impl TestApp {
    /// A channel presenting the certificate [`GATEWAY_ELSEWHERE`] names.
    pub(crate) async fn channel_from_elsewhere(&self) -> Channel {
        let tls = self.pki.stranger(GATEWAY_ELSEWHERE).unwrap();
        let endpoint = Channel::from_shared(format!("https://{}", self.addr)).unwrap();
        endpoint
            .tls_config(tls.client(USER_SERVICE))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }
}

/// A TLS channel to `addr` that checks the server is user-service, and
/// presents `service`'s certificate when given.
pub(crate) async fn connect(
    addr: std::net::SocketAddr,
    pki: &DevPki,
    service: Option<&str>,
) -> Channel {
    let endpoint = Channel::from_shared(format!("https://{addr}")).unwrap();
    let tls = match service {
        Some(service) => pki.tls(service).unwrap().client(USER_SERVICE),
        None => ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&pki.ca))
            .domain_name(USER_SERVICE),
    };
    endpoint.tls_config(tls).unwrap().connect().await.unwrap()
}

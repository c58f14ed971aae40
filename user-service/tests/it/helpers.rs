use std::time::Duration;

use contracts::user::user_service_client::UserServiceClient;
use sqlx::PgPool;
use tokio::sync::oneshot;
use tonic::transport::Channel;
use user_service::{App, Config};

/// A running user-service. Dropping it shuts the server down.
pub(crate) struct TestApp {
    pub(crate) users: UserServiceClient<Channel>,
    pub(crate) channel: Channel,
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

    pub(crate) async fn spawn_config(pool: PgPool, config: Config) -> Self {
        // Bound before spawning: the port accepts connections from here on,
        // so no readiness sleep is needed.
        let app = App::with_pool(config, pool).await.unwrap();
        let addr = app.local_addr();
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(app.run_until(async {
            let _ = rx.await;
        }));
        let channel = Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        Self {
            users: UserServiceClient::new(channel.clone()),
            channel,
            _shutdown: tx,
        }
    }
}

use anyhow::Context;
use user_service::{App, Config};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::from_env().context("reading configuration")?;
    if std::env::args().nth(1).as_deref() == Some("healthcheck") {
        return user_service::health::probe(config.listen_addr).await;
    }

    let _telemetry = platform::telemetry::init("user-service");
    let app = App::build(config).await.context("starting user-service")?;
    app.run_until(platform::shutdown_signal()).await
}

use anyhow::Context;
use api_gateway::{App, Config};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::from_env().context("reading configuration")?;
    if std::env::args().nth(1).as_deref() == Some("healthcheck") {
        return api_gateway::health::probe(config.listen_addr).await;
    }

    let _telemetry = platform::telemetry::init("api-gateway");
    let app = App::build(config).await.context("starting api-gateway")?;
    app.run_until(platform::shutdown_signal()).await
}

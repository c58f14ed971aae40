use anyhow::Context;
use api_gateway::{App, Config};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = platform::telemetry::init("api-gateway");
    let config = Config::from_env().context("reading configuration")?;
    let app = App::build(config).await.context("starting api-gateway")?;
    app.run_until(platform::shutdown_signal()).await
}

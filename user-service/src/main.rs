use anyhow::Context;
use user_service::{App, Config};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = platform::telemetry::init("user-service");
    let config = Config::from_env().context("reading configuration")?;
    let app = App::build(config).await.context("starting user-service")?;
    app.run_until(platform::shutdown_signal()).await
}

use anyhow::Context;
use order_service::{App, Config};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::from_env().context("reading configuration")?;
    if std::env::args().nth(1).as_deref() == Some("healthcheck") {
        // The container HEALTHCHECK: is this order-service ready?
        return platform::admin::probe(config.admin_addr, "/readyz").await;
    }
    let _telemetry = platform::telemetry::init(platform::service!("order-service"));
    let app = App::build(config).await.context("starting order-service")?;
    app.run_until(platform::shutdown_signal()).await
}

use anyhow::Context;
use api_gateway::{App, Config};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::args().nth(1).as_deref() == Some("openapi") {
        // The document `GET /openapi.json` serves, without starting
        // anything: for client generators and linters.
        println!("{}", api_gateway::routes::document().to_pretty_json()?);
        return Ok(());
    }
    let (healthcheck, args) = platform::config::command("healthcheck");
    let config: Config = platform::config::parse_from(args).context("reading configuration")?;
    if healthcheck {
        // The container HEALTHCHECK: is this gateway ready? (Its `/health`
        // is the whole system's, not a reason to mark the gateway unhealthy.)
        return platform::admin::probe(config.admin_addr, "/readyz").await;
    }

    let _telemetry = platform::telemetry::init(platform::service!("api-gateway"));
    let app = App::build(config).await.context("starting api-gateway")?;
    app.run_until(platform::shutdown_signal()).await
}

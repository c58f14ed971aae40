use anyhow::Context;
use notification_service::{App, Config};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // `notification-service healthcheck`: the container HEALTHCHECK, is this
    // notification-service ready? The rest of the command line is the config's.
    let (healthcheck, args) = platform::config::command("healthcheck");
    let config: Config = platform::config::parse_from(args).context("reading configuration")?;
    if healthcheck {
        return platform::admin::probe(config.admin_addr, "/readyz").await;
    }
    let _telemetry = platform::telemetry::init(platform::service!("notification-service"));
    let app = App::build(config)
        .await
        .context("starting notification-service")?;
    app.run_until(platform::shutdown_signal()).await
}

use anyhow::Context;
use user_service::{App, Config};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::args().nth(1).as_deref() == Some("generate-signing-key") {
        // For JWT_SIGNING_KEY_FILE: `user-service generate-signing-key > key.pem`.
        print!("{}", user_service::tokens::generate_pem());
        return Ok(());
    }
    let config = Config::from_env().context("reading configuration")?;
    if std::env::args().nth(1).as_deref() == Some("healthcheck") {
        return user_service::health::probe(config.listen_addr).await;
    }

    let _telemetry = platform::telemetry::init("user-service");
    let app = App::build(config).await.context("starting user-service")?;
    app.run_until(platform::shutdown_signal()).await
}

use anyhow::Context;
use user_service::{App, Config};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let command = std::env::args().nth(1);
    if command.as_deref() == Some("generate-signing-key") {
        // For JWT_SIGNING_KEY_FILE: `user-service generate-signing-key > key.pem`.
        print!("{}", user_service::tokens::generate_pem());
        return Ok(());
    }
    if command.as_deref() == Some("generate-dev-certs") {
        // `user-service generate-dev-certs DIR`: a development CA and every
        // service's certificate, for GRPC_TLS_* (docs/security.md). A set
        // already in DIR is kept: services started from it must keep
        // trusting each other.
        let dir = std::env::args()
            .nth(2)
            .context("usage: generate-dev-certs DIR")?;
        let dir = std::path::Path::new(&dir);
        if dir.join("ca.pem").exists() {
            println!("kept the certificates in {}", dir.display());
            return Ok(());
        }
        let pki = user_service::dev_pki::DevPki::generate()?;
        pki.write_to(dir)
            .with_context(|| format!("writing certificates to {}", dir.display()))?;
        println!(
            "development CA and service certificates written to {}",
            dir.display()
        );
        return Ok(());
    }
    let config = Config::from_env().context("reading configuration")?;
    if command.as_deref() == Some("healthcheck") {
        return platform::admin::probe(config.admin_addr, "/readyz").await;
    }

    let _telemetry = platform::telemetry::init(platform::service!("user-service"));
    let app = App::build(config).await.context("starting user-service")?;
    app.run_until(platform::shutdown_signal()).await
}

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
        let args: Vec<String> = std::env::args().skip(2).collect();
        return generate_dev_certs(&args);
    }
    // `user-service healthcheck`: the container HEALTHCHECK. The rest of
    // the command line is the config's.
    let (healthcheck, args) = platform::config::command("healthcheck");
    let config: Config = platform::config::parse_from(args).context("reading configuration")?;
    if healthcheck {
        return platform::admin::probe(config.admin_addr, "/readyz").await;
    }

    let _telemetry = platform::telemetry::init(platform::service!("user-service"));
    let app = App::build(config).await.context("starting user-service")?;
    app.run_until(platform::shutdown_signal()).await
}

/// `user-service generate-dev-certs [--per-service] DIR`: a development CA
/// and every service's certificate, for GRPC_TLS_* (docs/security.md). A set
/// already in DIR is kept: services started from it must keep trusting each
/// other — unless its certificates lack their SPIFFE IDs for
/// `SPIFFE_TRUST_DOMAIN` and `SPIFFE_NAMESPACE`, which peers would refuse.
/// `--per-service` (compose's `certs` job) writes a directory per container
/// and keeps the CA's key in `DIR/ca`, which no service mounts
/// (`dev_pki::write_per_service`).
fn generate_dev_certs(args: &[String]) -> anyhow::Result<()> {
    use user_service::dev_pki::{DevPki, write_per_service};
    // SPIFFE_TRUST_DOMAIN and SPIFFE_NAMESPACE, as every service declares them.
    let spiffe: platform::tls::Spiffe = platform::config::parse_from(["user-service"])?;
    let (per_service, dir) = match args {
        [flag, dir] if flag == "--per-service" => (true, std::path::Path::new(dir)),
        [dir] if !dir.starts_with("--") => (false, std::path::Path::new(dir)),
        _ => anyhow::bail!("usage: generate-dev-certs [--per-service] DIR"),
    };
    let writing = || format!("writing certificates to {}", dir.display());
    if per_service {
        let issued = write_per_service(dir, &spiffe).with_context(writing)?;
        match issued.as_slice() {
            [] => println!("kept the certificates in {}", dir.display()),
            _ => println!(
                "issued certificates for {} in {}",
                issued.join(", "),
                dir.display()
            ),
        }
        return Ok(());
    }
    if DevPki::written_in(dir, &spiffe).with_context(writing)? {
        println!("kept the certificates in {}", dir.display());
        return Ok(());
    }
    DevPki::generate_in(&spiffe, &[])?
        .write_to(dir)
        .with_context(writing)?;
    println!(
        "development CA and service certificates written to {}",
        dir.display()
    );
    Ok(())
}

//! The mutual-TLS variables every service declares: the CA, the
//! service's certificate and key (PEM values or `_FILE`s), and where its
//! peers must come from ([`Spiffe`]).

use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};
use tonic::transport::Endpoint;

use super::{GrpcTls, Spiffe, spiffe};
use crate::{
    config::{secret, secret_or_file},
    env::{ConfigError, invalid},
};

/// `GRPC_TLS_*` and `SPIFFE_*`, as declared; [`TlsConfig::identity`] turns
/// them into the service's [`GrpcTls`], checked.
#[derive(Debug, Clone, clap::Args)]
pub struct TlsConfig {
    /// The CA every service trusts, PEM. All three of GRPC_TLS_CA,
    /// GRPC_TLS_CERT and GRPC_TLS_KEY (or their _FILEs), or none.
    #[arg(id = "grpc_tls_ca", long = "grpc-tls-ca", env = "GRPC_TLS_CA", value_parser = secret, hide_env_values = true)]
    ca: Option<SecretString>,
    /// This service's certificate, PEM, naming its SPIFFE ID and its DNS
    /// name (the service's name).
    #[arg(id = "grpc_tls_cert", long = "grpc-tls-cert", env = "GRPC_TLS_CERT", value_parser = secret, hide_env_values = true)]
    cert: Option<SecretString>,
    /// This service's private key, PEM.
    #[arg(id = "grpc_tls_key", long = "grpc-tls-key", env = "GRPC_TLS_KEY", value_parser = secret, hide_env_values = true)]
    key: Option<SecretString>,
    /// A file holding GRPC_TLS_CA, read when it is unset.
    #[arg(
        id = "grpc_tls_ca_file",
        long = "grpc-tls-ca-file",
        env = "GRPC_TLS_CA_FILE"
    )]
    ca_file: Option<PathBuf>,
    /// A file holding GRPC_TLS_CERT, read when it is unset.
    #[arg(
        id = "grpc_tls_cert_file",
        long = "grpc-tls-cert-file",
        env = "GRPC_TLS_CERT_FILE"
    )]
    cert_file: Option<PathBuf>,
    /// A file holding GRPC_TLS_KEY, read when it is unset.
    #[arg(
        id = "grpc_tls_key_file",
        long = "grpc-tls-key-file",
        env = "GRPC_TLS_KEY_FILE"
    )]
    key_file: Option<PathBuf>,
    #[command(flatten)]
    spiffe: Spiffe,
}

impl TlsConfig {
    /// The identity of `service`: `None` when no `GRPC_TLS_*` is set; an
    /// error naming what is missing when only some are, when one is not
    /// PEM, or when the certificate does not carry `service`'s SPIFFE ID
    /// (its peers would refuse it).
    pub fn identity(&self, service: &str) -> Result<Option<GrpcTls>, ConfigError> {
        let ca = secret_or_file(self.ca.clone(), "GRPC_TLS_CA_FILE", self.ca_file.as_deref())?;
        let cert = secret_or_file(
            self.cert.clone(),
            "GRPC_TLS_CERT_FILE",
            self.cert_file.as_deref(),
        )?;
        let key = secret_or_file(
            self.key.clone(),
            "GRPC_TLS_KEY_FILE",
            self.key_file.as_deref(),
        )?;
        let (ca, cert, key) = match (ca, cert, key) {
            (None, None, None) => return Ok(None),
            (Some(ca), Some(cert), Some(key)) => (ca, cert, key),
            _ => {
                return Err(invalid(
                    "GRPC_TLS_CA/GRPC_TLS_CERT/GRPC_TLS_KEY",
                    "(some set)",
                    "set all three (or their _FILE variants), or none",
                ));
            }
        };
        for (name, pem) in [("GRPC_TLS_CA", &ca), ("GRPC_TLS_CERT", &cert)] {
            if !pem.expose_secret().contains("-----BEGIN CERTIFICATE-----") {
                return Err(invalid(name, "(not shown)", "is not a PEM certificate"));
            }
        }
        if !key.expose_secret().contains("PRIVATE KEY-----") {
            return Err(invalid(
                "GRPC_TLS_KEY",
                "(secret)",
                "is not a PEM private key",
            ));
        }
        let own = spiffe::pem_uris(cert.expose_secret());
        let id = self.spiffe.id(service);
        if !own.contains(&id) {
            return Err(invalid(
                "GRPC_TLS_CERT",
                "(not shown)",
                format!(
                    "names {own:?}, not {id}: issue it again with that URI subject alternative \
                     name (`user-service generate-dev-certs` re-issues development ones), or set \
                     SPIFFE_TRUST_DOMAIN / SPIFFE_NAMESPACE to match it"
                ),
            ));
        }
        let tls = GrpcTls::from_pem(ca.expose_secret(), cert.expose_secret(), key)
            .with_spiffe(self.spiffe.clone());
        // Parses the PEMs now, so a bad one fails start-up, not every call.
        Endpoint::from_static("https://check.invalid")
            .tls_config(tls.client("check.invalid"))
            .map_err(|e| {
                invalid(
                    "GRPC_TLS_CA/GRPC_TLS_CERT/GRPC_TLS_KEY",
                    "(not shown)",
                    e.to_string(),
                )
            })?;
        Ok(Some(tls))
    }

    /// Where peers must come from to be believed (`SPIFFE_*`).
    pub fn spiffe(&self) -> &Spiffe {
        &self.spiffe
    }
}

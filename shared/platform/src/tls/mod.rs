//! Mutual TLS between services over gRPC: every service holds a certificate
//! naming it — its SPIFFE ID (`spiffe://cluster.local/ns/rust-shop/sa/
//! order-service`, [`spiffe`]) and its DNS name (`order-service`) — signed
//! by one CA every service trusts. The server learns *which service* calls
//! from the SPIFFE ID of the client's verified certificate ([`peer`]); the
//! client checks that the server is `user-service` by its DNS name.
//! docs/security.md says why mTLS rather than signed per-service tokens.
//!
//! Configured by `GRPC_TLS_CA`, `GRPC_TLS_CERT` and `GRPC_TLS_KEY` — PEM
//! values, or files named by the same names with `_FILE` (how Docker and
//! Kubernetes mount secrets). All three, or none ([`TlsConfig`], the group
//! every service declares). The same identity secures
//! NestJS's TCP transport between the gateway and the services
//! ([`streams`]: rustls configs for any TLS stream).

mod config;
#[cfg(feature = "dev-pki")]
pub mod dev_pki;
pub mod spiffe;
pub mod streams;

pub use config::TlsConfig;
pub use spiffe::{Peer, Spiffe};

use secrecy::{ExposeSecret, SecretString};
use tonic::transport::{
    Certificate, ClientTlsConfig, Endpoint, Identity, ServerTlsConfig, server::TcpConnectInfo,
    server::TlsConnectInfo,
};

use crate::env::{ConfigError, invalid};

/// How long a server waits for a client to complete the TLS handshake.
pub const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// A service's certificate and key, and the CA its peers are checked
/// against. Its `Debug` prints no key.
#[derive(Clone)]
pub struct GrpcTls {
    ca: String,
    cert: String,
    key: SecretString,
    spiffe: Spiffe,
}

impl std::fmt::Debug for GrpcTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcTls").finish_non_exhaustive()
    }
}

impl GrpcTls {
    /// From PEM text: the CA's certificate, this service's certificate and
    /// its private key; peers are believed from the default trust domain
    /// and namespace ([`Self::with_spiffe`] to change them).
    pub fn from_pem(ca: impl Into<String>, cert: impl Into<String>, key: SecretString) -> Self {
        // tonic builds its rustls configs from the process default provider.
        install_crypto_provider();
        Self {
            ca: ca.into(),
            cert: cert.into(),
            key,
            spiffe: Spiffe::default(),
        }
    }

    /// The same, believing peers of `spiffe`'s trust domain and namespace.
    pub fn with_spiffe(self, spiffe: Spiffe) -> Self {
        Self { spiffe, ..self }
    }

    /// Where peers must come from to be believed.
    pub fn spiffe(&self) -> &Spiffe {
        &self.spiffe
    }

    fn identity(&self) -> Identity {
        Identity::from_pem(&self.cert, self.key.expose_secret())
    }

    /// The server side: present this certificate, and verify a client's
    /// against the CA. Clients without one still connect (they may call
    /// `grpc.health.v1`), and are refused UNAUTHENTICATED by the service's
    /// access check rather than by a failed handshake they cannot read.
    pub fn server(&self) -> ServerTlsConfig {
        ServerTlsConfig::new()
            .identity(self.identity())
            .client_ca_root(Certificate::from_pem(&self.ca))
            .client_auth_optional(true)
            // tonic waits forever for a handshake by default: a peer that
            // opens connections and never speaks would hold them all.
            .timeout(HANDSHAKE_TIMEOUT)
    }

    /// The client side: present this certificate, and accept only a server
    /// whose certificate names `server_name` and is signed by the CA.
    pub fn client(&self, server_name: &str) -> ClientTlsConfig {
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&self.ca))
            .identity(self.identity())
            .domain_name(server_name)
    }
}

/// `endpoint` speaking TLS as `tls` says, to a server whose certificate
/// names `server_name`; as it is without TLS. A configuration `from_env`
/// accepted cannot fail here; if one did, the endpoint keeps no TLS and its
/// https:// URL fails every connection (tonic refuses https without TLS):
/// closed, never silently plaintext.
pub fn endpoint(endpoint: Endpoint, tls: Option<&GrpcTls>, server_name: &str) -> Endpoint {
    match tls {
        Some(tls) => endpoint
            .clone()
            .tls_config(tls.client(server_name))
            .unwrap_or(endpoint),
        None => endpoint,
    }
}

/// Checks a comma-separated list of gRPC server URLs (`name`, e.g.
/// `USER_SERVICE_URL`) against the TLS setting: with TLS every URL must be
/// `https://` — tonic would speak plaintext to an `http://` one, TLS
/// configured or not — and without TLS `http://`.
pub fn check_urls(name: &str, urls: &str, tls: bool) -> Result<(), ConfigError> {
    let scheme = if tls { "https://" } else { "http://" };
    for url in urls.split(',').map(str::trim) {
        if !url.starts_with(scheme) {
            let reason = if tls {
                "with GRPC_TLS_* set, every URL must be https://, e.g. https://127.0.0.1:5000"
            } else {
                "expected http:// URLs, comma-separated, such as \
                 http://127.0.0.1:5000,http://127.0.0.1:5001 (https:// needs GRPC_TLS_*)"
            };
            return Err(invalid(name, urls, reason));
        }
    }
    Ok(())
}

/// Installs ring as the process's rustls crypto provider (the workspace's
/// only one): tonic builds its TLS configs from the process default.
/// Idempotent; [`GrpcTls::from_pem`] calls it.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Who the client certificate the TLS handshake verified against the CA
/// is, from a request's extensions, judged by `spiffe`; `None` when the
/// caller presented none (or TLS is off).
pub fn peer(extensions: &http::Extensions, spiffe: &Spiffe) -> Option<Peer> {
    let certs = extensions
        .get::<TlsConnectInfo<TcpConnectInfo>>()
        .and_then(TlsConnectInfo::peer_certs)?;
    certs.first().map(|leaf| spiffe.peer(leaf.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_match_the_tls_setting() {
        assert!(check_urls("U", "http://a:1, http://b:2", false).is_ok());
        assert!(check_urls("U", "https://a:1,https://b:2", true).is_ok());
        let plaintext = check_urls("U", "https://a:1,http://b:2", true).unwrap_err();
        assert!(plaintext.to_string().contains("https://"), "{plaintext}");
        assert!(check_urls("U", "https://a:1", false).is_err());
        assert!(check_urls("U", "a:1", false).is_err());
    }
}

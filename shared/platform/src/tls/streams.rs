//! The services' mutual-TLS identity ([`GrpcTls`]) for TLS streams other
//! than gRPC — NestJS's TCP transport between the gateway and the services:
//! rustls configs in which both sides present their certificate and check
//! the other's against the one CA. Unlike the gRPC server, a stream server
//! requires a client certificate: a TCP peer has nothing else to prove who
//! it is, and no health check to answer anonymously.

use std::sync::Arc;

use rustls::{
    ClientConfig, RootCertStore, ServerConfig,
    crypto::CryptoProvider,
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
    server::WebPkiClientVerifier,
};
use secrecy::ExposeSecret;

use super::GrpcTls;

/// Why a TLS configuration could not be built from the PEMs.
#[derive(Debug, thiserror::Error)]
#[error("TLS configuration: {0}")]
pub struct StreamTlsError(String);

fn error(e: impl std::fmt::Display) -> StreamTlsError {
    StreamTlsError(e.to_string())
}

impl GrpcTls {
    /// A server presenting this certificate and requiring a client
    /// certificate signed by the CA.
    pub fn stream_server(&self) -> Result<Arc<ServerConfig>, StreamTlsError> {
        let provider = provider();
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(self.roots()?), provider.clone())
                .build()
                .map_err(error)?;
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(error)?
            .with_client_cert_verifier(verifier)
            .with_single_cert(self.chain()?, self.private_key()?)
            .map_err(error)?;
        Ok(Arc::new(config))
    }

    /// A client presenting this certificate and accepting a server whose
    /// certificate is signed by the CA (its name is checked per connection).
    pub fn stream_client(&self) -> Result<Arc<ClientConfig>, StreamTlsError> {
        let config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(error)?
            .with_root_certificates(self.roots()?)
            .with_client_auth_cert(self.chain()?, self.private_key()?)
            .map_err(error)?;
        Ok(Arc::new(config))
    }

    fn roots(&self) -> Result<RootCertStore, StreamTlsError> {
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(self.ca.as_bytes()) {
            roots.add(cert.map_err(error)?).map_err(error)?;
        }
        Ok(roots)
    }

    fn chain(&self) -> Result<Vec<CertificateDer<'static>>, StreamTlsError> {
        CertificateDer::pem_slice_iter(self.cert.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(error)
    }

    fn private_key(&self) -> Result<PrivateKeyDer<'static>, StreamTlsError> {
        // The error names no key material.
        PrivateKeyDer::from_pem_slice(self.key.expose_secret().as_bytes()).map_err(error)
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

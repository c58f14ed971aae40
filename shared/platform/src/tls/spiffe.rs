//! Which service a certificate belongs to: its SPIFFE ID, a URI subject
//! alternative name `spiffe://<trust domain>/ns/<namespace>/sa/<service>`.
//! A peer is the service its ID names *in this trust domain and namespace*,
//! and nothing else: a DNS name says where a server is (clients still check
//! it, as every TLS client does), not who may call. So a certificate for
//! `api-gateway` minted in another namespace — by a cluster-wide issuer or
//! a mesh sharing the root — names no service here, and is refused.
//!
//! `SPIFFE_TRUST_DOMAIN` (default `cluster.local`) and `SPIFFE_NAMESPACE`
//! (default `rust-shop`; Kubernetes sets it from the pod's namespace),
//! declared in [`Spiffe`].

use crate::env::{ConfigError, invalid};

/// The trust domain unless `SPIFFE_TRUST_DOMAIN` names another:
/// Kubernetes' default cluster domain, as Istio and Linkerd use it.
pub const DEFAULT_TRUST_DOMAIN: &str = "cluster.local";
/// The namespace unless `SPIFFE_NAMESPACE` names another: the one the
/// Kubernetes manifests deploy into.
pub const DEFAULT_NAMESPACE: &str = "rust-shop";

/// Where this service's peers must come from to be believed: a group every
/// service declares (through `tls::TlsConfig`), and `user-service
/// generate-dev-certs` alone.
#[derive(Debug, Clone, PartialEq, Eq, clap::Parser)]
pub struct Spiffe {
    /// The trust domain of the SPIFFE IDs a peer's certificate must carry
    /// to be believed.
    #[arg(
        id = "spiffe_trust_domain",
        long = "spiffe-trust-domain",
        env = "SPIFFE_TRUST_DOMAIN",
        default_value = DEFAULT_TRUST_DOMAIN,
        value_parser = plain_name
    )]
    trust_domain: String,
    /// The namespace of those SPIFFE IDs; Kubernetes sets it from the pod's
    /// namespace.
    #[arg(
        id = "spiffe_namespace",
        long = "spiffe-namespace",
        env = "SPIFFE_NAMESPACE",
        default_value = DEFAULT_NAMESPACE,
        value_parser = plain_name
    )]
    namespace: String,
}

impl Default for Spiffe {
    fn default() -> Self {
        Self {
            trust_domain: DEFAULT_TRUST_DOMAIN.to_owned(),
            namespace: DEFAULT_NAMESPACE.to_owned(),
        }
    }
}

impl crate::config::Resolve for Spiffe {
    fn resolve(&mut self, _: &clap::ArgMatches) -> Result<(), ConfigError> {
        Ok(())
    }
}

/// A plain name (lower-case letters, digits, `.`, `-`, `_`), as SPIFFE
/// requires of a trust domain and a path segment.
fn plain_name(value: &str) -> Result<String, &'static str> {
    let plain = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c);
    match !value.is_empty() && value.chars().all(plain) {
        true => Ok(value.to_owned()),
        false => Err("use lower-case letters, digits, '.', '-' and '_' only"),
    }
}

impl Spiffe {
    /// `trust_domain` and `namespace`, each checked to be a plain name.
    pub fn new(trust_domain: &str, namespace: &str) -> Result<Self, ConfigError> {
        let check = |name, value| plain_name(value).map_err(|reason| invalid(name, value, reason));
        Ok(Self {
            trust_domain: check("SPIFFE_TRUST_DOMAIN", trust_domain)?,
            namespace: check("SPIFFE_NAMESPACE", namespace)?,
        })
    }

    /// `service`'s SPIFFE ID here.
    pub fn id(&self, service: &str) -> String {
        format!(
            "spiffe://{}/ns/{}/sa/{service}",
            self.trust_domain, self.namespace
        )
    }

    /// The service `id` names, when it is a SPIFFE ID of this trust domain
    /// and namespace.
    pub fn service<'a>(&self, id: &'a str) -> Option<&'a str> {
        let path = id
            .strip_prefix("spiffe://")?
            .strip_prefix(self.trust_domain.as_str())?
            .strip_prefix("/ns/")?
            .strip_prefix(self.namespace.as_str())?
            .strip_prefix("/sa/")?;
        (!path.is_empty() && !path.contains('/')).then_some(path)
    }

    /// Who a verified DER certificate is: every URI it names, and the
    /// services among them that are ours.
    pub fn peer(&self, der: &[u8]) -> Peer {
        let presented = uris(der);
        let services = presented
            .iter()
            .filter_map(|id| self.service(id))
            .map(str::to_owned)
            .collect();
        Peer {
            presented,
            services,
        }
    }
}

/// A verified certificate's identity.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Peer {
    /// Every URI subject alternative name it carries (to say who was
    /// refused).
    pub presented: Vec<String>,
    /// The services of this trust domain and namespace it names.
    pub services: Vec<String>,
}

/// The URI subject alternative names of the first certificate of a PEM
/// text; empty when there is none or it does not parse.
pub fn pem_uris(pem: &str) -> Vec<String> {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    CertificateDer::from_pem_slice(pem.as_bytes())
        .map(|der| uris(&der))
        .unwrap_or_default()
}

/// The URI subject alternative names of a DER certificate; empty when it
/// does not parse or has none.
pub fn uris(der: &[u8]) -> Vec<String> {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return Vec::new();
    };
    let Ok(Some(names)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    names
        .value
        .general_names
        .iter()
        .filter_map(|name| match name {
            x509_parser::extensions::GeneralName::URI(uri) => Some((*uri).to_owned()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_id_of_this_trust_domain_and_namespace_names_a_service() {
        let here = Spiffe::default();
        let id = here.id("api-gateway");
        assert_eq!(id, "spiffe://cluster.local/ns/rust-shop/sa/api-gateway");
        assert_eq!(here.service(&id), Some("api-gateway"));
        for stranger in [
            "spiffe://cluster.local/ns/other/sa/api-gateway",
            "spiffe://cluster.local/ns/rust-shop-dev/sa/api-gateway",
            "spiffe://evil.local/ns/rust-shop/sa/api-gateway",
            "spiffe://cluster.local.evil/ns/rust-shop/sa/api-gateway",
            "spiffe://cluster.local/ns/rust-shop/sa/",
            "spiffe://cluster.local/ns/rust-shop/sa/api-gateway/x",
            "https://cluster.local/ns/rust-shop/sa/api-gateway",
            "api-gateway",
        ] {
            assert_eq!(here.service(stranger), None, "{stranger}");
        }
    }

    #[test]
    fn names_are_checked() {
        assert!(Spiffe::new("example.org", "shop-prod").is_ok());
        for (domain, namespace) in [
            ("", "ns"),
            ("Example.org", "ns"),
            ("a/b", "ns"),
            ("d", "x/y"),
        ] {
            assert!(
                Spiffe::new(domain, namespace).is_err(),
                "{domain} {namespace}"
            );
        }
    }
}

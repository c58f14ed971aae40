//! A development CA and one certificate per service, for the mutual TLS of
//! `platform::tls` (gRPC and TCP): what `just run` and the tests use when no
//! certificates are given, and what `user-service generate-dev-certs DIR`
//! writes. Behind the `dev-pki` feature: only user-service and tests build it. Each
//! certificate names its service (DNS subject alternative name) and may
//! serve and be a client; the CA signs nothing else. Anyone holding the CA
//! key can mint any service's identity: it stays on the developer's machine
//! (or in compose's `certs` volume), never in a real deployment, whose CA
//! (cert-manager, a mesh, the organisation's PKI) issues the same shape.

use std::path::Path;

use super::GrpcTls;
use chrono::{Datelike, Days, Utc};
use contracts::identity::SERVICES;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// The CA's certificate, and each service's certificate and key (PEM).
pub struct DevPki {
    pub ca: String,
    pub services: Vec<(String, String, secrecy::SecretString)>,
}

impl std::fmt::Debug for DevPki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevPki").finish_non_exhaustive()
    }
}

/// Valid from yesterday (clock skew) for a year.
fn validity(params: &mut CertificateParams) {
    let from = Utc::now().date_naive() - Days::new(1);
    let until = from + Days::new(366);
    let date = |d: chrono::NaiveDate| {
        let month = u8::try_from(d.month()).unwrap_or(1);
        let day = u8::try_from(d.day()).unwrap_or(1);
        rcgen::date_time_ymd(d.year(), month, day)
    };
    params.not_before = date(from);
    params.not_after = date(until);
}

impl DevPki {
    /// A new CA (P-256) and a certificate for every service in
    /// [`SERVICES`].
    pub fn generate() -> Result<Self, rcgen::Error> {
        let ca_key = KeyPair::generate()?;
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca.distinguished_name
            .push(DnType::CommonName, "rust-shop development CA");
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        validity(&mut ca);
        let ca_pem = ca.self_signed(&ca_key)?.pem();
        let issuer = Issuer::new(ca, ca_key);
        let mut services = Vec::new();
        for name in SERVICES {
            let key = KeyPair::generate()?;
            let mut params = CertificateParams::new(vec![name.to_owned()])?;
            params.distinguished_name.push(DnType::CommonName, name);
            params.extended_key_usages = vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ];
            validity(&mut params);
            let cert = params.signed_by(&key, &issuer)?.pem();
            services.push((name.to_owned(), cert, key.serialize_pem().into()));
        }
        Ok(Self {
            ca: ca_pem,
            services,
        })
    }

    /// `service`'s TLS configuration.
    pub fn tls(&self, service: &str) -> Option<GrpcTls> {
        self.services
            .iter()
            .find(|(name, ..)| name == service)
            .map(|(_, cert, key)| GrpcTls::from_pem(&self.ca, cert, key.clone()))
    }

    /// Writes `ca.pem`, and `<service>.pem` and `<service>.key` (mode 0600)
    /// for each service, into `dir` (created if missing).
    pub fn write_to(&self, dir: &Path) -> std::io::Result<()> {
        use secrecy::ExposeSecret;
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("ca.pem"), &self.ca)?;
        for (name, cert, key) in &self.services {
            std::fs::write(dir.join(format!("{name}.pem")), cert)?;
            let path = dir.join(format!("{name}.key"));
            std::fs::write(&path, key.expose_secret())?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
            }
        }
        Ok(())
    }
}

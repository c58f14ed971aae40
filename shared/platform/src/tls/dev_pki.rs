//! A development CA and one certificate per service, for the mutual TLS of
//! `platform::tls` (gRPC and TCP): what `just run` and the tests use when no
//! certificates are given, and what `user-service generate-dev-certs DIR`
//! writes. Behind the `dev-pki` feature: only user-service and tests build it. Each
//! certificate names its service — its SPIFFE ID in the trust domain and
//! namespace given ([`Spiffe`]) and its DNS name — and may serve and be a
//! client; the CA signs nothing else. Anyone holding the CA
//! key can mint any service's identity: [`DevPki`] forgets it once the set is
//! signed, and [`write_per_service`] (compose's `certs` job) keeps it in a
//! directory of its own that no service mounts. It never belongs in a real
//! deployment, whose CA (cert-manager, a mesh, the organisation's PKI)
//! issues the same shape.

use std::path::Path;

use super::{GrpcTls, Spiffe, spiffe};
use chrono::{Datelike, Days, Utc};
use contracts::identity::SERVICES;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use secrecy::{ExposeSecret, SecretString};

/// The directory of [`write_per_service`]'s layout that holds the CA's
/// certificate and key: for the issuer only, never mounted by a service.
pub const CA_DIR: &str = "ca";

/// The CA's certificate, and each service's certificate and key (PEM).
pub struct DevPki {
    pub ca: String,
    pub services: Vec<(String, String, secrecy::SecretString)>,
    spiffe: Spiffe,
    /// Certificates from the same CA for identities that are not ours
    /// (tests of what a peer refuses), by SPIFFE ID.
    strangers: Vec<(String, String, secrecy::SecretString)>,
}

impl std::fmt::Debug for DevPki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevPki").finish_non_exhaustive()
    }
}

impl DevPki {
    /// A new CA (P-256) and a certificate for every service in
    /// [`SERVICES`], in the default trust domain and namespace.
    pub fn generate() -> Result<Self, rcgen::Error> {
        Self::generate_in(&Spiffe::default(), &[])
    }

    /// A new CA and a certificate for every service in `spiffe`'s trust
    /// domain and namespace; and, signed by the same CA, one for each
    /// `(elsewhere, service)` — the same service name where it is not
    /// believed ([`Self::stranger`]).
    pub fn generate_in(
        spiffe: &Spiffe,
        strangers: &[(Spiffe, &str)],
    ) -> Result<Self, rcgen::Error> {
        let ca = DevCa::generate()?;
        let mut services = Vec::new();
        for name in SERVICES {
            let (cert, key) = ca.issue(spiffe, name)?;
            services.push((name.to_owned(), cert, key));
        }
        let mut issued = Vec::new();
        for (elsewhere, name) in strangers {
            let (cert, key) = ca.issue(elsewhere, name)?;
            issued.push((elsewhere.id(name), cert, key));
        }
        Ok(Self {
            ca: ca.pem,
            services,
            spiffe: spiffe.clone(),
            strangers: issued,
        })
    }

    /// `service`'s TLS configuration.
    pub fn tls(&self, service: &str) -> Option<GrpcTls> {
        self.services
            .iter()
            .find(|(name, ..)| name == service)
            .map(|(_, cert, key)| self.config(cert, key))
    }

    /// The TLS configuration of a stranger `generate_in` issued, by its
    /// SPIFFE ID: a certificate the CA signed, for an identity that is not
    /// one of ours.
    pub fn stranger(&self, id: &str) -> Option<GrpcTls> {
        self.strangers
            .iter()
            .find(|(issued, ..)| issued == id)
            .map(|(_, cert, key)| self.config(cert, key))
    }

    fn config(&self, cert: &str, key: &SecretString) -> GrpcTls {
        GrpcTls::from_pem(&self.ca, cert, key.clone()).with_spiffe(self.spiffe.clone())
    }

    /// Whether `dir` holds a set [`Self::write_to`] wrote in which every
    /// service's certificate carries its SPIFFE ID in `spiffe`: one to keep.
    pub fn written_in(dir: &Path, spiffe: &Spiffe) -> std::io::Result<bool> {
        if !dir.join("ca.pem").exists() {
            return Ok(false);
        }
        for name in SERVICES {
            if !carries_id(&dir.join(format!("{name}.pem")), &spiffe.id(name))? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Writes `ca.pem`, and `<service>.pem` and `<service>.key` (mode 0600)
    /// for each service, into `dir` (created if missing).
    pub fn write_to(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("ca.pem"), &self.ca)?;
        for (name, cert, key) in &self.services {
            std::fs::write(dir.join(format!("{name}.pem")), cert)?;
            write_key(&dir.join(format!("{name}.key")), key)?;
        }
        Ok(())
    }
}

/// Makes or completes the per-container layout in `dir`: [`CA_DIR`] holds
/// `ca.pem` and `ca.key`, for the issuer alone, and `<service>/` holds
/// `ca.pem`, `<service>.pem` and `<service>.key` for each service — so a
/// container that mounts only its own directory holds no other service's
/// key and cannot mint one. Compose mounts each directory as its own volume.
///
/// What is there is kept: services started from it must keep trusting each
/// other. The CA is reused when both its files are present (else a new one
/// is made); a service's set is kept when its `ca.pem` is the CA's, and
/// issued again by the CA otherwise. So removing one service's directory
/// renews that service alone, and removing [`CA_DIR`] renews every one.
/// A certificate that does not carry the service's SPIFFE ID in `spiffe`
/// (one issued before identities were SPIFFE IDs, or for another
/// namespace) is issued again. `ca.pem` is written last, so a set cut short
/// is issued again. Returns the services issued.
pub fn write_per_service(dir: &Path, spiffe: &Spiffe) -> std::io::Result<Vec<&'static str>> {
    let ca_dir = dir.join(CA_DIR);
    let ca = match (
        read_if_present(&ca_dir.join("ca.pem"))?,
        read_if_present(&ca_dir.join("ca.key"))?,
    ) {
        (Some(pem), Some(key)) => DevCa::from_pem(pem, &key).map_err(std::io::Error::other)?,
        _ => {
            let ca = DevCa::generate().map_err(std::io::Error::other)?;
            std::fs::create_dir_all(&ca_dir)?;
            write_key(&ca_dir.join("ca.key"), &ca.key_pem())?;
            std::fs::write(ca_dir.join("ca.pem"), &ca.pem)?;
            ca
        }
    };
    let mut issued = Vec::new();
    for name in SERVICES {
        let own = dir.join(name);
        let (cert_path, key_path) = (
            own.join(format!("{name}.pem")),
            own.join(format!("{name}.key")),
        );
        let current = read_if_present(&own.join("ca.pem"))?.is_some_and(|pem| pem == ca.pem)
            && carries_id(&cert_path, &spiffe.id(name))?
            && key_path.exists();
        if current {
            continue;
        }
        let (cert, key) = ca.issue(spiffe, name).map_err(std::io::Error::other)?;
        std::fs::create_dir_all(&own)?;
        write_key(&key_path, &key)?;
        std::fs::write(&cert_path, cert)?;
        std::fs::write(own.join("ca.pem"), &ca.pem)?;
        issued.push(name);
    }
    Ok(issued)
}

/// The development CA: its certificate, and the issuer holding its key.
struct DevCa {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl DevCa {
    /// A new CA (P-256), valid for a year.
    fn generate() -> Result<Self, rcgen::Error> {
        let key = KeyPair::generate()?;
        let mut params = Self::params()?;
        validity(&mut params);
        let pem = params.self_signed(&key)?.pem();
        Ok(Self {
            pem,
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA written by [`write_per_service`], read back. Signing needs
    /// only the CA's name and key, so the name is made again rather than
    /// parsed from `pem` (rcgen parses certificates only with its
    /// `x509-parser` feature, which would be one more build of that crate).
    fn from_pem(pem: String, key: &str) -> Result<Self, rcgen::Error> {
        let key = KeyPair::from_pem(key)?;
        Ok(Self {
            pem,
            issuer: Issuer::new(Self::params()?, key),
        })
    }

    /// Everything about the CA but its validity: the same at every call, so
    /// a CA read back issues certificates naming the one that was written.
    fn params() -> Result<CertificateParams, rcgen::Error> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params
            .distinguished_name
            .push(DnType::CommonName, "rust-shop development CA");
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        Ok(params)
    }

    fn key_pem(&self) -> SecretString {
        self.issuer.key().serialize_pem().into()
    }

    /// A certificate (PEM) naming `service` — its SPIFFE ID in `spiffe`
    /// and its DNS name — for serving and calling, and its new key.
    fn issue(
        &self,
        spiffe: &Spiffe,
        service: &str,
    ) -> Result<(String, SecretString), rcgen::Error> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(vec![service.to_owned()])?;
        let id = spiffe.id(service).try_into()?;
        params.subject_alt_names.push(SanType::URI(id));
        params.distinguished_name.push(DnType::CommonName, service);
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        validity(&mut params);
        let cert = params.signed_by(&key, &self.issuer)?.pem();
        Ok((cert, key.serialize_pem().into()))
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

/// Whether the certificate in the PEM file at `path` carries the SPIFFE ID
/// `id`; false when there is no such file.
pub fn carries_id(path: &Path, id: &str) -> std::io::Result<bool> {
    let Some(pem) = read_if_present(path)? else {
        return Ok(false);
    };
    Ok(spiffe::pem_uris(&pem).iter().any(|uri| uri == id))
}

fn read_if_present(path: &Path) -> std::io::Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// A private key, readable by its owner only (mode 0600) from the moment
/// it is created.
fn write_key(path: &Path, key: &SecretString) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        // The mode above applies only to a new file.
        if path.exists() {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    options
        .open(path)?
        .write_all(key.expose_secret().as_bytes())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::Arc;

    use rustls::RootCertStore;
    use rustls::pki_types::{CertificateDer, UnixTime, pem::PemObject};
    use rustls::server::WebPkiClientVerifier;

    use super::*;

    fn files(dir: &Path) -> BTreeSet<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect()
    }

    /// Whether the CA in `ca_pem` signed `cert_pem`, as a peer checks it.
    fn signed_by(ca_pem: &str, cert_pem: &str) -> bool {
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap())
            .unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .unwrap();
        let leaf = CertificateDer::from_pem_slice(cert_pem.as_bytes()).unwrap();
        verifier
            .verify_client_cert(&leaf, &[], UnixTime::now())
            .is_ok()
    }

    #[test]
    fn each_service_directory_holds_only_its_own_key_and_renews_alone() {
        let dir = std::env::temp_dir().join(format!("dev-pki-{}", std::process::id()));
        let read = |path: &str| std::fs::read_to_string(dir.join(path)).unwrap();

        let here = Spiffe::default();
        assert_eq!(write_per_service(&dir, &here).unwrap(), SERVICES);
        let ca_files = BTreeSet::from(["ca.key", "ca.pem"].map(String::from));
        assert_eq!(files(&dir.join(CA_DIR)), ca_files);
        for name in SERVICES {
            let own = [
                "ca.pem".to_owned(),
                format!("{name}.pem"),
                format!("{name}.key"),
            ];
            assert_eq!(files(&dir.join(name)), BTreeSet::from(own), "{name}");
            assert_eq!(read(&format!("{name}/ca.pem")), read("ca/ca.pem"));
            assert!(signed_by(
                &read("ca/ca.pem"),
                &read(&format!("{name}/{name}.pem"))
            ));
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for key in ["ca/ca.key", "order-service/order-service.key"] {
                let mode = std::fs::metadata(dir.join(key))
                    .unwrap()
                    .permissions()
                    .mode();
                assert_eq!(mode & 0o777, 0o600, "{key}");
            }
        }

        assert!(write_per_service(&dir, &here).unwrap().is_empty(), "kept");
        let gateway = read("api-gateway/api-gateway.pem");
        std::fs::remove_dir_all(dir.join("order-service")).unwrap();
        assert_eq!(write_per_service(&dir, &here).unwrap(), ["order-service"]);
        assert!(
            signed_by(&read("ca/ca.pem"), &read("order-service/order-service.pem")),
            "issued again by the kept CA, read back from its files"
        );
        assert_eq!(read("api-gateway/api-gateway.pem"), gateway);

        // Certificates of another namespace (or of no SPIFFE ID at all) are
        // not kept: peers here would refuse them.
        let elsewhere = Spiffe::new("cluster.local", "shop-staging").unwrap();
        assert_eq!(write_per_service(&dir, &elsewhere).unwrap(), SERVICES);
        let gateway = dir.join("api-gateway/api-gateway.pem");
        assert!(carries_id(&gateway, &elsewhere.id("api-gateway")).unwrap());
        assert!(!carries_id(&gateway, &here.id("api-gateway")).unwrap());

        std::fs::remove_dir_all(&dir).unwrap();
    }
}

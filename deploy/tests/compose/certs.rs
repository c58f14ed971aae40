//! The services' certificates in compose: one volume per container, holding
//! that service's certificate and key and the CA certificate, and the CA's
//! key in a volume of its own that only the one-shot `certs` job mounts.
//! Taking over one container gives away one identity, and no way to mint
//! another (docs/security.md, "Where the certificates come from").

use std::collections::{BTreeMap, BTreeSet};

use contracts::identity::SERVICES;
use deploy::read;
use serde_json::{Value, json};

use crate::{compose, is_job, services};

/// The directory of the `certs` job's layout (`generate-dev-certs
/// --per-service`) that holds the CA's key; each service's set is in a
/// directory named after it.
const CA_DIR: &str = "ca";

/// A short-syntax volume, `source:target[:mode]`.
struct Mount {
    source: String,
    target: String,
    read_only: bool,
}

/// The named volumes a service mounts (bind mounts, from `./` or `/`, are
/// the repo's files).
fn named_volumes(service: &Value) -> Vec<Mount> {
    let mut out = Vec::new();
    for volume in service["volumes"].as_array().into_iter().flatten() {
        let volume = volume.as_str().expect("volumes in the short syntax");
        let mut parts = volume.split(':');
        let source = parts.next().unwrap().to_owned();
        let target = parts.next().unwrap_or_default().to_owned();
        let read_only = parts.next() == Some("ro");
        if !source.starts_with(['.', '/']) {
            out.push(Mount {
                source,
                target,
                read_only,
            });
        }
    }
    out
}

#[test]
fn each_service_mounts_only_its_own_key_and_only_the_certs_job_the_ca_key() {
    let compose = compose();
    let services = services(&compose);
    let job = &services["certs"];
    assert!(is_job(job), "certs is a one-shot job");
    assert_eq!(
        job["entrypoint"],
        json!([
            "/usr/local/bin/user-service",
            "generate-dev-certs",
            "--per-service",
            "/certs"
        ]),
        "the certs job writes a directory per container"
    );

    // Which key each of the job's volumes holds: the directory it is
    // mounted on.
    let mut holds: BTreeMap<String, String> = BTreeMap::new();
    let dockerfile = read("Dockerfile");
    for mount in named_volumes(job) {
        let dir = mount
            .target
            .strip_prefix("/certs/")
            .unwrap_or_else(|| panic!("the certs job mounts {} outside /certs", mount.target));
        assert!(
            dockerfile.contains(&format!("/certs/{dir}")),
            "the Dockerfile must make /certs/{dir}, so that the volume mounted \
             there belongs to the runtime user"
        );
        let previous = holds.insert(mount.source.clone(), dir.to_owned());
        assert!(previous.is_none(), "{} mounted twice", mount.source);
    }
    let dirs: BTreeSet<&str> = holds.values().map(String::as_str).collect();
    let mut expected: BTreeSet<&str> = SERVICES.into();
    expected.insert(CA_DIR);
    assert_eq!(
        dirs, expected,
        "the certs job writes the CA's key and each service's set to a volume of its own"
    );
    for volume in holds.keys() {
        assert!(
            compose["volumes"].get(volume).is_some(),
            "{volume} must be a named volume declared under volumes:"
        );
    }

    let mut mounted_by: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (name, service) in services.iter().filter(|(_, s)| !is_job(s)) {
        for mount in named_volumes(service) {
            mounted_by
                .entry(mount.source.clone())
                .or_default()
                .push(name);
            let Some(dir) = holds.get(&mount.source) else {
                continue;
            };
            assert_ne!(
                dir, CA_DIR,
                "{name} mounts {}, the CA's key: only the certs job may",
                mount.source
            );
            assert_eq!(
                dir, name,
                "{name} mounts {}, which holds {dir}'s key",
                mount.source
            );
            assert_eq!(mount.target, "/certs", "{name}");
            assert!(mount.read_only, "{name} mounts its key read-only");
        }
    }
    for (volume, users) in &mounted_by {
        assert_eq!(
            users.len(),
            1,
            "{volume} is shared by {users:?}: a container must hold no other's key"
        );
    }

    for name in SERVICES {
        let service = &services[name];
        // With the checks above: exactly one, its own.
        let keys = named_volumes(service)
            .iter()
            .filter(|m| holds.contains_key(&m.source))
            .count();
        assert_eq!(keys, 1, "{name} mounts its own certificate volume");
        assert_eq!(
            service["depends_on"]["certs"]["condition"], "service_completed_successfully",
            "{name} starts once its certificate is written"
        );
        let env = &service["environment"];
        assert_eq!(env["GRPC_TLS_CA_FILE"], "/certs/ca.pem", "{name}");
        assert_eq!(
            env["GRPC_TLS_CERT_FILE"],
            format!("/certs/{name}.pem"),
            "{name}"
        );
        assert_eq!(
            env["GRPC_TLS_KEY_FILE"],
            format!("/certs/{name}.key"),
            "{name}"
        );
    }
}

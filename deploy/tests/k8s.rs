//! deploy/k8s (a kustomize base and a `local` overlay), checked against the
//! workspace and docker-compose.yml. No cluster runs on CI: tools.rs renders
//! the kustomizations and validates them against the Kubernetes API schemas,
//! and these structural checks keep the manifests from drifting away from
//! the code.
//!
//! # Layout
//! - this file: the kustomizations list every manifest; one Deployment per
//!   binary, probed on ports it declares, with resources and a locked-down
//!   security context, time to shut down gracefully, scraped on its admin
//!   port.
//! - `k8s/configuration.rs`: the ConfigMap is generated, so a change rolls
//!   the pods.
//! - `k8s/wiring.rs`: what connects the Deployments: every variable compose
//!   passes, secrets only from a Secret, Services, the headless user-service,
//!   the autoscalers and the database connections they add up to.
//! - `k8s/identities.rs`: a ServiceAccount and a cert-manager Certificate
//!   for its SPIFFE ID per service, from a namespaced CA; the local overlay
//!   generates the same Secrets without cert-manager.
//! - `k8s/policies.rs`: NetworkPolicies (default deny, only the gateway open,
//!   only its callers reach user-service, only the gateway the tcp ports it
//!   dials, every service its servers' ports, which the local `deps` admit)
//!   and disruption budgets.
//! - `k8s/sizing.rs`: user-service's CPU and memory, in Kubernetes and
//!   compose, sized for its password hashers.
//! - `k8s/manifests.rs`: reading manifests (and generated ConfigMaps) and
//!   resolving environments.

#![allow(clippy::unwrap_used)]

#[path = "k8s/configuration.rs"]
mod configuration;
#[path = "k8s/identities.rs"]
mod identities;
#[path = "k8s/manifests.rs"]
mod manifests;
#[path = "k8s/policies.rs"]
mod policies;
#[path = "k8s/sizing.rs"]
mod sizing;
#[path = "k8s/wiring.rs"]
mod wiring;

use std::{collections::BTreeSet, fs, path::PathBuf};

use manifests::{
    BASE, Doc, LOCAL, base, container, documents, env, find, generator_files, kustomization,
    listed, local_patches, of_kind, port_ref, ports, read, root, seconds, workspace_binaries,
};
use serde_json::json;

/// What bounds each service's shutdown once it stops taking work, and that
/// variable's default in seconds: the consumers' `SHUTDOWN_GRACE_PERIOD`, the
/// gateway's `REQUEST_TIMEOUT` (the longest a request in flight runs),
/// user-service's callers' deadline (the gateway's `USER_SERVICE_TIMEOUT`,
/// the longest of them).
fn shutdown_bound(service: &str) -> (&'static str, f64) {
    match service {
        "api-gateway" => ("REQUEST_TIMEOUT", 10.0),
        "user-service" => ("USER_SERVICE_TIMEOUT", 3.0),
        "order-service" | "notification-service" => ("SHUTDOWN_GRACE_PERIOD", 10.0),
        other => panic!("{other}: which setting bounds its shutdown?"),
    }
}
/// The kubelet's default `terminationGracePeriodSeconds`.
const DEFAULT_TERMINATION_SECS: f64 = 30.0;

#[test]
fn kustomizations_list_every_manifest_and_the_overlay_builds_on_the_base() {
    for dir in [BASE, LOCAL] {
        let k = kustomization(dir);
        let (resources, patches) = (listed(&k, "resources"), listed(&k, "patches"));
        for entry in resources.iter().chain(&patches) {
            let path = root().join(dir).join(entry);
            if path.is_dir() {
                let nested = path.join("kustomization.yaml");
                assert!(
                    nested.exists(),
                    "{dir} lists {entry}, which has no kustomization.yaml"
                );
                continue;
            }
            assert!(
                path.exists(),
                "{dir}/kustomization.yaml lists {entry}, which is missing"
            );
            for doc in documents(&format!("{dir}/{entry}")) {
                assert!(
                    doc.v["apiVersion"].is_string() && !doc.name().is_empty(),
                    "{}: needs apiVersion, kind and metadata.name",
                    doc.id()
                );
            }
        }
        for file in generator_files(&k) {
            // The local overlay's certificates and keys are generated
            // (`just k8s-local-secrets`), never committed.
            let generated =
                dir == LOCAL && (file.starts_with("certs/") || file.starts_with("secrets/"));
            assert!(
                generated || root().join(dir).join(&file).exists(),
                "{dir}/kustomization.yaml generates from {file}, which is missing"
            );
        }
        for file in fs::read_dir(root().join(dir)).unwrap() {
            let file = file.unwrap().file_name().into_string().unwrap();
            let yaml = file.ends_with(".yaml") || file.ends_with(".yml");
            if yaml && file != "kustomization.yaml" {
                let used = resources.contains(&file) || patches.contains(&file);
                assert!(
                    used,
                    "{dir}/{file} is not listed in {dir}/kustomization.yaml"
                );
            }
        }
    }
    let local = kustomization(LOCAL);
    let canonical = |p: PathBuf| p.canonicalize().unwrap();
    let builds_on_base = listed(&local, "resources")
        .iter()
        .map(|entry| root().join(LOCAL).join(entry))
        .any(|path| path.is_dir() && canonical(path) == canonical(root().join(BASE)));
    assert!(
        builds_on_base,
        "{LOCAL}/kustomization.yaml does not list {BASE}"
    );
    assert_eq!(local["namespace"], "rust-shop", "{LOCAL}: the namespace");
    let image = &local["images"][0];
    assert!(
        image["name"] == "rust-shop" && image["newTag"] == "dev",
        "{LOCAL}: runs the image built locally as rust-shop:dev, not {image}"
    );
    let base = base();
    for patch in local_patches() {
        // A deletion the kustomization aims with a `target` (every object of
        // an API group) names no object of its own.
        let by_target = patch.v["$patch"] == "delete"
            && base
                .iter()
                .any(|d| d.v["apiVersion"] == patch.v["apiVersion"]);
        let target = find(&base, patch.kind(), patch.name());
        assert!(
            by_target || target.is_some(),
            "{}: patches nothing in {BASE}",
            patch.id()
        );
    }
    for doc in base {
        let namespace = &doc.v["metadata"]["namespace"];
        assert!(
            namespace.is_null(),
            "{}: the overlay sets the namespace",
            doc.id()
        );
    }
}

#[test]
fn one_deployment_per_binary_running_it_from_the_repo_image() {
    let docs = base();
    let names: Vec<&str> = of_kind(&docs, "Deployment").map(Doc::name).collect();
    let unique: BTreeSet<String> = names.iter().map(|n| n.to_string()).collect();
    assert_eq!(
        unique,
        workspace_binaries(),
        "one Deployment per workspace binary"
    );
    assert_eq!(
        names.len(),
        unique.len(),
        "a binary deployed twice: {names:?}"
    );
    for d in of_kind(&docs, "Deployment") {
        let c = container(d);
        let command = json!([format!("/usr/local/bin/{}", d.name())]);
        assert_eq!(c["command"], command, "{}: runs its own binary", d.id());
        let image = c["image"].as_str().unwrap_or_default();
        assert_eq!(
            image.split(':').next(),
            Some("rust-shop"),
            "{}: runs the rust-shop image (the name overlays retag), not {image:?}",
            d.id()
        );
        for (k, v) in d.v["spec"]["selector"]["matchLabels"].as_object().unwrap() {
            assert_eq!(
                &d.pod_labels()[k],
                v,
                "{}: selector {k} misses its pods",
                d.id()
            );
        }
    }
}

#[test]
fn deployments_are_probed_limited_and_locked_down() {
    let docs = base();
    for d in of_kind(&docs, "Deployment") {
        let (id, c, pod) = (d.id(), container(d), &d.v["spec"]["template"]["spec"]);
        let declared = ports(c);
        for kind in ["readinessProbe", "livenessProbe", "startupProbe"] {
            if kind == "startupProbe" && c[kind].is_null() {
                continue;
            }
            let handler = ["httpGet", "grpc", "tcpSocket"]
                .map(|handler| &c[kind][handler])
                .into_iter()
                .find(|handler| handler.is_object());
            let handler =
                handler.unwrap_or_else(|| panic!("{id}: no {kind} (httpGet, grpc or tcpSocket)"));
            let port = port_ref(&handler["port"]);
            assert!(
                declared.contains(&port),
                "{id}: {kind} on {port}, not a containerPort {declared:?}"
            );
        }
        if d.name() == "user-service" {
            // The kubelet's gRPC probe speaks no TLS; /readyz checks the
            // database as grpc.health.v1 does.
            let http = &c["readinessProbe"]["httpGet"];
            assert_eq!(http["path"], "/readyz", "{id}: readiness is /readyz");
        }
        for (level, resource) in [
            ("requests", "cpu"),
            ("requests", "memory"),
            ("limits", "cpu"),
            ("limits", "memory"),
        ] {
            assert!(
                c["resources"][level][resource].is_string(),
                "{id}: resources.{level}.{resource} missing"
            );
        }

        // The container's securityContext wins over the pod's.
        let security = |field: &str| {
            let own = &c["securityContext"][field];
            if own.is_null() {
                pod["securityContext"][field].clone()
            } else {
                own.clone()
            }
        };
        assert_eq!(security("runAsNonRoot"), true, "{id}: runAsNonRoot");
        assert_eq!(
            security("runAsUser"),
            65532,
            "{id}: runAsUser 65532 (distroless nonroot)"
        );
        assert_eq!(
            security("readOnlyRootFilesystem"),
            true,
            "{id}: readOnlyRootFilesystem"
        );
        assert_eq!(
            security("allowPrivilegeEscalation"),
            false,
            "{id}: allowPrivilegeEscalation"
        );
        assert_eq!(
            security("seccompProfile")["type"],
            "RuntimeDefault",
            "{id}: seccompProfile"
        );
        assert_eq!(
            security("capabilities")["drop"],
            json!(["ALL"]),
            "{id}: capabilities.drop"
        );

        let env = env(&docs, d);
        let (bound, default) = shutdown_bound(d.name());
        let grace = env
            .get(bound)
            .map_or(default, |s| seconds(&s.resolve(&docs)));
        let pre_stop = c["lifecycle"]["preStop"]["sleep"]["seconds"]
            .as_f64()
            .unwrap_or(0.0);
        let termination = pod["terminationGracePeriodSeconds"]
            .as_f64()
            .unwrap_or(DEFAULT_TERMINATION_SECS);
        assert!(
            termination > pre_stop + grace,
            "{id}: terminationGracePeriodSeconds {termination} must exceed the preStop sleep \
             ({pre_stop}s) plus {bound} ({grace}s), or SIGKILL cuts shutdown short"
        );
        for (var, source) in env.iter().filter(|(var, _)| var.ends_with("_LISTEN_ADDR")) {
            let addr = source.resolve(&docs);
            let port = addr.strip_prefix("0.0.0.0:");
            let port = port.unwrap_or_else(|| panic!("{id}: {var}={addr} must listen on 0.0.0.0"));
            assert!(
                declared.contains(port),
                "{id}: {var}={addr}: {port} is no containerPort"
            );
        }
        let annotations = &d.v["spec"]["template"]["metadata"]["annotations"];
        assert_eq!(
            annotations["prometheus.io/scrape"], "true",
            "{id}: prometheus.io/scrape"
        );
        assert_eq!(
            annotations["prometheus.io/path"], "/metrics",
            "{id}: prometheus.io/path"
        );
        // The admin port serves /metrics; the others (HTTP, gRPC) do not.
        let scraped = annotations["prometheus.io/port"]
            .as_str()
            .unwrap_or_default();
        let admin = c["ports"].as_array().into_iter().flatten();
        let admin = admin
            .filter(|p| p["name"] == "admin")
            .map(|p| p["containerPort"].to_string());
        assert_eq!(
            admin.collect::<Vec<_>>(),
            [scraped],
            "{id}: prometheus.io/port {scraped:?} must be the containerPort named admin"
        );
        let listen = env.get("ADMIN_LISTEN_ADDR").map(|s| s.resolve(&docs));
        assert_eq!(
            listen.as_deref().and_then(|a| a.rsplit(':').next()),
            Some(scraped),
            "{id}: ADMIN_LISTEN_ADDR serves the scraped port"
        );
        // The same port as in compose, where deploy/prometheus scrapes it.
        let compose: serde_json::Value =
            serde_norway::from_str(&read("docker-compose.yml")).unwrap();
        let in_compose = compose["services"][d.name()]["environment"]["ADMIN_LISTEN_ADDR"]
            .as_str()
            .and_then(|a| a.rsplit(':').next().map(str::to_owned));
        assert_eq!(
            in_compose.as_deref(),
            Some(scraped),
            "{id}: the admin port differs from compose's"
        );
    }
}

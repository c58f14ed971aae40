//! docker-compose.yml and the Dockerfile, checked against the workspace and
//! `just run` (scripts/run.sh). There is no Docker engine on CI, so these
//! structural checks (and the Compose specification and hadolint, in
//! tools.rs) are what keeps the Docker path from rotting.
//!
//! # Layout
//! - this file: every binary run from the repo's image, healthchecks and
//!   the order services start in, what is published, configuration in step
//!   with `just run`, credentials, broker accounts.
//! - `compose/certs.rs`: each service mounts only its own certificate and
//!   key; the CA's key only the one-shot `certs` job.
//! - `compose/image.rs`: the Dockerfile builds and ships exactly the
//!   binaries compose runs; the build context.
//! - `compose/lifecycle.rs`: time to start and to stop; a durable broker.
//! - `compose/monitoring.rs`: Prometheus and Grafana, and what is scraped.
//! - `compose/transports.rs`: NATS and Redis, an account per service, their
//!   configuration from the repo.

#![allow(clippy::unwrap_used)]

#[path = "compose/certs.rs"]
mod certs;
#[path = "compose/image.rs"]
mod image;
#[path = "compose/lifecycle.rs"]
mod lifecycle;
#[path = "compose/monitoring.rs"]
mod monitoring;
#[path = "compose/transports.rs"]
mod transports;

use std::collections::{BTreeMap, BTreeSet};

use deploy::{read, workspace_binaries};
use serde_json::Value;

/// Services that may publish ports to the host, and which: only the
/// gateway to every interface; the development UIs (RabbitMQ's management,
/// Jaeger, Prometheus, Grafana) to the host's loopback.
const PUBLISHED: &[(&str, &str)] = &[
    ("api-gateway", "3000:3000"),
    ("rabbitmq", "127.0.0.1:15672:15672"),
    ("jaeger", "127.0.0.1:16686:16686"),
    ("prometheus", "127.0.0.1:9090:9090"),
    ("grafana", "127.0.0.1:3001:3000"),
];

pub(crate) fn compose() -> Value {
    serde_norway::from_str(&read("docker-compose.yml")).unwrap()
}

pub(crate) fn services(compose: &Value) -> &serde_json::Map<String, Value> {
    compose["services"].as_object().unwrap()
}

/// The binaries compose runs from the repo's image, by their entrypoints
/// (`/usr/local/bin/<binary>`), with the services that run each.
pub(crate) fn binaries_run(compose: &Value) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, service) in services(compose) {
        let entrypoint = service["entrypoint"][0].as_str().unwrap_or_default();
        if let Some(bin) = entrypoint.strip_prefix("/usr/local/bin/") {
            out.entry(bin.to_owned()).or_default().push(name.clone());
        }
    }
    out
}

/// Environment variables `just run` sets for each binary, read from the lines
/// of scripts/run.sh that start one (`VAR=... "$bin/name" &`).
fn run_script_env() -> BTreeMap<String, BTreeSet<String>> {
    let mut env = BTreeMap::new();
    for line in read("scripts/run.sh").lines() {
        let Some((assignments, rest)) = line.split_once("\"$bin/") else {
            continue;
        };
        let name = rest.split('"').next().unwrap().to_owned();
        let vars = assignments
            .split_whitespace()
            .filter_map(|word| word.split_once('=').map(|(var, _)| var.to_owned()))
            .collect();
        env.insert(name, vars);
    }
    env
}

#[test]
fn compose_runs_every_binary_from_the_repo_image() {
    let compose = compose();
    let services = services(&compose);
    for bin in workspace_binaries() {
        let service = services
            .get(&bin)
            .unwrap_or_else(|| panic!("no compose service for {bin}"));
        assert_eq!(
            service["build"]["context"], ".",
            "{bin} builds from the repo"
        );
        assert_eq!(
            service["entrypoint"][0],
            format!("/usr/local/bin/{bin}"),
            "{bin} runs its own binary"
        );
        assert!(service["mem_limit"].is_string(), "{bin} has a memory limit");
    }
    for infra in ["postgres", "rabbitmq", "jaeger"] {
        assert!(services.contains_key(infra), "no {infra} service");
    }
}

/// One-shot jobs (`restart: "no"`) that others wait for to complete.
pub(crate) fn is_job(service: &Value) -> bool {
    service["restart"] == "no"
}

#[test]
fn every_service_is_healthchecked_and_waited_for() {
    let compose = compose();
    let services = services(&compose);
    for (name, service) in services {
        assert!(
            is_job(service) || service["healthcheck"]["test"].is_array(),
            "{name} has no healthcheck"
        );
        if let Some(deps) = service["depends_on"].as_object() {
            for (dep, condition) in deps {
                if is_job(&services[dep]) {
                    assert_eq!(
                        condition["condition"], "service_completed_successfully",
                        "{name} must wait for the job {dep} to complete"
                    );
                    continue;
                }
                assert_eq!(
                    condition["condition"], "service_healthy",
                    "{name} must wait for {dep} to be healthy"
                );
                assert!(
                    services[dep]["healthcheck"].is_object(),
                    "{name} waits for {dep}, which has no healthcheck"
                );
            }
        }
    }
}

#[test]
fn user_service_speaks_mutual_tls_to_its_clients_and_no_reflection() {
    let compose = compose();
    let services = services(&compose);
    let user_service = &services["user-service"]["environment"];
    assert_eq!(user_service["GRPC_REFLECTION"], "false");
    for bin in ["user-service", "order-service", "api-gateway"] {
        let env = &services[bin]["environment"];
        assert_eq!(
            env["GRPC_TLS_CERT_FILE"],
            format!("/certs/{bin}.pem"),
            "{bin}"
        );
        assert_eq!(
            env["GRPC_TLS_KEY_FILE"],
            format!("/certs/{bin}.key"),
            "{bin}"
        );
        assert_eq!(env["GRPC_TLS_CA_FILE"], "/certs/ca.pem", "{bin}");
        if bin != "user-service" {
            let url = env["USER_SERVICE_URL"].as_str().unwrap();
            assert!(url.starts_with("https://"), "{bin}: {url}");
        }
    }
    let dockerfile = read("Dockerfile");
    assert!(
        dockerfile.contains("--chown=65532:65532 /certs /certs"),
        "the certs volume's mount point must belong to the runtime user"
    );
}

#[test]
fn only_the_gateway_and_dev_uis_are_published() {
    let compose = compose();
    for (name, service) in services(&compose) {
        for port in service["ports"].as_array().into_iter().flatten() {
            assert!(
                PUBLISHED.contains(&(name.as_str(), port.as_str().unwrap())),
                "{name} publishes {port}, which is not allowed"
            );
        }
    }
}

#[test]
fn compose_sets_what_just_run_sets_and_listens_on_all_interfaces() {
    let compose = compose();
    let services = services(&compose);
    let run_env = run_script_env();
    assert_eq!(
        run_env.keys().cloned().collect::<BTreeSet<_>>(),
        workspace_binaries(),
        "scripts/run.sh starts every binary"
    );
    for (bin, vars) in run_env {
        let env = services[&bin]["environment"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for var in vars {
            assert!(
                env.contains_key(&var),
                "compose's {bin} lacks {var}, which just run sets"
            );
        }
        for (var, value) in env {
            if var.ends_with("_LISTEN_ADDR") {
                assert!(
                    value.as_str().unwrap().starts_with("0.0.0.0:"),
                    "{bin}'s {var} must listen on all interfaces in a container"
                );
            }
        }
    }
}

#[test]
fn every_variable_compose_passes_to_a_binary_is_documented() {
    let compose = compose();
    let example = read(".env.example");
    let table = read("docs/configuration.md");
    for bin in workspace_binaries() {
        let env = services(&compose)[&bin]["environment"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for var in env.keys() {
            assert!(
                example.contains(&format!("\n{var}=")),
                "{var} missing from .env.example"
            );
            assert!(
                table.contains(&format!("`{var}`")),
                "{var} missing from docs/configuration.md"
            );
        }
    }
}

#[test]
fn order_service_scales_out_and_every_service_exports_traces_to_jaeger() {
    let compose = compose();
    let services = services(&compose);
    let replicas = services["order-service"]["deploy"]["replicas"]
        .as_u64()
        .unwrap_or(1);
    assert!(
        replicas >= 2,
        "order-service runs competing replicas in compose"
    );
    for bin in workspace_binaries() {
        let endpoint = &services[&bin]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"];
        assert_eq!(
            endpoint, "http://jaeger:4317",
            "{bin} exports its traces to jaeger"
        );
    }
    let otlp = services["jaeger"]["image"].as_str().unwrap_or_default();
    assert!(
        otlp.starts_with("jaegertracing/jaeger:2"),
        "Jaeger v2 receives OTLP natively"
    );
}

#[test]
fn compose_requires_the_admin_credentials_and_defaults_no_admin_password() {
    let compose = compose();
    let env = &services(&compose)["user-service"]["environment"];
    for var in ["ADMIN_EMAIL", "ADMIN_PASSWORD"] {
        let value = env[var].as_str().unwrap();
        assert!(
            value.starts_with(&format!("${{{var}:?")),
            "{var} must be required from .env (`${{{var}:?...}}`), not defaulted: {value}"
        );
    }
}

#[test]
fn no_password_has_a_default() {
    let text = read("docker-compose.yml");
    for (i, _) in text.match_indices("${") {
        let var = &text[i + 2..];
        let var = &var[..var.find('}').unwrap()];
        let name = var.split([':', '-', '?']).next().unwrap();
        if name.contains("PASSWORD") {
            assert!(
                var.starts_with(&format!("{name}:?")),
                "${{{var}}}: a password must be required (`${{{name}:?...}}`), never defaulted"
            );
        }
    }
}

#[test]
fn the_services_run_read_only_without_capabilities_or_escalation() {
    let compose = compose();
    for bin in workspace_binaries() {
        let service = &services(&compose)[&bin];
        assert_eq!(service["read_only"], true, "{bin} must run read-only");
        assert_eq!(service["cap_drop"], serde_json::json!(["ALL"]), "{bin}");
        assert!(
            service["security_opt"]
                .as_array()
                .is_some_and(|o| o.iter().any(|o| o == "no-new-privileges:true")),
            "{bin} must set no-new-privileges"
        );
    }
}

#[test]
fn each_service_logs_into_rabbitmq_as_its_own_account_from_the_definitions() {
    let compose = compose();
    let definitions: Value =
        serde_json::from_str(&read("deploy/rabbitmq/definitions.json")).unwrap();
    let accounts: BTreeSet<&str> = definitions["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    for bin in workspace_binaries() {
        let url = services(&compose)[&bin]["environment"]["AMQP_URL"]
            .as_str()
            .unwrap();
        assert!(
            url.starts_with(&format!("amqp://{bin}:")),
            "{bin} must log in as itself: {url}"
        );
        assert!(accounts.contains(bin.as_str()), "no broker account {bin}");
        let permitted = definitions["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["user"] == bin.as_str());
        assert!(permitted, "{bin} has no permissions in the definitions");
    }
    let rabbitmq = &services(&compose)["rabbitmq"];
    assert!(
        rabbitmq["environment"]
            .as_object()
            .unwrap()
            .keys()
            .all(|k| !k.starts_with("RABBITMQ_DEFAULT")),
        "no default (guest-like) broker account"
    );
    let mounts = rabbitmq["volumes"].to_string();
    assert!(mounts.contains("./deploy/rabbitmq:"), "{mounts}");
    assert!(
        read("deploy/rabbitmq/rabbitmq.conf").contains("\nmax_message_size = "),
        "compose's broker caps the message size"
    );
}

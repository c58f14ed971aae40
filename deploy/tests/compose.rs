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
            // Compose gives a secret as the file `<VAR>_FILE` names.
            assert!(
                env.contains_key(&var) || env.contains_key(&format!("{var}_FILE")),
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
fn compose_requires_the_admin_and_a_signing_key_that_outlives_a_restart() {
    let compose = compose();
    let service = &services(&compose)["user-service"];
    let env = &service["environment"];
    let email = env["ADMIN_EMAIL"].as_str().unwrap();
    assert!(
        email.starts_with("${ADMIN_EMAIL:?"),
        "ADMIN_EMAIL must be required from .env (`${{ADMIN_EMAIL:?...}}`), not defaulted: {email}"
    );
    // Without a key user-service makes one per start, and every token dies
    // with it (and two replicas would sign with different keys).
    for (var, secret) in [
        ("ADMIN_PASSWORD_FILE", "admin-password"),
        ("JWT_SIGNING_KEY_FILE", "jwt-signing-key"),
    ] {
        assert_eq!(
            env[var].as_str(),
            Some(format!("/run/secrets/{secret}").as_str()),
            "user-service: {var}"
        );
        assert!(secrets_of(service).contains(secret), "{secret}");
    }
}

/// The secrets a service lists (`secrets:`, short syntax).
pub(crate) fn secrets_of(service: &Value) -> BTreeSet<String> {
    service["secrets"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            s.as_str()
                .expect("short syntax: the secret's name")
                .to_owned()
        })
        .collect()
}

/// Whether the variable `name` holds (or names the file of) a credential:
/// a password, key, secret or token.
fn is_credential(name: &str) -> bool {
    let name = name.trim_end_matches("_FILE").trim_end_matches('_');
    ["PASSWORD", "KEY", "SECRET", "TOKEN"]
        .iter()
        .any(|word| name.ends_with(word))
}

#[test]
fn no_secret_is_in_any_containers_environment_or_command_line() {
    let compose = compose();
    let declared = compose["secrets"].as_object().unwrap();
    for (name, service) in services(&compose) {
        let mine = secrets_of(service);
        let env = service["environment"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for (var, value) in &env {
            let value = value.as_str().unwrap_or_default();
            // A URL may name its user, never its password.
            let userinfo = value
                .split_once("://")
                .and_then(|(_, rest)| rest.split_once('@'))
                .map(|(userinfo, _)| userinfo);
            assert!(
                !userinfo.is_some_and(|u| u.contains(':')),
                "{name}: {var} carries a password: {value}"
            );
            assert!(
                !value.contains("PASSWORD}") && !value.contains("PASSWORD:"),
                "{name}: {var} interpolates a password from .env: {value}"
            );
            if is_credential(var) && !var.starts_with("GRPC_TLS_") {
                let secret = value.strip_prefix("/run/secrets/");
                assert!(
                    var.ends_with("_FILE") && secret.is_some_and(|s| mine.contains(s)),
                    "{name}: {var} must name one of its own secrets' files \
                     (/run/secrets/<name>), not hold a value: {value}"
                );
            }
        }
        for key in ["command", "entrypoint"] {
            let words = service[key].to_string();
            assert!(!words.contains("PASSWORD"), "{name}: {key} {words}");
        }
        for secret in &mine {
            let file = declared[secret]["file"].as_str().unwrap_or_default();
            assert!(
                file.starts_with("./secrets/"),
                "{secret}: a file in secrets/ (`just env`), not {file:?}"
            );
        }
    }
    assert!(
        read(".gitignore").lines().any(|l| l == "/secrets/"),
        "git ignores secrets/"
    );
}

#[test]
fn each_container_mounts_only_its_own_secrets() {
    let compose = compose();
    let services = services(&compose);
    // Who may hold a secret: its service, and the server that checks it.
    let holders = |secret: &str| -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let (owner, kind) = match secret {
            "admin-password" | "jwt-signing-key" => ("user-service", ""),
            s if s.ends_with("-db-password") => (s.trim_end_matches("-db-password"), "postgres"),
            s if s.ends_with("-amqp-password") => {
                (s.trim_end_matches("-amqp-password"), "rabbitmq")
            }
            s if s.ends_with("-nats-password") => (s.trim_end_matches("-nats-password"), "nats"),
            s if s.ends_with("-redis-password") => (s.trim_end_matches("-redis-password"), "redis"),
            s => (s.split('-').next().unwrap(), ""),
        };
        out.insert(owner.to_owned());
        if !kind.is_empty() {
            out.insert(kind.to_owned());
        }
        out
    };
    let declared = compose["secrets"].as_object().unwrap();
    for secret in declared.keys() {
        let mounted_by: BTreeSet<String> = services
            .iter()
            .filter(|(_, s)| secrets_of(s).contains(secret))
            .map(|(name, _)| name.clone())
            .collect();
        assert!(
            mounted_by.is_subset(&holders(secret)),
            "{secret} is mounted by {mounted_by:?}; only {:?} may hold it",
            holders(secret)
        );
        assert!(
            !mounted_by.is_empty(),
            "{secret} is declared and never used"
        );
    }
    assert!(
        secrets_of(&services["certs"]).is_empty(),
        "the certs job needs no password"
    );
}

#[test]
fn every_image_is_pinned_to_an_exact_version() {
    let compose = compose();
    for (name, service) in services(&compose) {
        let image = service["image"].as_str().unwrap_or_default();
        if image == "rust-shop:dev" {
            continue; // built from this repository (`build:`)
        }
        let (_, tag) = image.rsplit_once(':').unwrap_or_default();
        let version = tag
            .trim_start_matches('v')
            .split('-')
            .next()
            .unwrap_or_default();
        // Postgres numbers its releases major.minor; the others major.minor.patch.
        let parts: Vec<&str> = version.split('.').collect();
        assert!(
            image.contains("@sha256:")
                || (parts.len() >= 2 && parts.iter().all(|p| p.parse::<u32>().is_ok())),
            "{name}: pin an exact version or a digest, not {image:?}"
        );
    }
    let redis = services(&compose)["redis"]["image"].as_str().unwrap();
    assert!(
        redis.starts_with("valkey/valkey:"),
        "Redis 7.4 and later are not open source: Valkey, not {redis}"
    );
}

#[test]
fn only_nats_and_redis_are_optional_and_nothing_waits_for_them() {
    let compose = compose();
    for (name, service) in services(&compose) {
        let profiles = &service["profiles"];
        match name.as_str() {
            "nats" | "redis" => assert_eq!(profiles, &serde_json::json!([name])),
            _ => assert!(profiles.is_null(), "{name} starts by default: {profiles}"),
        }
        for server in ["nats", "redis"] {
            assert!(
                service["depends_on"].get(server).is_none(),
                "{name} waits for {server}, which starts only with its profile"
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
        let env = &services(&compose)[&bin]["environment"];
        let url = env["AMQP_URL"].as_str().unwrap();
        assert!(
            url.starts_with(&format!("amqp://{bin}@")),
            "{bin} must log in as itself: {url}"
        );
        assert_eq!(
            env["AMQP_PASSWORD_FILE"].as_str(),
            Some(format!("/run/secrets/{bin}-amqp-password").as_str()),
            "{bin}: its broker password from its own secret"
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

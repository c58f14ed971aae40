//! What connects the Deployments: configuration in lockstep with compose,
//! Services, the headless user-service, the autoscalers.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::manifests::{
    LOCAL, base, container, data, env, find, kustomization, local_patches, of_kind, port_ref,
    ports, read, selected,
};

/// Variables holding credentials: only ever from a Secret.
const SECRET_VARS: [&str; 7] = [
    "DATABASE_URL",
    "AMQP_URL",
    "NATS_URL",
    "REDIS_URL",
    "ADMIN_EMAIL",
    "ADMIN_PASSWORD",
    "JWT_SIGNING_KEY",
];
/// The Deployments that call user-service over gRPC.
const USER_SERVICE_CLIENTS: [&str; 2] = ["api-gateway", "order-service"];
/// The Deployments an autoscaler must scale.
const AUTOSCALED: [&str; 2] = ["api-gateway", "order-service"];
/// Postgres' default `max_connections` (100) less
/// `superuser_reserved_connections` (3).
const POSTGRES_CONNECTIONS: u64 = 97;
/// `DATABASE_MAX_CONNECTIONS` when a service is given none.
const DEFAULT_POOL_SIZE: u64 = 10;

#[test]
fn every_variable_compose_sets_is_provided_and_secrets_come_from_a_secret() {
    let compose: Value = serde_norway::from_str(&read("docker-compose.yml")).unwrap();
    let docs = base();
    let local = local_patches();
    for d in of_kind(&docs, "Deployment") {
        let env = env(&docs, d);
        let service = &compose["services"][d.name()];
        let compose_env = service["environment"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for var in compose_env.keys() {
            // Compose passes a secret as a file (`X_FILE`), a password apart
            // from its URL (`AMQP_PASSWORD_FILE`); here the value, or the
            // whole URL, comes from a Secret.
            let from_secret = |name: &str| env.get(name).is_some_and(|s| s.is_secret());
            let plain = var.strip_suffix("_FILE");
            let provided = env.contains_key(var)
                || plain.is_some_and(from_secret)
                || plain
                    .and_then(|p| p.strip_suffix("_PASSWORD"))
                    .is_some_and(|prefix| from_secret(&format!("{prefix}_URL")));
            assert!(
                provided,
                "{}: lacks {var}, which docker-compose.yml sets",
                d.id()
            );
        }
        for var in SECRET_VARS.iter().filter(|var| env.contains_key(**var)) {
            let source = &env[*var];
            assert!(
                source.is_secret(),
                "{}: {var} from a Secret, not {source:?}",
                d.id()
            );
        }
        // Database per service: the database compose gives the service.
        if let (Some(source), Some(url)) =
            (env.get("DATABASE_URL"), compose_env.get("DATABASE_URL"))
        {
            let want = url.as_str().unwrap().rsplit('/').next().unwrap();
            for docs in [&docs, &local] {
                let got = source.resolve(docs);
                let database = got.rsplit('/').next().and_then(|d| d.split('?').next());
                assert_eq!(
                    database,
                    Some(want),
                    "{}: DATABASE_URL {got} for {want}",
                    d.id()
                );
            }
        }
    }
    for config_map in of_kind(&docs, "ConfigMap") {
        for var in SECRET_VARS {
            assert!(
                !data(config_map).contains_key(var),
                "{}: {var} holds credentials; keep it in a Secret",
                config_map.id()
            );
        }
    }
    // The base ships placeholders only, and the local overlay replaces them
    // all: by a patch, or by generating the Secret from files it makes
    // (the services' development certificates, never committed).
    let generated = kustomization(LOCAL)["secretGenerator"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for secret in of_kind(&docs, "Secret") {
        if let Some(generator) = generated.iter().find(|g| g["name"] == secret.name()) {
            assert_eq!(generator["behavior"], "replace", "{}", secret.id());
            let files = generator["files"].as_array().cloned().unwrap_or_default();
            for key in data(secret).keys() {
                let from_file = files.iter().any(|f| {
                    f.as_str()
                        .is_some_and(|f| f.starts_with(&format!("{key}=")))
                });
                assert!(from_file, "{LOCAL} generates {} without {key}", secret.id());
            }
            continue;
        }
        let patch = find(&local, "Secret", secret.name());
        let patch = patch.unwrap_or_else(|| panic!("{LOCAL} patches no {}", secret.id()));
        let replaced = data(patch);
        for (key, value) in data(secret) {
            assert!(
                value.contains("CHANGE-ME"),
                "{}: {key} must be a CHANGE-ME placeholder",
                secret.id()
            );
            let local = replaced.get(&key).filter(|v| !v.contains("CHANGE-ME"));
            assert!(
                local.is_some(),
                "{}: {key} keeps the base's placeholder",
                patch.id()
            );
        }
    }
}

#[test]
fn services_select_deployments_and_target_their_ports() {
    let docs = base();
    for service in of_kind(&docs, "Service") {
        let (id, spec) = (service.id(), &service.v["spec"]);
        let cluster_ip = spec["type"].is_null() || spec["type"] == "ClusterIP";
        assert!(
            cluster_ip,
            "{id}: ClusterIP only; publish the gateway with an Ingress"
        );
        let target = selected(&docs, service);
        let declared = ports(container(target));
        for port in spec["ports"].as_array().unwrap() {
            let to = match &port["targetPort"] {
                Value::Null => port_ref(&port["port"]),
                target => port_ref(target),
            };
            assert!(
                declared.contains(&to),
                "{id}: targetPort {to} is no containerPort of {}",
                target.id()
            );
        }
    }
    let gateway = find(&docs, "Service", "api-gateway").expect("no Service api-gateway");
    assert_eq!(
        gateway.v["spec"]["ports"][0]["port"],
        3000,
        "{}: :3000",
        gateway.id()
    );

    // gRPC's HTTP/2 connections are long-lived: behind a ClusterIP each
    // client would stick to one pod. The headless name resolves to all.
    let headless = of_kind(&docs, "Service").find(|s| {
        s.v["spec"]["clusterIP"] == "None" && selected(&docs, s).name() == "user-service"
    });
    let headless = headless.expect("user-service needs a headless Service (clusterIP: None)");
    let served: Vec<String> = headless.v["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["port"].to_string())
        .collect();
    for client in USER_SERVICE_CLIENTS {
        let d = find(&docs, "Deployment", client);
        let d = d.unwrap_or_else(|| panic!("no Deployment {client}, a user-service client"));
        let source = env(&docs, d).remove("USER_SERVICE_URL");
        let urls = source
            .unwrap_or_else(|| panic!("{}: no USER_SERVICE_URL", d.id()))
            .resolve(&docs);
        // A comma-separated list: every entry must be the headless name.
        for url in urls.split(',').map(str::trim) {
            let authority = url
                .split_once("://")
                .map_or("", |(_, rest)| rest)
                .trim_end_matches('/');
            let (host, port) = authority.split_once(':').unwrap_or((authority, "80"));
            let id = d.id();
            assert_eq!(
                host,
                headless.name(),
                "{id}: USER_SERVICE_URL {url} must name the headless Service"
            );
            assert!(
                served.iter().any(|p| p == port),
                "{id}: USER_SERVICE_URL {url}, but {} serves {served:?}",
                headless.id()
            );
        }
    }
}

#[test]
fn autoscalers_scale_on_cpu_within_the_database_connections() {
    let docs = base();
    let mut max_replicas = BTreeMap::new();
    for hpa in of_kind(&docs, "HorizontalPodAutoscaler") {
        let (id, spec) = (hpa.id(), &hpa.v["spec"]);
        assert_eq!(hpa.v["apiVersion"], "autoscaling/v2", "{id}: apiVersion");
        let target = spec["scaleTargetRef"]["name"].as_str().unwrap_or_default();
        let d = find(&docs, "Deployment", target)
            .filter(|_| spec["scaleTargetRef"]["kind"] == "Deployment");
        let d = d.unwrap_or_else(|| panic!("{id}: scales {target:?}, which is no Deployment"));
        let (min, max) = (
            spec["minReplicas"].as_u64().unwrap_or(1),
            spec["maxReplicas"].as_u64().unwrap_or(0),
        );
        assert!(
            1 <= min && min <= max,
            "{id}: minReplicas {min}, maxReplicas {max}"
        );
        let on_cpu = spec["metrics"].as_array().into_iter().flatten().any(|m| {
            m["resource"]["name"] == "cpu" && m["resource"]["target"]["type"] == "Utilization"
        });
        assert!(on_cpu, "{id}: scales on CPU utilization");
        let request = &container(d)["resources"]["requests"]["cpu"];
        assert!(
            request.is_string(),
            "{}: CPU utilization needs a cpu request",
            d.id()
        );
        let replicas = &d.v["spec"]["replicas"];
        assert!(
            replicas.is_null(),
            "{}: replicas is the HPA's; apply would reset it",
            d.id()
        );
        max_replicas.insert(target.to_owned(), max);
    }
    for deployment in AUTOSCALED {
        let scaled = max_replicas.contains_key(deployment);
        assert!(scaled, "no HorizontalPodAutoscaler scales {deployment}");
    }

    // Each pod holds its own pool; at full scale they must all fit.
    let mut connections = 0;
    for d in of_kind(&docs, "Deployment") {
        let env = env(&docs, d);
        if env.contains_key("DATABASE_URL") {
            let pool = env.get("DATABASE_MAX_CONNECTIONS");
            let pool = pool.map_or(DEFAULT_POOL_SIZE, |s| s.resolve(&docs).parse().unwrap());
            let replicas = max_replicas
                .get(d.name())
                .copied()
                .or(d.v["spec"]["replicas"].as_u64());
            connections += pool * replicas.unwrap_or(1);
        }
    }
    assert!(
        connections <= POSTGRES_CONNECTIONS,
        "at full scale the pods open up to {connections} database connections; Postgres \
         allows {POSTGRES_CONNECTIONS}: lower maxReplicas or DATABASE_MAX_CONNECTIONS"
    );
}

//! Who may talk to whom, and how many pods a drain may take: the
//! NetworkPolicies and PodDisruptionBudgets of the base, and the policies of
//! the local overlay's `deps` namespace.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::manifests::{
    BASE, Doc, Source, base, container, data, documents, env, find, kustomization, local_patches,
    of_kind, port_ref, selected, workspace_binaries,
};

/// The policies of the local overlay's throw-away servers.
const DEPS_POLICIES: &str = "deploy/k8s/deps/network-policies.yaml";
/// The variables naming a server outside the namespace a service connects
/// to, by URL: its database, the brokers, the trace collector.
const SERVER_URLS: [&str; 5] = [
    "DATABASE_URL",
    "AMQP_URL",
    "NATS_URL",
    "REDIS_URL",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
];

fn selects(policy: &Doc, name: &str) -> bool {
    policy.v["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == name
}

fn rules<'a>(policy: &'a Doc, kind: &str) -> Vec<&'a Value> {
    policy.v["spec"][kind]
        .as_array()
        .map(|r| r.iter().collect())
        .unwrap_or_default()
}

/// The `app.kubernetes.io/name`s a rule's `from` admits; `None`: anyone.
fn peers(rule: &Value) -> Option<Vec<String>> {
    let from = rule["from"].as_array()?;
    Some(
        from.iter()
            .map(|peer| {
                peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
                    .as_str()
                    .unwrap_or("?")
                    .to_owned()
            })
            .collect(),
    )
}

#[test]
fn everything_is_denied_unless_a_policy_allows_it() {
    let docs = base();
    let deny = find(&docs, "NetworkPolicy", "default-deny").expect("a default-deny policy");
    assert_eq!(deny.v["spec"]["podSelector"], serde_json::json!({}));
    assert_eq!(
        deny.v["spec"]["policyTypes"],
        serde_json::json!(["Ingress", "Egress"])
    );
    assert!(rules(deny, "ingress").is_empty() && rules(deny, "egress").is_empty());
}

#[test]
fn only_the_gateway_is_open_and_only_its_callers_reach_user_service() {
    let docs = base();
    for policy in of_kind(&docs, "NetworkPolicy") {
        for rule in rules(policy, "ingress") {
            if peers(rule).is_none() {
                assert!(
                    selects(policy, "api-gateway"),
                    "{}: only the gateway admits anyone",
                    policy.id()
                );
            }
        }
    }
    let user_service = of_kind(&docs, "NetworkPolicy")
        .find(|p| selects(p, "user-service"))
        .expect("a policy for user-service");
    let ingress = rules(user_service, "ingress");
    assert_eq!(ingress.len(), 1, "{}", user_service.id());
    let mut callers = peers(ingress[0]).expect("user-service admits named callers only");
    callers.sort();
    assert_eq!(callers, ["api-gateway", "order-service"]);
    // Nothing else admits anyone to user-service's gRPC port.
    for policy in of_kind(&docs, "NetworkPolicy") {
        let selects_all = policy.v["spec"]["podSelector"]["matchLabels"].is_object()
            && !policy.v["spec"]["podSelector"]["matchLabels"]
                .as_object()
                .unwrap()
                .contains_key("app.kubernetes.io/name");
        if selects_all {
            for rule in rules(policy, "ingress") {
                let ports = rule["ports"].to_string();
                assert!(
                    !ports.contains("grpc") && !ports.contains("5000"),
                    "{}",
                    policy.id()
                );
            }
        }
    }
}

#[test]
fn every_deployment_has_a_disruption_budget_that_lets_drains_through() {
    let docs = base();
    for name in workspace_binaries() {
        let budget = of_kind(&docs, "PodDisruptionBudget")
            .find(|b| {
                b.v["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] == name.as_str()
            })
            .unwrap_or_else(|| panic!("no PodDisruptionBudget for {name}"));
        assert_eq!(budget.v["spec"]["maxUnavailable"], 1, "{}", budget.id());
    }
}

/// Host and port of `scheme://[user:password@]host:port[/path][?query]`.
fn host_and_port(url: &str) -> (String, String) {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let address = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let (host, port) = address
        .rsplit_once(':')
        .unwrap_or_else(|| panic!("{url}: name the port"));
    (host.to_owned(), port.to_owned())
}

/// The labels of a Deployment's pods once rendered: its own, and those the
/// base's kustomization adds to pod templates (`includeTemplates`).
fn rendered_pod_labels(d: &Doc) -> serde_json::Map<String, Value> {
    let mut labels = d.pod_labels().as_object().cloned().unwrap_or_default();
    for entry in kustomization(BASE)["labels"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if entry["includeTemplates"] == true {
            let pairs = entry["pairs"].as_object().cloned().unwrap_or_default();
            labels.extend(pairs);
        }
    }
    labels
}

/// Whether a selector's `matchLabels` pick pods with these labels (no
/// `matchLabels`: every pod).
fn picks(selector: &Value, labels: &serde_json::Map<String, Value>) -> bool {
    selector["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v))
}

/// The NetworkPolicies that apply to a Deployment's pods.
fn applying<'a>(docs: &'a [Doc], d: &Doc) -> impl Iterator<Item = &'a Doc> {
    let labels = rendered_pod_labels(d);
    of_kind(docs, "NetworkPolicy").filter(move |p| picks(&p.v["spec"]["podSelector"], &labels))
}

/// Whether an egress peer is exactly the namespaces where the servers run
/// (labelled `rust-shop.io/dependencies: "true"`), nothing wider.
fn is_servers_namespace(peer: &Value) -> bool {
    *peer
        == serde_json::json!({
            "namespaceSelector": {"matchLabels": {"rust-shop.io/dependencies": "true"}}
        })
}

/// The ports the policies selecting a Deployment's pods let them reach on
/// the servers' namespaces (`*` for a rule without `ports`), after checking
/// that no egress rule reaches anywhere (a rule without `to`).
fn egress_to_servers(docs: &[Doc], d: &Doc) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for policy in applying(docs, d) {
        for rule in rules(policy, "egress") {
            assert!(
                !rule["to"].is_null(),
                "{}: an egress rule without `to` reaches anywhere: {rule}",
                policy.id()
            );
        }
        for rule in rules(policy, "egress").into_iter().filter(|r| {
            r["to"]
                .as_array()
                .is_some_and(|to| to.iter().any(is_servers_namespace))
        }) {
            match rule["ports"].as_array() {
                Some(ports) => out.extend(ports.iter().map(|p| port_ref(&p["port"]))),
                None => {
                    out.insert("*".to_owned());
                }
            }
        }
    }
    out
}

/// A variable's value in the local overlay: its patches, else the base.
fn resolve_local(source: &Source, base: &[Doc], local: &[Doc]) -> String {
    if let Source::Key { kind, name, key } = source
        && let Some(value) = find(local, kind, name).and_then(|p| data(p).remove(key))
    {
        return value;
    }
    source.resolve(base)
}

#[test]
fn every_service_may_reach_its_servers_and_the_local_ones_admit_it() {
    let docs = base();
    let local = local_patches();
    let deps = documents(DEPS_POLICIES);
    let admitted: BTreeSet<String> = deps
        .iter()
        .flat_map(|p| rules(p, "ingress"))
        .filter(|rule| {
            // From the services' namespace.
            let from = rule["from"].to_string();
            from.contains("\"kubernetes.io/metadata.name\":\"rust-shop\"")
        })
        .flat_map(|rule| rule["ports"].as_array().cloned().unwrap_or_default())
        .map(|p| port_ref(&p["port"]))
        .collect();
    let mut checked = 0;
    for d in of_kind(&docs, "Deployment") {
        let allowed = egress_to_servers(&docs, d);
        let env = env(&docs, d);
        for var in SERVER_URLS {
            let Some(source) = env.get(var) else {
                continue;
            };
            for (overlay, url) in [
                ("base", source.resolve(&docs)),
                ("local", resolve_local(source, &docs, &local)),
            ] {
                let (host, port) = host_and_port(&url);
                assert!(
                    allowed.contains(&port) || allowed.contains("*"),
                    "{}: {var} ({overlay}) is on port {port}, which no NetworkPolicy lets it \
                     reach on the servers' namespaces ({allowed:?})",
                    d.id()
                );
                if host.ends_with(".deps") {
                    assert!(
                        admitted.contains(&port),
                        "{DEPS_POLICIES}: admits the rust-shop namespace on {admitted:?}, \
                         not on {port} ({}'s {var})",
                        d.name()
                    );
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 0, "no server URL found");
}

/// Whether a rule's `ports` cover a container port, by number or by name
/// (no `ports`: every port).
fn covers(rule: &Value, port: &Value) -> bool {
    let Some(ports) = rule["ports"].as_array() else {
        return true;
    };
    let (number, name) = (port["containerPort"].to_string(), &port["name"]);
    ports.iter().any(|p| {
        let p = port_ref(&p["port"]);
        p == number || name.as_str() == Some(p.as_str())
    })
}

/// The tcp transport: the gateway dials `<SERVICE>_TCP_ADDR`, a Service in
/// front of the port its service serves on (`TCP_LISTEN_ADDR`); the gateway
/// may reach that port, and only the gateway is admitted to it.
#[test]
fn only_the_gateway_reaches_the_tcp_ports_it_dials() {
    let docs = base();
    let gateway = find(&docs, "Deployment", "api-gateway").expect("a Deployment api-gateway");
    let gateway_labels = rendered_pod_labels(gateway);
    let mut dialled = BTreeSet::new();
    for (var, source) in env(&docs, gateway) {
        if !var.ends_with("_TCP_ADDR") {
            continue;
        }
        let addr = source.resolve(&docs);
        let (host, port) = host_and_port(&addr);
        let service = find(&docs, "Service", &host)
            .unwrap_or_else(|| panic!("{}: {var}={addr}: no Service {host}", gateway.id()));
        let service_port = service.v["spec"]["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| port_ref(&p["port"]) == port)
            .unwrap_or_else(|| panic!("{}: {var}={addr}: no port {port}", service.id()));
        let target = selected(&docs, service);
        let target_port = match &service_port["targetPort"] {
            Value::Null => port_ref(&service_port["port"]),
            to => port_ref(to),
        };
        let container_port = container(target)["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| port_ref(&p["containerPort"]) == target_port || p["name"] == target_port)
            .unwrap_or_else(|| panic!("{}: targetPort {target_port}", service.id()))
            .clone();
        let number = container_port["containerPort"].to_string();
        let id = target.id();

        // What the service serves on is what the Service sends to.
        let listen = env(&docs, target)
            .get("TCP_LISTEN_ADDR")
            .map(|s| s.resolve(&docs))
            .unwrap_or_else(|| panic!("{id}: no TCP_LISTEN_ADDR, which {var} dials"));
        assert_eq!(
            listen.rsplit(':').next(),
            Some(number.as_str()),
            "{id}: TCP_LISTEN_ADDR={listen}, but {var}={addr} reaches port {number}"
        );
        dialled.insert(target.name().to_owned());

        // The gateway may reach it (policies see the pod's port, after the
        // Service's translation)...
        let target_labels = rendered_pod_labels(target);
        let reaches = applying(&docs, gateway).any(|policy| {
            rules(policy, "egress").into_iter().any(|rule| {
                let to = rule["to"].as_array();
                let to_target = to.is_none_or(|peers| {
                    peers.iter().any(|peer| {
                        peer["namespaceSelector"].is_null()
                            && picks(&peer["podSelector"], &target_labels)
                    })
                });
                to_target && covers(rule, &container_port)
            })
        });
        assert!(
            reaches,
            "{}: no NetworkPolicy lets it reach {} on {number} ({var})",
            gateway.id(),
            target.name()
        );
        // ... it is admitted...
        let admitted = applying(&docs, target).any(|policy| {
            rules(policy, "ingress").into_iter().any(|rule| {
                let from_gateway =
                    peers(rule).is_some_and(|p| p.iter().any(|p| p == "api-gateway"));
                from_gateway && covers(rule, &container_port)
            })
        });
        assert!(
            admitted,
            "{id}: no NetworkPolicy admits the gateway on {number}"
        );
        // ... and nothing else is.
        for policy in applying(&docs, target) {
            for rule in rules(policy, "ingress") {
                if !covers(rule, &container_port) {
                    continue;
                }
                let from = rule["from"].as_array().cloned().unwrap_or_default();
                let only_gateway = !from.is_empty()
                    && from.iter().all(|peer| {
                        peer["namespaceSelector"].is_null()
                            && peer["ipBlock"].is_null()
                            && picks(&peer["podSelector"], &gateway_labels)
                            && peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
                                == "api-gateway"
                    });
                assert!(
                    only_gateway,
                    "{}: admits more than the gateway to {}'s TCP port {number}",
                    policy.id(),
                    target.name()
                );
            }
        }
    }
    // Every service serving tcp is one the gateway dials.
    for d in of_kind(&docs, "Deployment") {
        if env(&docs, d).contains_key("TCP_LISTEN_ADDR") {
            assert!(
                dialled.contains(d.name()),
                "{}: serves tcp, but no <SERVICE>_TCP_ADDR of the gateway reaches it",
                d.id()
            );
        }
    }
    assert!(!dialled.is_empty(), "the gateway dials no service over tcp");
}

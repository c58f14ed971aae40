//! Who may talk to whom, and how many pods a drain may take: the
//! NetworkPolicies and PodDisruptionBudgets of the base.

use serde_json::Value;

use crate::manifests::{Doc, base, find, of_kind, workspace_binaries};

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

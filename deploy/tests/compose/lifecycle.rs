//! Time to start and to stop, and a broker whose queues outlive its
//! container.

use deploy::{read, seconds, workspace_binaries};
use serde_json::Value;

use crate::{compose, is_job, services};

/// What each binary gives its work in flight after SIGTERM: the variable
/// that bounds it, read from the service itself, or for user-service, which
/// has no deadline of its own, from the callers whose deadlines end its
/// calls (docs/operations.md, "Graceful shutdown").
const IN_FLIGHT: [(&str, &str, &[&str]); 4] = [
    ("api-gateway", "REQUEST_TIMEOUT", &["api-gateway"]),
    (
        "user-service",
        "USER_SERVICE_TIMEOUT",
        &["api-gateway", "order-service"],
    ),
    ("order-service", "SHUTDOWN_GRACE_PERIOD", &["order-service"]),
    (
        "notification-service",
        "SHUTDOWN_GRACE_PERIOD",
        &["notification-service"],
    ),
];
/// After the work in flight: closing the broker connection and the pool,
/// and flushing the last spans, which the OTLP exporter bounds by its
/// default timeout, 10 s.
const CLOSING_SECS: f64 = 10.0;
/// Docker's `stop_grace_period` when none is set.
const DOCKER_DEFAULT_STOP_SECS: f64 = 10.0;

/// The default of `var` in docs/configuration.md's table
/// (`` | `VAR` | services | `default` | meaning | ``).
fn documented_default(var: &str) -> String {
    let doc = read("docs/configuration.md");
    let row = doc
        .lines()
        .find(|l| l.starts_with(&format!("| `{var}` |")))
        .unwrap_or_else(|| panic!("docs/configuration.md has no row for {var}"));
    let default = row.split('|').nth(3).unwrap_or_default().trim();
    default.trim_matches('`').to_owned()
}

fn stop_grace_period(service: &Value) -> f64 {
    service["stop_grace_period"]
        .as_str()
        .map_or(DOCKER_DEFAULT_STOP_SECS, seconds)
}

#[test]
fn every_service_gets_longer_to_stop_than_its_work_in_flight() {
    let compose = compose();
    let services = services(&compose);
    for (name, service) in services.iter().filter(|(_, s)| !is_job(s)) {
        assert!(
            service["stop_grace_period"].is_string(),
            "{name}: set stop_grace_period (Docker's default, 10s, is chosen for nobody)"
        );
    }
    let mut checked = Vec::new();
    for (bin, var, set_by) in IN_FLIGHT {
        let in_flight = set_by
            .iter()
            .map(|setter| {
                let value = services[*setter]["environment"][var].as_str();
                seconds(&value.map_or_else(|| documented_default(var), str::to_owned))
            })
            .fold(0.0, f64::max);
        let stop = stop_grace_period(&services[bin]);
        assert!(
            stop >= in_flight + CLOSING_SECS,
            "{bin}: stop_grace_period {stop}s must cover its work in flight ({var}, \
             {in_flight}s) and closing ({CLOSING_SECS}s), or Docker's SIGKILL cuts the \
             graceful shutdown short"
        );
        checked.push(bin.to_owned());
    }
    checked.sort();
    assert_eq!(
        checked,
        workspace_binaries().into_iter().collect::<Vec<_>>(),
        "every binary's shutdown is accounted for"
    );
}

#[test]
fn every_healthcheck_gives_a_first_start_time() {
    let compose = compose();
    for (name, service) in services(&compose) {
        let check = &service["healthcheck"];
        if check.is_object() {
            let start = check["start_period"].as_str().map_or(0.0, seconds);
            assert!(
                start > 0.0,
                "{name}: healthcheck without a start_period: a slow first start \
                 (migrations, initdb, the Erlang VM) would count as failures"
            );
        }
    }
}

#[test]
fn rabbitmq_keeps_its_node_and_data_across_recreates() {
    let compose = compose();
    let rabbitmq = &services(&compose)["rabbitmq"];
    // rabbit@<hostname> names the node and its data directory.
    let hostname = rabbitmq["hostname"].as_str().unwrap_or_default();
    assert!(
        !hostname.is_empty() && !hostname.contains('$'),
        "rabbitmq needs a fixed hostname, not {hostname:?}"
    );
    let data = rabbitmq["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .find_map(|v| v.strip_suffix(":/var/lib/rabbitmq"));
    let volume = data.expect("rabbitmq keeps /var/lib/rabbitmq in a volume");
    assert!(
        compose["volumes"].get(volume).is_some(),
        "rabbitmq's {volume} must be a named volume declared under volumes:"
    );
}

//! This crate exists for its tests, which check the deployment files that
//! cannot be exercised on a machine without a Docker engine or a Kubernetes
//! cluster: by their structure, against the workspace, and with the real
//! checkers (the Compose specification, hadolint, kustomize and the
//! Kubernetes API schemas, promtool). The library holds only the helpers
//! the test files share.
//!
//! # Layout
//! - `postgres/`, `rabbitmq/`: compose's database and broker set-up (roles
//!   and databases per service; accounts, permissions, policies).
//! - `tests/compose.rs` (with `tests/compose/`): parses `docker-compose.yml`
//!   and the `Dockerfile` and checks them against the workspace (every
//!   binary built and run, every service healthy before its dependents
//!   start, only the gateway public, time to shut down, durable broker,
//!   Prometheus and Grafana on the host's loopback).
//! - `k8s/`: Kubernetes manifests, a kustomize `base/` and an `overlays/local/`
//!   for kind or minikube; how to run them in `k8s/README.md`.
//! - `tests/k8s.rs` (with `tests/k8s/`): parses the manifests and checks them
//!   against the workspace and compose (a Deployment per binary, probes on
//!   declared ports, locked-down pods, every compose variable provided and
//!   credentials only from a Secret, Services, autoscalers).
//! - `tests/tools.rs`: the real tools on the same files (see [`tools`]).
//! - [`tools`]: finding and running those tools.

use test_support::repo::workspace_members;
pub use test_support::{
    repo::{read, root},
    tools,
};

use std::collections::BTreeSet;

/// Every service binary the workspace builds: members with a `src/main.rs`
/// (tooling such as `bench` keeps its binaries in `src/bin/`).
pub fn workspace_binaries() -> BTreeSet<String> {
    workspace_members()
        .into_iter()
        .filter(|m| root().join(m).join("src/main.rs").exists())
        .filter_map(|m| m.rsplit('/').next().map(str::to_owned))
        .collect()
}

/// A human-readable duration as the services parse it, and as compose
/// writes `stop_grace_period` (`10s`, `500ms`, `1m 30s`, `1m30s`), in seconds.
pub fn seconds(text: &str) -> f64 {
    let (mut total, mut rest) = (0.0, text.trim());
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = rest[digits..].find(|c: char| !c.is_ascii_alphabetic());
        let unit_end = unit.map_or(rest.len(), |end| digits + end);
        let n: f64 = rest[..digits]
            .parse()
            .unwrap_or_else(|_| panic!("{text:?}: no number"));
        total += n * match &rest[digits..unit_end] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            other => panic!("{text:?}: unknown unit {other:?}"),
        };
        rest = rest[unit_end..].trim_start();
    }
    total
}

#[cfg(test)]
mod tests {
    use super::seconds;

    #[test]
    fn durations_read_like_the_services_read_them() {
        assert_eq!(seconds("10s"), 10.0);
        assert_eq!(seconds("500ms"), 0.5);
        assert_eq!(seconds("1m 30s"), 90.0);
        assert_eq!(seconds("1m30s"), 90.0);
    }
}
